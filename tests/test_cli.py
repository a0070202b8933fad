"""The command line as a whole: help, version, usage errors."""

import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True,
                          text=True, timeout=60)


def test_bare_command_prints_help_and_succeeds():
    result = run()
    assert result.returncode == 0
    assert "Shapes, parameters, MACs/FLOPs and receptive fields" in result.stdout  # ours
    for command in ("layer", "net", "check", "diff", "ops"):
        assert command in result.stdout
    assert "convcalc net examples/vgg16.yaml" in result.stdout
    assert result.stderr == ""


USAGE_ERRORS = [  # command line → convcalc's own one-line message (click's text never shows)
    pytest.param(["net"], "error: missing argument FILE (hint: convcalc net --help)",
                 id="missing-argument"),
    pytest.param(["check"], "error: missing argument FILES (hint: convcalc check --help)",
                 id="missing-arguments"),
    pytest.param(["diff", "a.yaml"], "error: missing argument NEW (hint: convcalc diff --help)",
                 id="missing-second-argument"),
    pytest.param(["layer", "--k", "3", "--n", "8", "--foo", "1"],
                 "error: unknown option '--foo' (hint: did you mean '--op'? See convcalc "
                 "layer --help)", id="unknown-option"),
    pytest.param(["ops", "--form", "json"],
                 "error: unknown option '--form' (hint: did you mean '--format'? See convcalc "
                 "ops --help)", id="unknown-option-close"),
    pytest.param(["layer", "-z"], "error: unknown option '-z' (hint: convcalc layer --help)",
                 id="unknown-short-option"),
    pytest.param(["--bogus"], "error: unknown option '--bogus' (hint: convcalc --help)",
                 id="unknown-root-option"),
    pytest.param(["layer", "--cin", "abc"],
                 "error: --cin: 'abc' is not an integer (hint: convcalc layer --help)",
                 id="bad-integer"),
    pytest.param(["net", "x.yaml", "--batch=2.5"],
                 "error: --batch: '2.5' is not an integer (hint: convcalc net --help)",
                 id="bad-integer-equals"),
    pytest.param(["layer", "--cin", "4", "--cin", "9x"],
                 "error: --cin given twice (--cin 4, then --cin 9x) (hint: give --cin once)",
                 id="bad-integer-given-twice"),
    pytest.param(["layer", "--k"], "error: --k needs a value (hint: convcalc layer --help)",
                 id="option-without-value"),
    pytest.param(["layer", "--ceil=1"], "error: --ceil takes no value (hint: convcalc layer "
                 "--help)", id="flag-with-value"),
    pytest.param(["nett", "x.yaml"], "error: unknown command 'nett' (hint: did you mean "
                 "'net'? See convcalc --help)", id="unknown-command"),
    pytest.param(["frobnicate"], "error: unknown command 'frobnicate' (hint: convcalc --help)",
                 id="unknown-command-far"),
    pytest.param(["net", "a.yaml", "b.yaml"],
                 "error: unexpected argument 'b.yaml' (hint: convcalc net --help)",
                 id="extra-argument"),
    pytest.param(["layer", "foo", "bar"],
                 "error: unexpected arguments 'foo', 'bar' (hint: convcalc layer --help)",
                 id="extra-arguments"),
]


@pytest.mark.parametrize("args, message", USAGE_ERRORS)
def test_usage_error_is_convcalcs_one_line_and_exit_2(args, message):
    """A malformed command line gets convcalc's message, the same with every typer/click
    version pyproject.toml allows (.ci/run tests the lowest ones too)."""
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == message + "\n"


def test_usage_errors_in_process(monkeypatch, capsys):
    """``main()`` itself (the console script's entry point): exit status 2, one line."""
    from convcalc import cli

    monkeypatch.setattr(sys, "argv", ["convcalc", "net"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "", "error: missing argument FILE (hint: convcalc net --help)\n")


def test_a_bug_is_not_a_usage_error(monkeypatch, capsys):
    """Only click's usage errors are the user's; anything else is convcalc's bug (exit 3)."""
    from convcalc import cli

    def broken(**kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(sys, "argv", ["convcalc", "ops"])
    monkeypatch.delenv("CONVCALC_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == cli.INTERNAL_ERROR
    assert capsys.readouterr().err.startswith("error: internal error (ValueError: boom)")
