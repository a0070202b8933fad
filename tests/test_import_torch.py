"""Oracle: ``convcalc import package.module:callable`` against PyTorch itself.

For every plain-PyTorch twin of an example (``tests/torch_models.py``) that the importer
supports, trace it and check each node the importer makes: the catalog op on the traced
input shape (``ops.apply``, convcalc's own arithmetic) gives the output shape PyTorch
computed, the module's own parameter count, and the MACs
``torch.utils.flop_counter.FlopCounterMode`` counts for that module (one MAC = 2 of its
FLOPs; it counts convolutions and matrix products — exactly convcalc's MACs, SPEC §4); and
in total, the model's parameters and FlopCounterMode's count. Then the YAML the nodes become
(``graph.write_yaml``): walked by convcalc, its rows are the nodes, one each, with the same
numbers. The twins the importer cannot map (custom modules fx cannot trace) give their exact
error. Models are built and run on PyTorch's ``meta`` device (shapes without arithmetic).
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from convcalc import ops  # noqa: E402
from convcalc.importers import graph  # noqa: E402
from convcalc.core import Shape  # noqa: E402
from convcalc.errors import ConvcalcError  # noqa: E402
from convcalc.importers import torch as importer  # noqa: E402

from tests import torch_models  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::UserWarning")]

ROOT = Path(__file__).resolve().parent.parent
MERGES = ("add", "concat", "mul")
# twins with a custom module fx cannot trace through (it iterates over x.shape, or branches
# on a value): the importer lists them, by class and path
UNSUPPORTED = {
    "unet": "import: 4 call(s) convcalc cannot map: module Crop (up.0.crop, up.1.crop, "
            "up.2.crop, up.3.crop)",
    "unet_padded": "import: 4 call(s) convcalc cannot map: module Crop (up.0.crop, up.1.crop, "
                   "up.2.crop, up.3.crop)",
    "tcn": "import: 8 call(s) convcalc cannot map: module Crop (0.body.1, 0.body.5, 2.body.1, "
           "2.body.5, …)",
    "shufflenet_v1_stage": "import: 4 call(s) convcalc cannot map: module ChannelShuffle "
                           "(4.branches.0.3, 6.body.3, 8.body.3, 10.body.3)",
    "deformable": "import: 3 call(s) convcalc cannot map: module ModulatedDeformConv2d "
                  "(0.body.3, 2.body.3, 4.body.3)",
}
SUPPORTED = sorted(set(torch_models.MODELS) - set(UNSUPPORTED))
HINT = "`convcalc import --help` and the README list what is supported"


def _torch_counts(model, shape):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, *shape, device="meta"))
    top = type(model).__name__
    per = {name[len(top) + 1:]: sum(c.values()) for name, c in
           counter.get_flop_counts().items() if name.startswith(top + ".")}
    return per, counter.get_total_flops()


def _build(name, device="meta"):
    builder, shape = torch_models.MODELS[name]
    with torch.device(device):
        model = builder()
    return model.eval(), shape


@pytest.mark.parametrize("name", SUPPORTED)
def test_twin_imports_to_its_modules(name):
    model, shape = _build(name)
    nodes, shapes, owners = importer.trace(model, shape)
    flops, total_flops = _torch_counts(model, shape)
    params = macs = 0
    for node in nodes:
        x, y = shapes[node.name]
        if node.op in MERGES:
            continue
        effect = ops.apply(node.op, Shape(x[1], tuple(x[2:])), node.args)
        where = f"{name}: {node.name} ({node.op})"
        assert effect.output.dims == tuple(y[1:]), where
        own = sum(p.numel() for p in model.get_submodule(owners[node.name]).parameters()) \
            if owners[node.name] in dict(model.named_modules()) and node.name == \
            owners[node.name] else 0
        assert effect.params == own, where
        assert 2 * effect.macs == (flops.get(node.name, 0) if node.name == owners[node.name]
                                   else 0), where
        params += effect.params
        macs += effect.macs
    assert params == sum(p.numel() for p in model.parameters())
    assert 2 * macs == total_flops


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_untraceable_twins_are_listed(name):
    model, shape = _build(name, "cpu")  # the deformable twin makes CPU tensors in forward
    with pytest.raises(ConvcalcError) as info:
        importer.trace(model, shape)
    assert info.value.message == UNSUPPORTED[name]
    assert info.value.hint == HINT


@pytest.mark.parametrize("name", SUPPORTED)
def test_twin_yaml_walks_to_the_same_rows(name):
    """The YAML ``write_yaml`` makes of the nodes, walked: one row per node, same numbers."""
    from convcalc.spec import parse
    from convcalc.walk import walk

    model, shape = _build(name)
    nodes, shapes, _ = importer.trace(model, shape)
    layout = graph.layout(nodes, tuple(shape), name)
    report = walk(parse(layout.text, f"{name}.yaml"))
    by_name = {n.name: n for n in nodes}
    assert [n for n in layout.order if n is not None] == [n.name for n in nodes] or \
        sorted(n for n in layout.order if n is not None) == sorted(by_name)
    for row, node_name in zip(report.rows, layout.order):
        if node_name is None:
            continue
        node = by_name[node_name]
        assert row.op == ops.resolve(node.op).name, (name, node_name)
        assert row.output.dims == tuple(shapes[node_name][1][1:]), (name, node_name)
        if node.op not in MERGES:
            effect = ops.apply(node.op, Shape(shapes[node_name][0][1],
                                              tuple(shapes[node_name][0][2:])), node.args)
            assert (row.params, row.macs) == (effect.params, effect.macs), (name, node_name)
    assert report.totals["params"] == sum(p.numel() for p in model.parameters())
    assert 2 * report.totals["macs"] == _torch_counts(model, shape)[1]


# -- the mapping, piece by piece --------------------------------------------------------------

nn = torch.nn
F = torch.nn.functional


class Functional(nn.Module):
    """Functions and tensor methods in place of modules."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x):
        x = self.conv(x)
        a = F.relu(x) + torch.sigmoid(x)
        b = x.relu() * x.tanh()
        x = torch.cat([a, b], 1)
        x = F.max_pool2d(x, 2, ceil_mode=True)
        x = F.avg_pool2d(x, 3, stride=1, padding=1)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.pad(x, (1, 0, 0, 1))
        x = x[:, 2:6]
        x = F.adaptive_avg_pool2d(x, 3)
        x = x.contiguous()
        x = x.view(x.size(0), -1)
        return F.softmax(self.fc(x), dim=1)


def test_functions_and_methods_map_to_the_catalog():
    nodes, shapes, _ = importer.trace(Functional(), (3, 10, 10))
    got = [(n.name, n.op, n.args, n.inputs) for n in nodes]
    assert got == [
        ("conv", "conv", {"out": 8, "k": 3, "p": 1}, [""]),
        ("relu", "relu", {}, ["conv"]),
        ("sigmoid", "sigmoid", {}, ["conv"]),
        ("add", "add", {}, ["relu", "sigmoid"]),
        ("relu_1", "relu", {}, ["conv"]),
        ("tanh", "tanh", {}, ["conv"]),
        ("mul", "mul", {}, ["relu_1", "tanh"]),
        ("cat", "concat", {}, ["add", "mul"]),
        ("max_pool2d", "maxpool", {"k": 2, "ceil": True}, ["cat"]),
        ("avg_pool2d", "avgpool", {"k": 3, "s": 1, "p": 1}, ["max_pool2d"]),
        ("interpolate", "upsample", {"scale": 2, "mode": "bilinear", "align_corners": False},
         ["avg_pool2d"]),
        ("pad", "pad", {"p": [[0, 1], [1, 0]]}, ["interpolate"]),
        ("getitem", "slice", {"from": 2, "to": 6}, ["pad"]),
        ("adaptive_avg_pool2d", "adaptive_avgpool", {"out": 3}, ["getitem"]),
        ("view", "flatten", {}, ["adaptive_avg_pool2d"]),
        ("fc", "linear", {"out": 5}, ["view"]),
        ("softmax", "softmax", {}, ["fc"]),
    ]
    # each node's shape is PyTorch's (the F.pad above: H + 0 + 1, W + 1 + 0)
    x = shapes["pad"][0]
    assert shapes["pad"][1] == (1, x[1], x[2] + 1, x[3] + 1)


class Shared(nn.Module):
    """torchvision's Bottleneck reuses one ReLU three times."""

    def __init__(self, share_conv=False):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 1)
        self.conv2 = self.conv1 if share_conv else nn.Conv2d(4, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x)))) + x


def test_a_module_called_twice_is_two_rows():
    nodes, _, _ = importer.trace(Shared(), (4, 5, 5))
    assert [(n.name, n.op, n.inputs) for n in nodes] == [
        ("conv1", "conv", [""]), ("relu", "relu", ["conv1"]), ("conv2", "conv", ["relu"]),
        ("relu.1", "relu", ["conv2"]), ("add", "add", ["relu.1", ""])]


def test_weight_sharing_is_refused():
    with pytest.raises(ConvcalcError) as info:
        importer.trace(Shared(share_conv=True), (4, 5, 5))
    assert info.value.message == (
        "import: 1 call(s) convcalc cannot map: module Conv2d called more than once with its "
        "parameters (weight sharing): convcalc's YAML gives every row its own weights "
        "(conv1)")


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm_like = nn.GRUCell(4, 4)
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        x = self.conv(x) * 2
        return torch.erf(x) + 1


def test_unsupported_calls_are_listed_with_where():
    with pytest.raises(ConvcalcError) as info:
        importer.trace(Odd(), (3, 4, 4))
    assert info.value.message == (
        "import: 3 call(s) convcalc cannot map: function mul with a constant (convcalc's "
        "merges take tensors) (mul); function torch.erf (erf); function add with a constant "
        "(convcalc's merges take tensors) (add)")


def test_supported_list_is_the_tables():
    listed = importer.supported()
    assert "nn.Conv2d" in listed["modules"] and "torch.cat" in listed["functions"]
    assert len(listed["modules"]) == len(importer.MODULES)


def test_readme_lists_what_the_importer_supports():
    """The README's list is generated from the importer's tables: they must agree."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- torch-import-supported -->\n(.*?)\n<!-- /torch-import-supported "
                      r"-->", text, re.S)
    assert match, "README.md has no generated list of supported PyTorch modules"
    assert match.group(1).strip() == importer.readme_list().strip()


def test_cli_import_writes_yaml(tmp_path, monkeypatch, capsys):
    from clirun import cli

    (tmp_path / "tiny_model.py").write_text(textwrap.dedent("""\
        from torch import nn

        def build():
            return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "tiny.yaml"
    code, stdout, stderr = cli(capsys, monkeypatch, "import", "tiny_model:build", "--input",
                               "3x16x16", "-o", str(out))
    assert (code, stdout, stderr) == (0, "", "")
    from convcalc.spec import load
    from convcalc.walk import walk

    report = walk(load(str(out)))
    # conv 3→8 k3 (+bias), BatchNorm γ/β, Linear 8→10 (+bias)
    assert report.totals["params"] == 8 * 3 * 3 * 3 + 8 + 2 * 8 + 8 * 10 + 10
    assert report.totals["macs"] == 8 * 3 * 3 * 3 * 16 * 16 + 8 * 10
    sys.modules.pop("tiny_model", None)


def test_cli_import_errors(tmp_path, monkeypatch, capsys):
    from clirun import cli

    code, _, stderr = cli(capsys, monkeypatch, "import", "no_such_module_x:build", "--input",
                          "3x8x8")
    assert code == 2
    assert stderr == ("error: import: cannot import module 'no_such_module_x' "
                      "(no_such_module_x) (hint: run from the directory that holds it, or "
                      "install it)\n")
    code, _, stderr = cli(capsys, monkeypatch, "import", "tests.torch_models:resnet50")
    assert code == 2
    assert stderr == ("error: import: a PyTorch module needs --input (channels first, e.g. "
                      "3x224x224) (hint: convcalc import tests.torch_models:resnet50 --input "
                      "3x224x224)\n")
