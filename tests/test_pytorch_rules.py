"""Layers PyTorch rejects, convcalc rejects too (issue 7, item 9), with its own exact message
and hint; the oracle tests show PyTorch 2.13 rejecting (or not meaning) the same layers.

Also the catalog's formulas name only the keys each op takes (item 10), and the hints for
keys convcalc infers or replaces (item 18).
"""

from __future__ import annotations

import re

import pytest

from convcalc import ops
from convcalc.core import Shape
from convcalc.errors import ConvcalcError


def line(op, x, args):
    channels, *spatial = x
    with pytest.raises(ConvcalcError) as info:
        ops.apply(op, Shape(channels, tuple(spatial)), args)
    return info.value.line()


REJECTED = [
    pytest.param("pixel_shuffle", (8, 5), {"r": 2},
                 "error: pixel_shuffle works on inputs with 2 spatial axes, the input 8×5 has 1 "
                 "(hint: PyTorch's PixelShuffle is 2-D only)", id="pixel-shuffle-1d"),
    pytest.param("pixel_shuffle", (8, 4, 5, 6), {"r": 2},
                 "error: pixel_shuffle works on inputs with 2 spatial axes, the input 8×4×5×6 "
                 "has 3 (hint: PyTorch's PixelShuffle is 2-D only)", id="pixel-shuffle-3d"),
    pytest.param("maxpool", (1, 8, 8), {"k": 3, "s": 1, "p": "same"},
                 "error: maxpool: padding must be numbers (PyTorch's MaxPool takes no 'same') "
                 "(hint: give p as a number, at most half the kernel)", id="maxpool-same"),
    pytest.param("avgpool", (1, 8), {"k": 3, "p": "valid"},
                 "error: avgpool: padding must be numbers (PyTorch's AvgPool takes no 'valid') "
                 "(hint: give p as a number, at most half the kernel)", id="avgpool-valid"),
    pytest.param("maxpool", (1, 8), {"k": 2, "p": "full"},
                 "error: maxpool: padding must be numbers (PyTorch's MaxPool takes no 'full') "
                 "(hint: give p as a number, at most half the kernel)", id="maxpool-full"),
    pytest.param("upsample", (1, 4, 4), {"scale": 2, "align_corners": True},
                 "error: upsample: 'align_corners' only goes with the linear modes (PyTorch's "
                 "rule), not mode 'nearest' (hint: drop align_corners, or use mode linear, "
                 "bilinear or trilinear)", id="nearest-align-corners-true"),
    pytest.param("upsample", (1, 4, 4), {"scale": 2, "mode": "nearest", "align_corners": False},
                 "error: upsample: 'align_corners' only goes with the linear modes (PyTorch's "
                 "rule), not mode 'nearest' (hint: drop align_corners, or use mode linear, "
                 "bilinear or trilinear)", id="nearest-align-corners-false"),
    # ranked names: each takes its own rank
    pytest.param("conv1d", (3, 8, 8), {"out": 4, "k": 3},
                 "error: conv1d needs 1 spatial axis, the input 3×8×8 has 2 "
                 "(hint: use conv2d, or conv for any rank)", id="conv1d-on-2d"),
    pytest.param("batchnorm2d", (3, 8), {},
                 "error: batchnorm2d needs 2 spatial axes, the input 3×8 has 1 "
                 "(hint: use batchnorm1d, or bn for any rank)", id="batchnorm2d-on-1d"),
    pytest.param("bn1d", (3, 8, 8), {},
                 "error: bn1d needs 0 or 1 spatial axes, the input 3×8×8 has 2 "
                 "(hint: use bn2d, or bn for any rank)", id="bn1d-on-2d"),
    # keys convcalc infers or computes (item 18)
    pytest.param("conv", (3, 8, 8), {"in_channels": 3, "out": 4, "k": 3},
                 "error: conv: no key 'in_channels' (it takes out, k, s, p, d, g, bias) "
                 "(hint: the input channels are inferred from the input shape)",
                 id="in-channels"),
    pytest.param("linear", (3,), {"in_features": 3, "out": 4},
                 "error: linear: no key 'in_features' (it takes out, bias) "
                 "(hint: the input channels are inferred from the input shape)",
                 id="in-features"),
    pytest.param("bn", (3, 8, 8), {"num_features": 3},
                 "error: bn: no key 'num_features' (it takes affine) "
                 "(hint: the input channels are inferred from the input shape)",
                 id="num-features"),
    pytest.param("dwconv", (3, 8, 8), {"out": 6, "k": 3},
                 "error: dwconv: no key 'out' (it takes k, s, p, d, mult, bias) "
                 "(hint: its output channels are in_channels*mult: set 'mult')",
                 id="dwconv-out"),
    pytest.param("conv", (3, 8, 8), {"out": 4, "k": 3, "p": "SAME"},
                 "error: conv: padding must be a number, per-axis numbers, [lo, hi] pairs or one "
                 "of same, valid, full; got 'SAME' (hint: did you mean 'same'?)",
                 id="padding-upper-case"),
]


@pytest.mark.parametrize("op, x, args, message", REJECTED)
def test_rejected_with_this_line(op, x, args, message):
    assert line(op, x, args) == message


@pytest.mark.parametrize("mode", ["linear", "bilinear", "trilinear"])
@pytest.mark.parametrize("align", [True, False])
def test_align_corners_goes_with_the_linear_modes(mode, align):
    rank = {"linear": 1, "bilinear": 2, "trilinear": 3}[mode]
    eff = ops.apply("upsample", Shape(1, (4,) * rank), {"scale": 2, "mode": mode,
                                                          "align_corners": align})
    assert eff.output.spatial == (8,) * rank


# -- item 10: every formula names only keys its op takes ---------------------------------------

HYPER = {"k", "s", "p", "d", "op", "g", "mult", "r"}  # the keys formulas are written in


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_formulas_name_only_the_ops_keys(name):
    opdef = ops.OPS[name]
    for text in (opdef.shape_rule, opdef.cost_rule):
        named = set(re.findall(r"[A-Za-z_]+", text)) & HYPER
        assert named <= set(opdef.keys), (text, named - set(opdef.keys))


@pytest.mark.parametrize("name, shape", [
    ("avgpool", "out = floor((n + 2p - k)/s) + 1"),
    ("spatial_sepconv", "out = floor((n + 2p - k)/s) + 1 per axis"),
    ("flatconv", "out = n + 2p - k + 1 per axis"),
    ("maxpool", "out = floor((n + 2p - d*(k - 1) - 1)/s) + 1"),
])
def test_window_formulas(name, shape):
    assert ops.OPS[name].shape_rule.startswith(shape)


# -- the oracle: PyTorch 2.13 itself ------------------------------------------------------------

@pytest.mark.oracle
@pytest.mark.parametrize("mode", ["maxpool", "avgpool"])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_pytorch_pools_take_no_padding_mode(mode, padding):
    torch = pytest.importorskip("torch")
    pool = {"maxpool": torch.nn.MaxPool2d, "avgpool": torch.nn.AvgPool2d}[mode]
    with pytest.raises(TypeError):
        pool(3, stride=1, padding=padding)(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ConvcalcError):
        ops.apply(mode, Shape(1, (8, 8)), {"k": 3, "s": 1, "p": padding})


@pytest.mark.oracle
@pytest.mark.parametrize("align", [True, False])
def test_pytorch_nearest_takes_no_align_corners(align):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        torch.nn.Upsample(scale_factor=2, mode="nearest", align_corners=align)(
            torch.zeros(1, 1, 4, 4))
    with pytest.raises(ConvcalcError):
        ops.apply("upsample", Shape(1, (4, 4)), {"scale": 2, "align_corners": align})


@pytest.mark.oracle
def test_pytorch_pixel_shuffle_is_2d_only():
    torch = pytest.importorskip("torch")
    # a 3-D input (N, C, D, H, W): PyTorch treats D as the channels and shuffles H and W only,
    # not the c*r^3 -> c, n*r per axis of a 3-D pixel shuffle
    out = torch.nn.PixelShuffle(2)(torch.zeros(1, 8, 4, 5, 6))
    assert tuple(out.shape) == (1, 8, 4 // 2 ** 2, 5 * 2, 6 * 2)
    # a 1-D input (N, C, L) is read as unbatched (C, H, W): N becomes the channels
    with pytest.raises(RuntimeError):
        torch.nn.PixelShuffle(2)(torch.zeros(1, 8, 5))
    # 2-D: what convcalc computes
    out = torch.nn.PixelShuffle(2)(torch.zeros(1, 8, 4, 5))
    eff = ops.apply("pixel_shuffle", Shape(8, (4, 5)), {"r": 2})
    assert tuple(out.shape[1:]) == eff.output.dims


@pytest.mark.oracle
@pytest.mark.parametrize("name, module, x", [
    ("conv1d", lambda nn: nn.Conv1d(16, 32, 5), (16, 100)),
    ("conv_transpose1d", lambda nn: nn.ConvTranspose1d(4, 6, 3, stride=2), (4, 9)),
    ("maxpool3d", lambda nn: nn.MaxPool3d(2), (3, 6, 6, 6)),
    ("adaptive_avgpool1d", lambda nn: nn.AdaptiveAvgPool1d(4), (3, 10)),
    ("batchnorm1d", lambda nn: nn.BatchNorm1d(5), (5,)),
    ("batchnorm1d", lambda nn: nn.BatchNorm1d(5), (5, 7)),
    ("instancenorm3d", lambda nn: nn.InstanceNorm3d(2), (2, 3, 4, 5)),
])
def test_ranked_names_match_pytorch(name, module, x):
    torch = pytest.importorskip("torch")
    m = module(torch.nn).eval()
    args = {"conv1d": {"out": 32, "k": 5}, "conv_transpose1d": {"out": 6, "k": 3, "s": 2},
            "maxpool3d": {"k": 2}, "adaptive_avgpool1d": {"out": 4}}.get(name, {})
    eff = ops.apply(name, Shape(x[0], tuple(x[1:])), args)
    assert tuple(m(torch.zeros(1, *x)).shape[1:]) == eff.output.dims
    assert sum(p.numel() for p in m.parameters()) == eff.params


def test_where_convcalc_is_wider_the_catalog_says_so(capsys):
    """[lo, hi] padding pairs on pooling are wider than PyTorch's MaxPool/AvgPool (symmetric
    padding only): accepted, with the window formula on the asymmetric padding, and said in
    the catalog's header."""
    from convcalc.render import print_ops

    effect = ops.apply("maxpool", Shape(3, (8,)), {"k": 3, "p": [[0, 1]]})
    assert effect.output.spatial == ((8 + 0 + 1 - 3) // 3 + 1,)  # s = k = 3
    print_ops("table")
    header = capsys.readouterr().out.splitlines()[1]
    assert "[lo, hi] pairs" in header and "wider than PyTorch's modules" in header
