"""Oracle: ONNX import against PyTorch itself (SPEC §7).

Every plain-PyTorch twin of the examples (``tests/torch_models.py``) and the pattern models of
``tests/onnx_models.py`` is exported with ``torch.onnx.export`` in the test setup — the current
exporter (``dynamo=True``, opset 18: weights in ``NAME.onnx.data``, BN folded into the conv; with
``optimize=False``: BN kept)
and the legacy one (opset 17: BN folded; with ``training=PRESERVE``: BN kept) — and variants
of a legacy file: weights as graph inputs (``export_params=False``), initializers stripped to
their dims (the file then fails ``onnx.checker``), and external data whose ``.data`` file is
gone. The import must give:

- per conv-like and linear layer, in execution order: the module's own params as the graph
  holds them (a BN folded into the conv before it turns into a bias of ``out``) and the MACs
  ``torch.utils.flop_counter.FlopCounterMode`` counts for the module (its FLOPs / 2);
- in total: those params plus the kept BNs' 2·C and every other parameter, and
  FlopCounterMode's total / 2;
- layer names = the module paths (legacy: from the node names; dynamo: from the
  ``name_scopes`` metadata or the weight's name);
- ``convcalc net`` on the .onnx file = ``convcalc net`` on the imported YAML.

The torch side runs on the ``meta`` device (no weights computed); exported models get
uninitialised weights (``to_empty``): exporting reads shapes, and the importer never reads
weights. Exports are cached per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from convcalc.importers import onnx as onnx_import  # noqa: E402
from convcalc.spec import parse  # noqa: E402
from convcalc.walk import walk  # noqa: E402

from tests import torch_models  # noqa: E402
from tests.onnx_models import EXTRA  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore")]

ROOT = Path(__file__).resolve().parent.parent
UNMAPPABLE = {"deformable"}  # its twin's grid_sample/einsum: the error test below
MODELS = {**{k: v for k, v in torch_models.MODELS.items() if k not in UNMAPPABLE}, **EXTRA}
CONV_LIKE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d, nn.Linear)
BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# the variants every model is exported in, and the ones only some are (time: dynamo takes
# 2–6 s a model here)
# Every model with the legacy exporter; the current one (2–20 s a model on this machine) for
# the models whose ops it exports differently (ReduceMean for the global pool, Clip, Resize,
# Slice, the folded ConvTranspose+BN, name_scopes) — not for the large plain conv/pool/linear
# chains (vgg16, c3d, alexnet; unet and resnext50 are resnet50's and tcn's ops again); BN
# kept (training=PRESERVE) on a sample of the models with BN.
DYNAMO = {"resnet50", "mobilenet_v2", "googlenet", "shufflenet_v1_stage", "dcgan_generator",
          "tcn", "deeplabv3_aspp", "separable", "lenet5", *EXTRA}
BN_KEPT = {"resnet50", "dcgan_generator", "shufflenet_v1_stage", "separable", "mobile_blocks",
           "densenet_block"}
# over 100 MB of weights and nothing but conv/pool/linear: the legacy exporter writes no
# weights for them (export_params=False)
LARGE = {"vgg16", "c3d", "alexnet", "resnext50_32x4d", "unet"}
# and the current exporter without its optimiser (optimize=False): BN kept, biases that are
# computed zeros (Expand of 0), Clip bounds through CastLike
DYNAMO_BN = {"mobile_blocks", "shufflenet_v1_stage", "dcgan_generator"}
CASES = ([(n, "legacy") for n in sorted(MODELS)] + [(n, "dynamo") for n in sorted(DYNAMO)]
         + [(n, "legacy_bn") for n in sorted(BN_KEPT)]
         + [(n, "dynamo_bn") for n in sorted(DYNAMO_BN)])
FILE_VARIANTS = ["params_as_inputs", "stripped", "external_without_data"]
FILE_CASES = [(n, v) for n in ("resnet50", "shufflenet_v2_stage", "mobile_blocks", "tcn")
              for v in FILE_VARIANTS if not (v == "params_as_inputs" and n == "resnet50")]


def _build(name: str):
    """The model with constant weights (no initialisation cost; every layer's initializers
    byte-identical, so the exporters share them — the untrained-model case)."""
    builder, shape = {**torch_models.MODELS, **EXTRA}[name]
    with torch.device("meta"):
        model = builder()
    model = model.to_empty(device="cpu").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.5)
        for b in model.buffers():
            b.fill_(1)
    return model, shape


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    cache: dict = {}
    root = tmp_path_factory.mktemp("onnx")

    def get(name: str, variant: str) -> str:
        key = (name, variant)
        if key in cache:
            return cache[key]
        path = root / f"{name}.{variant}.onnx"
        if variant in ("stripped", "external_without_data"):
            src = onnx.load(get(name, "legacy"))
            if variant == "stripped":
                for t in src.graph.initializer:  # dims and type only, no values
                    t.ClearField("raw_data")
                    for f in ("float_data", "int32_data", "int64_data", "double_data"):
                        t.ClearField(f)
                onnx.save(src, str(path))
            else:
                onnx.save(src, str(path), save_as_external_data=True,
                          all_tensors_to_one_file=True, location=f"{path.name}.data",
                          size_threshold=0)
                os.remove(f"{path}.data")
            cache[key] = str(path)
            return cache[key]
        model, shape = _build(name)
        x = torch.zeros(1, *shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if variant in ("dynamo", "dynamo_bn"):
                torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=18,
                                  verbose=False, optimize=variant == "dynamo")
            else:
                kw = {"params_as_inputs": {"export_params": False},
                      "legacy_bn": {"training": torch.onnx.TrainingMode.PRESERVE},
                      "legacy": {"export_params": name not in LARGE}}[variant]
                torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17,
                                  **kw)
        cache[key] = str(path)
        return cache[key]

    return get


def torch_side(name: str):
    """Conv-like/linear modules in execution order: (path, params, MACs by FlopCounterMode,
    has bias, a BN right after it); the BNs' channels; the total params; MACs in total."""
    builder, shape = MODELS[name]
    leaves = []
    with torch.device("meta"):
        model = builder().eval()
        hooks = []
        for path, m in model.named_modules():
            if next(m.children(), None) is None or isinstance(m, torch_models.ModulatedDeformConv2d):
                hooks.append(m.register_forward_hook(
                    lambda mod, a, out, path=path: leaves.append((path, mod))))
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    counts = counter.get_flop_counts()
    root = type(model).__name__
    layers = []
    for i, (path, m) in enumerate(leaves):
        if isinstance(m, CONV_LIKE) or type(m).__name__ == "MatMulLinear":
            flops = sum(counts.get(f"{root}.{path}", {}).values())
            own = sum(p.numel() for p in m.parameters(recurse=False))
            bn_after = i + 1 < len(leaves) and isinstance(leaves[i + 1][1], BN)
            has_bias = getattr(m, "bias", None) is not None
            layers.append((path, own, flops // 2, has_bias, bn_after,
                           getattr(m, "out_channels", getattr(m, "out_features", None))))
    bns = [m.num_features for _, m in leaves if isinstance(m, BN)]
    total = sum(p.numel() for p in model.parameters())
    return layers, bns, total, counter.get_total_flops() // 2


def imported_layers(imp):
    """The imported conv-like/linear layers in node order — an se's two 1×1 convs as two —
    with their params and MACs from the YAML's walk."""
    report = walk(parse(imp.text, "imported.yaml"))
    by_node = {node: row for row, node in zip(report.rows, imp.order) if node is not None}
    out = []
    for n in imp.nodes:
        row = by_node[n.name]
        if n.op in ("conv", "deconv", "linear"):
            out.append((n.name, row.params, row.macs))
        elif n.op == "se":
            parts = dict(row.parts)
            out += [(n.name + ".fc1", parts["down"].params, parts["down"].macs),
                    (n.name + ".fc2", parts["up"].params, parts["up"].macs)]
    return out, report


def _check(name, path, variant):
    imp = onnx_import.read(path)
    want, bns, total, macs = torch_side(name)
    got, report = imported_layers(imp)
    bn_nodes = [n for n in imp.nodes if n.op == "bn" and n.args.get("affine", True)]
    kept = bool(bn_nodes)
    if variant in ("legacy_bn", "dynamo_bn"):
        assert len(bn_nodes) == len(bns), "BatchNormalization kept, every one"
    expected = []
    folded_away = 0
    for path_, own, mac, has_bias, bn_after, out in want:
        # a BN folded into the conv before it: the conv gains a bias of `out` values
        folds = bn_after and not kept
        expected.append((own + (out if folds and not has_bias else 0), mac))
        folded_away += 2 * out if folds else 0
    assert [(p, m) for _, p, m in got] == expected, f"{name} ({variant})"
    bias_added = sum(e[0] - w[1] for e, w in zip(expected, want))
    assert report.totals["params"] == total - folded_away + bias_added
    assert report.totals["macs"] == macs
    if variant.startswith("legacy") or variant == "params_as_inputs":
        # names: the module paths (the se's fc1/fc2 are parts of its row)
        want_names = [w[0] for w in want]
        assert [g[0] for g in got] == want_names
    return imp


@pytest.mark.parametrize("name, variant", CASES)
def test_import_matches_pytorch(exported, name, variant):
    _check(name, exported(name, variant), variant)


@pytest.mark.parametrize("name, variant", FILE_CASES)
def test_file_variants(exported, name, variant):
    path = exported(name, variant)
    if variant == "stripped":
        with pytest.raises(Exception):
            onnx.checker.check_model(path)  # such files fail the checker; convcalc reads them
    if variant == "external_without_data":
        assert not os.path.exists(path + ".data")
    _check(name, path, variant)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True,
                          text=True, cwd=ROOT)


@pytest.mark.parametrize("name", ["shufflenet_v2_stage", "transform_input"])
def test_net_on_onnx_equals_net_on_imported_yaml(exported, tmp_path, name):
    path = exported(name, "dynamo")
    out = tmp_path / "m.yaml"
    r = _cli("import", path, "-o", str(out))
    assert r.returncode == 0, r.stderr
    a = _cli("net", path, "--format", "json")
    b = _cli("net", str(out), "--format", "json")
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    ja.pop("file"), jb.pop("file")
    for layer in ja["layers"] + jb["layers"]:
        layer.pop("loc", None)
    assert ja == jb
    c = _cli("check", path, "--max-params", str(ja["totals"]["params"]))
    assert c.returncode == 0, c.stdout
    d = _cli("diff", path, str(out), "--format", "json")
    assert d.returncode == 0 and json.loads(d.stdout)["layers"] == []


def test_unsupported_ops_are_listed(exported):
    path = exported("deformable", "legacy")
    r = _cli("import", path)
    assert r.returncode == 2 and r.stdout == ""
    line = r.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"{path}: error: cannot map ")
    for op in ("Einsum: /0/body/body.3/Einsum, /2/body/body.3/Einsum, /4/body/body.3/Einsum",
               "GridSample: /0/body/body.3/GridSample, /2/body/body.3/GridSample, "
               "/4/body/body.3/GridSample"):
        assert op in line


def test_folded_blocks_and_names_in_the_yaml(exported):
    text = onnx_import.read(exported("resnet50", "legacy")).text
    assert text.startswith("# imported from resnet50.legacy.onnx by convcalc\n"
                           "name: resnet50.legacy\ninput: [3, 224, 224]\n") or \
        "input: [3, 224, 224]" in text
    assert "- residual:" in text and "shortcut:" in text
    assert "name: _4.body.0" in text  # the module path (a Sequential's child 4)
