"""``--format mermaid`` and ``--format dot`` (issue 11): golden files for two small networks,
and properties of the diagrams of the examples read back from the text — one node per row,
one edge per data-flow edge, subgraphs nested as the rows' blocks and structures.

The golden files are regenerated on purpose: ``CONVCALC_UPDATE_GOLDEN=1 python -m pytest
tests/test_diagram.py``, and the change reviewed in the diff. Rendering with Mermaid's own
library and with Graphviz's ``dot`` is in ``test_browser.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from clirun import cli
from convcalc.render import diagram
from convcalc.spec import load
from convcalc.walk import INPUT, collapse, walk

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = bool(os.environ.get("CONVCALC_UPDATE_GOLDEN"))


def report_of(path, **sets):
    return walk(load(str(path)), sets=sets)


# -- golden files -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["residual", "skip"])
@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_golden(name, fmt, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "net", str(GOLDEN / f"{name}.yaml"), "-f", fmt)
    assert (code, err) == (0, "")
    golden = GOLDEN / f"{name}.{'mmd' if fmt == 'mermaid' else 'dot'}"
    if UPDATE:
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8"), \
        f"{golden.name} differs (regenerate with CONVCALC_UPDATE_GOLDEN=1 and review the diff)"


# -- reading a Mermaid flowchart back -----------------------------------------------------------

_NODE = re.compile(r'^\s*(n\d+)(\[\[?)"(.*)"\]\]?$')
_EDGE = re.compile(r'^\s*(\w+) -->\|"([^"]*)"\| (\w+)$')
_SUB = re.compile(r'^\s*subgraph (g\d+)\["(.*)"\]$')


def read_mermaid(text: str):
    """(nodes {id: (label, enclosing subgraph titles)}, edges [(a, label, b)], subgraphs)."""
    nodes, edges, stack, subgraphs = {}, [], [], []
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    for line in lines[1:]:
        if m := _SUB.match(line):
            stack.append(m.group(2))
            subgraphs.append(m.group(2))
        elif line.strip() == "end":
            stack.pop()
        elif m := _NODE.match(line):
            assert m.group(1) not in nodes, line
            nodes[m.group(1)] = (m.group(3), tuple(stack), m.group(2) == "[[")
        elif m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2), m.group(3)))
        else:
            assert re.match(r'^\s*(in|out)\(\["', line), line
    assert not stack
    return nodes, edges, subgraphs


EXAMPLES = ["resnet50", "googlenet", "unet", "densenet121", "deeplabv3_aspp"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_mermaid_is_the_walk_graph(name):
    """Every row once, inside the subgraphs of its ancestors (outermost first); every
    data-flow edge once, labelled with the shape its source outputs; the output edge last."""
    rep = report_of(ROOT / "examples" / f"{name}.yaml")
    text, depth = diagram.mermaid(rep, None)
    assert depth is None  # these fit Mermaid's limits whole
    nodes, edges, _ = read_mermaid(text)
    assert sorted(nodes) == sorted(f"n{r.index}" for r in rep.rows)
    for r in rep.rows:
        label, enclosing, boxed = nodes[f"n{r.index}"]
        assert enclosing == tuple(f"{path} · {what}" for path, what in r.ancestors)
        assert r.path in label and not boxed
    want = [(("in" if s == INPUT else f"n{s}"), str(rep.input if s == INPUT else
                                                   rep.rows[s].output), f"n{r.index}")
            for r in rep.rows for s in dict.fromkeys(r.reads)]
    assert sorted(edges[:-1]) == sorted(want)
    assert edges[-1] == (f"n{rep.out}", str(rep.output), "out")


def test_mermaid_depth_collapses_blocks_and_keeps_crossing_edges():
    """ResNet-50 at --depth 0: one node per top-level item; a bottleneck stage is one boxed
    node standing for its layers, and the chain of stages is kept."""
    rep = report_of(ROOT / "examples" / "resnet50.yaml")
    text, depth = diagram.mermaid(rep, 0)
    assert depth == 0
    nodes, edges, subgraphs = read_mermaid(text)
    top = collapse(rep, 0)
    assert len(nodes) == len(top) and subgraphs == []
    boxed = [label for label, _, b in nodes.values() if b]
    # stage 1 of ResNet-50: a downsampling bottleneck (11 layers + relu) then 2 more blocks
    # (9 layers + relu each): torchvision's layer1 has 3 Bottlenecks
    assert boxed[0].startswith("4 · bottleneck_down<br/>12 layers")
    assert boxed[1].startswith("5.0 · bottleneck<br/>10 layers")
    assert sum(int(re.search(r"<br/>(\d+) layers", lb).group(1)) for lb in boxed) + \
        len(nodes) - len(boxed) == len(rep.rows)
    # every collapsed node reads the one before it: a chain from the input to the output
    assert [(a, b) for a, _, b in edges] == [
        ("in", "n0"), *((f"n{i}", f"n{i + 1}") for i in range(len(top) - 1)),
        (f"n{len(top) - 1}", "out")]


def _long_net(tmp_path, times: int) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text("name: long\ninput: [8, 16, 16]\nblocks:\n  pair:\n    layers:\n"
                    "      - conv: {out: 8, k: 3, p: 1}\n      - relu\nlayers:\n"
                    f"  - pair:\n    times: {times}\n")
    return path


def test_mermaid_collapses_itself_under_mermaids_limits(tmp_path, capsys, monkeypatch):
    """260 blocks of 2 layers: 521 edges drawn whole, over Mermaid's 500; without --depth the
    blocks are collapsed (261 edges) and a note says so; with --depth too deep, a warning."""
    path = str(_long_net(tmp_path, 260))
    code, out, err = cli(capsys, monkeypatch, "net", path, "-f", "mermaid")
    assert code == 0
    nodes, edges, _ = read_mermaid(out)
    assert (len(nodes), len(edges)) == (260, 260 + 1)
    assert err == ("note: blocks nested deeper than 0 are collapsed to stay within Mermaid's "
                   "limits (--depth 0; --format dot draws every layer)\n")
    code, out, err = cli(capsys, monkeypatch, "net", path, "-f", "mermaid", "--depth", "1")
    assert code == 0 and len(read_mermaid(out)[1]) == 2 * 260 + 1
    assert err == ("warning: the Mermaid diagram has 521 edges, over Mermaid's 500; GitHub "
                   "will not render it (hint: collapse blocks with --depth 0)\n")


def test_mermaid_escapes_label_text():
    """A name with quotes and angle brackets cannot end a label or become HTML."""
    text, _ = diagram.mermaid(report_of(GOLDEN / "skip.yaml"))
    first = text.splitlines()[1]
    assert first == '  in(["tiny #quot;u#quot; #lt;net#gt; input<br/>1×16×16"])'
    for line in text.splitlines():
        for label in re.findall(r'"(.*?)"', line):
            assert "<" not in label.replace("<br/>", "") and ">" not in label.replace(
                "<br/>", "")


# -- DOT ------------------------------------------------------------------------------------------

_DOT_NODE = re.compile(r'^\s*(n\d+) \[label="(.*)", fillcolor="(#[0-9a-f]{6})"(, peripheries=2)?\];$')


@pytest.mark.parametrize("name", ["resnet50", "unet"])
def test_dot_has_the_same_graph(name):
    rep = report_of(ROOT / "examples" / f"{name}.yaml")
    text = diagram.dot(rep)
    nodes = {m.group(1): m for line in text.splitlines() if (m := _DOT_NODE.match(line))}
    assert sorted(nodes) == sorted(f"n{r.index}" for r in rep.rows)
    edges = re.findall(r"^\s*(\w+) -> (\w+) \[label=\"([^\"]*)\"\];$", text, re.M)
    assert len(edges) == sum(len(set(r.reads)) for r in rep.rows) + 1
    clusters = re.findall(r"subgraph cluster_\d+", text)
    assert len(clusters) == len({a for r in rep.rows for a in r.ancestors})
    assert text.count("{") == text.count("}")


def test_dot_shades_nodes_by_share_of_macs():
    """The heaviest layer is the darkest fill; a layer without MACs is white."""
    rep = report_of(ROOT / "examples" / "vgg16.yaml")
    text = diagram.dot(rep)
    fills = {m.group(1): m.group(3) for line in text.splitlines()
             if (m := _DOT_NODE.match(line))}
    heaviest = max(rep.rows, key=lambda r: r.macs)
    darkness = lambda c: -sum(int(c[i:i + 2], 16) for i in (1, 3, 5))
    assert max(fills.values(), key=darkness) == fills[f"n{heaviest.index}"]
    assert all(fills[f"n{r.index}"] == "#ffffff" for r in rep.rows if r.macs == 0)


def test_short_counts():
    assert [diagram.short(x) for x in (0, 999, 1000, 9408, 118013952, 4_089_184_256,
                                       25 * 10**12)] == \
        ["0", "999", "1k", "9.41k", "118M", "4.09G", "25T"]
