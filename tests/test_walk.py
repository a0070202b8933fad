"""Walking whole networks: per-row numbers written as arithmetic for small networks, totals,
``--batch``, ``collapse``, receptive fields through branches (SPEC §4) and symbolic inputs.

Legend for the hand arithmetic: conv params = cout*cin*k*k + cout (bias); MACs =
cout*cin*k*k*out_area; FLOPs = (2*cin*k*k - 1 + bias)*cout*out_area; bn = 2c params and
2 FLOPs per element; relu 1 FLOP per element; max pool (k*k - 1) comparisons per output
element; add 1 FLOP per element; concat 0. Receptive field (Araujo et al., Distill 2019):
size += (k - 1)*jump, jump *= s, centre += ((k - 1)/2 - p)*jump.
"""

from __future__ import annotations

import textwrap
from fractions import Fraction

import pytest

from convcalc.dims import is_symbolic, substitute
from convcalc.spec import parse
from convcalc.walk import collapse, walk


def net_of(text: str, file: str = "t.yaml"):
    return parse(textwrap.dedent(text), file)


def report_of(text: str, **kwargs):
    return walk(net_of(text), **kwargs)


def table(report):
    """(path, op, output dims, params, MACs, FLOPs) per row."""
    return [(r.path, r.op, r.output.dims, r.params, r.macs, r.flops) for r in report.rows]


def rf_of(row):
    return row.rf.size, row.rf.jump, row.rf.start


def assert_totals_are_row_sums(report):
    rows = report.rows
    assert report.totals == {
        "params": sum(r.params for r in rows),
        "macs": sum(r.macs for r in rows),
        "flops": sum(r.flops for r in rows),
        "activations": sum(r.activations for r in rows),
    }


# -- small networks, by hand -----------------------------------------------------------------

STACK = """\
    input: [3, 32, 32]
    layers:
      - conv: {out: 16, k: 3, p: 1}
      - bn
      - relu
      - maxpool: {k: 2}
    """


def test_conv_bn_relu_pool_stack():
    report = report_of(STACK)
    area, pooled = 32 * 32, 16 * 16
    assert table(report) == [
        ("0", "conv", (16, 32, 32), 16 * 3 * 3 * 3 + 16, 16 * 3 * 3 * 3 * area,
         (2 * 3 * 3 * 3 - 1 + 1) * 16 * area),
        ("1", "bn", (16, 32, 32), 2 * 16, 0, 2 * 16 * area),
        ("2", "relu", (16, 32, 32), 0, 0, 16 * area),
        ("3", "maxpool", (16, 16, 16), 0, 0, (2 * 2 - 1) * 16 * pooled),
    ]
    assert report.output.dims == (16, 16, 16)
    assert report.totals == {
        "params": 448 + 32,
        "macs": 442_368,
        "flops": 884_736 + 32_768 + 16_384 + 12_288,
        "activations": 3 * 16 * area + 16 * pooled,
    }
    # conv: 3, centred on input 0 (padding 1); pool k=2 s=2: 3 + 1*1 = 4, jump 2, centre 1/2
    assert [rf_of(r) for r in report.rows] == [((3, 3), (1, 1), (0, 0))] * 3 + [
        ((4, 4), (2, 2), (Fraction(1, 2), Fraction(1, 2)))]
    assert report.rf == report.rows[-1].rf


RESIDUAL = """\
    input: [8, 16, 16]
    layers:
      - residual:
          body:
            - conv: {out: 8, k: 3, p: 1, bias: false}
            - bn
            - relu
            - conv: {out: 8, k: 3, p: 1, bias: false}
            - bn
      - relu
    """


def test_residual_block():
    report = report_of(RESIDUAL)
    area = 16 * 16
    conv = ("conv", (8, 16, 16), 8 * 8 * 9, 8 * 8 * 9 * area, (2 * 8 * 9 - 1) * 8 * area)
    bn = ("bn", (8, 16, 16), 2 * 8, 0, 2 * 8 * area)
    assert table(report) == [
        ("0.body.0", *conv), ("0.body.1", *bn),
        ("0.body.2", "relu", (8, 16, 16), 0, 0, 8 * area),
        ("0.body.3", *conv), ("0.body.4", *bn),
        ("0.add", "add", (8, 16, 16), 0, 0, 8 * area),
        ("1", "relu", (8, 16, 16), 0, 0, 8 * area),
    ]
    assert report.totals["params"] == 2 * 576 + 2 * 16
    assert report.totals["macs"] == 2 * 147_456
    # body: 1 + 2 + 2 = 5 around centre 0; the identity shortcut (1 at 0) lies inside it
    assert rf_of(report.rows[-1]) == ((5, 5), (1, 1), (0, 0))
    assert [r.ancestors for r in report.rows][0] == (("0", "residual"),)


INCEPTION = """\
    input: [4, 8, 8]
    layers:
      - parallel:
          branches:
            - [conv: {out: 2, k: 1}]
            - [conv: {out: 3, k: 3, p: 1}]
            - - maxpool: {k: 3, s: 1, p: 1}
              - conv: {out: 1, k: 1}
          merge: concat
    """


def test_parallel_concat():
    report = report_of(INCEPTION)
    area = 8 * 8
    assert table(report) == [
        ("0.0.0", "conv", (2, 8, 8), 2 * 4 + 2, 2 * 4 * area, 2 * 4 * 2 * area),
        ("0.1.0", "conv", (3, 8, 8), 3 * 4 * 9 + 3, 3 * 4 * 9 * area, 3 * 4 * 9 * 2 * area),
        ("0.2.0", "maxpool", (4, 8, 8), 0, 0, (9 - 1) * 4 * area),
        ("0.2.1", "conv", (1, 8, 8), 4 + 1, 4 * area, 4 * 2 * area),
        ("0.concat", "concat", (2 + 3 + 1, 8, 8), 0, 0, 0),
    ]
    # union of 1, 3 and 3 (pool then 1×1), all centred on 0
    assert rf_of(report.rows[-1]) == ((3, 3), (1, 1), (0, 0))
    assert_totals_are_row_sums(report)


UNET_SKIP = """\
    input: [2, 8, 8]
    layers:
      - conv: {out: 4, k: 3, p: 1}
        name: skip
      - maxpool: {k: 2}
      - conv: {out: 4, k: 3, p: 1}
      - upsample: {scale: 2}
      - concat: [skip]
      - conv: {out: 3, k: 1}
    """


def test_named_concat_skip():
    report = report_of(UNET_SKIP)
    assert table(report) == [
        ("skip", "conv", (4, 8, 8), 4 * 2 * 9 + 4, 4 * 2 * 9 * 64, 4 * 2 * 9 * 2 * 64),
        ("1", "maxpool", (4, 4, 4), 0, 0, 3 * 4 * 16),
        ("2", "conv", (4, 4, 4), 4 * 4 * 9 + 4, 4 * 4 * 9 * 16, 4 * 4 * 9 * 2 * 16),
        ("3", "upsample", (4, 8, 8), 0, 0, 0),  # nearest: no arithmetic
        ("4", "concat", (8, 8, 8), 0, 0, 0),
        ("5", "conv", (3, 8, 8), 3 * 8 + 3, 3 * 8 * 64, 3 * 8 * 2 * 64),
    ]
    half = Fraction(1, 2)
    # main path: conv 3 → pool 4 (jump 2, centre 1/2) → conv 4 + 2*2 = 8 → nearest ×2:
    # jump back to 1. Skip: 3 around 0 = [-1, 1] lies inside [1/2 - 7/2, 1/2 + 7/2] = [-3, 4].
    assert rf_of(report.rows[2]) == ((8, 8), (2, 2), (half, half))
    assert rf_of(report.rows[3]) == ((8, 8), (1, 1), (half, half))
    assert rf_of(report.rows[4]) == ((8, 8), (1, 1), (half, half))


def test_receptive_field_of_a_merge_is_the_union_of_partly_overlapping_fields():
    """SPEC §4: branch merges take the union. Branch 0 sees [0, 2] (k=3, no padding); branch 1
    crops 2 from the left (centre 2) then a padded 3-conv sees [1, 3]. Union [0, 3]: size 4,
    centre 3/2 — neither branch's field alone."""
    text = """\
        input: [1, 16]
        layers:
          - parallel:
              branches:
                - [conv: {out: 1, k: 3}]
                - - crop: {p: [[2, 0]]}
                  - conv: {out: 1, k: 3, p: 1}
              merge: add
        """
    report = report_of(text)
    branch0, crop, branch1, merge = report.rows
    assert rf_of(branch0) == ((3,), (1,), (1,))
    assert rf_of(crop) == ((1,), (1,), (2,))
    assert rf_of(branch1) == ((3,), (1,), (2,))
    assert merge.output.dims == (1, 14)
    assert rf_of(merge) == ((4,), (1,), (Fraction(3, 2),))
    assert report.rf.size == (4,)


def test_receptive_field_through_a_residual_with_a_strided_shortcut():
    """Body: 3×3/2 then 3×3 → 3 + 2*2 = 7 around 0, jump 2; shortcut 1×1/2 → 1 at 0, jump 2."""
    text = """\
        input: [4, 16, 16]
        layers:
          - residual:
              body:
                - conv: {out: 8, k: 3, s: 2, p: 1}
                - conv: {out: 8, k: 3, p: 1}
              shortcut:
                - conv: {out: 8, k: 1, s: 2}
        """
    report = report_of(text)
    assert rf_of(report.rows[1]) == ((7, 7), (2, 2), (0, 0))
    assert rf_of(report.rows[2]) == ((1, 1), (2, 2), (0, 0))
    assert rf_of(report.rows[-1]) == ((7, 7), (2, 2), (0, 0))


@pytest.mark.parametrize("head", ["gap\n  - flatten\n  - linear: {out: 5}",
                                  "flatten\n  - linear: {out: 5}", "gap", "gmp"])
def test_global_pooling_flatten_and_linear_see_the_whole_input(head):
    text = f"input: [3, 20, 12]\nlayers:\n  - conv: {{out: 4, k: 3, s: 2}}\n  - {head}\n"
    report = walk(parse(text, "t.yaml"))
    assert report.rows[0].rf.size == (3, 3)
    for row in report.rows[1:]:
        assert row.rf.whole
        assert row.rf.size == (20, 12)
    assert report.rf.size == (20, 12)


def test_side_branch_with_from_is_counted_and_the_main_path_resumes():
    """SPEC §2.2: an auxiliary head branches off with `from:`; every item is counted; the
    network's output is the last item's."""
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 3, p: 1}
            name: trunk
          - gap: {}
            from: trunk
          - flatten
          - linear: {out: 10}
            name: aux
          - conv: {out: 6, k: 1}
            from: trunk
        """
    report = report_of(text)
    assert [r.op for r in report.rows] == ["conv", "gap", "flatten", "linear", "conv"]
    assert report.output.dims == (6, 8, 8)
    assert report.rows[-1].input.dims == (4, 8, 8)
    assert report.totals["params"] == (4 * 27 + 4) + (4 * 10 + 10) + (6 * 4 + 6)
    assert_totals_are_row_sums(report)


def test_rows_know_the_rows_they_read():
    """The data-flow graph: each row's ``reads`` are the rows whose outputs it takes, in the
    op's order (-1: the network input) — through residuals, parallel branches, ``from:`` and
    named merges; ``Report.out`` is the row that makes the network's output."""
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 3, p: 1}
            name: trunk
          - residual:
              body:
                - conv: {out: 4, k: 3, p: 1}
                - relu
          - parallel:
              merge: concat
              branches:
                - [conv: {out: 2, k: 1}]
                - [maxpool: {k: 3, s: 1, p: 1}, conv: {out: 2, k: 1}]
          - gap: {}
            from: trunk
          - flatten
          - relu: {}
            from: trunk
            name: up
          - concat: [trunk]
        """
    report = report_of(text)
    got = [(r.path, r.op, r.reads) for r in report.rows]
    assert got == [
        ("trunk", "conv", (-1,)),
        ("1.body.0", "conv", (0,)),
        ("1.body.1", "relu", (1,)),
        ("1.add", "add", (2, 0)),               # body, then the identity shortcut
        ("2.0.0", "conv", (3,)),
        ("2.1.0", "maxpool", (3,)),
        ("2.1.1", "conv", (5,)),
        ("2.concat", "concat", (4, 6)),
        ("3", "gap", (0,)),                     # from: trunk
        ("4", "flatten", (8,)),
        ("up", "relu", (0,)),
        ("6", "concat", (10, 0)),               # the current tensor, then 'trunk'
    ]
    assert report.out == 11
    assert report.readers()[0] == [1, 3, 8, 10, 11]
    assert report.readers()[7] == []            # the parallel's output: nothing reads it


def test_collapsed_rows_keep_the_edges_that_cross_groups():
    report = report_of(UNET_SKIP)
    for depth in (0, 1):
        rows = collapse(report, depth)
        for row in rows:
            assert all(-1 <= s < row.index for s in row.reads)


# -- totals, batch, collapse --------------------------------------------------------------------

NETWORKS = {"stack": STACK, "residual": RESIDUAL, "inception": INCEPTION,
            "unet-skip": UNET_SKIP}

RESNETISH = """\
    name: resnet-ish
    input: [3, 64, 64]
    blocks:
      basic:
        args: {c: null, s: 1}
        layers:
          - residual:
              body:
                - conv: {out: c, k: 3, s: s, p: 1, bias: false}
                - bn
                - relu
                - conv: {out: c, k: 3, p: 1, bias: false}
                - bn
              shortcut:
                - conv: {out: c, k: 1, s: s, bias: false}
                - bn
          - relu
    layers:
      - conv: {out: 8, k: 7, s: 2, p: 3, bias: false}
      - bn
      - relu
      - maxpool: {k: 3, s: 2, p: 1}
      - basic: {c: 8}
        times: 2
      - basic: {c: 16, s: 2}
      - gap
      - flatten
      - linear: {out: 10}
    """
NETWORKS["resnet-ish"] = RESNETISH


@pytest.mark.parametrize("text", NETWORKS.values(), ids=NETWORKS.keys())
def test_totals_equal_the_sums_of_rows(text):
    assert_totals_are_row_sums(report_of(text))


@pytest.mark.parametrize("batch", [2, 5])
@pytest.mark.parametrize("text", NETWORKS.values(), ids=NETWORKS.keys())
def test_batch_multiplies_activations_macs_flops_not_params(text, batch):
    one, many = report_of(text), report_of(text, batch=batch)
    assert many.totals == {"params": one.totals["params"],
                           "macs": batch * one.totals["macs"],
                           "flops": batch * one.totals["flops"],
                           "activations": batch * one.totals["activations"]}
    # every row too, so that the table and the JSON still add up to the totals (SPEC §5)
    for a, b in zip(one.rows, many.rows):
        assert (b.params, b.macs, b.flops, b.activations) == (
            a.params, batch * a.macs, batch * a.flops, batch * a.activations)
        assert b.output == a.output  # shapes stay per sample
    assert_totals_are_row_sums(many)


def _collapsed_sums(rows):
    return {k: sum(getattr(r, k) for r in rows) for k in ("params", "macs", "flops")}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("depth", [0, 1, 5])
def test_collapse_keeps_totals(depth, batch):
    report = report_of(RESNETISH, batch=batch)
    rows = collapse(report, depth)
    want = {k: report.totals[k] for k in ("params", "macs", "flops")}
    assert _collapsed_sums(rows) == want
    assert [r.index for r in rows] == list(range(len(rows)))


def test_collapse_at_depth_0_gives_one_row_per_top_level_item():
    report = report_of(RESNETISH)
    rows = collapse(report, 0)
    assert [(r.path, r.op) for r in rows] == [
        ("0", "conv"), ("1", "bn"), ("2", "relu"), ("3", "maxpool"),
        ("4.0", "basic"), ("4.1", "basic"), ("5", "basic"),
        ("6", "gap"), ("7", "flatten"), ("8", "linear")]
    first = [r for r in report.rows if r.path.startswith("4.0.")]
    block = rows[4]
    assert (block.input, block.output, block.rf) == (first[0].input, first[-1].output,
                                                     first[-1].rf)
    assert block.params == 2 * (8 * 8 * 9 + 2 * 8) + (8 * 8 + 2 * 8)
    assert rows[6].output.dims == (16, 8, 8)


def test_collapse_at_depth_1_opens_blocks_but_not_their_structures():
    rows = collapse(report_of(RESNETISH), 1)
    assert [(r.path, r.op) for r in rows if r.path.startswith("5")] == [
        ("5.0", "residual"), ("5.1", "relu")]


def test_collapse_deeper_than_the_nesting_changes_nothing():
    report = report_of(RESNETISH)
    assert [(r.path, r.macs) for r in collapse(report, 5)] == [(r.path, r.macs)
                                                               for r in report.rows]


# -- symbolic inputs ----------------------------------------------------------------------------

SYMBOLIC = """\
    input: [1, H, W]
    layers:
      - conv: {out: 4, k: 3, s: 2, p: 1}
        name: a
      - bn
      - relu
      - maxpool: {k: 3, s: 2, p: 1, ceil: true}
      - conv: {out: 4, k: 3, d: 2, p: 2}
      - residual:
          body: [conv: {out: 4, k: 3, p: 1}]
      - avgpool: {k: 2}
      - deconv: {out: 3, k: 4, s: 2, p: 1}
      - conv: {out: 5, k: [3, 1], p: [1, 0]}
      - gap
      - flatten
      - linear: {out: 7}
    """


def test_symbolic_input_gives_symbolic_rows_and_totals():
    report = report_of(SYMBOLIC)
    first = report.rows[0]
    assert all(is_symbolic(n) for n in first.output.spatial)
    assert {s.name for s in first.output.spatial[0].free_symbols} == {"H"}
    assert is_symbolic(first.macs) and is_symbolic(report.totals["macs"])
    assert is_symbolic(report.totals["flops"]) and is_symbolic(report.totals["activations"])
    # params never depend on spatial sizes
    assert isinstance(report.totals["params"], int)
    assert report.output.dims == (7,)
    from convcalc.dims import fmt

    assert fmt(first.output.spatial[0]) == "(H - 1)//2 + 1"


@pytest.mark.parametrize("h, w", [(32, 32), (33, 47), (17, 9), (224, 160), (5, 64)])
def test_symbolic_equals_numeric_after_substitution(h, w):
    net = net_of(SYMBOLIC)
    symbolic, numeric = walk(net), walk(net, sets={"H": h, "W": w})
    env = {"H": h, "W": w}

    def sub(values):
        return tuple(substitute(v, env) for v in values)

    assert {k: substitute(v, env) for k, v in symbolic.totals.items()} == numeric.totals
    assert sub(symbolic.output.dims) == numeric.output.dims
    assert len(symbolic.rows) == len(numeric.rows)
    for s, n in zip(symbolic.rows, numeric.rows):
        assert sub(s.output.dims) == n.output.dims, s.path
        assert (substitute(s.macs, env), substitute(s.flops, env)) == (n.macs, n.flops), s.path
        assert (sub(s.rf.size), sub(s.rf.jump), sub(s.rf.start)) == rf_of(n), s.path


def test_symbolic_equals_numeric_with_an_explicit_input_override():
    net = net_of(SYMBOLIC)
    symbolic = walk(net)
    numeric = walk(net, input_override=[1, 40, 30])
    assert {k: substitute(v, {"H": 40, "W": 30}) for k, v in symbolic.totals.items()} == \
        numeric.totals


def test_symbolic_skip_concat_records_its_assumption():
    """2*(H//2) and H agree only for even H: the walk keeps the simpler size and says so."""
    report = report_of(UNET_SKIP.replace("[2, 8, 8]", "[2, H, W]"))
    concat = report.rows[4]
    from convcalc.dims import fmt

    assert [fmt(n) for n in concat.output.spatial] == ["H", "W"]
    assert report.assumptions == ("2*(H//2) = H", "2*(W//2) = W")
    for h, w in [(8, 8), (16, 10), (64, 2)]:
        env = {"H": h, "W": w}
        numeric = report_of(UNET_SKIP.replace("[2, 8, 8]", f"[2, {h}, {w}]"))
        assert {k: substitute(v, env) for k, v in report.totals.items()} == numeric.totals


def test_symbolic_zero_costs_are_plain_ints():
    """A zero-FLOP op on a symbolic input (nearest upsample) costs 0, not sympy's Integer(0):
    JSON must show the number 0, not the string "0"."""
    report = report_of(UNET_SKIP.replace("[2, 8, 8]", "[2, H, W]"))
    upsample = report.rows[3]
    assert upsample.flops == 0 and type(upsample.flops) is int


def test_set_binds_a_symbol_introduced_by_the_input_override():
    """`--input 3xHxW --set H=64` on a numeric YAML: H is an input symbol now."""
    net = net_of(STACK)
    report = walk(net, input_override=[3, "H", "W"], sets={"H": 64})
    conv = report.rows[0]
    assert conv.output.dims[:2] == (16, 64)
    assert is_symbolic(conv.output.dims[2])
    env = {"W": 40}
    assert {k: substitute(v, env) for k, v in report.totals.items()} == \
        walk(net, input_override=[3, 64, 40]).totals


def test_set_of_a_symbol_the_input_override_removed_is_an_error():
    from convcalc.errors import SpecError

    net = net_of(SYMBOLIC)
    with pytest.raises(SpecError, match="--set H: no var or input symbol"):
        walk(net, input_override=[1, 32, 32], sets={"H": 64})


def test_set_binds_a_var_before_the_vars_computed_from_it():
    text = """\
        input: [3, 8, 8]
        vars: {w: 4, w2: w*2}
        layers:
          - conv: {out: w2, k: 1}
        """
    assert report_of(text).output.dims == (8, 8, 8)
    assert report_of(text, sets={"w": 8}).output.dims == (16, 8, 8)


def test_symbolic_upsample_keeps_its_receptive_field():
    symbolic = report_of(UNET_SKIP.replace("[2, 8, 8]", "[2, H, W]"))
    numeric = report_of(UNET_SKIP.replace("[2, 8, 8]", "[2, 32, 32]"))  # field 8 < 32
    env = {"H": 32, "W": 32}
    for s, n in zip(symbolic.rows, numeric.rows):
        assert tuple(substitute(v, env) for v in s.rf.size) == n.rf.size, s.path
