#!/usr/bin/env python3
"""Print a pip constraints file pinning every direct dependency of convcalc (the runtime
dependencies, the ``test`` extra and the ``onnx`` extra) to the lowest version ``pyproject.toml`` allows.

``.ci/run`` installs with it (``pip install -c FILE -e '.[test]'``) and runs the tests, so the
declared lower bounds are tested, not assumed. Every requirement must declare a lower bound
with ``>=`` (anything else is an error here: an unbounded dependency cannot be tested at
its lowest version).

    python .ci/lowest_constraints.py > lowest.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

EXTRAS = ("test", "onnx")  # the extras the lowest run installs (onnx: its tests need no torch)
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def lowest(requirement: str) -> str:
    """``typer>=0.20,<0.29`` → ``typer==0.20``."""
    match = REQUIREMENT.match(requirement.split(";")[0])
    if not match:
        raise SystemExit(f"cannot read requirement {requirement!r}")
    name, spec = match.groups()
    bounds = [s.strip() for s in spec.split(",") if s.strip().startswith(">=")]
    if len(bounds) != 1:
        raise SystemExit(f"{requirement!r}: expected exactly one '>=' lower bound")
    return f"{name}=={bounds[0][2:].strip()}"


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in EXTRAS:
        requirements += project.get("optional-dependencies", {}).get(extra, [])
    sys.stdout.write("".join(lowest(r) + "\n" for r in requirements))


if __name__ == "__main__":
    main()
