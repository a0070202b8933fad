"""convcalc's memory figures next to what PyTorch measures and what torchinfo estimates.

    python bench/memory_vs_pytorch.py      (needs torch; torchinfo + numpy for its column)

For ResNet-50 (batch 32, 3×224×224) and U-Net (batch 1, 1×572×572), fp32, Adam, the twins of
tests/torch_models.py on PyTorch's meta device (the same autograd and allocation behaviour,
no compute):

  saved activations  torch.autograd.graph.saved_tensors_hooks, storages deduplicated, at the
                     end of a training-mode forward: with in-place ReLUs as torchvision
                     writes them, and with them off (convcalc's model, SPEC §8)
  inference peak     the largest total of live tensor storages at any op of a no_grad
                     forward as the twin is written (PyTorch's own order and lifetimes,
                     in-place ReLUs, transients such as pooling indices included)
  training peak      the same over two steps of forward + backward + Adam (the second has
                     Adam's state from the first), plus the parameters (made before
                     measuring): with zero_grad(set_to_none=True), PyTorch 2's default,
                     and with set_to_none=False (gradients kept between steps)
  torchinfo          summary(model, input_size=...): "Forward/backward pass size" and
                     "Estimated Total Size"
Not a test; prints a table.
"""

from __future__ import annotations

import sys
import weakref
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import torch_models  # noqa: E402

from convcalc import memory  # noqa: E402
from convcalc.spec import load  # noqa: E402
from convcalc.walk import walk  # noqa: E402


class Peak(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.refs, self.peak = [], 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.refs.append(weakref.ref(t))
        live, keep = {}, []
        for ref in self.refs:
            t = ref()
            if t is not None:
                keep.append(ref)
                s = t.untyped_storage()
                live[s._cdata] = s.nbytes()
        self.refs = keep
        self.peak = max(self.peak, sum(live.values()))
        return out


def saved(model, x) -> int:
    own = {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers()]}
    packed = []

    class Held:
        __slots__ = ("t", "__weakref__")

    def pack(t):
        h = Held()
        h.t = t
        packed.append(weakref.ref(h))
        return h

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda h: h.t):
        out = model(x)
    storages = {}
    for ref in packed:
        h = ref()
        if h is not None and h.t.untyped_storage()._cdata not in own:
            storages[h.t.untyped_storage()._cdata] = h.t.untyped_storage().nbytes()
    del out
    return sum(storages.values())


def build(name, inplace=True):
    with torch.device("meta"):
        model = torch_models.MODELS[name][0]()
    if not inplace:
        for m in model.modules():
            if hasattr(m, "inplace"):
                m.inplace = False
    return model


def gib(n) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def main() -> None:
    cases = [("resnet50", 32, {}), ("unet", 1, {"H": 572, "W": 572})]
    for name, batch, sets in cases:
        shape = torch_models.MODELS[name][1]
        report = walk(load(str(REPO / "examples" / f"{name}.yaml")), sets=sets, batch=batch)
        m = memory.analyse(report, training=True)
        t = m.totals
        x = torch.zeros((batch, *shape), device="meta")
        saved_inplace = saved(build(name).train(), x)
        saved_plain = saved(build(name, inplace=False).train(), x)
        model = build(name).eval()
        with torch.no_grad(), Peak() as mode:
            x = torch.zeros((batch, *shape), device="meta")
            model(x)
        inference_peak = mode.peak
        params = sum(p.numel() * 4 for p in build(name).parameters())
        train_peak = {}
        for set_to_none in (True, False):
            model = build(name).train()
            opt = torch.optim.Adam(model.parameters(), foreach=False)
            with Peak() as mode:
                x = torch.zeros((batch, *shape), device="meta")
                for _ in range(2):  # the second step: Adam's state exists from the first
                    opt.zero_grad(set_to_none=set_to_none)
                    model(x).sum().backward()
                    opt.step()
            train_peak[set_to_none] = mode.peak + params
        print(f"\n{name}, batch {batch}, fp32, Adam")
        print(f"  convcalc  inference peak {gib(t['peak_inference_bytes'])}, saved activations "
              f"{gib(t['saved_activation_bytes'])}, train memory {gib(t['train_memory_bytes'])}"
              f" (params {gib(t['param_bytes'])})")
        print(f"  pytorch   saved activations {gib(saved_plain)} (in-place ReLU off), "
              f"{gib(saved_inplace)} (as written); inference peak {gib(inference_peak)}")
        print(f"  pytorch   training-step peak (second step) {gib(train_peak[True])} with "
              f"zero_grad(set_to_none=True), {gib(train_peak[False])} with set_to_none=False")
        try:
            import torchinfo
        except ImportError:
            print("  torchinfo not installed")
            continue
        with torch.device("cpu"):
            cpu_model = torch_models.MODELS[name][0]()
        stats = torchinfo.summary(cpu_model, input_size=(batch, *shape), device="meta",
                                  verbose=0)
        fwd_bwd = stats.total_output_bytes
        total = stats.total_input + stats.total_output_bytes + stats.total_param_bytes
        print(f"  torchinfo forward/backward pass size {gib(fwd_bwd)}, estimated total "
              f"{gib(total)}")


if __name__ == "__main__":
    main()
