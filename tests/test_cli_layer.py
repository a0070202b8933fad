"""`convcalc layer` as a user runs it: a subprocess, stdout for results, stderr for errors.

SPEC §1.1 (options, solve mode), §1.4 (exit codes), §5 (JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import convcalc

ESC = "\x1b"


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TERM", "COLUMNS")}
    env.update(extra)
    return env


def cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True,
                          text=True, env=_env(**env), timeout=60)


def layer(*args, **env):
    return cli("layer", *args, **env)


def ok(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "Traceback" not in result.stdout
    return result.stdout


# -- answers ----------------------------------------------------------------------------------

def test_layer_prints_the_output_size_with_its_formula():
    out = ok(layer("--k", "3", "--s", "2", "--p", "1", "--n", "224"))
    assert "112×112" in out
    assert "floor((224 + 2*1 - 1*(3 - 1) - 1)/2) + 1 = 112" in out


def test_layer_json_matches_spec_section_5():
    out = ok(layer("--k", "3", "--s", "2", "--p", "1", "--n", "224", "--cin", "64",
                   "--cout", "128", "--format", "json"))
    data = json.loads(out)
    assert data["schema"] == "convcalc.layer/1"
    assert data["op"] == "conv"
    assert data["input"] == [64, 224, 224]
    assert data["output"] == [128, 112, 112]
    assert data["params"] == 128 * 64 * 3 * 3 + 128 == 73856
    assert data["macs"] == 128 * 64 * 3 * 3 * 112 * 112 == 924844032
    assert data["flops"] == (2 * 64 * 3 * 3 - 1 + 1) * 128 * 112 * 112 == 1849688064
    assert data["rf"] == {"size": [3, 3], "jump": [2, 2], "start": [0, 0]}
    assert any(f.endswith("floor((224 + 2*1 - 1*(3 - 1) - 1)/2) + 1 = 112")
               for f in data["formula"])


def test_per_axis_options_and_3d_input():
    data = json.loads(ok(layer("--k", "3x1", "--s", "2x1", "--p", "1x0", "--n", "16x9",
                               "--cin", "2", "--cout", "4", "-f", "json")))
    assert data["output"] == [4, (16 + 2 - 3) // 2 + 1, 9]
    assert data["params"] == 4 * 2 * 3 * 1 + 4
    data = json.loads(ok(layer("--k", "3", "--n", "8x10x12", "-f", "json")))
    assert data["output"] == [None, 6, 8, 10]


def test_other_op_with_extra_arg_and_parts():
    data = json.loads(ok(layer("-t", "sepconv", "--k", "3", "--n", "7", "--cin", "3",
                               "--cout", "128", "-a", "mult=2", "-f", "json")))
    assert data["output"] == [128, 5, 5]
    assert [p["name"] for p in data["parts"]] == ["dw", "pw"]
    assert data["macs"] == 6 * 9 * 25 + 128 * 6 * 25


def test_transposed_jump_is_a_fraction_string():
    data = json.loads(ok(layer("-t", "deconv", "--k", "4", "--s", "2", "--p", "1", "--n", "32",
                               "--cin", "64", "--cout", "32", "-f", "json")))
    assert data["output"] == [32, 64, 64]
    assert data["rf"]["jump"] == ["1/2", "1/2"]
    assert data["macs"] == 64 * 32 * 16 * 32 * 32


def test_symbolic_input_gives_formulas():
    out = ok(layer("--k", "3", "--s", "2", "--p", "1", "--n", "HxW"))
    assert "(H - 1)//2 + 1" in out and "(W - 1)//2 + 1" in out
    data = json.loads(ok(layer("--k", "3", "--s", "2", "--p", "1", "--n", "HxW",
                               "--format", "json")))
    assert data["input"] == [None, "H", "W"]
    assert data["output"] == [None, "(H - 1)//2 + 1", "(W - 1)//2 + 1"]


def test_without_n_the_answer_is_the_formula_in_n():
    data = json.loads(ok(layer("--k", "3", "--s", "2", "--p", "1", "--format", "json")))
    assert data["output"] == [None, "(n - 1)//2 + 1", "(n - 1)//2 + 1"]
    assert "(n - 1)//2 + 1" in ok(layer("--k", "3", "--s", "2", "--p", "1"))


# -- solve mode (--out) -----------------------------------------------------------------------

def test_solve_padding():
    assert ok(layer("--k", "3", "--s", "1", "--n", "224", "--out", "224")).strip() == "p = 1"


def test_solve_finds_zero_padding():
    assert ok(layer("--k", "3", "--s", "1", "--n", "224", "--out", "222")).strip() == "p = 0"


def test_solve_without_a_solution_says_so():
    # k=3, s=1 on 224 gives 222, 224, 226, ... for p = 0, 1, 2: never 225
    # like every exit-2 case: one error line on stderr, nothing on stdout
    result = layer("--k", "3", "--s", "1", "--n", "224", "--out", "225")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == ("error: no p gives output 225 (hint: change another "
                             "hyper-parameter or the wanted size)\n")


def test_solve_with_several_solutions_lists_them():
    # s=2, p=0 on 10: floor((10 - k)/2) + 1 = 4 for k = 3 and k = 4
    out = ok(layer("--s", "2", "--p", "0", "--n", "10", "--out", "4"))
    assert out.strip() == "k = 3..4  (several solutions)"
    data = json.loads(ok(layer("--s", "2", "--p", "0", "--n", "10", "--out", "4", "-f",
                               "json")))
    assert data["schema"] == "convcalc.solve/2"
    assert data["solve"] == "k" and data["solutions"] == [[[3, 4]], [[3, 4]]]


def test_solve_open_ended_stride():
    # k=3 on 10 gives a single output for every stride from 8 on
    out = ok(layer("--k", "3", "--p", "0", "--n", "10", "--out", "1"))
    assert out.strip() == "s = 8 or more"
    data = json.loads(ok(layer("--k", "3", "--p", "0", "--n", "10", "--out", "1", "-f", "json")))
    assert data["solutions"] == [[[8, None]], [[8, None]]]


def test_solve_transposed_output_padding_and_padding():
    # (32 - 1)*2 - 2*1 + (3 - 1) + op + 1 = 64 needs op = 1
    assert ok(layer("-t", "deconv", "--k", "3", "--s", "2", "--p", "1", "--n", "32",
                    "--out", "64")).strip() == "op = 1"
    # (32 - 1)*2 - 2p + (4 - 1) + 1 = 64 needs p = 1
    assert ok(layer("-t", "deconv", "--k", "4", "--s", "2", "--n", "32",
                    "--out", "64")).strip() == "p = 1"


# -- errors: one line on stderr, exit code 2, never a traceback -------------------------------

ERRORS = [
    pytest.param(["--k", "5", "--n", "3"],
                 "error: conv: kernel 5 is larger than the padded input 3 = 3 + 0 + 0 along H",
                 id="kernel-larger-than-padded-input"),
    pytest.param(["--k", "3", "--n", "8", "--cin", "3", "--cout", "4", "--g", "2"],
                 "error: conv: groups=2 must divide in_channels=3", id="groups-not-dividing"),
    pytest.param(["-t", "deconv", "--k", "3", "--s", "2", "--op", "2", "--n", "8"],
                 "error: deconv: output_padding 2 must be smaller than the stride 2 or the "
                 "dilation 1 along H (PyTorch's rule)", id="output-padding-too-large"),
    pytest.param(["--k", "3", "--s", "2", "--p", "same", "--n", "8"],
                 "error: conv: padding='same' needs stride 1 (PyTorch's rule), got stride 2x2",
                 id="same-with-stride-2"),
    pytest.param(["--k", "3", "--n", "0"], "error: --n: sizes must be positive, got 0",
                 id="zero-size"),
    pytest.param(["--k", "3", "--n", "-4"], "error: --n: sizes must be positive, got -4",
                 id="negative-size"),
    pytest.param(["--k", "0", "--n", "8"], "error: conv: 'k' must be positive, got 0",
                 id="zero-kernel"),
    pytest.param(["--k", "3", "--n", "8", "--cin", "0", "--cout", "3"],
                 "error: --cin must be positive, got 0", id="zero-channels"),
    pytest.param(["--k", "3.5", "--n", "8"],
                 "error: --k: '3.5' is not an integer (hint: write 3 or 3x1)",
                 id="non-integer-kernel"),
    pytest.param(["--k", "3", "--n", "2.5"],
                 "error: --n: '2.5' is neither a size nor a symbol name "
                 "(hint: write 224, 224x192 or HxW)", id="non-integer-size"),
    pytest.param(["--k", "3", "--n", "8", "--cin", "abc"], "error: --cin: 'abc' is not an integer",
                 id="non-integer-channels"),
    pytest.param(["-t", "maxpol", "--k", "3", "--n", "8"],
                 "error: unknown op 'maxpol' (hint: did you mean 'maxpool'?)", id="unknown-op"),
    pytest.param(["--k", "3", "--n", "8", "--foo", "1"], "error: unknown option '--foo'",
                 id="unknown-option"),
    pytest.param(["--k", "3", "--n", "8", "-a", "strde=2"],
                 "error: conv: no key 'strde' (it takes out, k, s, p, d, g, bias) "
                 "(hint: did you mean 'stride'?)", id="unknown-key"),
    pytest.param(["--k", "3", "--n", "8", "--format", "xml"],
                 "error: --format must be table or json, got 'xml'", id="unknown-format"),
    pytest.param(["--k", "3x3x3", "--n", "8x8"],
                 "error: --n 8x8 has 2 axes but --k 3x3x3 has 3", id="axis-count-mismatch"),
    pytest.param(["-t", "deconv", "--k", "1", "--p", "3", "--n", "2"],
                 "error: deconv: output size along H would be -4", id="transposed-output-negative"),
]


@pytest.mark.parametrize("args, message", ERRORS)
def test_user_mistake_is_one_error_line(args, message):
    result = layer(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message)


def test_errors_keep_stdout_clean_in_json_mode():
    result = layer("--k", "5", "--n", "3", "--format", "json")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ")


# -- the rest of the interface ----------------------------------------------------------------

def test_version():
    assert ok(cli("--version")).strip() == f"convcalc {convcalc.__version__}"


@pytest.mark.parametrize("command", [["layer", "--k", "3", "--n", "8"], ["ops"]],
                         ids=["layer", "ops"])
def test_no_color_means_no_escape_codes(command):
    # forced colour shows the check can see escapes at all...
    assert ESC in ok(cli(*command, FORCE_COLOR="1", TERM="xterm-256color"))
    # ...and NO_COLOR removes every one of them, bold and dim included
    assert ESC not in ok(cli(*command, FORCE_COLOR="1", TERM="xterm-256color", NO_COLOR="1"))
    assert ESC not in ok(cli(*command))  # piped output is plain anyway


SYMPY_PROBE = """
import sys
from convcalc.cli import main
sys.argv = ["convcalc", "layer", "--k", "3", "--s", "2", "--p", "1", "--n", {n!r},
            "--cin", "3", "--cout", "8", "--format", {fmt!r}]
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
print("sympy" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("n, fmt, imports_sympy", [("224", "table", False),
                                                   ("224x192", "json", False),
                                                   ("HxW", "table", True)])
def test_sympy_is_imported_only_for_symbolic_sizes(n, fmt, imports_sympy):
    result = subprocess.run([sys.executable, "-c", SYMPY_PROBE.format(n=n, fmt=fmt)],
                            capture_output=True, text=True, env=_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == str(imports_sympy)


# -- the rank (SPEC §1.1): a ranked op name, else the options' component count, else 2 ----------

def test_ranked_name_sets_the_rank():
    # PyTorch's Conv1d(16, 32, 5) on 100: 100 - 5 + 1 = 96 outputs
    data = json.loads(ok(layer("-t", "conv1d", "--k", "5", "--n", "100", "--cin", "16",
                               "--cout", "32", "-f", "json")))
    assert data["output"] == [32, 100 - 5 + 1]
    assert data["params"] == 16 * 32 * 5 + 32 == 2592
    assert data["macs"] == 32 * 16 * 5 * 96
    assert "32×96" in ok(layer("-t", "conv1d", "--k", "5", "--n", "100", "--cin", "16",
                               "--cout", "32"))


@pytest.mark.parametrize("op, args, output", [
    ("maxpool3d", ["--k", "2", "--n", "8"], [None, 4, 4, 4]),
    ("convtranspose1d", ["--k", "3", "--s", "2", "--n", "5"], [None, (5 - 1) * 2 + 3]),
    ("conv_transpose3d", ["--k", "2", "--n", "3"], [None, 4, 4, 4]),
    ("deconv1d", ["--k", "2", "--n", "3"], [None, 4]),
    ("avgpool1d", ["--k", "2", "--n", "9"], [None, 4]),
    ("adaptive_avgpool3d", ["-a", "out=2", "--n", "9"], [None, 2, 2, 2]),
    ("batchnorm1d", ["--n", "7", "--cin", "4"], [4, 7]),
    ("bn3d", ["--n", "2", "--cin", "4"], [4, 2, 2, 2]),
    ("instancenorm1d", ["--n", "7"], [None, 7]),
    ("conv2d", ["--k", "3", "--n", "5"], [None, 3, 3]),
    ("conv", ["--k", "3", "--n", "5"], [None, 3, 3]),  # no rank anywhere: 2
    ("conv", ["--k", "3x3x3", "--n", "5"], [None, 3, 3, 3]),  # from an AxB option
    ("relu", ["--n", "5x6x7"], [None, 5, 6, 7]),
])
def test_rank_rule(op, args, output):
    assert json.loads(ok(layer("-t", op, *args, "-f", "json")))["output"] == output


def test_ops_lists_the_ranked_names():
    data = json.loads(ok(cli("ops", "--format", "json")))
    aliases = {row["op"]: row["aliases"] for row in data["ops"]}
    for op, base in [("conv", "conv"), ("deconv", "convtranspose"), ("deconv", "conv_transpose"),
                     ("deconv", "deconv"), ("maxpool", "maxpool"), ("avgpool", "avgpool"),
                     ("adaptive_avgpool", "adaptive_avgpool"),
                     ("adaptive_maxpool", "adaptive_maxpool"), ("bn", "batchnorm"),
                     ("bn", "bn"), ("in", "instancenorm")]:
        assert {f"{base}{r}d" for r in (1, 2, 3)} <= set(aliases[op]), (op, base)


# -- --out: exact answers, open ranges, any size up to 2**62 ----------------------------------

def test_solve_same_padding_keeps_every_kernel():
    # 'same' at stride 1 gives n for every k: there is no largest answer
    assert ok(layer("--p", "same", "--n", "10", "--out", "10")).strip() == "k = 1 or more"


@pytest.mark.parametrize("n", [10**6, 2**62 - 1])
def test_solve_answers_at_huge_sizes(n):
    # floor((n + 2p - 3)/1) + 1 = n at p = 1; n - k + 1 = 7 at k = n - 6
    assert ok(layer("--k", "3", "--n", str(n), "--out", str(n))).strip() == "p = 1"
    assert ok(layer("--n", str(n), "--out", "7")).strip() == f"k = {n - 6}"


def test_solve_per_axis_answers():
    # p: 16 + 2p - 2 = 16 needs p = 1; 9 + 2p - 2 = 11 needs p = 2
    out = ok(layer("--k", "3", "--n", "16x9", "--out", "16x11"))
    assert out.splitlines() == ["p = 1 (axis 0)", "p = 2 (axis 1)"]


def test_solve_with_a_ranked_name():
    # Conv1d k=5 on 100, 'same' output 100: 100 + 2p - 4 = 100 needs p = 2
    assert ok(layer("-t", "conv1d", "--k", "5", "--n", "100", "--out", "100")).strip() == "p = 2"


# -- conflicts and silently ignored options are errors -----------------------------------------

LIMIT = 2**62
MORE_ERRORS = [
    pytest.param(["--k", "3", "-a", "k=5", "--n", "8"],
                 "error: -a k=5 conflicts with --k 3: both give k (hint: give k once)",
                 id="arg-overrides-option"),
    pytest.param(["--k", "3", "-a", "kernel_size=5", "--n", "8"],
                 "error: -a kernel_size=5 conflicts with --k 3: both give k (hint: give k once)",
                 id="alias-overrides-option"),
    pytest.param(["-t", "dwconv", "--k", "3", "-a", "mult=2", "-a", "mult=3", "--n", "8"],
                 "error: -a mult=3 conflicts with -a mult=2: both give mult "
                 "(hint: give mult once)", id="arg-repeated"),
    pytest.param(["--k", "3", "--cout", "8", "-a", "out_channels=4", "--n", "8"],
                 "error: -a out_channels=4 conflicts with --cout 8: both give out "
                 "(hint: give out once)", id="cout-and-out-channels"),
    pytest.param(["-t", "linear", "--n", "8", "--cin", "3", "--cout", "2"],
                 "error: linear takes a flat input: --n has no meaning for it "
                 "(hint: give the input features with --cin)", id="linear-with-n"),
    pytest.param(["-t", "conv1d", "--k", "3", "--n", "100x100"],
                 "error: -t conv1d is 1-D but --n 100x100 has 2 axes "
                 "(hint: use -t conv2d, or -t conv for any rank)", id="ranked-name-vs-n"),
    pytest.param(["-t", "maxpool2d", "--k", "2x2x2", "--n", "8"],
                 "error: -t maxpool2d is 2-D but --k 2x2x2 has 3 axes "
                 "(hint: use -t maxpool3d, or -t maxpool for any rank)", id="ranked-name-vs-k"),
    pytest.param(["-t", "conv3d", "--k", "3", "--n", "8", "--out", "6x6"],
                 "error: -t conv3d is 3-D but --out 6x6 has 2 axes "
                 "(hint: use -t conv2d, or -t conv for any rank)", id="ranked-name-vs-out"),
    pytest.param(["--k", "3", "--n", "8x8", "--out", "6x6x6"],
                 "error: --n 8x8 has 2 axes but --out 6x6x6 has 3", id="out-axis-count"),
    pytest.param(["-t", "dwconv", "--k", "3", "--n", "8", "--cin", "4", "--cout", "8"],
                 "error: dwconv takes no --cout: its output channels are cin*mult "
                 "(hint: set the depth multiplier with -a mult=M)", id="dwconv-cout"),
    pytest.param(["-t", "adaptive_avgpool", "--n", "8", "--cout", "7"],
                 "error: adaptive_avgpool takes no --cout: it keeps the input channels "
                 "(hint: its output size is -a out=N)", id="adaptive-cout-is-not-out"),
    pytest.param(["-t", "relu", "--n", "8", "--cout", "7"],
                 "error: relu takes no --cout: its output channels follow from its input "
                 "channels (hint: give those with --cin)", id="relu-cout"),
    pytest.param(["--k", "3", "--n", "8", "-a", "in_channels=3"],
                 "error: conv: no key 'in_channels' (it takes out, k, s, p, d, g, bias) "
                 "(hint: the input channels are inferred from the input shape: give them "
                 "with --cin)", id="in-channels"),
    pytest.param(["--k", "3", "--p", "SAME", "--n", "8"],
                 "error: --p: padding must be a number, per-axis numbers or one of same, "
                 "valid, full; got 'SAME' (hint: did you mean 'same'?)", id="p-upper-case"),
    pytest.param(["--k", "3", "--p", "half", "--n", "8"],
                 "error: --p: padding must be a number, per-axis numbers or one of same, "
                 "valid, full; got 'half' (hint: write 1, 1x0, same, valid or full)",
                 id="p-unknown-word"),
    pytest.param(["--k", "3", "--p", "1.5", "--n", "8"],
                 "error: --p: '1.5' is not an integer (hint: write 1, 1x0, same, valid or "
                 "full)", id="p-not-an-integer"),
    pytest.param(["-t", "maxpool", "--k", "3", "--s", "1", "--p", "same", "--n", "8"],
                 "error: maxpool: padding must be numbers (PyTorch's MaxPool takes no 'same') "
                 "(hint: give p as a number, at most half the kernel)", id="pool-same"),
    pytest.param(["-t", "relu", "--n", "8", "--out", "8"],
                 "error: --out: relu has none of k, p, s, d, op to solve for", id="out-on-relu"),
    pytest.param(["--k", "3", "--n", "8", "--out", "0"],
                 "error: --out: sizes must be positive, got 0", id="out-zero"),
    pytest.param(["--k", "3", "--n", "8", "--out", "H"],
                 "error: --out: 'H' is not a size (hint: write 224 or 224x192)", id="out-symbol"),
    pytest.param(["--k", "3", "--n", str(LIMIT + 1)],
                 f"error: --n: {LIMIT + 1} is too large (convcalc takes numbers up to 2**62)",
                 id="n-beyond-limit"),
    pytest.param(["--k", "3", "--n", "8", "--out", f"3x{LIMIT + 1}"],
                 f"error: --out: {LIMIT + 1} is too large (convcalc takes numbers up to 2**62)",
                 id="out-beyond-limit"),
    pytest.param(["--k", str(2**64), "--n", "8"],
                 f"error: --k: {2**64} is too large (convcalc takes numbers up to 2**62)",
                 id="k-beyond-limit"),
    pytest.param(["--k", "3", "--n", "8", "--cin", str(LIMIT + 1), "--cout", "1"],
                 f"error: --cin: {LIMIT + 1} is too large (convcalc takes numbers up to 2**62)",
                 id="cin-beyond-limit"),
    pytest.param(["-t", "dwconv", "--k", "3", "--n", "8", "-a", f"mult={LIMIT * 2}"],
                 f"error: -a mult: {LIMIT * 2} is too large (convcalc takes numbers up to "
                 f"2**62)", id="arg-beyond-limit"),
    # without --cin the channels are unknown: the message shows the sizes, not `(?)×…`
    pytest.param(["-t", "upsample", "-a", "mode=bilinear", "-a", "scale=2", "--n", "4x4x4"],
                 "error: upsample: mode 'bilinear' works on 2 spatial axes, the input 4×4×4 "
                 "has 3", id="unknown-channels-in-message"),
    pytest.param(["--k", "3x3x3x3", "--n", "8"],
                 "error: conv works on inputs with 1, 2, 3 spatial axes, the input 8×8×8×8 "
                 "has 4", id="four-axes-unknown-channels"),
    # an option given twice: click would keep the last one silently (issue 7 item 13)
    pytest.param(["--k", "3", "--k", "5", "--n", "8"],
                 "error: --k given twice (--k 3, then --k 5) (hint: give --k once)",
                 id="k-twice"),
    pytest.param(["--k", "3", "--p", "same", "--p=1", "--n", "8"],
                 "error: --p given twice (--p same, then --p 1) (hint: give --p once)",
                 id="p-twice"),
    pytest.param(["--k", "3", "--bias", "--no-bias", "--n", "8"],
                 "error: --bias given twice (--bias, then --no-bias) (hint: give --bias once)",
                 id="bias-and-no-bias"),
    pytest.param(["-tconv", "--k", "3", "-t", "maxpool", "--n", "8"],
                 "error: --type given twice (-t conv, then -t maxpool) (hint: give --type "
                 "once)", id="type-twice"),
    # within the limit on the way in, beyond it on the way out
    pytest.param(["-t", "upsample", "-a", f"scale={LIMIT}", "--n", "4"],
                 f"error: upsample: output {4 * LIMIT}×{4 * LIMIT} has a size beyond 2**62",
                 id="output-beyond-limit"),
]


@pytest.mark.parametrize("args, message", MORE_ERRORS)
def test_user_mistake_is_this_exact_line(args, message):
    result = layer(*args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")


@pytest.mark.parametrize("args, message", [
    (["net", "examples/vgg16.yaml", "--batch", "2", "--batch", "3"],
     "error: --batch given twice (--batch 2, then --batch 3) (hint: give --batch once)"),
    (["check", "examples/vgg16.yaml", "--max-macs", "1G", "--max-macs=20G"],
     "error: --max-macs given twice (--max-macs 1G, then --max-macs 20G) (hint: give "
     "--max-macs once)"),
    (["diff", "examples/vgg16.yaml", "examples/vgg16.yaml", "-f", "json", "--format",
      "table"],
     "error: --format given twice (-f json, then --format table) (hint: give --format once)"),
])
def test_an_option_given_twice_is_an_error_in_every_command(args, message):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True,
                            text=True, env=_env(), timeout=60, cwd=here)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")


def test_repeatable_options_still_repeat():
    # -a and --set are lists: each use is its own key
    out = ok(layer("--k", "3", "-a", "s=2", "-a", "d=1", "--n", "9"))
    assert "= 4" in out.splitlines()[1]  # floor((9 - 1*(3 - 1) - 1)/2) + 1 = 4
