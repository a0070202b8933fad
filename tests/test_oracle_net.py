"""Oracle: whole example networks against PyTorch itself.

For every network that is both an ``examples/*.yaml`` and a builder in ``tests/torch_models.py``
(``MODELS = {name: (builder, input_shape_without_batch)}``, plain ``torch.nn`` whose leaf modules
run in the YAML's row order), run one zero sample with forward hooks on the leaf modules that
are convolutions, linear layers, pools or batch norms (and on the deformable conv, which owns
its offset conv), then compare with convcalc's rows of the same kinds, in order: kind, output
shape, own parameter count and MACs; and the network's total parameter count, exactly.

Speed: the modules are built and run on PyTorch's ``meta`` device — PyTorch's own shape rules
without allocating or computing (VGG-16's weight init alone takes seconds on CPU; U-Net at
572×572 takes ten). ``test_meta_device_agrees_with_a_real_forward`` runs the small networks on
real CPU zero tensors and checks the meta run gives the very same trace.
"""

from __future__ import annotations

import functools
import re
from math import prod
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from convcalc.spec import load  # noqa: E402
from convcalc.walk import walk  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::UserWarning")]

try:
    from tests import torch_models  # noqa: E402
except ImportError:  # pragma: no cover - run from inside tests/, or the module is missing
    try:
        import torch_models  # type: ignore  # noqa: E402
    except ImportError:
        torch_models = None

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MODELS = getattr(torch_models, "MODELS", {}) if torch_models is not None else {}
NAMES = sorted(MODELS) or ["(no tests/torch_models.py)"]
SMALL = ["lenet5", "tcn", "shufflenet_v1_stage", "dcgan_generator", "alexnet"]

# -- the torch side -------------------------------------------------------------------------

_TORCH_KIND = [(re.compile(r"^(Conv|ConvTranspose)[123]d$|DeformConv"), "conv"),
               (re.compile(r"^Linear$"), "linear"),
               (re.compile(r"^(Max|Avg|AdaptiveAvg|AdaptiveMax)Pool[123]d$"), "pool"),
               (re.compile(r"^BatchNorm[123]d$"), "bn")]


def _kind_of_module(module) -> str | None:
    name = type(module).__name__
    return next((kind for pattern, kind in _TORCH_KIND if pattern.search(name)), None)


def _macs(module, inp, out) -> int:
    """SPEC §4: conv cout*cin/g*prod(k)*prod(out); transposed conv on the input grid
    cin*cout/g*prod(k)*prod(in); linear in*out; nothing else."""
    name = type(module).__name__
    if name.startswith("ConvTranspose"):
        return (module.in_channels * module.out_channels // module.groups
                * prod(module.kernel_size) * prod(inp.shape[2:]))
    if name.startswith("Conv") or "DeformConv" in name:
        return (module.out_channels * module.in_channels // module.groups
                * prod(module.kernel_size) * prod(out.shape[2:]))
    if name == "Linear":
        return module.in_features * module.out_features
    return 0


def torch_trace(name: str, device: str = "meta"):
    """[(kind, output shape, own params, MACs)] in execution order, and the total params."""
    builder, shape = MODELS[name]
    rows = []

    def hook(module, args, out):
        own = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append((_kind_of_module(module), tuple(out.shape[1:]), own,
                     _macs(module, args[0], out)))

    with torch.device(device):
        model = builder()
        for module in model.modules():
            leaf = next(module.children(), None) is None
            if _kind_of_module(module) is not None and (leaf or "Deform" in
                                                         type(module).__name__):
                module.register_forward_hook(hook)
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *shape))
    total = sum(p.numel() for p in model.parameters())
    return rows, total


# -- the convcalc side ----------------------------------------------------------------------

_CONVCALC_KIND = {"conv": "conv", "pwconv": "conv", "dwconv": "conv", "deconv": "conv",
                  "linear": "linear", "maxpool": "pool", "avgpool": "pool",
                  "adaptive_avgpool": "pool", "adaptive_maxpool": "pool", "gap": "pool",
                  "gmp": "pool", "bn": "bn"}
# compound ops: which parts are separate modules in PyTorch, and their kind
_PARTS = {"sepconv": None, "spatial_sepconv": None, "flatconv": None, "deformconv": None,
          "se": {"gap": "pool", "down": "conv", "up": "conv"}}


@functools.lru_cache(maxsize=None)
def convcalc_trace(name: str):
    builder, shape = MODELS[name]
    report = walk(load(str(EXAMPLES / f"{name}.yaml")), input_override=list(shape))
    rows = []
    for row in report.rows:
        if row.op in _PARTS:
            wanted = _PARTS[row.op]
            for part_name, part in row.parts:
                kind = "conv" if wanted is None else wanted.get(part_name)
                if kind is not None:
                    rows.append((kind, part.output.dims, part.params, part.macs))
        elif row.op in _CONVCALC_KIND:
            rows.append((_CONVCALC_KIND[row.op], row.output.dims, row.params, row.macs))
    return rows, report.totals["params"], report.totals["macs"]


def _need(name: str):
    if torch_models is None:
        pytest.skip("tests/torch_models.py is not there yet (MODELS = {name: (builder, "
                    "input_shape)})")
    if not (EXAMPLES / f"{name}.yaml").exists():
        pytest.skip(f"examples/{name}.yaml does not exist yet")


# -- tests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_example_matches_pytorch(name):
    _need(name)
    want, want_params = torch_trace(name)
    got, params, macs = convcalc_trace(name)
    for i, (w, g) in enumerate(zip(want, got)):
        assert g == w, f"{name}: layer {i} of the compared kinds: convcalc {g}, torch {w}"
    assert len(got) == len(want), f"{name}: {len(got)} rows in convcalc, {len(want)} modules"
    assert params == want_params
    assert macs == sum(w[3] for w in want)


@pytest.mark.parametrize("name", [n for n in SMALL if n in MODELS] or NAMES[:1])
def test_meta_device_agrees_with_a_real_forward(name):
    _need(name)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    assert torch_trace(name, device="cpu") == torch_trace(name, device="meta")
