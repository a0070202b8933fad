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
    assert data["solve"] == "k" and data["solutions"] == [[3, 4], [3, 4]]


def test_solve_open_ended_stride():
    # k=3 on 10 gives a single output for every stride from 8 on
    out = ok(layer("--k", "3", "--p", "0", "--n", "10", "--out", "1"))
    assert out.strip() == "s = 8 or more  (several solutions)"


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
                 "error: options give different numbers of axes: 2, 3", id="axis-count-mismatch"),
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
