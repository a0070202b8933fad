"""The command line as a whole: help, version, usage errors."""

import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True,
                          text=True, timeout=60)


def test_bare_command_prints_help_and_succeeds():
    result = run()
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: convcalc")
    assert "convcalc net examples/vgg16.yaml" in result.stdout
    assert result.stderr == ""


def test_missing_argument_is_one_line_and_exit_2():
    result = run("net")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "error: Missing argument 'file'. (hint: convcalc net --help)\n"
