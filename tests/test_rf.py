"""Exact receptive fields (SPEC §4) against brute force.

The brute force knows nothing of convcalc's periodic tables: for every output unit of a window
of units (several periods of the pattern) it propagates the set of positions that unit depends
on back through the layers, one layer at a time, on an unbounded grid, straight from each
layer's definition (PyTorch's Conv/ConvTranspose/Pool/AdaptivePool/Upsample index rules), and
merges branches by the union of their sets. Then

    size  = the largest span (last - first + 1) over the units,
    start = the centre of unit 0's set (the midpoint between the last position read before it
            and the first one read after it when unit 0 reads nothing),
    jump  = the product of the layers' rates (s, 1/s, n/o, 1/scale).

All hypothesis runs are derandomized (same examples every run).
"""

from __future__ import annotations

import textwrap
from functools import lru_cache
from fractions import Fraction
from math import lcm

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import ops
from convcalc.core import RF, Shape
from convcalc.dims import substitute
from convcalc.errors import ConvcalcError
from convcalc.spec import parse
from convcalc.walk import walk

def derandomized(n):
    return settings(derandomize=True, max_examples=n, deadline=None, database=None)
N = 100_000  # input size for the library runs: large enough for the generated stacks


# -- the brute force --------------------------------------------------------------------------

def _floor(x: Fraction) -> int:
    return x.numerator // x.denominator


@lru_cache(maxsize=1 << 16)
def reads(layer, o: int) -> frozenset[int]:
    return frozenset(_reads(layer, o))


def _reads(layer, o: int) -> set[int]:
    """The units of a layer's input that its output unit ``o`` reads, on an unbounded grid."""
    kind = layer[0]
    if kind in ("conv", "maxpool", "avgpool"):  # o*s - p + j*d
        _, k, s, p, d = layer[:5]
        return {o * s - p + j * d for j in range(k)}
    if kind == "deconv":  # input i feeds outputs i*s - p + j*d
        _, k, s, p, d = layer[:5]
        return {(o + p - j * d) // s for j in range(k) if (o + p - j * d) % s == 0}
    if kind == "adaptive":  # [floor(o*n/out), ceil((o+1)*n/out))
        _, n, out = layer
        return set(range(o * n // out, -(-(o + 1) * n // out)))
    if kind == "nearest":  # floor(o/scale)
        return {o // layer[1]}
    if kind == "linear":  # x = (o + 1/2)/scale - 1/2; floor(x) and floor(x) + 1 if weighted
        x = (o + Fraction(1, 2)) / layer[1] - Fraction(1, 2)
        return {_floor(x), _floor(x) + 1} if x.denominator != 1 else {_floor(x)}
    raise AssertionError(kind)


def depends(program, units: set[int]) -> set[int]:
    """Network-input positions that ``units`` of the program's output depend on. A program is
    a list of layers and ("merge", branch, branch) items (a branch is a program)."""
    for item in reversed(program):
        if item[0] == "merge":
            units = depends(item[1], units) | depends(item[2], units)
        else:
            units = set().union(*(reads(item, u) for u in units))
    return units


def rate(program) -> Fraction:
    """Input positions per output unit: the product of the layers' rates."""
    j = Fraction(1)
    for item in program:
        if item[0] == "merge":
            j *= rate(item[1])
        elif item[0] in ("conv", "maxpool", "avgpool"):
            j *= item[2]
        elif item[0] == "deconv":
            j /= item[2]
        elif item[0] == "adaptive":
            j *= Fraction(item[1], item[2])
        else:
            j /= item[1]
    return j


def period_bound(program) -> int:
    """A multiple of the pattern's period: the product of the rates' denominators."""
    p = 1
    for item in program:
        if item[0] == "merge":
            p *= lcm(period_bound(item[1]), period_bound(item[2]))
        elif item[0] == "deconv":
            p *= item[2]
        elif item[0] == "adaptive":
            p *= item[2]
        elif item[0] in ("nearest", "linear"):
            p *= item[1]
    return p


def brute_field(program):
    """(size, start) by brute force over a period and one unit on each side of unit 0."""
    span = period_bound(program) + 2
    sets = {u: depends(program, {u}) for u in range(-span, span)}
    spans = [max(d) - min(d) + 1 for d in sets.values() if d]
    size = max(spans, default=0)
    if sets[0]:
        start = Fraction(min(sets[0]) + max(sets[0]), 2)
    elif spans:
        after = min(sets[next(u for u in range(1, span) if sets[u])])
        before = max(sets[next(u for u in range(-1, -span, -1) if sets[u])])
        start = Fraction(before + after, 2)
    else:
        start = None
    return size, start


# -- the library, on the same programs ----------------------------------------------------------

def _args(layer):
    kind = layer[0]
    if kind in ("conv", "deconv", "maxpool", "avgpool"):
        _, k, s, p, d, a = layer
        args = {"k": k, "s": s, "p": p}
        if kind != "avgpool":
            args["d"] = d
        if kind in ("conv", "deconv"):
            args["out"] = 1
        if kind == "deconv":
            args["op"] = a
        return kind, args
    if kind == "adaptive":
        return "adaptive_avgpool", {"out": layer[2]}
    return "upsample", {"scale": layer[1], "mode": kind}


def library_rf(program, rf: RF | None = None, n: int = N) -> RF | None:
    """convcalc's field for a 1-D program; ``None`` when a layer does not fit its input."""
    try:
        return library_field(program, rf, n)[0]
    except ConvcalcError:
        return None


def library_field(program, rf: RF | None = None, n: int = N) -> tuple[RF, int]:
    """convcalc's field for a 1-D program, composed the way the walk composes it."""
    rf = RF.identity(1) if rf is None else rf
    for item in program:
        if item[0] == "merge":
            a, na = library_field(item[1], rf, n)
            b, _ = library_field(item[2], rf, n)
            rf, n = a.union(b), na
            continue
        op, args = _args(item)
        if item[0] == "adaptive":
            args = {"out": item[2]}
            assert item[1] == n
        eff = ops.apply(op, Shape(1, (n,)), args)
        rf, n = rf.then(eff.rf, (N,)), eff.output.spatial[0]
    return rf, n


# -- random programs ----------------------------------------------------------------------------

@st.composite
def window(draw, kind=None):
    kind = kind or draw(st.sampled_from(("conv", "conv", "maxpool", "avgpool")))
    k = draw(st.integers(1, 5))
    d = draw(st.integers(1, 3)) if kind in ("conv", "maxpool") else 1
    p = draw(st.integers(0, k // 2 if kind != "conv" else 3))
    return (kind, k, draw(st.integers(1, 3)), p, d, 0)


@st.composite
def transposed(draw):
    k, s, d = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    a = draw(st.integers(0, max(s, d) - 1))  # output_padding < s or < d (PyTorch)
    return ("deconv", k, s, draw(st.integers(0, 3)), d, a)


@st.composite
def upsampling(draw):
    return (draw(st.sampled_from(("nearest", "linear"))), draw(st.integers(1, 3)))


LAYERS = st.one_of(window(), window(), transposed(), upsampling())


@st.composite
def variant(draw, program):
    """Another branch at the same rate: the same strides and scales, other kernels, paddings
    and dilations."""
    out = []
    for item in program:
        if item[0] == "merge":
            out.append(("merge", draw(variant(item[1])), draw(variant(item[2]))))
        elif item[0] == "deconv":
            k, d = draw(st.integers(1, 5)), draw(st.integers(1, 3))
            out.append(("deconv", k, item[2], draw(st.integers(0, 3)), d,
                        draw(st.integers(0, max(item[2], d) - 1))))
        elif item[0] in ("conv", "maxpool", "avgpool"):
            k = draw(st.integers(1, 5))
            d = draw(st.integers(1, 3)) if item[0] != "avgpool" else 1
            out.append((item[0], k, item[2], draw(st.integers(0, k // 2)), d, 0))
        else:
            out.append((draw(st.sampled_from(("nearest", "linear"))), item[1]))
    return out


@lru_cache(maxsize=None)  # one strategy object per depth: building them is hypothesis' cost
def programs(depth=2):
    """Up to five items: layers, and merges of two branches (sometimes nested): the second
    branch empty (a residual), at the same rate as the first, or any."""
    item = LAYERS
    if depth:
        inner = programs(depth - 1)
        merge = inner.flatmap(lambda left: st.tuples(
            st.just("merge"), st.just(left),
            st.one_of(st.just([]), variant(left), variant(left), inner)))
        item = st.one_of(LAYERS, LAYERS, LAYERS, merge)
    return st.lists(item, min_size=1, max_size=5)


# -- properties ---------------------------------------------------------------------------------

def check(program, rf: RF | None):
    if rf is None:  # a layer PyTorch refuses on these sizes
        return
    jump = rate(program)
    # branches moving at different rates have no largest span: unknown
    assert (rf.size == (None,)) == _rates_differ(program)
    if rf.size == (None,):
        return
    size, start = brute_field(program)
    assert rf.size == (size,)
    assert rf.start == (start,)
    assert rf.jump == (jump,)
    assert type(rf.size[0]) is int
    assert start is None or (2 * start).denominator == 1  # an integer or a half-integer


def _rates_differ(program) -> bool:
    for item in program:
        if item[0] == "merge":
            if rate(item[1]) != rate(item[2]) or _rates_differ(item[1]) or _rates_differ(
                    item[2]):
                return True
    return False


@derandomized(500)
@given(st.lists(LAYERS, min_size=1, max_size=5))
def test_stack_rf_equals_brute_force(program):
    check(program, library_rf(program))


@derandomized(500)
@given(st.lists(st.one_of(window(), transposed()), min_size=1, max_size=4))
def test_conv_pool_transposed_stack_rf_equals_brute_force(program):
    check(program, library_rf(program))


@derandomized(300)
@given(programs())
def test_branching_rf_equals_brute_force(program):
    """Merges take, per output unit, the union of the branches' positions (not the union of
    two already-maximised fields)."""
    check(program, library_rf(program))


@derandomized(300)
@given(st.lists(window(), max_size=3), st.integers(4, 60), st.integers(2, 9),
       st.lists(window(), max_size=2))
def test_adaptive_pooling_rf_equals_brute_force(before, n, out, after):
    try:
        rf, m = library_field(before, n=n)
    except ConvcalcError:
        return
    program = before + [("adaptive", m, out)] + after
    check(program, library_rf([("adaptive", m, out)] + after, rf, m))


def test_merge_takes_the_union_per_unit_not_of_the_largest_fields():
    # branch 1: deconv k1 s2, unit o reads {o/2} for even o, nothing for odd o;
    # branch 2: deconv k1 s2 p1, reads {(o + 1)/2} for odd o, nothing for even o.
    # Each branch alone has size 1; merged, unit o reads one position (never two): size 1,
    # where joining the two maximal fields around their centres would give 2.
    program = [("merge", [("deconv", 1, 2, 0, 1, 0)], [("deconv", 1, 2, 1, 1, 0)])]
    rf = library_field(program)[0]
    assert rf.size == (1,) and rf.jump == (Fraction(1, 2),)
    # unit 0 reads {0} from branch 1 only
    assert rf.start == (0,)


def test_branches_at_different_rates_have_no_largest_field():
    # stride 2 vs stride 1 on equal sizes: unit o reads 2*o and o .. o + 4, a span growing with o
    program = [("merge", [("conv", 1, 2, 0, 1, 0)], [("conv", 5, 1, 0, 1, 0)])]
    rf = library_field(program)[0]
    assert rf.size == (None,) and rf.start == (None,) and rf.jump == (None,)


# -- the old estimate's counterexamples, now exact ----------------------------------------------

EXACT = [
    # deconv k2 s2 reads {floor(o/2)}; conv k2 then reads deconv units o, o + 1: inputs
    # floor(o/2) and floor((o + 1)/2), two for odd o. Size 2 (the old estimate said 3/2); unit
    # 0 reads {0}: start 0; jump 1/2
    pytest.param([("deconv", 2, 2, 0, 1, 0), ("conv", 2, 1, 0, 1, 0)], 2, Fraction(1, 2),
                 0, id="deconv-k2s2-then-conv-k2"),
    # deconv k3 s2 p1: even outputs 2m read {m}, odd ones 2m + 1 read {m, m + 1}; conv k1 s2
    # keeps the even ones: size 1 (the old estimate said 2), jump 1/2*2 = 1
    pytest.param([("deconv", 3, 2, 1, 1, 0), ("conv", 1, 2, 0, 1, 0)], 1, 1, 0,
                 id="deconv-k3s2p1-then-conv-k1s2"),
    # deconv k3 s3 d2: output o reads i = (o - 2j)/3: o = 0, 1, 2, 3 read {0}, {-1}, {0}, {1}
    # (period 3: o + 3 reads one more); conv k4 s3 reads outputs 3u .. 3u + 3: inputs
    # {u, u - 1, u, u + 1}, a span of 3 (the old estimate said 2); unit 0: {-1, 0, 1}
    pytest.param([("deconv", 3, 3, 0, 2, 0), ("conv", 4, 3, 0, 1, 0)], 3, 1, 0,
                 id="deconv-k3s3d2-then-conv-k4s3"),
]


@pytest.mark.parametrize("program, size, jump, start", EXACT)
def test_transposed_then_conv_is_exact(program, size, jump, start):
    rf = library_field(program)[0]
    assert rf == RF((size,), (jump,), (start,))
    assert brute_field(program) == (size, start)


# -- through the walk: YAML networks with residuals, parallel and named merges -------------------

def _yaml_layer(layer, rank: int = 1) -> str:
    op, args = _args(layer)
    if args.get("mode") == "linear" and rank == 2:
        args["mode"] = "bilinear"
    return f"{op}: {{{', '.join(f'{k}: {v}' for k, v in args.items())}}}"


@st.composite
def same_size_branch(draw):
    """Layers that give back the size they get (n even), so that branches can be merged:
    'same' stride-1 windows, a stride-2 conv undone by a transposed conv, an upsample undone
    by a pool."""
    shape = draw(st.sampled_from(("same", "down-up", "up-down")))
    if shape == "same":
        kind = draw(st.sampled_from(("conv", "maxpool", "avgpool")))
        k = draw(st.sampled_from((1, 3, 5)))
        d = draw(st.integers(1, 3)) if kind == "conv" else 1
        return [(kind, k, 1, d * (k - 1) // 2, d, 0)]
    if shape == "down-up":
        k = draw(st.sampled_from((1, 3, 5)))
        # back up: (n/2 - 1)*2 - 2p + (k' - 1) + a + 1 = n  <=>  k' - 1 + a = 2p + 1
        up = draw(st.sampled_from(((2, 0, 0), (4, 1, 0), (3, 1, 1), (5, 2, 1))))
        return [("conv", k, 2, (k - 1) // 2, 1, 0), ("deconv", up[0], 2, up[1], 1, up[2])]
    f = draw(st.integers(2, 3))
    return [(draw(st.sampled_from(("nearest", "linear"))), f),
            (draw(st.sampled_from(("conv", "maxpool"))), f, f, 0, 1, 0)]


@st.composite
def networks(draw, rank):
    """A YAML network on [1, 48] (or [1, 48, 48] with the same layers on both axes) and its
    program: a trunk of same-size pieces, residuals, parallel adds and a named merge."""
    lines, program = [], []
    for i in range(draw(st.integers(1, 4))):
        form = draw(st.sampled_from(("plain", "residual", "parallel", "named")))
        body = draw(same_size_branch())
        if form == "plain":
            lines += [f"  - {_yaml_layer(x, rank)}" for x in body]
            program += body
        elif form == "residual":
            lines += ["  - residual:", "      body:"]
            lines += [f"        - {_yaml_layer(x, rank)}" for x in body]
            program.append(("merge", body, []))
        elif form == "parallel":
            other = draw(same_size_branch())
            lines += ["  - parallel:", "      merge: add", "      branches:"]
            for branch in (body, other):
                lines.append(f"        - - {_yaml_layer(branch[0], rank)}")
                lines += [f"          - {_yaml_layer(x, rank)}" for x in branch[1:]]
            program.append(("merge", body, other))
        else:
            lines += ["  - identity: {}", f"    name: t{i}"]
            lines += [f"  - {_yaml_layer(x, rank)}" for x in body]
            lines.append(f"  - add: t{i}")
            program.append(("merge", body, []))
    return lines, program


@derandomized(80)
@given(st.integers(1, 2).flatmap(lambda rank: st.tuples(st.just(rank), networks(rank))))
def test_network_rf_equals_brute_force(case):
    rank, (lines, program) = case
    text = "input: [1" + ", 48" * rank + "]\nlayers:\n" + "\n".join(lines) + "\n"
    report = walk(parse(text, "t.yaml"))
    size, start = brute_field(program)
    assert report.rf.size == (size,) * rank
    assert report.rf.start == (start,) * rank
    assert report.rf.jump == (rate(program),) * rank


# -- one definition for numeric and symbolic sizes ----------------------------------------------

def _report(text, **kwargs):
    return walk(parse(textwrap.dedent(text), "t.yaml"), **kwargs)


def test_adaptive_pooling_is_exact_numeric_and_unknown_symbolic():
    net = """\
        input: [1, H]
        layers:
          - conv: {out: 1, k: 3, s: 2, p: 1}
          - adaptive_avgpool: {out: 2}
        """
    numeric = _report(net, sets={"H": 10})
    # conv: 10 -> 5, field 3, jump 2, start 0; windows of 5 -> 2: [0, 3), [2, 5): 3 units,
    # 3 + (3 - 1)*2 = 7; unit 0's inputs: conv units 0..2 read -1 .. 5: centre 2
    assert numeric.rf == RF((3 + (3 - 1) * 2,), (2 * Fraction(5, 2),), (Fraction(-1 + 5, 2),))
    symbolic = _report(net)
    assert symbolic.rows[0].rf == numeric.rows[0].rf  # the conv's field needs no size
    assert symbolic.rf == RF((None,), (None,), (None,))  # windows depend on H: unknown


def test_global_pooling_sees_the_whole_input_numeric_and_symbolic():
    net = """\
        input: [1, H]
        layers:
          - conv: {out: 1, k: 3, s: 2, p: 1}
          - adaptive_avgpool: {out: 1}
        """
    numeric = _report(net, sets={"H": 10})
    assert numeric.rf == RF((10,), (10,), (Fraction(10 - 1, 2),), whole=True)
    symbolic = _report(net)
    assert symbolic.rf.whole
    assert [substitute(v, {"H": 10}) for v in symbolic.rf.size + symbolic.rf.start] == [
        10, Fraction(9, 2)]


@derandomized(50)
@given(st.lists(st.one_of(window(), transposed(), st.tuples(st.sampled_from(
    ("nearest", "linear")), st.integers(1, 3))), min_size=1, max_size=4))
def test_symbolic_field_equals_numeric(program):
    """Without size-dependent layers the field does not depend on the input size."""
    lines = "\n".join(f"  - {_yaml_layer(x)}" for x in program)
    try:
        numeric = _report(f"input: [1, {N}]\nlayers:\n{lines}\n")
    except Exception:
        return
    symbolic = _report(f"input: [1, H]\nlayers:\n{lines}\n")
    assert [r.rf for r in symbolic.rows] == [r.rf for r in numeric.rows]


def test_json_start_is_a_number(tmp_path):
    from convcalc.render import rf_dict
    rf = library_field([("deconv", 4, 2, 1, 1, 0)])[0]  # unit 0 reads {-1, 0}
    assert rf_dict(rf) == {"size": [2], "jump": ["1/2"], "start": [-0.5]}
    assert rf_dict(RF((4,), (2,), (Fraction(3, 2),))) == {"size": [4], "jump": [2],
                                                          "start": [1.5]}


def test_long_pattern_before_a_wide_kernel():
    """A transposed conv k1 s4096 feeds input i to output 4096*i only; a conv k5000 then
    reads outputs o .. o + 4999, which hold floor(4999/4096) + 1 = 2 fed positions at most:
    size 2; unit 0 reads outputs 0 .. 4999, fed by inputs 0 and 1: start 1/2. Taking every
    window of the 4096-unit pattern in turn took seconds (a minute at s16384, k100000); the
    sliding extremes take milliseconds (no timing asserted here: bench/ measures speed)."""
    rf = library_field([("deconv", 1, 4096, 0, 1, 0), ("conv", 5000, 1, 0, 1, 0)])[0]
    assert rf == RF((2,), (Fraction(1, 4096),), (Fraction(1, 2),))
