"""A PyTorch ``nn.Module`` → the importers' nodes → YAML (SPEC §7, ``convcalc import
package.module:callable``). Needs the optional ``torch`` extra; torch is imported here only.

The module is traced with ``torch.fx.symbolic_trace`` and its shapes propagated
(``torch.fx.passes.shape_prop.ShapeProp``) on one zero sample of ``--input``, in eval mode.
Every traced call becomes one :class:`~convcalc.importers.graph.Node`: a module call is named
after its module path (``layer1.0.conv1``), a function or method call after the module that
makes it and fx's name for it (``layer1.0.add``). The tables below (:data:`MODULES`,
:data:`FUNCTIONS`, :data:`METHODS`) are the whole mapping: the README's list of supported
modules and functions is generated from them (``supported()``), and anything else is an error
listing every unsupported call with where it happens.

A module called more than once is one row per call (the second call of ``relu`` is
``relu.1``). Only a parameter-free module may be: convcalc's YAML gives every row its own
weights, so a module with parameters called twice (weight sharing) is refused rather than
counted twice.

Custom modules are traced through. One whose ``forward`` fx cannot trace (it iterates over a
shape, or branches on a value) is kept whole and reported as unsupported, by class and path.
"""

from __future__ import annotations

import importlib
import math
import operator
import sys
from typing import Any, Callable

from ..errors import SpecError


def _one(v):
    """A per-axis tuple as one number when every axis agrees (``(3, 3)`` → 3)."""
    if isinstance(v, (tuple, list)):
        v = [int(x) for x in v]
        return v[0] if len(set(v)) == 1 else v
    return v


def _set(args: dict, key: str, value, default) -> None:
    if value != default:
        args[key] = value


class Unsupported(Exception):
    """A call convcalc cannot map: ``what`` (e.g. ``module Crop``) and why."""

    def __init__(self, what: str, why: str = "") -> None:
        super().__init__(what)
        self.what, self.why = what, why


# -- modules ------------------------------------------------------------------------------------

def _conv(m, x) -> tuple[str, dict]:
    args: dict[str, Any] = {"out": m.out_channels, "k": _one(m.kernel_size)}
    _set(args, "s", _one(m.stride), 1)
    p = m.padding if isinstance(m.padding, str) else _one(m.padding)
    _set(args, "p", p, 0)
    _set(args, "d", _one(m.dilation), 1)
    _set(args, "g", m.groups, 1)
    _set(args, "bias", m.bias is not None, True)
    return "conv", args


def _deconv(m, x) -> tuple[str, dict]:
    args: dict[str, Any] = {"out": m.out_channels, "k": _one(m.kernel_size)}
    _set(args, "s", _one(m.stride), 1)
    _set(args, "p", _one(m.padding), 0)
    _set(args, "op", _one(m.output_padding), 0)
    _set(args, "d", _one(m.dilation), 1)
    _set(args, "g", m.groups, 1)
    _set(args, "bias", m.bias is not None, True)
    return "deconv", args


def _linear(m, x) -> tuple[str, dict]:
    if len(x) != 2:
        raise Unsupported("module Linear", f"on a {len(x)}-D tensor; convcalc's linear takes "
                                           "a flat (N, features) input")
    args: dict[str, Any] = {"out": m.out_features}
    _set(args, "bias", m.bias is not None, True)
    return "linear", args


def _norm(op: str, default_affine: bool):
    def fn(m, x):
        args: dict[str, Any] = {}
        if op == "gn":
            args["g"] = m.num_groups
        affine = getattr(m, "affine", None)
        _set(args, "affine", bool(affine), default_affine)
        return op, args
    return fn


def _layer_norm(m, x):
    if len(x) != 2 or tuple(m.normalized_shape) != (x[1],):
        raise Unsupported("module LayerNorm", "other than over the features of a flat (N, C) "
                                              "input")
    if m.weight is not None and getattr(m, "bias", True) is None:
        raise Unsupported("module LayerNorm", "with a weight but no bias")
    args: dict[str, Any] = {}
    _set(args, "affine", m.weight is not None, True)
    return "ln", args


def _maxpool(m, x):
    if m.return_indices:
        raise Unsupported("module MaxPool", "with return_indices")
    k = _one(m.kernel_size)
    args: dict[str, Any] = {"k": k}
    _set(args, "s", _one(m.stride), k)
    _set(args, "p", _one(m.padding), 0)
    _set(args, "d", _one(m.dilation), 1)
    _set(args, "ceil", bool(m.ceil_mode), False)
    return "maxpool", args


def _avgpool(m, x):
    k = _one(m.kernel_size)
    args: dict[str, Any] = {"k": k}
    _set(args, "s", _one(m.stride), k)
    _set(args, "p", _one(m.padding), 0)
    _set(args, "ceil", bool(m.ceil_mode), False)
    return "avgpool", args


def _adaptive(kind: str):
    def fn(m, x):
        rank = len(x) - 2
        size = m.output_size
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * rank
        if any(s is None for s in sizes):
            raise Unsupported(f"module Adaptive{kind.capitalize()}Pool", "with a None size")
        if all(s == 1 for s in sizes):  # global pooling, as a person writes it
            return ("gap" if kind == "avg" else "gmp"), {}
        return f"adaptive_{kind}pool", {"out": _one(sizes)}
    return fn


def _plain(op: str):
    return lambda m, x: (op, {})


def _hardtanh(m, x):
    if (m.min_val, m.max_val) != (0.0, 6.0):
        raise Unsupported("module Hardtanh", "other than ReLU6's (0, 6)")
    return "relu6", {}


def _keyed(op: str, key: str, attr: str, default):
    def fn(m, x):
        args: dict[str, Any] = {}
        _set(args, key, getattr(m, attr), default)
        return op, args
    return fn


def _softmax(m, x):
    if m.dim not in (1, 1 - len(x)):
        raise Unsupported("module Softmax", "over another axis than the channels")
    return "softmax", {}


def _flatten_module(m, x):
    if m.start_dim != 1 or m.end_dim not in (-1, len(x) - 1):
        raise Unsupported("module Flatten", "other than from axis 1 to the end")
    return "flatten", {}


def _upsample(m, x):
    return _resize(x, m.size, m.scale_factor, m.mode, m.align_corners, "module Upsample")


def _resize(x, size, scale, mode, align, what):
    rank = len(x) - 2
    modes = {"nearest": "nearest", "linear": "linear", "bilinear": "bilinear",
             "trilinear": "trilinear"}
    if mode not in modes:
        raise Unsupported(what, f"mode {mode!r}")
    args: dict[str, Any] = {}
    if size is not None:
        args["size"] = _one(size if isinstance(size, (tuple, list)) else [size] * rank)
    else:
        scales = scale if isinstance(scale, (tuple, list)) else [scale] * rank
        if any(float(s) != int(s) for s in scales):
            raise Unsupported(what, "with a fractional scale")
        args["scale"] = _one([int(s) for s in scales])
    _set(args, "mode", mode, "nearest")
    if align is not None and mode != "nearest":
        args["align_corners"] = bool(align)
    return "upsample", args


def _zero_pad(m, x):
    pad = m.padding
    rank = len(x) - 2
    flat = list(pad) if isinstance(pad, (tuple, list)) else [pad] * (2 * rank)
    if getattr(m, "value", 0) != 0:
        raise Unsupported(f"module {type(m).__name__}", "with a non-zero value")
    return "pad", {"p": _pairs(flat, rank)}


def _pairs(flat, rank):
    """PyTorch's pad order (last axis first, lo then hi) → convcalc's per-axis pairs."""
    if len(flat) != 2 * rank:
        raise Unsupported("padding", "of other than every spatial axis")
    pairs = [[int(flat[2 * i]), int(flat[2 * i + 1])] for i in range(rank)][::-1]
    return _one([p[0] for p in pairs]) if all(p[0] == p[1] for p in pairs) and len(
        {p[0] for p in pairs}) == 1 else [p[0] if p[0] == p[1] else p for p in pairs]


MODULES: dict[str, Callable] = {
    **{f"Conv{r}d": _conv for r in (1, 2, 3)},
    **{f"ConvTranspose{r}d": _deconv for r in (1, 2, 3)},
    "Linear": _linear,
    **{f"BatchNorm{r}d": _norm("bn", True) for r in (1, 2, 3)},
    "GroupNorm": _norm("gn", True),
    **{f"InstanceNorm{r}d": _norm("in", False) for r in (1, 2, 3)},
    "LayerNorm": _layer_norm,
    **{f"MaxPool{r}d": _maxpool for r in (1, 2, 3)},
    **{f"AvgPool{r}d": _avgpool for r in (1, 2, 3)},
    **{f"AdaptiveAvgPool{r}d": _adaptive("avg") for r in (1, 2, 3)},
    **{f"AdaptiveMaxPool{r}d": _adaptive("max") for r in (1, 2, 3)},
    "ReLU": _plain("relu"), "ReLU6": _plain("relu6"), "Hardtanh": _hardtanh,
    "LeakyReLU": _keyed("leaky_relu", "slope", "negative_slope", 0.01),
    "PReLU": _keyed("prelu", "num", "num_parameters", 1),
    "ELU": _keyed("elu", "alpha", "alpha", 1.0),
    "GELU": _keyed("gelu", "approximate", "approximate", "none"),
    "SiLU": _plain("silu"), "Sigmoid": _plain("sigmoid"), "Hardsigmoid": _plain("hardsigmoid"),
    "Hardswish": _plain("hardswish"), "Tanh": _plain("tanh"), "Softmax": _softmax,
    **{name: _keyed("dropout", "p", "p", 0.5)
       for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout")},
    "Identity": _plain("identity"), "Flatten": _flatten_module,
    "Upsample": _upsample, "UpsamplingNearest2d": _upsample, "UpsamplingBilinear2d": _upsample,
    "PixelShuffle": _keyed("pixel_shuffle", "r", "upscale_factor", None),
    "ChannelShuffle": _keyed("channel_shuffle", "g", "groups", None),
    **{f"ZeroPad{r}d": _zero_pad for r in (1, 2, 3)},
    **{f"ConstantPad{r}d": _zero_pad for r in (1, 2, 3)},
}


# -- functions and tensor methods ---------------------------------------------------------------

def _kw(node, gm, *names, defaults=()):
    """A call's arguments by name (fx's normalisation, or the positions of ``names``)."""
    pair = None
    try:
        pair = node.normalized_arguments(gm, normalize_to_only_use_kwargs=True)
    except Exception:  # noqa: BLE001 - fx cannot normalise every callable
        pair = None
    if pair is not None:
        return dict(pair.kwargs)
    out = dict(zip(names, node.args))
    out.update(node.kwargs)
    for k, v in dict(defaults).items():
        out.setdefault(k, v)
    return out


def _binary(op: str):
    def fn(node, gm, x, tensors):
        if len(tensors) != 2:
            raise Unsupported(f"function {op}", "with a constant (convcalc's merges take "
                                                "tensors)")
        shapes = {tuple(t.meta["tensor_meta"].shape) for t in tensors}
        if len(shapes) != 1:
            raise Unsupported(f"function {op}", "of tensors of different shapes "
                                                "(broadcasting)")
        return op, {}, tensors
    return fn


def _cat(node, gm, x, tensors):
    kw = _kw(node, gm, "tensors", "dim", defaults={"dim": 0})
    dim = kw.get("dim", 0)
    if dim not in (1, 1 - len(x)):
        raise Unsupported("function cat", "along another axis than the channels")
    return "concat", {}, tensors


def _act(op: str, key: str | None = None, torch_key: str | None = None, default=None):
    def fn(node, gm, x, tensors):
        args: dict[str, Any] = {}
        if key is not None:
            kw = _kw(node, gm, "input", torch_key)
            _set(args, key, kw.get(torch_key, default), default)
        return op, args, tensors[:1]
    return fn


def _flatten_fn(node, gm, x, tensors):
    kw = _kw(node, gm, "input", "start_dim", "end_dim", defaults={"start_dim": 0,
                                                                   "end_dim": -1})
    if kw.get("start_dim", 0) != 1 or kw.get("end_dim", -1) not in (-1, len(x) - 1):
        raise Unsupported("function flatten", "other than from axis 1 to the end")
    return "flatten", {}, tensors[:1]


def _reshape(node, gm, x, tensors):
    out = tuple(node.meta["tensor_meta"].shape)
    if len(out) == 2 and out[0] == x[0] and out[1] == math.prod(x[1:]):
        return "flatten", {}, tensors[:1]
    raise Unsupported(f"method {node.target}", "other than flattening to (N, features)")


def _mean(node, gm, x, tensors):
    kw = _kw(node, gm, "input", "dim", "keepdim", defaults={"keepdim": False})
    dims = kw.get("dim")
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    spatial = set(range(2, len(x)))
    if {d % len(x) for d in dims} != spatial:
        raise Unsupported("function mean", "over other axes than all the spatial ones")
    if not kw.get("keepdim"):
        raise Unsupported("function mean", "without keepdim (write flatten after it)")
    return "gap", {}, tensors[:1]


def _adaptive_fn(kind: str):
    def fn(node, gm, x, tensors):
        kw = _kw(node, gm, "input", "output_size")
        size = kw.get("output_size")
        rank = len(x) - 2
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * rank
        if all(s == 1 for s in sizes):
            return ("gap" if kind == "avg" else "gmp"), {}, tensors[:1]
        return f"adaptive_{kind}pool", {"out": _one(sizes)}, tensors[:1]
    return fn


def _pool_fn(kind: str):
    def fn(node, gm, x, tensors):
        kw = _kw(node, gm, "input", "kernel_size", "stride", "padding")
        k = _one(kw["kernel_size"])
        args: dict[str, Any] = {"k": k}
        s = kw.get("stride")
        _set(args, "s", k if s is None or s == [] or s == () else _one(s), k)
        _set(args, "p", _one(kw.get("padding", 0)), 0)
        if kind == "max":
            if kw.get("return_indices"):
                raise Unsupported("function max_pool", "with return_indices")
            _set(args, "d", _one(kw.get("dilation", 1)), 1)
        _set(args, "ceil", bool(kw.get("ceil_mode", False)), False)
        return f"{kind}pool", args, tensors[:1]
    return fn


def _interpolate(node, gm, x, tensors):
    kw = _kw(node, gm, "input", "size", "scale_factor", "mode", "align_corners")
    op, args = _resize(x, kw.get("size"), kw.get("scale_factor"), kw.get("mode", "nearest"),
                       kw.get("align_corners"), "function interpolate")
    return op, args, tensors[:1]


def _pad_fn(node, gm, x, tensors):
    kw = _kw(node, gm, "input", "pad", "mode", "value")
    if kw.get("mode", "constant") != "constant" or (kw.get("value") or 0) != 0:
        raise Unsupported("function pad", "other than zero padding")
    return "pad", {"p": _pairs(list(kw["pad"]), len(x) - 2)}, tensors[:1]


def _getitem(node, gm, x, tensors):
    index = node.args[1]
    if isinstance(index, tuple) and len(index) >= 2 and index[0] == slice(None) and all(
            i == slice(None) for i in index[2:]) and isinstance(index[1], slice) and \
            index[1].step in (None, 1):
        c = x[1]
        start, stop, _ = index[1].indices(c)
        args: dict[str, Any] = {}
        _set(args, "from", start, 0)
        _set(args, "to", stop, c)
        return "slice", args, tensors[:1]
    raise Unsupported("function getitem", "other than a channel slice x[:, a:b]")


def _passthrough(node, gm, x, tensors):
    return None, {}, tensors[:1]  # no row: the value is its input's


def _function_table():
    import torch
    import torch.nn.functional as F

    table = {
        operator.add: ("operator.add", _binary("add")), torch.add: ("torch.add", _binary("add")),
        operator.iadd: ("operator.iadd", _binary("add")),
        operator.mul: ("operator.mul", _binary("mul")), torch.mul: ("torch.mul", _binary("mul")),
        torch.cat: ("torch.cat", _cat), torch.concat: ("torch.concat", _cat),
        torch.flatten: ("torch.flatten", _flatten_fn),
        torch.relu: ("torch.relu", _act("relu")), F.relu: ("F.relu", _act("relu")),
        F.relu6: ("F.relu6", _act("relu6")),
        torch.sigmoid: ("torch.sigmoid", _act("sigmoid")),
        F.sigmoid: ("F.sigmoid", _act("sigmoid")),
        torch.tanh: ("torch.tanh", _act("tanh")), F.tanh: ("F.tanh", _act("tanh")),
        F.silu: ("F.silu", _act("silu")), F.hardswish: ("F.hardswish", _act("hardswish")),
        F.hardsigmoid: ("F.hardsigmoid", _act("hardsigmoid")),
        F.gelu: ("F.gelu", _act("gelu", "approximate", "approximate", "none")),
        F.leaky_relu: ("F.leaky_relu", _act("leaky_relu", "slope", "negative_slope", 0.01)),
        F.elu: ("F.elu", _act("elu", "alpha", "alpha", 1.0)),
        F.dropout: ("F.dropout", _act("dropout", "p", "p", 0.5)),
        torch.mean: ("torch.mean", _mean),
        F.adaptive_avg_pool1d: ("F.adaptive_avg_pool1d", _adaptive_fn("avg")),
        F.adaptive_avg_pool2d: ("F.adaptive_avg_pool2d", _adaptive_fn("avg")),
        F.adaptive_avg_pool3d: ("F.adaptive_avg_pool3d", _adaptive_fn("avg")),
        F.max_pool1d: ("F.max_pool1d", _pool_fn("max")),
        F.max_pool2d: ("F.max_pool2d", _pool_fn("max")),
        F.max_pool3d: ("F.max_pool3d", _pool_fn("max")),
        F.avg_pool1d: ("F.avg_pool1d", _pool_fn("avg")),
        F.avg_pool2d: ("F.avg_pool2d", _pool_fn("avg")),
        F.avg_pool3d: ("F.avg_pool3d", _pool_fn("avg")),
        F.interpolate: ("F.interpolate", _interpolate), F.pad: ("F.pad", _pad_fn),
        operator.getitem: ("operator.getitem", _getitem),
    }
    return table


def _softmax_fn(node, gm, x, tensors):
    kw = _kw(node, gm, "input", "dim")
    if kw.get("dim") not in (1, 1 - len(x)):
        raise Unsupported("function softmax", "over another axis than the channels")
    return "softmax", {}, tensors[:1]


# Tensor methods (``x.relu()``), by name
METHODS: dict[str, Callable] = {
    "add": _binary("add"), "__add__": _binary("add"), "mul": _binary("mul"),
    "relu": _act("relu"), "sigmoid": _act("sigmoid"), "tanh": _act("tanh"),
    "flatten": _flatten_fn, "view": _reshape, "reshape": _reshape, "mean": _mean,
    "softmax": _softmax_fn, "contiguous": _passthrough, "clone": _passthrough,
}


def FUNCTIONS() -> dict:  # noqa: N802 - the table's name; built lazily (it needs torch)
    """Function object → (name shown in the README, mapper)."""
    import torch.nn.functional as F

    table = _function_table()
    table[F.softmax] = ("F.softmax", _softmax_fn)
    return table


def supported() -> dict[str, list[str]]:
    """What the importer maps, for the README: modules (torch.nn class names), functions,
    tensor methods — generated from the tables."""
    return {"modules": sorted(f"nn.{k}" for k in MODULES),
            "functions": sorted({name for name, _ in FUNCTIONS().values()}),
            "methods": sorted(f"Tensor.{k}" for k in METHODS if not k.startswith("__"))}


# -- tracing ------------------------------------------------------------------------------------

def load_callable(source: str):
    """``package.module:callable`` → the ``nn.Module`` (a module instance, or a class or
    factory called without arguments)."""
    import torch

    module_name, _, attr = source.partition(":")
    if not module_name or not attr:
        raise SpecError(f"import: {source!r} is not package.module:callable",
                        hint="e.g. convcalc import torchvision.models:resnet50 --input "
                             "3x224x224, or a file ending in .onnx")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # the current directory, as `python -m` would
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise SpecError(f"import: cannot import module '{module_name}' ({err.name or err})",
                        hint="run from the directory that holds it, or install it") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SpecError(f"import: module '{module_name}' has no '{attr}'")
        obj = getattr(obj, part)
    if not isinstance(obj, torch.nn.Module):
        if not callable(obj):
            raise SpecError(f"import: {source} is neither an nn.Module nor callable")
        obj = obj()
    if not isinstance(obj, torch.nn.Module):
        raise SpecError(f"import: {source}() returned a {type(obj).__name__}, not an "
                        "nn.Module")
    return obj


def trace(model, input_shape) -> tuple[list, dict[str, tuple], dict[str, str]]:
    """The nodes of ``model`` on one zero sample of ``input_shape`` (channels first), the
    (input shape, output shape) of each by name (batch 1 included), and each node's module
    path (for modules; the calling module for functions)."""
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    from .graph import INPUT, Node

    model.eval()
    gm = _symbolic_trace(model)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(torch.zeros(1, *input_shape, device=device))
    except Exception as err:  # noqa: BLE001 - the model's own failure, in torch's words
        shown = "x".join(map(str, input_shape))
        raise SpecError(f"import: the model fails on a zero input of {shown} "
                        f"({type(err).__name__})",
                        hint="check --input: channels first, then the spatial sizes") from None
    gm.graph.eliminate_dead_code()
    functions = FUNCTIONS()
    names: dict[Any, str] = {}  # fx node → node name (or, for pass-throughs, its input's)
    nodes: list = []
    shapes: dict[str, tuple] = {}
    owners: dict[str, str] = {}
    calls: dict[str, int] = {}
    unsupported: dict[str, list[str]] = {}
    output = None

    def tensor(n) -> bool:
        return hasattr(n, "meta") and hasattr(n.meta.get("tensor_meta"), "shape")

    for n in gm.graph.nodes:
        if n.op == "placeholder":
            names[n] = INPUT
            continue
        if n.op == "output":
            output = n.args[0]
            continue
        if n.op == "get_attr" or not tensor(n):
            continue  # parameters and shape arithmetic (x.size(0)): not layers
        ins = [a for a in _flat_args(n) if tensor(a)]
        x = tuple(ins[0].meta["tensor_meta"].shape) if ins else ()
        where = _scope(n)
        try:
            if n.op == "call_module":
                sub = gm.get_submodule(n.target)
                kind = type(sub).__name__
                if kind not in MODULES or not type(sub).__module__.startswith("torch.nn"):
                    raise Unsupported(f"module {kind}")
                op, args = MODULES[kind](sub, x)
                count = calls.get(n.target, 0)
                calls[n.target] = count + 1
                if count and any(True for _ in sub.parameters()):
                    raise Unsupported(f"module {kind}", "called more than once with its "
                                      "parameters (weight sharing): convcalc's YAML gives "
                                      "every row its own weights")
                name = n.target if not count else f"{n.target}.{count}"
                reads = ins[:1]
                owner = n.target
            else:
                if n.op == "call_function":
                    entry = functions.get(n.target)
                    if entry is None:
                        raise Unsupported(f"function {_fn_name(n.target)}")
                    mapper = entry[1]
                else:
                    mapper = METHODS.get(n.target)
                    if mapper is None:
                        raise Unsupported(f"method Tensor.{n.target}")
                op, args, reads = mapper(n, gm, x, ins)
                name = f"{where}.{n.name}" if where else n.name
                owner = where
        except Unsupported as err:
            path = n.target if n.op == "call_module" else (f"{where}.{n.name}" if where
                                                            else n.name)
            key = err.what + (f" {err.why}" if err.why else "")
            unsupported.setdefault(key, []).append(path)
            names[n] = INPUT if not ins else names.get(ins[0], INPUT)
            continue
        if op is None:  # a pass-through (x.contiguous()): the name of its input
            names[n] = names[reads[0]]
            continue
        inputs = [names[r] for r in reads]
        nodes.append(Node(name, op, args, inputs))
        names[n] = name
        shapes[name] = (x, tuple(n.meta["tensor_meta"].shape))
        owners[name] = owner
    if unsupported:
        listed = "; ".join(f"{what} ({', '.join(paths[:4])}{', …' if len(paths) > 4 else ''})"
                           for what, paths in unsupported.items())
        raise SpecError(f"import: {sum(map(len, unsupported.values()))} call(s) convcalc "
                        f"cannot map: {listed}",
                        hint="`convcalc import --help` and the README list what is supported")
    if not (hasattr(output, "meta") and tensor(output)):
        raise SpecError("import: the model's output is not one tensor",
                        hint="return a single tensor from forward")
    if not nodes or names.get(output) != nodes[-1].name:
        raise SpecError("import: the model's output is not its last layer")
    return nodes, shapes, owners


def _flat_args(n):
    out = []

    def add(a):
        if isinstance(a, (list, tuple)):
            for e in a:
                add(e)
        elif hasattr(a, "op") and hasattr(a, "meta"):
            out.append(a)

    for a in n.args:
        add(a)
    for a in n.kwargs.values():
        add(a)
    return out


def _scope(n) -> str:
    stack = n.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    key = list(stack)[-1]
    value = stack[key]
    return value[0] if isinstance(value, tuple) else str(key)


def _fn_name(fn) -> str:
    module = getattr(fn, "__module__", None) or ""
    return f"{module}.{getattr(fn, '__name__', repr(fn))}".lstrip(".")


def _symbolic_trace(model):
    """fx's trace, keeping whole any custom module fx cannot trace through (it iterates over
    a shape, or branches on a value): those end up listed as unsupported."""
    import torch.fx

    opaque: set = set()
    for _, sub in model.named_modules():
        if type(sub).__module__.startswith("torch.nn"):
            continue
        try:
            torch.fx.symbolic_trace(sub)
        except Exception:  # noqa: BLE001 - any failure: keep it whole
            opaque.add(sub)
    # keep only the innermost: a parent fails because its child does
    inner = {m for m in opaque if not any(c in opaque for c in m.modules() if c is not m)}

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return m in inner or super().is_leaf_module(m, qualname)

    tracer = Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as err:  # noqa: BLE001 - torch's words are not convcalc's message
        raise SpecError(f"import: torch.fx cannot trace the model ({type(err).__name__})",
                        hint="convcalc traces with torch.fx.symbolic_trace; control flow "
                             "on tensor values cannot be traced") from None
    return torch.fx.GraphModule(tracer.root, graph, type(model).__name__)


def import_torch(source: str, input_shape, name: str | None = None) -> str:
    """``package.module:callable`` → the YAML text; ``input_shape`` is ``--input``
    (channels first; None when not given)."""
    import importlib.util
    import warnings

    if ":" not in source:
        raise SpecError(f"import: {source!r} is not package.module:callable",
                        hint="e.g. convcalc import tests.torch_models:resnet50 --input "
                             "3x224x224")
    if input_shape is None:
        raise SpecError("import: a PyTorch module needs --input (channels first, e.g. "
                        "3x224x224)", hint=f"convcalc import {source} --input 3x224x224")
    if not all(isinstance(v, int) for v in input_shape):
        raise SpecError("--input: a PyTorch model is traced on numbers, not symbols",
                        hint="write 3x224x224")
    if importlib.util.find_spec("torch") is None:
        raise SpecError("import: a PyTorch model needs torch, which is not installed",
                        hint="pip install 'convcalc[torch]'")

    from .graph import write_yaml

    with warnings.catch_warnings():  # torch's own (NumPy missing, deprecations): not ours
        warnings.simplefilter("ignore")
        model = load_callable(source)
        nodes, _, _ = trace(model, input_shape)
    return write_yaml(nodes, tuple(input_shape), name or source.rpartition(":")[2],
                      source=source)


def readme_list() -> str:
    """The README's list of what the importer maps (generated; a test keeps them equal)."""
    listed = supported()
    return "\n".join(f"- {what}: " + ", ".join(f"`{n}`" for n in names)
                     for what, names in (("modules", listed["modules"]),
                                         ("functions", listed["functions"]),
                                         ("tensor methods", listed["methods"])))
