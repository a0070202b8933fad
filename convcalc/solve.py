"""``convcalc layer --out``: find the one missing hyper-parameter that gives a wanted size.

Each axis is its own 1-D problem, answered with the op table itself, so the answer obeys
exactly the formulas and rules of ``convcalc layer``: the op runs on an input whose every axis
is a copy of the axis being solved, so rank rules (AvgPool3d's size rule, spatial_sepconv's
rank) apply as they would.

Why bisection is exact. For every op with a solvable key (the conv family, pooling, deconv,
pad, crop) and every key among k, p, s, d, op:

1. the values the op accepts form one interval. Once the search range is cut by the rules
   that bound a key from the other side (pooling: padding at most half the kernel, so
   ``k >= 2p`` and ``p <= k//2``; transposed conv: ``op < max(s, d)``), the values it rejects
   all lie at one end of the range, so the accepted interval's ends are found by bisection;
2. on that interval the output size is monotone in the key: the window formula
   ``floor((n + lo + hi - e + extra)/s) + 1`` with ``e = d*(k - 1) + 1`` (and ceil mode's
   ``extra = min(s - 1, e - 1 - hi)``) never grows with k, d or s and never falls with p
   ('same' makes it constant, 'full' makes it grow with k and d), and the transposed formula
   is linear in every key with a slope of the same sign everywhere.

So the values that give the wanted size are one interval (a unique value, a range, or none),
found by two more bisections: about 250 evaluations, whatever the sizes. Values run up to
``MAX_INT`` (2**62; convcalc refuses larger numbers), and an interval that reaches it is
reported as "N or more". The property tests compare the answer with a brute-force scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .core import Shape
from .errors import ConvcalcError, SpecError
from .spec import MAX_INT
from . import ops

SOLVABLE = ("k", "p", "s", "op", "d")  # the order in which the missing one is picked
LOWEST = {"k": 1, "s": 1, "d": 1, "p": 0, "op": 0}


@dataclass(frozen=True)
class Solution:
    key: str
    # per axis, the intervals of values that give the wanted size: (first, last), last None
    # when every larger value (up to MAX_INT) works too
    per_axis: tuple[tuple[tuple[int, int | None], ...], ...]


def missing_key(op: str, given: set[str]) -> str:
    opdef = ops.resolve(op)
    # sizes only: dropout's p is a probability, not a padding
    solvable = [key for key in SOLVABLE
                if key in opdef.keys and opdef.keys[key].kind in ("axes", "axes0", "pad")]
    if not solvable:
        other = [key for key in SOLVABLE if key in opdef.keys]
        raise SpecError(f"--out: {opdef.name} has none of k, p, s, d, op to solve for"
                        + (f" (its {', '.join(other)} is not a size)" if other else ""))
    for key in solvable:
        if key not in given:
            return key
    raise SpecError(f"--out: nothing to solve for: {opdef.name}'s "
                    + ", ".join(solvable) + " are all given", hint="leave out the one to find")


def solve(op: str, x: Shape, args: dict, wanted: tuple[int, ...], key: str) -> Solution:
    if any(not isinstance(n, int) for n in x.spatial):
        raise SpecError("--out needs a numeric --n")
    opdef = ops.resolve(op)
    per_axis = []
    for axis, (n, want) in enumerate(zip(x.spatial, wanted)):
        axis_args = {k: _pick(opdef, k, v, axis, x.rank) for k, v in args.items()}
        per_axis.append(_solve_axis(op, opdef, x.channels, x.rank, n, want, axis_args, key))
    missing = [i for i, found in enumerate(per_axis) if not found]
    if missing:
        where = "" if len(missing) == x.rank else \
            " along axis " + ", ".join(map(str, missing))
        wanted_text = "x".join(map(str, wanted)) if len(set(wanted)) > 1 else str(wanted[0])
        raise SpecError(f"no {key} gives output {wanted_text}{where}",
                        hint="change another hyper-parameter or the wanted size")
    return Solution(key, tuple(per_axis))


def _pick(opdef, key: str, value, axis: int, rank: int):
    """A per-axis key's value along one axis, on every axis of the input made of copies of
    that axis (a ``[lo, hi]`` pair stays a pair); other keys (out, g, mult, ...) as given."""
    spec = opdef.keys.get(ops.KEY_ALIASES.get(key, key))
    if spec is not None and spec.kind in ("axes", "axes0", "pad") \
            and isinstance(value, (list, tuple)):
        return [value[axis]] * rank
    return value


def _solve_axis(op, opdef, channels, rank, n, want, args, key):
    def size(value: int):
        """The output size along the axis for ``key = value``, or the error the op raises."""
        try:
            eff = ops.apply(op, Shape(channels, (n,) * rank), {**args, key: value},
                            lenient=True)
        except ConvcalcError as err:
            return err
        return eff.output.spatial[0]

    lo, hi = _search_range(opdef, key, args)
    if lo > hi:
        return ()
    at_lo, at_hi = size(lo), size(hi)
    bad_lo, bad_hi = isinstance(at_lo, ConvcalcError), isinstance(at_hi, ConvcalcError)
    if bad_lo and bad_hi:
        if at_lo.line() == at_hi.line():  # the error does not depend on the key: show it
            raise at_lo
        return ()
    # the rejected values lie at one end only (module docstring, 1.)
    if bad_lo:
        lo = _first(lo, hi, lambda v: not isinstance(size(v), ConvcalcError))
        at_lo = size(lo)
    elif bad_hi:
        hi = _first(lo, hi, lambda v: isinstance(size(v), ConvcalcError)) - 1
        at_hi = size(hi)
    # monotone on [lo, hi] (module docstring, 2.)
    if at_lo <= at_hi:
        first = _first(lo, hi, lambda v: size(v) >= want)
        past = _first(lo, hi, lambda v: size(v) > want)
    else:
        first = _first(lo, hi, lambda v: size(v) <= want)
        past = _first(lo, hi, lambda v: size(v) < want)
    last = hi if past is None else past - 1
    if first is None or first > last:
        return ()
    return ((first, None if last == MAX_INT else last),)


def _search_range(opdef, key: str, args: dict) -> tuple[int, int]:
    """The values to search, cut by the rules that bound ``key`` from the far side."""
    lo, hi = LOWEST[key], MAX_INT
    if key == "op":  # PyTorch: output_padding < stride or < dilation
        hi = max(_int(args, "s", 1), _int(args, "d", 1)) - 1
    if opdef.name in ops.HALF_KERNEL_PADDING:
        pad = _int(args, "p", 0)
        if key == "k":
            lo = max(lo, 2 * pad)
        elif key == "p":
            hi = _int(args, "k", 1) // 2
    return lo, hi


def _int(args: dict, key: str, default: int) -> int:
    """A given integer argument (through any alias), else ``default``: the largest of its
    numbers when it is given per axis (``_pick`` gives every axis the solved axis' value: a
    number or a ``[lo, hi]`` pair); values the op will reject (a mode string, a wrong type)
    are left to the op to report."""
    for spelled, value in args.items():
        if ops.KEY_ALIASES.get(spelled, spelled) == key:
            numbers = [v for v in _flat(value) if type(v) is int]
            return max(numbers) if numbers else default
    return default


def _flat(value):
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _flat(v)
    else:
        yield value


def _first(lo: int, hi: int, pred: Callable[[int], bool]) -> int | None:
    """The smallest v in [lo, hi] with pred(v), for pred false then true; None if never."""
    if lo > hi or not pred(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo
