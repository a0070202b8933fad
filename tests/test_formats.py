"""Markdown that renders what convcalc computed (issue 7, item 14) and JSON that carries
values, the same way in every command (item 16).

``SYM`` by hand (SPEC §4), input 3×H×W:
  conv 3→16 k3 p1 → 16×H×W: params 16·27 + 16 = 448, MACs 16·27·H·W = 432·H·W,
      FLOPs 2·432·H·W = 864·H·W
  maxpool k2 → 16×(H//2)×(W//2): (2·2 − 1) = 3 FLOPs per output, 48·(H//2)·(W//2)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from convcalc.render import _md_code, _md_escape
from clirun import cli

EXAMPLES = Path(__file__).parent.parent / "examples"

SYM = """\
name: "x*y|z_w"
input: [3, H, W]
layers:
  - conv: {out: 16, k: 3, p: 1}
  - maxpool: {k: 2}
"""



def write(tmp_path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- Markdown -------------------------------------------------------------------------------

def test_markdown_code_formats_formulas(tmp_path, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "net", write(tmp_path, SYM), "-f", "markdown")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == ("**x\\*y\\|z\\_w**: `3×H×W` → `16×(H//2)×(W//2)` — params 448, MACs "
                        "`432*H*W`, FLOPs `864*H*W + 48*(H//2)*(W//2)`")
    # live bytes (fp32): conv 4*(3 + 16)*H*W; maxpool 4*(3*H*W + 16*H*W + 16*(H//2)*(W//2))
    assert lines[4:7] == [
        "| 0 | 0 | conv | `3×H×W` | `16×H×W` | 448 | `432*H*W` | `864*H*W` | 3×3 | 1×1 "
        "| `76*H*W B` |",
        "| 1 | 1 | maxpool | `16×H×W` | `16×(H//2)×(W//2)` | 0 | 0 | `48*(H//2)*(W//2)` | 4×4 "
        "| 2×2 | `76*H*W + 64*(H//2)*(W//2) B` |",
        "| | **total** | | | | **448** | **`432*H*W`** | **`864*H*W + 48*(H//2)*(W//2)`** | | "
        "| |"]


def _outside_code(markdown: str) -> str:
    return re.sub(r"`[^`\n]*`", "", markdown).replace("**", "")


@pytest.mark.parametrize("example", ["unet.yaml", "c3d.yaml"])
def test_no_emphasis_outside_code_spans(example, tmp_path, capsys, monkeypatch):
    """Every `*` and `_` Markdown could read as emphasis is inside a code span or escaped
    (c3d made symbolic: 7152*D*H*W-style formulas in every cost column)."""
    text = (EXAMPLES / example).read_text()
    if example == "c3d.yaml":
        text = text.replace("input: [3, 16, 112, 112]", "input: [3, D, H, W]")
        assert "D, H, W" in text
    code, out, _ = cli(capsys, monkeypatch, "net", write(tmp_path, text), "-f", "markdown")
    assert code == 0
    assert out.count("`") >= 100  # the formulas are there, as code
    rest = _outside_code(out)
    assert re.findall(r"(?<!\\)[*_]", rest) == []


def test_diff_markdown_code_formats_formulas(tmp_path, capsys, monkeypatch):
    """maxpool k 2 → 3 (its stride follows k): FLOPs 48·(H//2)·(W//2) → (9 − 1)·16 = 128 per
    output, 128·(H//3)·(W//3)."""
    old = write(tmp_path, SYM, "old_1.yaml")
    new = write(tmp_path, SYM.replace("k: 2", "k: 3"), "new_1.yaml")
    code, out, _ = cli(capsys, monkeypatch, "diff", old, new, "-f", "markdown")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"**{_md_escape(old)} → {_md_escape(new)}**"
    assert "\\_1.yaml" in lines[0]
    assert lines[4:6] == ["| params | 448 | 448 | 0 |", "| macs | `432*H*W` | `432*H*W` | 0 |"]
    assert lines[-1] == ("| changed | 1 | maxpool | `16×(H//2)×(W//2)` → `16×(H//3)×(W//3)` | "
                         "k: 2 → 3; s: 2 → 3 | 0 | 0 |")
    assert re.findall(r"(?<!\\)[*_]", _outside_code(out)) == []


def test_code_spans_and_escapes():
    assert _md_code("7152*D*H*W") == "`7152*D*H*W`"
    assert _md_code("a`b") == "``a`b``"  # a longer fence than any backtick run inside
    assert _md_code("`x") == "`` `x ``"  # padded: CommonMark strips one space per side
    assert _md_code("a|b") == "`a\\|b`"  # GFM: a pipe ends a cell even inside code
    assert _md_code("a|b", cell=False) == "`a|b`"
    assert _md_escape("x*y|z_w [a](b) <i>") == "x\\*y\\|z\\_w \\[a\\](b) \\<i\\>"


# -- JSON: values, the same in net and check --------------------------------------------------

BASE = """\
input: [3, 32, 32]
layers:
  - conv: {out: 16, k: 3, p: 1}
  - relu
  - conv: {out: 16, k: 3, p: 1}
    times: 3
  - conv: {out: 32, k: 3, s: 2, p: 1}
  - relu
"""
# test_diff.py's BASE: params 12,048, MACs 8,699,904, FLOPs 17,424,384, RF 11 per axis
EXPECT = """\
expect:
  output: [32, 16, 16]
  params: 12048
  macs: {min: 1M, max: 9M}
  rf: [9, 11]
  flops: 17.4M
"""


def test_expectations_are_values_in_net_and_check(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, BASE + EXPECT)
    code, out, _ = cli(capsys, monkeypatch, "net", path, "-f", "json")
    assert code == 0
    expect = json.loads(out)["expect"]
    assert expect == [
        {"key": "output", "declared": [32, 16, 16], "computed": [32, 16, 16], "ok": True},
        {"key": "params", "declared": 12_048, "computed": 12_048, "ok": True},
        {"key": "macs", "declared": {"min": 1_000_000, "max": 9_000_000},
         "computed": 8_699_904, "ok": True},
        {"key": "rf", "declared": [9, 11], "computed": [11, 11], "ok": False},
        {"key": "flops", "declared": 17_400_000, "computed": 17_424_384, "ok": False}]
    code, out, _ = cli(capsys, monkeypatch, "check", path, "-f", "json")
    assert code == 1
    findings = json.loads(out)["files"][0]["findings"]
    declared = {e["key"]: (e["declared"], e["computed"]) for e in expect}
    assert [(f["what"], f["expected"], f["actual"]) for f in findings] == [
        ("rf", [9, 11], [11, 11]), ("flops", 17_400_000, 17_424_384)]
    for f in findings:
        assert (f["expected"], f["actual"]) == declared[f["what"]]


def test_symbolic_expectations_are_strings_in_both(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "input: [3, H, W]\nlayers:\n  - conv: {out: 16, k: 3, p: 1}\n"
                           "expect:\n  output: [16, H, W]\n  macs: 1000\n")
    code, out, _ = cli(capsys, monkeypatch, "net", path, "-f", "json")
    assert code == 0
    assert json.loads(out)["expect"] == [
        {"key": "output", "declared": [16, "H", "W"], "computed": [16, "H", "W"], "ok": True},
        {"key": "macs", "declared": 1000, "computed": "432*H*W", "ok": False}]
    code, out, _ = cli(capsys, monkeypatch, "check", path, "-f", "json")
    assert code == 1
    [finding] = json.loads(out)["files"][0]["findings"]
    assert (finding["what"], finding["expected"], finding["actual"]) == (
        "macs", 1000, "432*H*W")


def test_a_missing_location_is_null(tmp_path, capsys, monkeypatch):
    """A file that cannot be read has no line: null, as for a budget (never 0)."""
    code, out, _ = cli(capsys, monkeypatch, "check", str(tmp_path / "missing.yaml"),
                       "-f", "json")
    assert code == 2
    [finding] = json.loads(out)["files"][0]["findings"]
    assert (finding["line"], finding["col"], finding["what"]) == (None, None, "invalid")
