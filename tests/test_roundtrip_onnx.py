"""Oracle: the round trip YAML → ``convcalc export --to torch`` → ``torch.onnx.export`` →
``convcalc import model.onnx`` gives the YAML's totals (SPEC §7).

The ONNX file is written by PyTorch's legacy exporter with ``training=PRESERVE``: both of
PyTorch's exporters fold each BatchNorm into the conv before it by default (the file then
holds other weights than the model: each folded BN's 2·C become a conv bias of C), and the
round trip is about the network, not about that optimisation. The examples here cover
residual, parallel and named-tensor structures, transposed convs, crops, the compound
separable convs, channel shuffle and symbolic inputs (bound with --set, as the ONNX file has
one size); the weight-heavy classifiers (VGG, AlexNet, C3D) and the deformable example
(torchvision) are left out for time.
"""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from convcalc.exporters.torch import export_torch  # noqa: E402
from convcalc.spec import load  # noqa: E402
from convcalc.walk import walk  # noqa: E402

from clirun import cli  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ROOT = Path(__file__).resolve().parent.parent
CASES = {"lenet5": {}, "resnet50": {}, "mobilenet_v2": {}, "googlenet": {}, "separable": {},
         "shufflenet_v1_stage": {}, "dcgan_generator": {}, "deeplabv3_aspp": {},
         "unet": {"H": 188, "W": 188}, "tcn": {"T": 64}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_yaml_torch_onnx_yaml_keeps_the_totals(name, tmp_path, capsys, monkeypatch):
    if importlib.util.find_spec("convcalc.importers.onnx") is None:
        pytest.skip("the ONNX importer (convcalc/importers/onnx.py) is not merged yet")
    net = load(str(ROOT / "examples" / f"{name}.yaml"))
    report = walk(net, sets=CASES[name])
    module = types.ModuleType(f"roundtrip_{name}")
    exec(compile(export_torch(net, walk(net)).code, name, "exec"), module.__dict__)
    torch.manual_seed(0)
    model = module.build().eval()
    onnx_file = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (torch.zeros(1, *report.input.dims),), str(onnx_file),
                      dynamo=False, training=torch.onnx.TrainingMode.PRESERVE)
    yaml_file = tmp_path / f"{name}.yaml"
    code, _, err = cli(capsys, monkeypatch, "import", str(onnx_file), "-o", str(yaml_file))
    assert code == 0, err
    back = walk(load(str(yaml_file)))
    for key in ("params", "macs"):
        assert back.totals[key] == report.totals[key], key
    assert back.output.dims == report.output.dims
