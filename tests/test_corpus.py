"""Bad and hostile inputs: ``convcalc check`` must answer each with exactly one located
diagnostic, exit 2, no traceback — quickly and in bounded memory.

The small files live in ``tests/corpus/``; the big ones (5000-deep nesting, 5 MB files,
5000-digit integers, expansion bombs) are generated in a temporary directory at test time.
Every case runs as its own ``python -m convcalc check FILE`` process under an address-space
limit (``RLIMIT_AS``, 1.5 GB) and a timeout, and is reaped with ``wait4`` so that its own peak
resident memory is checked too (each uses about 30 MB); the processes run a few at a time,
once per session.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"
TIMEOUT = 10  # seconds per process; every case here takes well under one
MEMORY = 1536 * 2**20  # bytes of address space per process
PEAK_RSS = 256 * 2**20  # bytes actually used by any one case, at its peak
PWNED = "CONVCALC_PWNED"  # what the hostile files try to `touch` in the working directory

# file in tests/corpus → a fragment of its one diagnostic (hints included)
CASES = {
    # YAML that is not YAML, or not a mapping
    "malformed_yaml.yaml": "malformed YAML",
    "malformed_indent.yaml": "malformed YAML",
    "control_chars.yaml": "malformed YAML: unacceptable character #x0007",
    "tab_indent.yaml": "tab_indent.yaml:4:1: error: malformed YAML: a tab in the indentation "
                       "(hint: YAML forbids tabs for indentation; indent with spaces)",
    "doc_list.yaml": "the document is a list; expected a mapping with 'input' and 'layers'",
    "doc_scalar.yaml": "the document is a single value ('resnet50')",
    "multi_document.yaml": "more than one YAML document",
    "empty.yaml": "empty file",
    "only_comment.yaml": "empty file",
    "binary.yaml": "binary file, not YAML",
    "latin1.yaml": "not UTF-8 text",
    "duplicate_key.yaml": "duplicate key 'k' (first at line 3)",
    "missing_input.yaml": "missing 'input'",
    "missing_layers.yaml": "missing 'layers'",
    "null_layers.yaml": "layers must be a list of layers",
    "two_ops_one_item.yaml": "one op per item, got conv, relu",
    # wrong types everywhere
    "type_string_kernel.yaml": "undefined name 'three'",
    "type_float_kernel.yaml": "'k' must be an integer, got float 3.5",
    "type_bool_channels.yaml": "'out' must be an integer, got a boolean",
    "type_input_mapping.yaml": "'input' must be a list",
    "type_input_float.yaml": "input sizes must be integers or names, got 32.5",
    "nan_size.yaml": "input sizes must be integers or names, got nan",
    "type_layers_mapping.yaml": "layers must be a list of layers",
    "type_item_number.yaml": "a layer is an op name or a mapping, got 42",
    "type_args_list.yaml": "conv takes a mapping of keys, got [8, 3]",
    "type_times_string.yaml": "'times' must be a positive integer, got 'many'",
    "type_expect_string.yaml": "expect.params: expected an integer or a string like 2G",
    "type_bias_string.yaml": "'bias' must be true or false, got 'yes please'",
    # unknown names, with "did you mean"
    "unknown_op.yaml": "unknown op 'rleu' (hint: did you mean 'relu'?)",
    "unknown_key.yaml": "conv (0) on input 3×32×32: no key 'stirde' (it takes out, k, s, p, d, g, bias) "
                        "(hint: did you mean 'stride'?)",
    "unknown_key_torch_name.yaml": "no key 'kernel' (it takes out, k, s, p, d, g, bias) "
                                   "(hint: did you mean 'kernel_size'?)",
    "unknown_top_key.yaml": "unknown top-level key 'layer' (hint: did you mean 'layers'?)",
    "unknown_expect_key.yaml": "unknown expectation 'parms' (hint: did you mean 'params'?)",
    "unknown_modifier.yaml": "unknown item key 'nmae' (hint: did you mean 'name'?)",
    "padding_bad_mode.yaml": "got 'sme' (hint: did you mean 'same'?)",
    "parallel_bad_merge.yaml": "merge must be one of add, concat, mul, got 'concatt' "
                               "(hint: did you mean 'concat'?)",
    "block_unknown_arg.yaml": "block 'unit' has no arg 'widht' (hint: did you mean 'width'?)",
    "undefined_name.yaml": "undefined name 'widht' in 'widht*2' (hint: did you mean 'width'?)",
    "undefined_tensor.yaml": "no saved tensor 'stme' (hint: did you mean 'stem'?)",
    "from_unknown.yaml": "'from: trunc' names no saved tensor (hint: did you mean 'trunk'?)",
    "undefined_block_arg.yaml": "block 'unit' needs arg 'c'",
    "undefined_alias.yaml": "alias '*layers' names no anchor",
    # sizes: zero, negative, absurd
    "size_zero_kernel.yaml": "'k' must be positive, got 0",
    "size_negative_stride.yaml": "'s' must be positive, got -2",
    "size_zero_channels.yaml": "'out' must be positive, got 0",
    "size_zero_input.yaml": "input sizes must be positive, got 0",
    "size_negative_input.yaml": "input sizes must be positive, got -3",
    "size_huge_input.yaml": "integer 100000000000000000000 is too large",
    "size_huge_channels.yaml": "integer 99999999999999999999999 is too large",
    "size_huge_expression.yaml": "in 'a*a*a*a*a*a' is too large",
    "size_too_many_axes.yaml": "'input' has 5 entries",
    "size_upsample_overflow.yaml": "upsample (0.0): output 3×36893488147419103232×"
                                   "36893488147419103232 has a size beyond 2**62",
    "size_symbolic_overflow.yaml": "output size has a coefficient of more than 100 digits",
    # impossible shapes
    "shape_collapses.yaml": "conv (4) on input 8×1×1: kernel 3 is larger than the padded "
                            "input 1",
    "shape_kernel_too_big.yaml": "kernel 7 is larger than the padded input 4",
    "residual_mismatch.yaml": "residual (0): body gives 128×28×28 but shortcut gives 64×56×56",
    "concat_mismatch.yaml": "branch 0 gives 32×56×56 but branch 1 gives 32×54×54 (spatial "
                            "sizes must match to concat)",
    "named_add_mismatch.yaml": "the current tensor gives 32×32×32 but 'skip' gives 16×32×32",
    "groups_not_dividing.yaml": "groups=4 must divide in_channels=30",
    "output_padding_too_large.yaml": "output_padding 2 must be smaller than the stride 2 or "
                                     "the dilation 1",
    "linear_on_spatial.yaml": "linear works on inputs with 0 spatial axes",
    "conv1d_rank.yaml": "conv1d needs 1 spatial axis",
    # blocks and repetitions
    "block_cycle.yaml": "block 'a' calls itself (a → b → a)",
    "block_self.yaml": "block 'loop' calls itself (loop → loop)",
    "block_shadows_op.yaml": "block 'conv' shadows the op of the same name",
    "times_huge.yaml": "'times: 1000000000000' is more than 100,000 repetitions",
    "times_zero.yaml": "'times' must be a positive integer, got 0",
    "times_nested_bomb.yaml": "'times: 1000' of at least 1,000 layers each makes more than "
                              "100,000 layers",
    # YAML features used as weapons
    "billion_laughs.yaml": "document expands to more than 200,000 values",
    "billion_laughs_layers.yaml": "document expands to more than 200,000 values",
    "alias_item_huge.yaml": "a layer is an op name or a mapping, got [[[...], [...], [...], "
                            "[...], ...], [[...],",
    "recursive_alias.yaml": "alias '*loop' is inside the collection it names",
    "merge_key.yaml": "YAML merge keys ('<<') are not supported",
    "unsafe_tag_apply.yaml": "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:"
                             "os.system'",
    "unsafe_tag_object.yaml": "unsupported YAML tag 'tag:yaml.org,2002:python/object/new:"
                              "subprocess.Popen'",
    "unsafe_tag_name.yaml": "unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'",
    "unsafe_tag_module.yaml": "unsupported YAML tag 'tag:yaml.org,2002:python/module:os'",
    "unsafe_tag_custom.yaml": "unsupported YAML tag '!Conv'",
    "tag_binary.yaml": "unsupported YAML tag 'tag:yaml.org,2002:binary'",
    "tag_set.yaml": "unsupported YAML tag 'tag:yaml.org,2002:set'",
    # expressions used as weapons
    "inject_import.yaml": "a function call in expression",
    "inject_input_symbol.yaml": "a function call in expression",
    "inject_attribute.yaml": "attribute access in expression 'c.__class__'",
    "inject_call.yaml": "a function call in expression 'max(c, 16)'",
    "inject_pow.yaml": "'**' in expression '9**9**9**9'",
    "inject_lambda.yaml": "in expression '(lambda: 8)()'",
    "inject_subscript.yaml": "subscript in expression '[c][0]'",
    "inject_comprehension.yaml": "in expression 'sum([1 for _ in range(10**9)])'",
    "inject_dunder_name.yaml": "undefined name '__builtins__'",
    "inject_walrus.yaml": "in expression '(x := 8)'",
    "inject_string_constant.yaml": "str constant '8' in expression",
    "expr_division_by_zero.yaml": "division by zero in expression 'c // (c - 8)'",
    "expr_too_long.yaml": "expression longer than 200 characters",
    "expr_syntax.yaml": "cannot read expression 'c * * 2'",
    # expectations
    "expect_malformed_range.yaml": "expect.params: min 10,000,000 is above max 1,000,000",
    "expect_bad_si.yaml": "expect.macs: expected an integer or a string like 2G or 3.5M, "
                          "got '2.5X'",
    "expect_inf.yaml": "expect.params: expected an integer or a string like 2G",
    "expect_negative.yaml": "expect.params: must not be negative, got -5",
    "expect_huge_si.yaml": "expect.macs: '99999999999T' is too large",
}

# files whose diagnostic names no line: the file as a whole
NO_LOCATION = {"directory", "missing"}

DEPTH = 5000
DIGITS = 5000


def _generated(root: Path) -> dict[str, tuple[Path, str]]:
    """The big and the odd inputs, written at test time: name → (path, fragment)."""
    files: dict[str, tuple[str, str]] = {}
    net = "input: [3, 8, 8]\n"
    files["deep_lists"] = (net + "layers: " + "[" * DEPTH + "]" * DEPTH + "\n",
                           "nested more than 100 levels deep")
    files["deep_maps"] = (net + "layers: " + "{a: " * DEPTH + "1" + "}" * DEPTH + "\n",
                          "nested more than 100 levels deep")
    files["deep_residual_flow"] = (
        net + "layers: " + "[{residual: {body: " * DEPTH + "[relu]" + "}}]" * DEPTH + "\n",
        "nested more than 100 levels deep")
    lines, indent = [net + "layers:"], "  "
    for _ in range(300):  # block style grows by 6 columns a level: 300 levels is 270 kB
        lines += [f"{indent}- residual:", f"{indent}    body:"]
        indent += "      "
    files["deep_residual_block"] = ("\n".join(lines + [f"{indent}- relu"]) + "\n",
                                    "nested more than 100 levels deep")
    chain = [f"  b{i}: [relu, b{i + 1}]" for i in range(DEPTH)]
    files["deep_block_calls"] = (
        net + "blocks:\n" + "\n".join(chain) + f"\n  b{DEPTH}: [relu]\nlayers: [b0]\n",
        "blocks and structures nested more than 100 deep")
    bomb = [f"  b{i}: [{{parallel: {{branches: [[b{i + 1}], [b{i + 1}]], merge: add}}}}]"
            for i in range(64)]
    files["branch_bomb"] = (
        net + "blocks:\n" + "\n".join(bomb) + "\n  b64: [relu]\nlayers: [b0]\n",
        "the network expands to more than 100,000 layers")
    files["times_over_limit"] = (net + "layers:\n  - relu: {}\n    times: 100001\n",
                                 "'times: 100001' is more than 100,000 repetitions")
    files["times_of_empty_blocks"] = (  # repetitions of nothing are still work
        net + "blocks:\n  nothing: []\n  many:\n    layers:\n      - nothing: {}\n"
        "        times: 1000\nlayers:\n  - many: {}\n    times: 1000\n",
        "'times: 1000' inside 1,000 repetitions makes 1,000,000, more than 100,000")
    files["int_digits"] = (net + "layers:\n  - conv: {out: " + "9" * DIGITS + ", k: 3}\n",
                           f"integer with {DIGITS} digits is too large")
    files["int_hex"] = (net + "layers:\n  - conv: {out: 0x" + "f" * DIGITS + ", k: 3}\n",
                        "is too large")
    files["int_input"] = ("input: [3, " + "1" * DIGITS + ", 8]\nlayers: [relu]\n",
                          f"integer with {DIGITS} digits is too large")
    files["int_expect"] = (net + "layers: [relu]\nexpect:\n  params: " + "7" * DIGITS + "\n",
                           f"integer with {DIGITS} digits is too large")
    files["int_expect_si"] = (
        net + "layers: [relu]\nexpect:\n  params: '" + "7" * DIGITS + "G'\n",
        "expect.params: a number written with 5,001 characters is too large")
    files["int_expression"] = (net + "layers:\n  - conv: {out: '" + "9" * DIGITS + "', k: 3}\n",
                               "expression longer than 200 characters")
    files["int_in_short_expression"] = (
        net + "layers:\n  - conv: {out: '" + "9" * 150 + " * 2', k: 3}\n",
        "error: a 150-digit value in '999")
    files["float_overflow"] = (net + "layers:\n  - conv: {out: 1e99999, k: 3}\n",
                               "float constant inf in expression")
    files["file_over_5mb"] = (net + "layers: [relu]\n" + "# padding\n" * 600_000,
                              "file is larger than 5 MB")
    files["long_key"] = (net + "layers: [relu]\n" + "k" * 200_000 + ": 1\n",
                         "malformed YAML")
    files["long_op_name"] = ('input: [3, 8, 8]\nlayers: ["' + "relu" * 50_000 + '"]\n',
                             "unknown op 'relurelurelu")
    out = {}
    for name, (text, fragment) in files.items():
        path = root / f"{name}.yaml"
        path.write_text(text)
        out[name] = (path, fragment)
    directory = root / "a_directory.yaml"
    directory.mkdir()
    out["directory"] = (directory, "is a directory, not a YAML file")
    out["missing"] = (root / "does_not_exist.yaml", "no such file")
    return out


def _limit_memory() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int  # bytes: this process's own maximum resident set size


# The child runs convcalc as ``python -m convcalc`` would, then writes its own high-water
# resident size (VmHWM, this process's memory since exec) to the file named first. The
# kernel's ru_maxrss cannot serve: it also counts the pages the child inherited at fork from
# this test process, which is hundreds of MB once torch has been imported by other tests.
_LAUNCH = """\
import atexit, runpy, sys
hwm_file = sys.argv[1]
def _report():
    with open("/proc/self/status") as status, open(hwm_file, "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(_report)
sys.argv = ["convcalc", *sys.argv[2:]]
runpy.run_module("convcalc", run_name="__main__", alter_sys=True)
"""


def run_convcalc(*args: str, cwd: Path) -> Run:
    """``python -m convcalc ARGS`` under the memory limit and the timeout; its peak resident
    size is its own report (``_LAUNCH``), or, if it died before reporting, ``ru_maxrss``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as tmp:
        hwm_file = os.path.join(tmp, "hwm")
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, hwm_file, *args], stdout=out,
                                stderr=err, cwd=cwd, preexec_fn=_limit_memory,
                                env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
        timer = threading.Timer(TIMEOUT, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        try:
            with open(hwm_file) as fh:
                peak = int(fh.read()) * 1024  # kB
        except (OSError, ValueError):
            peak = usage.ru_maxrss * 1024  # kB on Linux
        return Run(proc.returncode, out.read().decode("utf-8", "replace"),
                   err.read().decode("utf-8", "replace"), seconds, peak)


@pytest.fixture(scope="session")
def cases(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    root = tmp_path_factory.mktemp("generated")
    out = {name: (CORPUS / name, fragment) for name, fragment in CASES.items()}
    out.update(_generated(root))
    return out


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """Where the processes run: a hostile file that managed to run a command would leave
    ``CONVCALC_PWNED`` here."""
    return tmp_path_factory.mktemp("cwd")


@pytest.fixture(scope="session")
def runs(cases, workdir) -> dict[tuple[str, str], Run]:
    """Each case through its own ``convcalc check`` process (and some through ``convcalc
    net``), a few processes at a time: (command, case) → (process, seconds)."""
    jobs = [("check", name) for name in cases] + [("net", name) for name in NET_CASES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {(command, name): pool.submit(run_convcalc, command, str(cases[name][0]),
                                                cwd=workdir)
                   for command, name in jobs}
        return {job: f.result() for job, f in futures.items()}


@pytest.fixture(scope="session")
def check_runs(runs) -> dict[str, Run]:
    return {name: result for (command, name), result in runs.items() if command == "check"}


ALL = sorted(CASES) + sorted(["deep_lists", "deep_maps", "deep_residual_flow",
                              "deep_residual_block", "deep_block_calls", "branch_bomb",
                              "times_over_limit", "times_of_empty_blocks", "int_digits",
                              "int_hex", "int_input", "int_expect", "int_expect_si",
                              "int_expression", "int_in_short_expression", "float_overflow",
                              "file_over_5mb", "long_key", "long_op_name", "directory",
                              "missing"])


def test_every_corpus_file_is_a_case():
    on_disk = {p.name for p in CORPUS.iterdir()}
    assert on_disk == set(CASES)


@pytest.mark.parametrize("name", ALL)
def test_check_gives_one_located_diagnostic_and_exit_2(name, cases, check_runs):
    path, fragment = cases[name]
    proc = check_runs[name]
    out = proc.stdout
    assert "Traceback" not in out + proc.stderr
    assert proc.stderr == ""
    assert proc.returncode == 2, out
    lines = out.splitlines()
    assert len(lines) == 2, out  # the diagnostic, then the summary
    where = r"" if name in NO_LOCATION else r":\d+:\d+"
    assert re.fullmatch(re.escape(str(path)) + where + r": error: .+", lines[0]), lines[0]
    assert fragment in lines[0]
    assert len(lines[0]) < 1100  # no value or name, however big, is spelled out in full
    assert lines[1] == "1 file, 1 invalid"
    assert proc.seconds < TIMEOUT
    assert proc.peak_rss < PEAK_RSS


def test_nothing_ran(check_runs, workdir):
    """The unsafe tags and the injected expressions all try to ``touch CONVCALC_PWNED``."""
    assert check_runs  # every process has finished
    assert not (workdir / PWNED).exists()
    assert not (Path.cwd() / PWNED).exists()
    assert list(workdir.iterdir()) == []


def test_the_memory_limit_bites(workdir):
    """The limit the cases run under is real: a child that wants 2 GB does not get it."""
    proc = subprocess.run([sys.executable, "-c", "bytearray(2 * 2**30)"], capture_output=True,
                          text=True, timeout=TIMEOUT, preexec_fn=_limit_memory, cwd=workdir)
    assert proc.returncode != 0 and "MemoryError" in proc.stderr


def test_all_files_in_one_run_each_report_once(cases, workdir):
    """One ``check`` over the whole corpus: every file is reported, in order, once."""
    names = sorted(CASES)
    paths = [str(CORPUS / n) for n in names]
    proc = run_convcalc("check", *paths, cwd=workdir)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == f"{len(names)} files, {len(names)} invalid"
    reported = [line.split(":", 1)[0] for line in lines[:-1]]
    assert reported == paths


NET_CASES = ["malformed_yaml.yaml", "unknown_op.yaml", "billion_laughs.yaml",
             "unsafe_tag_apply.yaml", "inject_import.yaml", "deep_block_calls", "branch_bomb",
             "int_hex", "directory"]


@pytest.mark.parametrize("name", NET_CASES)
def test_net_gives_one_line_on_stderr_and_exit_2(name, cases, workdir, runs):
    path, fragment = cases[name]
    proc = runs["net", name]
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    where = r"" if name in NO_LOCATION else r":\d+:\d+"
    assert re.fullmatch(re.escape(str(path)) + where + r": error: .+", lines[0]), lines[0]
    assert fragment in lines[0]
    assert not (workdir / PWNED).exists()


# -- the walk's limits, in process (reaching them for real takes seconds) -----------------

def test_row_limit(monkeypatch):
    from convcalc import walk as walk_module
    from convcalc.errors import SpecError
    from convcalc.spec import parse

    monkeypatch.setattr(walk_module, "MAX_ROWS", 50)
    net = parse("input: [3, 8, 8]\nlayers:\n" + "  - relu\n" * 51, "rows.yaml")
    with pytest.raises(SpecError) as info:
        walk_module.walk(net)
    assert info.value.line() == ("rows.yaml:53:5: error: the network expands to more than "
                                 "50 layers (repetitions and branches multiply)")
    # a count the static bound cannot see (times from an expression) is stopped by the walk
    item = "  - relu: {}\n    times: n\n"
    net = parse("input: [3, 8, 8]\nvars: {n: 30}\nlayers:\n" + item * 2, "rows.yaml")
    with pytest.raises(SpecError) as info:
        walk_module.walk(net)
    assert info.value.line() == "rows.yaml:6:5: error: the network has more than 50 layers"


def test_symbolic_row_limit(monkeypatch):
    from convcalc import walk as walk_module
    from convcalc.errors import SpecError
    from convcalc.spec import parse

    monkeypatch.setattr(walk_module, "MAX_SYMBOLIC_ROWS", 3)
    text = "input: [3, H, W]\nlayers:\n  - conv: {out: 4, k: 3, s: 2}\n    times: 4\n"
    with pytest.raises(SpecError) as info:
        walk_module.walk(parse(text, "sym.yaml"))
    assert info.value.line().startswith("sym.yaml:3:5: error: more than 3 layers with "
                                        "symbolic sizes")
    assert len(walk_module.walk(parse(text.replace("4\n", "3\n"), "sym.yaml")).rows) == 3


# -- without libyaml ----------------------------------------------------------------------------

def _without_libyaml(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml._yaml", None)  # `from yaml._yaml import` fails


def test_pure_python_parser_gives_the_same_answers(monkeypatch, tmp_path):
    """PyYAML without libyaml falls back to its pure-Python parser: the same diagnostics,
    word for word, at the same places — libyaml's own limits (its nesting limit, which its
    look-ahead reaches before convcalc's) never show through."""
    from convcalc.errors import ConvcalcError
    from convcalc.spec import load
    from convcalc.walk import walk

    generated = {
        "deep.yaml": "input: [3, 8, 8]\nlayers: " + "[" * DEPTH + "]" * DEPTH + "\n",
        "deep_maps.yaml": "input: [3, 8, 8]\nlayers: " + "{a: " * DEPTH + "1" + "}" * DEPTH,
        "deep_mixed.yaml": "input: [3, 8, 8]\nlayers: " + "[{a: [" * DEPTH,  # and malformed
        "tab_value.yaml": "input: [3, 8, 8]\nlayers:\n  - conv: {out: 8,\tk: 3}\n",
        "tab_after_dash.yaml": "input: [3, 8, 8]\nlayers:\n  -\trelu\n",
        "tab_quoted.yaml": "input: [3, 8, 8]\nname: 'a\tb'\nlayers: [relu]  #\tok\n",
        "bad_char_late.yaml": "input: [3, 8, 8]\nlayers: [rleu]\n# \x07\n",
        "unclosed.yaml": "input: [3, 8, 8]\nlayers: [relu\n",
    }
    for name, text in generated.items():
        (tmp_path / name).write_text(text)
    files = [*sorted(CORPUS.iterdir()), *sorted(tmp_path.iterdir())]
    examples = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))

    def answers():
        out = {}
        for path in files:
            try:
                out[path.name] = str(walk(load(str(path))).totals)
            except ConvcalcError as err:
                out[path.name] = err.line()
        for path in examples:  # the parsed networks themselves, every value and location
            out[path.name] = load(str(path))
        return out

    with_libyaml = answers()
    _without_libyaml(monkeypatch)
    assert answers() == with_libyaml
    deep = str(tmp_path / "deep.yaml")
    # the 101st '[' (the root mapping is level 0): line 2, after "layers: "
    assert with_libyaml["deep.yaml"] == (f"{deep}:2:{len('layers: ') + 101}: error: nested "
                                         "more than 100 levels deep")
    assert "error" not in with_libyaml["tab_quoted.yaml"]  # tabs inside quotes and comments
    bad = str(tmp_path / "bad_char_late.yaml")  # the character is refused before any parsing
    assert with_libyaml["bad_char_late.yaml"] == (f"{bad}:3:3: error: malformed YAML: "
                                                  "unacceptable character #x0007")


TABS = [  # (text, line, column of the tab, message)
    ("input: [3, 8, 8]\nlayers:\n\t- relu\n", 3, 1, "a tab in the indentation"),
    ("input: [3, 8, 8]\nlayers:\n  - conv:\n  \t  k: 3\n", 4, 3, "a tab in the indentation"),
    ("input: [3, 8, 8]\nlayers:\n  - conv:\n      out: 8\n\t    k: 3\n", 5, 1,
     "a tab in the indentation"),
    ("input: [3, 8, 8]\nlayers: [\n\trelu]\n", 3, 1, "a tab in the indentation"),
    ("input: [3, 8, 8]\nlayers:\n  - conv: {out: 8, k:\t3}\n", 3, 22,
     "a tab between values"),
    ("input: [3, 8, 8]\nlayers:\n  -\trelu\n", 3, 4, "a tab between values"),
]


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize("text, line, col, message", TABS,
                         ids=["item", "mixed", "inner-key", "flow", "after-colon", "after-dash"])
def test_a_tab_is_named_where_it_is(text, line, col, message, libyaml, monkeypatch):
    """YAML forbids tabs for indentation; the diagnostic says so, at the tab, whichever
    parser PyYAML has (libyaml alone would read some of these tabs as spaces)."""
    from convcalc.errors import SpecError
    from convcalc.spec import parse

    assert text.splitlines()[line - 1][col - 1] == "\t"
    if not libyaml:
        _without_libyaml(monkeypatch)
    with pytest.raises(SpecError) as info:
        parse(text, "t.yaml")
    hint = ("YAML forbids tabs for indentation; indent with spaces" if "indentation" in message
            else "YAML forbids tabs for indentation, and convcalc reads tabs only inside "
                 "quoted strings and comments; use spaces")
    assert info.value.line() == f"t.yaml:{line}:{col}: error: malformed YAML: {message} " \
                                f"(hint: {hint})"


@pytest.mark.parametrize("text", [
    # libyaml took 'relu?' as a value; the pure-Python parser stops at the '?'
    "input: [3, 32, 32]\nblocks:\n  conv: [relu? ]\nlayers:\n  - conv\n",
    "input: [3, 100??0, 32]\nlayers:\n  - relu\n",
    # libyaml ends a tag at ',' in a flow collection; the pure-Python parser reads on
    "input: [!3, 32, 32]\nlayers: [relu]\n",
    # an empty document: libyaml placed its empty value at 2:1, the pure-Python parser at 1:4
    "---",
])
def test_one_message_on_either_parser(monkeypatch, text):
    from convcalc.errors import ConvcalcError
    from convcalc.spec import parse
    from convcalc.walk import walk

    def answer():
        try:
            return str(walk(parse(text, "t.yaml")).totals)
        except ConvcalcError as err:
            return err.line()

    with_libyaml = answer()
    _without_libyaml(monkeypatch)
    assert answer() == with_libyaml
