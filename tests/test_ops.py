"""Known single-layer cases for the op table, expected values written as arithmetic.

Every case names its source: the seeds' worked examples (shared/seeds/README.md),
REFERENCE.md's published numbers, Dumoulin & Visin's 15 relationships ("A guide to
convolution arithmetic for deep learning", arXiv:1603.07285), or — for catalog coverage —
the cost rule the op documents in ``convcalc ops`` (SPEC §4: conv FLOPs =
(2*cin/g*prod(k) - 1 + bias)*cout*prod(out)).
"""

from __future__ import annotations

from fractions import Fraction

import random

import pytest

from convcalc import ops
from convcalc.core import RF, Shape
from convcalc.dims import fmt, symbol
from convcalc.errors import ConvcalcError, ShapeError, SpecError
from convcalc.walk import layer_report


def run(op, x, args):
    channels, *spatial = x
    return ops.apply(op, Shape(channels, tuple(spatial)), args)


def check(eff, expect):
    """Compare an Effect with the expected fields; ``parts`` maps part name → expected dict."""
    for key, value in expect.items():
        if key == "output":
            assert eff.output.dims == tuple(value), key
        elif key == "parts":
            got = dict(eff.parts)
            assert list(got) == list(value), "part names"
            for name, sub in value.items():
                check(got[name], sub)
        else:
            assert getattr(eff, key) == value, key


def case(source, op, x, args, **expect):
    return pytest.param(op, x, args, expect, id=source)


# -- the seeds' worked examples (shared/seeds/README.md) --------------------------------------

SEEDS = [
    case("seeds:6x6*3x3->4x4", "conv", (1, 6, 6), {"out": 1, "k": 3},
         output=(1, 6 - 3 + 1, 6 - 3 + 1)),
    # the notes count 156 params here, forgetting the 3 input channels: 6·(5·5·3 + 1) = 456
    case("seeds:32x32x3-six-5x5->28x28x6", "conv", (3, 32, 32), {"out": 6, "k": 5},
         output=(6, 32 - 5 + 1, 32 - 5 + 1), params=6 * (5 * 5 * 3 + 1)),
    case("seeds:7x7x3->5x5x128-plain-86400", "conv", (3, 7, 7), {"out": 128, "k": 3},
         output=(128, 5, 5), macs=128 * (3 * 3 * 3) * (5 * 5)),
    case("seeds:7x7x3->5x5x128-sepconv-675+9600", "sepconv", (3, 7, 7), {"out": 128, "k": 3},
         output=(128, 5, 5), macs=3 * 3 * 3 * 5 * 5 + 128 * 3 * 5 * 5,
         parts={"dw": {"output": (3, 5, 5), "macs": 3 * (3 * 3) * (5 * 5)},
                "pw": {"output": (128, 5, 5), "macs": 128 * 3 * (5 * 5)}}),
    case("seeds:3x3-on-5x5-conv-81", "conv", (1, 5, 5), {"out": 1, "k": 3},
         output=(1, 3, 3), macs=(3 * 3) * (3 * 3)),
    case("seeds:3x3-on-5x5-spatial-sepconv-72", "spatial_sepconv", (1, 5, 5),
         {"out": 1, "k": 3}, output=(1, 3, 3), macs=3 * (3 * 5) + 3 * (3 * 3),
         parts={"3x1": {"output": (1, 3, 5), "macs": 3 * (3 * 5)},
                "1x3": {"output": (1, 3, 3), "macs": 3 * (3 * 3)}}),
    case("seeds:transposed-2x2-k3->4x4", "deconv", (1, 2, 2), {"out": 1, "k": 3},
         output=(1, (2 - 1) * 1 + 3, (2 - 1) * 1 + 3)),
    case("seeds:dilated-7x7-k3-d2->3x3", "conv", (1, 7, 7), {"out": 1, "k": 3, "d": 2},
         output=(1, 7 - 2 * (3 - 1), 7 - 2 * (3 - 1))),
]


# -- REFERENCE.md: worked single-layer cases from public sources ------------------------------

REFERENCE = [
    case("pytorch-docs:ConvTranspose2d-6x6->11x11", "deconv", (16, 6, 6),
         {"out": 16, "k": 3, "s": 2, "p": 1},
         output=(16, (6 - 1) * 2 - 2 * 1 + (3 - 1) + 1, (6 - 1) * 2 - 2 * 1 + (3 - 1) + 1)),
    case("pytorch-docs:ConvTranspose2d-output_padding1->12x12", "deconv", (16, 6, 6),
         {"out": 16, "k": 3, "s": 2, "p": 1, "op": 1}, output=(16, 12, 12)),
    case("fvcore-issue-78:ConvTranspose2d-32->1-k3-on-1x1-288-MACs", "deconv", (32, 1, 1),
         {"out": 1, "k": 3}, output=(1, 3, 3), macs=32 * 1 * 3 * 3 * (1 * 1)),
    case("by-hand:ConvTranspose2d-3->1-k2-s2-on-2x2-48-MACs", "deconv", (3, 2, 2),
         {"out": 1, "k": 2, "s": 2}, output=(1, 4, 4), macs=(2 * 2) * 3 * (1 * 2 * 2)),
    case("pytorch-issue-57178:MaxPool-k1-s2-ceil-on-32->16", "maxpool", (1, 32),
         {"k": 1, "s": 2, "ceil": True}, output=(1, 16)),
    case("ceil-clip-rule:size5-k2-s2-p1-ceil->3", "maxpool", (1, 5),
         {"k": 2, "s": 2, "p": 1, "ceil": True}, output=(1, 3)),
    case("mmengine-docs:Conv2d-3->10-k3-on-10x10", "conv", (3, 10, 10), {"out": 10, "k": 3},
         output=(10, 8, 8), params=10 * (3 * 3 * 3 + 1), macs=10 * 3 * 3 * 3 * (8 * 8)),
    case("torchscan-docs:Linear-3->2", "linear", (3,), {"out": 2},
         output=(2,), params=3 * 2 + 2, macs=3 * 2, flops=2 * 3 * 2),
    case("D&V-after-relationship-6:i6-k3-s2-p1->3", "conv", (1, 6), {"out": 1, "k": 3, "s": 2,
                                                                     "p": 1}, output=(1, 3)),
    case("D&V-after-relationship-6:i5-k3-s2-p1->3", "conv", (1, 5), {"out": 1, "k": 3, "s": 2,
                                                                     "p": 1}, output=(1, 3)),
    case("D&V-relationship-14:i'3-a1->6", "deconv", (1, 3),
         {"out": 1, "k": 3, "s": 2, "p": 1, "op": 1}, output=(1, 6)),
]


# -- Dumoulin & Visin's 15 relationships (arXiv:1603.07285), with their figures' sizes --------
# The transposed ones (8-14) are stated for the transpose of a conv (i, k, s, p); in PyTorch's
# terms that is ConvTranspose(k, s, p) on the conv's output size i', with output_padding a.

DV = [
    # 1: no zero padding, unit strides: o = (i - k) + 1
    case("D&V-1:i4-k3", "conv", (1, 4), {"out": 1, "k": 3}, output=(1, (4 - 3) + 1)),
    # 2: zero padding, unit strides: o = (i - k) + 2p + 1
    case("D&V-2:i5-k4-p2", "conv", (1, 5), {"out": 1, "k": 4, "p": 2},
         output=(1, (5 - 4) + 2 * 2 + 1)),
    # 3: half (same) padding, k = 2n + 1, p = floor(k/2): o = i
    case("D&V-3:i5-k3-p1-half", "conv", (1, 5), {"out": 1, "k": 3, "p": 3 // 2}, output=(1, 5)),
    # 4: full padding, p = k - 1: o = i + (k - 1)
    case("D&V-4:i5-k3-p2-full", "conv", (1, 5), {"out": 1, "k": 3, "p": 3 - 1},
         output=(1, 5 + (3 - 1))),
    case("D&V-4:i5-k3-p=full-mode", "conv", (1, 5), {"out": 1, "k": 3, "p": "full"},
         output=(1, 5 + (3 - 1))),
    # 5: no zero padding, non-unit strides: o = floor((i - k)/s) + 1
    case("D&V-5:i5-k3-s2", "conv", (1, 5), {"out": 1, "k": 3, "s": 2},
         output=(1, (5 - 3) // 2 + 1)),
    # 6: zero padding, non-unit strides: o = floor((i + 2p - k)/s) + 1
    case("D&V-6:i5-k3-s2-p1", "conv", (1, 5), {"out": 1, "k": 3, "s": 2, "p": 1},
         output=(1, (5 + 2 * 1 - 3) // 2 + 1)),
    case("D&V-6:i6-k3-s2-p1", "conv", (1, 6), {"out": 1, "k": 3, "s": 2, "p": 1},
         output=(1, (6 + 2 * 1 - 3) // 2 + 1)),
    # 7: pooling: o = floor((i - k)/s) + 1
    case("D&V-7:maxpool-i5-k3-s1", "maxpool", (1, 5), {"k": 3, "s": 1},
         output=(1, (5 - 3) // 1 + 1)),
    case("D&V-7:avgpool-i5-k3-s1", "avgpool", (1, 5), {"k": 3, "s": 1},
         output=(1, (5 - 3) // 1 + 1)),
    case("D&V-7:maxpool-i6-k2-s2", "maxpool", (1, 6), {"k": 2, "s": 2},
         output=(1, (6 - 2) // 2 + 1)),
    # 8: transpose of (i=4, k=3, s=1, p=0): o' = i' + (k - 1), i' = 2
    case("D&V-8:transpose-of-i4-k3", "deconv", (1, 2), {"out": 1, "k": 3},
         output=(1, 2 + (3 - 1))),
    # 9: transpose of (i=5, k=4, s=1, p=2): o' = i' + (k - 1) - 2p, i' = 6
    case("D&V-9:transpose-of-i5-k4-p2", "deconv", (1, 6), {"out": 1, "k": 4, "p": 2},
         output=(1, 6 + (4 - 1) - 2 * 2)),
    # 10: half padding transposed: o' = i'
    case("D&V-10:transpose-of-i5-k3-p1", "deconv", (1, 5), {"out": 1, "k": 3, "p": 1},
         output=(1, 5)),
    # 11: full padding transposed: o' = i' - (k - 1), i' = 7
    case("D&V-11:transpose-of-i5-k3-p2", "deconv", (1, 7), {"out": 1, "k": 3, "p": 2},
         output=(1, 7 - (3 - 1))),
    # 12: no padding, non-unit strides, (i - k) multiple of s: o' = s(i' - 1) + k, i' = 2
    case("D&V-12:transpose-of-i5-k3-s2", "deconv", (1, 2), {"out": 1, "k": 3, "s": 2},
         output=(1, 2 * (2 - 1) + 3)),
    # 13: padding, non-unit strides, (i + 2p - k) multiple of s: o' = s(i' - 1) + k - 2p
    case("D&V-13:transpose-of-i5-k3-s2-p1", "deconv", (1, 3), {"out": 1, "k": 3, "s": 2, "p": 1},
         output=(1, 2 * (3 - 1) + 3 - 2 * 1)),
    # 14: o' = s(i' - 1) + a + k - 2p, a = (i + 2p - k) mod s = output_padding
    case("D&V-14:transpose-of-i6-k3-s2-p1-a1", "deconv", (1, 3),
         {"out": 1, "k": 3, "s": 2, "p": 1, "op": (6 + 2 * 1 - 3) % 2},
         output=(1, 2 * (3 - 1) + 1 + 3 - 2 * 1)),
    # 15: dilation: o = floor((i + 2p - k - (k - 1)(d - 1))/s) + 1
    case("D&V-15:i7-k3-d2", "conv", (1, 7), {"out": 1, "k": 3, "d": 2},
         output=(1, (7 + 2 * 0 - 3 - (3 - 1) * (2 - 1)) // 1 + 1)),
    case("D&V-15:i9-k3-d3-s2-p2", "conv", (1, 9), {"out": 1, "k": 3, "d": 3, "s": 2, "p": 2},
         output=(1, (9 + 2 * 2 - 3 - (3 - 1) * (3 - 1)) // 2 + 1)),
]


@pytest.mark.parametrize("op, x, args, expect", SEEDS + REFERENCE + DV)
def test_published_case(op, x, args, expect):
    check(run(op, x, args), expect)


def test_dv_covers_all_fifteen_relationships():
    numbers = {int(p.id.split(":")[0].split("-")[1]) for p in DV}
    assert numbers == set(range(1, 16))


# -- every op of the catalog, by the cost rule it documents -----------------------------------

CATALOG = [
    # conv: params = cout*cin/g*prod(k) + bias*cout; MACs = cout*cin/g*prod(k)*prod(out);
    # FLOPs = (2*cin/g*prod(k) - 1 + bias)*cout*prod(out)
    case("conv:grouped-resnext", "conv", (8, 10, 10), {"out": 16, "k": 3, "p": 1, "g": 4},
         output=(16, 10, 10), params=16 * (8 // 4) * 3 * 3 + 16,
         macs=16 * (8 // 4) * 3 * 3 * (10 * 10),
         flops=(2 * (8 // 4) * 3 * 3 - 1 + 1) * 16 * (10 * 10)),
    case("conv:no-bias-flops", "conv", (3, 5, 5), {"out": 4, "k": 3, "bias": False},
         output=(4, 3, 3), params=4 * 3 * 3 * 3, macs=4 * 3 * 9 * 9,
         flops=(2 * 3 * 3 * 3 - 1) * 4 * 9),
    case("conv:1d", "conv1d", (2, 20), {"out": 3, "k": 5, "s": 3, "p": 2},
         output=(3, (20 + 2 * 2 - 5) // 3 + 1), params=3 * 2 * 5 + 3,
         macs=3 * 2 * 5 * ((20 + 4 - 5) // 3 + 1)),
    case("conv:3d", "conv3d", (3, 8, 8, 8), {"out": 4, "k": 3}, output=(4, 6, 6, 6),
         params=4 * (3 * 27 + 1), macs=4 * 3 * 27 * 6 ** 3),
    case("conv:asymmetric-k3x1-s2x1-p1x0", "conv", (2, 9, 9),
         {"out": 2, "k": [3, 1], "s": [2, 1], "p": [1, 0]},
         output=(2, (9 + 2 - 3) // 2 + 1, 9), params=2 * 2 * 3 * 1 + 2,
         macs=2 * 2 * 3 * 5 * 9),
    case("conv:same-even-kernel-extra-pad-at-end", "conv", (1, 10), {"out": 1, "k": 4,
                                                                     "p": "same"},
         # padding (1, 2): output o reads o - 1 .. o + 2
         output=(1, 10), rf=(ops.RFStep.window(-((4 - 1) // 2), 1, 4),)),
    case("conv:same-dilated", "conv", (1, 10, 7), {"out": 1, "k": 3, "d": 2, "p": "same"},
         output=(1, 10, 7)),
    case("conv:valid", "conv", (1, 10), {"out": 1, "k": 4, "p": "valid"}, output=(1, 7)),
    case("conv:lo-hi-pairs", "conv", (1, 10), {"out": 1, "k": 3, "p": [[0, 2]]},
         output=(1, 10 + 0 + 2 - 3 + 1)),
    case("conv:pytorch-key-aliases", "conv", (4, 9, 9),
         {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1,
          "groups": 2}, output=(8, 5, 5), params=8 * 2 * 9 + 8),
    case("pwconv:1x1", "pwconv", (8, 6, 6), {"out": 16}, output=(16, 6, 6),
         params=16 * 8 + 16, macs=16 * 8 * 36, flops=(2 * 8 - 1 + 1) * 16 * 36),
    case("pwconv:g4-shufflenet", "pwconv", (8, 6, 6), {"out": 16, "g": 4}, output=(16, 6, 6),
         params=16 * (8 // 4) + 16, macs=16 * (8 // 4) * 36,
         flops=(2 * (8 // 4) - 1 + 1) * 16 * 36),
    case("dwconv:mult1", "dwconv", (8, 10, 10), {"k": 3, "p": 1}, output=(8, 10, 10),
         params=8 * 1 * 9 + 8, macs=8 * 1 * 9 * 100, flops=(2 * 9 - 1 + 1) * 8 * 100),
    case("dwconv:mult2-stride2", "dwconv", (8, 10, 10), {"k": 3, "p": 1, "s": 2, "mult": 2},
         output=(8 * 2, 5, 5), params=16 * 1 * 9 + 16, macs=16 * 9 * 25),
    case("sepconv:mobilenet-parts", "sepconv", (32, 14, 14), {"out": 64, "k": 3, "p": 1,
                                                              "bias": False},
         output=(64, 14, 14), params=32 * 9 + 64 * 32,
         macs=32 * 9 * 196 + 64 * 32 * 196,
         flops=(2 * 9 - 1) * 32 * 196 + (2 * 32 - 1) * 64 * 196,
         parts={"dw": {"output": (32, 14, 14), "params": 32 * 9},
                "pw": {"output": (64, 14, 14), "params": 64 * 32}}),
    case("sepconv:mult2", "sepconv", (4, 8, 8), {"out": 6, "k": 3, "mult": 2},
         output=(6, 6, 6), params=(8 * 9 + 8) + (6 * 8 + 6),
         parts={"dw": {"output": (8, 6, 6)}, "pw": {"output": (6, 6, 6)}}),
    case("spatial_sepconv:bias-params", "spatial_sepconv", (4, 9, 9),
         {"out": 8, "k": 3, "p": 1}, output=(8, 9, 9),
         params=(8 * 4 * 3 + 8) + (8 * 8 * 3 + 8), macs=8 * 4 * 3 * 81 + 8 * 8 * 3 * 81),
    case("spatial_sepconv:3d", "spatial_sepconv", (1, 5, 5, 5), {"out": 1, "k": 3},
         output=(1, 3, 3, 3), macs=3 * (3 * 5 * 5) + 3 * (3 * 3 * 5) + 3 * (3 * 3 * 3)),
    # flatconv (Jin et al. 2014): 1x1 lateral, then depthwise 3x1, then depthwise 1x3
    case("flatconv:2d", "flatconv", (4, 10, 10), {"out": 8, "k": 3},
         output=(8, 8, 8), params=(8 * 4 + 8) + (8 * 3 + 8) + (8 * 3 + 8),
         macs=8 * 4 * 100 + 8 * 3 * (8 * 10) + 8 * 3 * (8 * 8),
         parts={"lateral": {"output": (8, 10, 10)}, "3x1": {"output": (8, 8, 10)},
                "1x3": {"output": (8, 8, 8)}}),
    # transposed: params = cin*cout/g*prod(k) + bias*cout; MACs = cin*cout/g*prod(k)*prod(in);
    # FLOPs = 2*MACs + bias*cout*prod(out)
    case("deconv:groups-dilation-output_padding", "deconv", (4, 5),
         {"out": 6, "k": 3, "s": 2, "p": 1, "op": 1, "d": 2, "g": 2},
         output=(6, (5 - 1) * 2 - 2 * 1 + 2 * (3 - 1) + 1 + 1),
         params=4 * (6 // 2) * 3 + 6, macs=4 * (6 // 2) * 3 * 5,
         flops=2 * (4 * 3 * 3 * 5) + 6 * 12),
    case("deconv:output_padding-below-dilation", "deconv", (2, 4),
         {"out": 2, "k": 2, "s": 1, "d": 3, "op": 2},
         output=(2, (4 - 1) * 1 + 3 * (2 - 1) + 2 + 1)),
    case("deconv:no-bias-2d", "convtranspose2d", (8, 7, 7),
         {"out": 4, "k": 4, "s": 2, "p": 1, "bias": False},
         output=(4, 14, 14), params=8 * 4 * 16, macs=8 * 4 * 16 * 49, flops=2 * 8 * 4 * 16 * 49),
    # deformconv cost model (ops.deformconv's register text): offset conv cin → og*(rank +
    # modulated)*prod(k) with bias, same k, s, p, d; main conv by the conv rule; FLOPs add
    # (2^(rank+1) - 1) per sampled value (cin*prod(k)*prod(out) of them), 1 per sampled value
    # for modulation, 3 per mask element (og*prod(k)*prod(out))
    case("deformconv:v1", "deformconv", (4, 6, 6), {"out": 8, "k": 3, "p": 1},
         output=(8, 6, 6),
         params=(2 * 9 * 4 * 9 + 2 * 9) + (8 * 4 * 9 + 8),
         macs=2 * 9 * 4 * 9 * 36 + 8 * 4 * 9 * 36,
         flops=(2 * 4 * 9) * 18 * 36 + (2 * 4 * 9) * 8 * 36 + (2 ** 3 - 1) * (4 * 9 * 36),
         parts={"offset": {"output": (2 * 9, 6, 6), "params": 18 * 4 * 9 + 18},
                "deform": {"output": (8, 6, 6), "params": 8 * 4 * 9 + 8}}),
    case("deformconv:v2-modulated-no-bias-groups", "deformconv", (4, 6, 6),
         {"out": 8, "k": 3, "p": 1, "g": 2, "offset_groups": 2, "modulated": True,
          "bias": False},
         output=(8, 6, 6),
         params=(2 * 3 * 9 * 4 * 9 + 2 * 3 * 9) + 8 * (4 // 2) * 9,
         macs=54 * 4 * 9 * 36 + 8 * 2 * 9 * 36,
         flops=(2 * 4 * 9) * 54 * 36 + (2 * 2 * 9 - 1) * 8 * 36
         + (2 ** 3 - 1) * (4 * 9 * 36) + 4 * 9 * 36 + 3 * (2 * 9 * 36),
         parts={"offset+mask": {"output": (54, 6, 6)}, "deform": {"output": (8, 6, 6)}}),
    # pools: maxpool FLOPs = (prod(k) - 1) per output element, avgpool prod(k)
    case("maxpool:resnet-stem", "maxpool", (64, 112, 112), {"k": 3, "s": 2, "p": 1},
         output=(64, 56, 56), params=0, macs=0, flops=(9 - 1) * 64 * 56 * 56),
    case("maxpool:googlenet-ceil", "maxpool", (64, 112, 112), {"k": 3, "s": 2, "ceil": True},
         output=(64, 56, 56)),
    case("maxpool:dilated", "maxpool", (1, 10), {"k": 3, "s": 1, "d": 2},
         output=(1, 10 - 2 * (3 - 1))),
    case("maxpool:3d", "maxpool3d", (2, 8, 9, 10), {"k": 2}, output=(2, 4, 4, 5),
         flops=(8 - 1) * 2 * 4 * 4 * 5),
    # PyTorch 2.13: MaxPool1d(3, stride=3, ceil_mode=True) on 1 gives 1 (the window overshoots
    # by less than a stride); with stride 1 it is refused (see ERRORS)
    case("maxpool:ceil-first-window-overshoots", "maxpool", (1, 1), {"k": 3, "ceil": True},
         output=(1, 1)),
    case("avgpool:stride-defaults-to-k", "avgpool", (3, 7, 7), {"k": 2},
         output=(3, 3, 3), flops=4 * 3 * 9),
    case("avgpool:ceil-padding", "avgpool", (1, 6), {"k": 3, "s": 2, "p": 1, "ceil": True},
         output=(1, 4)),
    # adaptive: windows [floor(i*n/o), ceil((i+1)*n/o)); 7 → 3 gives [0,3) [2,5) [4,7)
    case("adaptive_avgpool:7->3", "adaptive_avgpool", (2, 7), {"out": 3},
         output=(2, 3), flops=2 * (3 + 3 + 3)),
    case("adaptive_maxpool:7->3", "adaptive_maxpool", (2, 7), {"out": 3},
         output=(2, 3), flops=2 * ((3 - 1) + (3 - 1) + (3 - 1))),
    case("adaptive_avgpool:alexnet-6x6-on-13x13", "adaptive_avgpool", (256, 13, 13),
         {"out": 6}, output=(256, 6, 6)),
    case("adaptive_avgpool:upsampling-2->3", "adaptive_avgpool", (1, 2), {"out": 3},
         output=(1, 3), flops=1 + 2 + 1),
    case("gap", "gap", (4, 5, 6), {}, output=(4, 1, 1), params=0, flops=4 * 5 * 6, rf=None),
    case("gmp", "gmp", (4, 5, 6), {}, output=(4, 1, 1), flops=4 * (5 * 6 - 1), rf=None),
    case("linear:no-bias", "fc", (12,), {"out": 5, "bias": False}, output=(5,),
         params=12 * 5, macs=12 * 5, flops=(2 * 12 - 1) * 5, rf=None),
    case("flatten", "flatten", (3, 4, 5), {}, output=(3 * 4 * 5,), flops=0),
    case("bn", "bn", (16, 4, 4), {}, output=(16, 4, 4), params=2 * 16, flops=2 * 16 * 16),
    case("bn:flattened", "batchnorm1d", (16,), {}, output=(16,), params=2 * 16),
    # BatchNorm1d takes (N, C) and (N, C, L): the 1d name accepts a flat input and a 1-D one
    case("bn:1d-named", "bn1d", (16, 9), {}, output=(16, 9), params=2 * 16),
    case("bn:3d-named", "batchnorm3d", (4, 2, 3, 5), {}, params=2 * 4, flops=2 * 4 * 30),
    case("in:1d-named", "instancenorm1d", (4, 7), {}, params=0, flops=6 * 4 * 7),
    case("deconv:1d-named", "conv_transpose1d", (2, 5), {"out": 3, "k": 3, "s": 2},
         output=(3, (5 - 1) * 2 + (3 - 1) + 1)),
    case("deconv:deconv3d", "deconv3d", (1, 2, 2, 2), {"out": 1, "k": 2},
         output=(1, 3, 3, 3)),
    case("adaptive:2d-named", "adaptive_avgpool2d", (3, 9, 9), {"out": 3}, output=(3, 3, 3)),
    case("adaptive:1d-named", "adaptive_maxpool1d", (3, 9), {"out": 3}, output=(3, 3)),
    case("maxpool:3d-named", "maxpool3d", (1, 4, 4, 4), {"k": 2}, output=(1, 2, 2, 2)),
    case("gn", "gn", (16, 4, 4), {"g": 4}, params=2 * 16, flops=8 * 16 * 16),
    case("gn:no-affine", "gn", (16, 4, 4), {"g": 4, "affine": False}, params=0,
         flops=6 * 16 * 16),
    case("ln", "ln", (16, 4, 4), {}, params=2 * 16, flops=8 * 256),
    case("in:affine-off-by-default", "in", (16, 4, 4), {}, params=0, flops=6 * 256),
    case("in:affine", "instancenorm", (16, 4, 4), {"affine": True}, params=2 * 16),
    case("softmax", "softmax", (10, 2, 3), {}, output=(10, 2, 3), flops=(3 * 10 - 1) * 6),
    case("upsample:nearest-scale2", "upsample", (3, 4, 5), {"scale": 2}, output=(3, 8, 10),
         flops=0),
    case("upsample:bilinear-size", "upsample", (3, 4, 5), {"size": [7, 3], "mode": "bilinear"},
         output=(3, 7, 3), flops=3 * (2 ** 2 - 1) * (3 * 7 * 3)),
    case("upsample:trilinear", "upsample", (1, 2, 2, 2), {"scale": 2, "mode": "trilinear"},
         output=(1, 4, 4, 4), flops=3 * (2 ** 3 - 1) * 64),
    case("pixel_shuffle:r2", "pixel_shuffle", (16, 4, 4), {"r": 2},
         output=(16 // 2 ** 2, 8, 8), flops=0),
    case("channel_shuffle", "channel_shuffle", (12, 4, 4), {"g": 3}, output=(12, 4, 4),
         params=0, flops=0),
    # se: gap → 1x1 c→c/r (+bias) → relu → 1x1 c/r→c (+bias) → sigmoid → scale
    case("se:reduction4", "se", (32, 7, 7), {"reduction": 4}, output=(32, 7, 7),
         params=(8 * 32 + 8) + (32 * 8 + 32), macs=8 * 32 + 32 * 8,
         flops=32 * 49 + 2 * 32 * 8 + 8 + 2 * 8 * 32 + 3 * 32 + 32 * 49,
         parts={"gap": {"output": (32, 1, 1)}, "down": {"output": (8, 1, 1)},
                "relu": {"flops": 8}, "up": {"output": (32, 1, 1)},
                "sigmoid": {"flops": 3 * 32}, "scale": {"flops": 32 * 49}}),
    case("se:squeeze-hardsigmoid", "se", (16, 4, 4),
         {"squeeze": 4, "gate": "hardsigmoid", "act": "relu6"},
         params=(4 * 16 + 4) + (16 * 4 + 16)),
    case("pad", "pad", (3, 4, 5), {"p": 2}, output=(3, 4 + 2 * 2, 5 + 2 * 2), flops=0),
    case("pad:lo-hi", "pad", (3, 4, 5), {"p": [[1, 2], 0]}, output=(3, 4 + 1 + 2, 5)),
    case("crop:u-net", "crop", (64, 64, 64), {"p": 4}, output=(64, 64 - 2 * 4, 64 - 2 * 4)),
    case("crop:lo-hi", "crop", (1, 10), {"p": [[1, 3]]}, output=(1, 10 - 1 - 3)),
    case("slice:shufflenet-v2-split", "slice", (116, 28, 28), {"to": 58}, output=(58, 28, 28)),
    case("slice:from-to", "slice", (116, 28, 28), {"from": 58, "to": 116},
         output=(116 - 58, 28, 28)),
]

# FLOPs per element of the element-wise ops: one per operation of PyTorch's documented formula
ELEMENTWISE_FLOPS = {"relu": 1, "relu6": 2, "leaky_relu": 4, "prelu": 4, "elu": 6, "gelu": 5,
                     "silu": 4, "sigmoid": 3, "hardsigmoid": 4, "hardswish": 5, "tanh": 1,
                     "dropout": 0, "identity": 0}

CATALOG += [case(f"elementwise:{name}", name, (6, 4, 5), {}, output=(6, 4, 5),
                 params=1 if name == "prelu" else 0,  # PReLU's default: one shared slope
                 macs=0, flops=per * 6 * 4 * 5)
            for name, per in ELEMENTWISE_FLOPS.items()]
CATALOG += [case("prelu:per-channel", "prelu", (6, 4, 5), {"num": 6}, params=6)]
# GroupNorm(2, 6) on a (N, 6) input: PyTorch takes it, 2*6 affine params, 8 FLOPs per element
CATALOG += [case("gn:flat", "gn", (6,), {"g": 2}, output=(6,), params=2 * 6, flops=8 * 6)]


@pytest.mark.parametrize("op, x, args, expect", CATALOG)
def test_catalog_case(op, x, args, expect):
    check(run(op, x, args), expect)


def test_every_catalog_op_has_a_case():
    tested = {ops.resolve(p.values[0]).name for p in SEEDS + REFERENCE + DV + CATALOG}
    assert set(ops.OPS) <= tested | {"add", "concat", "mul"}
    assert set(ELEMENTWISE_FLOPS) == {n for n, d in ops.OPS.items()
                                      if d.summary.startswith("element-wise")}


def test_unknown_channels_leave_costs_unknown():
    eff = ops.apply("conv", Shape(None, (10,)), {"k": 3}, lenient=True)
    assert eff.output == Shape(None, (8,))
    assert (eff.params, eff.macs, eff.flops) == (None, None, None)


# -- receptive fields of single layers (SPEC §4) ---------------------------------------------

RF_CASES = [
    # conv/pool: size d*(k - 1) + 1, jump s, start = d*(k - 1)/2 - p (centre of the field)
    pytest.param("conv", (1, 32, 32), {"out": 1, "k": 3, "s": 2, "p": 1},
                 RF((3, 3), (2, 2), (0, 0)), id="conv-k3-s2-p1"),
    pytest.param("conv", (1, 32), {"out": 1, "k": 5, "d": 3},
                 RF((3 * (5 - 1) + 1,), (1,), (6,)), id="conv-k5-d3"),
    pytest.param("conv", (1, 32, 32), {"out": 1, "k": [7, 1], "s": [4, 1]},
                 RF((7, 1), (4, 1), (3, 0)), id="conv-k7x1-s4x1"),
    pytest.param("maxpool", (1, 32), {"k": 3, "s": 2, "p": 1, "d": 2},
                 RF((2 * (3 - 1) + 1,), (2,), (1,)), id="maxpool-k3-s2-p1-d2"),
    # transposed: jump 1/s; output o reads the inputs i with o = i*s - p + j*d (tap j < k):
    # at most floor((k-1)*g/s) + 1 of them, d/g apart, g = gcd(d, s); start is the centre of
    # the inputs output 0 reads.
    # k4 s2 p1: output 0 reads i = (0 + 1 - j)/2 for j = 1, 3: {0, -1}; every output reads 2
    pytest.param("deconv", (1, 8), {"out": 1, "k": 4, "s": 2, "p": 1},
                 RF(((4 - 1) // 2 + 1,), (Fraction(1, 2),), (Fraction(-1 + 0, 2),)),
                 id="deconv-k4-s2-p1"),
    # k3 s3: outputs 0, 1, 2 read input 0 alone (taps j = 0, 1, 2)
    pytest.param("deconv", (1, 8, 8), {"out": 1, "k": 3, "s": 3},
                 RF((1, 1), (Fraction(1, 3),) * 2, (0, 0)),
                 id="deconv-k3-s3-no-overlap"),
    # k5 s2 d2: output 0 reads i = -j for j = 0..4, {-4, ..., 0}; odd outputs read nothing
    pytest.param("deconv", (1, 8), {"out": 1, "k": 5, "s": 2, "d": 2},
                 RF(((5 - 1) * 2 // 2 * (2 // 2) + 1,), (Fraction(1, 2),),
                    (Fraction(-4 + 0, 2),)),
                 id="deconv-k5-s2-d2"),
    # k1 s2 p1: output o reads (o + 1)/2 when o is odd: unit 0 reads nothing, its start is
    # the midpoint between input 0 (read by unit -1) and input 1 (read by unit 1)
    pytest.param("deconv", (1, 8), {"out": 1, "k": 1, "s": 2, "p": 1},
                 RF((1,), (Fraction(1, 2),), (Fraction(0 + 1, 2),)),
                 id="deconv-k1-s2-p1-unit-0-reads-nothing"),
    # adaptive pooling: windows [floor(i*n/o), ceil((i+1)*n/o)); 10 -> 3: [0, 4), [3, 7),
    # [6, 10): the largest has 4, unit 0's centre is (0 + 3)/2
    pytest.param("adaptive_avgpool", (1, 10), {"out": 3},
                 RF((4,), (Fraction(10, 3),), (Fraction(0 + 3, 2),)), id="adaptive-10-to-3"),
    # 7 -> 5: [0, 2), [1, 3), [2, 5), [4, 6), [5, 7): the middle window has 3
    pytest.param("adaptive_maxpool", (1, 7), {"out": 5},
                 RF((5 - 2,), (Fraction(7, 5),), (Fraction(0 + 1, 2),)), id="adaptive-7-to-5"),
    pytest.param("adaptive_avgpool", (1, 6, 9), {"out": 1},
                 RF((6, 9), (6, 9), (Fraction(6 - 1, 2), Fraction(9 - 1, 2)), whole=True),
                 id="adaptive-to-1-is-global"),
    # upsample (PyTorch's source index, unclamped): nearest x2 reads floor(o/2); bilinear x2
    # reads floor(x), floor(x) + 1 with x = (o + 1/2)/2 - 1/2 = -1/4 for o = 0: {-1, 0}
    pytest.param("upsample", (1, 8, 8), {"scale": 2},
                 RF((1, 1), (Fraction(1, 2),) * 2, (0, 0)), id="upsample-nearest-x2"),
    pytest.param("upsample", (1, 8, 8), {"scale": 2, "mode": "bilinear"},
                 RF((2, 2), (Fraction(1, 2),) * 2, (Fraction(-1, 2),) * 2),
                 id="upsample-bilinear-x2"),
    # x3: x = (o + 1/2)/3 - 1/2 is a whole number for o = 1 (weight 0 on the second input)
    pytest.param("upsample", (1, 8), {"scale": 3, "mode": "linear"},
                 RF((2,), (Fraction(1, 3),), (Fraction(-1, 2),)), id="upsample-linear-x3"),
    # align_corners, 4 -> 7: x = o*(4 - 1)/(7 - 1) = o/2, output 0 reads input 0 alone
    pytest.param("upsample", (1, 4), {"size": 7, "mode": "linear", "align_corners": True},
                 RF((2,), (Fraction(1, 2),), (0,)), id="upsample-linear-align-corners"),
    pytest.param("pixel_shuffle", (4, 8, 8), {"r": 2},
                 RF((1, 1), (Fraction(1, 2),) * 2, (0, 0)), id="pixel_shuffle-r2"),
    pytest.param("sepconv", (2, 16, 16), {"out": 4, "k": 3, "s": 2},
                 RF((3, 3), (2, 2), (1, 1)), id="sepconv-is-its-depthwise"),
    pytest.param("spatial_sepconv", (2, 16, 16), {"out": 4, "k": 3},
                 RF((3, 3), (1, 1), (1, 1)), id="spatial_sepconv-k3"),
    pytest.param("flatconv", (2, 16, 16), {"out": 4, "k": 5},
                 RF((5, 5), (1, 1), (2, 2)), id="flatconv-k5"),
    pytest.param("pad", (1, 16), {"p": 2}, RF((1,), (1,), (-2,)), id="pad-shifts-start"),
    pytest.param("crop", (1, 16), {"p": 2}, RF((1,), (1,), (2,)), id="crop-shifts-start"),
    pytest.param("relu", (1, 16), {}, RF((1,), (1,), (0,)), id="elementwise-identity"),
    pytest.param("gap", (1, 5, 7), {}, RF((5, 7), (5, 7), (2, 3), whole=True),
                 id="gap-sees-everything"),
]


@pytest.mark.parametrize("op, x, args, rf", RF_CASES)
def test_single_layer_receptive_field(op, x, args, rf):
    report = layer_report(op, Shape(x[0], tuple(x[1:])), args)
    assert report.rf == rf
    assert all(type(j) in (int, Fraction) for j in report.rf.jump)


# -- symbolic sizes ---------------------------------------------------------------------------

def test_symbolic_conv_prints_as_floor_division():
    H, W = symbol("H"), symbol("W")
    eff = ops.apply("conv", Shape(3, (H, W)), {"out": 8, "k": 3, "s": 2, "p": 1})
    assert [fmt(o) for o in eff.output.spatial] == ["(H - 1)//2 + 1", "(W - 1)//2 + 1"]
    assert eff.params == 8 * 3 * 9 + 8  # params never depend on the input size


def test_symbolic_strided_stack_merges_floors():
    # floor(floor(y)/b) = floor(y/b): two stride-2 layers read (H - 1)//4 + 1
    H = symbol("H")
    x = Shape(1, (H,))
    for _ in range(2):
        x = ops.apply("conv", x, {"out": 1, "k": 3, "s": 2, "p": 1}).output
    assert fmt(x.spatial[0]) == "(H - 1)//4 + 1"


# -- errors: every user mistake is a ConvcalcError with a readable message --------------------

ERRORS = [
    pytest.param("conv", (3, 3, 3), {"out": 4, "k": 5}, ShapeError,
     "conv: kernel 5 is larger than the padded input 3 = 3 + 0 + 0 along H",
     id="kernel-larger-than-padded-input"),
    pytest.param("conv", (3, 8, 8), {"out": 4, "k": 3, "g": 2}, ShapeError,
     "conv: groups=2 must divide in_channels=3", id="groups-not-dividing-cin"),
    pytest.param("conv", (4, 8, 8), {"out": 6, "k": 3, "g": 4}, ShapeError,
     "conv: groups=4 must divide out_channels=6", id="groups-not-dividing-cout"),
    pytest.param("conv", (3, 8, 8), {"out": 4, "k": 3, "s": 2, "p": "same"}, ShapeError,
     "conv: padding='same' needs stride 1 (PyTorch's rule), got stride 2x2",
     id="same-with-stride-2"),
    pytest.param("deconv", (3, 8), {"out": 4, "k": 3, "s": 2, "op": 2}, ShapeError,
     "deconv: output_padding 2 must be smaller than the stride 2 or the dilation 1 along L "
     "(PyTorch's rule)", id="output-padding-too-large"),
    pytest.param("deconv", (3, 8), {"out": 4, "k": 3, "p": "same"}, SpecError,
     "deconv: padding must be numbers (PyTorch's ConvTranspose takes no 'same')",
     id="deconv-same-padding"),
    pytest.param("maxpool", (3, 8), {"k": 3, "p": 2}, ShapeError,
     "maxpool: padding 2 must be at most half the kernel size 3 (PyTorch's rule)",
     id="pool-padding-over-half-kernel"),
    # aten compares the padding with the kernel size, ignoring the dilation
    pytest.param("maxpool", (3, 9), {"k": 3, "d": 2, "p": 2}, ShapeError,
     "maxpool: padding 2 must be at most half the kernel size 3 (PyTorch's rule)",
     id="pool-padding-ignores-dilation"),
    pytest.param("maxpool", (3, 1), {"k": 3, "s": 1, "ceil": True}, ShapeError,
     "maxpool: kernel 3 is larger than the padded input 1 = 1 + 0 + 0 along L by 2, not less "
     "than the stride 1 (ceil_mode)", id="ceil-window-overshoots-a-stride"),
    pytest.param("avgpool", (3, 1, 5, 5), {"k": [2, 1, 1], "p": [1, 0, 0]}, ShapeError,
     "avgpool: PyTorch's AvgPool3d needs each input size at least the kernel size, got 1 < 2",
     id="avgpool3d-input-under-kernel"),
    pytest.param("conv", (3, 8, 8), {"out": 4, "k": 0}, SpecError,
     "conv: 'k' must be positive, got 0", id="zero-kernel"),
    pytest.param("conv", (3, 8, 8), {"out": 4, "k": 3, "p": -1}, SpecError,
     "conv: 'p' must be zero or more, got -1", id="negative-padding"),
    pytest.param("conv", (3, 8, 8), {"out": 4, "k": 2.5}, SpecError,
     "conv: 'k' must be an integer, got float 2.5", id="float-kernel"),
    pytest.param("conv", (3, 8, 8), {"out": 4, "k": True}, SpecError,
     "conv: 'k' must be an integer, got a boolean", id="bool-kernel"),
    # PyTorch's PReLU(num_parameters) needs 1 or the channel count ("Mismatch of parameter
    # numbers and input channel size")
    pytest.param("prelu", (3, 8, 8), {"num": 4}, ShapeError,
     "prelu: num=4 must be 1 or the input channels 3 (PyTorch's rule)", id="prelu-num"),
    pytest.param("prelu", (6,), {"num": 2}, ShapeError,
     "prelu: num=2 must be 1 or the input channels 6 (PyTorch's rule)", id="prelu-num-flat"),
    # PyTorch's ChannelShuffle needs more than 2 dims; InstanceNorm refuses a single position
    pytest.param("channel_shuffle", (6,), {"g": 2}, ShapeError,
     "channel_shuffle works on inputs with 1, 2, 3 spatial axes, the input 6 has 0",
     id="channel-shuffle-flat"),
    pytest.param("in", (4, 1, 1), {}, ShapeError,
     "in: PyTorch's InstanceNorm needs more than 1 spatial element, the input 4×1×1 has 1",
     id="instancenorm-one-position"),
    # said in YAML's terms, not Python's (`got NoneType None`, `got str 'abc'`)
    pytest.param("conv", (3, 8, 8), {"out": None, "k": 3}, SpecError,
     "conv: 'out' must be an integer, got null", id="null-out"),
    pytest.param("conv", (3, 8, 8), {"out": [], "k": 3}, SpecError,
     "conv: 'out' must be an integer, got a list", id="list-out"),
    pytest.param("dwconv", (3, 8, 8), {"mult": "abc", "k": 3}, SpecError,
     "dwconv: 'mult' must be an integer, got the text 'abc'", id="text-mult"),
    pytest.param("conv", (3, 8, 8), {"out": 4, "k": [3, 3, 3]}, SpecError,
     "conv: 'k' has 3 values but the input has 2 spatial axes", id="kernel-axis-count"),
    pytest.param("conv", (3, 8, 8), {"k": 3}, SpecError, "conv needs 'out'", id="missing-out"),
    pytest.param("conv1d", (3, 8, 8), {"out": 4, "k": 3}, ShapeError,
     "conv1d needs 1 spatial axis, the input 3×8×8 has 2", id="conv1d-on-2d-input"),
    pytest.param("batchnorm2d", (3, 8), {}, ShapeError,
     "batchnorm2d needs 2 spatial axes, the input 3×8 has 1", id="batchnorm2d-on-1d-input"),
    pytest.param("bn3d", (3,), {}, ShapeError,
     "bn3d needs 3 spatial axes, the input 3 has 0", id="bn3d-on-flat-input"),
    pytest.param("instancenorm1d", (3,), {}, ShapeError,
     "instancenorm1d needs 1 spatial axis, the input 3 has 0", id="instancenorm1d-on-flat"),
    pytest.param("adaptive_avgpool3d", (3, 8, 8), {"out": 2}, ShapeError,
     "adaptive_avgpool3d needs 3 spatial axes, the input 3×8×8 has 2",
     id="adaptive-avgpool3d-on-2d"),
    pytest.param("linear", (3, 8, 8), {"out": 4}, ShapeError,
     "linear works on inputs with 0 spatial axes, the input 3×8×8 has 2",
     id="linear-on-unflattened"),
    pytest.param("crop", (1, 4), {"p": 2}, ShapeError, "crop: cropping 4 leaves 0",
     id="crop-leaves-nothing"),
    pytest.param("slice", (8, 4), {"to": 9}, ShapeError, "slice: 'to' 9 is past the 8 channels",
     id="slice-past-channels"),
    pytest.param("pixel_shuffle", (6, 4, 4), {"r": 2}, ShapeError,
     "pixel_shuffle: channels 6 must be divisible by r^2 = 4", id="pixel-shuffle-indivisible"),
    pytest.param("upsample", (3, 4, 4), {"scale": 2, "size": 8}, SpecError,
     "upsample needs exactly one of 'scale' and 'size'", id="upsample-scale-and-size"),
    pytest.param("upsample", (3, 4, 4), {"scale": 2, "mode": "linear"}, ShapeError,
     "upsample: mode 'linear' works on 1 spatial axis, the input 3×4×4 has 2",
     id="upsample-linear-on-2d"),
    pytest.param("gn", (6, 4, 4), {"g": 4}, ShapeError, "gn: groups=4 must divide channels=6",
     id="gn-groups"),
    pytest.param("se", (8, 4, 4), {"reduction": 16}, ShapeError,
     "se: channels 8 // reduction 16 is 0", id="se-reduction-too-large"),
]


@pytest.mark.parametrize("op, x, args, error, message", ERRORS)
def test_error_message(op, x, args, error, message):
    with pytest.raises(error) as info:
        run(op, x, args)
    assert info.value.message == message


def test_unknown_op_suggests_the_closest():
    with pytest.raises(SpecError) as info:
        ops.resolve("maxpol")
    assert info.value.line() == "error: unknown op 'maxpol' (hint: did you mean 'maxpool'?)"


def test_unknown_key_suggests_the_closest():
    with pytest.raises(SpecError) as info:
        run("conv", (3, 8), {"out": 4, "k": 3, "strde": 2})
    assert info.value.message == "conv: no key 'strde' (it takes out, k, s, p, d, g, bias)"
    assert info.value.hint == "did you mean 'stride'?"


def test_repeated_key_through_an_alias():
    with pytest.raises(SpecError, match="'stride' repeats 's'"):
        run("conv", (3, 8), {"out": 4, "k": 3, "s": 1, "stride": 2})


def test_every_error_is_a_convcalc_error():
    assert issubclass(ShapeError, ConvcalcError) and issubclass(SpecError, ConvcalcError)


# -- merges: one FLOP rule in the op table, used by the walk (README FLOPs table) -------------

@pytest.mark.parametrize("how, inputs, shape, flops", [
    ("add", 2, Shape(64, (56, 56)), 1 * 64 * 56 * 56),
    ("mul", 3, Shape(8, (4, 4)), 2 * 8 * 4 * 4),
    ("concat", 4, Shape(256, (28, 28)), 0),
])
def test_merge_flops(how, inputs, shape, flops):
    assert ops.merge_flops(how, inputs, shape) == flops


@pytest.mark.parametrize("how", ["add", "concat", "mul"])
def test_merges_only_exist_in_networks(how):
    with pytest.raises(SpecError, match="merges saved tensors"):
        ops.apply(how, Shape(4, (8, 8)), {})


# -- adaptive pooling's FLOPs in closed form ------------------------------------------------------

def _windows_total(n: int, o: int) -> int:
    """Brute force: PyTorch's windows [floor(i*n/o), ceil((i+1)*n/o)), sizes summed."""
    return sum(-(-(i + 1) * n // o) - (i * n // o) for i in range(o))


@pytest.mark.parametrize("o", [1, 2, 3, 7, 12, 64, 3000])
def test_adaptive_pool_flops_symbolic_equal_numeric(o):
    # one formula for every H, built from the divisors of o (3000 windows took 9 minutes)
    sym = ops.apply("adaptive_avgpool", Shape(2, (symbol("H"),)), {"out": o}).flops
    rng = random.Random(o)
    for h in [1, 2, o - 1, o, o + 1, 2 * o, 5 * o + 3] + [rng.randint(1, 10 * o) for _ in range(20)]:
        if h < 1:
            continue
        assert int(sym.subs(symbol("H"), h)) == 2 * _windows_total(h, o), (o, h)
        assert ops.apply("adaptive_avgpool", Shape(2, (h,)), {"out": o}).flops == \
            2 * _windows_total(h, o)


def test_adaptive_pool_to_a_huge_size_answers_at_once():
    o = 2**62  # one window per output: a list of 2**62 windows never finished
    eff = ops.apply("adaptive_maxpool", Shape(1, (3,)), {"out": o})
    # n + o - gcd(n, o) positions read, minus one comparison saved per window
    assert eff.flops == (3 + o - 1) - o


def test_adaptive_pool_formula_with_too_many_terms_is_refused():
    o = 735134400  # 1344 divisors
    with pytest.raises(ShapeError) as info:
        ops.apply("adaptive_avgpool", Shape(2, (symbol("H"),)), {"out": o})
    assert info.value.line() == (f"error: adaptive pooling to {o} on the symbolic size H: its "
                                 f"FLOPs formula would have 1344 terms (hint: bind the size "
                                 f"with --set to get the number)")

def test_adaptive_pooling_to_a_huge_size_is_counted_in_closed_form():
    """Windows [floor(i*n/o), ceil((i+1)*n/o)), i < o, read n + o - gcd(n, o) values in all
    (the ceilings sum to the floors plus n, plus one for each of the o - gcd(n, o) window ends
    that are not whole numbers): 7 to 2*10**7 reads 7 + 2*10**7 - 1. The sum was taken window
    by window: seconds here, a hang at the 2**62 convcalc accepts."""
    from convcalc.core import Shape

    eff = ops.apply("adaptive_avgpool", Shape(3, (7,)), {"out": 2 * 10**7})
    assert eff.flops == 3 * (7 + 2 * 10**7 - 1)
    eff = ops.apply("adaptive_avgpool", Shape(3, (7,)), {"out": 2**62})
    assert eff.flops == 3 * (7 + 2**62 - 1)


def test_deformconv_with_a_wide_kernel():
    """Its field is the main conv's (k = 2*10**6: size k); chaining the offset predictor's
    step with it first enumerated the kernel: seconds here, a hang at larger k (and in
    `--out`'s bisection)."""
    k = 2 * 10**6
    eff = ops.apply("deformconv", Shape(2, (10,)), {"out": 2, "k": k, "p": k // 2})
    assert eff.output.spatial == (10 + 2 * (k // 2) - (k - 1),)
    assert eff.rf[0].grow == k - 1
