"""Which input sizes a network accepts (SPEC §6): the exact rule, from the one walk.

A size ``n`` is *valid* when PyTorch would run the network on it with the weights built for
the reference (declared) input: every layer's output is at least 1 (the op table's own checks:
kernel larger than the padded input, crops that leave nothing, AvgPool3d, ceil-mode windows,
…), every merge receives equal sizes, and every layer's parameter count equals the one at the
reference size (a ``linear`` after ``flatten`` is built for one number of features).

Why the rule is exact (the README's "Why the rule is exact" says the same in prose):

1. *Period.* Every op maps an input size ``x`` to ``floor((x + c)/s) + 1`` (conv and pooling,
   stride ``s``; ceil mode and its last-window rule too), ``x*r + c`` (transposed conv,
   upsampling by a scale, pixel shuffle; ``r`` an integer), ``x + c`` (crop, pad, the rest), or
   a constant (adaptive pooling, global pooling, upsampling to a size). Track for each tensor
   a slope ``A`` (a fraction) and a period ``T`` with ``A*T`` an integer: a stride ``s`` needs
   ``T' = T*s/gcd(A*T, s)``, so that ``x`` grows by a multiple of ``s`` per period, and then the
   floor is exact: ``floor((x + A*T' + c)/s) = floor((x + c)/s) + A*T'/s``. So on every class
   ``n ≡ r (mod P)``, ``P`` the lcm of all periods, every size in the network is exactly
   affine in ``n``, with a slope ``A ≥ 0``. The strides and scale factors are the op table's
   own: each op's receptive-field step says which inputs an output unit reads (``advance`` =
   the stride, ``period`` = the scale), so nothing is restated here.
2. *Per class.* The op checks hold on an up-set of each class: sizes never decrease with
   ``n`` (slopes ≥ 0) and no op accepts an input and rejects a larger one. Merges compare
   two affine functions: equal everywhere, nowhere, or at one point. A weight shape compares a
   feature count (a product of sizes, strictly increasing once it varies) with a constant:
   everywhere, nowhere, or at one point. So each class holds either every size from its first
   valid one on, or at most one size, or none.
3. *Computing it.* For each class, the first size the op checks accept is found by doubling
   and bisection (the checks are monotone); walks at it and at the next ``rank`` sizes of the
   class give every condition's values at ``rank + 1`` points (a feature count is a product
   of at most ``rank`` affine sizes: a polynomial of degree ≤ rank). All hold at all points:
   they hold on the whole class. Otherwise the failing condition's one possible point is
   solved exactly (two affine values: their crossing; a monotone count: bisection) and
   walked. Every answer is a walk of convcalc's one walker (``walk.walk``), and the rule is
   exact for every n up to ``NMAX`` (sizes beyond are refused as mistakes, like the walk's
   2**62).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd
from typing import Any

from . import ops
from .core import Shape
from .errors import ConvcalcError, Loc, SpecError
from .ops import AXIS_NAMES
from .walk import INPUT, Report, input_shape, walk

NMAX = 2**40  # the largest input size the analysis considers (README)
MAX_RANGE = 1_000_000  # sizes listed by one --range
FIXED_OUTPUT = ("adaptive_avgpool", "adaptive_maxpool")  # output size is an argument
MERGE_OPS = ("add", "concat", "mul")


@dataclass
class Probe:
    """One lenient walk at input size n: ``report`` None when an op check failed."""

    n: int
    report: Report | None
    error: ConvcalcError | None
    merges: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report is not None


@dataclass(frozen=True)
class Near:
    n: int
    output: Shape
    drops: bool


@dataclass(frozen=True)
class Sizes:
    """The exact set of valid sizes: every n ≥ ``min`` with ``n % period`` in ``residues``,
    plus ``isolated``; ``period`` None when the set is finite (then ``isolated`` is all of it).
    ``start``/``first`` give the one-residue form ``n = period*m + start, m ≥ first``."""

    file: str
    axis: str  # "all" or the axis name
    axes: tuple[str, ...]  # the names of the axes that vary
    period: int | None
    residues: tuple[int, ...]
    min: int | None
    isolated: tuple[int, ...]
    start: int | None = None
    first: int | None = None
    drops: frozenset = frozenset()  # residues (mod the full period) where a stride drops pixels
    drop_isolated: frozenset = frozenset()
    full_period: int = 1
    reference: tuple | None = None  # the sizes the weights were built for, if they matter

    def text(self, var: str = "n", ascii: bool = False) -> str:
        """The exact rule as one line: ``n = 16·m + 124, m ≥ 4 (188, 204, 220, …)``,
        ``n ≡ 0, 1 (mod 8), n ≥ 8``, ``100 ≤ n ≤ 131``, ``every n ≥ 33`` or ``none``;
        isolated sizes follow as ``or n = 5, 7``. ``ascii``: ``*``, ``>=``, ``<=``, ``...``."""
        dot, ge, le, ell, eq = (("*", ">=", "<=", "...", "==") if ascii
                                else ("·", "≥", "≤", "…", "≡"))
        if self.period is None:
            vals = list(self.isolated)
            if not vals:
                return "none"
            if len(vals) == 1:
                return f"{var} = {vals[0]}"
            if vals == list(range(vals[0], vals[-1] + 1)):
                return f"{vals[0]} {le} {var} {le} {vals[-1]}"
            return f"{var} = " + ", ".join(map(str, vals))
        if self.period == 1:
            text = f"every {var} {ge} {self.min}"
        elif len(self.residues) == 1:
            c = self.start
            term = f"{self.period}{dot}m" + ("" if c == 0 else f" + {c}" if c > 0
                                             else f" - {-c}")
            first = [self.period * (self.first + i) + c for i in range(3)]
            text = (f"{var} = {term}, m {ge} {self.first} (" + ", ".join(map(str, first))
                    + f", {ell})")
        else:
            text = (f"{var} {eq} " + ", ".join(map(str, self.residues))
                    + f" (mod {self.period}), {var} {ge} {self.min}")
        if self.isolated:
            text += f", or {var} = " + ", ".join(map(str, self.isolated))
        return text

    def valid(self, n: int) -> bool:
        if n in self.isolated:
            return True
        return (self.period is not None and n >= self.min
                and n % self.period in self.residues)

    def in_range(self, lo: int, hi: int) -> list[int]:
        out = [n for n in self.isolated if lo <= n <= hi]
        if self.period is not None:
            start = max(lo, self.min)
            for r in self.residues:
                first = start + (r - start) % self.period
                out.extend(range(first, hi + 1, self.period))
        return sorted(set(out))

    def drops_at(self, n: int) -> bool:
        if n in self.drop_isolated:
            return True
        return n not in self.isolated and n % self.full_period in self.drops

    def below(self, n: int) -> int | None:
        best = [v for v in self.isolated if v <= n]
        if self.period is not None and n >= self.min:
            for r in self.residues:
                v = n - (n - r) % self.period
                if v >= self.min:
                    best.append(v)
        return max(best, default=None)

    def above(self, n: int) -> int | None:
        best = [v for v in self.isolated if v >= n]
        if self.period is not None:
            start = max(n, self.min)
            best.extend(start + (r - start) % self.period for r in self.residues)
        return min(best, default=None)


class _Analysis:
    def __init__(self, net, axis: str, override, sets: dict[str, int]) -> None:
        self.net = net
        declared = input_shape(net, override, sets)
        symbolic = input_shape(net, override, {k: v for k, v in sets.items() if k in net.vars})
        if declared.rank == 0:
            raise SpecError(f"the input {_input_text(declared)} has no spatial axes: "
                            "sizes are about spatial inputs", loc=Loc(net.file))
        self.declared = declared
        names = _axis_names(symbolic)
        if axis == "all":
            self.vary = tuple(range(declared.rank))
        else:
            if axis not in names:
                raise SpecError(f"--axis {axis}: the input {_input_text(declared)} has no "
                                f"axis {axis} (its axes: {', '.join(names)})",
                                hint="name one of them, or leave --axis out to vary all")
            self.vary = (names.index(axis),)
            for i, d in enumerate(declared.spatial):
                if i not in self.vary and not isinstance(d, int):
                    raise SpecError(f"--axis {axis}: the other axes need sizes, but "
                                    f"{names[i]} is symbolic",
                                    hint=f"give it one: --set {_symbol(d) or names[i]}=…")
        self.axis = axis
        self.names = tuple(names[i] for i in self.vary)
        # the probes bind the input through --input; --set keeps only the vars
        self.sets = {k: v for k, v in sets.items() if k in net.vars}
        self.probes: dict[int, Probe] = {}
        self.reference_params: tuple | None = None

    # -- walking --------------------------------------------------------------------------

    def dims(self, n: int) -> list:
        spatial = [n if i in self.vary else d for i, d in enumerate(self.declared.spatial)]
        return [self.declared.channels, *spatial]

    def probe(self, n: int) -> Probe:
        hit = self.probes.get(n)
        if hit is None:
            merges: list = []
            try:
                report = walk(self.net, input_override=self.dims(n), sets=self.sets,
                              merges=merges)
                hit = Probe(n, report, None, merges)
            except ConvcalcError as err:
                hit = Probe(n, None, err, merges)
            self.probes[n] = hit
        return hit

    def conditions(self, p: Probe) -> list[tuple[Any, Any, bool]]:
        """(left, right, affine) — the pairs that must be equal at a valid size; ``affine``:
        both are sizes (affine on a class), not counts (polynomials)."""
        out: list[tuple[Any, Any, bool]] = []
        for _, how, shapes in p.merges:
            first = shapes[0]
            for s in shapes[1:]:
                if s.rank != first.rank:
                    out.append((0, 1, True))
                    continue
                if how != "concat":
                    out.append((first.channels, s.channels, first.rank > 0))
                out.extend((a, b, True) for a, b in zip(first.spatial, s.spatial))
        if self.reference_params is not None:
            out.extend((row.params, ref, False)
                       for row, ref in zip(p.report.rows, self.reference_params))
        return out

    def valid(self, p: Probe) -> bool:
        return p.ok and all(a == b for a, b, _ in self.conditions(p))

    # -- the period -----------------------------------------------------------------------

    def period(self, report: Report) -> tuple[int, list]:
        """The lcm of every tensor's period (module docstring, step 1), and each row's slopes
        on the varying axes."""
        state: dict[int, list] = {INPUT: [(Fraction(1), 1) if i in self.vary else
                                           (Fraction(0), 1)
                                           for i in range(report.input.rank)]}
        period = 1
        slopes = []
        for row in report.rows:
            ins = [state[s] for s in row.reads]
            if row.output.rank == 0:
                state[row.index] = []
                slopes.append(())
                continue
            if row.op in MERGE_OPS:
                first = ins[0]
                t = [1] * len(first)
                for st in ins:
                    t = [_lcm(a, b[1]) for a, b in zip(t, st)] if len(st) == len(t) else t
                out = [(a, ti) for (a, _), ti in zip(first, t)]
            else:
                x = ins[0]
                if len(x) != row.output.rank:  # rank-changing op: sizes from nothing
                    x = [(Fraction(0), 1)] * row.output.rank
                steps = self.steps(row)
                out = []
                for i, (a, t) in enumerate(x):
                    step = None if steps is None else steps[i]
                    if step is None or a == 0:
                        out.append((Fraction(0), 1) if step is None else (a, t))
                        continue
                    adv, per = step.advance, step.period
                    t2 = t * adv // gcd(int(a * t), adv)
                    out.append((a * per / adv, t2))
            state[row.index] = out
            for _, t in out:
                period = _lcm(period, t)
            slopes.append(tuple(out[i][0] for i in self.vary if i < len(out)))
        return period, slopes

    def steps(self, row):
        """The op's receptive-field steps (stride = advance, scale = period), or None on the
        axes where the output size does not depend on the input size."""
        if row.op in FIXED_OUTPUT:
            return None
        if row.op == "upsample":
            # out = n*scale (PyTorch's Upsample with an integer scale_factor); the field's
            # step with align_corners has a size-dependent period, not the scale
            args = {ops.KEY_ALIASES.get(k, k): v for k, v in row.args}
            scale = args.get("scale")
            if scale is None:
                return None  # to a size
            scale = scale if isinstance(scale, (list, tuple)) else [scale] * row.input.rank
            return tuple(_Scale(r) for r in scale)
        effect = ops.apply(row.op, row.input, dict(row.args))
        return effect.rf  # None: sees its whole input (gap, gmp): output size 1

    # -- pixels a stride drops ------------------------------------------------------------

    def drops(self, p: Probe) -> bool:
        """A floor that is not exact: the last window of a strided conv or pool ends before
        the input does, so trailing input pixels are never read."""
        for row in p.report.rows:
            if row.op in MERGE_OPS or row.input.rank == 0 or row.op in FIXED_OUTPUT:
                continue
            steps = self.steps(row)
            if steps is None:
                continue
            for i in self.vary:
                if i >= len(steps):
                    continue
                st = steps[i]
                if st.period != 1 or st.advance <= 1 or not st.taps[0]:
                    continue
                last = max(f + (c - 1) * t for f, t, c in st.taps[0])
                last += (row.output.spatial[i] - 1) * st.advance
                if last < row.input.spatial[i] - 1:
                    return True
        return False

    # -- the rule -------------------------------------------------------------------------

    def first_ok(self, r: int, period: int) -> int | None:
        """The smallest n ≡ r (mod period) the op checks accept (they hold on an up-set)."""
        base = r if r > 0 else period
        if self.probe(base).ok:
            return base
        lo, k = 0, 1
        while base + k * period <= NMAX:
            if self.probe(base + k * period).ok:
                break
            lo, k = k, k * 2
        else:
            return None
        hi = k
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.probe(base + mid * period).ok:
                hi = mid
            else:
                lo = mid
        return base + hi * period

    def solve_class(self, r: int, period: int, degree: int):
        """('all', t): every n ≥ t of the class; ('one', n); or ('none', None)."""
        t = self.first_ok(r, period)
        if t is None:
            return "none", None
        pts = [self.probe(t + j * period) for j in range(degree + 1)]
        for p in pts:
            if not p.ok:  # beyond NMAX or the walk's own 2**62 limit
                return ("one", t) if self.valid(pts[0]) else ("none", None)
        conds = [self.conditions(p) for p in pts]
        for c in range(len(conds[0])):
            values = [cs[c] for cs in conds]
            if all(a == b for a, b, _ in values):
                continue
            k = self.crossing(values, t, period, c)
            if k is None:
                return "none", None
            n = t + k * period
            return ("one", n) if self.valid(self.probe(n)) else ("none", None)
        return "all", t

    def crossing(self, values, t, period, c) -> int | None:
        """The one k ≥ 0 where condition c can hold on the class (docstring, step 3)."""
        (a0, b0, affine), (a1, b1, _) = values[0], values[1]
        if affine or len(values) == 2:
            g0, g1 = a0 - b0, a1 - b1
            if g0 == g1 or (-g0) % (g1 - g0) or -g0 // (g1 - g0) < 0:
                return None
            return -g0 // (g1 - g0)
        lefts, rights = [v[0] for v in values], [v[1] for v in values]
        if len(set(rights)) == 1:
            side, target = 0, rights[0]
        elif len(set(lefts)) == 1:
            side, target = 1, lefts[0]
        else:
            raise SpecError("the network merges two size-dependent counts (flattened "
                            "tensors); convcalc cannot state its sizes for all axes at once",
                            loc=Loc(self.net.file), hint="vary one axis: --axis NAME")
        if len({v[side] for v in values}) == 1:
            return None  # constant and unequal

        def at(k):
            p = self.probe(t + k * period)
            if not p.ok:
                return None
            return self.conditions(p)[c][side]
        # strictly increasing in k: bisection
        if at(0) > target:
            return None
        lo, hi = 0, 1
        while True:
            v = at(hi)
            if v is None:
                return None
            if v >= target:
                break
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if at(mid) >= target:
                hi = mid
            else:
                lo = mid
        return hi if at(hi) == target else (lo if at(lo) == target else None)

    def run(self) -> Sizes:
        # any walk the op checks accept gives the strides; the largest sizes are surest
        seed = None
        for n in (2**20, 2**12, 2**30, 256):
            p = self.probe(n)
            if p.ok:
                seed = p
                break
        if seed is None:
            err = self.probe(2**20).error
            raise err  # no size at all: the walk's own message says why
        full, slopes = self.period(seed.report)
        degree = len(self.vary)
        # weights that depend on the size: compare with the reference
        other = self.probe(seed.n + full)
        if other.ok and any(a.params != b.params for a, b in zip(seed.report.rows,
                                                                   other.report.rows)):
            self.reference_params = self.reference(seed, other)
        classes = {r: self.solve_class(r, full, degree) for r in range(full)}
        return self.assemble(classes, full, slopes)

    def reference(self, seed: Probe, other: Probe) -> tuple:
        row = next(a for a, b in zip(seed.report.rows, other.report.rows)
                   if a.params != b.params)
        sizes = [self.declared.spatial[i] for i in self.vary]
        if not all(isinstance(d, int) for d in sizes):
            names = ", ".join(_symbol(d) or "?" for d in sizes if not isinstance(d, int))
            raise SpecError(f"{row.op} ({row.path}) has weights that depend on the input "
                            f"size, and the input is symbolic: no size to build them for",
                            loc=row.loc, hint=f"give the size they were built for: --set "
                                              f"{names.split(', ')[0]}=… (or --input)")
        ref = walk(self.net, input_override=list(self.declared.dims), sets=self.sets)
        self.reference_sizes = tuple(sizes)
        return tuple(r.params for r in ref.rows)

    def assemble(self, classes, full: int, slopes) -> Sizes:
        ups = {r: t for r, (kind, t) in classes.items() if kind == "all"}
        singles = sorted(n for kind, n in classes.values() if kind == "one")
        drops = frozenset(r for r, t in ups.items() if self.drops(self.probe(t)))
        drop_isolated = frozenset(n for n in singles if self.drops(self.probe(n)))
        ref = getattr(self, "reference_sizes", None)
        common = dict(file=self.net.file, axis=self.axis, axes=self.names, drops=drops,
                      full_period=full, reference=ref)
        if not ups:
            return Sizes(period=None, residues=(), min=None, isolated=tuple(singles),
                         drop_isolated=drop_isolated, **common)

        def valid(n):
            return (n % full in ups and n >= ups[n % full]) or n in singles
        period = full
        for d in sorted(_divisors(full)):
            if all((r % d in {u % d for u in ups}) == (r in ups) for r in range(full)):
                period = d
                break
        residues = tuple(sorted({r % period for r in ups}))
        m = max(ups.values())
        while m > 1 and valid(m - 1) == ((m - 1) % period in residues):
            m -= 1
        while m % period not in residues:
            m += 1
        isolated = tuple(sorted({n for n in range(1, m) if valid(n)}
                                | {n for n in singles if n >= m}))
        start = first = None
        if len(residues) == 1 and period > 1:
            start, first = self.progression(m, period, slopes)
        return Sizes(period=period, residues=residues, min=m, isolated=isolated,
                     start=start, first=first, drop_isolated=drop_isolated, **common)

    def progression(self, m: int, period: int, slopes) -> tuple[int, int]:
        """n = period*x + start, with x the size of the last tensor whose slope is
        1/period (U-Net: the bottom of the U), else x = (n - n % period)/period."""
        report = self.probe(m).report
        for row, sl in zip(reversed(report.rows), reversed(slopes)):
            if sl and all(s == Fraction(1, period) for s in sl):
                x = row.output.spatial[self.vary[0]]
                return m - period * x, x
        return m % period, m // period


def analyse(net, *, axis: str = "all", input_override: list | None = None,
            sets: dict[str, int] | None = None) -> Sizes:
    """The exact set of valid input sizes of ``net`` along ``axis`` ("all": every spatial
    axis takes the same size)."""
    return _Analysis(net, axis, input_override, sets or {}).run()


def near(net, sizes: Sizes, n: int, *, input_override=None, sets=None) -> list[Near]:
    """The valid sizes closest to n from below and above (one entry if n is valid), each
    with the output shape it gives."""
    a = _Analysis(net, sizes.axis, input_override, sets or {})
    out = []
    for v in dict.fromkeys(x for x in (sizes.below(n), sizes.above(n)) if x is not None):
        report = walk(net, input_override=a.dims(v), sets=a.sets)
        out.append(Near(v, report.output, sizes.drops_at(v)))
    return out


def nearest_valid(sizes: Sizes, n: int) -> int | None:
    """The valid size closest to n (the smaller one on a tie)."""
    lo, hi = sizes.below(n), sizes.above(n)
    if lo is None or hi is None:
        return lo if hi is None else hi
    return lo if n - lo <= hi - n else hi


# -- helpers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Scale:
    """An integer upsampling along one axis, as the period/advance of a field step."""

    period: int
    advance: int = 1
    taps: tuple = ((),)


def _lcm(a: int, b: int) -> int:
    return a * b // gcd(a, b)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0] if n < 10**6 else [n]


def _symbol(d) -> str | None:
    return str(d) if getattr(d, "is_Symbol", False) else None


def _axis_names(declared: Shape) -> list[str]:
    """An axis is named by its symbol (input: [1, H, W]) or by its position's name."""
    symbols = [_symbol(d) for d in declared.spatial]
    positional = AXIS_NAMES[declared.rank]
    return [sym or (positional[i] if positional[i] not in symbols else f"axis {i + 1}")
            for i, sym in enumerate(symbols)]


def _input_text(shape: Shape) -> str:
    from .dims import fmt

    return "[" + ", ".join(fmt(d) for d in shape.dims) + "]"


def symbol_rules(net, *, input_override: list | None = None,
                 sets: dict[str, int] | None = None) -> list[tuple[str, Sizes]] | None:
    """For ``net``'s symbolic walk: the valid sizes of each input symbol (an axis given as a
    plain name, ``input: [1, H, W]``), the other axes held at a size valid for all of them
    (every op acts on each axis separately, so one axis's rule does not depend on which valid
    size the others take). None when the input is not one symbol per axis, or when the
    analysis needs what it does not have (a reference size): then the walk's assumptions
    stand."""
    sets = dict(sets or {})
    try:
        symbolic = input_shape(net, input_override, sets)
        names = [_symbol(d) for d in symbolic.spatial]
        if not names or None in names or len(set(names)) != len(names):
            return None
        diagonal = analyse(net, input_override=input_override, sets=sets)
        n0 = diagonal.above(1)
        if n0 is None:
            return [(name, diagonal) for name in names]
        out = []
        for name in names:
            others = {k: n0 for k in names if k != name}
            out.append((name, analyse(net, axis=name, input_override=input_override,
                                      sets={**sets, **others})))
        return out
    except ConvcalcError:
        return None
