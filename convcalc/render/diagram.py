"""The network as a diagram: a Mermaid flowchart (GitHub renders it in Markdown) and Graphviz
DOT. Both draw the same thing: one node per row of the walk (or per block collapsed by
``--depth``), the walk's data-flow edges labelled with the tensor shape that flows along them,
and the enclosing blocks and structures (``Row.ancestors``) as subgraphs / clusters.

The HTML report (``html.py``) uses the labels defined here for its nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..dims import fmt
from ..walk import INPUT, Report, Row, collapse

# Mermaid's defaults (mermaid.js `maxTextSize` 50,000 characters and `maxEdges` 500): GitHub
# renders with them, and a diagram over either limit is replaced by an error message.
MERMAID_MAX_TEXT = 50_000
MERMAID_MAX_EDGES = 500
ARGS_WIDTH = 32  # characters of a node's argument summary before it is cut with …


# -- labels ---------------------------------------------------------------------------------

def short(x) -> str:
    """A count at a glance: 118.0M, 9.41k, 512; formulas as they are; unknown as —."""
    if x is None:
        return "—"
    if type(x) is not int:
        return fmt(x)
    for div, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(x) >= div:
            v = x / div
            return f"{v:.3g}{unit}" if v < 1000 else f"{v:.0f}{unit}"
    return str(x)


def value_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "x".join(value_text(x) for x in v)
    return fmt(v)


def args_brief(row: Row) -> str:
    """``k=3 s=2 p=1``: the arguments as written, without ``out`` (the edge below shows the
    output shape); cut at ``ARGS_WIDTH`` characters."""
    text = " ".join(f"{k}={value_text(v)}" for k, v in row.args if k != "out")
    return text if len(text) <= ARGS_WIDTH else text[:ARGS_WIDTH - 1] + "…"


def row_title(row: Row) -> str:
    """The line naming a node: its path, and its ``name:`` when that is not the path's end."""
    if row.name and not row.path.endswith(row.name):
        return f"{row.path} ({row.name})"
    return row.path


# -- the diagram model ------------------------------------------------------------------------

@dataclass
class Group:
    path: str
    what: str
    children: list = field(default_factory=list)  # Group | int (an index into Diagram.rows)


@dataclass
class Diagram:
    report: Report
    rows: tuple[Row, ...]  # the rows drawn (collapsed ones stand for a whole block)
    counts: dict[int, int]  # drawn row index → layers it stands for (collapsed rows only)
    root: Group
    out: int  # the drawn row whose output is the network's output (INPUT: none)
    depth: int | None


def diagram(report: Report, depth: int | None) -> Diagram:
    rows = report.rows if depth is None else collapse(report, depth)
    counts: dict[int, int] = {}
    out = report.out
    if depth is not None:
        # a collapsed row stands for the consecutive original rows of its block, in walk order
        at = {(r.path, r.op): r.index for r in rows}
        drawn = []  # original row index → drawn row index
        for orig in report.rows:
            if len(orig.ancestors) > depth:
                j = at[orig.ancestors[depth]]
                counts[j] = counts.get(j, 0) + 1
            else:
                j = at[(orig.path, orig.op)]
            drawn.append(j)
        out = INPUT if report.out == INPUT else drawn[report.out]
    root = Group("", "")
    groups: dict[str, Group] = {}
    for r in rows:
        parent = root
        for path, what in r.ancestors:
            g = groups.get(path)
            if g is None:
                g = groups[path] = Group(path, what)
                parent.children.append(g)
            parent = g
        parent.children.append(r.index)
    return Diagram(report, rows, counts, root, out, depth)


def _node_lines(d: Diagram, r: Row) -> tuple[str, str]:
    """(first line, second line) of a node's label."""
    n = d.counts.get(r.index)
    if n is not None:  # a collapsed block
        return (f"{r.path} · {r.op}", f"{n} layers · {short(r.macs)} MACs")
    return row_lines(r)


def row_lines(r: Row) -> tuple[str, str]:
    """A layer's node label: ``conv k=3 s=2 p=1``, then its path (and name) and MACs."""
    brief = args_brief(r)
    cost = "" if r.macs == 0 else f" · {short(r.macs)} MACs"
    return (f"{r.op} {brief}" if brief else r.op, row_title(r) + cost)


def _edges(d: Diagram) -> list[tuple[int, int, str]]:
    """(source, target, label): the data-flow edges between drawn rows, the network input as
    INPUT and the network output as ``len(rows)``; labels are the shapes carried."""
    shapes = {INPUT: str(d.report.input)}
    shapes.update((r.index, str(r.output)) for r in d.rows)
    edges = []
    for r in d.rows:
        for src in dict.fromkeys(r.reads):
            edges.append((src, r.index, shapes[src]))
    edges.append((d.out, len(d.rows), str(d.report.output)))
    return edges


def _auto_depth(report: Report, fits) -> int | None:
    """The deepest collapse (None: none) whose diagram ``fits``; 0 when none does."""
    deepest = max((len(r.ancestors) for r in report.rows), default=0)
    for depth in [None, *range(deepest - 1, -1, -1)]:
        if fits(depth):
            return depth
    return 0


# -- Mermaid ------------------------------------------------------------------------------------

def _mm_text(text: str) -> str:
    """Text inside a quoted Mermaid label: Mermaid's entity codes for the characters that
    would end the label or be read as HTML (``#quot;``, ``#lt;``, ``#gt;``, ``#35;`` for #)."""
    return (text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;"))


def mermaid(report: Report, depth: int | None = None) -> tuple[str, int | None]:
    """(the flowchart, the depth used). Without ``depth`` the whole network is drawn when it
    stays within Mermaid's limits, else its blocks are collapsed as little as needed."""
    if depth is None:
        depth = _auto_depth(report, lambda dp: _mermaid_fits(_mermaid_text(diagram(report, dp))))
    return _mermaid_text(diagram(report, depth)), depth


def mermaid_with_note(report: Report, depth: int | None) -> tuple[str, str | None]:
    """The flowchart, and the line for stderr when blocks were collapsed to fit Mermaid's
    limits or the diagram is over them."""
    text, used = mermaid(report, depth)
    over = mermaid_over_limits(text)
    if over is not None:
        return text, (f"warning: the Mermaid diagram has {over}; GitHub will not render it "
                      f"(hint: collapse blocks with --depth {max(0, (used or 1) - 1)})")
    if depth is None and used is not None:
        return text, (f"note: blocks nested deeper than {used} are collapsed to stay within "
                      f"Mermaid's limits (--depth {used}; --format dot draws every layer)")
    return text, None


def _mermaid_fits(text: str) -> bool:
    return mermaid_over_limits(text) is None


def mermaid_over_limits(text: str) -> str | None:
    """Which of Mermaid's limits ``text`` exceeds (None: it renders)."""
    over = []
    if len(text) > MERMAID_MAX_TEXT:
        over.append(f"{len(text):,} characters, over Mermaid's {MERMAID_MAX_TEXT:,}")
    edges = text.count("-->")
    if edges > MERMAID_MAX_EDGES:
        over.append(f"{edges:,} edges, over Mermaid's {MERMAID_MAX_EDGES:,}")
    return " and ".join(over) or None


def _mermaid_text(d: Diagram) -> str:
    lines = ["flowchart TD"]
    title = d.report.name or d.report.file
    lines.append(f'  in(["{_mm_text(title)} input<br/>{_mm_text(str(d.report.input))}"])')
    n_groups = [0]

    def emit(group: Group, indent: str) -> None:
        for child in group.children:
            if isinstance(child, Group):
                n_groups[0] += 1
                gid = f"g{n_groups[0]}"
                lines.append(f'{indent}subgraph {gid}["{_mm_text(child.path)} · '
                             f'{_mm_text(child.what)}"]')
                emit(child, indent + "  ")
                lines.append(f"{indent}end")
            else:
                r = d.rows[child]
                a, b = _node_lines(d, r)
                shape = ('[["', '"]]') if child in d.counts else ('["', '"]')
                lines.append(f"{indent}n{child}{shape[0]}{_mm_text(a)}<br/>{_mm_text(b)}"
                             f"{shape[1]}")

    emit(d.root, "  ")
    lines.append('  out(["output"])')
    for src, dst, label in _edges(d):
        a = "in" if src == INPUT else f"n{src}"
        b = "out" if dst == len(d.rows) else f"n{dst}"
        lines.append(f'  {a} -->|"{_mm_text(label)}"| {b}')
    return "\n".join(lines) + "\n"


# -- Graphviz DOT -----------------------------------------------------------------------------

def _dot_text(text: str) -> str:
    """A DOT double-quoted string: backslash and quote escaped; newlines as ``\\n``."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _shade(macs, total) -> str:
    """A fill from white to orange by the node's share of the network's MACs."""
    if type(macs) is not int or type(total) is not int or total <= 0:
        return "#ffffff"
    share = min(1.0, macs / total)
    mix = lambda hi: round(255 + (hi - 255) * share)
    return f"#{mix(0xf0):02x}{mix(0x8c):02x}{mix(0x3c):02x}"


def dot(report: Report, depth: int | None = None) -> str:
    d = diagram(report, depth)
    total = report.totals["macs"]
    title = d.report.name or d.report.file
    lines = ["digraph convcalc {", "  rankdir=TB;",
             f'  label="{_dot_text(title)}"; labelloc=t;',
             '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", '
             'fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];',
             f'  in [shape=oval, label="input\\n{_dot_text(str(report.input))}"];']
    n_groups = [0]

    def emit(group: Group, indent: str) -> None:
        for child in group.children:
            if isinstance(child, Group):
                n_groups[0] += 1
                lines.append(f"{indent}subgraph cluster_{n_groups[0]} {{")
                lines.append(f'{indent}  label="{_dot_text(child.path)} · '
                             f'{_dot_text(child.what)}"; style=rounded; color="#999999";')
                emit(child, indent + "  ")
                lines.append(f"{indent}}}")
            else:
                r = d.rows[child]
                a, b = _node_lines(d, r)
                extra = ", peripheries=2" if child in d.counts else ""
                lines.append(f'{indent}n{child} [label="{_dot_text(a)}\\n{_dot_text(b)}", '
                             f'fillcolor="{_shade(r.macs, total)}"{extra}];')

    emit(d.root, "  ")
    lines.append('  out [shape=oval, label="output"];')
    for src, dst, label in _edges(d):
        a = "in" if src == INPUT else f"n{src}"
        b = "out" if dst == len(d.rows) else f"n{dst}"
        lines.append(f'  {a} -> {b} [label="{_dot_text(label)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
