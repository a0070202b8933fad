"""Oracle: convcalc's shapes and parameter counts against PyTorch itself.

A seeded random grid of layer configurations; each is built as a PyTorch module, run on a
zero tensor, and compared exactly with ``ops.apply``: same output shape and parameter count,
or — when PyTorch rejects the configuration — a ConvcalcError from convcalc.
Sizes are tiny so the whole module runs in seconds.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from convcalc import ops  # noqa: E402
from convcalc.core import Shape  # noqa: E402
from convcalc.errors import ConvcalcError  # noqa: E402

pytestmark = [pytest.mark.oracle,
              pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors run several times faster on one thread; restored for other modules."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
ADAPTIVE = {("adaptive_avgpool", 1): nn.AdaptiveAvgPool1d,
            ("adaptive_avgpool", 2): nn.AdaptiveAvgPool2d,
            ("adaptive_avgpool", 3): nn.AdaptiveAvgPool3d,
            ("adaptive_maxpool", 1): nn.AdaptiveMaxPool1d,
            ("adaptive_maxpool", 2): nn.AdaptiveMaxPool2d,
            ("adaptive_maxpool", 3): nn.AdaptiveMaxPool3d}

MAX_N = {1: 14, 2: 9, 3: 6}  # spatial sizes stay tiny: a forward pass is microseconds


def _axes(rng, rank, lo, hi):
    return tuple(rng.randint(lo, hi) for _ in range(rank))


def _sizes(rng, rank):
    return tuple(rng.randint(1, MAX_N[rank]) for _ in range(rank))


def _one(v):
    """convcalc takes a plain number when every axis agrees (exercising the broadcast path)."""
    return v[0] if len(set(v)) == 1 else list(v)


def _case_id(op, rank, n, args):
    parts = [f"{op}{rank}d", "n" + "x".join(map(str, n))]
    for key, value in args.items():
        text = "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        parts.append(f"{key}{text}")
    return "-".join(parts)


def _conv_cases(count, seed=2024):
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        rank = rng.choice((1, 2, 2, 3))
        g = rng.choice((1, 1, 2, 3))
        cin, cout = g * rng.randint(1, 2), g * rng.randint(1, 3)
        if rng.random() < 0.1:  # groups that do not divide a channel count
            cout += 1
        k = _axes(rng, rank, 1, 4)
        d = _axes(rng, rank, 1, 3) if rng.random() < 0.4 else (1,) * rank
        mode = rng.random()
        if mode < 0.15:
            s, p = (1,) * rank, "same"
        elif mode < 0.2:
            s, p = _axes(rng, rank, 1, 3), rng.choice(("same", "valid"))
        else:
            s, p = _axes(rng, rank, 1, 3), _axes(rng, rank, 0, 3)
        args = {"out": cout, "k": _one(k), "s": _one(s), "p": p if isinstance(p, str) else _one(p),
                "d": _one(d), "g": g, "bias": rng.random() < 0.7}
        n = _sizes(rng, rank)
        cases.append(pytest.param(rank, cin, n, args, id=_case_id("conv", rank, n, args)))
    return cases


def _deconv_cases(count, seed=7):
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        rank = rng.choice((1, 2, 2, 3))
        g = rng.choice((1, 1, 2, 3))
        cin, cout = g * rng.randint(1, 2), g * rng.randint(1, 3)
        if rng.random() < 0.05:
            cin += 1
        k = _axes(rng, rank, 1, 4)
        s = _axes(rng, rank, 1, 3)
        d = _axes(rng, rank, 1, 3) if rng.random() < 0.4 else (1,) * rank
        p = _axes(rng, rank, 0, 3)
        opad = _axes(rng, rank, 0, 2) if rng.random() < 0.5 else (0,) * rank
        args = {"out": cout, "k": _one(k), "s": _one(s), "p": _one(p), "op": _one(opad),
                "d": _one(d), "g": g, "bias": rng.random() < 0.7}
        n = _sizes(rng, rank)
        cases.append(pytest.param(rank, cin, n, args, id=_case_id("deconv", rank, n, args)))
    return cases


def _pool_cases(count, seed=99):
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        op = rng.choice(("maxpool", "avgpool"))
        rank = rng.choice((1, 2, 2, 3))
        k = _axes(rng, rank, 1, 4)
        args = {"k": _one(k)}
        if rng.random() < 0.7:
            args["s"] = _one(_axes(rng, rank, 1, 3))
        if rng.random() < 0.7:
            # mostly legal (p <= k/2), sometimes one over PyTorch's limit
            args["p"] = _one(tuple(rng.randint(0, ki // 2 + (rng.random() < 0.15)) for ki in k))
        if op == "maxpool" and rng.random() < 0.4:
            args["d"] = _one(_axes(rng, rank, 1, 3))
        args["ceil"] = rng.random() < 0.5
        n = _sizes(rng, rank)
        cases.append(pytest.param(op, rank, n, args, id=_case_id(op, rank, n, args)))
    return cases


def _adaptive_cases(count, seed=5):
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        op = rng.choice(("adaptive_avgpool", "adaptive_maxpool"))
        rank = rng.choice((1, 2, 3))
        n = _sizes(rng, rank)
        out = tuple(rng.randint(1, ni + 2) for ni in n)
        cases.append(pytest.param(op, rank, n, out, id=_case_id(op, rank, n, {"out": out})))
    return cases


def _torch_run(build, x_shape):
    """(output shape without the batch axis, parameter count), or None if PyTorch refuses."""
    try:
        module = build()
        with torch.no_grad():
            y = module(torch.zeros((1, *x_shape)))
    except (RuntimeError, ValueError):
        return None
    if 0 in y.shape:
        # ConvTranspose returns an empty tensor when padding eats the whole output; convcalc
        # calls a zero-size axis an impossible shape (a network never means it)
        return None
    return tuple(y.shape[1:]), sum(p.numel() for p in module.parameters())


def _convcalc_run(op, x: Shape, args):
    try:
        eff = ops.apply(op, x, args)
    except ConvcalcError:
        return None
    return tuple(eff.output.dims), eff.params


def _torch_axes(value, rank):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def _agree(expected, got):
    if expected is None:
        assert got is None, f"PyTorch rejects this configuration, convcalc answered {got}"
    else:
        assert got == expected, f"PyTorch gives (shape, params) {expected}, convcalc {got}"


@pytest.mark.parametrize("rank, cin, n, args", _conv_cases(400))
def test_conv_matches_pytorch(rank, cin, n, args):
    p = args["p"] if isinstance(args["p"], str) else _torch_axes(args["p"], rank)
    expected = _torch_run(lambda: CONV[rank](cin, args["out"], _torch_axes(args["k"], rank),
                                             stride=_torch_axes(args["s"], rank), padding=p,
                                             dilation=_torch_axes(args["d"], rank),
                                             groups=args["g"], bias=args["bias"]),
                          (cin, *n))
    _agree(expected, _convcalc_run("conv", Shape(cin, n), args))


@pytest.mark.parametrize("rank, cin, n, args", _deconv_cases(300))
def test_deconv_matches_pytorch(rank, cin, n, args):
    expected = _torch_run(lambda: DECONV[rank](cin, args["out"], _torch_axes(args["k"], rank),
                                               stride=_torch_axes(args["s"], rank),
                                               padding=_torch_axes(args["p"], rank),
                                               output_padding=_torch_axes(args["op"], rank),
                                               dilation=_torch_axes(args["d"], rank),
                                               groups=args["g"], bias=args["bias"]),
                          (cin, *n))
    _agree(expected, _convcalc_run("deconv", Shape(cin, n), args))


@pytest.mark.parametrize("op, rank, n, args", _pool_cases(300))
def test_pool_matches_pytorch(op, rank, n, args):
    k = _torch_axes(args["k"], rank)
    s = _torch_axes(args["s"], rank) if "s" in args else None
    p = _torch_axes(args.get("p", 0), rank)
    if op == "maxpool":
        build = lambda: MAXPOOL[rank](k, s, p, dilation=_torch_axes(args.get("d", 1), rank),
                                      ceil_mode=args["ceil"])
    else:
        build = lambda: AVGPOOL[rank](k, s, p, ceil_mode=args["ceil"])
    _agree(_torch_run(build, (2, *n)), _convcalc_run(op, Shape(2, n), args))


@pytest.mark.parametrize("op, rank, n, out", _adaptive_cases(80))
def test_adaptive_pool_matches_pytorch(op, rank, n, out):
    expected = _torch_run(lambda: ADAPTIVE[op, rank](out), (3, *n))
    _agree(expected, _convcalc_run(op, Shape(3, n), {"out": _one(out)}))


def test_grid_covers_what_it_claims():
    """The random grids really contain the variants they are meant to exercise."""
    conv = [c.values for c in _conv_cases(400)]
    deconv = [c.values for c in _deconv_cases(300)]
    pools = [c.values for c in _pool_cases(300)]
    assert {rank for rank, *_ in conv} == {1, 2, 3}
    assert any(a["g"] > 1 for *_, a in conv) and any(a["p"] == "same" for *_, a in conv)
    assert any(isinstance(a["k"], list) for *_, a in conv)  # asymmetric kernels
    assert any(a["d"] != 1 for *_, a in conv)
    assert any(a["op"] != 0 for *_, a in deconv) and any(a["d"] != 1 for *_, a in deconv)
    assert any(a["g"] > 1 for *_, a in deconv)
    assert any(a["ceil"] for *_, a in pools) and any(a.get("d", 1) != 1 for *_, a in pools)
    assert any(a.get("p", 0) != 0 for *_, a in pools)


# -- other ops with parameters or shapes PyTorch can confirm ------------------------------

MISC = [
    # conv variants as the PyTorch modules they stand for
    ("dwconv", (8, 10, 10), {"k": 3, "p": 1, "s": 2, "mult": 2},
     lambda: nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)),
    ("pwconv", (8, 6, 6), {"out": 16, "g": 4}, lambda: nn.Conv2d(8, 16, 1, groups=4)),
    ("sepconv", (4, 8, 8), {"out": 6, "k": 3, "s": 2},
     lambda: nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, groups=4), nn.Conv2d(4, 6, 1))),
    ("sepconv", (4, 8, 8), {"out": 6, "k": 3, "mult": 2, "bias": False},
     lambda: nn.Sequential(nn.Conv2d(4, 8, 3, groups=4, bias=False),
                           nn.Conv2d(8, 6, 1, bias=False))),
    ("spatial_sepconv", (4, 9, 7), {"out": 8, "k": 3, "s": 2, "p": 1},
     lambda: nn.Sequential(nn.Conv2d(4, 8, (3, 1), stride=(2, 1), padding=(1, 0)),
                           nn.Conv2d(8, 8, (1, 3), stride=(1, 2), padding=(0, 1)))),
    ("flatconv", (4, 9, 7), {"out": 8, "k": 3, "p": 1},
     lambda: nn.Sequential(nn.Conv2d(4, 8, 1), nn.Conv2d(8, 8, (3, 1), padding=(1, 0), groups=8),
                           nn.Conv2d(8, 8, (1, 3), padding=(0, 1), groups=8))),
    ("bn", (6, 5, 5), {}, lambda: nn.BatchNorm2d(6)),
    ("bn", (6, 5), {}, lambda: nn.BatchNorm1d(6)),
    ("gn", (6, 4, 4), {"g": 3}, lambda: nn.GroupNorm(3, 6)),
    ("in", (6, 4, 4), {}, lambda: nn.InstanceNorm2d(6)),
    ("in", (6, 4, 4), {"affine": True}, lambda: nn.InstanceNorm2d(6, affine=True)),
    ("prelu", (6, 4, 4), {"num": 6}, lambda: nn.PReLU(6)),
    ("linear", (12,), {"out": 5}, lambda: nn.Linear(12, 5)),
    ("linear", (12,), {"out": 5, "bias": False}, lambda: nn.Linear(12, 5, bias=False)),
    ("flatten", (3, 4, 5), {}, lambda: nn.Flatten()),
    ("pixel_shuffle", (18, 4, 5), {"r": 3}, lambda: nn.PixelShuffle(3)),
    ("channel_shuffle", (6, 4, 4), {"g": 3}, lambda: nn.ChannelShuffle(3)),
    ("upsample", (3, 4, 5), {"scale": 2}, lambda: nn.Upsample(scale_factor=2)),
    ("upsample", (3, 4, 5), {"size": [7, 3], "mode": "bilinear"},
     lambda: nn.Upsample(size=(7, 3), mode="bilinear")),
    ("upsample", (3, 4), {"scale": 3, "mode": "linear"},
     lambda: nn.Upsample(scale_factor=3, mode="linear")),
    ("gap", (5, 4, 6), {}, lambda: nn.AdaptiveAvgPool2d(1)),
    ("gmp", (5, 4, 6, 3), {}, lambda: nn.AdaptiveMaxPool3d(1)),
    ("pad", (3, 4, 5), {"p": 2}, lambda: nn.ZeroPad2d(2)),
    ("relu", (3, 4, 5), {}, lambda: nn.ReLU()),
    ("gelu", (3, 4, 5), {}, lambda: nn.GELU()),
]


@pytest.mark.parametrize("op, x, args, build", MISC,
                         ids=[f"{op}-{'x'.join(map(str, x))}" for op, x, *_ in MISC])
def test_other_ops_match_pytorch(op, x, args, build):
    expected = _torch_run(build, x)
    _agree(expected, _convcalc_run(op, Shape(x[0], tuple(x[1:])), args))


def test_layernorm2d_params_match_pytorch():
    # convcalc's `ln` is ConvNeXt's LayerNorm2d: a LayerNorm over the channel axis
    assert ops.apply("ln", Shape(6, (4, 4)), {}).params == sum(
        p.numel() for p in nn.LayerNorm(6).parameters())


def test_squeeze_excitation_params_match_pytorch():
    se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(32, 8, 1), nn.ReLU(),
                       nn.Conv2d(8, 32, 1), nn.Sigmoid())
    assert ops.apply("se", Shape(32, (7, 7)), {"reduction": 4}).params == sum(
        p.numel() for p in se.parameters())


# -- configurations PyTorch refuses, named -------------------------------------------------

REJECTED = [
    ("conv", (3, 3, 3), {"out": 4, "k": 5}, lambda: nn.Conv2d(3, 4, 5), "kernel-over-input"),
    ("conv", (3, 2, 9), {"out": 4, "k": 3, "d": 2, "p": 1},
     lambda: nn.Conv2d(3, 4, 3, dilation=2, padding=1), "dilated-span-over-input"),
    ("conv", (4, 8, 8), {"out": 6, "k": 3, "g": 4}, lambda: nn.Conv2d(4, 6, 3, groups=4),
     "groups-not-dividing-cout"),
    ("conv", (3, 8, 8), {"out": 6, "k": 3, "g": 2}, lambda: nn.Conv2d(3, 6, 3, groups=2),
     "groups-not-dividing-cin"),
    ("conv", (3, 8, 8), {"out": 6, "k": 3, "s": 2, "p": "same"},
     lambda: nn.Conv2d(3, 6, 3, stride=2, padding="same"), "same-with-stride-2"),
    ("deconv", (4, 5, 5), {"out": 4, "k": 3, "s": 2, "op": 2},
     lambda: nn.ConvTranspose2d(4, 4, 3, stride=2, output_padding=2), "output-padding-eq-stride"),
    ("deconv", (4, 5), {"out": 4, "k": 3, "s": 1, "op": 1},
     lambda: nn.ConvTranspose1d(4, 4, 3, output_padding=1), "output-padding-stride-1"),
    ("deconv", (4, 2), {"out": 4, "k": 1, "p": 3},
     lambda: nn.ConvTranspose1d(4, 4, 1, padding=3), "padding-eats-output"),
    ("maxpool", (2, 9, 9), {"k": 3, "p": 2}, lambda: nn.MaxPool2d(3, padding=2),
     "pool-padding-over-half-kernel"),
    ("maxpool", (2, 9), {"k": 3, "d": 2, "p": 2, "s": 1},
     lambda: nn.MaxPool1d(3, 1, 2, dilation=2), "pool-padding-ignores-dilation"),
    ("maxpool", (2, 1), {"k": 3, "s": 1, "ceil": True},
     lambda: nn.MaxPool1d(3, 1, ceil_mode=True), "ceil-window-overshoots-a-stride"),
    ("avgpool", (2, 1, 5, 5), {"k": [2, 1, 1], "p": [1, 0, 0]},
     lambda: nn.AvgPool3d((2, 1, 1), padding=(1, 0, 0)), "avgpool3d-input-under-kernel"),
]


@pytest.mark.parametrize("op, x, args, build", [r[:4] for r in REJECTED],
                         ids=[r[4] for r in REJECTED])
def test_rejected_by_both(op, x, args, build):
    assert _torch_run(build, x) is None
    with pytest.raises(ConvcalcError):
        ops.apply(op, Shape(x[0], tuple(x[1:])), args)


def test_ceil_mode_window_may_overshoot_by_less_than_a_stride():
    # both accept a first window larger than the input when the overshoot is under a stride
    assert _torch_run(lambda: nn.MaxPool1d(3, 3, ceil_mode=True), (2, 1)) == ((2, 1), 0)
    assert ops.apply("maxpool", Shape(2, (1,)), {"k": 3, "ceil": True}).output == Shape(2, (1,))
