"""Generated small 2-D networks for the input-size tests (test_sizes.py, test_oracle_sizes.py).

A network is a list of items, each a tuple: ``("conv", k, s, p, d)``, ``("maxpool", k, s, p,
ceil)``, ``("avgpool", k, s, p, ceil)``, ``("deconv", k, s, p, op)``, ``("up", r)`` (nearest
upsampling), ``("crop", c)``, ``("pad", c)``, ``("res", body, shortcut)`` (residual add),
``("cat", a, b)`` (two branches concatenated); optionally ending with ``("head", out)``
(flatten then linear). Every conv keeps 2 channels, so adds always match in channels and
only the spatial sizes decide. ``yaml_text`` writes the convcalc YAML, ``torch_module`` the
plain-PyTorch realisation (built for the declared input ``ref``).
"""

from __future__ import annotations

from hypothesis import strategies as st

C = 2  # channels of the input and of every conv


@st.composite
def _leaf(draw):
    kind = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool", "deconv", "up", "crop",
                                 "pad"]))
    if kind == "conv":
        k = draw(st.integers(1, 5))
        return ("conv", k, draw(st.integers(1, 3)), draw(st.integers(0, 2)),
                draw(st.integers(1, 2)))
    if kind in ("maxpool", "avgpool"):
        k = draw(st.integers(1, 4))
        return (kind, k, draw(st.integers(1, 3)), draw(st.integers(0, k // 2)),
                draw(st.booleans()))
    if kind == "deconv":
        s = draw(st.integers(1, 3))
        return ("deconv", draw(st.integers(1, 4)), s, draw(st.integers(0, 2)),
                draw(st.integers(0, s - 1)))
    if kind == "up":
        return ("up", draw(st.integers(2, 3)))
    return (kind, draw(st.integers(1, 3)))


def _items(depth: int):
    if depth == 0:
        return st.lists(_leaf(), min_size=1, max_size=3)
    inner = _items(depth - 1)
    # merges of unrelated branches mostly never agree; branches built alike (the same
    # layers, or a crop against a pad) make the rules with residues and minimums
    item = _leaf() | st.tuples(st.just("res"), inner, st.lists(_leaf(), max_size=2)) \
        | st.tuples(st.just("cat"), inner, inner) \
        | inner.map(lambda b: ("res", b, b)) | inner.map(lambda b: ("cat", b, [("crop", 1)] + b
                                                                   + [("pad", 1)]))
    return st.lists(item, min_size=1, max_size=4)


@st.composite
def networks(draw):
    items = draw(_items(2))
    if draw(st.integers(0, 4)) == 0:
        items = items + [("head", 3)]
    ref = draw(st.integers(8, 48))
    return items, ref


# -- YAML ------------------------------------------------------------------------------------

def _yaml_items(items, indent: int) -> list[str]:
    pad = " " * indent
    out = []
    for it in items:
        kind = it[0]
        if kind == "conv":
            _, k, s, p, d = it
            out.append(f"{pad}- conv: {{out: {C}, k: {k}, s: {s}, p: {p}, d: {d}}}")
        elif kind in ("maxpool", "avgpool"):
            _, k, s, p, ceil = it
            out.append(f"{pad}- {kind}: {{k: {k}, s: {s}, p: {p}, ceil: "
                       f"{'true' if ceil else 'false'}}}")
        elif kind == "deconv":
            _, k, s, p, op = it
            out.append(f"{pad}- deconv: {{out: {C}, k: {k}, s: {s}, p: {p}, op: {op}}}")
        elif kind == "up":
            out.append(f"{pad}- upsample: {{scale: {it[1]}}}")
        elif kind in ("crop", "pad"):
            out.append(f"{pad}- {kind}: {{p: {it[1]}}}")
        elif kind == "res":
            out.append(f"{pad}- residual:")
            out.append(f"{pad}    body:")
            out += _yaml_items(it[1], indent + 6)
            if it[2]:
                out.append(f"{pad}    shortcut:")
                out += _yaml_items(it[2], indent + 6)
        elif kind == "cat":
            out.append(f"{pad}- parallel:")
            out.append(f"{pad}    merge: concat")
            out.append(f"{pad}    branches:")
            for branch in it[1:]:
                out.append(f"{pad}      -")
                out += _yaml_items(branch, indent + 8)
        elif kind == "head":
            out.append(f"{pad}- flatten")
            out.append(f"{pad}- linear: {{out: {it[1]}}}")
    return out


def channels(items, c: int) -> int:
    """The output channel count, or -1 when a residual's body and shortcut disagree in
    channels (a concat inside one): such networks are filtered out."""
    for it in items:
        kind = it[0]
        if kind in ("conv", "deconv"):
            c = C
        elif kind == "res":
            b, s = channels(it[1], c), channels(it[2], c)
            if b != s:
                return -1
            c = b
        elif kind == "cat":
            a, b = channels(it[1], c), channels(it[2], c)
            if a < 0 or b < 0:
                return -1
            c = a + b
        elif kind == "head":
            c = it[1]
    return c


def yaml_text(items, ref: int) -> str:
    return "\n".join([f"input: [{C}, {ref}, {ref}]", "layers:", *_yaml_items(items, 2)]) + "\n"


# -- PyTorch ---------------------------------------------------------------------------------

def torch_module(items, features: int | None = None):
    """The network as plain ``torch.nn`` modules; ``features``: the linear layer's input size
    at the declared input (the weights are built for it)."""
    from torch import nn

    from tests.torch_models import Crop, Parallel

    class StrictResidual(nn.Module):
        """``body(x) + shortcut(x)`` without broadcasting: SPEC §2.2 — shapes must match
        exactly (PyTorch's ``+`` would broadcast a size-1 axis)."""

        def __init__(self, body, shortcut):
            super().__init__()
            self.body, self.shortcut = nn.Sequential(*body), nn.Sequential(*shortcut)

        def forward(self, x):
            y, z = self.body(x), self.shortcut(x)
            if y.shape != z.shape:
                raise ValueError(f"residual: {tuple(y.shape)} + {tuple(z.shape)}")
            return y + z

    def build(seq, c):
        mods = []
        for it in seq:
            kind = it[0]
            if kind == "conv":
                _, k, s, p, d = it
                mods.append(nn.Conv2d(c, C, k, s, p, d))
                c = C
            elif kind == "maxpool":
                _, k, s, p, ceil = it
                mods.append(nn.MaxPool2d(k, s, p, ceil_mode=ceil))
            elif kind == "avgpool":
                _, k, s, p, ceil = it
                mods.append(nn.AvgPool2d(k, s, p, ceil_mode=ceil))
            elif kind == "deconv":
                _, k, s, p, op = it
                mods.append(nn.ConvTranspose2d(c, C, k, s, p, op))
                c = C
            elif kind == "up":
                mods.append(nn.Upsample(scale_factor=it[1], mode="nearest"))
            elif kind == "crop":
                mods.append(Crop((it[1], it[1]), (it[1], it[1])))
            elif kind == "pad":
                mods.append(nn.ZeroPad2d(it[1]))
            elif kind == "res":
                body, cb = build(it[1], c)
                short, _ = build(it[2], c)
                mods.append(StrictResidual(body, short))
                c = cb
            elif kind == "cat":
                a, ca = build(it[1], c)
                b, cb = build(it[2], c)
                mods.append(Parallel([a, b], "concat"))
                c = ca + cb
            elif kind == "head":
                mods += [nn.Flatten(), nn.Linear(features, it[1])]
                c = it[1]
        return mods, c

    mods, _ = build(items, C)
    return nn.Sequential(*mods)
