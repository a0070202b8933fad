"""Exporters: a parsed YAML network (and its walk) → code for another framework (SPEC §7).

Exporters only read the spec and the walk's :class:`~convcalc.walk.Report`; they never import
the target framework (the code they write does).
"""

from __future__ import annotations

TARGETS = ("torch",)


def export(net, report, to: str):
    """The exported code for ``to`` (one of :data:`TARGETS`)."""
    from ..errors import SpecError

    if to != "torch":
        raise SpecError(f"--to: unknown target {to!r}", hint=f"targets: {', '.join(TARGETS)}")
    from .torch import export_torch

    return export_torch(net, report)
