"""Threads shapes, costs and receptive fields through layers.

``layer_report`` is the one-layer case behind ``convcalc layer``; networks (``walk``) build
on the same composition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .core import RF, Effect, Shape
from . import ops


@dataclass(frozen=True)
class LayerReport:
    op: str
    args: dict[str, Any]
    input: Shape
    effect: Effect
    rf: RF

    @property
    def output(self) -> Shape:
        return self.effect.output


def layer_report(op: str, x: Shape, args: dict[str, Any], *, lenient: bool = True) -> LayerReport:
    """One layer on input ``x``: the op table's effect plus the receptive field relative to
    ``x`` itself."""
    effect = ops.apply(op, x, args, lenient=lenient)
    rf = RF.identity(x.rank).then(effect.rf, x.spatial)
    return LayerReport(ops.resolve(op).name, dict(args), x, effect, rf)
