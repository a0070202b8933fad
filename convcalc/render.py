"""Every string a user sees: rich tables, JSON, CSV, Markdown and diagnostics.

Computation returns records (``walk``, ``check``); this module only formats them.
"""

from __future__ import annotations

import json
import os
import sys
from fractions import Fraction
from typing import Any

from .core import CONVENTIONS, RF, Shape
from .dims import fmt, is_symbolic

LAYER_SCHEMA = "convcalc.layer/1"
SOLVE_SCHEMA = "convcalc.solve/1"


def console(stderr: bool = False):
    from rich.console import Console

    # rich honours NO_COLOR itself; a wide virtual width keeps piped tables intact
    return Console(stderr=stderr, highlight=False,
                   width=None if sys.stdout.isatty() else 200,
                   no_color="NO_COLOR" in os.environ or None)


def jsonable(x: Any) -> Any:
    """Numbers stay numbers; symbolic sizes and fractional jumps become strings."""
    if x is None or isinstance(x, (bool, int, str)):
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


def si(x: Any) -> str:
    if not isinstance(x, int):
        return num(x)
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return str(x)


def rf_dict(rf: RF) -> dict:
    return {"size": jsonable(rf.size), "jump": jsonable(rf.jump), "start": jsonable(rf.start)}


def rf_text(values) -> str:
    return "×".join(fmt(v) for v in values)


def shape_text(shape: Shape) -> str:
    """Spatial-only when the channel count is unknown (``convcalc layer`` without --cin)."""
    if shape.channels is None and shape.rank:
        return shape.spatial_text()
    return str(shape)


def shape_json(shape: Shape) -> list:
    return jsonable(list(shape.dims))


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
    from rich.table import Table

    eff = report.effect
    out = console()
    title = f"{report.op} {_args_text(report.args)} on {shape_text(report.input)}".strip()
    table = Table(title=title, title_justify="left", show_header=False, box=None,
                  pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column(style="dim")
    shape_lines = [t for t in eff.formulas if not t.split(":")[0] in ("params", "MACs", "FLOPs")]
    table.add_row("output", shape_text(eff.output), "\n".join(shape_lines))
    for label, value in (("params", eff.params), ("MACs", eff.macs), ("FLOPs", eff.flops)):
        why = "\n".join(t[len(label) + 2:] for t in eff.formulas if t.startswith(label + ":"))
        table.add_row(label, num(value), why)
    for name, part in eff.parts:
        table.add_row(f"  {name}", shape_text(part.output),
                      f"params {num(part.params)}, MACs {num(part.macs)}, "
                      f"FLOPs {num(part.flops)}")
    rf = report.rf
    table.add_row("RF size", rf_text(rf.size), "input positions one output unit can see")
    table.add_row("RF jump", rf_text(rf.jump), "input positions between adjacent outputs")
    table.add_row("RF start", rf_text(rf.start), "centre of the first output unit's field")
    out.print(table)
    out.print(f"[dim]conventions: {CONVENTIONS}[/dim]")


def solution_text(sol) -> list[str]:
    lines = []
    axes = len(sol.per_axis)
    same = len(set(sol.per_axis)) == 1 and len(set(sol.open_ended)) == 1
    for axis, (values, open_end, limit) in enumerate(zip(sol.per_axis, sol.open_ended,
                                                         sol.limits)):
        where = "" if same or axes == 1 else f" (axis {axis})"
        if not values:
            lines.append(f"no {sol.key} gives that size{where}")
        else:
            text = _ranges(values, open_end)
            many = len(values) > 1 or open_end
            lines.append(f"{sol.key} = {text}{where}" + ("  (several solutions)" if many else ""))
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
