"""Frozen records shared by every layer of convcalc, and the counting conventions.

- :class:`Shape`: per-sample tensor shape, channels first (channels may be unknown: ``None``).
- :class:`RFStep`: what one layer does to the receptive field along one axis.
- :class:`RF`: the receptive field relative to the network input (SPEC §4).
- :class:`Effect`: everything one op does to its input — the op table's return value.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd
from typing import Any

from .dims import Dim, fmt, is_symbolic, prod

# Stated once, printed with every report (README §Conventions carries the full table).
CONVENTIONS = (
    "shapes per sample, channels first, PyTorch's output-size rules; "
    "params = trainable weights, biases and norm affine (no running stats); "
    "MACs = multiply-accumulates of conv-like and linear ops only (torchvision's 'GFLOPS'); "
    "FLOPs = every multiply and add, conv/linear (2*cin/g*prod(k) - 1 + bias)*cout*prod(out), "
    "other ops by the per-element rules in the README; inference mode; "
    "receptive field per axis: size = largest span one output unit depends on, jump, "
    "start = centre of output unit 0's field"
)

# the line that ends a report; the full statement: `convcalc ops --conventions` (and README)
CONVENTIONS_SHORT = ("conventions: shapes per sample; MACs = conv/linear multiply-adds; FLOPs = "
                     "every multiply and add (full: convcalc ops --conventions)")


@dataclass(frozen=True)
class Shape:
    channels: int | None
    spatial: tuple[Dim, ...] = ()

    @property
    def rank(self) -> int:
        return len(self.spatial)

    @property
    def dims(self) -> tuple:
        return (self.channels, *self.spatial)

    def numel(self) -> Dim | None:
        return None if self.channels is None else self.channels * prod(self.spatial)

    def __str__(self) -> str:
        if type(self.channels) is int and all(type(x) is int for x in self.spatial):
            return "×".join(map(str, self.dims))
        if self.channels is None and self.spatial:  # `layer` without --cin: sizes only
            return self.spatial_text()
        return "×".join(_dim_text(x) for x in self.dims)

    def spatial_text(self) -> str:
        return "×".join(_dim_text(x) for x in self.spatial)


def _dim_text(x: Any) -> str:
    s = fmt(x)
    return f"({s})" if is_symbolic(x) and not getattr(x, "is_Symbol", False) else s


@dataclass(frozen=True)
class RFStep:
    """One layer's effect on the receptive field along one axis: which of its input units each
    of its output units reads, on an unbounded grid.

    Output unit ``o = r + m*period`` (``0 <= r < period``) reads the input units
    ``first + m*advance + i*step`` (``i < count``) of every progression ``(first, step, count)``
    in ``taps[r]``; a phase with no progressions reads nothing (a transposed conv's output
    between its taps). Conv and pool: period 1, advance s, one progression ``(-p_lo, d, k)``.
    ``period == 0`` marks a step that depends on a size not known as a number (UNKNOWN).

    ``grow``/``shift`` are the Araujo et al. recurrence of a period-1 step (``size +=
    grow*jump``, ``start += shift*jump``, ``jump *= advance``), exact on a field that moves in
    whole input units; ``None`` for longer periods. Build steps with :meth:`make`."""

    period: int = 1
    advance: int = 1
    taps: tuple = (((0, 1, 1),),)
    grow: Any = 0
    shift: Any = 0

    @classmethod
    def make(cls, period: int, advance: int, taps: tuple) -> "RFStep":
        if period == 1 and taps[0]:
            lo = min(f for f, _, _ in taps[0])
            hi = max(f + (c - 1) * t for f, t, c in taps[0])
            return cls(1, advance, taps, hi - lo, _half(lo + hi))
        return cls(period, advance, taps, None, None)

    @classmethod
    def window(cls, first, step: int, count, advance: int = 1) -> "RFStep":
        """Output unit o reads ``first + o*advance + i*step``, ``i < count`` (conv, pool)."""
        grow = (count - 1) * step
        return cls(1, advance, (((first, step if count > 1 else 1, count),),), grow,
                   _half(2 * first + grow))

    def then(self, other: "RFStep") -> "RFStep":
        """This step, then ``other`` (one closer to the output) as one step."""
        if other == IDENTITY:
            return self
        if self == IDENTITY:
            return other
        if not self.period or not other.period:
            return UNKNOWN
        p1, q1, p2, q2 = self.period, self.advance, other.period, other.advance
        g = gcd(q2, p1)
        period, advance = p2 * (p1 // g), q1 * (q2 // g)
        if period > MAX_PERIOD:
            return UNKNOWN
        taps = []
        for r in range(period):
            m, ph = divmod(r, p2)
            seqs = []
            for f, t, c in other.taps[ph]:
                for i in range(c):
                    m1, ph1 = divmod(f + m * q2 + i * t, p1)
                    seqs.extend((f1 + m1 * q1, t1, c1) for f1, t1, c1 in self.taps[ph1])
            taps.append(tuple(sorted(set(seqs))))
        return RFStep.make(period, advance, tuple(taps))


IDENTITY = RFStep()
UNKNOWN = RFStep(0, 0, (), None, None)

# Longest pattern of output units (per axis) tracked exactly; real networks stay far below it
# (a U-Net decoder of four stride-2 transposed convs: 16). Beyond it the field is unknown.
MAX_PERIOD = 1 << 14


@dataclass(frozen=True)
class RF:
    """Receptive field along each network-input axis (SPEC §4), on an unbounded input.

    ``size``: the largest span (last − first + 1) of input positions that one output unit
    depends on, over all output units; ``jump``: the distance in input positions between
    adjacent output units (an exact fraction after transposed convs); ``start``: the centre of
    output unit 0's field. ``whole`` marks fields that cover the entire input (after global
    pooling, flatten or linear). ``None`` on an axis: unknown (a field that depends on a
    symbolic size, or branches that move at different rates).

    ``pattern`` holds, per axis, the exact per-unit fields when they differ between units
    (after transposed convs and resizes): ``(P, Q, lo, hi, plain)`` — unit ``u = r + m*P``
    depends on input positions from ``lo[r] + m*Q`` to ``hi[r] + m*Q`` (``None``: on none);
    ``plain`` says both ends never decrease with ``u`` and no unit is empty. ``None`` for an
    axis whose units all see translates of one field (conv/pool stacks: the fast path)."""

    size: tuple
    jump: tuple
    start: tuple
    whole: bool = False
    pattern: tuple | None = field(default=None, compare=False, repr=False)

    @classmethod
    def identity(cls, rank: int) -> "RF":
        return cls((1,) * rank, (1,) * rank, (0,) * rank)

    def then(self, steps: tuple[RFStep, ...] | None, extent: tuple) -> "RF":
        """Compose with one layer; ``steps=None`` means the layer sees its whole input.
        ``extent`` is the network input's spatial size, used when the field becomes whole."""
        if self.whole:
            return self
        if steps is None:
            return RF.whole_input(extent)
        if all(st is IDENTITY for st in steps):
            return self
        if self.pattern is None and all(st.grow is not None for st in steps):
            # every unit sees a translate of one field: Araujo et al.'s recurrence is exact
            size, jump, start = [], [], []
            for r, j, c, st in zip(self.size, self.jump, self.start, steps):
                if r is None:
                    size.append(None), jump.append(None), start.append(None)
                    continue
                size.append(r + st.grow * j)
                start.append(_norm(c + st.shift * j))
                jump.append(j * st.advance)
            return RF(tuple(size), tuple(jump), tuple(start))
        return RF._of([None if pat is None else _compose(pat, st)
                       for pat, st in zip(self._patterns(), steps)])

    @classmethod
    def whole_input(cls, extent: tuple) -> "RF":
        return cls(tuple(extent), tuple(extent),
                   tuple(_norm(Fraction(1, 2) * (n - 1)) for n in extent), whole=True)

    def union(self, other: "RF") -> "RF":
        """The field of a unit that merges two branches: per output unit, the union of the
        positions either branch depends on (from the lower of the first positions to the
        higher of the last ones). Branches whose units move at different rates have no
        largest span on an unbounded input: unknown."""
        if self.whole:
            return self
        if other.whole:
            return other
        if self == other and self.pattern == other.pattern:
            return self
        if self.pattern is None and other.pattern is None:
            size, jump, start = [], [], []
            for r1, j1, c1, r2, j2, c2 in zip(self.size, self.jump, self.start,
                                              other.size, other.jump, other.start):
                if r1 is None or r2 is None or j1 != j2:
                    size.append(None), jump.append(None), start.append(None)
                    continue
                # every unit sees a translate of each branch's field: join the two intervals,
                # whose ends in doubled units (2c ± (r - 1)) are integers
                lo = min(2 * c1 - (r1 - 1), 2 * c2 - (r2 - 1))
                hi = max(2 * c1 + (r1 - 1), 2 * c2 + (r2 - 1))
                size.append(_half(hi - lo) + 1)
                start.append(_half(_half(lo + hi)))
                jump.append(j1)
            return RF(tuple(size), tuple(jump), tuple(start))
        return RF._of([_union(a, b) for a, b in zip(self._patterns(), other._patterns())])

    def _patterns(self) -> list:
        """Per axis: the exact per-unit pattern, or ``None`` when unknown."""
        own = self.pattern or (None,) * len(self.size)
        out = []
        for r, j, c, pat in zip(self.size, self.jump, self.start, own):
            if pat is None and r is not None:
                half = Fraction(r - 1, 2)
                pat = (1, j, (int(c - half),), (int(c + half),), True)
            out.append(pat)
        return out

    @classmethod
    def _of(cls, patterns: list) -> "RF":
        size, jump, start, kept = [], [], [], []
        for pat in patterns:
            if pat is None:
                size.append(None), jump.append(None), start.append(None), kept.append(None)
                continue
            p, q, lo, hi, _ = pat
            spans = [h - l + 1 for l, h in zip(lo, hi) if l is not None]
            size.append(max(spans) if spans else 0)
            jump.append(_norm(Fraction(q, p)))
            if lo[0] is not None:
                start.append(_half(lo[0] + hi[0]))
            elif spans:
                # unit 0 reads nothing: the midpoint between the last position read before it
                # and the first one read after it
                after = next(v for v in lo if v is not None)
                before = next(v for v in reversed(hi) if v is not None) - q
                start.append(_half(after + before))
            else:
                start.append(None)
            kept.append(None if p == 1 and lo[0] is not None else pat)
        return cls(tuple(size), tuple(jump), tuple(start),
                   pattern=tuple(kept) if any(k is not None for k in kept) else None)


def _at(table, p, q, u):
    """A pattern's table entry for unit ``u`` (``None``: the unit reads nothing)."""
    m, r = divmod(u, p)
    v = table[r]
    return None if v is None else v + m * q


def _compose(pat, st: RFStep):
    """The per-unit pattern after one more layer (``None`` when unknown). Exact: each new unit
    takes the lowest first and the highest last position over the units it reads."""
    if not st.period:
        return None
    p0, q0, lo0, hi0, plain = pat
    p1, q1 = st.period, st.advance
    g = gcd(q1, p0)
    period, advance = p1 * (p0 // g), q0 * (q1 // g)
    if period > MAX_PERIOD:
        return None
    lo, hi = [], []
    windows: dict = {}  # (t, n) -> the extremes of every window of n members, step t
    for r in range(period):
        m, ph = divmod(r, p1)
        first = last = None
        for f, t, c in st.taps[ph]:
            u = f + m * q1
            if plain:  # ends never decrease: the progression's ends give the extremes
                a, b = _at(lo0, p0, q0, u), _at(hi0, p0, q0, u + (c - 1) * t)
            else:
                # ends repeat, shifted up, every p0/gcd(t, p0) members: one cycle from each
                # end of the progression holds the lowest first and the highest last position
                n = min(c, p0 // gcd(t, p0))
                if (t, n) not in windows:
                    windows[t, n] = (_windows(lo0, p0, q0, t, n, True),
                                     _windows(hi0, p0, q0, t, n, False))
                least, most = windows[t, n]
                a = _at(least, p0, q0, u)
                b = _at(most, p0, q0, u + (c - n) * t)
            if a is not None:
                first = a if first is None or a < first else first
                last = b if last is None or b > last else last
        lo.append(first)
        hi.append(last)
    return _reduce(period, advance, lo, hi)


def _windows(table, p, q, t: int, n: int, least: bool) -> tuple:
    """For each unit y < p, the lowest (``least``) or highest table value over the units
    y, y + t, ..., y + (n - 1)*t, as a table of the same period (``None``: all read
    nothing). A sliding window along each cycle of +t (mod p): O(p), where taking each
    window in turn cost O(p*n) (a minute for a stride-16384 transposed conv before a wide
    kernel)."""
    out: list = [None] * p
    g = gcd(t, p)
    length = p // g  # the residues y, y + t, ... (mod p) visit length units before repeating
    better = (lambda x, y: x <= y) if least else (lambda x, y: x >= y)
    for s0 in range(g):
        xs = [s0 + j * t for j in range(length + n - 1)]
        vals = [_at(table, p, q, x) for x in xs]
        window: deque = deque()  # indices into vals, values monotone from best to worst
        for j in range(len(xs)):
            v = vals[j]
            if v is not None:
                while window and better(v, vals[window[-1]]):
                    window.pop()
                window.append(j)
            start = j - n + 1
            if start < 0:
                continue
            while window and window[0] < start:
                window.popleft()
            if start < length:
                x = xs[start]
                k, y = divmod(x, p)
                out[y] = None if not window else vals[window[0]] - k * q
    return tuple(out)


def _union(a, b):
    if a is None or b is None:
        return None
    pa, qa, loa, hia, _ = a
    pb, qb, lob, hib, _ = b
    if qa * pb != qb * pa:
        return None
    period = pa * pb // gcd(pa, pb)
    if period > MAX_PERIOD:
        return None
    advance = qa * (period // pa)
    lo = [_least((_at(loa, pa, qa, r), _at(lob, pb, qb, r))) for r in range(period)]
    hi = [_most((_at(hia, pa, qa, r), _at(hib, pb, qb, r))) for r in range(period)]
    return _reduce(period, advance, lo, hi)


def _least(values):
    return min((v for v in values if v is not None), default=None)


def _most(values):
    return max((v for v in values if v is not None), default=None)


def _reduce(period: int, advance: int, lo: list, hi: list):
    """The pattern with its shortest period, and whether it is plain."""
    f = 2
    while f <= period:
        shorter = period // f
        if period % f == 0 and advance % f == 0 and all(
                _shifted(t[r], t[r + shorter], advance // f)
                for t in (lo, hi) for r in range(period - shorter)):
            period, advance = shorter, advance // f
            lo, hi = lo[:period], hi[:period]
            continue
        f += 1
    plain = None not in lo and all(
        t[r] <= t[r + 1] for t in (lo, hi) for r in range(period - 1)) and all(
        t[-1] <= t[0] + advance for t in (lo, hi))
    return period, advance, tuple(lo), tuple(hi), plain


def _shifted(a, b, by) -> bool:
    return a is None and b is None or a is not None and b is not None and b == a + by


def _half(x):
    if type(x) is int and not x % 2:
        return x // 2
    return _norm(Fraction(1, 2) * x)


def _norm(x):
    """Keep whole numbers as ints so they print and serialise as ints."""
    if isinstance(x, Fraction) and x.denominator == 1:
        return int(x)
    if is_symbolic(x):
        from .dims import simplify_int
        return simplify_int(x)
    return x


@dataclass(frozen=True)
class Effect:
    """What one op does: its output shape, cost, receptive-field step and the formulas used.

    ``params``/``macs``/``flops`` are ``None`` when they depend on an unknown channel count.
    ``parts`` lists the visible sub-layers of compound ops (sepconv's depthwise and pointwise)."""

    output: Shape
    params: int | None = 0
    macs: Dim | None = 0
    flops: Dim | None = 0
    rf: tuple[RFStep, ...] | None = ()
    formulas: tuple[str, ...] = ()
    parts: tuple[tuple[str, "Effect"], ...] = field(default=())
