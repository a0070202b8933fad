"""Oracle: memory and training cost (SPEC §8) against PyTorch 2.13 itself.

Three measurements, each independent of convcalc's arithmetic:

- **saved activations**: a training-mode forward under ``torch.autograd.graph.
  saved_tensors_hooks``; every tensor autograd packs is kept in a handle, so the handle lives
  exactly as long as autograd holds the tensor. At the end of the forward the handles still
  alive name the storages held for backward; each storage is counted once at its full size,
  parameters and buffers left out.
- **train MACs**: ``torch.utils.flop_counter.FlopCounterMode`` over forward and backward (the
  loss: the sum of the output), divided by 2 (it counts a multiply-add as 2 FLOPs). PyTorch
  2.13 counts a grouped or depthwise conv's weight gradient ``groups`` times too high; the
  tests pin that number next to convcalc's.
- **inference peak**: the network run row by row in the SPEC's order (``run_rows``: each
  output a tensor of its own, dropped once its last reader has run, compound layers part by
  part) under a ``TorchDispatchMode`` that keeps a weak reference to every tensor an op makes;
  after each layer (and each part) the distinct storages still alive are summed.

Networks: one-layer networks per op on CPU (the per-op rules of ``memory.SAVES``, with and
without an input that requires a gradient), the 15 examples' plain-PyTorch twins
(``tests/torch_models.py``) on the ``meta`` device (the same autograd and view semantics,
without the compute: VGG-16's and C3D's training steps take minutes on this CPU), and a grid
of small random networks with residuals, parallel branches, named merges, transposed convs,
dropout and pooling, on CPU.
"""

from __future__ import annotations

import random
import weakref
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_leaves  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from convcalc import memory, ops  # noqa: E402
from convcalc.spec import load, parse  # noqa: E402
from convcalc.walk import INPUT, walk  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::UserWarning")]

try:
    from tests import torch_models  # noqa: E402
except ImportError:  # pragma: no cover - run from inside tests/
    import torch_models  # type: ignore  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SETS = {"unet": {"H": 572, "W": 572}, "tcn": {"T": 128},
        "unet_padded": {"H": 256, "W": 256}}
BATCH = 2  # BatchNorm in training needs more than one value per channel (deeplabv3's gap)


# -- measuring ---------------------------------------------------------------------------------

class _Held:
    """What a saved tensor is packed into: the tensor itself (so autograd keeps it exactly as
    it would), reachable through a weak reference for as long as autograd holds the handle."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor):
        self.tensor = tensor


def saved_bytes(run, exclude) -> tuple[object, int]:
    """``run()``'s output and the bytes of the distinct storages autograd still holds at its
    end (``exclude``: the storages of parameters and buffers)."""
    packed: list = []

    def pack(t):
        held = _Held(t)
        packed.append(weakref.ref(held))
        return held

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda held: held.tensor):
        out = run()
    storages = {}
    for ref in packed:
        held = ref()
        if held is not None:
            s = held.tensor.untyped_storage()
            if s._cdata not in exclude:
                storages[s._cdata] = s.nbytes()
    return out, sum(storages.values())


def own_storages(model) -> set:
    return {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers()]}


def train_macs(run) -> int:
    """FlopCounterMode's forward + backward total over 2."""
    counter = FlopCounterMode(display=False)
    with counter:
        out = run()
        if out.requires_grad:  # a parameter-free network of its input has no backward
            out.sum().backward()
    total = counter.get_total_flops()
    assert total % 2 == 0
    return total // 2


class LiveStorages(TorchDispatchMode):
    """Weak references to every tensor an op makes; ``live()``: the bytes of the distinct
    storages of those still alive."""

    def __init__(self):
        super().__init__()
        self.refs: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.refs.append(weakref.ref(t))
        return out

    def live(self) -> int:
        keep, storages = [], {}
        for ref in self.refs:
            t = ref()
            if t is not None:
                keep.append(ref)
                s = t.untyped_storage()
                storages[s._cdata] = s.nbytes()
        self.refs = keep
        return sum(storages.values())


# -- convcalc's rows as PyTorch modules, run in the SPEC's order -----------------------------

def canonical_args(row) -> dict:
    """The row's arguments with defaults, per axis, as the op table normalises them."""
    opdef = ops.resolve(row.op)
    given = {ops.KEY_ALIASES.get(k, k): v for k, v in row.args}
    rank = row.input.rank
    a: dict = {}
    for key in opdef.keys.values():
        if key.name in given:
            a[key.name] = ops._normalise(opdef.name, key, key.name, given[key.name], rank)
        elif key.default is ops.REQUIRED:
            a[key.name] = None
        elif key.default is ops.SAME_AS_K:
            a[key.name] = a["k"]
        elif key.kind in ("axes", "axes0") and key.default is not None:
            a[key.name] = (key.default,) * rank
        elif key.kind == "pad" and isinstance(key.default, int):
            a[key.name] = ((key.default, key.default),) * rank
        else:
            a[key.name] = key.default
    return a


def _sym(pads):
    assert all(lo == hi for lo, hi in pads), f"asymmetric padding {pads}"
    return tuple(lo for lo, _ in pads)


def _padding(op, a):
    """PyTorch's padding argument: 'same' as PyTorch takes it, else symmetric numbers."""
    if a["p"] == "same":
        return "same"
    return _sym(ops._pads(op, a["p"], a["k"], a["d"], a["s"]))


def _nd(name: str, rank: int):
    return getattr(nn, f"{name}{max(rank, 1)}d")


ELEMENTWISE = {"relu": nn.ReLU, "relu6": nn.ReLU6, "silu": nn.SiLU, "sigmoid": nn.Sigmoid,
               "hardsigmoid": nn.Hardsigmoid, "hardswish": nn.Hardswish, "tanh": nn.Tanh,
               "identity": nn.Identity}


class Step(nn.Module):
    """One row: ``forward(inputs, mark)`` pops its inputs, calls ``mark()`` once each tensor
    of its own (each part of a compound layer) exists, and drops what it no longer needs."""

    def __init__(self, row):
        super().__init__()
        self.row = row
        self.op = row.op
        a = self.a = canonical_args(row) if ops.known_op(row.op) and row.op not in (
            "add", "concat", "mul") else {}
        cin, rank = row.input.channels, row.input.rank
        op = row.op
        if op in ("conv", "dwconv", "pwconv", "sepconv", "spatial_sepconv", "flatconv",
                  "deformconv"):
            self.parts = nn.ModuleList(self._convs(op, a, cin, rank))
        elif op == "deconv":
            self.m = _nd("ConvTranspose", rank)(cin, a["out"], a["k"], a["s"], _sym(a["p"]),
                                                a["op"], a["g"], a["bias"], a["d"])
        elif op in ("maxpool", "avgpool"):
            pads = _sym(a["p"])
            self.m = (_nd("MaxPool", rank)(a["k"], a["s"], pads, a["d"], ceil_mode=a["ceil"])
                      if op == "maxpool" else
                      _nd("AvgPool", rank)(a["k"], a["s"], pads, ceil_mode=a["ceil"]))
        elif op in ("adaptive_avgpool", "adaptive_maxpool", "gap", "gmp"):
            kind = "AdaptiveAvgPool" if op in ("adaptive_avgpool", "gap") else "AdaptiveMaxPool"
            self.m = _nd(kind, rank)(a.get("out") or 1)
        elif op == "linear":
            self.m = nn.Linear(cin, a["out"], a["bias"])
        elif op == "flatten":
            self.m = nn.Flatten()
        elif op == "bn":
            self.m = _nd("BatchNorm", rank)(cin, affine=a["affine"])
        elif op == "gn":
            self.m = nn.GroupNorm(a["g"], cin, affine=a["affine"])
        elif op == "in":
            self.m = _nd("InstanceNorm", rank)(cin, affine=a["affine"])
        elif op == "ln":
            self.m = nn.LayerNorm(cin, elementwise_affine=a["affine"])
        elif op in ELEMENTWISE:
            self.m = ELEMENTWISE[op]()
        elif op == "leaky_relu":
            self.m = nn.LeakyReLU(a["slope"])
        elif op == "elu":
            self.m = nn.ELU(a["alpha"])
        elif op == "gelu":
            self.m = nn.GELU(a["approximate"])
        elif op == "prelu":
            self.m = nn.PReLU(a["num"])
        elif op == "softmax":
            self.m = nn.Softmax(1)
        elif op == "upsample":
            self.m = nn.Upsample(size=a["size"], scale_factor=a["scale"], mode=a["mode"],
                                 align_corners=a["align_corners"])
        elif op == "pixel_shuffle":
            self.m = nn.PixelShuffle(a["r"])
        elif op == "channel_shuffle":
            self.m = nn.ChannelShuffle(a["g"])
        elif op == "se":
            sq = a["squeeze"] or cin // a["reduction"]
            self.parts = nn.ModuleList([
                _nd("AdaptiveAvgPool", rank)(1), _nd("Conv", rank)(cin, sq, 1),
                ELEMENTWISE[a["act"]](), _nd("Conv", rank)(sq, cin, 1),
                ELEMENTWISE[a["gate"]]()])
        elif op not in ("dropout", "pad", "crop", "slice", "add", "concat", "mul"):
            raise NotImplementedError(op)

    def _convs(self, op, a, cin, rank):
        conv = _nd("Conv", rank)
        ones = (1,) * rank
        if op == "conv":
            return [conv(cin, a["out"], a["k"], a["s"], _padding(op, a), a["d"], a["g"],
                         a["bias"])]
        if op == "pwconv":
            return [conv(cin, a["out"], 1, groups=a["g"], bias=a["bias"])]
        dw = (lambda: conv(cin, cin * a["mult"], a["k"], a["s"], _padding(op, a), a["d"], cin,
                           a["bias"]))
        if op == "dwconv":
            return [dw()]
        if op == "sepconv":
            return [dw(), conv(cin * a["mult"], a["out"], 1, bias=a["bias"])]
        if op == "deformconv":
            taps = 1
            for k in a["k"]:
                taps *= k
            pads = _sym(ops._pads(op, a["p"], a["k"], a["d"], a["s"]))
            pred = a["offset_groups"] * (rank + a["modulated"]) * taps
            # the deformable conv itself stands in as an ordinary conv: same output, and here
            # only sizes and lifetimes are measured
            return [conv(cin, pred, a["k"], a["s"], pads, a["d"]),
                    conv(cin, a["out"], a["k"], a["s"], pads, a["d"], a["g"], a["bias"])]
        pads = _sym(ops._pads(op, a["p"], a["k"], ones, a.get("s", ones)))
        out = []
        if op == "flatconv":
            out.append(conv(cin, a["out"], 1, bias=a["bias"]))
        c = cin if op == "spatial_sepconv" else a["out"]
        for axis in range(rank):
            only = lambda v, default: tuple(v[i] if i == axis else default for i in range(rank))
            stride = only(a["s"], 1) if op == "spatial_sepconv" else ones
            groups = 1 if op == "spatial_sepconv" else a["out"]
            out.append(conv(c, a["out"], only(a["k"], 1), stride, only(pads, 0), 1, groups,
                            a["bias"]))
            c = a["out"]
        return out

    def forward(self, inputs: list, mark):
        op, a = self.op, self.a
        if op in ("add", "mul"):
            out = inputs[0]
            for other in inputs[1:]:
                out = out + other if op == "add" else out * other
            mark()  # the inputs and the output
            inputs.clear()
            return out
        if op == "concat":
            out = torch.cat(inputs, 1)
            mark()
            inputs.clear()
            return out
        x = inputs.pop()
        if op == "se":
            pool, down, act, up, gate = self.parts
            t = pool(x)
            mark()
            for m in (down, act, up, gate):
                out = m(t)
                mark()
                t = out
                del out
            out = x * t
            mark()
            return out
        if op == "deformconv":
            offsets = self.parts[0](x)
            mark()
            out = self.parts[1](x)  # reads the offsets in a real deformable conv
            mark()
            assert offsets is not None  # alive until here
            return out
        if hasattr(self, "parts"):
            t = x
            del x
            for m in self.parts:
                out = m(t)
                mark()  # the part's input and its output
                t = out
                del out
            return t
        if op == "dropout":
            out = torch.native_dropout(x, a["p"], self.training)[0] if self.training else x
        elif op == "pad":
            pads = ops._pads("pad", a["p"], (1,) * x.dim(), (1,) * x.dim(), (1,) * x.dim())
            out = F.pad(x, [v for lo, hi in reversed(pads) for v in (lo, hi)])
        elif op == "crop":
            out = x[(slice(None), slice(None)) + tuple(
                slice(lo, n - hi) for (lo, hi), n in zip(a["p"], x.shape[2:]))]
        elif op == "slice":
            out = x[:, a["from"]:a["to"]]
        elif op == "ln":
            dims = list(range(x.dim()))
            to_last = [0, *dims[2:], 1] if x.dim() > 2 else dims
            back = [0, x.dim() - 1, *range(1, x.dim() - 1)] if x.dim() > 2 else dims
            out = self.m(x.permute(to_last)).permute(back)
        else:
            out = self.m(x)
        if not self.training and out.untyped_storage()._cdata == x.untyped_storage()._cdata:
            out = out.clone()  # SPEC §8: every layer's output is a tensor of its own
        mark()
        return out


class RowNet(nn.Module):
    """A walked network as PyTorch: the rows in order, each output dropped once its last
    reader has run (the network input is the caller's, the output is returned)."""

    def __init__(self, report):
        super().__init__()
        self.report = report
        self.steps = nn.ModuleList(Step(r) for r in report.rows)

    def forward(self, x, mark=lambda i: None):
        report = self.report
        readers = [len(rs) for rs in report.readers()]
        values: dict = {}
        for step, row in zip(self.steps, report.rows):
            inputs = []
            for src in row.reads:
                if src == INPUT:
                    inputs.append(x)
                    continue
                inputs.append(values[src])
                readers[src] -= 1
                if readers[src] == 0 and src != report.out:
                    del values[src]
            out = step(inputs, lambda i=row.index: mark(i))
            del inputs
            if readers[row.index] or row.index == report.out:
                values[row.index] = out
            del out
        return values.get(report.out, x)


def measured_live(report, device="cpu") -> list[int]:
    """The largest live bytes measured during each row."""
    with torch.device(device):
        net = RowNet(report).eval()
    shape = (report.batch, *report.input.dims)
    per_row = [0] * len(report.rows)
    with torch.no_grad(), LiveStorages() as mode:
        x = torch.zeros(shape, device=device)

        def mark(i):
            per_row[i] = max(per_row[i], mode.live())

        net(x, mark)
    return per_row


def rownet_training(report, device="cpu"):
    """(saved bytes, FlopCounterMode's train MACs) of a RowNet training step."""
    torch.manual_seed(0)
    with torch.device(device):
        net = RowNet(report).train()
    x = torch.randn((report.batch, *report.input.dims), device=device)
    _, saved = saved_bytes(lambda: net(x), own_storages(net))
    macs = train_macs(lambda: net(x))
    return saved, macs


def pytorch_grouped_overcount(report) -> int:
    """What FlopCounterMode adds to a grouped conv's weight gradient: (g - 1) times it."""
    extra = 0
    for row, m in zip(report.rows, memory.analyse(report, training=True).rows):
        parts = row.parts or ((row.op, None),)
        for name, eff in parts:
            macs = (eff.macs * report.batch) if eff is not None else row.macs
            if not macs or m.train_macs == macs:  # no backward
                continue
            a = canonical_args(row) if not row.parts else {}
            g = _groups(row, name, eff, a)
            extra += (g - 1) * macs
    return extra


def _groups(row, name, eff, a) -> int:
    if not row.parts:
        if row.op == "dwconv":
            return row.input.channels
        return a.get("g", 1) or 1
    if name == "dw":
        return row.input.channels
    if row.op == "flatconv" and name != "lateral":
        return eff.output.channels
    if name == "deform":
        return canonical_args(row)["g"]
    return 1


# -- per-op rules, measured on CPU -------------------------------------------------------------

ONE_LAYER = [
    ("conv", "conv: {out: 3, k: 3, p: 1}"), ("conv_grouped", "conv: {out: 4, k: 3, g: 2}"),
    ("conv_same_even", "conv: {out: 3, k: [2, 3], p: same}"),
    ("conv_same_dilated", "conv: {out: 3, k: 2, d: 2, p: same}"),
    ("dwconv_same_even", "dwconv: {k: 4, p: same}"),
    ("sepconv_same_even", "sepconv: {out: 5, k: 2, p: same}"),
    ("conv1d", "conv: {out: 3, k: 3}", [4, 9]), ("conv3d", "conv: {out: 2, k: 2}", [4, 4, 4, 4]),
    ("pwconv", "pwconv: {out: 6, g: 2}"), ("dwconv", "dwconv: {k: 3, mult: 2}"),
    ("sepconv", "sepconv: {out: 5, k: 3, p: 1}"),
    ("spatial_sepconv", "spatial_sepconv: {out: 5, k: 3, p: 1}"),
    ("flatconv", "flatconv: {out: 5, k: 3, p: 1}"),
    ("deconv", "deconv: {out: 3, k: 2, s: 2}"), ("linear", "linear: {out: 5}", [24]),
    ("bn", "bn"), ("bn_flat", "bn", [6]), ("bn_no_affine", "bn: {affine: false}"),
    ("gn", "gn: {g: 2}"), ("ln", "ln"), ("ln_flat", "ln", [6]), ("in", "in"),
    ("in_affine", "in: {affine: true}"),
    *[(name, name) for name in ("relu", "relu6", "leaky_relu", "elu", "gelu", "silu",
                                "sigmoid", "hardsigmoid", "hardswish", "tanh", "softmax",
                                "identity", "gap", "gmp", "flatten")],
    ("prelu", "prelu: {num: 4}"), ("dropout", "dropout: {p: 0.3}"),
    ("maxpool", "maxpool: {k: 2}"), ("maxpool1d", "maxpool: {k: 2}", [4, 9]),
    ("avgpool", "avgpool: {k: 2}"), ("adaptive_avgpool", "adaptive_avgpool: {out: 2}"),
    ("adaptive_avgpool_1", "adaptive_avgpool: {out: 1}"),
    ("adaptive_avgpool3d_1", "adaptive_avgpool: {out: 1}", [4, 4, 4, 4]),
    ("adaptive_maxpool", "adaptive_maxpool: {out: 3}"),
    ("upsample", "upsample: {scale: 2}"),
    ("upsample_bilinear", "upsample: {scale: 2, mode: bilinear, align_corners: false}"),
    ("pixel_shuffle", "pixel_shuffle: {r: 2}"), ("channel_shuffle", "channel_shuffle: {g: 2}"),
    ("pad", "pad: {p: 1}"), ("crop", "crop: {p: 1}"), ("slice", "slice: {from: 1, to: 3}"),
    ("se", "se: {squeeze: 2}"), ("se_hard", "se: {squeeze: 2, act: relu6, gate: hardsigmoid}"),
]


def _one_layer(layer: str, shape, needs_grad: bool, batch: int = 2):
    """A network of one layer; with ``needs_grad`` a 1×1 conv before it makes its input
    depend on a parameter."""
    c = shape[0]
    pre = ("" if not needs_grad else f"  - pwconv: {{out: {c}}}\n" if len(shape) > 1
           else f"  - linear: {{out: {c}}}\n")
    text = f"input: {list(shape)}\nlayers:\n{pre}  - {layer}\n"
    return walk(parse(text, "t.yaml"), batch=batch)


@pytest.mark.parametrize("needs_grad", [True, False], ids=["input-needs-grad", "plain-input"])
@pytest.mark.parametrize("case", ONE_LAYER, ids=[c[0] for c in ONE_LAYER])
def test_saved_tensor_rule_of_each_op(case, needs_grad):
    name, layer, *shape = case
    report = _one_layer(layer, shape[0] if shape else [4, 6, 6], needs_grad)
    saved, macs = rownet_training(report)
    m = memory.analyse(report, training=True)
    assert m.totals["saved_activation_bytes"] == saved
    assert m.totals["train_macs"] + pytorch_grouped_overcount(report) == macs


@pytest.mark.parametrize("case", ONE_LAYER, ids=[c[0] for c in ONE_LAYER])
def test_live_bytes_of_each_op(case):
    name, layer, *shape = case
    report = _one_layer(layer, shape[0] if shape else [4, 6, 6], True, batch=3)
    m = memory.analyse(report)
    assert [r.live_bytes for r in m.rows] == measured_live(report)


def test_pytorch_counts_a_depthwise_weight_gradient_groups_times():
    """SPEC §8: convcalc counts a grouped conv's weight gradient like its forward,
    cout*cin/g*prod(k)*prod(out); FlopCounterMode (2.13) counts it g times."""
    report = _one_layer("dwconv: {k: 3}", [8, 6, 6], True, batch=1)
    _, macs = rownet_training(report)
    fwd = 8 * 9 * 4 * 4  # cout*cin/g*k*k*out, g = 8
    pw = 8 * 8 * 6 * 6  # the 1×1 conv before it: forward + weight gradient
    assert memory.analyse(report, training=True).totals["train_macs"] == 2 * pw + 3 * fwd
    assert macs == 2 * pw + fwd + fwd + 8 * fwd  # PyTorch: input grad, then weight grad × 8


# -- the examples' twins, on the meta device --------------------------------------------------

def _twin(name: str):
    builder, _ = torch_models.MODELS[name]
    torch.manual_seed(0)
    with torch.device("meta"):
        model = builder()
    model.train()
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False  # SPEC §8: no in-place ops
        if isinstance(m, nn.Dropout):  # the bool mask of torch.native_dropout (SPEC §8)
            m.forward = lambda x, p=m.p: torch.native_dropout(x, p, True)[0]
        if isinstance(m, torch_models.ModulatedDeformConv2d):
            m.forward = lambda x, m=m: _torchvision_style_dcn(m, x)
    return model


class _DeformConv2dNode(torch.autograd.Function):
    """The autograd node of torchvision.ops.deform_conv2d (csrc/ops/autograd/
    deform_conv2d_kernel.cpp): it saves input, weight, offset, mask and bias. Its output is
    only shaped here: this measures what is saved, not the values."""

    @staticmethod
    def forward(ctx, x, offset, mask, weight, bias, out_shape):
        ctx.save_for_backward(x, weight, offset, mask, bias)
        return x.new_empty(out_shape)

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - never called
        raise NotImplementedError


def _torchvision_style_dcn(m, x):
    """DCNv2 as mmcv's ModulatedDeformConv2dPack feeds torchvision: the predictor's output
    split in three, offsets concatenated, mask through a sigmoid; torchvision's wrapper makes
    zeros for a missing bias."""
    om = m.conv_offset(x)
    o1, o2, mask = torch.chunk(om, 3, dim=1)
    offset = torch.cat((o1, o2), dim=1)
    mask = torch.sigmoid(mask)
    bias = m.bias if m.bias is not None else torch.zeros(m.out_channels, device=x.device)
    n, _, ho, wo = om.shape
    return _DeformConv2dNode.apply(x, offset, mask, m.weight, bias,
                                   (n, m.out_channels, ho, wo))


def _example_report(name: str, batch: int = BATCH):
    return walk(load(str(EXAMPLES / f"{name}.yaml")), sets=SETS.get(name), batch=batch)


NAMES = sorted(torch_models.MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_example_saved_activations_match_pytorch(name):
    model = _twin(name)
    _, shape = torch_models.MODELS[name]
    x = torch.zeros((BATCH, *shape), device="meta")
    _, saved = saved_bytes(lambda: model(x), own_storages(model))
    report = _example_report(name)
    assert memory.analyse(report, training=True).totals["saved_activation_bytes"] == saved


@pytest.mark.parametrize("name", NAMES)
def test_example_train_macs_match_flop_counter(name):
    builder, shape = torch_models.MODELS[name]
    with torch.device("meta"):
        model = builder()
    model.train()
    x = torch.zeros((BATCH, *shape), device="meta")
    measured = train_macs(lambda: model(x))
    report = _example_report(name)
    ours = memory.analyse(report, training=True).totals["train_macs"]
    # PyTorch's grouped-conv weight-gradient count, pinned next to convcalc's
    assert ours + pytorch_grouped_overcount(report) == measured
    if name in ("resnext50_32x4d", "mobilenet_v2", "shufflenet_v1_stage", "separable"):
        assert pytorch_grouped_overcount(report) > 0


@pytest.mark.parametrize("name", NAMES)
def test_example_inference_peak_matches_live_storages(name):
    report = _example_report(name, batch=1)
    m = memory.analyse(report)
    measured = measured_live(report, "meta")
    assert [r.live_bytes for r in m.rows] == measured
    assert m.totals["peak_inference_bytes"] == max(measured)


@pytest.mark.parametrize("name", ["lenet5", "tcn", "dcgan_generator"])
def test_meta_device_agrees_with_cpu(name):
    """The examples run on meta; on CPU the small ones measure the same."""
    report = _example_report(name, batch=1)
    assert measured_live(report, "cpu") == measured_live(report, "meta")
    model = _twin(name)
    with torch.device("cpu"):
        cpu_model = torch_models.MODELS[name][0]()
    cpu_model.train()
    for m in cpu_model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
        if isinstance(m, nn.Dropout):
            m.forward = lambda x, p=m.p: torch.native_dropout(x, p, True)[0]
    _, shape = torch_models.MODELS[name]
    _, on_meta = saved_bytes(lambda: model(torch.zeros((BATCH, *shape), device="meta")),
                             own_storages(model))
    _, on_cpu = saved_bytes(lambda: cpu_model(torch.randn(BATCH, *shape)),
                            own_storages(cpu_model))
    assert on_meta == on_cpu


# -- a grid of small random networks, on CPU ---------------------------------------------------

def _random_net(seed: int) -> str:
    """A small random network: stacks of convs, norms, activations, pools, dropout,
    transposed convs, residuals, parallel branches and named merges (with a side branch
    nothing reads)."""
    rnd = random.Random(seed)
    lines = ["input: [3, 16, 16]", "layers:"]
    c, hw = 3, 16
    names: list[tuple[str, int, int]] = []
    for i in range(rnd.randint(4, 8)):
        kind = rnd.choice(["conv", "conv", "act", "bn", "pool", "drop", "res", "par",
                           "named", "deconv", "side", "sep"])
        if kind == "conv":
            c = rnd.choice([4, 6, 8])
            lines.append(f"  - conv: {{out: {c}, k: 3, p: 1, g: 1}}")
        elif kind == "sep":
            c = rnd.choice([4, 8])
            lines.append(f"  - sepconv: {{out: {c}, k: 3, p: 1}}")
        elif kind == "act":
            lines.append(f"  - {rnd.choice(['relu', 'sigmoid', 'gelu', 'relu6', 'tanh'])}")
        elif kind == "bn":
            lines.append("  - bn")
        elif kind == "pool" and hw >= 4:
            lines.append(f"  - {rnd.choice(['maxpool', 'avgpool'])}: {{k: 2}}")
            hw //= 2
        elif kind == "drop":
            lines.append("  - dropout: {p: 0.2}")
        elif kind == "deconv" and hw <= 8:
            c = rnd.choice([4, 6])
            lines.append(f"  - deconv: {{out: {c}, k: 2, s: 2}}")
            hw *= 2
        elif kind == "res":
            lines += ["  - residual:", "      body:", f"        - conv: {{out: {c}, k: 3, p: 1}}",
                      "        - relu", f"        - conv: {{out: {c}, k: 1}}"]
            if rnd.random() < 0.5:
                lines += ["      shortcut:", f"        - conv: {{out: {c}, k: 1}}"]
        elif kind == "par":
            merge = rnd.choice(["concat", "add", "mul"])
            out = c if merge != "concat" else 2
            lines += ["  - parallel:", f"      merge: {merge}", "      branches:",
                      f"        - [conv: {{out: {out}, k: 1}}, relu]",
                      f"        - [maxpool: {{k: 3, s: 1, p: 1}}, conv: {{out: {out}, k: 1}}]"]
            if merge == "concat":
                lines.append("        - []")
                c = 2 * out + c
        elif kind == "named":
            name = f"t{i}"
            lines += [f"  - conv: {{out: {c}, k: 1}}", f"    name: {name}"]
            names.append((name, c, hw))
        elif kind == "side":  # a side branch nothing reads, then the main path resumes
            lines += ["  - identity: {}", f"    name: main{i}", "  - conv: {out: 2, k: 1}",
                      f"    name: side{i}", "  - relu: {}", f"    from: main{i}"]
        usable = [n for n in names if n[2] == hw]
        if usable and rnd.random() < 0.3:
            name, nc, _ = rnd.choice(usable)
            how = rnd.choice(["concat", "add", "mul"]) if nc == c else "concat"
            lines.append(f"  - {how}: [{name}]" if how == "concat" else f"  - {how}: {name}")
            if how == "concat":
                c += nc
    lines += ["  - gap", "  - flatten", "  - linear: {out: 5}"]
    return "\n".join(line for line in lines if line) + "\n"


SEEDS = list(range(12))


def test_random_nets_cover_every_structure():
    text = "".join(_random_net(s) for s in SEEDS)
    for word in ("residual", "parallel", "deconv", "dropout", "pool", "name:", "from:",
                 "add:", "concat:", "mul", "sepconv"):
        assert word in text, word


@pytest.mark.parametrize("seed", SEEDS)
def test_random_network_against_pytorch(seed):
    text = _random_net(seed)
    report = walk(parse(text, f"random{seed}.yaml"), batch=2)
    m = memory.analyse(report, training=True)
    saved, macs = rownet_training(report)
    assert m.totals["saved_activation_bytes"] == saved, text
    assert m.totals["train_macs"] + pytorch_grouped_overcount(report) == macs, text
    live = measured_live(report)
    assert [r.live_bytes for r in memory.analyse(report).rows] == live, text
    assert m.totals["peak_inference_bytes"] == max(live)

