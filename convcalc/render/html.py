"""``--format html``: one self-contained page per report — the network as a graph (laid out in
the browser from the walk's rows, their blocks and data-flow edges), charts as inline SVG, the
sortable per-layer table, totals, memory and conventions. Nothing is fetched: the page's CSS
and script (``assets/``) are inlined, and the page makes no request when opened.

Every table row and graph node carries ``data-path="<layer path>"``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

from ..core import CONVENTIONS
from ..dims import total
from ..walk import Report, collapse
from . import expect_rows, num, rf_text
from .diagram import args_brief, row_lines, row_title, short, value_text

AUTO_NODES = 48  # without --depth, the graph opens with blocks collapsed to about this many nodes
MAX_BARS = 1000  # a per-layer chart of a longer network sums neighbouring layers into bars


@lru_cache(maxsize=None)
def asset(name: str) -> str:
    return (resources.files("convcalc.render") / "assets" / name).read_text(encoding="utf-8")


def _h(x: Any) -> str:
    return escape(str(x), quote=True)


def _script_json(id_: str, data: Any) -> str:
    """JSON inside ``<script type="application/json">``: ``<``, ``>`` and ``&`` as \\u escapes,
    so no name in the YAML can end the script element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{id_}">{text}</script>'


def _share(x, whole) -> float | None:
    if type(x) is not int or type(whole) is not int or whole <= 0:
        return None
    return round(x / whole, 6)


def _sum(values):
    return None if any(v is None for v in values) else total(values)


def _args_full(row) -> str:
    return " ".join(f"{k}={value_text(v)}" for k, v in row.args)


def _row_tip(r, macs_total) -> list[str]:
    share = _share(r.macs, macs_total)
    lines = [row_title(r), f"{r.op} {_args_full(r)}".strip(),
             f"{r.input} → {r.output}", f"params {num(r.params)}",
             f"MACs {num(r.macs)}" + (f" ({share:.1%} of the network)" if share is not None
                                     else ""),
             f"FLOPs {num(r.flops)}"]
    if r.input.rank:
        lines.append(f"RF size {rf_text(r.rf.size)}, jump {rf_text(r.rf.jump)}")
    for name, part in r.parts:  # a compound layer's parts (sepconv: dw, pw); MACs at --batch
        macs = part.macs if part.macs is None or r.batch == 1 else part.macs * r.batch
        lines.append(f"  {name}: {part.output} · params {num(part.params)} · MACs {num(macs)}")
    return lines


def auto_depth(report: Report) -> int:
    """The deepest nesting level whose collapsed graph has at most ``AUTO_NODES`` nodes."""
    deepest = max((len(r.ancestors) for r in report.rows), default=0)
    for depth in range(deepest, -1, -1):
        if len(collapse(report, depth)) <= AUTO_NODES:
            return depth
    return 0


def graph_data(report: Report, depth: int | None, marks: dict[int, str] | None = None) -> dict:
    """What the page's script draws: rows, blocks and structures, edges (``reads``)."""
    macs_total = report.totals["macs"]
    groups: list[list] = []
    members: list[list] = []
    ids: dict[str, int] = {}
    rows = []
    for r in report.rows:
        parent = -1
        for level, (path, what) in enumerate(r.ancestors):
            g = ids.get(path)
            if g is None:
                g = ids[path] = len(groups)
                groups.append([path, what, parent, level])
                members.append([])
            members[g].append(r)
            parent = g
        rows.append([r.path, *row_lines(r), str(r.output), _share(r.macs, macs_total),
                     list(r.reads), parent, _row_tip(r, macs_total)])
    for g, rs in zip(groups, members):
        params, macs = _sum([r.params for r in rs]), _sum([r.macs for r in rs])
        share = _share(macs, macs_total)
        g += [f"{len(rs)} layers · {short(macs)} MACs",
              share,
              [f"{g[0]} · {g[1]}", f"{len(rs)} layers", f"{rs[0].input} → {rs[-1].output}",
               f"params {num(params)}",
               f"MACs {num(macs)}" + (f" ({share:.1%} of the network)" if share is not None
                                     else ""),
               "click to expand"]]
    return {"rows": rows, "groups": groups, "input": str(report.input),
            "output": str(report.output), "out": report.out,
            "depth": auto_depth(report) if depth is None else depth,
            "marks": {str(k): v for k, v in (marks or {}).items()}}


# -- charts (inline SVG) ----------------------------------------------------------------------

CW, CH, LEFT, BOTTOM, TOP = 860, 180, 58, 24, 12  # chart size and margins, in SVG units


def _ticks(top: int, label=short) -> str:
    out = []
    for frac in (0, 0.5, 1):
        y = TOP + (CH - TOP - BOTTOM) * (1 - frac)
        out.append(f'<line class="axis" x1="{LEFT}" x2="{CW - 6}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">'
                   f'{_h(label(round(top * frac)))}</text>')
    return "".join(out)


def _bins(items: list[tuple[str, int]]) -> list[tuple[str, str, int]]:
    """(label, data-path, value) per bar; more than MAX_BARS layers are summed in order."""
    if len(items) <= MAX_BARS:
        return [(p, p, v) for p, v in items]
    step = -(-len(items) // MAX_BARS)
    out = []
    for i in range(0, len(items), step):
        chunk = items[i:i + step]
        out.append((f"{chunk[0][0]} … {chunk[-1][0]}", chunk[0][0], sum(v for _, v in chunk)))
    return out


def bar_chart(title: str, items: list[tuple[str, int]], unit: str, cls: str = "bar") -> str:
    bars = _bins(items)
    top = max((v for _, _, v in bars), default=0) or 1
    width = (CW - LEFT - 6) / max(1, len(bars))
    inner = CH - TOP - BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {CW} {CH}" role="img" aria-label="{_h(title)}">',
             _ticks(top)]
    for i, (label, path, v) in enumerate(bars):
        h = inner * v / top
        parts.append(f'<rect class="{cls}" data-path="{_h(path)}" x="{LEFT + i * width:.2f}" '
                     f'y="{TOP + inner - h:.2f}" width="{max(0.6, width * 0.85):.2f}" '
                     f'height="{h:.2f}"><title>{_h(label)}: {num(v)} {unit}</title></rect>')
    parts.append(f'<text x="{LEFT}" y="{CH - 6}">layer 0</text><text x="{CW - 6}" y="{CH - 6}" '
                 f'text-anchor="end">layer {len(items) - 1}</text></svg>')
    return f"<figure><h3>{_h(title)}</h3>{''.join(parts)}</figure>"


def line_chart(title: str, series: list[tuple[str, list[tuple[int, int]]]], n: int,
               peak: tuple[int, int, str] | None = None, area: bool = False,
               label=short, legend: str = "") -> str:
    """Lines over the layer index (0 … n-1): ``series`` is (css class, [(index, value)]);
    ``peak`` (index, value, label) is marked with a dot and its label."""
    top = max((v for _, pts in series for _, v in pts), default=0) or 1
    inner = CH - TOP - BOTTOM
    x = lambda i: LEFT + (CW - LEFT - 10) * (i / max(1, n - 1))
    y = lambda v: TOP + inner * (1 - v / top)
    parts = [f'<svg class="chart" viewBox="0 0 {CW} {CH}" role="img" aria-label="{_h(title)}">',
             _ticks(top, label)]
    for cls, pts in series:
        if not pts:
            continue
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in pts)
        if area and cls == "line":
            parts.append(f'<polygon class="area" points="{x(pts[0][0]):.1f},{y(0):.1f} {coords} '
                         f'{x(pts[-1][0]):.1f},{y(0):.1f}"/>')
        parts.append(f'<polyline class="{cls}" points="{coords}"/>')
    if peak is not None:
        i, v, label = peak
        anchor = "end" if x(i) > CW * 0.7 else "start"
        dx = -6 if anchor == "end" else 6
        parts.append(f'<circle class="peak" cx="{x(i):.1f}" cy="{y(v):.1f}" r="4"/>'
                     f'<text class="peak-label" x="{x(i) + dx:.1f}" y="{max(y(v) + 4, TOP + 8):.1f}" '
                     f'text-anchor="{anchor}">{_h(label)}</text>')
    parts.append(f'<text x="{LEFT}" y="{CH - 6}">layer 0</text><text x="{CW - 6}" y="{CH - 6}" '
                 f'text-anchor="end">layer {n - 1}</text></svg>')
    legend = f'<div class="note">{legend}</div>' if legend else ""
    return f"<figure><h3>{_h(title)}</h3>{''.join(parts)}{legend}</figure>"


def block_chart(report: Report) -> str:
    """MACs and params of each top-level item (blocks collapsed), as shares of the totals."""
    items = collapse(report, 0)
    t = report.totals
    if type(t["macs"]) is not int or type(t["params"]) is not int:
        return ""
    row_h, label_w, width = 16, 230, CW
    height = TOP + row_h * len(items) + 8
    bar_w = (width - label_w - 70) / 2
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="MACs and params per top-level item">',
             f'<text x="{label_w}" y="{TOP - 2}">MACs (share)</text>'
             f'<text x="{label_w + bar_w + 35}" y="{TOP - 2}">params (share)</text>']
    for k, r in enumerate(items):
        yy = TOP + k * row_h + 2
        parts.append(f'<text x="{label_w - 6}" y="{yy + 10}" text-anchor="end">'
                     f'{_h(_cut(f"{r.path} · {r.op}", 38))}</text>')
        for j, (cls, v, whole) in enumerate((("bar", r.macs, t["macs"]),
                                             ("bar2", r.params, t["params"]))):
            share = _share(v, whole) or 0.0
            x0 = label_w + j * (bar_w + 35)
            parts.append(f'<rect class="{cls}" data-path="{_h(r.path)}" x="{x0}" y="{yy}" '
                         f'width="{max(0.5, bar_w * share):.1f}" height="{row_h - 4}">'
                         f'<title>{_h(r.path)}: {num(v)} ({share:.1%})</title></rect>'
                         f'<text x="{x0 + bar_w * share + 4:.1f}" y="{yy + 10}">'
                         f'{share:.1%}</text>')
    parts.append("</svg>")
    return ("<figure><h3>MACs and params per top-level item (blocks summed)</h3>"
            + "".join(parts) + "</figure>")


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


def _rf_points(report: Report) -> list[tuple[int, int]]:
    pts = []
    for r in report.rows:
        sizes = [v for v in r.rf.size if type(v) is int]
        if r.input.rank and sizes and len(sizes) == len(r.rf.size):
            pts.append((r.index, max(sizes)))
    return pts


def charts(report: Report) -> str:
    rows = report.rows
    out = []
    if rows and all(type(r.macs) is int for r in rows):
        out.append(bar_chart("MACs per layer", [(r.path, r.macs) for r in rows], "MACs"))
    if rows and all(type(r.params) is int for r in rows):
        out.append(bar_chart("Params per layer", [(r.path, r.params) for r in rows], "params",
                             "bar2"))
    rf = _rf_points(report)
    if rf:
        out.append(line_chart("Receptive-field size along the network (largest axis, input "
                              "pixels)", [("line", rf)], len(rows)))
    blocks = block_chart(report) if rows else ""
    note = ""
    if any(type(r.macs) is not int for r in rows):
        note = ('<p class="note">The sizes are symbolic: bind them (<code>--set H=224</code>) '
                'to chart MACs and params per layer.</p>')
    return f'{note}<div class="charts">{"".join(out)}</div>{blocks}'


# -- memory (SPEC §8: memory.analyse's figures) ------------------------------------------------

def _unwrap(note: str) -> str:
    """``(adam)`` → ``adam``: a note in parentheses in the text summary stands alone on a card."""
    note = note.strip()
    return note[1:-1] if note.startswith("(") and note.endswith(")") else note


def memory_section(report: Report, mem) -> str:
    """The memory summary (the table's, render/memory.py) and the activation memory along the
    execution: live bytes per layer with the inference peak marked; with training, the bytes
    saved for backward accumulating over the forward pass."""
    from .memory import MEMORY_CONVENTIONS, human_bytes, summary_head, summary_items

    out = [f"<h3>{_h(summary_head(mem).rstrip(':'))}</h3>", '<div class="cards">']
    for label, value, note in summary_items(report, mem, num):
        out.append(f'<div class="card"><div class="k">{_h(label)}</div>'
                   f'<div class="v">{_h(value)}</div>'
                   + (f'<div class="x">{_h(_unwrap(note))}</div>' if note else "")
                   + "</div>")
    out.append(f'</div><p class="note">{_h(MEMORY_CONVENTIONS)}</p>')
    live = [(i, m.live_bytes) for i, m in enumerate(mem.rows) if type(m.live_bytes) is int]
    if report.rows and len(live) == len(report.rows):
        series = [("line", live)]
        legend = "live bytes while each layer runs (filled)"
        if mem.training and all(type(m.saved_bytes) is int for m in mem.rows):
            held, acc = [], 0
            for i, m in enumerate(mem.rows):
                acc += m.saved_bytes
                held.append((i, acc))
            series.append(("line2", held))
            legend += "; dashed: bytes saved for backward so far in the forward pass"
        peak = None
        if mem.peak_row is not None:
            row = report.rows[mem.peak_row]
            peak = (mem.peak_row, mem.rows[mem.peak_row].live_bytes,
                    f"peak {human_bytes(mem.rows[mem.peak_row].live_bytes)} at {row.path}")
        out.append(line_chart("Activation memory along the execution", series,
                              len(report.rows), peak, area=True, label=human_bytes,
                              legend=legend))
    else:
        out.append('<p class="note">The sizes are symbolic: bind them (<code>--set H=224'
                   '</code>) to chart the memory.</p>')
    return "".join(out)


# -- the page ---------------------------------------------------------------------------------

def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            # no request may leave the file: the policy forbids any, the markup makes none
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
            f"<title>{_h(title)}</title><style>{asset('report.css')}</style></head>"
            f"<body>{body}<script>{asset('report.js')}</script></body></html>\n")


def _card(label: str, value, exact: bool = True) -> str:
    extra = f'<div class="x">{_h(num(value))}</div>' if exact and type(value) is int and \
        value >= 1000 else ""
    return (f'<div class="card"><div class="k">{_h(label)}</div>'
            f'<div class="v">{_h(short(value) if type(value) is int else num(value))}</div>'
            f"{extra}</div>")


def _graph_panel(key: str, data: dict, title: str = "") -> str:
    head = f"<h3>{_h(title)}</h3>" if title else ""
    return (f'<div class="graph-panel" data-graph="data-{key}">{head}'
            '<div class="controls"><button data-action="expand">expand all</button> '
            '<button data-action="collapse">collapse all</button> '
            '<button data-action="reset">as opened</button> '
            '<span class="note">click a dashed block to expand it, a block\'s label to '
            'collapse it; hover a node for its numbers</span></div>'
            f'<div class="graph-host" id="graph-{key}"></div>'
            f"{_script_json('data-' + key, data)}</div>")


LAYER_COLUMNS = ("#", "path", "op", "args", "input", "output", "params", "MACs", "share",
                 "FLOPs", "RF size", "RF jump")


def _v(x) -> str:
    return f' data-v="{x}"' if type(x) is int else ""


def layer_table(report: Report, mem=None) -> str:
    macs_total = report.totals["macs"]
    extra = [] if mem is None else ["live", "train MACs", "saved"] if mem.training else ["live"]
    out = ['<div class="table-wrap"><table class="sortable layers"><thead><tr>',
           "".join(f"<th>{_h(c)}</th>" for c in (*LAYER_COLUMNS, *extra)),
           "</tr></thead><tbody>"]
    for r in report.rows:
        cells = ""
        if mem is not None:
            from .memory import human_bytes

            m = mem.rows[r.index]
            cells = f'<td class="n"{_v(m.live_bytes)}>{_h(human_bytes(m.live_bytes))}</td>'
            if mem.training:
                cells += (f'<td class="n"{_v(m.train_macs)}>{_h(num(m.train_macs))}</td>'
                          f'<td class="n"{_v(m.saved_bytes)}>{_h(human_bytes(m.saved_bytes))}'
                          "</td>")
        share = _share(r.macs, macs_total)
        bar = (f'<span class="share" style="width:{share * 60:.1f}px"></span>{share:.1%}'
               if share is not None else "—")
        size, jump = (rf_text(r.rf.size), rf_text(r.rf.jump)) if r.input.rank else ("—", "—")
        out.append(
            f'<tr data-path="{_h(r.path)}"><td class="n" data-v="{r.index}">{r.index}</td>'
            f"<td>{_h(row_title(r))}</td><td>{_h(r.op)}</td><td>{_h(args_brief(r))}</td>"
            f"<td>{_h(r.input)}</td><td>{_h(r.output)}</td>"
            f'<td class="n"{_v(r.params)}>{_h(num(r.params))}</td>'
            f'<td class="n"{_v(r.macs)}>{_h(num(r.macs))}</td>'
            f'<td class="n"{"" if share is None else f" data-v={share!r}"}>{bar}</td>'
            f'<td class="n"{_v(r.flops)}>{_h(num(r.flops))}</td>'
            f"<td>{_h(size)}</td><td>{_h(jump)}</td>{cells}</tr>")
    t = report.totals
    out.append(f'</tbody><tfoot><tr class="total"><td></td><td>total</td><td></td><td></td>'
               f"<td>{_h(report.input)}</td><td>{_h(report.output)}</td>"
               f'<td class="n">{_h(num(t["params"]))}</td><td class="n">{_h(num(t["macs"]))}'
               f'</td><td></td><td class="n">{_h(num(t["flops"]))}</td><td></td><td></td>'
               + "<td></td>" * len(extra) + "</tr></tfoot></table></div>")
    return "".join(out)


def conventions_html() -> str:
    items = [*CONVENTIONS.split("; "), "--batch multiplies activations, MACs and FLOPs, "
             "not params"]
    return ('<ul class="conventions">' + "".join(f"<li>{_h(c)}</li>" for c in items)
            + "</ul>")


def _expectations(report: Report) -> str:
    rows = expect_rows(report)
    if not rows:
        return ""
    out = ['<h3>Declared expectations</h3><table><thead><tr><th>quantity</th><th>declared'
           '</th><th>computed</th><th></th></tr></thead><tbody>']
    for key, declared, computed, ok in rows:
        mark = ('<span class="ok">ok</span>' if ok else '<span class="bad">differs</span>'
                if ok is False else "not compared")
        out.append(f"<tr><td>{_h(key)}</td><td>{_h(declared)}</td><td>{_h(computed)}</td>"
                   f"<td>{mark}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def net_html(report: Report, depth: int | None = None, mem=None) -> str:
    """The report page of ``convcalc net FILE --format html``; ``mem``: ``memory.analyse``'s
    figures for the memory section (and the table's memory columns)."""
    memory_html = memory_section(report, mem) if mem is not None else ""
    t = report.totals
    title = report.name or report.file
    assumptions = "".join(f"<li>assumes {_h(a)} (symbolic sizes PyTorch needs equal)</li>"
                          for a in report.assumptions)
    batch = f" · batch {report.batch}" if report.batch != 1 else ""
    body = [
        f"<header><h1>{_h(title)}</h1>"
        f'<div class="sub">{_h(report.file)} · input {_h(report.input)} → output '
        f"{_h(report.output)} · {len(report.rows)} layers{batch} · receptive field "
        f"{_h(rf_text(report.rf.size) if report.input.rank else '—')}</div>"
        '<nav><a href="#graph">graph</a><a href="#charts">charts</a>'
        + ('<a href="#memory">memory</a>' if memory_html else "")
        + '<a href="#layers">layers</a><a href="#conventions">conventions</a></nav>'
        '<div class="cards">'
        + _card("params", t["params"]) + _card("MACs", t["macs"]) + _card("FLOPs", t["flops"])
        + _card("activations (elements)", t["activations"]) + "</div>"
        + (f"<ul>{assumptions}</ul>" if assumptions else "") + _expectations(report)
        + "</header>",
        '<div class="layout"><section id="graph"><h2>Graph</h2>'
        '<p class="note">Sequences run top to bottom, branches side by side; dashed blue '
        "edges go around what lies between (skips, identity shortcuts). Each edge carries "
        "the shape of the tensor on it; a node's shade is its share of the MACs.</p>"
        + _graph_panel("net", graph_data(report, depth)) + "</section><div>",
        f'<section id="charts"><h2>Charts</h2>{charts(report)}</section>',
        f'<section id="memory"><h2>Memory</h2>{memory_html}</section>' if memory_html else "",
        "</div></div>",
        f'<section id="layers"><h2>Layers</h2><p class="note">Click a column to sort.</p>'
        f"{layer_table(report, mem)}</section>",
        f'<section id="conventions"><h2>Conventions</h2>{conventions_html()}</section>',
    ]
    return _page(f"{title} — convcalc", "".join(body))


# -- convcalc diff ------------------------------------------------------------------------------

def diff_html(d, mems=None) -> str:
    """``convcalc diff OLD NEW --format html``: the totals, the changes, and both versions
    drawn side by side with the changed layers outlined (blocks holding one start open)."""
    from . import DIFF_COLUMNS, _delta, _diff_rows

    old_marks: dict[int, str] = {}
    new_marks: dict[int, str] = {}
    for c in d.changes:
        if c.old is not None:
            old_marks[c.old.index] = "removed" if c.kind == "removed" else "changed"
        if c.new is not None:
            new_marks[c.new.index] = "added" if c.kind == "added" else "changed"
    values = [(k, d.old.totals[k], d.new.totals[k], d.total_delta(k), num)
              for k in ("params", "macs", "flops", "activations")]
    if mems is not None:  # --dtype / --training: the memory totals too (as diff's table)
        from .memory import human_bytes

        for k in mems[1].totals:
            a, b = mems[0].totals[k], mems[1].totals[k]
            values.append((k, a, b, None if a is None or b is None else b - a,
                           human_bytes if k.endswith("_bytes") else num))
    def change(x, show) -> str:
        if show is num or type(x) is not int or x == 0:
            return _delta(x)
        return ("+" if x > 0 else "−") + show(abs(x))

    totals = "".join(
        f"<tr><td>{k}</td><td class=\"n\">{_h(show(a))}</td><td class=\"n\">{_h(show(b))}"
        f"</td><td class=\"n\">{_h(change(x, show))}</td></tr>"
        for k, a, b, x, show in values)
    rows = []
    for c, cells in zip(d.changes, _diff_rows(d)):
        path = (c.new or c.old).path
        rows.append(f'<tr class="{c.kind}" data-path="{_h(path)}">'
                    + "".join(f"<td>{_h(cell)}</td>" for cell in cells) + "</tr>")
    changes = ('<div class="table-wrap"><table class="sortable changes"><thead><tr>'
               + "".join(f"<th>{_h(c)}</th>" for c in DIFF_COLUMNS) + "</tr></thead><tbody>"
               + "".join(rows) + "</tbody></table></div>") if rows else \
        '<p>No layer changed.</p>'
    title = f"{d.old.file} → {d.new.file}"
    body = (f"<header><h1>{_h(title)}</h1><div class=\"sub\">{len(d.changes)} layer"
            f"{'s' if len(d.changes) != 1 else ''} changed, added or removed</div></header>"
            '<section><h2>Totals</h2><table><thead><tr><th></th><th>old</th><th>new</th>'
            f"<th>Δ</th></tr></thead><tbody>{totals}</tbody></table></section>"
            f"<section><h2>Changes</h2>{changes}</section>"
            '<section id="graph"><h2>Both versions</h2><p class="note">Changed layers are '
            "outlined (green added, red removed, yellow changed); blocks holding a change "
            "start expanded.</p><div class=\"versions\">"
            + _graph_panel("old", graph_data(d.old, None, old_marks), f"old: {d.old.file}")
            + _graph_panel("new", graph_data(d.new, None, new_marks), f"new: {d.new.file}")
            + "</div></section>"
            f'<section id="conventions"><h2>Conventions</h2>{conventions_html()}</section>')
    return _page(f"{title} — convcalc diff", body)
