"""Properties of the single-layer algebra, checked with hypothesis (derandomized: every run
draws the same examples, so CI is reproducible).

- symbolic results equal numeric ones after substitution;
- the window formula (ops._window, ceil_mode included) equals a brute-force count of window
  positions under PyTorch's rule;
- transposed conv with output_padding = (n + 2p - d(k-1) - 1) % s inverts conv;
- the receptive field equals the span of input positions one output unit depends on,
  counted by brute force on an infinite grid (Araujo, Norris & Sim, Distill 2019);
- compound ops cost exactly the sum of their parts.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convcalc import ops
from convcalc.core import RF, Shape
from convcalc.dims import is_symbolic, substitute, symbol
from convcalc.errors import ConvcalcError, ShapeError

DERANDOMIZED = settings(derandomize=True, max_examples=200, deadline=None, database=None)

kernels = st.integers(1, 7)
strides = st.integers(1, 4)
dilations = st.integers(1, 3)
paddings = st.integers(0, 4)
sizes = st.integers(1, 40)


def _apply_or_none(op, x, args):
    try:
        return ops.apply(op, x, args)
    except ConvcalcError:
        return None


# -- symbolic equals numeric ------------------------------------------------------------------

@st.composite
def layer_configs(draw):
    """A conv, deconv or pool layer on a 1-D or 2-D input, with per-axis hyper-parameters."""
    op = draw(st.sampled_from(("conv", "deconv", "maxpool", "avgpool")))
    rank = draw(st.integers(1, 2))
    k = [draw(kernels) for _ in range(rank)]
    s = [draw(strides) for _ in range(rank)]
    args = {"k": k, "s": s}
    if op in ("maxpool", "avgpool"):
        args["p"] = [draw(st.integers(0, ki // 2)) for ki in k]  # PyTorch: p <= k/2
        args["ceil"] = draw(st.booleans())
        if op == "maxpool":
            args["d"] = [draw(dilations) for _ in range(rank)]
    else:
        args["d"] = [draw(dilations) for _ in range(rank)]
        if op == "conv" and all(si == 1 for si in s) and draw(st.booleans()):
            args["p"] = "same"
        else:
            args["p"] = [draw(paddings) for _ in range(rank)]
        args["out"] = draw(st.integers(1, 8))
        args["bias"] = draw(st.booleans())
    if op == "deconv":
        args["op"] = [draw(st.integers(0, max(si, di) - 1))
                      for si, di in zip(s, args["d"])]
    n = [draw(sizes) for _ in range(rank)]
    return op, n, args


@DERANDOMIZED
@given(layer_configs(), st.integers(1, 6))
def test_symbolic_equals_numeric_after_substitution(config, cin):
    op, n, args = config
    numeric = _apply_or_none(op, Shape(cin, tuple(n)), args)
    assume(numeric is not None)
    names = ["H", "W"][:len(n)]
    symbolic = ops.apply(op, Shape(cin, tuple(symbol(v) for v in names)), args)
    env = dict(zip(names, n))
    assert all(is_symbolic(o) for o in symbolic.output.spatial)
    assert tuple(substitute(o, env) for o in symbolic.output.spatial) == numeric.output.spatial
    assert symbolic.output.channels == numeric.output.channels
    assert symbolic.params == numeric.params
    for field in ("macs", "flops"):
        value = getattr(symbolic, field)
        assert substitute(value, env) == getattr(numeric, field), field
    assert symbolic.rf == numeric.rf  # a field's arithmetic does not depend on n


@st.composite
def stacks(draw):
    """Two to four 1-D layers in sequence: floors of floors must stay exact."""
    layers = []
    for _ in range(draw(st.integers(2, 4))):
        op = draw(st.sampled_from(("conv", "conv", "maxpool", "deconv")))
        k, s = draw(st.integers(1, 5)), draw(st.integers(1, 3))
        args = {"k": k, "s": s, "p": draw(st.integers(0, k // 2))}
        if op == "maxpool":
            args["ceil"] = draw(st.booleans())
        else:
            args["out"] = 2
        if op == "deconv":
            args["op"] = draw(st.integers(0, s - 1))
        layers.append((op, args))
    return layers


@DERANDOMIZED
@given(stacks(), st.integers(1, 80))
def test_symbolic_stack_equals_numeric_after_substitution(layers, n):
    numeric, symbolic = Shape(2, (n,)), Shape(2, (symbol("H"),))
    for op, args in layers:
        eff = _apply_or_none(op, numeric, args)
        assume(eff is not None)
        numeric = eff.output
        symbolic = ops.apply(op, symbolic, args).output
        assert substitute(symbolic.spatial[0], {"H": n}) == numeric.spatial[0], (op, args)


# -- the window formula against a brute-force count -------------------------------------------

def brute_windows(n, k, s, lo, hi, d, ceil):
    """Count window positions directly, by PyTorch's rule (Conv/MaxPool docs, aten
    pooling_output_shape): a window starts every s positions from the left edge of the
    padded input and spans e = d*(k - 1) + 1 positions. Floor mode keeps the windows that fit
    inside the padded input. Ceil mode keeps a window that runs past the right edge by less
    than a stride (the last one needed to cover the edge), but only if it starts inside the
    input or the left padding."""
    e = d * (k - 1) + 1
    padded = n + lo + hi
    count, start = 0, 0
    while start < padded + s:
        end = start + e - 1
        if not ceil:
            keep = end <= padded - 1
        else:
            keep = end - (padded - 1) < s and start < n + lo
        count += keep
        start += s
    return count


def aten_pooling_output_shape(n, k, s, lo, hi, d, ceil):
    """aten/src/ATen/native/Pool.h pooling_output_shape_pad_lr, transcribed."""
    out = (n + lo + hi - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + lo:
        out -= 1
    return out


@DERANDOMIZED
@given(sizes, kernels, strides, paddings, paddings, dilations, st.booleans())
def test_window_formula_equals_brute_force(n, k, s, lo, hi, d, ceil):
    if ceil:
        # PyTorch allows ceil_mode on pools only, whose padding is at most half the kernel
        lo, hi = min(lo, k // 2), min(hi, k // 2)
    expected = brute_windows(n, k, s, lo, hi, d, ceil)
    if ceil or lo == hi:
        assert expected == max(aten_pooling_output_shape(n, k, s, lo, hi, d, ceil), 0)
    if expected == 0:
        with pytest.raises(ShapeError):
            ops._window("op", "L", n, k, s, lo, hi, d, ceil)
    else:
        out, _, _ = ops._window("op", "L", n, k, s, lo, hi, d, ceil)
        assert out == expected


@DERANDOMIZED
@given(sizes, kernels, strides, st.integers(0, 3), dilations, st.booleans())
def test_maxpool_output_equals_brute_force(n, k, s, p, d, ceil):
    p = min(p, k // 2)
    expected = brute_windows(n, k, s, p, p, d, ceil)
    eff = _apply_or_none("maxpool", Shape(1, (n,)), {"k": k, "s": s, "p": p, "d": d,
                                                    "ceil": ceil})
    assert (eff is None) == (expected == 0)
    if eff is not None:
        assert eff.output.spatial == (expected,)


def test_brute_force_reproduces_the_published_ceil_cases():
    # the reference cases themselves, so the brute force is known to mean PyTorch's rule
    assert brute_windows(32, 1, 2, 0, 0, 1, True) == 16  # PyTorch issue 57178
    assert brute_windows(5, 2, 2, 1, 1, 1, True) == 3  # ceil-mode clip rule
    assert brute_windows(5, 2, 2, 1, 1, 1, False) == 3
    assert brute_windows(6, 2, 2, 1, 1, 1, True) == 4


# -- transposed conv inverts conv -------------------------------------------------------------

@DERANDOMIZED
@given(sizes, kernels, strides, paddings, dilations)
def test_transposed_conv_with_right_output_padding_inverts_conv(n, k, s, p, d):
    args = {"out": 2, "k": k, "s": s, "p": p, "d": d}
    down = _apply_or_none("conv", Shape(3, (n,)), args)
    assume(down is not None)
    a = (n + 2 * p - d * (k - 1) - 1) % s  # D&V relationship 14's a
    up = ops.apply("deconv", down.output, {**args, "out": 3, "op": a})
    assert up.output == Shape(3, (n,))
    if a == 0 and s > 1:
        # every other output_padding gives another size: the inverse is unique
        other = _apply_or_none("deconv", down.output, {**args, "out": 3, "op": 1})
        assert other is None or other.output != Shape(3, (n,))


@DERANDOMIZED
@given(st.lists(st.tuples(sizes, kernels, strides, paddings), min_size=2, max_size=3))
def test_transposed_inverse_per_axis(axes):
    n, k, s, p = (list(v) for v in zip(*axes))
    rank = len(axes)
    args = {"out": 1, "k": k, "s": s, "p": p}
    down = _apply_or_none("conv", Shape(1, tuple(n)), args)
    assume(down is not None)
    a = [(ni + 2 * pi - ki) % si for ni, ki, si, pi in zip(n, k, s, p)]
    up = ops.apply("deconv", down.output, {**args, "op": a})
    assert up.output.spatial == tuple(n) and up.output.rank == rank


# -- receptive fields by brute force ----------------------------------------------------------

def conv_deps(k, s, lo, d):
    """Input positions that output unit u of a conv/pool reads, on an infinite grid
    (padding positions are negative or past the end; they count, as in Araujo et al.)."""
    return lambda u: {u * s - lo + j * d for j in range(k)}


def deconv_deps(k, s, lo, d):
    """Input positions whose taps land on output unit o of a transposed conv:
    o = i*s - lo + j*d for some tap j."""
    return lambda o: {(o + lo - j * d) // s for j in range(k) if (o + lo - j * d) % s == 0}


def dependency_set(layers, unit):
    """The network-input positions final output ``unit`` depends on."""
    current = {unit}
    for kind, k, s, lo, d in reversed(layers):
        deps = deconv_deps(k, s, lo, d) if kind == "deconv" else conv_deps(k, s, lo, d)
        current = set().union(*(deps(u) for u in current)) if current else set()
    return current


def span(positions):
    return max(positions) - min(positions) + 1


OP_OF = {"conv": "conv", "pool": "maxpool", "deconv": "deconv"}


def library_rf(layers, n=600) -> RF:
    """The receptive field convcalc composes for a 1-D stack (n is large enough for all)."""
    x, rf = Shape(1, (n,)), RF.identity(1)
    for kind, k, s, lo, d in layers:
        args = {"k": k, "s": s, "p": lo, "d": d}
        if kind != "pool":
            args["out"] = 1
        eff = ops.apply(OP_OF[kind], x, args)
        rf = rf.then(eff.rf, (n,))
        x = eff.output
    return rf


@st.composite
def window_layers(draw):
    kind = draw(st.sampled_from(("conv", "pool")))
    k = draw(st.integers(1, 5))
    p = draw(st.integers(0, k // 2 if kind == "pool" else 3))
    return kind, k, draw(st.integers(1, 3)), p, draw(dilations)


@DERANDOMIZED
@given(st.lists(window_layers(), min_size=1, max_size=4))
def test_conv_pool_stack_rf_equals_brute_force(layers):
    rf = library_rf(layers)
    first, second = dependency_set(layers, 0), dependency_set(layers, 1)
    assert rf.size == (span(first),)
    assert rf.jump == (min(second) - min(first),)
    assert rf.start == (Fraction(min(first) + max(first), 2),)
    # on an infinite grid every unit sees a translate of the same field
    assert span(dependency_set(layers, 5)) == span(first)


def test_single_conv_rf_examples():
    # size d*(k - 1) + 1, jump s (SPEC §4)
    assert library_rf([("conv", 3, 2, 1, 1)]) == RF((3,), (2,), (0,))
    assert library_rf([("conv", 3, 1, 0, 2)]) == RF((2 * (3 - 1) + 1,), (1,), (2,))
    assert dependency_set([("conv", 3, 1, 0, 2)], 0) == {0, 2, 4}


@st.composite
def transposed_layer(draw, dilation=dilations):
    return ("deconv", draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(0, 3)),
            draw(dilation))


def max_span(layers, units):
    spans = [span(dep) for dep in (dependency_set(layers, u) for u in units) if dep]
    return max(spans, default=0)  # 0: no unit depends on any input


@DERANDOMIZED
@given(transposed_layer())
def test_single_transposed_rf_is_the_largest_dependency_set(layer):
    _, k, s, lo, d = layer
    rf = library_rf([layer])
    # output units repeat their pattern with period s; two periods are plenty
    assert rf.size == (max_span([layer], range(2 * s * d + 2 * k)),)
    assert rf.jump == (Fraction(1, s),)


def test_transposed_rf_example():
    # k=3, s=2: an output unit is hit by at most floor((3 - 1)/2) + 1 = 2 inputs
    rf = library_rf([("deconv", 3, 2, 1, 1)])
    assert rf.size == (2,) and rf.jump == (Fraction(1, 2),)
    # k=3, s=2, d=2: gcd(2, 2) = 2, so floor(2*2/2)*(2/2) + 1 = 3 inputs, 1 apart
    assert library_rf([("deconv", 3, 2, 0, 2)]).size == (3,)
    assert dependency_set([("deconv", 3, 2, 0, 2)], 4) == {0, 1, 2}


@DERANDOMIZED
@given(transposed_layer(), st.lists(window_layers(), min_size=1, max_size=3))
def test_rf_after_a_transposed_layer_is_the_largest_dependency_set(up, after):
    """SPEC §4: after a transposed conv the units' spans differ with their phase, and size is
    the largest (tests/test_rf.py checks many more stacks, branches and resizes)."""
    layers = [up, *after]
    rf = library_rf(layers)
    period = up[2]  # the pattern repeats every s output units of the transposed conv
    assert rf.size == (max_span(layers, range(-2 * period, 2 * period)),)
    first = dependency_set(layers, 0)
    if first:
        assert rf.start == (Fraction(min(first) + max(first), 2),)


# -- compound ops are the sum of their parts --------------------------------------------------

@DERANDOMIZED
@given(st.sampled_from(("sepconv", "spatial_sepconv", "flatconv", "deformconv", "se")),
       st.integers(1, 4), st.integers(1, 3), st.integers(1, 16), st.integers(4, 12),
       st.booleans())
def test_compound_costs_are_the_sum_of_their_parts(op, k, s, cin, n, bias):
    args = {"sepconv": {"out": 8, "k": k, "s": s, "bias": bias},
            "spatial_sepconv": {"out": 8, "k": k, "s": s, "bias": bias},
            "flatconv": {"out": 8, "k": k, "bias": bias},
            "deformconv": {"out": 8, "k": k, "s": s, "bias": bias, "modulated": bias},
            "se": {"reduction": 2}}[op]
    eff = _apply_or_none(op, Shape(cin, (n, n)), args)
    assume(eff is not None)
    assert eff.parts
    for field in ("params", "macs", "flops"):
        assert getattr(eff, field) == sum(getattr(p, field) for _, p in eff.parts), field
