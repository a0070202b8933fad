"""``convcalc diff``: what changed between two versions of an architecture.

Rows are aligned as sequences (difflib) on (op, name) so that inserting a layer shows as one
added row instead of shifting every later path; aligned rows report their deltas.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RowChange:
    kind: str  # changed | added | removed
    old: Any  # Row or None
    new: Any  # Row or None

    def delta(self, attr: str) -> Any:
        a = 0 if self.old is None else getattr(self.old, attr)
        b = 0 if self.new is None else getattr(self.new, attr)
        return None if a is None or b is None else b - a


@dataclass(frozen=True)
class NetDiff:
    old: Any  # Report
    new: Any
    changes: tuple[RowChange, ...]

    def total_delta(self, key: str) -> Any:
        a, b = self.old.totals[key], self.new.totals[key]
        return None if a is None or b is None else b - a


def _key(row) -> tuple:
    return (row.op, row.name)


def _differs(a, b) -> bool:
    return (str(a.output) != str(b.output) or str(a.input) != str(b.input)
            or a.params != b.params or a.macs != b.macs)


def diff_reports(old, new) -> NetDiff:
    a, b = old.rows, new.rows
    matcher = difflib.SequenceMatcher(a=[_key(r) for r in a], b=[_key(r) for r in b],
                                      autojunk=False)
    changes: list[RowChange] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for ra, rb in zip(a[i1:i2], b[j1:j2]):
                if _differs(ra, rb):
                    changes.append(RowChange("changed", ra, rb))
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for ra, rb in zip(a[i1:i2], b[j1:j2]):
                changes.append(RowChange("changed", ra, rb))
        else:
            changes.extend(RowChange("removed", r, None) for r in a[i1:i2])
            changes.extend(RowChange("added", None, r) for r in b[j1:j2])
    return NetDiff(old, new, tuple(changes))
