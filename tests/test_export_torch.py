"""Oracle: `convcalc export --to torch` writes PyTorch code whose model equals convcalc's rows.

For every example (symbolic ones exported as they are, then run at a size bound with --set)
and for small hand-made networks that together use every op of the catalog: export, execute
the file, ``build()``, run one zero sample, and compare, for every leaf row of the walk, the
module the exporter names for it (``TorchExport.modules``): its output shape (a forward hook),
its own parameter count, and its MACs as ``torch.utils.flop_counter.FlopCounterMode`` counts
them (one MAC = 2 of its FLOPs; it counts convolutions, transposed ones on the input grid,
and matrix products — exactly convcalc's MACs, SPEC §4). Then the totals: parameters of the
whole model, FlopCounterMode's total, the output shape.

torchvision cannot be imported here (its only build on this index is a CUDA one), so the
deformable conv runs with a stand-in ``torchvision.ops.DeformConv2d``: torchvision's
parameters (``weight`` cout×cin/g×kh×kw, ``bias``) and its checks of the offset and mask
shapes, sampling at the undeformed positions (a plain conv: the MACs convcalc counts).

The big examples run on PyTorch's ``meta`` device (shapes without arithmetic), the hand-made
ones on the CPU.
"""

from __future__ import annotations

import sys
import types
from math import prod
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from convcalc import ops  # noqa: E402
from convcalc.exporters.torch import export_torch  # noqa: E402
from convcalc.spec import load, parse  # noqa: E402
from convcalc.walk import walk  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::UserWarning")]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
# sizes for the symbolic examples: the smallest ones they accept (U-Net: 16·m + 124, m ≥ 4)
SETS = {"unet": {"H": 188, "W": 204}, "tcn": {"T": 64}}
MERGES = ("add", "concat", "mul")


class _DeformConv2d(torch.nn.Module):
    """Stand-in for torchvision.ops.DeformConv2d (see the module docstring)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True):
        super().__init__()
        k = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
        self.k, self.stride, self.padding, self.dilation, self.groups = \
            k, stride, padding, dilation, groups
        self.weight = torch.nn.Parameter(torch.zeros(out_channels, in_channels // groups, *k))
        self.bias = torch.nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x, offset, mask=None):
        out = torch.nn.functional.conv2d(x, self.weight, self.bias, self.stride,
                                         self.padding, self.dilation, self.groups)
        taps = prod(self.k)
        # torchvision's checks: offsets (2·og·kh·kw) and mask (og·kh·kw) on the output grid
        assert offset.shape[2:] == out.shape[2:] and offset.shape[1] % (2 * taps) == 0
        og = offset.shape[1] // (2 * taps)
        assert x.shape[1] % og == 0
        if mask is not None:
            assert tuple(mask.shape[1:]) == (og * taps, *out.shape[2:])
        return out


def _stand_in_torchvision(monkeypatch):
    tv = types.ModuleType("torchvision")
    tv_ops = types.ModuleType("torchvision.ops")
    tv_ops.DeformConv2d = _DeformConv2d
    tv.ops = tv_ops
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.ops", tv_ops)


def _exec(code: str, name: str):
    module = types.ModuleType(f"exported_{name}")
    exec(compile(code, f"<export of {name}>", "exec"), module.__dict__)
    return module


def _compare(net, sets, device, name):
    """Export ``net`` (as declared), run the model on the size ``sets`` binds, compare."""
    exported = export_torch(net, walk(net))
    report = walk(net, sets=sets)
    module = _exec(exported.code, name)
    from torch.utils.flop_counter import FlopCounterMode

    shapes = {}
    with torch.device(device):
        model = module.build()
        for index, qualified in exported.modules.items():
            def hook(mod, args, out, index=index):
                shapes[index] = tuple(out.shape[1:])
            model.get_submodule(qualified).register_forward_hook(hook)
        model.eval()
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            y = model(torch.zeros(1, *report.input.dims))
    counts = counter.get_flop_counts()
    top = type(model).__name__
    for row in report.rows:
        if row.op in MERGES:
            continue
        assert row.index in exported.modules, f"{name}: row {row.path} ({row.op}) has no module"
        sub = model.get_submodule(exported.modules[row.index])
        where = f"{name}: row {row.index} {row.path} ({row.op})"
        assert shapes[row.index] == row.output.dims, where
        assert sum(p.numel() for p in sub.parameters()) == row.params, where
        flops = sum(counts.get(f"{top}.{exported.modules[row.index]}", {}).values())
        assert flops == 2 * row.macs, where
    assert tuple(y.shape[1:]) == report.output.dims
    assert sum(p.numel() for p in model.parameters()) == report.totals["params"]
    assert counter.get_total_flops() == 2 * report.totals["macs"]
    return exported, model


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_exports_to_its_rows(name, monkeypatch):
    _stand_in_torchvision(monkeypatch)
    net = load(str(ROOT / "examples" / f"{name}.yaml"))
    _compare(net, SETS.get(name, {}), "meta", name)


def test_resnet50_has_torchvisions_numbers():
    # torchvision's model table, ResNet50_Weights.IMAGENET1K_V1: num_params 25,557,032,
    # "GFLOPS" 4.089 (REFERENCE.md; the exact count 4,089,184,256 recomputed there)
    net = load(str(ROOT / "examples" / "resnet50.yaml"))
    _, model = _compare(net, {}, "meta", "resnet50")
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, 224, 224, device="meta"))
    assert counter.get_total_flops() == 2 * 4_089_184_256


# -- every op of the catalog, in small networks run on the CPU ---------------------------------

CASES = {
    "convs_2d": """
name: convs 2d
input: [4, 12, 10]
vars: {w: 8}
layers:
  - conv: {out: w, k: 3, p: same, bias: false}
  - conv2d: {out: w, k: [3, 2], s: [2, 1], p: [[1, 2], [0, 1]], d: 1}
  - conv: {out: w, k: 2, p: full, d: 2, g: 2}
  - pwconv: {out: 12, g: 4}
  - dwconv: {k: 3, p: 1, mult: 2}
  - sepconv: {out: 6, k: 3, s: 2, p: 1, mult: 2, bias: false}
  - spatial_sepconv: {out: 6, k: 3, p: 1}
  - flatconv: {out: 5, k: 3, p: 1}
  - deconv: {out: 4, k: 3, s: 2, p: 1, op: 1}
  - convtranspose2d: {out: 4, k: 2, s: 2, p: [[0, 1], [1, 0]], g: 2, bias: false}
  - deformconv: {out: 6, k: 3, p: 1}
  - deformconv: {out: 6, k: 3, s: 2, p: 1, offset_groups: 2, modulated: true, bias: false}
  - pad: {p: [[1, 0], [0, 2]]}
  - crop: {p: [1, [0, 1]]}
""",
    "pools_2d": """
input: [3, 17, 15]
layers:
  - maxpool: {k: 3, s: 2, p: 1, ceil: true}
  - maxpool: {k: 2, s: 1, d: 2}
  - avgpool: {k: 2, ceil: true}
  - maxpool2d: {k: 2, s: 1, p: [[0, 1], [1, 0]]}
  - avgpool: {k: 2, s: 1, p: [[1, 0], [0, 0]]}
  - adaptive_avgpool: {out: [3, 2]}
    name: a
  - adaptive_maxpool: {out: 2}
    from: a
  - gmp
  - flatten
  - linear: {out: 4}
""",
    "norms_and_activations": """
input: [6, 5, 4]
layers:
  - bn
  - gn: {g: 3}
  - ln
  - in: {affine: true}
  - instancenorm2d
  - relu
  - relu6
  - leaky_relu: {slope: 0.2}
  - prelu
  - prelu: {num: 6}
  - elu: {alpha: 0.5}
  - gelu: {approximate: tanh}
  - silu
  - sigmoid
  - hardsigmoid
  - hardswish
  - tanh
  - softmax
  - dropout: {p: 0.1}
  - identity
  - gap
  - flatten
  - bn
  - batchnorm1d: {affine: false}
  - ln
  - gn: {g: 2}
  - prelu: {num: 6}
  - fc: {out: 3, bias: false}
""",
    "rearranging": """
input: [32, 6, 5]
layers:
  - upsample: {scale: 2}
  - upsample: {size: [13, 11], mode: bilinear, align_corners: true}
  - upsample: {scale: [1, 2], mode: bilinear}
  - pixel_shuffle: {r: 2}
  - channel_shuffle: {g: 2}
  - se: {reduction: 2}
  - se: {squeeze: 3, act: silu, gate: hardsigmoid}
  - slice: {from: 2, to: 6}
  - slice: {to: 3}
  - slice: {from: 1}
  - gap
""",
    "structures": """
name: structures
input: [3, 16, 16]
vars: {c: 4}
blocks:
  unit:
    args: {c: null, s: 1, e: c*2}
    layers:
      - residual:
          body:
            - conv: {out: e, k: 3, s: s, p: 1}
            - relu
            - conv: {out: c, k: 1}
          shortcut:
            - conv: {out: c, k: 1, s: s}
      - relu
  grow:
    args: {m: 2}
    layers:
      - dwconv: {k: 1, mult: m}
  skip:
    layers:
      - add: stem
  join:                          # reads a tensor of its caller: its channels are an argument
    layers:
      - concat: [stem]
      - pwconv: {out: 4}
layers:
  - conv: {out: c, k: 3, p: 1}
    name: stem
  - unit: {c: c}
    times: 3
  - skip
  - join
  - grow: {}
    times: 2
  - conv: {out: c, k: 1}
  - residual:
      body:
        - bn
        - relu
    times: 2
  - parallel:
      branches:
        - []
        - [conv: {out: 2, k: 1}]
        - [maxpool: {k: 3, s: 1, p: 1}, pwconv: {out: 3}]
      merge: concat
    name: cat
  - conv: {out: c, k: 1}
    name: a
  - parallel:
      branches:
        - [relu]
        - [sigmoid]
      merge: mul
  - parallel:
      branches:
        - [relu]
        - []
      merge: add
  - mul: a
  - relu: {}
    times: 2
  - concat: [stem, a]
  - conv: {out: 3, k: 1}
    from: cat
  - concat: [a]
  - unit: {c: 6, s: 2}
""",
    "one_and_three_d": """
input: [2, 6, 6, 6]
layers:
  - conv3d: {out: 4, k: 3, p: 1}
  - maxpool3d: {k: 2}
  - upsample: {scale: 2, mode: trilinear}
  - se: {reduction: 2}
  - pad: {p: 1}
  - avgpool: {k: [1, 2, 2], s: 2}
  - dwconv: {k: 2}
  - bn3d
  - flatten
  - linear: {out: 5}
""",
    "one_d": """
input: [3, 20]
layers:
  - conv1d: {out: 4, k: 5, p: same}
  - sepconv: {out: 6, k: 3, d: 2}
  - flatconv: {out: 4, k: 3}
  - deconv1d: {out: 2, k: 4, s: 2}
  - maxpool1d: {k: 3, s: 2, ceil: true}
  - avgpool1d: {k: 2}
  - adaptive_avgpool: {out: 3}
  - in: {affine: true}
  - upsample: {size: 7, mode: linear}
  - crop: {p: [[1, 2]]}
  - bn1d
""",
}


def test_the_cases_use_every_catalog_op():
    used = set()
    for text in CASES.values():
        net = parse(text, "<case>")
        used |= {row.op for row in walk(net).rows}
    assert set(ops.OPS) - used == set()


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_op_exports_to_its_row(name, monkeypatch):
    _stand_in_torchvision(monkeypatch)
    torch.manual_seed(0)
    _compare(parse(CASES[name], f"{name}.yaml"), {}, "cpu", name)


def test_export_is_deterministic_and_flake_free():
    pyflakes_api = pytest.importorskip("pyflakes.api")
    from pyflakes.reporter import Reporter
    import io

    for name in EXAMPLES + sorted(CASES):
        if name in CASES:
            net = parse(CASES[name], f"{name}.yaml")
        else:
            net = load(str(ROOT / "examples" / f"{name}.yaml"))
        code = export_torch(net, walk(net)).code
        assert export_torch(net, walk(net)).code == code
        warnings = io.StringIO()
        assert pyflakes_api.check(code, name, Reporter(warnings, warnings)) == 0, \
            warnings.getvalue()
