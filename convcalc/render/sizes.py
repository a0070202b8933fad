"""``convcalc sizes``: the rule, the valid sizes in a range, the nearest valid sizes."""

from __future__ import annotations

import json

SIZES_SCHEMA = "convcalc.sizes/1"


def rule_text(s, var: str = "n", ascii: bool = False) -> str:
    return s.text(var, ascii)


def compress(values: list[int]) -> str:
    """188, 204, …, 1020 (every 16) for a progression of five or more; a..b for three or
    more consecutive sizes."""
    parts, i = [], 0
    while i < len(values):
        j = i + 1
        if j < len(values):
            step = values[j] - values[i]
            while j + 1 < len(values) and values[j + 1] - values[j] == step:
                j += 1
            if j - i >= (2 if step == 1 else 4):  # a..c, or five or more: a, b, …, z
                parts.append(f"{values[i]}..{values[j]}" if step == 1 else
                             f"{values[i]}, {values[i + 1]}, …, {values[j]} (every {step})")
                i = j + 1
                continue
        parts.append(str(values[i]))
        i += 1
    return ", ".join(parts) if parts else "none"


def _shape_list(shape) -> list:
    return list(shape.dims)


def sizes_json(s, lo: int, hi: int, valid: list[int], near_n, near) -> str:
    near_obj = None
    if near_n is not None:
        def entry(v):
            e = next((x for x in near if x.n == v), None)
            return None if e is None else {"n": e.n, "output": _shape_list(e.output),
                                            "drops": e.drops}
        near_obj = {"n": near_n, "below": entry(s.below(near_n)),
                    "above": entry(s.above(near_n))}
    doc = {"schema": SIZES_SCHEMA, "file": s.file, "axis": s.axis, "axes": list(s.axes),
           "range": [lo, hi], "rule": rule_text(s), "period": s.period, "min": s.min,
           "residues": list(s.residues), "isolated": list(s.isolated),
           "reference": None if s.reference is None else list(s.reference),
           "valid": valid, "drops": [n for n in valid if s.drops_at(n)], "near": near_obj}
    return json.dumps(doc, indent=2)


def sizes_table(s, name, lo: int, hi: int, valid: list[int], near_n, near) -> str:
    axes = " and ".join(s.axes)
    what = (f"every spatial axis ({axes}) the same n" if s.axis == "all" and len(s.axes) > 1
            else f"{axes} = n" + (", the other axes as declared" if s.axis != "all" else ""))
    lines = [f"{name or s.file}: input sizes, {what}"]
    lines.append(f"rule       {rule_text(s)}")
    if s.reference is not None:
        lines.append("           (weights built for " + "×".join(map(str, s.reference))
                     + ": a flatten then linear takes one number of features)")
    lines.append(f"valid in {lo}..{hi} ({len(valid)}): {compress(valid)}")
    dropped = [n for n in valid if s.drops_at(n)]
    clean = [n for n in valid if not s.drops_at(n)]
    if valid and not dropped:
        lines.append("  no stride drops input pixels at these sizes")
    elif valid and not clean:
        lines.append("  a stride drops input pixels (a floor not exact) at every one of them")
    elif dropped and len(dropped) <= len(clean):
        lines.append(f"  a stride drops input pixels (a floor not exact) at: {compress(dropped)}")
    elif dropped:  # the shorter list: the sizes a segmentation user would pick
        lines.append(f"  every input pixel is read only at: {compress(clean)}; at the others "
                     "a stride drops some (a floor not exact)")
    if near_n is not None:
        if not near:
            lines.append(f"near {near_n}: no valid size")
        for e in near:
            where = ("valid" if e.n == near_n else "below" if e.n < near_n else "above")
            mark = "  (a stride drops input pixels)" if e.drops else ""
            lines.append(f"near {near_n}: {e.n} ({where}) → output {e.output}{mark}")
    return "\n".join(lines) + "\n"
