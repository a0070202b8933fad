"""Frozen records shared by every layer of convcalc, and the counting conventions.

- :class:`Shape`: per-sample tensor shape, channels first (channels may be unknown: ``None``).
- :class:`RFStep`: what one layer does to the receptive field along one axis.
- :class:`RF`: the receptive field of the first output unit, relative to the network input.
- :class:`Effect`: everything one op does to its input — the op table's return value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .dims import Dim, fmt, is_symbolic, prod

# Stated once, printed with every report (README §Conventions carries the full table).
CONVENTIONS = (
    "shapes per sample, channels first, PyTorch's output-size rules; "
    "params = trainable weights, biases and norm affine (no running stats); "
    "MACs = multiply-accumulates of conv-like and linear ops only (torchvision's 'GFLOPS'); "
    "FLOPs = every multiply and add, conv/linear (2*cin/g*prod(k) - 1 + bias)*cout*prod(out), "
    "other ops by the per-element rules in the README; inference mode; "
    "receptive field of the first output unit: size, jump, start (centre) per axis"
)


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
        return "×".join(_dim_text(x) for x in self.dims)

    def spatial_text(self) -> str:
        return "×".join(_dim_text(x) for x in self.spatial)


def _dim_text(x: Any) -> str:
    s = fmt(x)
    return f"({s})" if is_symbolic(x) and not getattr(x, "is_Symbol", False) else s


@dataclass(frozen=True)
class RFStep:
    """One layer's effect on the receptive field along one axis, in units of the input jump:
    ``size += grow*jump``; ``start += shift*jump``; ``jump *= scale``."""

    grow: Fraction | int = 0
    scale: Fraction | int = 1
    shift: Fraction | int = 0


IDENTITY = RFStep()


@dataclass(frozen=True)
class RF:
    """Receptive field of the first output unit along each network-input axis.

    ``size`` is the span of input positions it can depend on, ``jump`` the distance in input
    positions between adjacent output units (a fraction after transposed convs), ``start`` the
    centre of the field in input coordinates. ``whole`` marks fields that cover the entire input
    (after global pooling, flatten or linear)."""

    size: tuple
    jump: tuple
    start: tuple
    whole: bool = False

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
        size, jump, start = [], [], []
        for r, j, c, st in zip(self.size, self.jump, self.start, steps):
            size.append(_norm(r + st.grow * j))
            start.append(_norm(c + st.shift * j))
            jump.append(_norm(j * st.scale))
        return RF(tuple(size), tuple(jump), tuple(start))

    @classmethod
    def whole_input(cls, extent: tuple) -> "RF":
        return cls(tuple(extent), tuple(extent),
                   tuple(_norm(Fraction(1, 2) * (n - 1)) for n in extent), whole=True)

    def union(self, other: "RF") -> "RF":
        """The field of a unit that merges two branches: the union of their intervals.
        Branches meet at equal spatial sizes, so their jumps agree; the coarser is kept."""
        if self.whole:
            return self
        if other.whole:
            return other
        if self == other:
            return self
        size, jump, start = [], [], []
        for r1, j1, c1, r2, j2, c2 in zip(self.size, self.jump, self.start,
                                          other.size, other.jump, other.start):
            # interval ends in doubled units (2c ± (r - 1)) stay integers for integer fields
            lo = _min(2 * c1 - (r1 - 1), 2 * c2 - (r2 - 1))
            hi = _max(2 * c1 + (r1 - 1), 2 * c2 + (r2 - 1))
            size.append(_half(hi - lo) + 1)
            start.append(_half(_half(lo + hi)))
            jump.append(_max(j1, j2))
        return RF(tuple(size), tuple(jump), tuple(start))


def _min(a, b):
    return a if (is_symbolic(a) or is_symbolic(b) or a <= b) else b


def _max(a, b):
    return a if (is_symbolic(a) or is_symbolic(b) or a >= b) else b


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
