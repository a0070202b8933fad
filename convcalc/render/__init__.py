"""Every string a user sees: rich tables, JSON, CSV, Markdown and diagnostics.

Computation returns records (``walk``, ``check``); this module only formats them.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from fractions import Fraction
from functools import lru_cache
from typing import Any

from ..core import CONVENTIONS, CONVENTIONS_SHORT, RF, Shape
from ..dims import fmt
from .memory import (MEMORY_CONVENTIONS, MEMORY_SHORT, human_bytes, memory_cells,
                     memory_columns, summary_head, summary_items, summary_lines)

LAYER_SCHEMA = "convcalc.layer/1"
SOLVE_SCHEMA = "convcalc.solve/2"  # /2: solutions as [first, last] ranges


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

def layer_json(report, mem=None) -> str:
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
    if mem is not None:
        data["dtype"] = mem.dtype
        data["param_bytes"] = jsonable(mem.totals["param_bytes"])
        data["live_bytes"] = jsonable(mem.rows[0].live_bytes)
        if mem.training:
            data["train_macs"] = jsonable(mem.rows[0].train_macs)
            data["saved_bytes"] = jsonable(mem.rows[0].saved_bytes)
        data["conventions"] = CONVENTIONS + "; " + MEMORY_CONVENTIONS
    return json.dumps(data, indent=2)


def _args_text(args: dict) -> str:
    def one(v):
        if isinstance(v, (list, tuple)):
            return "x".join(one(i) for i in v)
        return fmt(v)

    return " ".join(f"{k}={one(v)}" for k, v in args.items())


LONG_VALUE = 30  # characters: a layer value longer than this gets a line of its own


def print_layer(report, mem=None) -> None:
    eff = report.effect
    title = " ".join(f"{report.op} {_args_text(report.args)} on {shape_text(report.input)}"
                     .split())
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
    if mem is not None and mem.rows[0].live_bytes is not None:
        m = mem.rows[0]
        add("memory", human_bytes(m.live_bytes),
            [f"live: input and output ({mem.dtype}); params "
             f"{human_bytes(mem.totals['param_bytes'])}"])
        if mem.training:
            add("train", num(m.train_macs), ["MACs: forward + weight gradient (the input "
                                              "needs none)"])
            add("saved", human_bytes(m.saved_bytes), ["kept by autograd for backward"])
    rf = report.rf
    if not report.input.rank:  # a flat input (linear, bn1d on features): no field to state
        add("RF", "—", ["no spatial axes"])
    else:
        add("RF size", rf_text(rf.size), ["largest span of input positions one output unit "
                                          "depends on"])
        add("RF jump", rf_text(rf.jump), ["input positions between adjacent outputs"])
        add("RF start", rf_start_text(rf.start), ["centre of output unit 0's field"])
    # a long value (a symbolic formula) takes a line of its own, its notes below, so that it
    # does not push every other row's numbers and notes far to the right
    long_values: dict[int, str] = {}
    fitted: list[tuple[list[str], str]] = []
    for (label, value, note), style in body:
        if len(value) > LONG_VALUE:
            long_values[len(fitted)] = value
            fitted.append(([label, "", ""], style))
            if note:
                fitted.append((["", "", note], style))
        else:
            fitted.append(([label, value, note], style))
    lines = _layout(["", "", ""], fitted, None, {1})[1:]
    width = max(len(cells[0]) for cells, _ in fitted)
    for i, value in long_values.items():
        lines[i] = f"{fitted[i][0][0].ljust(width)}  {value}"
    lines = [_style(title, BOLD)] + lines
    if mem is not None and mem.rows[0].live_bytes is not None:
        lines.append(_style(MEMORY_SHORT, DIM))
    lines.append(_style(CONVENTIONS_SHORT, DIM))
    sys.stdout.write("\n".join(lines) + "\n")


def solution_text(sol) -> list[str]:
    """One line per axis (one for all when they agree): ``p = 1``, ``k = 3..4  (several
    solutions)``, ``k = 1 or more``."""
    lines = []
    same = len(set(sol.per_axis)) == 1
    for axis, ranges in enumerate(sol.per_axis):
        where = "" if same else f" (axis {axis})"
        several = len(ranges) > 1 or ranges[0][0] != ranges[0][1]
        open_end = ranges[-1][1] is None
        lines.append(f"{sol.key} = {_ranges(ranges)}{where}"
                     + ("  (several solutions)" if several and not open_end else ""))
        if same:
            break
    return lines


def _ranges(ranges) -> str:
    parts = [f"{a} or more" if b is None else str(a) if a == b else f"{a}..{b}"
             for a, b in ranges]
    return ", ".join(parts)


def solve_json(sol, op: str) -> str:
    return json.dumps({"schema": SOLVE_SCHEMA, "op": op, "solve": sol.key,
                       "solutions": [[list(r) for r in ranges] for ranges in sol.per_axis]},
                      indent=2)


# -- convcalc ops -------------------------------------------------------------------------

def _default_text(key) -> str:
    from ..ops import REQUIRED, SAME_AS_K

    if key.default is REQUIRED:
        return key.name
    if key.default is SAME_AS_K:
        return f"{key.name}=k"
    if key.default is None:
        return f"{key.name}?"
    return f"{key.name}={fmt(key.default)}"


# where convcalc's padding is wider than PyTorch's modules, said once with the catalog
PAD_NOTE = ("p: one number, one per axis, or [lo, hi] pairs per axis (pairs are wider than "
            "PyTorch's modules, which pad symmetrically: they describe ONNX's pads or an F.pad "
            "before the layer); conv-like ops also take same, valid and full (full, "
            "p = d*(k - 1), is convcalc's), pooling no words, as in PyTorch")


def ops_catalog() -> list[dict]:
    from ..ops import OPS

    return [{"op": d.name, "aliases": list(d.aliases),
             "keys": [_default_text(k) for k in d.keys.values()],
             "summary": d.summary, "shape": d.shape_rule, "cost": d.cost_rule}
            for d in OPS.values()]


_FORMULA_START = re.compile(r"; (?=(?:params|MACs|FLOPs) = )")


def print_ops(fmt_name: str = "table", conventions: bool = False) -> None:
    """The catalog as plain text, one op per paragraph and one formula per line: nothing is
    cut to fit a terminal (a long line wraps, as any terminal wraps it)."""
    if conventions and fmt_name != "json":
        print_conventions()
        return
    rows = ops_catalog()
    if fmt_name == "json":
        print(json.dumps({"schema": "convcalc.ops/1", "ops": rows, "conventions": CONVENTIONS},
                         indent=2))
        return
    lines = ["convcalc op catalog (key=default; a bare key is required; key? is optional)",
             PAD_NOTE]
    for r in rows:
        aliases = f" ({', '.join(r['aliases'])})" if r["aliases"] else ""
        lines += ["", _style(r["op"], BOLD) + f"{aliases}: {r['summary']}",
                  f"    keys   {' '.join(r['keys']) or '—'}", f"    shape  {r['shape']}"]
        for i, formula in enumerate(_FORMULA_START.split(r["cost"])):
            lines.append(f"    {'cost' if i == 0 else '':5}  {formula}")
    lines += ["", _style(CONVENTIONS_SHORT, DIM)]
    sys.stdout.write("\n".join(lines) + "\n")


def print_conventions() -> None:
    """The full statement of what the numbers count (the README's Conventions section has
    the per-op table; `convcalc ops` has every op's formulas)."""
    lines = [_style("convcalc counting conventions", BOLD)]
    lines += [f"- {clause}" for clause in CONVENTIONS.split("; ")]
    lines += [f"- {clause}" for clause in MEMORY_CONVENTIONS.split("; ")]
    lines += ["- --batch multiplies activations, MACs and FLOPs, not params",
              "every op's shape and cost formulas: convcalc ops; the per-op FLOPs table and "
              "the deformable-conv cost model: README, section Conventions"]
    sys.stdout.write("\n".join(lines) + "\n")


# -- diagnostics --------------------------------------------------------------------------

def error(err) -> None:
    print(err.line(), file=sys.stderr)


# -- convcalc net -------------------------------------------------------------------------

NET_SCHEMA = "convcalc.net/1"
BAR_WIDTH = 10


def row_dict(row, mem=None, training: bool = False) -> dict:
    d = {"index": row.index, "path": row.path, "name": row.name, "op": row.op,
         "input": shape_json(row.input), "output": shape_json(row.output),
         "params": jsonable(row.params), "macs": jsonable(row.macs),
         "flops": jsonable(row.flops), "rf": rf_dict(row.rf)}
    if mem is not None:
        d["live_bytes"] = jsonable(mem.live_bytes)
        if training:
            d["train_macs"] = jsonable(mem.train_macs)
            d["saved_bytes"] = jsonable(mem.saved_bytes)
    if row.parts:
        b = getattr(row, "batch", 1)  # a row's MACs/FLOPs carry --batch; so do its parts
        d["parts"] = [{"name": name, "output": shape_json(p.output),
                       "params": jsonable(p.params), "macs": jsonable(_times(p.macs, b)),
                       "flops": jsonable(_times(p.flops, b))} for name, p in row.parts]
    return d


def _times(x, batch: int):
    return x if x is None or batch == 1 else x * batch


def expect_rows(report, options: dict | None = None
                ) -> list[tuple[str, str, str, bool | None]]:
    """(quantity, declared, computed, ok) for each declared expectation, as text."""
    from ..check import BYTE_KEYS, expectations

    rows = []
    for key, want, computed, ok in expectations(report, options):
        if key == "output":
            declared, shown = str(Shape(want[0], tuple(want[1:]))), str(report.output)
        elif key == "rf":
            declared = ("×".join(w.text() for w in want) if isinstance(want, list)
                        else want.text())
            shown = rf_text(report.rf.size)
        elif key == "sizes":  # the progression as declared, the rule as computed (text)
            declared, shown = want, computed
        else:
            declared, shown = want.text(), num(computed)
            if key in BYTE_KEYS and type(computed) is int:
                shown += f" ({human_bytes(computed)})"
        rows.append((key, declared, shown, ok))
    return rows


def _options(mem) -> dict | None:
    return None if mem is None else {"dtype": mem.dtype, "optimizer": mem.optimizer}


def net_json(report, rows, mem=None, mem_rows=None) -> str:
    from ..check import expectations

    totals = dict(report.totals)
    if mem is not None:
        totals.update(mem.totals)
    data = {"schema": NET_SCHEMA, "name": report.name, "file": report.file,
            "input": shape_json(report.input), "output": shape_json(report.output),
            "batch": report.batch}
    if mem is not None:
        data["dtype"] = mem.dtype
        if mem.training:
            data["optimizer"] = mem.optimizer
            data["gradient_bytes"] = jsonable(mem.gradient_bytes)
            data["optimizer_bytes"] = jsonable(mem.optimizer_bytes)
        data["peak_layer"] = mem.peak_row
    data.update({
            "totals": jsonable(totals), "rf": rf_dict(report.rf),
            "conventions": CONVENTIONS + ("; " + MEMORY_CONVENTIONS if mem else ""),
            "assumptions": list(report.assumptions),
            "expect": [{"key": k, "declared": _json_bound(d), "computed": jsonable(c),
                        "ok": ok} for k, d, c, ok in expectations(report, _options(mem))],
            "layers": []})
    # one compact line per layer inside an indented document: readable, and json's C encoder
    # (indent makes it fall back to the pure-Python one, 8x slower on big networks)
    head = json.dumps(data, indent=2)
    assert head.endswith('"layers": []\n}')
    encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder, not one per row
    if mem is None:
        layers = ",\n".join("    " + encode(row_dict(r)) for r in rows)
    else:
        mrows = mem.rows if mem_rows is None else mem_rows
        layers = ",\n".join("    " + encode(row_dict(r, m, mem.training))
                             for r, m in zip(rows, mrows))
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


def print_net(report, rows, valid_sizes=None, mem=None, mem_rows=None) -> None:
    # laid out by hand: rich's Table measures and wraps every cell, ~1.5 ms per row
    totals = report.totals
    title = (f"{report.name or report.file}: {report.input} → {report.output}"
             + (f", batch {report.batch}" if report.batch != 1 else ""))
    header = list(NET_COLUMNS)
    header.insert(7, "share of MACs")
    right = {0, 5, 6, 8}
    training = mem is not None and mem.training
    extra = memory_columns(training) if mem is not None else []
    right |= set(range(len(header), len(header) + len(extra)))
    header += extra
    mrows = (mem.rows if mem_rows is None else mem_rows) if mem is not None else None
    body: list[tuple[list[str], str]] = []
    total_macs = totals["macs"]
    for i, row in enumerate(rows):
        cells = _net_cells(row)
        cells.insert(7, _bar(row.macs, total_macs))  # rows already carry the batch
        if mrows is not None:
            cells += memory_cells(mrows[i], training, num)
        body.append((cells, ""))
        for name, part in row.parts:
            body.append((["", f"  └ {name}", "", "", str(part.output), num(part.params),
                          num(_times(part.macs, row.batch)), "",
                          num(_times(part.flops, row.batch)), "", ""] + [""] * len(extra),
                         DIM))
    foot = ["", "total", "", "", "", num(totals["params"]), num(totals["macs"]), "",
            num(totals["flops"]), "", ""]
    if mem is not None:
        foot.append(human_bytes(mem.totals["peak_inference_bytes"]) if extra else "")
        if training:
            foot += [num(mem.totals["train_macs"]),
                     human_bytes(mem.totals["saved_activation_bytes"])]
    limit = width_limit()
    hidden = _fit(header, body, foot, right, limit) if limit else []
    lines = [title] + _layout(header, body, foot, right)
    if hidden:
        lines += [_style(part, DIM) for part in textwrap.wrap(
            f"hidden to fit {limit} columns: {', '.join(hidden)} (a larger COLUMNS shows "
            f"them)",
            limit)]
    lines.append(f"activations: {num(totals['activations'])}   receptive field: size "
                 f"{rf_text(report.rf.size)}, jump {rf_text(report.rf.jump)}")
    if mem is not None:
        lines += summary_lines(report, mem, num)
    expects = expect_rows(report, _options(mem))
    if expects and report.input_override:
        lines.append("expect: not compared (declared for the YAML's input, which --input "
                     "replaces)")
        expects = []
    for key, declared, computed, ok in expects:
        mark = _style("ok", GREEN) if ok else _style("differs", RED)
        per = " per sample" if report.batch != 1 and key in PER_SAMPLE else ""
        lines.append(f"expect {key}: declared {declared}, computed {computed}{per}  {mark}")
    if valid_sizes:
        # the sizes analysis states where the assumptions hold (convcalc sizes, SPEC §6)
        from .sizes import rule_text

        for symbol, rule in valid_sizes:
            lines.append(_style(f"valid for {rule_text(rule, symbol)}", YELLOW))
    else:
        for a in report.assumptions:
            lines.append(_style(f"assumes {a}", YELLOW) + " (symbolic sizes PyTorch needs "
                         "equal)")
    footer = textwrap.wrap(CONVENTIONS_SHORT, limit) if limit else [CONVENTIONS_SHORT]
    if mem is not None:  # before the conventions line, which ends every report
        footer[:0] = textwrap.wrap(MEMORY_SHORT, limit) if limit else [MEMORY_SHORT]
    lines += [_style(part, DIM) for part in footer]
    sys.stdout.write("\n".join(lines) + "\n")


PER_SAMPLE = ("macs", "flops", "activations", "train_macs")  # the totals --batch multiplies

# columns net's table gives up, in this order, to fit the width: the derived and the less
# asked-for first; #, path, op, output, params and MACs always stay
NET_DROP_ORDER = ("share of MACs", "RF jump", "input", "RF size", "live", "FLOPs", "saved",
                  "train MACs")


def width_limit() -> int | None:
    """The width a table is fitted to: ``COLUMNS`` when set, else the terminal's when stdout
    is one; ``None`` (no limit, nothing left out) when the output goes to a pipe or a file."""
    import shutil

    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _fit(header, body, foot, right, limit: int) -> list[str]:
    """Drop whole columns (never cut a cell) in ``NET_DROP_ORDER`` until the table fits
    ``limit``; returns the dropped headers. Edits the lists and ``right`` in place."""
    hidden: list[str] = []
    for name in NET_DROP_ORDER:
        if _table_width(header, body, foot) <= limit:
            break
        if name not in header:
            continue
        i = header.index(name)
        for cells in [header, foot, *(cells for cells, _ in body)]:
            del cells[i]
        shifted = {j - (j > i) for j in right if j != i}
        right.clear()
        right.update(shifted)
        hidden.append(name)
    return hidden


def _table_width(header, body, foot) -> int:
    widths = [len(h) for h in header]
    for cells in [foot, *(cells for cells, _ in body)]:
        widths = [max(w, len(c)) for w, c in zip(widths, cells)]
    return sum(widths) + 2 * (len(widths) - 1)


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


def net_csv(report, rows, mem=None, mem_rows=None) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    training = mem is not None and mem.training
    extra = ([] if mem is None else ["live_bytes"]) + (
        ["train_macs", "saved_bytes"] if training else [])
    w.writerow(["index", "path", "name", "op", "input", "output", "params", "macs", "flops",
                "rf_size", "rf_jump", "rf_start"] + extra)
    mrows = (mem.rows if mem_rows is None else mem_rows) if mem is not None else [None] * len(
        rows)
    for r, m in zip(rows, mrows):
        cells = [r.index, r.path, r.name or "", r.op, str(r.input), str(r.output),
                 fmt(r.params), fmt(r.macs), fmt(r.flops), rf_text(r.rf.size),
                 rf_text(r.rf.jump), rf_start_text(r.rf.start)]
        if m is not None:
            cells.append(fmt(m.live_bytes))
            if training:
                cells += [fmt(m.train_macs), fmt(m.saved_bytes)]
        w.writerow(cells)
    t = report.totals
    # the totals row: sums; live bytes are not a sum, the peak is in the JSON and the table
    w.writerow(["", "total", "", "", str(report.input), str(report.output), fmt(t["params"]),
                fmt(t["macs"]), fmt(t["flops"]), "", "", ""]
               + ([""] if mem is not None else [])
               + ([fmt(mem.totals["train_macs"]), fmt(mem.totals["saved_activation_bytes"])]
                  if training else []))
    return buf.getvalue()


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_MD_PLAIN = re.compile(r"[0-9,+\-×/— ]*")
_MD_BYTES = re.compile(r"[0-9.]+ [KMGTPE]?i?B")  # 22.1 GiB: words, not a formula


def _md_escape(text: str) -> str:
    """Words in Markdown: every character that could start emphasis, code, a link, HTML or end
    a table cell is backslash-escaped (CommonMark escapes any ASCII punctuation)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_code(text: str, cell: bool = True) -> str:
    """A code span that holds ``text`` exactly: a fence longer than any run of backticks
    inside, padded with a space where the text starts or ends with one (CommonMark strips
    one space from each side); in a table cell ``|`` is escaped too (GFM)."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text[:1] in "` " or text[-1:] in "` " else ""
    code = f"{fence}{pad}{text}{pad}{fence}"
    return code.replace("|", "\\|") if cell else code


def _md_value(text: str, cell: bool = True) -> str:
    """Numbers as they are; formulas (``7152*D*H*W``, ``3×H×W``) as code, so Markdown does
    not read ``*`` as emphasis."""
    return text if _MD_PLAIN.fullmatch(text) else _md_code(text, cell)


def net_markdown(report, rows, mem=None, mem_rows=None) -> str:
    t = report.totals

    def head(x):
        return _md_value(x, cell=False)

    training = mem is not None and mem.training
    columns = list(NET_COLUMNS) + (memory_columns(training) if mem is not None else [])
    lines = [f"**{_md_escape(report.name or report.file)}**: {head(str(report.input))} → "
             f"{head(str(report.output))} — params {head(num(t['params']))}, MACs "
             f"{head(num(t['macs']))}, FLOPs {head(num(t['flops']))}",
             "", "| " + " | ".join(columns) + " |",
             "|" + "|".join("---:" if c in ("#", "params", "MACs", "FLOPs", "live",
                                            "train MACs", "saved") else "---"
                            for c in columns) + "|"]
    mrows = (mem.rows if mem_rows is None else mem_rows) if mem is not None else [None] * len(
        rows)
    base = len(NET_COLUMNS)
    for r, m in zip(rows, mrows):
        cells = _net_cells(r) + (memory_cells(m, training, num) if m is not None else [])
        lines.append("| " + " | ".join(
            _md_escape(c) if i in (1, 2) or (i >= base and _MD_BYTES.fullmatch(c))
            else _md_value(c) for i, c in enumerate(cells)) + " |")
    foot = (f"| | **total** | | | | **{_md_value(num(t['params']))}** | "
            f"**{_md_value(num(t['macs']))}** | **{_md_value(num(t['flops']))}** | | |")
    if mem is not None:
        foot += " |"
        if training:
            saved = human_bytes(mem.totals["saved_activation_bytes"])
            foot += (f" **{_md_value(num(mem.totals['train_macs']))}** | "
                     f"**{saved if _MD_BYTES.fullmatch(saved) else _md_value(saved)}** |")
    lines.append(foot)
    conventions = CONVENTIONS
    if mem is not None:
        lines += [""] + _md_summary(report, mem)
        conventions += "; " + MEMORY_CONVENTIONS
    lines += ["", f"<sub>conventions: {_md_escape(conventions)}</sub>"]
    return "\n".join(lines) + "\n"


def _md_summary(report, mem) -> list[str]:
    """The memory summary as a Markdown list: sizes as words, formulas as code."""
    lines = [_md_escape(summary_head(mem))]
    for label, value, note in summary_items(report, mem, num):
        shown = _md_escape(value) if _MD_BYTES.fullmatch(value) else _md_value(value,
                                                                              cell=False)
        lines.append(f"- {label}: {shown}" + (f" {_md_escape(note)}" if note else ""))
    return lines


# -- convcalc check -----------------------------------------------------------------------

CHECK_SCHEMA = "convcalc.check/1"
DIFF_SCHEMA = "convcalc.diff/1"


def finding_line(file: str, loc, message: str) -> str:
    from ..errors import printable

    where = str(loc) if loc is not None else file
    return printable(f"{where}: error: {message}")


def github_line(file: str, loc, message: str) -> str:
    # GitHub workflow commands: % \r \n must be escaped in the message, and also : , in
    # property values (a file name with a comma would otherwise end the property)
    from ..errors import printable

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
            items = [{**_loc_json(f.loc), "what": f.what, "message": f.message,
                      "expected": _json_bound(f.expected), "actual": jsonable(f.actual)}
                     for f in r.findings]
            if r.error is not None:
                items.append({**_loc_json(r.error.loc), "what": "invalid",
                              "message": r.error.message
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


def _loc_json(loc) -> dict:
    """A place in the file, or null for both when there is none (a budget, a missing file)."""
    if loc is None or loc.line <= 0:
        return {"line": None, "col": None}
    return {"line": loc.line, "col": loc.col}


def _json_bound(b):
    """An expectation as a value: a count, {"min", "max"}, a shape list, a list of those."""
    if isinstance(b, (list, tuple)):
        return [_json_bound(x) for x in b]
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


def _arg_text(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_arg_text(x) for x in v) + "]"
    return fmt(v)


def _field_text(field, value) -> str:
    """One side of a difference, as people read it."""
    if field.startswith("args."):
        return _arg_text(value)
    if field in ("params", "macs", "flops"):
        return num(value)
    if value is None:
        return "—"
    return str(value)


# shown in their own columns (output, Δ params, Δ MACs) or by the path column
OWN_COLUMNS = ("path", "output", "params", "macs", "flops")


def _diff_rows(d, value=lambda text: text, text=lambda t: t) -> list[list[str]]:
    """One row per change: change, path, op, output, what, Δ params, Δ MACs. ``value`` wraps
    numbers and formulas, ``text`` words (Markdown escapes them)."""
    from ..diff import args_of

    rows = []
    for c in d.changes:
        ref = c.new or c.old
        if c.kind == "changed":
            path = text(c.new.path if c.old.path == c.new.path
                        else f"{c.old.path} → {c.new.path}")
            out = (value(str(c.new.output)) if str(c.old.output) == str(c.new.output)
                   else f"{value(str(c.old.output))} → {value(str(c.new.output))}")
            what = "; ".join(
                f"{text(f.field[5:] if f.field.startswith('args.') else f.field)}: "
                f"{value(_field_text(f.field, f.old))} → {value(_field_text(f.field, f.new))}"
                for f in c.fields if f.field not in OWN_COLUMNS)
        else:
            path, out = text(ref.path), value(str(ref.output))
            what = " ".join(f"{text(k)}={value(_arg_text(v))}"
                            for k, v in args_of(ref).items())
        rows.append([c.kind, path, text(ref.op), out, what,
                     value(_delta(c.delta("params"))), value(_delta(c.delta("macs")))])
    return rows


DIFF_COLUMNS = ("change", "path", "op", "output", "what", "Δ params", "Δ MACs")


def _field_json(field, value):
    if field in ("input", "output"):
        return shape_json(value)
    return jsonable(value)


def diff_output(d, fmt_name: str, mems=None) -> str | None:
    """``mems``: the old and new networks' memory (memory.analyse), whose totals join the
    summary."""
    from ..diff import args_of

    totals = [(k, d.old.totals[k], d.new.totals[k], d.total_delta(k))
              for k in ("params", "macs", "flops", "activations")]
    if mems is not None:
        old_mem, new_mem = mems
        for k in new_mem.totals:
            a, b = old_mem.totals[k], new_mem.totals[k]
            totals.append((k, a, b, None if a is None or b is None else b - a))
    if fmt_name == "json":
        def side(r):
            return None if r is None else {**row_dict(r), "args": jsonable(args_of(r))}
        return json.dumps({
            "schema": DIFF_SCHEMA, "old": d.old.file, "new": d.new.file,
            "output": {"old": shape_json(d.old.output), "new": shape_json(d.new.output)},
            "totals": {k: {"old": jsonable(a), "new": jsonable(b), "delta": jsonable(x)}
                       for k, a, b, x in totals},
            "layers": [{"change": c.kind, "old": side(c.old), "new": side(c.new),
                        "fields": [{"field": f.field, "old": _field_json(f.field, f.old),
                                    "new": _field_json(f.field, f.new)} for f in c.fields],
                        "delta": {k: jsonable(c.delta(k)) for k in ("params", "macs", "flops")}}
                       for c in d.changes],
        }, indent=2) + "\n"
    if fmt_name == "markdown":
        lines = [f"**{_md_escape(d.old.file)} → {_md_escape(d.new.file)}**", "",
                 "| | old | new | Δ |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {_md_value(num(a))} | {_md_value(num(b))} | "
                  f"{_md_value(_delta(x))} |" for k, a, b, x in totals]
        lines += ["", "| " + " | ".join(DIFF_COLUMNS) + " |",
                  "|---|---|---|---|---|---:|---:|"]
        lines += ["| " + " | ".join(row) + " |"
                  for row in _diff_rows(d, _md_value, _md_escape)]
        if not d.changes:
            lines.append("| | no layer changed | | | | | |")
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
        from rich.text import Text

        table = Table(box=None, header_style="bold")
        for col in DIFF_COLUMNS:
            table.add_column(col, justify="right" if col.startswith("Δ") else "left")
        for row in _diff_rows(d):
            table.add_row(*(Text(cell) for cell in row))  # paths and values, never markup
        out.print(table)
    else:
        out.print("no layer changed")
    return None


# -- convcalc net --fit ---------------------------------------------------------------------

FIT_SCHEMA = "convcalc.fit/1"


def fit_output(report, budget: int, answer, options: dict, fmt_name: str) -> str:
    """The largest batch whose train memory fits ``budget`` (a ``memory.Fit``)."""
    batch, at, following, smallest = answer
    if fmt_name == "json":
        return json.dumps({"schema": FIT_SCHEMA, "name": report.name, "file": report.file,
                           "budget_bytes": budget, "dtype": options["dtype"],
                           "optimizer": options["optimizer"], "batch": batch,
                           "train_memory_bytes": at, "next_train_memory_bytes": following,
                           "smallest_batch": smallest}, indent=2)
    where = (f"{report.name or report.file}, {options['dtype']}, {options['optimizer']}: "
             f"budget {human_bytes(budget)} ({budget:,} B)")
    if batch is None:
        return f"{where}\nevery batch fits: train memory {human_bytes(at)} whatever the batch"
    if batch == 0:
        why = " (the smallest that runs in training: a BatchNorm needs 2 values per " \
              "channel)" if smallest != 1 else ""
        return (f"{where}\nno batch fits: batch {smallest} needs {human_bytes(following)} "
                f"({following:,} B) of train memory{why}")
    return (f"{where}\nlargest batch that fits: {batch:,} (train memory {human_bytes(at)}, "
            f"{at:,} B; batch {batch + 1:,} needs {human_bytes(following)}, {following:,} B)")
