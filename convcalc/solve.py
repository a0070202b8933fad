"""``convcalc layer --out``: find the one missing hyper-parameter that gives a wanted size.

Each axis is an independent 1-D problem; candidates are tried with the op table itself (so the
answer obeys exactly the formulas and rules of ``convcalc layer``), over ranges that contain
every solution: beyond them the output size is monotone and already past the target.
"""

from __future__ import annotations

from dataclasses import dataclass

from .core import Shape
from .errors import ConvcalcError, SpecError
from . import ops

SOLVABLE = ("k", "p", "s", "op", "d")


@dataclass(frozen=True)
class Solution:
    key: str
    per_axis: tuple[tuple[int, ...], ...]  # all solutions for each axis
    open_ended: tuple[bool, ...]  # True when every larger value works too


def missing_key(op: str, given: set[str]) -> str:
    keys = ops.resolve(op).keys
    order = ("k", "p", "s", "op", "d")
    for key in order:
        if key in keys and key not in given:
            return key
    raise SpecError(f"--out: nothing to solve for: {op}'s k, p, s, d"
                    + (", op" if "op" in keys else "") + " are all given",
                    hint="leave out the one to find")


def solve(op: str, x: Shape, args: dict, wanted: tuple[int, ...], key: str) -> Solution:
    if any(not isinstance(n, int) for n in x.spatial):
        raise SpecError("--out needs a numeric --n")
    per_axis, open_ended = [], []
    for axis, (n, want) in enumerate(zip(x.spatial, wanted)):
        axis_args = {k: (_pick(v, axis) if k not in ("bias", "ceil", "mult", "g", "out") else v)
                     for k, v in args.items()}
        limit = _limit(key, n, want, axis_args)
        found = []
        for value in range(0 if key in ("p", "op") else 1, limit + 1):
            try:
                eff = ops.apply(op, Shape(x.channels, (n,)), {**axis_args, key: value},
                                lenient=True)
            except ConvcalcError:
                continue
            if eff.output.spatial[0] == want:
                found.append(value)
        per_axis.append(tuple(found))
        open_ended.append(bool(found) and found[-1] == limit and key in ("s", "d"))
    missing = [i for i, values in enumerate(per_axis) if not values]
    if missing:
        where = "" if len(missing) == x.rank else \
            " along axis " + ", ".join(map(str, missing))
        wanted_text = "x".join(map(str, wanted)) if len(set(wanted)) > 1 else str(wanted[0])
        raise SpecError(f"no {key} gives output {wanted_text}{where}",
                        hint="change another hyper-parameter or the wanted size")
    return Solution(key, tuple(per_axis), tuple(open_ended))


def _pick(value, axis):
    if isinstance(value, (list, tuple)):
        return value[axis]
    return value


def _limit(key: str, n: int, want: int, args: dict) -> int:
    """Past this value the size is constant (conv strides, dilations) or beyond ``want``
    (every size grows or shrinks monotonically in k, p, s and d)."""
    k = args.get("k", 1)
    k = k if isinstance(k, int) else 1
    p = args.get("p", 0)
    p = p if isinstance(p, int) else 0
    d = args.get("d", 1)
    d = d if isinstance(d, int) else 1
    if key == "op":
        s = args.get("s", 1)
        return max(s if isinstance(s, int) else 1, d) - 1
    return 2 * (n + want) + 2 * p + d * k + 2
