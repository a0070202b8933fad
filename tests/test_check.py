"""``convcalc check`` (SPEC §1.3, §1.4, §2.6) and ``convcalc diff``.

Expectations exact and as ranges, as integers and SI strings, for every quantity; each
failure is one located line compared exactly; budgets; every file checked; exit 2 over 1;
the github and json formats. Most runs call the CLI in process (``convcalc.cli.main``, the
console script's function, with its real exit codes); a few run ``python -m convcalc`` to be
sure the process behaves the same.

The network ``SMALL`` by hand (SPEC §4):
  conv 3→16 k3 p1 on 32×32: params 16·27 + 16 = 448, MACs 16·27·1024 = 442,368,
      FLOPs (2·27 − 1 + 1)·16·1024 = 884,736
  relu: 16,384 FLOPs;  maxpool k2 → 16×16×16: (4 − 1)·4096 = 12,288 FLOPs
  conv 16→32 k3 s2 p1 → 32×8×8: params 32·144 + 32 = 4,640, MACs 32·144·64 = 294,912,
      FLOPs 288·2048 = 589,824
  gap: 32·64 = 2,048 FLOPs;  flatten: 0;  linear 32→10: 330 params, 320 MACs, 640 FLOPs
  totals: params 5,418  MACs 737,600  FLOPs 1,505,920
  activations 16,384 + 16,384 + 4,096 + 2,048 + 32 + 32 + 10 = 38,986
  receptive field: 3, then 3 + 1 = 4 (jump 2), then 4 + 2·2 = 8 (jump 4); gap sees all: 32
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from convcalc.check import quantity
from convcalc.errors import SpecError
from clirun import cli

SMALL = """\
name: small
input: [3, 32, 32]
layers:
  - conv: {out: 16, k: 3, p: 1}
  - relu
  - maxpool: {k: 2}
  - conv: {out: 32, k: 3, s: 2, p: 1}
  - gap
  - flatten
  - linear: {out: 10}
"""
PARAMS, MACS, FLOPS, ACTIVATIONS = 5_418, 737_600, 1_505_920, 38_986

# the same trunk without the head: the receptive field stays local (8 × 8)
TRUNK = """\
input: [3, 32, 32]
layers:
  - conv: {out: 16, k: 3, p: 1}
  - relu
  - maxpool: {k: 2}
  - conv: {out: 32, k: 3, s: 2, p: 1}
"""


def write(tmp_path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def at(text: str, needle: str) -> str:
    """``line:col`` of the first ``needle`` in ``text``."""
    pos = text.index(needle)
    line = text.count("\n", 0, pos) + 1
    return f"{line}:{pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"



def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True,
                          text=True, timeout=30, cwd=cwd, env={"NO_COLOR": "1",
                                                               "PATH": "/usr/bin:/bin"})


def with_expect(body: str, base: str = SMALL) -> str:
    return base + "expect:\n" + textwrap.indent(textwrap.dedent(body), "  ")


# -- SI quantities --------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("2G", 2_000_000_000), ("3.5M", 3_500_000), ("15.47G", 15_470_000_000), ("1k", 1_000),
    ("1.5K", 1_500), ("25M", 25_000_000), ("0.5T", 500_000_000_000), ("4.5G", 4_500_000_000),
    ("138357544", 138_357_544), (" 7 M ", 7_000_000), (12, 12), (0, 0),
    ("123456789.123456789G", 123_456_789_123_456_789),  # every digit kept, none rounded
])
def test_si_quantities(text, value):
    assert quantity(text, None, "x") == value


@pytest.mark.parametrize("text, message", [
    ("1.2345k", "x: '1.2345k' is not a whole number"),
    ("0.5", "x: '0.5' is not a whole number"),
    ("2X", "x: expected an integer or a string like 2G or 3.5M, got '2X'"),
    ("-5M", "x: expected an integer or a string like 2G or 3.5M, got '-5M'"),
    ("2e9", "x: expected an integer or a string like 2G or 3.5M, got '2e9'"),
    (True, "x: expected a number, got True"),
    (-1, "x: must not be negative, got -1"),
    ("9" * 41, "x: a number written with 41 characters is too large"),
    ("99999999999T", "x: '99999999999T' is too large"),
    ("1.23456789012345678901234567G", "x: '1.23456789012345678901234567G' is not a whole "
                                      "number"),
])
def test_bad_quantities(text, message):
    with pytest.raises(SpecError) as info:
        quantity(text, None, "x")
    assert info.value.message == message


# -- expectations: pass ---------------------------------------------------------------------

PASSING = {
    "exact integers": f"""\
        output: [10]
        params: {PARAMS}
        macs: {MACS}
        flops: {FLOPS}
        activations: {ACTIVATIONS}
        rf: 32
        """,
    "ranges": f"""\
        output: [10]
        params: {{min: 5000, max: 6000}}
        macs: {{min: 700000, max: {MACS}}}
        flops: {{min: {FLOPS}}}
        activations: {{max: 40000}}
        rf: {{min: 30, max: 40}}
        """,
    "SI strings": """\
        params: {min: 5k, max: 5.5k}
        macs: {max: 0.8M}
        flops: {min: 1.5M, max: 2M}
        activations: {min: 38.986k, max: 38.986k}
        rf: [32, {max: 0.1k}]
        """,
    "SI exact": """\
        params: 5.418k
        macs: 0.7376M
        flops: 1.50592M
        activations: 38.986k
        """,
}


@pytest.mark.parametrize("case", PASSING)
def test_expectations_that_hold(tmp_path, capsys, monkeypatch, case):
    path = write(tmp_path, with_expect(PASSING[case]))
    code, out, err = cli(capsys, monkeypatch, "check", path)
    assert (code, out, err) == (0, "1 file, all ok\n", "")


def test_rf_of_a_trunk(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, with_expect("output: [32, 8, 8]\nrf: 8\n", TRUNK))
    assert cli(capsys, monkeypatch, "check", path)[0] == 0
    path = write(tmp_path, with_expect("rf: [8, {min: 8, max: 8}]\n", TRUNK))
    assert cli(capsys, monkeypatch, "check", path)[0] == 0


# -- expectations: fail, each one located line ------------------------------------------------

FAILING = [
    # (expect body, the token the finding points at, the message after "error: ")
    ("output: [1000]\n", "[1000]", "output shape: expected [1000], got [10]"),
    ("output: [10, 1]\n", "[10, 1]", "output shape: expected [10, 1], got [10]"),
    ("params: 5000\n", "5000", "params: expected 5,000, got 5,418 (off by +418)"),
    ("params: 6k\n", "6k", "params: expected 6,000, got 5,418 (off by -582)"),
    ("params: {max: 5k}\n", "{max", "params: expected ≤ 5,000, got 5,418"),
    ("macs: 2G\n", "2G", "MACs: expected 2,000,000,000, got 737,600 "
                         "(off by -1,999,262,400)"),
    ("macs: {min: 1M, max: 2M}\n", "{min", "MACs: expected ≥ 1,000,000 and ≤ 2,000,000, "
                                          "got 737,600"),
    ("flops: 3.5M\n", "3.5M", "FLOPs: expected 3,500,000, got 1,505,920 (off by -1,994,080)"),
    ("flops: {max: 15.47G, min: 1.6M}\n", "{max", "FLOPs: expected ≥ 1,600,000 and "
                                                  "≤ 15,470,000,000, got 1,505,920"),
    ("activations: 38985\n", "38985", "activations: expected 38,985, got 38,986 "
                                      "(off by +1)"),
    ("activations: {min: 0.1M}\n", "{min", "activations: expected ≥ 100,000, got 38,986"),
    ("rf: 31\n", "31", "receptive field: expected 31 × 31, got 32 × 32"),
    ("rf: {max: 16}\n", "{max", "receptive field: expected ≤ 16 × ≤ 16, got 32 × 32"),
    ("rf: [32]\n", "[32]", "rf: expected 1 axis, the network has 2"),
]


@pytest.mark.parametrize("body, token, message", FAILING,
                         ids=[f"{b.split(':')[0]}-{i}" for i, (b, _, _) in enumerate(FAILING)])
def test_expectations_that_fail(tmp_path, capsys, monkeypatch, body, token, message):
    text = with_expect(body)
    path = write(tmp_path, text)
    code, out, err = cli(capsys, monkeypatch, "check", path)
    assert code == 1
    assert err == ""
    assert out == f"{path}:{at(text, token)}: error: {message}\n1 file, 1 failed\n"


@pytest.mark.parametrize("value, shown", [("[1, 2]", "[1, 2]"), ("null", "null"),
                                          ("{max: [3]}", "[3]")])
def test_an_expectation_of_the_wrong_kind_is_said_in_yaml_terms(tmp_path, capsys, monkeypatch,
                                                                value, shown):
    # as written, not Python's repr of convcalc's internals (it was `[Y(value=1, loc=…), …]`)
    text = with_expect(f"params: {value}\n")
    path = write(tmp_path, text)
    code, out, err = cli(capsys, monkeypatch, "check", path)
    token = value if not value.startswith("{") else value[len("{max: "):]
    assert (code, err) == (2, "")
    assert out == (f"{path}:{at(text, token)}: error: expect.params: expected an integer or a "
                   f"string like 2G or 3.5M, got {shown} (hint: SI suffixes: k, M, G, T)\n"
                   f"1 file, 1 invalid\n")


def test_every_failed_expectation_is_reported(tmp_path, capsys, monkeypatch):
    text = with_expect("output: [9]\nparams: 1\nmacs: {max: 1k}\nflops: 0\n")
    path = write(tmp_path, text)
    code, out, _ = cli(capsys, monkeypatch, "check", path)
    assert code == 1
    assert out.splitlines() == [
        f"{path}:{at(text, '[9]')}: error: output shape: expected [9], got [10]",
        f"{path}:{at(text, '1' + chr(10))}: error: params: expected 1, got 5,418 "
        "(off by +5,417)",
        f"{path}:{at(text, '{max')}: error: MACs: expected ≤ 1,000, got 737,600",
        f"{path}:{at(text, '0' + chr(10))}: error: FLOPs: expected 0, got 1,505,920 "
        "(off by +1,505,920)",
        "1 file, 1 failed",
    ]


def test_symbolic_values_cannot_pass_silently(tmp_path, capsys, monkeypatch):
    text = "input: [3, H, W]\nlayers:\n  - conv: {out: 4, k: 3}\nexpect:\n  macs: 1M\n"
    path = write(tmp_path, text)
    code, out, _ = cli(capsys, monkeypatch, "check", path)
    assert code == 1
    assert out.startswith(f"{path}:{at(text, '1M')}: error: MACs: cannot check a symbolic "
                          "value (108*(H - 2)*(W - 2)); bind H and W with --set, e.g. "
                          "--set H=224\n")


def test_an_unknown_receptive_field_is_said_not_compared(tmp_path, capsys, monkeypatch):
    # adaptive pooling's windows depend on the input size: on a symbolic input the field is
    # unknown (README, receptive field), and check says so instead of printing "?"
    text = ("input: [1, H]\nlayers:\n  - conv: {out: 2, k: 3}\n"
            "  - adaptive_avgpool: {out: 4}\nexpect:\n  rf: 7\n")
    path = write(tmp_path, text)
    code, out, _ = cli(capsys, monkeypatch, "check", path)
    assert (code, out) == (1, f"{path}:{at(text, '7')}: error: receptive field: unknown here "
                              "(it depends on the input size); bind H with --set\n"
                              "1 file, 1 failed\n")
    # H = 20: conv k3 → 18; adaptive windows [floor(18i/4), ceil(18(i+1)/4)) hold 5 inputs
    # each ([0,5), [4,9), [9,14), [13,18)); through the conv: 5 + (3 - 1) = 7
    code, out, _ = cli(capsys, monkeypatch, "check", path, "--set", "H=20")
    assert (code, out) == (0, "1 file, all ok\n")


# -- --set (SPEC §1.3: binds symbols as in `net`) ---------------------------------------------

SYMBOLIC = "input: [3, H, W]\nlayers:\n  - conv: {out: 4, k: 3}\nexpect:\n  macs: {max: 1M}\n"


def test_set_lets_a_symbolic_network_pass_a_budget(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, SYMBOLIC)
    # conv 3→4 k3 on 10×10 → 8×8: 4·3·9·64 = 6,912 MACs
    code, out, _ = cli(capsys, monkeypatch, "check", path, "--set", "H=10", "--set", "W=10",
                       "--max-macs", "6912")
    assert (code, out) == (0, "1 file, all ok\n")
    code, out, _ = cli(capsys, monkeypatch, "check", path, "--set", "H=10", "--set", "W=10",
                       "--max-macs", "6911")
    assert (code, out) == (1, f"{path}: error: MACs 6,912 is over the budget --max-macs "
                              f"6,911 (by 1)\n1 file, 1 failed\n")
    # H = W = 1002 → 1000×1000: 108,000,000 MACs, over the declared 1M
    code, out, _ = cli(capsys, monkeypatch, "check", path, "--set", "H=1002", "--set", "W=1002")
    assert (code, out) == (1, f"{path}:{at(SYMBOLIC, '{max')}: error: MACs: expected ≤ "
                              f"1,000,000, got 108,000,000\n1 file, 1 failed\n")


def test_set_binds_the_files_that_declare_the_name(tmp_path, capsys, monkeypatch):
    sym = write(tmp_path, SYMBOLIC, "sym.yaml")
    small = write(tmp_path, SMALL, "small.yaml")  # numeric: H and W mean nothing to it
    code, out, _ = cli(capsys, monkeypatch, "check", sym, small, "--set", "H=10",
                       "--set", "W=10")
    assert (code, out) == (0, "2 files, all ok\n")


@pytest.mark.parametrize("args, message", [
    (["--set", "Q=3"], "error: --set Q: no var or input symbol of that name in any of the "
                       "files"),
    (["--set", "H=3", "--set", "H=4"], "error: --set H: given twice (3 and 4) (hint: give "
                                       "each name once)"),
    (["--set", "H"], "error: --set: expected NAME=positive integer, got 'H'"),
])
def test_bad_set_is_a_usage_error(tmp_path, capsys, monkeypatch, args, message):
    sym = write(tmp_path, SYMBOLIC, "sym.yaml")
    small = write(tmp_path, SMALL, "small.yaml")
    code, out, err = cli(capsys, monkeypatch, "check", sym, small, *args)
    assert (code, out, err) == (2, "", message + "\n")


def test_set_naming_nothing_in_the_one_file(tmp_path, capsys, monkeypatch):
    small = write(tmp_path, SMALL, "small.yaml")
    code, out, err = cli(capsys, monkeypatch, "check", small, "--set", "H=3")
    assert (code, out, err) == (2, "", f"error: --set H: no var or input symbol of that "
                                       f"name in {small}\n")


def test_dash_checks_standard_input(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "convcalc", "check", "-"], input=SMALL,
                          capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, "1 file, all ok\n")
    proc = subprocess.run([sys.executable, "-m", "convcalc", "check", "-"],
                          input=with_expect("params: 1\n"), capture_output=True, text=True,
                          timeout=30)
    assert proc.stdout == ("<stdin>:12:11: error: params: expected 1, got 5,418 (off by "
                           "+5,417)\n1 file, 1 failed\n")
    proc = run("check", "-", "-")
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        2, "", "error: standard input ('-') can be read once (hint: give '-' once)\n")


# -- budgets ---------------------------------------------------------------------------------

@pytest.mark.parametrize("option, value, message", [
    ("--max-params", "5k", "params 5,418 is over the budget --max-params 5,000 (by 418)"),
    ("--max-params", "5417", "params 5,418 is over the budget --max-params 5,417 (by 1)"),
    ("--max-macs", "0.5M", "MACs 737,600 is over the budget --max-macs 500,000 "
                           "(by 237,600)"),
    ("--max-flops", "1.5M", "FLOPs 1,505,920 is over the budget --max-flops 1,500,000 "
                            "(by 5,920)"),
])
def test_budget_over(tmp_path, capsys, monkeypatch, option, value, message):
    path = write(tmp_path, SMALL)
    code, out, err = cli(capsys, monkeypatch, "check", path, option, value)
    assert (code, err) == (1, "")
    assert out == f"{path}: error: {message}\n1 file, 1 failed\n"


def test_budgets_within(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, SMALL)
    code, out, _ = cli(capsys, monkeypatch, "check", path, "--max-params", "5418",
                       "--max-macs", "1M", "--max-flops", "1.50592M")
    assert (code, out) == (0, "1 file, all ok\n")


def test_budget_and_expectation_together(tmp_path, capsys, monkeypatch):
    text = with_expect("params: 5418\nmacs: {max: 0.7M}\n")
    path = write(tmp_path, text)
    code, out, _ = cli(capsys, monkeypatch, "check", path, "--max-params", "1M",
                       "--max-flops", "1M")
    assert code == 1
    assert out.splitlines() == [
        f"{path}:{at(text, '{max')}: error: MACs: expected ≤ 700,000, got 737,600",
        f"{path}: error: FLOPs 1,505,920 is over the budget --max-flops 1,000,000 "
        "(by 505,920)",
        "1 file, 1 failed"]


@pytest.mark.parametrize("value", ["lots", "-1M", "1.5", "2e9"])
def test_bad_budget_is_a_usage_error(tmp_path, capsys, monkeypatch, value):
    path = write(tmp_path, SMALL)
    code, out, err = cli(capsys, monkeypatch, "check", path, "--max-macs", value)
    assert code == 2 and out == ""
    assert err.startswith("error: --max-macs: ") and err.count("\n") == 1


# -- many files -------------------------------------------------------------------------------

def test_every_file_is_checked_after_a_failure(tmp_path, capsys, monkeypatch):
    bad = write(tmp_path, with_expect("params: 1\n"), "bad.yaml")
    good = write(tmp_path, with_expect(f"params: {PARAMS}\n"), "good.yaml")
    code, out, _ = cli(capsys, monkeypatch, "check", bad, good)
    assert code == 1
    assert out.splitlines() == [
        f"{bad}:12:11: error: params: expected 1, got 5,418 (off by +5,417)",
        "2 files, 1 failed"]
    code, out, _ = cli(capsys, monkeypatch, "check", good, bad, good)
    assert code == 1 and out.splitlines()[-1] == "3 files, 1 failed"


def test_invalid_beats_failed(tmp_path, capsys, monkeypatch):
    failed = write(tmp_path, with_expect("params: 1\n"), "failed.yaml")
    invalid = write(tmp_path, "input: [3, 8, 8]\nlayers: [rleu]\n", "invalid.yaml")
    good = write(tmp_path, SMALL, "good.yaml")
    for order in ((failed, invalid, good), (invalid, failed, good), (good, invalid, failed)):
        code, out, _ = cli(capsys, monkeypatch, "check", *order)
        assert code == 2
        lines = out.splitlines()
        assert lines[-1] == "3 files, 1 failed, 1 invalid"
        assert f"{invalid}:2:10: error: unknown op 'rleu' (hint: did you mean 'relu'?)" \
            in lines
        assert len(lines) == 3  # one line per problem, then the summary


def test_all_ok_and_missing_files(tmp_path, capsys, monkeypatch):
    a = write(tmp_path, SMALL, "a.yaml")
    b = write(tmp_path, TRUNK, "b.yaml")
    assert cli(capsys, monkeypatch, "check", a, b)[1] == "2 files, all ok\n"
    missing = str(tmp_path / "nope.yaml")
    code, out, _ = cli(capsys, monkeypatch, "check", a, missing)
    assert code == 2
    assert out == f"{missing}: error: no such file\n2 files, 1 invalid\n"


def test_as_a_process(tmp_path):
    """The same contract from ``python -m convcalc``: the exit codes and the lines."""
    bad = write(tmp_path, with_expect("params: 1\n"), "bad.yaml")
    good = write(tmp_path, SMALL, "good.yaml")
    invalid = write(tmp_path, "input: [3, 8, 8]\nlayers: [rleu]\n", "invalid.yaml")
    proc = run("check", "bad.yaml", "good.yaml", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (1, "")
    assert proc.stdout == ("bad.yaml:12:11: error: params: expected 1, got 5,418 "
                           "(off by +5,417)\n2 files, 1 failed\n")
    proc = run("check", bad, invalid, good, "--max-macs", "1M")
    assert proc.returncode == 2
    assert proc.stdout.splitlines()[-1] == "3 files, 1 failed, 1 invalid"
    proc = run("check", good, "--max-params", "1k")
    assert proc.returncode == 1
    assert proc.stdout == (f"{good}: error: params 5,418 is over the budget --max-params "
                           "1,000 (by 4,418)\n1 file, 1 failed\n")


# -- formats ----------------------------------------------------------------------------------

def test_github_format(tmp_path, capsys, monkeypatch):
    text = with_expect("params: 1\nmacs: {max: 1k}\n")
    failed = write(tmp_path, text, "failed.yaml")
    invalid = write(tmp_path, "input: [3, 8, 8]\nlayers: [rleu]\n", "invalid.yaml")
    good = write(tmp_path, SMALL, "good.yaml")
    code, out, _ = cli(capsys, monkeypatch, "check", failed, invalid, good, "--format",
                       "github", "--max-flops", "1M")
    assert code == 2
    assert out.splitlines() == [
        f"::error file={failed},line=12,col=11,title=convcalc::params: expected 1, got "
        "5,418 (off by +5,417)",
        f"::error file={failed},line=13,col=9,title=convcalc::MACs: expected ≤ 1,000, got "
        "737,600",
        f"::error file={failed},title=convcalc::FLOPs 1,505,920 is over the budget "
        "--max-flops 1,000,000 (by 505,920)",
        f"::error file={invalid},line=2,col=10,title=convcalc::unknown op 'rleu' (hint: did "
        "you mean 'relu'?)",
        f"::error file={good},title=convcalc::FLOPs 1,505,920 is over the budget "
        "--max-flops 1,000,000 (by 505,920)",
        "3 files, 2 failed, 1 invalid"]


def test_github_format_escapes(tmp_path, capsys, monkeypatch):
    # a percent sign and a newline in user text must not end or forge the annotation
    path = write(tmp_path, 'input: [3, 8, 8]\nlayers: [relu]\n"a%b\\nc": 1\n', "odd,name.yaml")
    code, out, _ = cli(capsys, monkeypatch, "check", path, "--format", "github")
    assert code == 2
    assert out.splitlines()[0] == (
        f"::error file={path.replace(',', '%2C')},line=3,col=1,title=convcalc::unknown "
        "top-level key 'a%25b%0Ac' (hint: top-level keys: name, input, vars, blocks, layers, "
        "expect, version, description)")


def test_json_format(tmp_path, capsys, monkeypatch):
    failed = write(tmp_path, with_expect("params: 1\nmacs: {min: 1k, max: 2M}\n"),
                   "failed.yaml")
    invalid = write(tmp_path, "input: [3, 8, 8]\nlayers: [rleu]\n", "invalid.yaml")
    good = write(tmp_path, SMALL, "good.yaml")
    code, out, err = cli(capsys, monkeypatch, "check", failed, invalid, good,
                         "--format", "json", "--max-params", "5.5k")
    assert (code, err) == (2, "")
    doc = json.loads(out)
    totals = {"params": PARAMS, "macs": MACS, "flops": FLOPS, "activations": ACTIVATIONS}
    assert doc == {
        "schema": "convcalc.check/1",
        "files": [
            {"file": failed, "status": "failed", "totals": totals,
             "findings": [{"line": 12, "col": 11, "what": "params",
                           "message": "params: expected 1, got 5,418 (off by +5,417)",
                           "expected": 1, "actual": PARAMS}]},
            {"file": invalid, "status": "invalid", "totals": None,
             "findings": [{"line": 2, "col": 10, "what": "invalid",
                           "message": "unknown op 'rleu' (hint: did you mean 'relu'?)",
                           "expected": None, "actual": None}]},
            {"file": good, "status": "ok", "totals": totals, "findings": []}],
        "summary": "3 files, 1 failed, 1 invalid"}


def test_json_format_ranges_and_budgets(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, with_expect("macs: {min: 1M, max: 2M}\noutput: [3]\n"))
    code, out, _ = cli(capsys, monkeypatch, "check", path, "-f", "json",
                       "--max-params", "1k")
    assert code == 1
    findings = json.loads(out)["files"][0]["findings"]
    assert findings == [
        {"line": 12, "col": 9, "what": "macs",
         "message": "MACs: expected ≥ 1,000,000 and ≤ 2,000,000, got 737,600",
         "expected": {"min": 1_000_000, "max": 2_000_000}, "actual": MACS},
        {"line": 13, "col": 11, "what": "output",
         "message": "output shape: expected [3], got [10]", "expected": [3], "actual": [10]},
        {"line": None, "col": None, "what": "params",
         "message": "params 5,418 is over the budget --max-params 1,000 (by 4,418)",
         "expected": 1000, "actual": PARAMS}]


def test_bad_format(tmp_path, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "check", write(tmp_path, SMALL), "-f", "xml")
    assert (code, out) == (2, "")
    assert err == "error: --format must be one of text, github, json, got 'xml'\n"


# -- convcalc diff ----------------------------------------------------------------------------

# NEW widens the first conv (16 → 24) and inserts a bn after it. By hand:
#   conv 0: params 24·27 + 24 = 672 (+224), MACs 24·27·1024 = 663,552 (+221,184)
#   bn (added): params 2·24 = 48, MACs 0
#   relu, maxpool: same op, wider output (24 channels), no params or MACs
#   conv 2: params 32·24·9 + 32 = 6,944 (+2,304), MACs 32·216·64 = 442,368 (+147,456)
#   gap, flatten, linear: unchanged, not listed
#   FLOPs per row: conv 0 (2·27)·24·1,024 = 1,327,104 (+442,368); bn 2·24,576 = 49,152;
#   relu 24,576 (+8,192); maxpool 3·6,144 = 18,432 (+6,144); conv 2 2·442,368 (+294,912)
#   totals: params 7,994 (+2,576); MACs 1,106,240 (+368,640)
#   FLOPs: 1,327,104 + 49,152 + 24,576 + 18,432 + 884,736 + 2,048 + 640 = 2,306,688 (+800,768)
#   activations: 3·24,576 + 6,144 + 2,048 + 32 + 32 + 10 = 81,994 (+43,008)
NEW = SMALL.replace("out: 16", "out: 24").replace("  - relu\n", "  - bn\n  - relu\n")

DIFF_ROWS = [  # change, path (old → new), op, output, what, Δ params, Δ MACs
    ["changed", "0", "conv", "16×32×32 → 24×32×32", "out: 16 → 24", "+224", "+221,184"],
    ["added", "1", "bn", "24×32×32", "", "+48", "0"],
    ["changed", "1 → 2", "relu", "16×32×32 → 24×32×32", "input: 16×32×32 → 24×32×32", "0",
     "0"],
    ["changed", "2 → 3", "maxpool", "16×16×16 → 24×16×16", "input: 16×32×32 → 24×32×32", "0",
     "0"],
    ["changed", "3 → 4", "conv", "32×8×8", "input: 16×16×16 → 24×16×16", "+2,304", "+147,456"],
]
DIFF_TOTALS = [  # quantity, old, new, Δ
    ["params", "5,418", "7,994", "+2,576"],
    ["macs", "737,600", "1,106,240", "+368,640"],
    ["flops", "1,505,920", "2,306,688", "+800,768"],
    ["activations", "38,986", "81,994", "+43,008"],
]


@pytest.fixture
def two_versions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, SMALL, "old.yaml")
    write(tmp_path, NEW, "new.yaml")
    return "old.yaml", "new.yaml"


def test_diff_markdown(two_versions, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "diff", *two_versions, "--format", "markdown")
    assert (code, err) == (0, "")
    assert out == "\n".join([
        "**old.yaml → new.yaml**", "",
        "| | old | new | Δ |", "|---|---:|---:|---:|",
        *("| " + " | ".join(r) + " |" for r in DIFF_TOTALS), "",
        "| change | path | op | output | what | Δ params | Δ MACs |",
        "|---|---|---|---|---|---:|---:|",
        *("| " + " | ".join(r) + " |" for r in DIFF_ROWS)]) + "\n"


def test_diff_table(two_versions, capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "diff", *two_versions)
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["old.yaml", "→", "new.yaml"]
    assert lines[1] == ["old", "new", "Δ"]
    assert lines[2:6] == DIFF_TOTALS
    assert lines[6] == ["change", "path", "op", "output", "what", "Δ", "params", "Δ", "MACs"]
    assert lines[7:] == [[c for cell in r for c in cell.split()] for r in DIFF_ROWS]


def test_diff_json(two_versions, capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "diff", *two_versions, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "convcalc.diff/1"
    assert (doc["old"], doc["new"]) == two_versions
    assert doc["output"] == {"old": [10], "new": [10]}
    assert doc["totals"] == {
        "params": {"old": 5418, "new": 7994, "delta": 2576},
        "macs": {"old": 737600, "new": 1106240, "delta": 368640},
        "flops": {"old": 1505920, "new": 2306688, "delta": 800768},
        "activations": {"old": 38986, "new": 81994, "delta": 43008}}
    layers = doc["layers"]
    assert [(x["change"], (x["new"] or x["old"])["op"]) for x in layers] == [
        ("changed", "conv"), ("added", "bn"), ("changed", "relu"), ("changed", "maxpool"),
        ("changed", "conv")]
    assert [x["delta"] for x in layers] == [
        {"params": 224, "macs": 221184, "flops": 442368},
        {"params": 48, "macs": 0, "flops": 49152},
        {"params": 0, "macs": 0, "flops": 8192}, {"params": 0, "macs": 0, "flops": 6144},
        {"params": 2304, "macs": 147456, "flops": 294912}]
    assert [[f["field"] for f in x["fields"]] for x in layers] == [
        ["args.out", "output", "params", "macs", "flops"], [],
        ["input", "output", "flops"], ["input", "output", "flops"],
        ["input", "params", "macs", "flops"]]
    assert layers[0]["fields"][0] == {"field": "args.out", "old": 16, "new": 24}
    assert layers[4]["fields"][0] == {"field": "input", "old": [16, 16, 16],
                                      "new": [24, 16, 16]}
    conv0 = layers[0]
    assert (conv0["old"]["params"], conv0["new"]["params"]) == (448, 672)
    assert (conv0["old"]["output"], conv0["new"]["output"]) == ([16, 32, 32], [24, 32, 32])
    assert layers[1]["old"] is None and layers[1]["new"]["output"] == [24, 32, 32]
    assert (layers[4]["old"]["path"], layers[4]["new"]["path"]) == ("3", "4")
    assert layers[4]["new"]["macs"] == 442368
    # the deltas add up to the total deltas
    assert sum(x["delta"]["params"] for x in layers) == doc["totals"]["params"]["delta"]
    assert sum(x["delta"]["macs"] for x in layers) == doc["totals"]["macs"]["delta"]
    assert sum(x["delta"]["flops"] for x in layers) == doc["totals"]["flops"]["delta"]


def test_diff_of_identical_files(two_versions, capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "diff", "old.yaml", "old.yaml", "-f", "markdown")
    assert code == 0
    assert out.splitlines()[-1] == "| | no layer changed | | | | | |"
    assert "| params | 5,418 | 5,418 | 0 |" in out


def test_diff_of_a_bad_file(two_versions, capsys, monkeypatch, tmp_path):
    write(tmp_path, "input: [3, 8, 8]\nlayers: [rleu]\n", "bad.yaml")
    code, out, err = cli(capsys, monkeypatch, "diff", "old.yaml", "bad.yaml")
    assert (code, out) == (2, "")
    assert err == "bad.yaml:2:10: error: unknown op 'rleu' (hint: did you mean 'relu'?)\n"


# -- the pre-commit hook ----------------------------------------------------------------------

def test_pre_commit_hook_manifest():
    """``.pre-commit-hooks.yaml``: one hook running ``convcalc check`` on the YAML files a
    commit touches (pre-commit appends their names), sparing CI and pre-commit configs.
    (Checked end to end with ``pre-commit run`` by hand; pre-commit is not a test
    dependency.)"""
    import re
    from pathlib import Path

    import yaml

    manifest = Path(__file__).parent.parent / ".pre-commit-hooks.yaml"
    hooks = yaml.safe_load(manifest.read_text())
    assert [h["id"] for h in hooks] == ["convcalc-check"]
    hook = hooks[0]
    assert (hook["entry"], hook["language"]) == ("convcalc check", "python")
    assert hook.get("pass_filenames", True) is True

    def selected(path: str) -> bool:
        return bool(re.search(hook["files"], path)) and not re.search(hook["exclude"], path)

    for path in ("arch/resnet50.yaml", "model.yml", "examples/vgg16.yaml", "a/b/c.yaml"):
        assert selected(path), path
    for path in (".github/workflows/ci.yml", "sub/.github/dependabot.yaml",
                 ".pre-commit-config.yaml", ".pre-commit-hooks.yaml", ".gitlab-ci.yml",
                 "README.md", "net.yaml.bak", "convcalc/cli.py"):
        assert not selected(path), path
