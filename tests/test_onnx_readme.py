"""The README's list of supported ONNX op types is the importer's own table (no onnx needed)."""

from __future__ import annotations

import re
from pathlib import Path

from convcalc.importers.onnx import OP_TYPES

README = Path(__file__).resolve().parent.parent / "README.md"


def render() -> str:
    return "| ONNX op type | becomes |\n|---|---|\n" + "".join(
        f"| `{op}` | {what} |\n" for op, what in OP_TYPES.items())


def test_readme_lists_the_importers_op_types():
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- onnx-ops:start -->\n(.*?)<!-- onnx-ops:end -->", text, re.S)
    assert found, "README.md lost its onnx-ops block"
    assert found.group(1) == render(), "regenerate the README's ONNX op table from OP_TYPES"


def test_importing_the_onnx_module_does_not_import_onnx():
    import subprocess
    import sys

    code = "import sys, convcalc.importers.onnx, convcalc.spec; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
