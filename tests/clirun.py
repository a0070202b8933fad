"""Running the console script in-process, shared by the CLI tests."""

from __future__ import annotations

import sys

import pytest

from convcalc.cli import main


def cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """Run ``convcalc ARGS`` in process: (exit code, stdout, stderr), colour off."""
    monkeypatch.setattr(sys, "argv", ["convcalc", *args])
    monkeypatch.setenv("NO_COLOR", "1")
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    return info.value.code, out, err
