"""``convcalc diff``: what changed between two versions of an architecture.

The two walks' rows are aligned by structure and names before numbers, so that one inserted
layer is one added row (plus the rows whose numbers really change) and not a shift of every
later row. The alignment is a minimum-cost edit script (Wagner–Fischer dynamic programming)
over the rows in walk order:

- removing or adding a row costs 1;
- two rows can be paired only when they have the same op; pairing costs 0 when they are the
  same layer, 1.5 when their arguments differ (``k: 3 → 5``; so two swapped layers are a
  move — one removed, one added — not two changed rows), 1 when the layer moved into another
  branch of a residual or parallel structure, 0.3 when its ``name:`` differs; a pairing that
  costs 2 or more is never better than a removal plus an addition;
- ties are broken towards rows in the same blocks, with the same input and output shapes and
  at the same path (``times: 3`` → ``times: 2`` removes the last repetition).

Arguments are compared as PyTorch sees them (aliases resolved, defaults filled in, ``k: 3``
equal to ``k: [3, 3]``). Block calls are macros: moving layers into a block, or renaming a
block, changes no layer. A paired row is reported as changed when its name, arguments,
structural place, input or output shape, params, MACs or FLOPs differ, with each difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import ops
from .errors import ConvcalcError

# costs, in thousandths of a removal
REMOVE = 1000
ARGS = 1500
MOVED = 1000
NAME = 300
BLOCKS = 40
SHAPES = 20
PATH = 10
NEVER = 2 * REMOVE  # a pairing this expensive is a removal plus an addition

MAX_CELLS = 500_000  # the dynamic programme's table; beyond it equal rows anchor it first
MAX_STEPS = 20_000_000  # Myers' diff: (rows) × (removals + additions) budget
MIN_EDITS = 100
STRUCTURES = ("residual", "parallel")


@dataclass(frozen=True)
class Field:
    """One difference of a changed row: ``field`` is ``name``, ``path``, ``args.KEY``,
    ``input``, ``output``, ``params``, ``macs`` or ``flops``."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class RowChange:
    kind: str  # changed | added | removed
    old: Any  # Row or None
    new: Any  # Row or None
    fields: tuple[Field, ...] = ()

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


# -- what a row is ----------------------------------------------------------------------------

class _Layer:
    """The features of one row that the alignment compares."""

    __slots__ = ("row", "op", "args", "shown", "name", "place", "blocks", "shapes", "path",
                 "key")

    def __init__(self, row) -> None:
        self.row = row
        self.op = row.op
        self.args, self.shown, args_key = _effective(row.op, row.args)
        self.name = row.name
        self.place = structural_place(row) if row.ancestors else ()
        self.blocks = tuple(what for _, what in row.ancestors if what not in STRUCTURES)
        self.shapes = (row.input, row.output)
        self.path = row.path
        # the structural key: equal keys pair at the cost of the tie-breakers only
        self.key = (self.op, args_key, self.name, self.place)


def structural_place(row) -> tuple:
    """Where the row sits inside residual and parallel structures: (structure, role) per
    enclosing structure, role being body/shortcut/add or a branch index/merge. Blocks are
    left out: they are macros, and calling one changes no layer."""
    place = []
    for path, what in row.ancestors:
        if what in STRUCTURES:
            rest = row.path[len(path) + 1:]
            place.append((what, rest.split(".", 1)[0]))
    return tuple(place)


@lru_cache(maxsize=4096)  # networks repeat a few layers many times
def _effective(op: str, args: tuple) -> tuple[dict, dict, tuple]:
    values, shown = effective_args(op, args)
    return values, shown, tuple(values.items())


def effective_args(op: str, args: tuple) -> tuple[dict, dict]:
    """(values as PyTorch sees them, values as written or defaulted) per canonical key."""
    given = {ops.KEY_ALIASES.get(k, k): v for k, v in args}
    try:
        opdef = ops.resolve(op)
    except ConvcalcError:  # an op this version does not know: compare the args as given
        return dict(given), dict(given)
    values: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    for key in opdef.keys.values():
        if key.name in given:
            shown[key.name] = given.pop(key.name)
        elif key.default is ops.REQUIRED:
            continue
        elif key.default is ops.SAME_AS_K:
            shown[key.name] = shown.get("k")
        else:
            shown[key.name] = key.default
        values[key.name] = _canonical(key.kind, shown[key.name])
    for k, v in given.items():  # not an op key (a named merge's tensors)
        values[k] = shown[k] = v
    return values, shown


def _canonical(kind: str, v: Any) -> Any:
    """One value per axis when every axis has the same (``[3, 3]`` is ``3``; a padding pair
    ``[1, 1]`` is ``1``), so an argument means the same whatever the input's rank."""
    if kind == "pad" and isinstance(v, (list, tuple)):
        v = tuple(p[0] if isinstance(p, (list, tuple)) and len(set(p)) == 1 else _hashable(p)
                  for p in v)
    if kind in ("axes", "axes0", "pad") and isinstance(v, (list, tuple)):
        return v[0] if len(set(v)) == 1 else tuple(v)
    if isinstance(v, bool) or kind == "bool":
        return (bool, v)  # true is not the number 1
    return _hashable(v)


def _hashable(v: Any) -> Any:
    if isinstance(v, dict):
        return tuple((k, _hashable(x)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    return v


def _cost(a: _Layer, b: _Layer) -> int:
    """The price of pairing ``a`` with ``b``; NEVER when they cannot be the same layer."""
    if a.op != b.op:
        return NEVER
    cost = 0
    if a.args != b.args:
        cost += ARGS
    if a.place != b.place:
        cost += MOVED
    if a.name != b.name:
        cost += NAME
    if cost >= NEVER:
        return NEVER
    if a.blocks != b.blocks:
        cost += BLOCKS
    if a.shapes != b.shapes:
        cost += SHAPES
    if a.path != b.path:
        cost += PATH
    return cost


# -- the alignment ----------------------------------------------------------------------------

def align(a: list[_Layer], b: list[_Layer]) -> list[tuple[_Layer | None, _Layer | None]]:
    """Pairs (old, new), (old, None) for a removal, (None, new) for an addition, in order."""
    # rows identical up to their numbers and path at both ends pair without question
    head = 0
    while head < len(a) and head < len(b) and _same(a[head], b[head]):
        head += 1
    tail = 0
    while (tail < len(a) - head and tail < len(b) - head
           and _same(a[len(a) - 1 - tail], b[len(b) - 1 - tail])):
        tail += 1
    mid_a, mid_b = a[head:len(a) - tail], b[head:len(b) - tail]
    pairs = [(x, y) for x, y in zip(a[:head], b[:head])]
    if len(mid_a) * len(mid_b) <= MAX_CELLS:
        pairs += _edit_script(mid_a, mid_b)
    else:
        pairs += _anchored(mid_a, mid_b)
    pairs += [(x, y) for x, y in zip(a[len(a) - tail:], b[len(b) - tail:])]
    return pairs


def _anchored(a: list[_Layer], b: list[_Layer]) -> list[tuple]:
    """Big networks: the rows with equal structural keys pair along a longest common
    subsequence (Myers' O(ND) diff, fast when the versions differ in few places), and the
    rows between those anchors get the full edit script. Versions that differ in more places
    than the budget allows are shown as removed and added."""
    ids: dict = {}
    ka = [ids.setdefault(x.key, len(ids)) for x in a]
    kb = [ids.setdefault(y.key, len(ids)) for y in b]
    matches = _myers(ka, kb, max(MIN_EDITS, MAX_STEPS // (len(a) + len(b))))
    if matches is None:
        return [(x, None) for x in a] + [(None, y) for y in b]
    pairs: list[tuple] = []
    i = j = 0
    for x, y in [*matches, (len(a), len(b))]:
        gap_a, gap_b = a[i:x], b[j:y]
        if len(gap_a) * len(gap_b) <= MAX_CELLS:
            pairs += _edit_script(gap_a, gap_b)
        else:
            pairs += [(r, None) for r in gap_a] + [(None, r) for r in gap_b]
        if x < len(a):
            pairs.append((a[x], b[y]))
        i, j = x + 1, y + 1
    return pairs


def _myers(a: list[int], b: list[int], max_d: int) -> list[tuple[int, int]] | None:
    """Index pairs of a longest common subsequence of ``a`` and ``b`` (Myers 1986, "An O(ND)
    difference algorithm"), or None when more than ``max_d`` removals and additions are
    needed."""
    n, m = len(a), len(b)
    v = {1: 0}  # diagonal k = x - y → furthest x reached
    trace = []
    for d in range(max_d + 1):
        trace.append(dict(v))
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[k - 1] < v[k + 1]):
                x = v[k + 1]
            else:
                x = v[k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            v[k] = x
            if x >= n and y >= m:
                return _myers_trace(trace, n, m)
    return None


def _myers_trace(trace: list[dict], n: int, m: int) -> list[tuple[int, int]]:
    matches = []
    x, y = n, m
    for d in range(len(trace) - 1, -1, -1):
        v = trace[d]
        k = x - y
        if k == -d or (k != d and v[k - 1] < v[k + 1]):
            prev_k = k + 1
        else:
            prev_k = k - 1
        prev_x = v[prev_k] if d else 0
        prev_y = prev_x - prev_k if d else 0
        while x > prev_x and y > prev_y:
            x -= 1
            y -= 1
            matches.append((x, y))
        x, y = prev_x, prev_y
    matches.reverse()
    return matches


def _same(x: _Layer, y: _Layer) -> bool:
    return x.key == y.key and x.path == y.path and x.shapes == y.shapes and x.blocks == y.blocks


def _edit_script(a: list[_Layer], b: list[_Layer]) -> list[tuple]:
    """Minimum-cost alignment (Wagner & Fischer 1974); ties prefer pairing, then removing
    before adding."""
    n, m = len(a), len(b)
    if not n or not m:
        return [(x, None) for x in a] + [(None, y) for y in b]
    # dist[i][j]: cost of aligning a[i:] with b[j:] (suffixes, so the trace runs forwards)
    dist = [[0] * (m + 1) for _ in range(n + 1)]
    for j in range(m):
        dist[n][j] = (m - j) * REMOVE
    for i in range(n - 1, -1, -1):
        row, below = dist[i], dist[i + 1]
        row[m] = (n - i) * REMOVE
        x = a[i]
        for j in range(m - 1, -1, -1):
            best = below[j] + REMOVE
            add = row[j + 1] + REMOVE
            if add < best:
                best = add
            c = _cost(x, b[j])
            if c < NEVER and below[j + 1] + c <= best:
                best = below[j + 1] + c
            row[j] = best
    pairs: list[tuple] = []
    i = j = 0
    while i < n and j < m:
        c = _cost(a[i], b[j])
        if c < NEVER and dist[i][j] == dist[i + 1][j + 1] + c:
            pairs.append((a[i], b[j]))
            i += 1
            j += 1
        elif dist[i][j] == dist[i + 1][j] + REMOVE:
            pairs.append((a[i], None))
            i += 1
        else:
            pairs.append((None, b[j]))
            j += 1
    pairs += [(x, None) for x in a[i:]] + [(None, y) for y in b[j:]]
    return pairs


# -- what changed -----------------------------------------------------------------------------

def differences(x: _Layer, y: _Layer) -> tuple[Field, ...]:
    a, b = x.row, y.row
    fields = []
    if a.name != b.name:
        fields.append(Field("name", a.name, b.name))
    if x.place != y.place:
        fields.append(Field("path", a.path, b.path))
    for key in dict.fromkeys([*x.args, *y.args]):
        if x.args.get(key) != y.args.get(key):
            fields.append(Field(f"args.{key}", x.shown.get(key), y.shown.get(key)))
    for attr in ("input", "output", "params", "macs", "flops"):
        old, new = getattr(a, attr), getattr(b, attr)
        if old != new:
            fields.append(Field(attr, old, new))
    return tuple(fields)


def diff_reports(old, new) -> NetDiff:
    pairs = align([_Layer(r) for r in old.rows], [_Layer(r) for r in new.rows])
    changes: list[RowChange] = []
    for x, y in pairs:
        if y is None:
            changes.append(RowChange("removed", x.row, None))
        elif x is None:
            changes.append(RowChange("added", None, y.row))
        else:
            fields = differences(x, y)
            if fields:
                changes.append(RowChange("changed", x.row, y.row, fields))
    return NetDiff(old, new, tuple(changes))


def args_of(row) -> dict:
    """The row's arguments as written (canonical keys), for added and removed rows."""
    return {ops.KEY_ALIASES.get(k, k): v for k, v in row.args}
