"""Oracle: the input sizes ``convcalc sizes`` calls valid are exactly those PyTorch runs.

For every example with spatial inputs (its plain-PyTorch twin in ``tests/torch_models.py``,
built once for the declared input, as a user builds it) and for generated networks
(``tests/sizes_nets.py``: random strides and paddings, ceil-mode pools, transposed convs,
upsampling, crops, residual and concat merges, flatten + linear heads), a forward pass at
every size n in a range beyond the rule's minimum (every spatial axis n) succeeds exactly when
convcalc lists n as valid. "Succeeds": no exception and no empty tensor anywhere (PyTorch's
slicing crops to an empty tensor silently; convcalc's crop calls that an impossible shape).
Runs on PyTorch's ``meta`` device: its own shape rules, nothing allocated or computed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

torch = pytest.importorskip("torch")

from convcalc.errors import ConvcalcError  # noqa: E402
from convcalc.sizes import analyse  # noqa: E402
from convcalc.spec import load, parse  # noqa: E402
from convcalc.walk import walk  # noqa: E402

from tests import torch_models  # noqa: E402
from tests.sizes_nets import channels, networks, torch_module, yaml_text  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::UserWarning")]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPATIAL = sorted(name for name, (_, shape) in torch_models.MODELS.items() if len(shape) > 1)


class Empty(Exception):
    pass


def runs(model, channels_in: int, rank: int, n: int) -> bool:
    def no_empty(module, args, out):
        if isinstance(out, torch.Tensor) and out.numel() == 0:
            raise Empty(type(module).__name__)

    handles = [m.register_forward_hook(no_empty) for m in model.modules()]
    try:
        with torch.no_grad(), torch.device("meta"):  # arange, zeros inside forward: meta too
            model(torch.empty(1, channels_in, *([n] * rank)))
        return True
    except Exception:  # PyTorch's size errors are RuntimeError, ValueError, IndexError, …
        return False
    finally:
        for h in handles:
            h.remove()


def span(s, period: int, cap: int) -> int:
    """Sizes 1..span: past the minimum and every isolated size by two periods."""
    last = max([s.min or 0, *s.isolated])
    return min(last + 2 * period + 4, cap)


@pytest.mark.parametrize("name", SPATIAL)
def test_example_sizes_are_the_sizes_pytorch_runs(name):
    builder, shape = torch_models.MODELS[name]
    s = analyse(load(str(EXAMPLES / f"{name}.yaml")))
    with torch.device("meta"):
        model = builder()
    model.eval()
    # every size up to two periods of the rule past its minimum, and the declared size's
    # neighbours (a band like LeNet's, a classifier's usual sizes)
    sizes = sorted(set(range(1, span(s, s.period or 1, 260) + 1))
                   | set(range(max(1, shape[1] - 4), shape[1] + 5)))
    got = [n for n in sizes if runs(model, shape[0], len(shape) - 1, n)]
    assert got == [n for n in sizes if s.valid(n)], s.text()


@settings(derandomize=True, max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks())
def test_generated_network_sizes_are_the_sizes_pytorch_runs(case):
    items, ref = case
    if channels(items, 2) < 0:
        return
    net = parse(yaml_text(items, ref), "gen.yaml")
    try:
        s = analyse(net)
    except ConvcalcError:
        return  # the weights need the declared size and it does not run (test_sizes.py)
    features = None
    if items[-1][0] == "head":
        flat = next(r for r in walk(net).rows if r.op == "flatten")
        features = flat.output.channels
    with torch.device("meta"):
        model = torch_module(items, features)
    hi = span(s, s.full_period, 120)
    got = [n for n in range(1, hi + 1) if runs(model, 2, 2, n)]
    assert got == [n for n in range(1, hi + 1) if s.valid(n)], yaml_text(items, ref)
