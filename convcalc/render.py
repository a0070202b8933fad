"""Every string a user sees: rich tables, JSON, CSV, Markdown and diagnostics.

Computation returns records (``walk``, ``check``); this module only formats them.
"""

from __future__ import annotations

import json
import os
import sys
from fractions import Fraction
from functools import lru_cache
from typing import Any

from .core import CONVENTIONS, RF, Shape
from .dims import fmt

LAYER_SCHEMA = "convcalc.layer/1"
SOLVE_SCHEMA = "convcalc.solve/1"


def console():
    from rich.console import Console

    # rich's own NO_COLOR support drops colours but still writes bold/dim/italic escapes;
    # no colour system at all means plain text. A wide virtual width keeps piped tables intact
    plain = bool(os.environ.get("NO_COLOR"))  # no-color.org: set and not empty
    return Console(highlight=False,
                   width=None if sys.stdout.isatty() else 200,
                   no_color=plain or None, color_system=None if plain else "auto")


def jsonable(x: Any) -> Any:
    """Numbers stay numbers; symbolic sizes and fractional jumps become strings."""
    t = type(x)
    if t is int or x is None or t is str or t is bool:
        return x
    if (t is tuple or t is list) and all(type(v) is int for v in x):
        return list(x)  # the common case: a shape or a field of plain numbers
    if isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else fmt(x)
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, float):
        return x
    return fmt(x)


def num(x: Any) -> str:
    """A count for people: thousands separators for numbers, formulas as they are."""
    if x is None:
        return "—"
    if isinstance(x, int):
        return f"{x:,}"
    return fmt(x)


def rf_dict(rf: RF) -> dict:
    return {key: list(values) for key, values in _rf_items(rf)}


@lru_cache(maxsize=4096)
def _rf_items(rf: RF) -> tuple:
    """size and jump as jsonable gives them (a fractional jump as "1/2", SPEC §5); start, an
    integer or a half-integer, as a JSON number (111.5 is exact in binary); unknown: null."""
    return (("size", tuple(jsonable(rf.size))), ("jump", tuple(jsonable(rf.jump))),
            ("start", tuple(_start_json(v) for v in rf.start)))


def _start_json(x: Any) -> Any:
    if type(x) is Fraction:
        return int(x) if x.denominator == 1 else float(x)
    return jsonable(x)


def rf_text(values) -> str:
    """One receptive-field quantity per axis; unknown (``None``) as —."""
    return "×".join("—" if v is None else fmt(v) for v in values)


def rf_start_text(values) -> str:
    """Centres as numbers people read the same way as the JSON: 111.5, not 223/2."""
    return "×".join("—" if v is None else str(_start_json(v)) if type(v) is Fraction else fmt(v)
                    for v in values)


def shape_text(shape: Shape) -> str:
    """Spatial-only when the channel count is unknown (``convcalc layer`` without --cin)."""
    if shape.channels is None and shape.rank:
        return shape.spatial_text()
    return str(shape)


@lru_cache(maxsize=4096)  # networks repeat a few shapes many times; records are immutable
def _shape_json(shape: Shape) -> tuple:
    return tuple(jsonable(list(shape.dims)))


def shape_json(shape: Shape) -> list:
    return list(_shape_json(shape))


# -- convcalc layer -----------------------------------------------------------------------

def layer_json(report) -> str:
    eff = report.effect
    data = {
        "schema": LAYER_SCHEMA, "op": report.op, "args": jsonable(report.args),
        "input": shape_json(report.input), "output": shape_json(eff.output),
        "params": jsonable(eff.params), "macs": jsonable(eff.macs),
        "flops": jsonable(eff.flops), "rf": rf_dict(report.rf),
        "formula": list(eff.formulas),
        "parts": [{"name": name, "output": shape_json(p.output), "params": jsonable(p.params),
                   "macs": jsonable(p.macs), "flops": jsonable(p.flops)}
                  for name, p in eff.parts],
        "conventions": CONVENTIONS,
    }
    return json.dumps(data, indent=2)


def _args_text(args: dict) -> str:
    def one(v):
        if isinstance(v, (list, tuple)):
            return "x".join(one(i) for i in v)
        return fmt(v)

    return " ".join(f"{k}={one(v)}" for k, v in args.items())


def print_layer(report) -> None:
    eff = report.effect
    title = f"{report.op} {_args_text(report.args)} on {shape_text(report.input)}".strip()
    body: list[tuple[list[str], str]] = []

    def add(label, value, notes):
        notes = notes or [""]
        body.append(([label, value, notes[0]], ""))
        body.extend((["", "", note], "") for note in notes[1:])

    costs = ("params", "MACs", "FLOPs")
    add("output", shape_text(eff.output),
        [t for t in eff.formulas if t.split(":")[0] not in costs])
    for label, value in zip(costs, (eff.params, eff.macs, eff.flops)):
        add(label, num(value),
            [t[len(label) + 2:] for t in eff.formulas if t.startswith(label + ":")])
    for name, part in eff.parts:
        add(f"  {name}", shape_text(part.output),
            [f"params {num(part.params)}, MACs {num(part.macs)}, FLOPs {num(part.flops)}"])
    rf = report.rf
    add("RF size", rf_text(rf.size), ["largest span of input positions one output unit "
                                      "depends on"])
    add("RF jump", rf_text(rf.jump), ["input positions between adjacent outputs"])
    add("RF start", rf_start_text(rf.start), ["centre of output unit 0's field"])
    lines = [_style(title, BOLD)] + _layout(["", "", ""], body, None, {1})[1:]
    lines.append(_style(f"conventions: {CONVENTIONS}", DIM))
    sys.stdout.write("\n".join(lines) + "\n")


def solution_text(sol) -> list[str]:
    lines = []
    axes = len(sol.per_axis)
    same = len(set(sol.per_axis)) == 1 and len(set(sol.open_ended)) == 1
    for axis, (values, open_end) in enumerate(zip(sol.per_axis, sol.open_ended)):
        where = "" if same or axes == 1 else f" (axis {axis})"
        many = len(values) > 1 or open_end
        lines.append(f"{sol.key} = {_ranges(values, open_end)}{where}"
                     + ("  (several solutions)" if many else ""))
        if same:
            break
    return lines


def _ranges(values, open_end) -> str:
    spans, start, prev = [], values[0], values[0]
    for v in values[1:]:
        if v != prev + 1:
            spans.append((start, prev))
            start = v
        prev = v
    spans.append((start, prev))
    parts = [str(a) if a == b else f"{a}..{b}" for a, b in spans]
    if open_end:
        a = spans[-1][0]
        parts[-1] = f"{a} or more"
    return ", ".join(parts[:8]) + (", …" if len(parts) > 8 else "")


def solve_json(sol, op: str) -> str:
    return json.dumps({"schema": SOLVE_SCHEMA, "op": op, "solve": sol.key,
                       "solutions": [list(v) for v in sol.per_axis],
                       "open_ended": list(sol.open_ended)}, indent=2)


# -- convcalc ops -------------------------------------------------------------------------

def _default_text(key) -> str:
    from .ops import REQUIRED, SAME_AS_K

    if key.default is REQUIRED:
        return key.name
    if key.default is SAME_AS_K:
        return f"{key.name}=k"
    if key.default is None:
        return f"{key.name}?"
    return f"{key.name}={fmt(key.default)}"


def ops_catalog() -> list[dict]:
    from .ops import OPS

    return [{"op": d.name, "aliases": list(d.aliases),
             "keys": [_default_text(k) for k in d.keys.values()],
             "summary": d.summary, "shape": d.shape_rule, "cost": d.cost_rule}
            for d in OPS.values()]


def print_ops(fmt_name: str = "table") -> None:
    rows = ops_catalog()
    if fmt_name == "json":
        print(json.dumps({"schema": "convcalc.ops/1", "ops": rows}, indent=2))
        return
    from rich.table import Table

    table = Table(title="convcalc op catalog (key=default; a bare key is required; key? is "
                        "optional)", title_justify="left", show_lines=True)
    table.add_column("op", style="bold")
    table.add_column("keys")
    table.add_column("what")
    table.add_column("shape / cost")
    for r in rows:
        name = r["op"] + (f"\n({', '.join(r['aliases'])})" if r["aliases"] else "")
        table.add_row(name, " ".join(r["keys"]) or "—", r["summary"],
                      f"{r['shape']}\n{r['cost']}")
    console().print(table)
    console().print(f"[dim]conventions: {CONVENTIONS}[/dim]")


# -- diagnostics --------------------------------------------------------------------------

def error(err) -> None:
    print(err.line(), file=sys.stderr)


# -- convcalc net -------------------------------------------------------------------------

NET_SCHEMA = "convcalc.net/1"
BAR_WIDTH = 10


def row_dict(row) -> dict:
    d = {"index": row.index, "path": row.path, "name": row.name, "op": row.op,
         "input": shape_json(row.input), "output": shape_json(row.output),
         "params": jsonable(row.params), "macs": jsonable(row.macs),
         "flops": jsonable(row.flops), "rf": rf_dict(row.rf)}
    if row.parts:
        b = getattr(row, "batch", 1)  # a row's MACs/FLOPs carry --batch; so do its parts
        d["parts"] = [{"name": name, "output": shape_json(p.output),
                       "params": jsonable(p.params), "macs": jsonable(_times(p.macs, b)),
                       "flops": jsonable(_times(p.flops, b))} for name, p in row.parts]
    return d


def _times(x, batch: int):
    return x if x is None or batch == 1 else x * batch


def expect_rows(report) -> list[tuple[str, str, str, bool | None]]:
    """(quantity, declared, computed, ok) for each declared expectation."""
    from .check import check_report, parse_expect

    failed = {f.what for f in check_report(report)}
    totals = report.totals
    rows = []
    for key, (want, _) in parse_expect(report.expect, report.bindings).items():
        if key == "output":
            declared, computed = str(Shape(want[0], tuple(want[1:]))), str(report.output)
        elif key == "rf":
            declared = ("×".join(w.text() for w in want) if isinstance(want, list)
                        else want.text())
            computed = rf_text(report.rf.size)
        else:
            declared, computed = want.text(), num(totals[key])
        rows.append((key, declared, computed, key not in failed))
    return rows


def net_json(report, rows) -> str:
    data = {"schema": NET_SCHEMA, "name": report.name, "file": report.file,
            "input": shape_json(report.input), "output": shape_json(report.output),
            "batch": report.batch,
            "totals": jsonable(report.totals), "rf": rf_dict(report.rf),
            "conventions": CONVENTIONS,
            "assumptions": list(report.assumptions),
            "expect": [{"key": k, "declared": d, "computed": c, "ok": ok}
                       for k, d, c, ok in expect_rows(report)],
            "layers": []}
    # one compact line per layer inside an indented document: readable, and json's C encoder
    # (indent makes it fall back to the pure-Python one, 8x slower on big networks)
    head = json.dumps(data, indent=2)
    assert head.endswith('"layers": []\n}')
    encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder, not one per row
    layers = ",\n".join("    " + encode(row_dict(r)) for r in rows)
    return head[: -len("[]\n}")] + ("[\n" + layers + "\n  ]\n}" if rows else "[]\n}")


def _bar(macs, total) -> str:
    if not isinstance(macs, int) or not isinstance(total, int) or total <= 0 or macs == 0:
        return ""
    share = macs / total
    cells = share * BAR_WIDTH
    full = int(cells)
    rest = "▏▎▍▌▋▊▉"[int((cells - full) * 7)] if full < BAR_WIDTH and cells - full >= 1 / 7 else ""
    return ("█" * full + rest).ljust(BAR_WIDTH) + f" {share:5.1%}"


def _rf_cell(rf) -> tuple[str, str]:
    return rf_text(rf.size), rf_text(rf.jump)


NET_COLUMNS = ("#", "path", "op", "input", "output", "params", "MACs", "FLOPs", "RF size",
               "RF jump")


def _net_cells(row) -> list[str]:
    size, jump = _rf_cell(row.rf)
    return [str(row.index), row.path + (f" ({row.name})" if row.name and row.name != row.path
                                        else ""),
            row.op, str(row.input), str(row.output), num(row.params), num(row.macs),
            num(row.flops), size, jump]


def print_net(report, rows) -> None:
    # laid out by hand: rich's Table measures and wraps every cell, ~1.5 ms per row
    totals = report.totals
    title = (f"{report.name or report.file}: {report.input} → {report.output}"
             + (f", batch {report.batch}" if report.batch != 1 else ""))
    header = list(NET_COLUMNS)
    header.insert(7, "share of MACs")
    right = {0, 5, 6, 8}
    body: list[tuple[list[str], str]] = []
    total_macs = totals["macs"]
    for row in rows:
        cells = _net_cells(row)
        cells.insert(7, _bar(row.macs, total_macs))  # rows already carry the batch
        body.append((cells, ""))
        for name, part in row.parts:
            body.append((["", f"  └ {name}", "", "", str(part.output), num(part.params),
                          num(_times(part.macs, row.batch)), "",
                          num(_times(part.flops, row.batch)), "", ""], DIM))
    foot = ["", "total", "", "", "", num(totals["params"]), num(totals["macs"]), "",
            num(totals["flops"]), "", ""]
    lines = [title] + _layout(header, body, foot, right)
    lines.append(f"activations: {num(totals['activations'])}   receptive field: size "
                 f"{rf_text(report.rf.size)}, jump {rf_text(report.rf.jump)}")
    for key, declared, computed, ok in expect_rows(report):
        mark = _style("ok", GREEN) if ok else _style("differs", RED)
        lines.append(f"expect {key}: declared {declared}, computed {computed}  {mark}")
    for a in report.assumptions:
        lines.append(_style(f"assumes {a}", YELLOW) + " (symbolic sizes PyTorch needs equal)")
    lines.append(_style(f"conventions: {CONVENTIONS}", DIM))
    sys.stdout.write("\n".join(lines) + "\n")


BOLD, DIM, GREEN, RED, YELLOW = "1", "2", "32", "31", "33"


def _colour() -> bool:
    """no-color.org's NO_COLOR wins, then FORCE_COLOR, then: a terminal that is not dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _style(text: str, code: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if code and _colour() else text


def _layout(header: list[str], body: list[tuple[list[str], str]], foot: list[str] | None,
            right: set[int]) -> list[str]:
    """A plain table: columns two spaces apart, numbers right-aligned."""
    widths = [len(h) for h in header]
    for cells, _ in body:
        widths = [max(w, len(c)) for w, c in zip(widths, cells)]
    if foot:
        widths = [max(w, len(c)) for w, c in zip(widths, foot)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [_style(line(header), BOLD)]
    out += [_style(line(cells), style) for cells, style in body]
    if foot:
        out.append(_style(line(foot), BOLD))
    return out


def net_csv(report, rows) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "path", "name", "op", "input", "output", "params", "macs", "flops",
                "rf_size", "rf_jump", "rf_start"])
    for r in rows:
        w.writerow([r.index, r.path, r.name or "", r.op, str(r.input), str(r.output),
                    fmt(r.params), fmt(r.macs), fmt(r.flops), rf_text(r.rf.size),
                    rf_text(r.rf.jump), rf_start_text(r.rf.start)])
    t = report.totals
    w.writerow(["", "total", "", "", str(report.input), str(report.output), fmt(t["params"]),
                fmt(t["macs"]), fmt(t["flops"]), "", "", ""])
    return buf.getvalue()


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def net_markdown(report, rows) -> str:
    t = report.totals
    lines = [f"**{report.name or report.file}**: {report.input} → {report.output} — "
             f"params {num(t['params'])}, MACs {num(t['macs'])}, FLOPs {num(t['flops'])}",
             "", "| " + " | ".join(NET_COLUMNS) + " |",
             "|" + "|".join("---:" if c in ("#", "params", "MACs", "FLOPs") else "---"
                            for c in NET_COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_md_escape(c) for c in _net_cells(r)) + " |")
    lines.append(f"| | **total** | | | | **{num(t['params'])}** | **{num(t['macs'])}** | "
                 f"**{num(t['flops'])}** | | |")
    lines += ["", f"<sub>conventions: {CONVENTIONS}</sub>"]
    return "\n".join(lines) + "\n"


# -- convcalc check -----------------------------------------------------------------------

CHECK_SCHEMA = "convcalc.check/1"
DIFF_SCHEMA = "convcalc.diff/1"


def finding_line(file: str, loc, message: str) -> str:
    from .errors import printable

    where = str(loc) if loc is not None else file
    return printable(f"{where}: error: {message}")


def github_line(file: str, loc, message: str) -> str:
    # GitHub workflow commands: % \r \n must be escaped in the message, and also : , in
    # property values (a file name with a comma would otherwise end the property)
    from .errors import printable

    def data(s: str) -> str:
        return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(s: str) -> str:
        return printable(data(s).replace(":", "%3A").replace(",", "%2C"))

    text = printable(data(message))
    props = f"file={prop(file)}"
    if loc is not None and loc.line > 0:
        props = f"file={prop(loc.file)},line={loc.line},col={loc.col}"
    return f"::error {props},title=convcalc::{text}"


def check_output(results, fmt_name: str) -> str:
    """``results``: list of CheckResult (file, status, findings, report, error)."""
    if fmt_name == "json":
        files = []
        for r in results:
            items = [{"line": f.loc.line if f.loc else None, "col": f.loc.col if f.loc else None,
                      "what": f.what, "message": f.message,
                      "expected": _json_bound(f.expected), "actual": jsonable(f.actual)}
                     for f in r.findings]
            if r.error is not None:
                loc = r.error.loc
                items.append({"line": loc.line if loc else None, "col": loc.col if loc else None,
                              "what": "invalid", "message": r.error.message
                              + (f" (hint: {r.error.hint})" if r.error.hint else ""),
                              "expected": None, "actual": None})
            files.append({"file": r.file, "status": r.status, "findings": items,
                          "totals": jsonable(r.report.totals) if r.report else None})
        return json.dumps({"schema": CHECK_SCHEMA, "files": files,
                           "summary": check_summary(results)}, indent=2) + "\n"
    lines = []
    for r in results:
        diagnostics = [(f.loc, f.message) for f in r.findings]
        if r.error is not None:
            msg = r.error.message + (f" (hint: {r.error.hint})" if r.error.hint else "")
            diagnostics.append((r.error.loc, msg))
        for loc, msg in diagnostics:
            line = github_line if fmt_name == "github" else finding_line
            lines.append(line(r.file, loc, msg))
    lines.append(check_summary(results))
    return "\n".join(lines) + "\n"


def _json_bound(b):
    if b is None or isinstance(b, (int, list)):
        return jsonable(b)
    if hasattr(b, "exact"):
        return b.exact if b.exact is not None else {"min": b.min, "max": b.max}
    return jsonable(b)


def check_summary(results) -> str:
    n = len(results)
    failed = sum(r.status == "failed" for r in results)
    invalid = sum(r.status == "invalid" for r in results)
    head = f"{n} file{'s' if n != 1 else ''}"
    if not failed and not invalid:
        return f"{head}, all ok"
    parts = [head]
    if failed:
        parts.append(f"{failed} failed")
    if invalid:
        parts.append(f"{invalid} invalid")
    return ", ".join(parts)


# -- convcalc diff ------------------------------------------------------------------------

def _delta(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, int):
        return f"{x:+,}" if x else "0"
    return fmt(x)


def _diff_rows(d) -> list[list[str]]:
    rows = []
    for c in d.changes:
        ref = c.new or c.old
        shape = (f"{c.old.output} → {c.new.output}" if c.kind == "changed" and
                 str(c.old.output) != str(c.new.output) else str(ref.output))
        rows.append([c.kind, ref.path + (f" ({ref.name})" if ref.name else ""), ref.op, shape,
                     _delta(c.delta("params")), _delta(c.delta("macs"))])
    return rows


DIFF_COLUMNS = ("change", "path", "op", "output", "Δ params", "Δ MACs")


def diff_output(d, fmt_name: str) -> str | None:
    totals = [(k, d.old.totals[k], d.new.totals[k], d.total_delta(k))
              for k in ("params", "macs", "flops", "activations")]
    if fmt_name == "json":
        def side(r):
            return None if r is None else row_dict(r)
        return json.dumps({
            "schema": DIFF_SCHEMA, "old": d.old.file, "new": d.new.file,
            "output": {"old": shape_json(d.old.output), "new": shape_json(d.new.output)},
            "totals": {k: {"old": jsonable(a), "new": jsonable(b), "delta": jsonable(x)}
                       for k, a, b, x in totals},
            "layers": [{"change": c.kind, "old": side(c.old), "new": side(c.new),
                        "delta": {"params": jsonable(c.delta("params")),
                                  "macs": jsonable(c.delta("macs"))}} for c in d.changes],
        }, indent=2) + "\n"
    if fmt_name == "markdown":
        lines = [f"**{d.old.file} → {d.new.file}**", "",
                 "| | old | new | Δ |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {num(a)} | {num(b)} | {_delta(x)} |" for k, a, b, x in totals]
        lines += ["", "| " + " | ".join(DIFF_COLUMNS) + " |",
                  "|---|---|---|---|---:|---:|"]
        lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |"
                  for row in _diff_rows(d)]
        if not d.changes:
            lines.append("| | no layer changed | | | | |")
        return "\n".join(lines) + "\n"
    from rich.table import Table

    out = console()
    summary = Table(title=f"{d.old.file} → {d.new.file}", title_justify="left", box=None,
                    header_style="bold")
    for col in ("", "old", "new", "Δ"):
        summary.add_column(col, justify="right" if col else "left")
    for k, a, b, x in totals:
        summary.add_row(k, num(a), num(b), _delta(x))
    out.print(summary)
    if d.changes:
        table = Table(box=None, header_style="bold")
        for col in DIFF_COLUMNS:
            table.add_column(col, justify="right" if col.startswith("Δ") else "left")
        for row in _diff_rows(d):
            table.add_row(*row)
        out.print(table)
    else:
        out.print("no layer changed")
    return None
