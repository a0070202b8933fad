"""`convcalc layer --out` (convcalc/solve.py): the solver's answer equals a brute-force scan of
the op table, and it answers at any size convcalc accepts (README: numbers up to 2**62).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from convcalc import ops
from convcalc.core import Shape
from convcalc.errors import ConvcalcError, SpecError
from convcalc.solve import Solution, missing_key, solve

SOLVE = settings(derandomize=True, max_examples=1000, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

SCAN = 80  # brute force scans every value up to here; the cases are small enough that
           # anything past it is either "every value from here on" or checked at its ends
FAR = (10**6, 2**62)


def _size(op, x, args, key, value):
    try:
        return ops.apply(op, x, {**args, key: value}, lenient=True).output.spatial
    except ConvcalcError:
        return None


@st.composite
def problems(draw):
    """A conv, deconv or pool layer (or a factorised conv) with one of p, k, s, d, op left
    out, on a 1-D input or a cube (AvgPool3d and spatial_sepconv have rank rules)."""
    op = draw(st.sampled_from(("conv", "deconv", "maxpool", "avgpool", "conv", "deconv",
                               "maxpool", "avgpool", "spatial_sepconv", "flatconv")))
    rank = draw(st.sampled_from((2, 3) if op == "spatial_sepconv" else (1, 1, 1, 2, 3)))
    keys = [k for k in ("k", "p", "s", "d", "op") if k in ops.resolve(op).keys]
    key = draw(st.sampled_from(keys))
    args = {}
    small = st.integers(1, 5)
    if key != "k":
        args["k"] = draw(small)
    if key != "s" and draw(st.booleans()):
        args["s"] = draw(small)
    if key != "d" and "d" in keys and draw(st.booleans()):
        args["d"] = draw(st.integers(1, 3))
    if key != "op" and "op" in keys and draw(st.booleans()):
        args["op"] = draw(st.integers(0, 2))
    if key != "p" and draw(st.booleans()):
        if op in ("conv", "spatial_sepconv", "flatconv") and draw(st.booleans()):
            args["p"] = draw(st.sampled_from(("same", "valid", "full")))
        else:
            args["p"] = draw(st.integers(0, 4))
    if op in ("maxpool", "avgpool"):
        args["ceil"] = draw(st.booleans())
    else:
        args["out"] = 2
    n = draw(st.integers(1, 20))
    want = draw(st.integers(1, 30))
    if draw(st.booleans()):  # mostly a size some value gives, so that there are answers
        low = 0 if key in ("p", "op") else 1
        hit = _size(op, Shape(2, (n,) * rank), args, key, draw(st.integers(low, 12)))
        want = hit[0] if hit else want
    return op, rank, n, args, key, want


def _expand(solution_ranges, upto):
    found = set()
    for first, last in solution_ranges:
        found.update(range(first, (upto if last is None else min(last, upto)) + 1))
    return found


@SOLVE
@given(problems())
def test_solver_equals_brute_force(problem):
    op, rank, n, args, key, want = problem
    x = Shape(2, (n,) * rank)
    wanted = (want,) * rank
    low = 0 if key in ("p", "op") else 1
    brute = {v for v in range(low, SCAN + 1) if _size(op, x, args, key, v) == wanted}
    try:
        sol = solve(op, x, args, wanted, key)
    except ConvcalcError as err:
        # "no <key> gives ..." or the op's own error when it holds whatever the key
        assert brute == set(), err.line()
        return
    assert len(set(sol.per_axis)) == 1  # equal axes, equal answers
    ranges = sol.per_axis[0]
    assert ranges, "a solution has at least one range"
    assert _expand(ranges, SCAN) == brute
    for first, last in ranges:
        if last is None:  # every value from `first` on, however large
            for far in FAR:
                assert _size(op, x, args, key, max(far, first)) == wanted
        else:  # a finite range ends where the answer stops
            assert _size(op, x, args, key, last) == wanted
            assert _size(op, x, args, key, last + 1) != wanted
        assert first == low or _size(op, x, args, key, first - 1) != wanted


@settings(SOLVE, max_examples=300)
@given(problems(), st.integers(1, 20), st.integers(1, 30))
def test_two_axes_are_two_problems(problem, n2, want2):
    op, rank, n, args, key, want = problem
    if op == "spatial_sepconv":  # 2-D and 3-D only
        return
    both = solve_or_none(op, Shape(2, (n, n2)), args, (want, want2), key)
    one = solve_or_none(op, Shape(2, (n,)), args, (want,), key)
    two = solve_or_none(op, Shape(2, (n2,)), args, (want2,), key)
    if both is None:
        assert one is None or two is None
    else:
        assert both.per_axis == one.per_axis + two.per_axis


def solve_or_none(op, x, args, wanted, key):
    try:
        return solve(op, x, args, wanted, key)
    except ConvcalcError:
        return None


# -- exact answers, written as arithmetic ------------------------------------------------------

@pytest.mark.parametrize("op, n, args, key, want, ranges", [
    # 'same' keeps every size at stride 1, whatever the kernel
    ("conv", 10, {"p": "same"}, "k", 10, ((1, None),)),
    # floor((10 - k)/2) + 1 = 4 for k = 3, 4
    ("conv", 10, {"s": 2}, "k", 4, ((3, 4),)),
    # floor((10 - 3)/s) + 1 = 1 once s > 7
    ("conv", 10, {"k": 3}, "s", 1, ((8, None),)),
    # 224 + 2p - 2 = 224
    ("conv", 224, {"k": 3}, "p", 224, ((1, 1),)),
    # a 1-wide kernel ignores its dilation: every d works
    ("conv", 9, {"k": 1}, "d", 9, ((1, None),)),
    # (6 - 1)*2 - 2 + 2 + op + 1 = 12: op = 1 (op < s = 2)
    ("deconv", 6, {"k": 3, "s": 2, "p": 1}, "op", 12, ((1, 1),)),
    # PyTorch's pools: k >= 2p; floor((5 + 2 - k)/1) + 1 = 3 for k = 5 (k = 2p .. 7)
    ("maxpool", 5, {"p": 1, "s": 1}, "k", 3, ((5, 5),)),
    # a size-1 input grows by 2p: 1 + 2p = 2**62 - 1 at p = 2**61 - 1; 2**62 is even: none
    ("conv", 1, {"k": 1}, "p", 2**62 - 1, ((2**61 - 1, 2**61 - 1),)),
    ("conv", 1, {"k": 1}, "p", 2**62, None),
])
def test_known_answers(op, n, args, key, want, ranges):
    if ranges is None:
        with pytest.raises(SpecError, match=f"no {key} gives output {want}"):
            solve(op, Shape(2, (n,)), args, (want,), key)
        return
    assert solve(op, Shape(2, (n,)), args, (want,), key) == Solution(key, (ranges,))


# -- large sizes: bisection, not a scan (no timing assertion: it simply has to return) ---------

@pytest.mark.parametrize("n", [10**6, 2**62 - 1])
def test_large_sizes_answer(n):
    # floor((n + 2p - 3)/1) + 1 = n for p = 1
    assert solve("conv", Shape(3, (n,)), {"k": 3}, (n,), "p") == Solution("p", (((1, 1),),))
    # n - k + 1 = 7: k = n - 6
    assert solve("conv", Shape(3, (n,)), {}, (7,), "k") == Solution("k", (((n - 6, n - 6),),))
    # floor((n - 3)/s) + 1 = 1 for every s > n - 3
    assert solve("conv", Shape(3, (n,)), {"k": 3}, (1,), "s") == \
        Solution("s", (((n - 2, None),),))
    # a transposed conv doubles: (n - 1)*2 - 2 + 2 + op + 1 = 2n needs op = 1
    if 2 * n <= 2**62:
        assert solve("deconv", Shape(3, (n,)), {"k": 3, "s": 2, "p": 1}, (2 * n,), "op") == \
            Solution("op", (((1, 1),),))


def test_missing_key_order_and_messages():
    assert missing_key("conv", {"p", "s"}) == "k"
    assert missing_key("deconv", {"k", "p", "s"}) == "op"
    with pytest.raises(SpecError) as info:
        missing_key("conv", {"k", "p", "s", "d"})
    assert info.value.line() == ("error: --out: nothing to solve for: conv's k, p, s, d are "
                                 "all given (hint: leave out the one to find)")
    with pytest.raises(SpecError) as info:
        missing_key("relu", set())
    assert info.value.line() == "error: --out: relu has none of k, p, s, d, op to solve for"
    # dropout's p is a probability: solving it said "p = 0" where every p in [0, 1) works
    with pytest.raises(SpecError) as info:
        missing_key("dropout", set())
    assert info.value.line() == ("error: --out: dropout has none of k, p, s, d, op to solve "
                                 "for (its p is not a size)")


def test_per_axis_padding_pairs_stay_pairs():
    # p = [[0, 3], [0, 0]] on 10×10: axis 0 pads 0 + 3, so 10 + 3 - (k - 1) = 10 needs k = 4;
    # axis 1 pads nothing: 10 - (k - 1) = 8 needs k = 3 (the pair was once read as per-axis
    # numbers 0 and 3, giving k = 1 on axis 0)
    x = Shape(2, (10, 10))
    args = {"out": 2, "p": [[0, 3], [0, 0]]}
    assert solve("conv", x, args, (10, 8), "k") == Solution("k", (((4, 4),), ((3, 3),)))
    assert ops.apply("conv", x, {**args, "k": [4, 3]}).output.spatial == (10, 8)


def test_per_axis_values_bound_the_search_like_single_ones():
    # deconv, s = 2 per axis: (4 - 1)*2 - 2 + 2 + op + 1 = 8 needs op = 1 < s; the bound
    # op < max(s, d) once read a per-axis s as the default 1 and found no op
    x = Shape(1, (4, 4))
    assert solve("deconv", x, {"out": 1, "k": 3, "s": [2, 2], "p": 1}, (8, 8), "op") == \
        Solution("op", (((1, 1),), ((1, 1),)))
    # maxpool, p = 1 along axis 0 (s = k): k >= 2p = 2, floor((1 + 2 - k)/k) + 1 = 1 for
    # k = 2, 3 (k = 4 is larger than the padded 3); axis 1, p = 0: floor((5 - k)/k) + 1 = 5
    # for k = 1. The per-axis padding was read as 0, k = 1 was tried, both ends of the range
    # were refused, and the answer was "no k"
    assert solve("maxpool", Shape(1, (1, 5)), {"p": [1, 0]}, (1, 5), "k") == \
        Solution("k", (((2, 3),), ((1, 1),)))
    # a [lo, hi] pair: the larger side bounds the kernel (2*1 <= k)
    assert solve("avgpool", Shape(1, (1,)), {"p": [[0, 1]]}, (1,), "k") == \
        Solution("k", (((2, 2),),))
