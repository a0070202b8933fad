"""``convcalc net`` end to end, as a user runs it: ``python -m convcalc net FILE ...`` in a
subprocess. Output formats (SPEC §1.2, §5), options and the one-line error contract (§1.4).

Every invocation is listed in ``INVOCATIONS``; they start together in a small thread pool when
the module's first test runs (each one still its own process), so the module costs a few
interpreter start-ups of wall time instead of one per test.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

TINY = """\
    name: tiny
    input: [3, 32, 32]
    vars: {w: 8}
    layers:
      - conv: {out: w, k: 3, p: 1}
        name: stem
      - bn
      - relu
      - maxpool: {k: 2}
      - residual:
          body:
            - conv: {out: w, k: 3, p: 1, bias: false}
            - bn
      - parallel:
          branches:
            - []
            - [conv: {out: 4, k: 1}]
      - gap
      - flatten
      - linear: {out: 10}
    """

# by hand: conv 8*3*9 + 8; bn 16; residual conv 8*8*9 (no bias) + bn 16; 1×1 conv 4*8 + 4;
# linear 12*10 + 10
TINY_PARAMS = (8 * 27 + 8) + 16 + (8 * 8 * 9 + 16) + (4 * 8 + 4) + (12 * 10 + 10)
TINY_MACS = 8 * 27 * 32 * 32 + 8 * 8 * 9 * 16 * 16 + 4 * 8 * 16 * 16 + 12 * 10

SYMBOLIC = """\
    input: [1, H, W]
    layers:
      - conv: {out: 4, k: 3, s: 2, p: 1}
      - relu
      - conv: {out: 2, k: 1}
    """

VARS = "input: [3, 8, 8]\nvars: {w: 4, w2: w*2}\nlayers:\n  - conv: {out: w2, k: 1}\n"

# (file text, the token the error points at, the whole message after "error: "; None = only
# check that it is one located line)
BAD = {
    "unknown-op": ("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3}\n  - rellu\n",
                   "rellu", "unknown op 'rellu' (hint: did you mean 'relu'?)"),
    "residual-shapes": ("input: [3, 8, 8]\nlayers:\n  - residual:\n"
                        "      body: [conv: {out: 4, k: 1}]\n",
                        "residual", "residual (0): body gives 4×8×8 but shortcut gives 3×8×8"),
    "undefined-name": ("input: [3, 8, 8]\nlayers:\n  - conv: {out: c*2, k: 1}\n",
                       "c*2", "undefined name 'c' in 'c*2' (hint: define it under vars: or as "
                              "a block arg)"),
    "kernel-too-big": ("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 9}\n", "conv", None),
    "bad-yaml": ("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 1\n", None, None),
}

BAD_OPTIONS = {
    "set-syntax": (["--set", "H224"], "error: --set: expected NAME=positive integer, got "
                                      "'H224'"),
    "set-unknown": (["--set", "Q=3"], "error: --set Q: no var or input symbol of that name in "
                                      "{file}"),
    "batch": (["--batch", "0"], "error: --batch must be positive, got 0"),
    "format": (["--format", "xml"], "error: --format must be one of table, json, csv, "
                                    "markdown, html, mermaid, dot, got 'xml'"),
    "depth": (["--depth", "-1"], "error: --depth must be 0 or more, got -1"),
    # a command-line mistake, not the YAML's: no file:line:col pointing into the file
    "input-size": (["--input", "3x0x8"], "error: --input: sizes must be positive, got 0 "
                                         "(hint: write 3x224x224 or 3xHxW)"),
    # a lower or higher rank than declared would silently make another network
    "input-rank-down": (["--input", "3x32"], "error: --input: 1 spatial size, but the network "
                        "declares 2 spatial sizes (input: [3, 32, 32]) (hint: give channels "
                        "and one size per declared axis, like 3x32x32)"),
    "input-rank-up": (["--input", "3x8x32x32"], "error: --input: 3 spatial sizes, but the "
                      "network declares 2 spatial sizes (input: [3, 32, 32]) (hint: give "
                      "channels and one size per declared axis, like 3x32x32)"),
    # located at the option, not at the YAML's input: line
    "input-name": (["--input", "cx32x32"], "error: --input: undefined name 'c' in 'c' (hint: "
                                           "known names: w)"),
    "set-twice": (["--set", "w=4", "--set", "w=8"], "error: --set w: given twice (4 and 8) "
                                                    "(hint: give each name once)"),
}

# TINY with its expectations, all true for the declared network (batch 1, its own input)
EXPECT = textwrap.dedent(TINY) + (f"expect:\n  output: [10]\n  params: {TINY_PARAMS}\n"
                                  f"  macs: {TINY_MACS}\n  rf: 32\n")

INVOCATIONS = [
    ("tiny",), ("expect", "--batch", "4"), ("expect", "--batch", "4", "--format", "json"),
    ("expect", "--input", "3x64x64"), ("expect", "--input", "3x64x64", "--format", "json"), ("tiny", "--format", "json"), ("tiny", "--format", "json", "--batch", "4"),
    ("tiny", "--format", "json", "--depth", "0"),
    ("tiny", "--format", "json", "--input", "3x64x64"),
    ("tiny", "--format", "csv"), ("tiny", "--format", "markdown"),
    ("sym", "--format", "json"), ("sym", "--format", "json", "--set", "H=224"),
    ("sym", "--format", "json", "--set", "H=224", "--set", "W=160"),
    ("vars", "--format", "json", "--set", "w=8"), ("missing",),
    *(("tiny", *options) for options, _ in BAD_OPTIONS.values()),
    *((key,) for key in BAD),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_net")
    paths = {"tiny": root / "tiny.yaml", "sym": root / "sym.yaml", "vars": root / "v.yaml",
             "missing": root / "nope.yaml"}
    paths["tiny"].write_text(textwrap.dedent(TINY))
    paths["expect"] = root / "expect.yaml"
    paths["expect"].write_text(EXPECT)
    paths["sym"].write_text(textwrap.dedent(SYMBOLIC))
    paths["vars"].write_text(VARS)
    for key, (text, _, _) in BAD.items():
        paths[key] = root / f"{key}.yaml"
        paths[key].write_text(text)
    return paths


_pending: dict[tuple, Future] = {}


def _launch(args: tuple) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convcalc", "net", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module", autouse=True)
def _prefetch(files):
    with ThreadPoolExecutor(max_workers=4) as pool:
        for key, *options in INVOCATIONS:
            args = (str(files[key]), *options)
            _pending[args] = pool.submit(_launch, args)
        yield
        _pending.clear()


@pytest.fixture
def net(files):
    """``net("tiny", "--format", "json")`` → the finished ``convcalc net`` process."""
    def run(key: str, *options: str) -> subprocess.CompletedProcess:
        args = (str(files[key]), *options)
        future = _pending.get(args)
        return future.result() if future is not None else _launch(args)

    return run


def ok(result) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def as_json(result) -> dict:
    return json.loads(ok(result))


def assert_totals_are_layer_sums(data):
    for key in ("params", "macs", "flops"):
        assert data["totals"][key] == sum(layer[key] for layer in data["layers"]), key


def numel(shape):
    n = 1
    for v in shape:
        n *= v
    return n


# -- the table ------------------------------------------------------------------------------

def test_table_lists_layers_and_totals(net):
    out = ok(net("tiny"))
    assert "tiny: 3×32×32 → 10" in out
    for op in ("conv", "bn", "maxpool", "add", "concat", "gap", "linear"):
        assert op in out
    total_line = next(line for line in out.splitlines() if line.lstrip().startswith("total"))
    assert f"{TINY_PARAMS:,}" in total_line and f"{TINY_MACS:,}" in total_line
    assert "conventions:" in out
    assert "receptive field: size 32×32" in out


# -- JSON (SPEC §5) -------------------------------------------------------------------------

def test_json_matches_the_schema(net, files):
    data = as_json(net("tiny", "--format", "json"))
    assert data["schema"] == "convcalc.net/1"
    assert data["name"] == "tiny"
    assert data["file"] == str(files["tiny"])
    assert data["input"] == [3, 32, 32]
    assert data["output"] == [10]
    assert isinstance(data["conventions"], str) and "MACs" in data["conventions"]
    assert set(data["totals"]) >= {"params", "macs", "flops", "activations"}
    assert data["totals"]["params"] == TINY_PARAMS
    assert data["totals"]["macs"] == TINY_MACS
    assert len(data["layers"]) == 12
    for i, layer in enumerate(data["layers"]):
        assert set(layer) >= {"index", "path", "name", "op", "input", "output", "params",
                              "macs", "flops", "rf"}
        assert layer["index"] == i
        assert set(layer["rf"]) == {"size", "jump", "start"}
    first = data["layers"][0]
    assert first == {**first, "path": "stem", "name": "stem", "op": "conv",
                     "input": [3, 32, 32], "output": [8, 32, 32], "params": 8 * 27 + 8,
                     "macs": 8 * 27 * 32 * 32, "flops": 2 * 8 * 27 * 32 * 32,
                     "rf": {"size": [3, 3], "jump": [1, 1], "start": [0, 0]}}
    assert data["layers"][1]["name"] is None
    assert data["layers"][3]["rf"]["start"] == [1 / 2, 1 / 2]  # half-integers as numbers
    assert_totals_are_layer_sums(data)
    assert data["totals"]["activations"] == sum(numel(layer["output"])
                                                for layer in data["layers"])


def test_json_with_batch_still_adds_up(net):
    one = as_json(net("tiny", "--format", "json"))
    four = as_json(net("tiny", "--format", "json", "--batch", "4"))
    assert four["batch"] == 4
    assert four["totals"] == {"params": one["totals"]["params"],
                              "macs": 4 * one["totals"]["macs"],
                              "flops": 4 * one["totals"]["flops"],
                              "activations": 4 * one["totals"]["activations"],
                              # SPEC §8: params do not scale; every activation tensor does
                              "param_bytes": one["totals"]["param_bytes"],
                              "peak_inference_bytes": 4 * one["totals"][
                                  "peak_inference_bytes"]}
    assert four["layers"][0]["output"] == one["layers"][0]["output"]  # per sample
    assert_totals_are_layer_sums(four)


def test_depth_0_collapses_structures_and_keeps_totals(net):
    full = as_json(net("tiny", "--format", "json"))
    flat = as_json(net("tiny", "--format", "json", "--depth", "0"))
    assert [(layer["path"], layer["op"]) for layer in flat["layers"]] == [
        ("stem", "conv"), ("1", "bn"), ("2", "relu"), ("3", "maxpool"), ("4", "residual"),
        ("5", "parallel"), ("6", "gap"), ("7", "flatten"), ("8", "linear")]
    assert flat["totals"] == full["totals"]
    assert_totals_are_layer_sums(flat)


def test_input_override(net):
    data = as_json(net("tiny", "--format", "json", "--input", "3x64x64"))
    assert data["input"] == [3, 64, 64]
    assert data["layers"][0]["output"] == [8, 64, 64]
    assert data["layers"][0]["macs"] == 8 * 27 * 64 * 64
    assert data["rf"]["size"] == [64, 64]  # the head sees the whole (new) input


def test_symbolic_values_are_strings_in_json(net):
    data = as_json(net("sym", "--format", "json"))
    assert data["input"] == [1, "H", "W"]
    assert data["output"] == [2, "(H - 1)//2 + 1", "(W - 1)//2 + 1"]
    conv = data["layers"][0]
    assert conv["macs"] == "36*((H - 1)//2 + 1)*((W - 1)//2 + 1)"
    assert conv["params"] == 4 * 9 + 4  # params never depend on sizes: a number
    assert isinstance(data["totals"]["macs"], str)
    assert data["totals"]["params"] == 4 * 9 + 4 + 2 * 4 + 2
    assert data["layers"][1]["macs"] == 0  # a zero is the number 0, not "0"


def test_set_binds_symbols(net):
    data = as_json(net("sym", "--format", "json", "--set", "H=224", "--set", "W=160"))
    assert data["output"] == [2, 112, 80]
    assert data["totals"]["macs"] == 4 * 9 * 112 * 80 + 2 * 4 * 112 * 80
    assert_totals_are_layer_sums(data)


def test_set_one_symbol_leaves_the_other(net):
    data = as_json(net("sym", "--format", "json", "--set", "H=224"))
    assert data["output"] == [2, 112, "(W - 1)//2 + 1"]


def test_set_binds_a_var_and_the_vars_computed_from_it(net):
    data = as_json(net("vars", "--format", "json", "--set", "w=8"))
    assert data["output"] == [16, 8, 8]  # w2 = w*2 with w = 8


# -- CSV and Markdown -----------------------------------------------------------------------

def test_csv_parses(net):
    rows = list(csv.DictReader(io.StringIO(ok(net("tiny", "--format", "csv")))))
    assert rows[0]["path"] == "stem" and rows[0]["op"] == "conv"
    assert rows[0]["params"] == str(8 * 27 + 8)
    layers, total = rows[:-1], rows[-1]
    assert len(layers) == 12
    assert total["path"] == "total"
    assert int(total["params"]) == TINY_PARAMS == sum(int(r["params"]) for r in layers)
    assert int(total["macs"]) == TINY_MACS == sum(int(r["macs"]) for r in layers)


def test_markdown_is_a_pipe_table(net):
    lines = ok(net("tiny", "--format", "markdown")).splitlines()
    table = [line for line in lines if line.startswith("|")]
    header, rule, *body = table
    columns = header.count("|")
    assert "| path |" in header and "| params |" in header
    assert set(rule) <= set("|-: ")
    assert all(line.count("|") - line.count("\\|") == columns for line in body)
    assert len(body) == 12 + 1  # layers, then the total
    assert f"**{TINY_PARAMS:,}**" in body[-1]


# -- errors: one located line on stderr, exit 2, no traceback (§1.4) ----------------------------

@pytest.mark.parametrize("key", BAD)
def test_errors_are_one_located_line(net, files, key):
    text, needle, message = BAD[key]
    result = net(key)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    path = files[key]
    if needle is None:
        assert lines[0].startswith(f"{path}:") and ": error: " in lines[0]
        return
    pos = text.index(needle)
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    assert lines[0].startswith(f"{path}:{line}:{col}: error: ")
    if message is not None:
        assert lines[0] == f"{path}:{line}:{col}: error: {message}"


@pytest.mark.parametrize("key", BAD_OPTIONS)
def test_bad_options_are_one_line(net, files, key):
    options, message = BAD_OPTIONS[key]
    result = net("tiny", *options)
    assert result.returncode == 2
    assert result.stderr == message.format(file=files["tiny"]) + "\n"
    assert result.stdout == ""


def test_missing_file(net, files):
    result = net("missing")
    assert result.returncode == 2
    assert result.stderr == f"{files['missing']}: error: no such file\n"


# -- expectations are about the network as declared (issue 7, item 12) --------------------------

def run_convcalc(*args: str, env: dict | None = None, stdin: str | None = None):
    import os

    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True,
                          text=True, timeout=120, env={**environ, **(env or {})}, input=stdin)


def test_expectations_hold_under_batch_per_sample(net, files):
    # check passes the file; net --batch must not call it different
    assert run_convcalc("check", str(files["expect"])).returncode == 0
    out = ok(net("expect", "--batch", "4"))
    assert [line for line in out.splitlines() if line.startswith("expect ")] == [
        "expect output: declared 10, computed 10  ok",
        f"expect params: declared {TINY_PARAMS:,}, computed {TINY_PARAMS:,}  ok",
        f"expect macs: declared {TINY_MACS:,}, computed {TINY_MACS:,} per sample  ok",
        "expect rf: declared 32, computed 32×32  ok"]
    data = as_json(net("expect", "--batch", "4", "--format", "json"))
    assert data["totals"]["macs"] == 4 * TINY_MACS  # the table's totals carry the batch
    assert [(e["key"], e["ok"]) for e in data["expect"]] == [
        ("output", True), ("params", True), ("macs", True), ("rf", True)]


def test_expectations_are_not_compared_under_another_input(net):
    out = ok(net("expect", "--input", "3x64x64"))
    assert "differs" not in out and "expect macs" not in out
    assert ("expect: not compared (declared for the YAML's input, which --input replaces)"
            in out.splitlines())
    data = as_json(net("expect", "--input", "3x64x64", "--format", "json"))
    assert [e["ok"] for e in data["expect"]] == [None] * 4


# -- terminal width and the conventions (issue 7, item 15) --------------------------------------

def test_net_fits_columns_by_hiding_whole_columns(files):
    out = ok(run_convcalc("net", str(files["tiny"]), env={"COLUMNS": "80", "NO_COLOR": "1"}))
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    header = lines[1].split()
    assert header[:2] == ["#", "path"] and "MACs" in header and "params" in header
    assert "jump" not in header and "share" not in header
    hidden = [line for line in lines if line.startswith("hidden to fit 80 columns:")]
    assert len(hidden) == 1
    # the rows still carry every layer and the totals
    assert f"{TINY_MACS:,}" in next(line for line in lines if line.lstrip().startswith("total"))


def test_piped_net_keeps_every_column(files):
    out = ok(run_convcalc("net", str(files["tiny"]), env={"NO_COLOR": "1"}))
    header = out.splitlines()[1]
    for column in ("input", "share of MACs", "FLOPs", "RF size", "RF jump"):
        assert column in header
    assert "hidden" not in out


def test_conventions_footer_is_short_and_the_full_text_is_one_command_away(files):
    out = ok(run_convcalc("net", str(files["tiny"]), env={"NO_COLOR": "1"}))
    footer = out.splitlines()[-1]
    assert footer.startswith("conventions: ") and footer.endswith(
        "(full: convcalc ops --conventions)")
    assert len(footer) <= 140
    full = as_json(run_convcalc("net", str(files["tiny"]), "--format", "json"))["conventions"]
    text = ok(run_convcalc("ops", "--conventions", env={"NO_COLOR": "1"}))
    for clause in full.split("; "):  # every clause of the JSON's statement, in full
        assert f"- {clause}\n" in text


def test_ops_shows_every_formula_whole_at_any_width():
    catalog = as_json(run_convcalc("ops", "--format", "json"))["ops"]
    text = ok(run_convcalc("ops", env={"COLUMNS": "60", "NO_COLOR": "1"}))
    lines = text.splitlines()
    for op in catalog:
        assert any(line.startswith(op["op"]) for line in lines), op["op"]
        assert f"    shape  {op['shape']}" in lines
        for formula in op["cost"].split("; "):  # whole, on one line
            assert any(formula in line for line in lines), formula
    # nothing depends on the width: 60 columns show what 200 show
    assert text == ok(run_convcalc("ops", env={"COLUMNS": "200", "NO_COLOR": "1"}))


# -- standard input (issue 7, item 17) ------------------------------------------------------------

def test_dash_reads_the_network_from_stdin():
    result = run_convcalc("net", "-", "--format", "json", stdin=textwrap.dedent(SYMBOLIC))
    data = as_json(result)
    assert data["file"] == "<stdin>" and data["input"] == [1, "H", "W"]
    bad = run_convcalc("net", "-", stdin="input: [3, 8, 8]\nlayers: []\n")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == ("<stdin>:2:9: error: 'layers' is empty: a network needs at least "
                          "one layer (hint: list the items under layers:, e.g. "
                          "`- conv: {out: 16, k: 3}`)\n")
