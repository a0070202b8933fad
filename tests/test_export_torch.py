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

from export_cases import CASES  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::UserWarning")]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
# sizes for the symbolic examples: the smallest ones they accept (U-Net: 16·m + 124, m ≥ 4)
SETS = {"unet": {"H": 188, "W": 204}, "unet_padded": {"H": 64, "W": 80}, "tcn": {"T": 64}}
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
