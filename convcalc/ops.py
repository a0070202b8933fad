"""THE op table: one pure function per op, registered by name with its keys and formulas.

``apply(name, shape, args)`` normalises the arguments once (per-axis tuples, padding pairs,
type and range checks) and calls the op's function, which returns an :class:`Effect`.
Conv-like ops share one window formula (:func:`_window`), one transposed formula
(:func:`_transposed`) and one cost formula (:func:`_conv_cost`).

Sources: output sizes follow the PyTorch docs of Conv{1,2,3}d, ConvTranspose{1,2,3}d,
MaxPool/AvgPool (ceil_mode clip rule from aten's ``pooling_output_shape``), AdaptiveAvgPool
(window ``[floor(i*n/o), ceil((i+1)*n/o))``), Upsample, PixelShuffle; the arithmetic is
Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (arXiv:1603.07285);
receptive fields follow Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional
Neural Networks" (Distill, 2019).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd
from typing import Any, Callable

from .core import Effect, RFStep, Shape, IDENTITY, MAX_PERIOD, UNKNOWN
from .dims import Dim, divisor_totients, floordiv, fmt, is_symbolic, prod
from .errors import ShapeError, SpecError, did_you_mean

REQUIRED = object()
SAME_AS_K = object()  # pooling: stride defaults to the kernel size

# PyTorch's argument names, accepted as aliases of the short keys (SPEC §2.5).
KEY_ALIASES = {
    "out_channels": "out", "out_features": "out", "output_size": "out",
    "kernel_size": "k", "stride": "s", "padding": "p", "dilation": "d",
    "groups": "g", "num_groups": "g", "output_padding": "op", "ceil_mode": "ceil",
    "scale_factor": "scale", "upscale_factor": "r", "negative_slope": "slope",
    "num_parameters": "num", "squeeze_channels": "squeeze", "deform_groups": "offset_groups",
}

PAD_MODES = ("same", "valid", "full")

# PyTorch's names for counts convcalc takes from the input shape, never from a key
INFERRED_KEYS = ("in_channels", "in_features", "num_features", "num_channels", "cin")
INFERRED_HINT = "the input channels are inferred from the input shape"


@dataclass(frozen=True)
class Key:
    name: str
    kind: str  # count | axes | axes0 | pad | bool | enum | int0 | prob | real
    default: Any = REQUIRED
    choices: tuple = ()
    doc: str = ""


@dataclass(frozen=True)
class OpDef:
    name: str
    fn: Callable[[Shape, "Args"], Effect]
    keys: dict[str, Key]
    aliases: tuple[str, ...]
    summary: str
    shape_rule: str
    cost_rule: str
    ranks: tuple[int, ...]


OPS: dict[str, OpDef] = {}
ALIASES: dict[str, str] = {}
# ranked names (PyTorch's class names: conv2d, maxpool3d, batchnorm1d, ...): the spatial rank
# they name first, then any other rank they accept (BatchNorm1d also takes flat (N, C) input)
RANKED_ALIASES: dict[str, tuple[int, ...]] = {}
RANK_HINTS: dict[str, str] = {}  # why an op works only on some ranks, where PyTorch says so


class Args(dict):
    def __getattr__(self, name: str) -> Any:
        return self[name]


def register(name: str, *keys: Key, aliases: tuple[str, ...] = (), summary: str,
             shape: str, cost: str, ranks: tuple[int, ...] = (1, 2, 3),
             ranked: tuple[str, ...] = (), flat_1d: bool = False, rank_hint: str = ""):
    """``ranked`` names the bases of the op's ranked names: ``ranked=("conv",)`` adds
    conv1d, conv2d and conv3d, each accepting only its rank (``flat_1d``: the 1d name also
    accepts a flat input, like BatchNorm1d)."""
    def deco(fn):
        names = list(aliases)
        for base in ranked:
            for rank in (1, 2, 3):
                if rank in ranks:
                    alias = f"{base}{rank}d"
                    names.append(alias)
                    RANKED_ALIASES[alias] = (rank, 0) if flat_1d and rank == 1 else (rank,)
        OPS[name] = OpDef(name, fn, {k.name: k for k in keys}, tuple(names), summary, shape,
                          cost, ranks)
        for alias in names:
            ALIASES[alias] = name
        if rank_hint:
            RANK_HINTS[name] = rank_hint
        return fn

    return deco


def resolve(name: str) -> OpDef:
    if name in OPS:
        return OPS[name]
    if name in ALIASES:
        return OPS[ALIASES[name]]
    raise SpecError(f"unknown op '{name}'",
                    hint=did_you_mean(name, [*OPS, *ALIASES]) or "`convcalc ops` lists them")


def known_op(name: str) -> bool:
    return name in OPS or name in ALIASES


_CACHE: dict = {}
_CACHE_SIZE = 4096


def _frozen(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return (type(value), value)  # True and 1 are different arguments


def apply(name: str, x: Shape, raw: dict[str, Any], *, lenient: bool = False) -> Effect:
    """Run op ``name`` on input shape ``x`` with user arguments ``raw``.

    ``lenient`` lets ``out`` be missing (``convcalc layer`` without ``--cout``): the output
    channels are then unknown and so are the costs that need them.

    Effects are immutable and ops are pure, so results are memoised: a network repeats the
    same few layers many times."""
    try:
        key = (name, x, tuple((k, _frozen(v)) for k, v in raw.items()), lenient)
        hit = _CACHE.get(key)
    except TypeError:  # an unhashable argument: let normalisation report it
        key, hit = None, None
    if hit is not None:
        return hit
    effect = _apply(name, x, raw, lenient)
    if key is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = effect
    return effect


def _axes(n) -> str:
    """``1 spatial axis``, ``2 spatial axes``, ``0 or 1 spatial axes``."""
    return f"{n} spatial axis" if str(n) == "1" else f"{n} spatial axes"


def _apply(name: str, x: Shape, raw: dict[str, Any], lenient: bool) -> Effect:
    opdef = resolve(name)
    want_ranks = RANKED_ALIASES.get(name)
    if want_ranks is not None and x.rank not in want_ranks:
        need = " or ".join(map(str, sorted(want_ranks)))
        fits = f"{name[:-2]}{x.rank}d"
        raise ShapeError(f"{name} needs {_axes(need)}, the input {x} has {x.rank}",
                         hint=f"use {fits}, or {opdef.name} for any rank"
                         if fits in RANKED_ALIASES else None)
    if opdef.ranks and x.rank not in opdef.ranks:
        need = ", ".join(map(str, opdef.ranks))
        hint = "add `flatten` before it" if opdef.ranks == (0,) else RANK_HINTS.get(opdef.name)
        raise ShapeError(f"{opdef.name} works on inputs with {_axes(need)}, "
                         f"the input {x} has {x.rank}", hint=hint)
    given: dict[str, tuple[str, Any]] = {}
    for key, value in raw.items():
        canon = KEY_ALIASES.get(key, key)
        if canon not in opdef.keys:
            allowed = ", ".join(opdef.keys) or "no keys"
            if key in INFERRED_KEYS:
                hint = INFERRED_HINT
            elif canon == "out" and "mult" in opdef.keys:
                hint = "its output channels are in_channels*mult: set 'mult'"
            else:
                hint = did_you_mean(key, [*opdef.keys, *(
                    a for a, c in KEY_ALIASES.items() if c in opdef.keys)])
            raise SpecError(f"{opdef.name}: no key '{key}' (it takes {allowed})", key=key,
                            hint=hint)
        if canon in given:
            raise SpecError(f"{opdef.name}: '{key}' repeats '{given[canon][0]}'", key=key)
        given[canon] = (key, value)
    args = Args()
    for key in opdef.keys.values():
        if key.name in given:
            spelled, value = given[key.name]
            args[key.name] = _normalise(opdef.name, key, spelled, value, x.rank)
        elif key.default is REQUIRED:
            if lenient and key.name == "out":
                args[key.name] = None
                continue
            raise SpecError(f"{opdef.name} needs '{key.name}'", key=key.name)
        elif key.default is SAME_AS_K:
            args[key.name] = args["k"]
        elif key.kind in ("axes", "axes0") and key.default is not None:
            args[key.name] = (key.default,) * x.rank
        elif key.kind == "pad" and isinstance(key.default, int):
            args[key.name] = ((key.default, key.default),) * x.rank
        else:
            args[key.name] = key.default
    return opdef.fn(x, args)


# -- argument normalisation ---------------------------------------------------------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(op: str, key: str, v: Any, minimum: int) -> int:
    if not _is_int(v):
        kind = ("a boolean" if isinstance(v, bool) else "null" if v is None
                else "a list" if isinstance(v, (list, tuple)) else "a mapping"
                if isinstance(v, dict) else f"the text {v!r}" if isinstance(v, str)
                else f"{type(v).__name__} {v!r}")
        raise SpecError(f"{op}: '{key}' must be an integer, got {kind}", key=key)
    if v < minimum:
        what = "positive" if minimum == 1 else "zero or more"
        raise SpecError(f"{op}: '{key}' must be {what}, got {v}", key=key)
    return v


def _per_axis(op: str, key: str, v: Any, rank: int, minimum: int) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        if len(v) != rank:
            raise SpecError(f"{op}: '{key}' has {len(v)} values but the input has "
                            f"{_axes(rank)}", key=key)
        return tuple(_int(op, key, item, minimum) for item in v)
    return (_int(op, key, v, minimum),) * rank


def _normalise(op: str, key: Key, spelled: str, v: Any, rank: int) -> Any:
    kind = key.kind
    if kind == "count":
        return _int(op, spelled, v, 1)
    if kind == "int0":
        return _int(op, spelled, v, 0)
    if kind == "axes":
        return _per_axis(op, spelled, v, rank, 1)
    if kind == "axes0":
        return _per_axis(op, spelled, v, rank, 0)
    if kind == "bool":
        if not isinstance(v, bool):
            raise SpecError(f"{op}: '{spelled}' must be true or false, got {v!r}", key=spelled)
        return v
    if kind == "enum":
        if v not in key.choices:
            raise SpecError(f"{op}: '{spelled}' must be one of {', '.join(key.choices)}, "
                            f"got {v!r}", key=spelled,
                            hint=did_you_mean(str(v), key.choices))
        return v
    if kind in ("prob", "real"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(f"{op}: '{spelled}' must be a number, got {v!r}", key=spelled)
        if kind == "prob" and not 0 <= v < 1:
            raise SpecError(f"{op}: '{spelled}' must be in [0, 1), got {v}", key=spelled)
        return v
    if kind == "pad":
        if isinstance(v, str):
            if v not in PAD_MODES:
                raise SpecError(f"{op}: padding must be a number, per-axis numbers, "
                                f"[lo, hi] pairs or one of {', '.join(PAD_MODES)}; got {v!r}",
                                key=spelled, hint=did_you_mean(v.lower(), PAD_MODES))
            return v
        if isinstance(v, (list, tuple)):
            if len(v) != rank:
                raise SpecError(f"{op}: '{spelled}' has {len(v)} values but the input has "
                                f"{_axes(rank)}", key=spelled)
            pairs = []
            for item in v:
                if isinstance(item, (list, tuple)):
                    if len(item) != 2:
                        raise SpecError(f"{op}: a padding pair is [lo, hi], got {list(item)}",
                                        key=spelled)
                    pairs.append((_int(op, spelled, item[0], 0), _int(op, spelled, item[1], 0)))
                else:
                    n = _int(op, spelled, item, 0)
                    pairs.append((n, n))
            return tuple(pairs)
        n = _int(op, spelled, v, 0)
        return ((n, n),) * rank
    raise AssertionError(kind)


# -- the shared formulas -----------------------------------------------------------------

AXIS_NAMES = {0: (), 1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _pads(op: str, pad, k, d, s) -> tuple[tuple[int, int], ...]:
    """Resolve padding modes into per-axis (lo, hi) pairs.

    'same' follows PyTorch: total d*(k-1), the odd extra on the end side, stride 1 only.
    'full' is Dumoulin & Visin's full padding: d*(k-1) on each side (not a PyTorch mode)."""
    if not isinstance(pad, str):
        return pad
    if pad == "valid":
        return ((0, 0),) * len(k)
    if pad == "same":
        if any(si != 1 for si in s):
            raise ShapeError(f"{op}: padding='same' needs stride 1 (PyTorch's rule), "
                             f"got stride {_axes_text(s)}", key="p")
        return tuple(((di * (ki - 1)) // 2, di * (ki - 1) - (di * (ki - 1)) // 2)
                     for ki, di in zip(k, d))
    return tuple((di * (ki - 1), di * (ki - 1)) for ki, di in zip(k, d))


def _axes_text(values) -> str:
    return "x".join(str(v) for v in values)


def _pad_text(lo: int, hi: int) -> str:
    return f"2*{lo}" if lo == hi else f"{lo} + {hi}"


def _window(op: str, axis: str, n: Dim, k: int, s: int, lo: int, hi: int, d: int,
            ceil: bool = False) -> tuple[Dim, str, RFStep]:
    """Output size of a sliding window (conv or pool) along one axis.

    PyTorch (Conv2d / MaxPool2d docs; D&V relationship 6 and 15):
        out = floor((n + lo + hi - d*(k - 1) - 1)/s) + 1
    ceil_mode replaces floor by ceil, then drops the last window if it would start in the right
    padding (aten pooling_output_shape). Both are one floor: with e = d*(k-1) + 1,
        out = floor((n + lo + hi - e + extra)/s) + 1,  extra = min(s - 1, e - 1 - hi),
    which is exact for numbers and symbols alike (checked against the PyTorch rule in tests)."""
    e = d * (k - 1) + 1
    padded = n + lo + hi
    extra = min(s - 1, e - 1 - hi) if ceil else 0
    # ceil_mode lets a window run past the right edge by less than a stride, the first one
    # included (aten pooling_output_shape): MaxPool2d(3, stride=3, ceil_mode=True) on 1 gives 1
    if not is_symbolic(n) and padded - e + extra < 0:
        raise ShapeError(f"{op}: kernel {k}" + (f" (dilated span {e})" if d > 1 else "")
                         + f" is larger than the padded input {padded} = {n} + {lo} + {hi} "
                           f"along {axis}"
                         + (f" by {e - padded}, not less than the stride {s} (ceil_mode)"
                            if ceil else ""))
    out = floordiv(padded - e + extra, s) + 1
    core = f"({fmt(n)} + {_pad_text(lo, hi)} - {d}*({k} - 1) - 1)/{s}"
    if ceil:
        text = f"{axis}: ceil({core}) + 1"
        if not is_symbolic(n):
            raw = -(-(padded - e) // s) + 1
            if raw != out:
                text += (f" = {raw}, minus the last window, which would start in the right "
                         f"padding ({(raw - 1) * s} >= {n} + {lo})")
        text += f" = {fmt(out)}"
    else:
        text = f"{axis}: floor({core}) + 1 = {fmt(out)}"
    # output unit o reads input units o*s - lo + j*d, j < k (padding positions count: SPEC §4)
    return out, text, RFStep.window(-lo, d, k, s)


def _windows(op: str, x: Shape, k, s, pads, d, ceil=False):
    names = AXIS_NAMES.get(x.rank, tuple(f"axis{i}" for i in range(x.rank)))
    outs, texts, steps = [], [], []
    for axis, n, ki, si, (lo, hi), di in zip(names, x.spatial, k, s, pads, d):
        o, t, st = _window(op, axis, n, ki, si, lo, hi, di, ceil)
        outs.append(o)
        texts.append(t)
        steps.append(st)
    return tuple(outs), tuple(texts), tuple(steps)


def _transposed(op: str, axis: str, n: Dim, k: int, s: int, lo: int, hi: int, d: int,
                a: int) -> tuple[Dim, str, RFStep]:
    """Transposed conv along one axis (PyTorch ConvTranspose2d docs; D&V relationship 14):
        out = (n - 1)*s - lo - hi + d*(k - 1) + output_padding + 1
    Receptive field: see :func:`_transposed_step`."""
    if a >= s and a >= d:
        raise ShapeError(f"{op}: output_padding {a} must be smaller than the stride {s} or the "
                         f"dilation {d} along {axis} (PyTorch's rule)", key="op")
    out = (n - 1) * s - lo - hi + d * (k - 1) + a + 1
    if not is_symbolic(out) and out < 1:
        raise ShapeError(f"{op}: output size along {axis} would be {out}: padding {lo} + {hi} "
                         f"removes more than the transposed conv produces")
    text = (f"{axis}: ({fmt(n)} - 1)*{s} - {_pad_text(lo, hi)} + {d}*({k} - 1) + {a} + 1 "
            f"= {fmt(out)}")
    return out, text, _transposed_step(k, s, lo, d)


def _transposed_step(k: int, s: int, lo: int, d: int) -> RFStep:
    """Input unit i feeds output units i*s - lo + j*d, j < k (PyTorch's ConvTranspose), so output
    o = r + m*s reads the inputs i = (r + lo - j*d)/s + m for the taps j that divide: a pattern
    of period s (the jump is 1/s), at most floor((k-1)*g/s) + 1 inputs, d/g apart, g = gcd(d, s);
    a phase no tap lands on reads nothing."""
    if s > MAX_PERIOD:
        return UNKNOWN
    g = gcd(d, s)
    period = s // g  # the taps j that land on one phase are period apart
    inverse = pow(d // g, -1, period) if period > 1 else 0
    taps = []
    for r in range(s):
        if (r + lo) % g:
            taps.append(())
            continue
        # the least j >= 0 with j*d = r + lo (mod s), then every period-th one below k
        j0 = (r + lo) // g * inverse % period if period > 1 else 0
        if j0 >= k:
            taps.append(())
            continue
        last = j0 + (k - 1 - j0) // period * period
        count = (last - j0) // period + 1
        taps.append((((r + lo - last * d) // s, d // g if count > 1 else 1, count),))
    return RFStep.make(s, 1, tuple(taps))


def _check_groups(op: str, cin: int | None, cout: int | None, g: int) -> None:
    if cin is not None and cin % g:
        raise ShapeError(f"{op}: groups={g} must divide in_channels={cin}", key="g")
    if cout is not None and cout % g:
        raise ShapeError(f"{op}: groups={g} must divide out_channels={cout}", key="g")


def _conv_cost(cin: int | None, cout: int | None, g: int, kernel: int, out_area: Dim,
               bias: bool):
    """Conv cost (SPEC §4): params = cout*cin/g*K + bias*cout; MACs = cout*cin/g*K*O;
    FLOPs = (2*cin/g*K - 1 + bias)*cout*O."""
    if cin is None or cout is None:
        return None, None, None
    per_out = cin // g * kernel
    params = cout * per_out + (cout if bias else 0)
    macs = cout * per_out * out_area
    flops = (2 * per_out - 1 + int(bias)) * cout * out_area
    return params, macs, flops


def _cost_text(cin, cout, g, k, out_spatial, bias, params, macs, flops) -> tuple[str, ...]:
    if params is None:
        return ("params, MACs, FLOPs: need --cin and --cout",)
    kt = "*".join(map(str, k))
    ot = "*".join(fmt(o) if not is_symbolic(o) else f"({fmt(o)})" for o in out_spatial) or "1"
    b = f" + {cout}" if bias else ""
    return (f"params: {cout}*({cin}/{g})*{kt}{b} = {params}",
            f"MACs: {cout}*({cin}/{g})*{kt} * {ot} = {fmt(macs)}",
            f"FLOPs: (2*({cin}/{g})*{kt} - 1 + {int(bias)})*{cout} * {ot} = {fmt(flops)}")


def _sum(*values):
    if any(v is None for v in values):
        return None
    return sum(values)


def _out_shape(channels, spatial) -> Shape:
    return Shape(channels, tuple(spatial))


def _elementwise_flops(x: Shape, per_element: int):
    n = x.numel()
    return None if n is None else per_element * n


# -- convolutions -------------------------------------------------------------------------

OUT = Key("out", "count", doc="output channels")
K = Key("k", "axes", doc="kernel size")
S = Key("s", "axes", 1, doc="stride")
P = Key("p", "pad", 0, doc="padding: n, per axis, [lo, hi] pairs, same/valid/full")
D = Key("d", "axes", 1, doc="dilation")
G = Key("g", "count", 1, doc="groups")
BIAS = Key("bias", "bool", True)
CONV_COST = "params = cout*cin/g*prod(k) + bias*cout; MACs = cout*cin/g*prod(k)*prod(out); " \
            "FLOPs = (2*cin/g*prod(k) - 1 + bias)*cout*prod(out)"
WINDOW_RULE = "out = floor((n + 2p - d*(k - 1) - 1)/s) + 1"
WINDOW_RULE_NO_D = "out = floor((n + 2p - k)/s) + 1"  # the same with d = 1, for ops without d


def _conv(op: str, x: Shape, cout, k, s, pad, d, g, bias) -> Effect:
    _check_groups(op, x.channels, cout, g)
    pads = _pads(op, pad, k, d, s)
    outs, texts, steps = _windows(op, x, k, s, pads, d)
    params, macs, flops = _conv_cost(x.channels, cout, g, prod(k), prod(outs), bias)
    return Effect(_out_shape(cout, outs), params, macs, flops, steps,
                  texts + _cost_text(x.channels, cout, g, k, outs, bias, params, macs, flops))


@register("conv", OUT, K, S, P, D, G, BIAS, ranked=("conv",),
          summary="convolution: vanilla, multi-channel, grouped (ResNeXt), dilated/atrous",
          shape=WINDOW_RULE, cost=CONV_COST)
def conv(x: Shape, a: Args) -> Effect:
    return _conv("conv", x, a.out, a.k, a.s, a.p, a.d, a.g, a.bias)


@register("pwconv", OUT, G, BIAS,
          summary="1x1 pointwise conv; g > 1 is ShuffleNet's pointwise group conv",
          shape="out = n",
          cost="params = cout*cin/g + bias*cout; MACs = cout*cin/g*prod(out); "
               "FLOPs = (2*cin/g - 1 + bias)*cout*prod(out)")
def pwconv(x: Shape, a: Args) -> Effect:
    ones = (1,) * x.rank
    return _conv("pwconv", x, a.out, ones, ones, ((0, 0),) * x.rank, ones, a.g, a.bias)


MULT = Key("mult", "count", 1, doc="depth multiplier: out = cin*mult")


@register("dwconv", K, S, P, D, MULT, BIAS,
          summary="depthwise conv: g = cin, out = cin*mult",
          shape=WINDOW_RULE,
          cost="params = cin*mult*prod(k) + bias*cin*mult; MACs = cin*mult*prod(k)*prod(out); "
               "FLOPs = (2*prod(k) - 1 + bias)*cin*mult*prod(out)")
def dwconv(x: Shape, a: Args) -> Effect:
    c = x.channels
    cout = None if c is None else c * a.mult
    return _conv("dwconv", x, cout, a.k, a.s, a.p, a.d, c or 1, a.bias)


def _compound(parts: list[tuple[str, Effect]], rf=None) -> Effect:
    """A logical layer made of visible parts applied in sequence (its field: ``rf`` when
    given, else the parts' steps chained)."""
    last = parts[-1][1]
    steps = rf
    if rf is None:
        for i, (_, eff) in enumerate(parts):
            steps = eff.rf if i == 0 else _chain(steps, eff.rf)
    formulas = tuple(f"{name}: {t}" for name, eff in parts for t in eff.formulas)
    return Effect(last.output,
                  _sum(*(e.params for _, e in parts)), _sum(*(e.macs for _, e in parts)),
                  _sum(*(e.flops for _, e in parts)), steps, formulas, tuple(parts))


def _chain(first, second):
    """Two RF steps as one: apply first, then second (in units of the first's input jump)."""
    if first is None or second is None:
        return None
    return tuple(f.then(g) for f, g in zip(first, second))


@register("sepconv", OUT, K, S, P, D, MULT, BIAS,
          summary="depthwise-separable conv (MobileNet/Xception): depthwise then pointwise, "
                  "one logical layer with both parts shown",
          shape=WINDOW_RULE + " (depthwise part)",
          cost="sum of dwconv(k, s, p, d, mult) and pwconv(out)")
def sepconv(x: Shape, a: Args) -> Effect:
    dw = dwconv(x, Args(k=a.k, s=a.s, p=a.p, d=a.d, mult=a.mult, bias=a.bias))
    pw = pwconv(dw.output, Args(out=a.out, g=1, bias=a.bias))
    return _compound([("dw", dw), ("pw", pw)])


@register("spatial_sepconv", OUT, K, S, P, BIAS, ranks=(2, 3),
          summary="spatially separable conv: k×1 then 1×k (one 1-D conv per axis), cin→out "
                  "then out→out",
          shape=WINDOW_RULE_NO_D + " per axis", cost="sum of the per-axis convs")
def spatial_sepconv(x: Shape, a: Args) -> Effect:
    pads = _pads("spatial_sepconv", a.p, a.k, (1,) * x.rank, a.s)
    parts, cur = [], x
    for axis in range(x.rank):
        only = lambda v, default: tuple(v[i] if i == axis else default for i in range(x.rank))
        eff = _conv("spatial_sepconv", cur, a.out, only(a.k, 1), only(a.s, 1),
                    only(pads, (0, 0)), (1,) * x.rank, 1, a.bias)
        parts.append((_axis_kernel_name(a.k, axis, x.rank), eff))
        cur = eff.output
    return _compound(parts)


def _axis_kernel_name(k, axis, rank) -> str:
    return "x".join(str(k[i]) if i == axis else "1" for i in range(rank))


@register("flatconv", OUT, K, P, BIAS,
          summary="flattened conv (Jin et al. 2014): 1×1 across channels, then a depthwise "
                  "1-D conv along each axis (vertical k×1, horizontal 1×k)",
          shape="out = n + 2p - k + 1 per axis",
          cost="pwconv(out) + one depthwise 1-D conv per axis")
def flatconv(x: Shape, a: Args) -> Effect:
    ones = (1,) * x.rank
    pads = _pads("flatconv", a.p, a.k, ones, ones)
    lateral = pwconv(x, Args(out=a.out, g=1, bias=a.bias))
    parts, cur = [("lateral", lateral)], lateral.output
    for axis in range(x.rank):
        only = lambda v, default: tuple(v[i] if i == axis else default for i in range(x.rank))
        eff = _conv("flatconv", cur, a.out, only(a.k, 1), ones, only(pads, (0, 0)), ones,
                    a.out, a.bias)
        parts.append((_axis_kernel_name(a.k, axis, x.rank), eff))
        cur = eff.output
    return _compound(parts)


OPAD = Key("op", "axes0", 0, doc="output_padding")


@register("deconv", OUT, K, S, P, OPAD, D, G, BIAS,
          aliases=("convtranspose", "conv_transpose"),
          ranked=("convtranspose", "conv_transpose", "deconv"),
          summary="transposed conv; output_padding < stride or < dilation (PyTorch's rule)",
          shape="out = (n - 1)*s - 2p + d*(k - 1) + op + 1",
          cost="params = cin*cout/g*prod(k) + bias*cout; MACs = cin*cout/g*prod(k)*prod(in) "
               "(counted on the input grid); FLOPs = 2*MACs + bias*cout*prod(out)")
def deconv(x: Shape, a: Args) -> Effect:
    op, cin, cout, g = "deconv", x.channels, a.out, a.g
    if isinstance(a.p, str):
        raise SpecError(f"{op}: padding must be numbers (PyTorch's ConvTranspose takes no "
                        f"'{a.p}')", key="p")
    _check_groups(op, cin, cout, g)
    names = AXIS_NAMES[x.rank]
    outs, texts, steps = [], [], []
    for axis, n, k, s, (lo, hi), d, opad in zip(names, x.spatial, a.k, a.s, a.p, a.d, a.op):
        o, t, st = _transposed(op, axis, n, k, s, lo, hi, d, opad)
        outs.append(o)
        texts.append(t)
        steps.append(st)
    if cin is None or cout is None:
        params = macs = flops = None
        cost = ("params, MACs, FLOPs: need --cin and --cout",)
    else:
        per_in = cout // g * prod(a.k)
        params = cin * per_in + (cout if a.bias else 0)
        macs = cin * per_in * prod(x.spatial)
        flops = 2 * macs + (cout * prod(outs) if a.bias else 0)
        kt = "*".join(map(str, a.k))
        it = "*".join(map(fmt, x.spatial)) or "1"
        b = f" + {cout}" if a.bias else ""
        cost = (f"params: {cin}*({cout}/{g})*{kt}{b} = {params}",
                f"MACs: {cin}*({cout}/{g})*{kt} * {it} (input grid) = {fmt(macs)}",
                "FLOPs: 2*MACs" + (" + cout*prod(out)" if a.bias else "") + f" = {fmt(flops)}")
    return Effect(_out_shape(cout, outs), params, macs, flops, tuple(steps),
                  tuple(texts) + cost)


@register("deformconv", OUT, K, S, P, D, G, Key("offset_groups", "count", 1),
          Key("modulated", "bool", False), BIAS,
          summary="deformable conv, DCN v1 (v2 with modulated: true), offset/mask predictor "
                  "included",
          shape=WINDOW_RULE,
          cost="offset conv cin→og*(rank+modulated)*prod(k) (same k, s, p, d; with bias) + "
               "main conv by the conv rule; FLOPs add (2^(rank+1) - 1) per sampled value for "
               "interpolation, 1 per sampled value for modulation, 3 per mask element")
def deformconv(x: Shape, a: Args) -> Effect:
    op, cin, og = "deformconv", x.channels, a.offset_groups
    if cin is not None and cin % og:
        raise ShapeError(f"{op}: offset_groups={og} must divide in_channels={cin}",
                         key="offset_groups")
    taps = prod(a.k)
    pred_out = og * (x.rank + int(a.modulated)) * taps
    offset = _conv(op, x, pred_out, a.k, a.s, a.p, a.d, 1, True)
    main = _conv(op, x, a.out, a.k, a.s, a.p, a.d, a.g, a.bias)
    if main.flops is not None:
        samples = cin * taps * prod(main.output.spatial)
        extra = (2 ** (x.rank + 1) - 1) * samples
        if a.modulated:
            extra += samples + 3 * og * taps * prod(main.output.spatial)
        main = Effect(main.output, main.params, main.macs, main.flops + extra, main.rf,
                      main.formulas + (f"sampling FLOPs: {fmt(extra)} (interpolation"
                                       + (", modulation, mask sigmoid" if a.modulated else "")
                                       + ")",))
    parts = [("offset" if not a.modulated else "offset+mask", offset), ("deform", main)]
    # both parts read the same input: the field is the main conv's, not the two in sequence
    # (chaining them also enumerated the kernel: k: 10**8 hung)
    return _compound(parts, rf=main.rf)


# -- pooling ------------------------------------------------------------------------------

POOL_K = Key("k", "axes")
POOL_S = Key("s", "axes", SAME_AS_K, doc="stride (default: k)")
POOL_P = Key("p", "pad", 0, doc="padding: n or per axis, at most k/2")
CEIL = Key("ceil", "bool", False, doc="ceil_mode")
CEIL_RULE = "; ceil mode: ceil(...) + 1, minus 1 if the last window starts in the right padding"
# PyTorch's pools: padding at most half the kernel, numbers only (no 'same'/'valid' mode);
# `convcalc layer --out` relies on the first rule to bound its search
HALF_KERNEL_PADDING = ("maxpool", "avgpool")
POOL_NAMES = {"maxpool": "MaxPool", "avgpool": "AvgPool"}


def _pool(op: str, x: Shape, a: Args, dilation, flops_per_out: Callable[[int], int]) -> Effect:
    if isinstance(a.p, str):
        raise SpecError(f"{op}: padding must be numbers (PyTorch's {POOL_NAMES[op]} takes no "
                        f"'{a.p}')", key="p", hint="give p as a number, at most half the kernel")
    pads = a.p
    for (lo, hi), k in zip(pads, a.k):
        # aten's pool shape checks compare padding with the kernel size, not the dilated span
        if 2 * max(lo, hi) > k:
            raise ShapeError(f"{op}: padding {max(lo, hi)} must be at most half the kernel "
                             f"size {k} (PyTorch's rule)", key="p")
    outs, texts, steps = _windows(op, x, a.k, a.s, pads, dilation, a.ceil)
    shape = _out_shape(x.channels, outs)
    return Effect(shape, 0, 0, _elementwise_flops(shape, flops_per_out(prod(a.k))), steps,
                  texts)


@register("maxpool", POOL_K, POOL_S, POOL_P, D, CEIL,
          ranked=("maxpool",),
          summary="max pooling (PyTorch's ceil_mode clip rule, dilation)",
          shape=WINDOW_RULE + CEIL_RULE,
          cost="FLOPs = (prod(k) - 1) comparisons per output element")
def maxpool(x: Shape, a: Args) -> Effect:
    return _pool("maxpool", x, a, a.d, lambda kk: kk - 1)


@register("avgpool", POOL_K, POOL_S, POOL_P, CEIL,
          Key("count_include_pad", "bool", True,
              doc="divide by the whole window, padding included (PyTorch's default); "
                  "changes no count"),
          ranked=("avgpool",),
          summary="average pooling (PyTorch's ceil_mode clip rule)",
          shape=WINDOW_RULE_NO_D + CEIL_RULE,
          cost="FLOPs = prod(k) per output element (prod(k) - 1 adds, 1 divide)")
def avgpool(x: Shape, a: Args) -> Effect:
    if x.rank == 3:
        # AvgPool3d alone also wants every unpadded axis at least the kernel size
        # (aten pool3d_shape_check with check_input_size)
        for n, k in zip(x.spatial, a.k):
            if not is_symbolic(n) and n < k:
                raise ShapeError(f"avgpool: PyTorch's AvgPool3d needs each input size at "
                                 f"least the kernel size, got {n} < {k}", key="k")
    return _pool("avgpool", x, a, (1,) * x.rank, lambda kk: kk)


MAX_DIVISORS = 64  # a symbolic adaptive pooling's FLOPs formula has one term per divisor of o


def _adaptive_windows(n: Dim, o: int):
    """PyTorch's adaptive pooling windows along one axis: [floor(i*n/o), ceil((i+1)*n/o)).
    Returns (total of window sizes, RF step). The step extends the windows to every integer i
    (period o/g, advance n/g, g = gcd(n, o)); they depend on n, so a symbolic n gives UNKNOWN."""
    if is_symbolic(n):
        if o == 1:
            return n, UNKNOWN
        # n + o - gcd(n, o), as below, with gcd(n, o) = sum over d | o of phi(d)*[d | n] and
        # [d | n] = n//d - (n - 1)//d: one term per divisor of o, not one per window (3000
        # windows took minutes and printed a 100 kB formula)
        terms = divisor_totients(o)
        if len(terms) > MAX_DIVISORS:
            raise ShapeError(f"adaptive pooling to {o} on the symbolic size {fmt(n)}: its "
                             f"FLOPs formula would have {len(terms)} terms",
                             hint="bind the size with --set to get the number")
        g = sum(phi * (floordiv(n, d) - floordiv(n - 1, d)) for d, phi in terms)
        return n + o - g, UNKNOWN
    # the total in closed form, not by listing o windows (o may be up to 2**62): with
    # g = gcd(n, o), sum of ceil((i+1)*n/o) - floor(i*n/o) over i < o is n plus the rounding
    # at both ends, (o - g)/2 each (i*n mod o runs through the multiples of g, g times each)
    g = gcd(n, o)
    total = n + o - g
    if o // g > MAX_PERIOD:
        return total, UNKNOWN
    step = RFStep.make(o // g, n // g, tuple(((i * n // o, 1, -(-(i + 1) * n // o) - i * n // o),)
                                             for i in range(o // g)))
    return total, step


def _adaptive(op: str, x: Shape, out, is_max: bool) -> Effect:
    totals, steps = [], []
    for n, o in zip(x.spatial, out):
        total, step = _adaptive_windows(n, o)
        totals.append(total)
        steps.append(step)
    shape = _out_shape(x.channels, out)
    read = None if x.channels is None else x.channels * prod(totals)
    flops = None if read is None else (read - shape.numel() if is_max else read)
    # output size 1 on every axis is global pooling (AdaptiveAvgPool2d(1)): like gap, the field
    # is the whole input (SPEC §4)
    rf = None if all(o == 1 for o in out) else tuple(steps)
    texts = tuple(f"{axis}: {o} (windows [floor(i*{fmt(n)}/{o}), ceil((i+1)*{fmt(n)}/{o})))"
                  for axis, n, o in zip(AXIS_NAMES[x.rank], x.spatial, out))
    return Effect(shape, 0, 0, flops, rf, texts)


@register("adaptive_avgpool", Key("out", "axes", doc="output size"),
          ranked=("adaptive_avgpool",),
          summary="adaptive average pooling to a fixed output size",
          shape="out = the given size; window i = [floor(i*n/o), ceil((i+1)*n/o))",
          cost="FLOPs = sum of window sizes (adds + 1 divide per output element)")
def adaptive_avgpool(x: Shape, a: Args) -> Effect:
    return _adaptive("adaptive_avgpool", x, a.out, False)


@register("adaptive_maxpool", Key("out", "axes", doc="output size"),
          ranked=("adaptive_maxpool",),
          summary="adaptive max pooling to a fixed output size",
          shape="out = the given size; window i = [floor(i*n/o), ceil((i+1)*n/o))",
          cost="FLOPs = sum of (window size - 1) comparisons")
def adaptive_maxpool(x: Shape, a: Args) -> Effect:
    return _adaptive("adaptive_maxpool", x, a.out, True)


def _global(x: Shape, per_channel: Dim) -> Effect:
    shape = _out_shape(x.channels, (1,) * x.rank)
    flops = None if x.channels is None else x.channels * per_channel
    return Effect(shape, 0, 0, flops, None, (f"output: {shape}",))


@register("gap", summary="global average pooling (output c×1×…×1)", shape="out = 1",
          cost="FLOPs = c*prod(n) (prod(n) - 1 adds and 1 divide per channel)")
def gap(x: Shape, a: Args) -> Effect:
    return _global(x, prod(x.spatial))


@register("gmp", summary="global max pooling (output c×1×…×1)", shape="out = 1",
          cost="FLOPs = c*(prod(n) - 1) comparisons")
def gmp(x: Shape, a: Args) -> Effect:
    return _global(x, prod(x.spatial) - 1)


# -- dense and reshaping ------------------------------------------------------------------

@register("linear", OUT, BIAS, aliases=("fc",), ranks=(0,),
          summary="fully connected layer on a flattened input",
          shape="out = out_features",
          cost="params = in*out + bias*out; MACs = in*out; FLOPs = (2*in - 1 + bias)*out")
def linear(x: Shape, a: Args) -> Effect:
    params, macs, flops = _conv_cost(x.channels, a.out, 1, 1, 1, a.bias)
    texts = (("params: need --cin",) if params is None else
             (f"params: {x.channels}*{a.out}" + (f" + {a.out}" if a.bias else "") +
              f" = {params}", f"MACs: {x.channels}*{a.out} = {macs}",
              f"FLOPs: (2*{x.channels} - 1 + {int(a.bias)})*{a.out} = {flops}"))
    return Effect(Shape(a.out), params, macs, flops, None, texts)


@register("flatten", summary="flatten channels and spatial axes into one vector",
          shape="out = c*prod(n)", cost="FLOPs = 0", ranks=(0, 1, 2, 3))
def flatten(x: Shape, a: Args) -> Effect:
    n = x.numel()
    rf = None if x.rank else ()
    return Effect(Shape(n), 0, 0, 0, rf, (f"output: {fmt(n)}",))


def _same_shape(x: Shape, flops, params=0, texts=()) -> Effect:
    return Effect(x, params, 0, flops, (IDENTITY,) * x.rank, texts)


# -- normalisation ------------------------------------------------------------------------

AFFINE = Key("affine", "bool", True)


@register("bn", AFFINE, aliases=("batchnorm",), ranked=("batchnorm", "bn"), flat_1d=True,
          summary="batch norm: 2c affine params (running statistics are buffers)",
          shape="out = n", cost="FLOPs = 2 per element (inference: one multiply, one add)",
          ranks=(0, 1, 2, 3))
def bn(x: Shape, a: Args) -> Effect:
    c = x.channels
    return _same_shape(x, _elementwise_flops(x, 2), None if c is None else 2 * c * a.affine)


NORM_COST = "FLOPs = 8 per element with affine, 6 without (mean 1, centre+square+sum 3, " \
            "normalise 2, affine 2)"


def _norm(x: Shape, affine: bool) -> Effect:
    c = x.channels
    return _same_shape(x, _elementwise_flops(x, 6 + 2 * affine),
                       None if c is None else 2 * c * affine)


@register("gn", Key("g", "count", doc="number of groups"), AFFINE, aliases=("groupnorm",),
          summary="group norm: 2c affine params", shape="out = n", cost=NORM_COST,
          ranks=(0, 1, 2, 3))  # PyTorch's GroupNorm takes (N, C) too
def gn(x: Shape, a: Args) -> Effect:
    if x.channels is not None and x.channels % a.g:
        raise ShapeError(f"gn: groups={a.g} must divide channels={x.channels}", key="g")
    return _norm(x, a.affine)


@register("ln", AFFINE, aliases=("layernorm",), ranks=(0, 1, 2, 3),
          summary="layer norm over channels (ConvNeXt's LayerNorm2d): 2c affine params",
          shape="out = n", cost=NORM_COST)
def ln(x: Shape, a: Args) -> Effect:
    return _norm(x, a.affine)


@register("in", Key("affine", "bool", False), aliases=("instancenorm",),
          ranked=("instancenorm",),
          summary="instance norm: affine off by default, as in PyTorch", shape="out = n",
          cost=NORM_COST)
def instance_norm(x: Shape, a: Args) -> Effect:
    if all(_is_int(v) for v in x.spatial) and all(v == 1 for v in x.spatial):
        # PyTorch normalises each instance over its own positions, and refuses a single one
        raise ShapeError(f"in: PyTorch's InstanceNorm needs more than 1 spatial element, the "
                         f"input {x} has 1")
    return _norm(x, a.affine)


# -- element-wise -------------------------------------------------------------------------

INPLACE = Key("inplace", "bool", False)

# FLOPs per element: one per operation in PyTorch's documented formula; exp, erf and tanh
# count as one, so do max and min; a negated argument is free.
ELEMENTWISE = {
    "relu": (1, "max(0, x)", (INPLACE,)),
    "relu6": (2, "min(max(0, x), 6)", (INPLACE,)),
    "leaky_relu": (4, "max(0, x) + slope*min(0, x)", (Key("slope", "real", 0.01), INPLACE)),
    "prelu": (4, "max(0, x) + a*min(0, x); params = num", (Key("num", "count", 1),)),
    "elu": (6, "max(0, x) + min(0, alpha*(exp(x) - 1))", (Key("alpha", "real", 1.0), INPLACE)),
    "gelu": (5, "x*0.5*(1 + erf(x/sqrt(2)))",
             (Key("approximate", "enum", "none", ("none", "tanh")),)),
    "silu": (4, "x/(1 + exp(-x))", (INPLACE,)),
    "sigmoid": (3, "1/(1 + exp(-x))", (INPLACE,)),
    "hardsigmoid": (4, "min(max(x/6 + 1/2, 0), 1)", (INPLACE,)),
    "hardswish": (5, "x*hardsigmoid(x)", (INPLACE,)),
    "tanh": (1, "tanh(x)", (INPLACE,)),
    "dropout": (0, "identity at inference", (Key("p", "prob", 0.5), INPLACE)),
    "identity": (0, "x", ()),
}


def _make_elementwise(name: str, per: int, text: str, keys: tuple[Key, ...]):
    def fn(x: Shape, a: Args) -> Effect:
        num = a.get("num", 0)  # prelu's slopes: one shared, or one per channel
        if num > 1 and _is_int(x.channels) and num != x.channels:
            raise ShapeError(f"{name}: num={num} must be 1 or the input channels {x.channels} "
                             f"(PyTorch's rule)", key="num",
                             hint=f"num: 1 shares one slope, num: {x.channels} gives one per "
                                  f"channel")
        return _same_shape(x, _elementwise_flops(x, per), num)

    register(name, *keys, summary=f"element-wise {text}", shape="out = n",
             cost=f"FLOPs = {per} per element", ranks=(0, 1, 2, 3))(fn)


for _name, (_per, _text, _keys) in ELEMENTWISE.items():
    _make_elementwise(_name, _per, _text, _keys)


@register("softmax", summary="softmax over channels", shape="out = n",
          cost="FLOPs = (3c - 1) per position (c exps, c - 1 adds, c divides)",
          ranks=(0, 1, 2, 3))
def softmax(x: Shape, a: Args) -> Effect:
    c = x.channels
    return _same_shape(x, None if c is None else (3 * c - 1) * prod(x.spatial))


# -- resampling and rearranging -----------------------------------------------------------

LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}


@register("upsample", Key("scale", "axes", None, doc="integer scale factor"),
          Key("size", "axes", None, doc="output size"),
          Key("mode", "enum", "nearest", ("nearest", "linear", "bilinear", "trilinear")),
          Key("align_corners", "bool", None, doc="linear modes only (PyTorch's rule)"),
          summary="upsampling by an integer scale or to a size (nearest or (bi/tri)linear)",
          shape="out = floor(n*scale) or size",
          cost="FLOPs = 0 for nearest; 3*(2^rank - 1) per output element for linear modes "
               "(one lerp = sub, mul, add)")
def upsample(x: Shape, a: Args) -> Effect:
    if (a.scale is None) == (a.size is None):
        raise SpecError("upsample needs exactly one of 'scale' and 'size'",
                        key="scale" if a.scale is not None else None)
    if a.align_corners is not None and a.mode not in LINEAR_MODES:
        raise SpecError(f"upsample: 'align_corners' only goes with the linear modes "
                        f"(PyTorch's rule), not mode '{a.mode}'", key="align_corners",
                        hint="drop align_corners, or use mode linear, bilinear or trilinear")
    linear_rank = LINEAR_MODES.get(a.mode)
    if linear_rank is not None and linear_rank != x.rank:
        raise ShapeError(f"upsample: mode '{a.mode}' works on {_axes(linear_rank)}, the "
                         f"input {x} has {x.rank}", key="mode")
    outs = a.size if a.size is not None else tuple(n * s for n, s in zip(x.spatial, a.scale))
    shape = _out_shape(x.channels, outs)
    per = 0 if a.mode == "nearest" else 3 * (2 ** x.rank - 1)
    steps = tuple(_resize_step(n, o, s, a.mode != "nearest", a.align_corners)
                  for n, o, s in zip(x.spatial, outs, a.scale or (None,) * x.rank))
    texts = tuple(f"{axis}: " + (f"{fmt(n)}*{s} = {fmt(o)}" if a.scale else f"{fmt(o)}")
                  for axis, n, s, o in zip(AXIS_NAMES[x.rank], x.spatial,
                                           a.scale or (None,) * x.rank, outs))
    return Effect(shape, 0, 0, _elementwise_flops(shape, per), steps, texts)


def _resize_step(n: Dim, o: Dim, scale: int | None, linear: bool, align: bool) -> RFStep:
    """The input units output unit u of an upsample reads: PyTorch's source index
    (aten UpSample.h), without its clamping at the borders (SPEC §4: unbounded input).
    nearest: floor(u*rho); linear modes: floor(x) and floor(x) + 1, the second only when its
    weight, the fractional part of x, is not 0, with x = (u + 1/2)*rho - 1/2, or with
    align_corners x = u*(n - 1)/(o - 1) (0 when o = 1); rho = 1/scale when a scale is given,
    else n/o. A ratio that needs a symbolic size gives UNKNOWN."""
    if linear and align:
        if is_symbolic(n) or is_symbolic(o):
            return UNKNOWN
        ratio = Fraction(n - 1, o - 1) if o > 1 else Fraction(0)
    elif scale is not None:
        ratio = Fraction(1, scale)
    elif is_symbolic(n) or is_symbolic(o):
        return UNKNOWN
    else:
        ratio = Fraction(n, o)
    if ratio.denominator > MAX_PERIOD:
        return UNKNOWN
    taps = []
    for u in range(ratio.denominator):
        x = u * ratio if align or not linear else (u + Fraction(1, 2)) * ratio - Fraction(1, 2)
        first = x.numerator // x.denominator
        taps.append(((first, 1, 2 if linear and x != first else 1),))
    return RFStep.make(ratio.denominator, ratio.numerator, tuple(taps))


@register("pixel_shuffle", Key("r", "count", doc="upscale factor"), ranks=(2,),
          rank_hint="PyTorch's PixelShuffle is 2-D only",
          summary="pixel shuffle, 2-D like PyTorch's PixelShuffle: c*r^2 × H × W → "
                  "c × H*r × W*r",
          shape="out = n*r; c' = c/r^2", cost="FLOPs = 0")
def pixel_shuffle(x: Shape, a: Args) -> Effect:
    c, r = x.channels, a.r
    block = r ** x.rank
    if c is not None and c % block:
        raise ShapeError(f"pixel_shuffle: channels {c} must be divisible by r^{x.rank} = "
                         f"{block}", key="r")
    outs = tuple(n * r for n in x.spatial)
    return Effect(_out_shape(None if c is None else c // block, outs), 0, 0, 0,
                  # output unit u reads input floor(u/r): nearest upsampling's step
                  (_resize_step(None, None, r, False, None),) * x.rank, ())


@register("channel_shuffle", Key("g", "count", doc="groups"),
          summary="ShuffleNet's channel shuffle", shape="out = n", cost="FLOPs = 0")
# (no flat input: PyTorch's ChannelShuffle needs more than 2 dims)
def channel_shuffle(x: Shape, a: Args) -> Effect:
    if x.channels is not None and x.channels % a.g:
        raise ShapeError(f"channel_shuffle: groups={a.g} must divide channels={x.channels}",
                         key="g")
    return _same_shape(x, 0)


@register("se", Key("reduction", "count", 16), Key("squeeze", "count", None),
          Key("act", "enum", "relu", ("relu", "silu", "relu6")),
          Key("gate", "enum", "sigmoid", ("sigmoid", "hardsigmoid")),
          summary="squeeze-and-excitation: gap, 1×1 down, act, 1×1 up, gate, scale",
          shape="out = n", cost="sum of its parts; squeeze = squeeze or c // reduction")
def se(x: Shape, a: Args) -> Effect:
    c = x.channels
    if c is None:
        return _same_shape(x, None, None)
    sq = a.squeeze if a.squeeze is not None else c // a.reduction
    if sq < 1:
        raise ShapeError(f"se: channels {c} // reduction {a.reduction} is 0", key="reduction")
    ones = (1,) * x.rank
    pooled = gap(x, Args())
    down = pwconv(pooled.output, Args(out=sq, g=1, bias=True))
    act = apply(a.act, down.output, {})
    up = pwconv(act.output, Args(out=c, g=1, bias=True))
    gate = apply(a.gate, up.output, {})
    scale = Effect(x, 0, 0, x.numel(), (IDENTITY,) * x.rank, ())
    total = _compound([("gap", pooled), ("down", down), (a.act, act), ("up", up),
                       (a.gate, gate), ("scale", scale)])
    # the gate is global context; like norm statistics it is left out of the field
    return Effect(x, total.params, total.macs, total.flops, (IDENTITY,) * len(ones),
                  (f"squeeze: {sq}",) + total.formulas, total.parts)


PAD_KEY = Key("p", "pad", doc="n, per axis, or [lo, hi] pairs")


@register("pad", PAD_KEY, summary="zero padding", shape="out = n + lo + hi", cost="FLOPs = 0")
def pad(x: Shape, a: Args) -> Effect:
    pads = _pads("pad", a.p, (1,) * x.rank, (1,) * x.rank, (1,) * x.rank)
    outs = tuple(n + lo + hi for n, (lo, hi) in zip(x.spatial, pads))
    return Effect(_out_shape(x.channels, outs), 0, 0, 0,
                  tuple(RFStep.window(-lo, 1, 1) for lo, _ in pads), ())


@register("crop", PAD_KEY, summary="remove p from each side (U-Net's skip crops)",
          shape="out = n - lo - hi", cost="FLOPs = 0")
def crop(x: Shape, a: Args) -> Effect:
    if isinstance(a.p, str):
        raise SpecError(f"crop: 'p' must be numbers, got {a.p!r}", key="p")
    outs = tuple(n - lo - hi for n, (lo, hi) in zip(x.spatial, a.p))
    for n, o in zip(x.spatial, outs):
        if not is_symbolic(o) and o < 1:
            raise ShapeError(f"crop: cropping {fmt(n)} leaves {o}", key="p")
    return Effect(_out_shape(x.channels, outs), 0, 0, 0,
                  tuple(RFStep.window(lo, 1, 1) for lo, _ in a.p), ())


@register("slice", Key("from", "int0", 0), Key("to", "count", None),
          summary="keep channels [from, to) (ShuffleNet v2's channel split)",
          shape="c' = to - from", cost="FLOPs = 0", ranks=(0, 1, 2, 3))
def channel_slice(x: Shape, a: Args) -> Effect:
    c = x.channels
    stop = a.to if a.to is not None else c
    if c is not None and stop > c:
        raise ShapeError(f"slice: 'to' {stop} is past the {c} channels", key="to")
    if stop is not None and a["from"] >= stop:
        raise ShapeError(f"slice: 'from' {a['from']} must be less than 'to' {stop}", key="from")
    return Effect(_out_shape(None if stop is None else stop - a["from"], x.spatial), 0, 0, 0,
                  (IDENTITY,) * x.rank, ())


# -- merges (networks only: they combine saved tensors, see SPEC §2.2) ---------------------

MERGE_RULES = {
    "add": "sum, element by element, of the current tensor and saved tensors (residual)",
    "mul": "product, element by element, of the current tensor and saved tensors",
    "concat": "join along channels; spatial sizes must match",
}


def merge_flops(how: str, inputs: int, out: Shape) -> Dim | None:
    """add/mul: (inputs - 1) per output element; concat moves data only."""
    n = out.numel()
    return 0 if how == "concat" else None if n is None else (inputs - 1) * n


def _merge_only(name: str):
    def fn(x: Shape, a: Args) -> Effect:
        raise SpecError(f"{name} merges saved tensors; use it in a network YAML "
                        f"(`- {name}: X` or parallel's merge: {name})")

    return fn


for _name, _text in MERGE_RULES.items():
    register(_name, summary=_text + " (network YAML only)",
             shape="c' = sum of channels" if _name == "concat" else "out = n",
             cost="FLOPs = 0" if _name == "concat" else "FLOPs = (inputs - 1) per element",
             ranks=())(_merge_only(_name))
