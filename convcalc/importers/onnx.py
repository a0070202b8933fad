"""ONNX → convcalc YAML (SPEC §7). The only module that imports ``onnx``, lazily.

Reads the graph, never the weights: a weight's ``dims`` are enough for every count, so files
whose initializers carry only their shapes (stripped, they fail ``onnx.checker``, which is not
run), files with external data (``NAME.onnx.data``, not read: ``load_external_data=False``) and
files of hundreds of MB work the same. Shapes come from the graph's ``value_info`` (the
dynamo exporter writes them) or, when some are missing (the legacy exporter), from ONNX's
shape inference on a copy of the graph without the large weights' data. A symbolic batch
dimension is batch 1.

Each ONNX node, or a pattern of nodes, becomes a catalog op (:data:`OP_TYPES` lists them, and
the README's list is generated from it); integer arithmetic on shapes (Shape, Gather, Concat,
Slice, … — the legacy exporter computes Slice and Resize bounds at run time) is folded to
constants first. Layers are named after the module paths: the dynamo exporter's
``pkg.torch.onnx.name_scopes`` metadata (a weight named ``layer1.0.conv1.weight`` names its
conv, whose BN the exporter folded into it), or the legacy exporter's node names
(``/layer1/layer1.0/conv1/Conv``). Anything it cannot map is one error listing every
unsupported op type with its node names — never a dropped layer.

The YAML is checked against the file before it is returned: every row's output shape must
equal the ONNX tensor it stands for (a mismatch is a bug in convcalc, reported as one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import Loc, SpecError
from .graph import INPUT, Node, layout

# ONNX op type → what it becomes (the README's list is generated from this table)
OP_TYPES = {
    "Conv": "conv (1-, 2-, 3-D; groups, dilation, asymmetric `pads` as [lo, hi] pairs, "
            "`auto_pad`)",
    "ConvTranspose": "deconv (output_padding)",
    "BatchNormalization": "bn (an exporter that folds BN into the conv leaves a conv bias)",
    "InstanceNormalization": "in {affine: true}",
    "Gemm": "linear (transB; bias from C)",
    "MatMul": "linear without bias, or with the Add of a bias vector that follows it",
    "Relu": "relu",
    "Clip": "relu6 for Clip(0, 6), relu for Clip(0, ∞)",
    "LeakyRelu": "leaky_relu",
    "Elu": "elu",
    "PRelu": "prelu",
    "Sigmoid": "sigmoid; with Mul(x, Sigmoid(x)): silu",
    "HardSigmoid": "hardsigmoid (alpha 1/6, beta 1/2)",
    "HardSwish": "hardswish",
    "Tanh": "tanh",
    "Softmax": "softmax over channels",
    "MaxPool": "maxpool (ceil_mode, dilations, asymmetric pads)",
    "AveragePool": "avgpool (ceil_mode, count_include_pad)",
    "GlobalAveragePool": "gap; GlobalAveragePool–Conv–act–Conv–gate–Mul: se",
    "GlobalMaxPool": "gmp",
    "ReduceMean": "gap over the spatial axes (keepdims; without: gap then flatten)",
    "ReduceMax": "gmp over the spatial axes (keepdims; without: gmp then flatten)",
    "Flatten": "flatten (axis 1)",
    "Reshape": "flatten (to [N, -1]); Reshape–Transpose–Reshape: channel_shuffle; to the "
               "same shape: nothing",
    "Transpose": "in channel_shuffle only",
    "Concat": "concat (on channels, any number of inputs); Gather–Unsqueeze–Mul–Add–Concat "
              "of the input's channels (inception's input transform): bn {affine: false}",
    "Add": "add (residual; tensors of one shape); with a bias vector after MatMul: linear",
    "Mul": "mul (tensors of one shape); in silu and se",
    "Split": "slice per output (on channels)",
    "Slice": "slice on channels, crop on spatial axes (constant or foldable bounds, step 1)",
    "Pad": "pad (constant zeros)",
    "Resize": "upsample (nearest, linear; scale or size; align_corners)",
    "Dropout": "nothing (inference)",
    "Identity": "nothing",
}
# integer arithmetic on shapes, folded to constants (no layer)
FOLDED = ("Constant", "Shape", "Gather", "Transpose", "CastLike", "Unsqueeze", "Squeeze", "Concat", "Add", "Sub",
          "Mul", "Div", "Cast", "Slice", "Identity", "Reshape", "ConstantOfShape", "Range",
          "Floor", "Ceil", "Neg", "Abs", "Min", "Max", "Size", "Equal", "Where", "Expand")
MAX_CONST = 1024  # elements: a tensor folded or read as a constant; weights are never read

NAME_SCOPES = "pkg.torch.onnx.name_scopes"


def onnx_yaml(path: str, name: str | None = None, input_shape: list | None = None) -> str:
    """The YAML for the ONNX file at ``path``."""
    return read(path, name, input_shape).text


@dataclass
class Imported:
    nodes: list[Node]
    input_shape: tuple
    name: str
    text: str
    order: list  # per row of the YAML's walk, the node it comes from
    tensors: dict = field(default_factory=dict)  # node name → the ONNX tensor it stands for


def read(path: str, name: str | None = None, input_shape: list | None = None) -> Imported:
    model = _load(path)
    conv = _Converter(model, path, input_shape)
    nodes = conv.convert()
    name = name or os.path.splitext(os.path.basename(path))[0]
    lay = layout(nodes, conv.input_shape, name, source=os.path.basename(path))
    imported = Imported(nodes, conv.input_shape, name, lay.text, lay.order, conv.tensor_of)
    _verify(imported, conv, path)
    return imported


def _load(path: str):
    try:
        import onnx
    except ImportError:
        raise SpecError("reading ONNX files needs the onnx package", loc=Loc(path),
                        hint="pip install 'convcalc[onnx]'") from None
    if os.path.isdir(path):
        raise SpecError("is a directory, not an ONNX file", loc=Loc(path))
    if not os.path.exists(path):
        raise SpecError("no such file", loc=Loc(path))
    try:
        model = onnx.load(path, load_external_data=False)
    except OSError as err:
        raise SpecError(f"cannot read: {err.strerror}", loc=Loc(path)) from None
    except Exception:  # protobuf's DecodeError and kin: not a model
        raise SpecError("not an ONNX model (the file does not parse as one)",
                        loc=Loc(path)) from None
    if not model.graph.node:
        raise SpecError("the ONNX graph has no nodes", loc=Loc(path))
    return model


# -- the converter ------------------------------------------------------------------------------

class _Unmapped(Exception):
    def __init__(self, what: str = "") -> None:
        super().__init__(what)
        self.what = what


class _Converter:
    def __init__(self, model, path: str, input_override: list | None) -> None:
        import onnx
        from onnx import numpy_helper

        self.onnx = onnx
        self.numpy_helper = numpy_helper
        self.model = model
        self.graph = model.graph
        self.path = path
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        g = self.graph
        self.init = {t.name: t for t in g.initializer}
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list] = {}
        for n in g.node:
            for o in n.output:
                if o:
                    self.producer[o] = n
            for i in n.input:
                if i:
                    self.consumers.setdefault(i, []).append(n)
        self.outputs = [o.name for o in g.output]
        self.graph_inputs = {i.name: i for i in g.input}
        self._pick_input(input_override)
        self.shapes: dict[str, tuple] = {}
        self._collect_shapes(g)
        self.consts: dict[str, Any] = {}
        if self.rewrite_input or self._missing():
            self._infer_shapes()
        self._fold_constants()
        if self._missing():
            # shapes that depend on run-time arithmetic (the legacy exporter's chunk): infer
            # again with the folded values as constants
            self._infer_shapes()
            self._fold_constants()
        self.alias: dict[str, str] = {self.input_name: INPUT}  # data tensor → node name
        self.nodes: list[Node] = []
        self.names: set[str] = set()
        self.tensor_of: dict[str, str] = {}
        self.absorbed: set[int] = set()  # id() of nodes a pattern consumed
        self.unmapped: dict[str, list[str]] = {}

    # -- inputs and shapes ---------------------------------------------------------------------

    def _pick_input(self, override) -> None:
        g = self.graph
        candidates = [i for i in g.input if i.name not in self.init]
        data = [i for i in candidates if not self._is_weight_input(i.name)]
        if len(data) > 1 and data[0] is candidates[0] and all(
                "." in i.name or i.name.startswith("onnx::") for i in data[1:]):
            # export_params=False: the weights are inputs too, after the model's own, named
            # as parameters (layer1.0.conv1.weight, onnx::Einsum_605) — one read where no op
            # takes weights (an Einsum's operand) is still a weight
            data = data[:1]
        if len(data) != 1:
            listed = ", ".join(i.name for i in data) or "none"
            raise SpecError(f"convcalc reads networks with one input; the ONNX graph has "
                            f"{len(data)} ({listed})", loc=Loc(self.path))
        value = data[0]
        self.input_name = value.name
        dims = []
        for i, d in enumerate(value.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(d.dim_value)
            elif i == 0:
                dims.append(1)  # a symbolic batch is batch 1
            else:
                dims.append(d.dim_param or "?")
        if override is not None:
            if len(override) != len(dims) - 1 or override[0] != dims[1]:
                raise SpecError(f"--input: {'x'.join(map(str, override))} does not fit the "
                                f"ONNX input '{value.name}' of shape "
                                f"{'x'.join(map(str, dims[1:]))} (the same channels and "
                                f"number of spatial sizes)")
            if any(not isinstance(v, int) for v in override):
                raise SpecError("--input: an ONNX file needs numeric sizes")
            dims = [dims[0], *override]
            self.rewrite_input = True
        else:
            self.rewrite_input = False
        bad = [d for d in dims[1:] if not isinstance(d, int)]
        if bad:
            raise SpecError(f"the ONNX input '{value.name}' has the symbolic size "
                            f"'{bad[0]}'", loc=Loc(self.path),
                            hint="give the size: convcalc import FILE --input 3x224x224")
        if dims[0] != 1:
            raise SpecError(f"the ONNX input '{value.name}' has batch {dims[0]}; convcalc "
                            f"counts per sample", loc=Loc(self.path),
                            hint="export with batch 1 (or a symbolic batch)")
        if len(dims) < 2 or len(dims) > 5:
            raise SpecError(f"the ONNX input '{value.name}' has shape {dims}; convcalc takes "
                            f"batch, channels and 0–3 spatial sizes", loc=Loc(self.path))
        self.in_dims = tuple(dims)
        self.input_shape = tuple(dims[1:])

    def _is_weight_input(self, name: str) -> bool:
        """A graph input read only where weights go (export_params=False puts them there)."""
        users = self.consumers.get(name, [])
        if not users:
            return True
        for n in users:
            pos = [i for i, x in enumerate(n.input) if x == name]
            if n.op_type == "Identity":
                continue
            if not all(p >= 1 and n.op_type in _WEIGHT_POSITIONS for p in pos):
                return False
        return True

    def _collect_shapes(self, g) -> None:
        for vi in [*g.value_info, *g.input, *g.output]:
            dims = self._dims(vi)
            if dims is not None:
                self.shapes[vi.name] = dims
        for t in g.initializer:
            self.shapes[t.name] = tuple(t.dims)
        self.shapes[self.input_name] = self.in_dims

    def _dims(self, vi):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            return None
        dims = []
        for i, d in enumerate(t.shape.dim):
            if d.HasField("dim_value"):
                dims.append(d.dim_value)
            elif i == 0:
                dims.append(1)
            else:
                return None
        return tuple(dims)

    def _missing(self) -> bool:
        return any(o and o not in self.shapes and o not in self.consts
                   for n in self.graph.node for o in n.output)

    def _infer_shapes(self) -> None:
        """ONNX shape inference on a copy without the weights' data (dims only; small integer
        tensors keep their values, shape arithmetic needs them)."""
        onnx = self.onnx
        g = self.graph
        folded = {o for n in g.node if n.output and all(o in self.consts or not o
                                                       for o in n.output) for o in n.output}
        nodes = [n for n in g.node if not (n.output and all(o in folded or not o
                                                             for o in n.output))]
        used = {i for n in nodes for i in n.input}
        extra = [self.numpy_helper.from_array(self.consts[o], o) for o in folded
                 if o and o in used]
        graph = onnx.helper.make_graph(
            nodes, g.name or "g",
            [self._input_value_info(i) for i in g.input],
            [onnx.helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None)
             for o in g.output] if self.rewrite_input else list(g.output),
            [self._light(t) for t in g.initializer] + extra)
        model = onnx.helper.make_model(graph, opset_imports=list(self.model.opset_import))
        model.ir_version = self.model.ir_version
        try:
            inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception as err:  # a malformed graph: say so, do not crash
            raise SpecError(f"ONNX shape inference failed: {' '.join(str(err).split())[:300]}",
                            loc=Loc(self.path)) from None
        self.shapes.clear()
        self._collect_shapes(inferred.graph)

    def _input_value_info(self, vi):
        if vi.name != self.input_name:
            return vi
        return self.onnx.helper.make_tensor_value_info(
            vi.name, vi.type.tensor_type.elem_type, list(self.in_dims))

    def _light(self, t):
        """An initializer without its data when it is large (dims and type only)."""
        n = 1
        for d in t.dims:
            n *= d
        if n <= MAX_CONST and self._has_data(t):
            return t
        light = self.onnx.TensorProto()
        light.name = t.name
        light.data_type = t.data_type
        light.dims.extend(t.dims)
        # a zero-filled stand-in: shape inference reads dims, but wants a well-formed tensor
        light.raw_data = b"\0" * (n * _itemsize(t.data_type)) if n <= MAX_CONST else b""
        return light

    def _has_data(self, t) -> bool:
        if t.data_location == self.onnx.TensorProto.EXTERNAL:
            return False
        return bool(t.raw_data) or any(len(getattr(t, f)) for f in (
            "float_data", "int32_data", "int64_data", "double_data", "uint64_data"))

    # -- constants ----------------------------------------------------------------------------

    def _fold_constants(self) -> None:
        import numpy as np

        self.np = np
        for t in self.graph.initializer:
            n = int(np.prod(t.dims)) if t.dims else 1
            if n <= MAX_CONST and self._has_data(t):
                try:
                    self.consts[t.name] = self.numpy_helper.to_array(t)
                except Exception:
                    pass
        for node in self.graph.node:
            if node.op_type not in FOLDED:
                continue
            try:
                values = self._eval(node)
            except Exception:
                values = None
            if values is None:
                continue
            for name, v in zip(node.output, values):
                if v is not None and v.size <= MAX_CONST:
                    self.consts[name] = v

    def _eval(self, node):
        np = self.np
        op = node.op_type
        attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
        if op == "Constant":
            if "value" in attrs:
                return [self.numpy_helper.to_array(attrs["value"])]
            for key in ("value_int", "value_float"):
                if key in attrs:
                    return [np.array(attrs[key])]
            for key in ("value_ints", "value_floats"):
                if key in attrs:
                    return [np.array(attrs[key])]
            return None
        if op == "Shape":
            dims = self.shapes.get(node.input[0])
            if dims is None:
                return None
            start, end = attrs.get("start", 0), attrs.get("end", None)
            return [np.array(dims[start:end], dtype=np.int64)]
        if op == "Size":
            dims = self.shapes.get(node.input[0])
            return None if dims is None else [np.array(int(np.prod(dims)), dtype=np.int64)]
        ins = [self.consts.get(i) if i else None for i in node.input]
        if op == "CastLike":  # the value, in the type of a tensor that may be data
            return None if ins[0] is None else [ins[0]]
        if op == "ConstantOfShape":
            if ins[0] is None:
                return None
            value = self.numpy_helper.to_array(attrs["value"]) if "value" in attrs \
                else np.zeros(1, np.float32)
            return [np.full(tuple(int(x) for x in ins[0]), value.reshape(-1)[0])]
        if any(v is None for v, name in zip(ins, node.input) if name):
            return None
        if op == "Gather":
            return [np.take(ins[0], ins[1], axis=attrs.get("axis", 0))]
        if op == "Unsqueeze":
            axes = attrs.get("axes", None if len(ins) < 2 else list(ins[1]))
            out = ins[0]
            for a in sorted(int(a) % (out.ndim + len(axes)) for a in axes):
                out = np.expand_dims(out, a)
            return [out]
        if op == "Squeeze":
            axes = attrs.get("axes", None if len(ins) < 2 else list(ins[1]))
            return [np.squeeze(ins[0], axis=None if axes is None else tuple(int(a) for a in axes))]
        if op == "Concat":
            return [np.concatenate(ins, axis=attrs["axis"])]
        if op in ("Add", "Sub", "Mul", "Div", "Min", "Max", "Equal"):
            a, b = ins
            if op == "Div" and a.dtype.kind in "iu":
                return [np.trunc(a / b).astype(a.dtype)]  # ONNX integer Div truncates
            fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
                  "Min": np.minimum, "Max": np.maximum, "Equal": np.equal}[op]
            return [fn(a, b)]
        if op == "Where":
            return [np.where(*ins)]
        if op in ("Floor", "Ceil", "Neg", "Abs"):
            return [{"Floor": np.floor, "Ceil": np.ceil, "Neg": np.negative,
                     "Abs": np.abs}[op](ins[0])]
        if op == "Cast":
            to = self.onnx.helper.tensor_dtype_to_np_dtype(attrs["to"])
            return [ins[0].astype(to)]
        if op == "Identity":
            return [ins[0]]
        if op == "Transpose":
            return [np.transpose(ins[0], attrs.get("perm"))]
        if op == "Reshape":
            shape = [int(x) for x in ins[1]]
            shape = [ins[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            return [ins[0].reshape(shape)]
        if op == "Expand":
            return [ins[0] * np.ones(tuple(int(x) for x in ins[1]), dtype=ins[0].dtype)]
        if op == "Range":
            return [np.arange(ins[0], ins[1], ins[2])]
        if op == "Slice":
            data, starts, ends = ins[0], ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            index = [slice(None)] * data.ndim
            for s, e, a, st in zip(starts, ends, axes, steps):
                index[int(a)] = slice(int(s), int(e), int(st))
            return [data[tuple(index)]]
        return None

    def const(self, name: str):
        return self.consts.get(name) if name else None

    # -- parameters ---------------------------------------------------------------------------

    def param(self, name: str) -> tuple | None:
        """The dims of a weight: an initializer or a graph input, through Identity nodes
        (the legacy exporter routes shared initializers through them)."""
        seen = 0
        while name in self.producer and self.producer[name].op_type == "Identity" and seen < 100:
            name = self.producer[name].input[0]
            seen += 1
        if name in self.init:
            return tuple(self.init[name].dims)
        if name in self.graph_inputs and name != self.input_name:
            return self._dims(self.graph_inputs[name])
        return None

    def is_param(self, name: str) -> bool:
        return bool(name) and name not in self.alias and self.param(name) is not None

    def is_const(self, name: str) -> bool:
        return name in self.consts or (name in self.init) or self.is_param(name)

    # -- naming ---------------------------------------------------------------------------------

    def module_path(self, node) -> str:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = meta.get(NAME_SCOPES)
        if scopes:
            try:
                import ast

                parts = ast.literal_eval(scopes)
            except (ValueError, SyntaxError):
                parts = None
            if isinstance(parts, list) and len(parts) >= 2 and parts[-2]:
                return str(parts[-2])
        name = node.name
        if name.startswith("/"):
            comps: list[str] = []
            for comp in name.strip("/").split("/")[:-1]:
                if comps and comp.startswith(comps[-1] + "."):
                    comps[-1] = comp
                else:
                    comps.append(comp)
            if comps:
                return ".".join(comps)
        return ""

    def node_path(self, node, weight: str | None = None) -> str:
        """The module path: a conv's or linear's weight names it (``layer1.0.conv1.weight``;
        the dynamo exporter files a conv whose BN it folded under the BN's scope) when the
        weight is its own (byte-identical initializers are shared); else the scopes or the
        node name; else the op type."""
        if weight and weight.endswith(".weight") and not weight.startswith("onnx::") and \
                len(self.consumers.get(weight, [])) == 1:
            return weight[: -len(".weight")]
        return self.module_path(node) or node.op_type.lower()

    def node_name(self, node, weight: str | None = None) -> str:
        return self.unique(self.node_path(node, weight))

    def unique(self, path: str) -> str:
        name, k = path, 1
        while name in self.names:
            name, k = f"{path}_{k}", k + 1
        self.names.add(name)
        return name

    # -- emitting -----------------------------------------------------------------------------

    def data(self, tensor: str) -> str:
        if tensor not in self.alias:
            raise _Unmapped("reads a tensor convcalc could not map")
        return self.alias[tensor]

    def emit(self, node, op: str, args: dict, inputs: list[str], output: str,
             name: str | None = None) -> str:
        name = name or self.node_name(node)
        self.nodes.append(Node(name, op, args, inputs))
        self.alias[output] = name
        self.tensor_of[name] = output
        return name

    def fail(self, node, what: str = "") -> None:
        key = node.op_type + (f" ({what})" if what else "")
        self.unmapped.setdefault(key, []).append(node.name or f"#{list(self.graph.node).index(node)}")

    def convert(self) -> list[Node]:
        poisoned: set[str] = set()  # outputs of nodes that could not be mapped
        constant: set[str] = set()  # outputs computed from constants and weights alone
        for node in self.graph.node:
            if id(node) in self.absorbed:
                continue
            if all(o in self.consts or not o for o in node.output) and node.output:
                continue  # shape arithmetic, folded
            if any(i in poisoned for i in node.input) and node.op_type in HANDLERS:
                poisoned.update(node.output)  # listed once, where it starts
                continue
            if node.input and all(not i or (i not in self.alias and (
                    i in self.consts or self.is_param(i) or i in constant)) for i in node.input):
                constant.update(node.output)  # arithmetic on weights and constants only
                continue
            handler = HANDLERS.get(node.op_type)
            if node.domain not in ("", "ai.onnx") or handler is None:
                self.fail(node)
                poisoned.update(node.output)
                continue
            try:
                handler(self, node)
            except _Unmapped as err:
                self.fail(node, err.what)
                poisoned.update(node.output)
        if self.unmapped:
            raise SpecError(_unmapped_message(self.unmapped), loc=Loc(self.path),
                            hint="the README's \"Import from ONNX\" lists the op types "
                                 "convcalc maps")
        out = self.outputs[0] if self.outputs else None
        if out is None or out not in self.alias or self.alias[out] == INPUT:
            raise SpecError("the ONNX graph's output is not computed by any layer",
                            loc=Loc(self.path))
        last = self.alias[out]
        if self.nodes[-1].name != last:
            # the output last (the YAML's network output is its last item); what came after
            # it reads nothing it makes (it is a graph output, read by nothing else)
            node = next(n for n in self.nodes if n.name == last)
            if any(last in n.inputs for n in self.nodes):
                raise SpecError("the ONNX graph's output is also read by other layers; "
                                "convcalc takes the last layer as the output",
                                loc=Loc(self.path))
            self.nodes.remove(node)
            self.nodes.append(node)
        return self.nodes


_WEIGHT_POSITIONS = {"Conv", "ConvTranspose", "BatchNormalization", "InstanceNormalization",
                     "Gemm", "MatMul", "PRelu"}


def _itemsize(data_type: int) -> int:
    return {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8,
            16: 2}.get(data_type, 4)


def _unmapped_message(unmapped: dict[str, list[str]]) -> str:
    parts = []
    for key in sorted(unmapped):
        names = unmapped[key]
        shown = ", ".join(names[:5]) + (f", … ({len(names) - 5} more)" if len(names) > 5 else "")
        parts.append(f"{key}: {shown}")
    count = sum(len(v) for v in unmapped.values())
    return (f"cannot map {count} ONNX node{'s' if count != 1 else ''} to convcalc's ops — "
            + "; ".join(parts))


def _verify(imported: Imported, conv: _Converter, path: str) -> None:
    """Every row's output shape must be the ONNX tensor's (a mismatch is a bug here)."""
    from ..spec import parse
    from ..walk import walk

    report = walk(parse(imported.text, path))
    for row, node in zip(report.rows, imported.order):
        if node is None:
            continue
        dims = conv.shapes.get(imported.tensors.get(node, ""))
        if dims is None:
            continue
        if tuple(row.output.dims) != tuple(dims[1:]):
            raise AssertionError(f"ONNX import: row {row.path} ({row.op}, node {node}) gives "
                                 f"{row.output.dims}, the ONNX tensor has {tuple(dims[1:])}")


# -- handlers: one ONNX op type each (patterns start at their first node) ---------------------

def _attrs(conv: _Converter, node) -> dict:
    out = {}
    for a in node.attribute:
        v = conv.onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _sole_consumer(conv: _Converter, tensor: str):
    users = conv.consumers.get(tensor, [])
    if len(users) != 1 or tensor in conv.outputs:
        return None
    return users[0]


def _next_skipping_identity(conv: _Converter, tensor: str, skipped: list):
    """The sole consumer of ``tensor``, past Identity nodes (the unoptimised dynamo graph's
    ``clone``), which are added to ``skipped``."""
    n = _sole_consumer(conv, tensor)
    while n is not None and n.op_type == "Identity":
        skipped.append(n)
        n = _sole_consumer(conv, n.output[0])
    return n


def _shape(conv: _Converter, tensor: str) -> tuple:
    dims = conv.shapes.get(tensor)
    if dims is None:
        raise _Unmapped("no shape for its input")
    return dims


def _window_pads(attrs: dict, rank: int, n, k, s, d, transposed=False) -> list:
    """ONNX ``pads`` [x1_begin, x2_begin, …, x1_end, x2_end, …] as [lo, hi] per axis;
    ``auto_pad`` SAME_UPPER/SAME_LOWER as ONNX defines it (output ceil(n/s), the odd pad at
    the end / the beginning)."""
    auto = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto == "NOTSET":
        pads = list(attrs.get("pads", [0] * 2 * rank))
        return [[pads[i], pads[i + rank]] for i in range(rank)]
    if auto == "VALID":
        return [[0, 0] for _ in range(rank)]
    if transposed:
        raise _Unmapped(f"auto_pad {auto}")
    out = []
    for ni, ki, si, di in zip(n, k, s, d):
        total = max((-(-ni // si) - 1) * si + (ki - 1) * di + 1 - ni, 0)
        small, big = total // 2, total - total // 2
        out.append([small, big] if auto == "SAME_UPPER" else [big, small])
    return out


def _conv(conv: _Converter, node) -> None:
    a = _attrs(conv, node)
    w = conv.param(node.input[1]) if len(node.input) > 1 else None
    if w is None:
        raise _Unmapped("weights computed at run time")
    xs = _shape(conv, node.input[0])
    rank = len(w) - 2
    g = a.get("group", 1)
    k = list(a.get("kernel_shape", w[2:]))
    s = list(a.get("strides", [1] * rank))
    d = list(a.get("dilations", [1] * rank))
    if xs[1] != w[1] * g:
        raise _Unmapped(f"weights for {w[1] * g} input channels, the input has {xs[1]}")
    x = conv.data(node.input[0])
    args = {"out": w[0], "k": k, "s": s, "p": _window_pads(a, rank, xs[2:], k, s, d),
            "d": d, "g": g, "bias": _has_bias(conv, node, 2)}
    conv.emit(node, "conv", args, [x], node.output[0], conv.node_name(node, node.input[1]))


def _conv_transpose(conv: _Converter, node) -> None:
    a = _attrs(conv, node)
    w = conv.param(node.input[1]) if len(node.input) > 1 else None
    if w is None:
        raise _Unmapped("weights computed at run time")
    if "output_shape" in a:
        raise _Unmapped("output_shape")
    xs = _shape(conv, node.input[0])
    rank = len(w) - 2
    g = a.get("group", 1)
    if xs[1] != w[0]:
        raise _Unmapped(f"weights for {w[0]} input channels, the input has {xs[1]}")
    k = list(a.get("kernel_shape", w[2:]))
    s = list(a.get("strides", [1] * rank))
    d = list(a.get("dilations", [1] * rank))
    args = {"out": w[1] * g, "k": k, "s": s,
            "p": _window_pads(a, rank, xs[2:], k, s, d, transposed=True),
            "op": list(a.get("output_padding", [0] * rank)), "d": d, "g": g,
            "bias": _has_bias(conv, node, 2)}
    x = conv.data(node.input[0])
    conv.emit(node, "deconv", args, [x], node.output[0], conv.node_name(node, node.input[1]))


def _has_bias(conv: _Converter, node, pos: int) -> bool:
    """A bias input that is a parameter (an initializer or a weight input); a computed
    constant (the unoptimised dynamo graph expands a zero bias) holds no parameters."""
    return len(node.input) > pos and bool(node.input[pos]) and conv.is_param(node.input[pos])


def _norm(op: str, args: dict):
    def handler(conv: _Converter, node) -> None:
        if any(o and conv.consumers.get(o) for o in node.output[1:]):
            raise _Unmapped("training-mode outputs")
        scale = conv.param(node.input[1]) if len(node.input) > 1 else None
        xs = _shape(conv, node.input[0])
        if scale is None or _numel(scale) != xs[1]:
            raise _Unmapped("scale is not one value per channel")
        conv.emit(node, op, dict(args), [conv.data(node.input[0])], node.output[0])
    return handler


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _gemm(conv: _Converter, node) -> None:
    a = _attrs(conv, node)
    if a.get("transA", 0):
        raise _Unmapped("transA")
    w = conv.param(node.input[1])
    xs = _shape(conv, node.input[0])
    if w is None or len(w) != 2 or len(xs) != 2:
        raise _Unmapped("not a linear layer on a flat input")
    cin, out = (w[1], w[0]) if a.get("transB", 0) else (w[0], w[1])
    if cin != xs[1]:
        raise _Unmapped(f"weights for {cin} inputs, the input has {xs[1]}")
    bias = _has_bias(conv, node, 2) and a.get("beta", 1.0) != 0
    conv.emit(node, "linear", {"out": out, "bias": bias}, [conv.data(node.input[0])],
              node.output[0], conv.node_name(node, node.input[1]))


def _matmul(conv: _Converter, node) -> None:
    w = conv.param(node.input[1])
    xs = _shape(conv, node.input[0])
    if w is None or len(w) != 2 or len(xs) != 2 or w[0] != xs[1]:
        raise _Unmapped("not a linear layer on a flat input")
    out_tensor, bias = node.output[0], False
    add = _sole_consumer(conv, node.output[0])
    if add is not None and add.op_type == "Add":
        other = [i for i in add.input if i != node.output[0]]
        dims = conv.param(other[0]) if len(other) == 1 else None
        if dims is not None and _numel(dims) == w[1]:
            bias, out_tensor = True, add.output[0]
            conv.absorbed.add(id(add))
    conv.emit(node, "linear", {"out": w[1], "bias": bias}, [conv.data(node.input[0])],
              out_tensor, conv.node_name(node, node.input[1]))


def _simple(op: str):
    def handler(conv: _Converter, node) -> None:
        conv.emit(node, op, {}, [conv.data(node.input[0])], node.output[0])
    return handler


def _alias(conv: _Converter, node) -> None:
    if node.input[0] not in conv.alias and conv.is_param(node.input[0]):
        return  # a weight routed through Identity (the legacy exporter's shared initializers)
    if node.op_type == "Dropout" and len(node.output) > 1 and conv.consumers.get(node.output[1]):
        raise _Unmapped("its mask is read")
    conv.alias[node.output[0]] = conv.data(node.input[0])


def _float(v) -> float:
    return float(f"{float(v):.7g}")  # float32 attributes, written as a person would


def _leaky_relu(conv: _Converter, node) -> None:
    slope = _float(_attrs(conv, node).get("alpha", 0.01))
    conv.emit(node, "leaky_relu", {"slope": slope}, [conv.data(node.input[0])], node.output[0])


def _elu(conv: _Converter, node) -> None:
    alpha = _float(_attrs(conv, node).get("alpha", 1.0))
    conv.emit(node, "elu", {"alpha": alpha}, [conv.data(node.input[0])], node.output[0])


def _prelu(conv: _Converter, node) -> None:
    slope = conv.param(node.input[1])
    if slope is None:
        raise _Unmapped("slope computed at run time")
    conv.emit(node, "prelu", {"num": _numel(slope)}, [conv.data(node.input[0])],
              node.output[0], conv.node_name(node, node.input[1]))


def _softmax(conv: _Converter, node) -> None:
    xs = _shape(conv, node.input[0])
    axis = _attrs(conv, node).get("axis", -1 if conv.opset >= 13 else 1)
    if axis % len(xs) != 1 or (conv.opset < 13 and len(xs) != 2):
        raise _Unmapped(f"over axis {axis}")
    conv.emit(node, "softmax", {}, [conv.data(node.input[0])], node.output[0])


def _hardsigmoid_ok(conv: _Converter, node) -> bool:
    a = _attrs(conv, node)
    return abs(a.get("alpha", 0.2) - 1 / 6) < 1e-6 and abs(a.get("beta", 0.5) - 0.5) < 1e-6


def _hardsigmoid(conv: _Converter, node) -> None:
    if not _hardsigmoid_ok(conv, node):
        raise _Unmapped("alpha is not 1/6 or beta not 1/2")
    conv.emit(node, "hardsigmoid", {}, [conv.data(node.input[0])], node.output[0])


def _clip_kind(conv: _Converter, node) -> str | None:
    a = _attrs(conv, node)
    lo, hi = a.get("min"), a.get("max")
    for pos, key in ((1, "lo"), (2, "hi")):
        if len(node.input) > pos and node.input[pos]:
            v = conv.const(node.input[pos])
            if v is None:
                return None
            if key == "lo":
                lo = float(v.reshape(-1)[0])
            else:
                hi = float(v.reshape(-1)[0])
    if lo == 0 and hi == 6:
        return "relu6"
    if lo == 0 and (hi is None or hi == float("inf")):
        return "relu"
    return None


def _clip(conv: _Converter, node) -> None:
    kind = _clip_kind(conv, node)
    if kind is None:
        raise _Unmapped("bounds other than (0, 6) or (0, ∞)")
    conv.emit(node, kind, {}, [conv.data(node.input[0])], node.output[0])


def _sigmoid(conv: _Converter, node) -> None:
    x = node.input[0]
    mul = _sole_consumer(conv, node.output[0])
    if mul is not None and mul.op_type == "Mul" and sorted(mul.input) == sorted(
            [x, node.output[0]]):
        conv.absorbed.add(id(mul))
        conv.emit(node, "silu", {}, [conv.data(x)], mul.output[0])
        return
    conv.emit(node, "sigmoid", {}, [conv.data(x)], node.output[0])


def _pool(op: str):
    def handler(conv: _Converter, node) -> None:
        a = _attrs(conv, node)
        if len(node.output) > 1 and conv.consumers.get(node.output[1]):
            raise _Unmapped("indices")
        xs = _shape(conv, node.input[0])
        k = list(a["kernel_shape"])
        rank = len(k)
        s = list(a.get("strides", [1] * rank))
        d = list(a.get("dilations", [1] * rank))
        args = {"k": k, "s": s, "p": _window_pads(a, rank, xs[2:], k, s, d)}
        if op == "maxpool":
            args["d"] = d
        elif any(x != 1 for x in d):
            raise _Unmapped("dilations")
        args["ceil"] = bool(a.get("ceil_mode", 0))
        if op == "avgpool" and any(v for pair in args["p"] for v in pair):
            # ONNX's default is 0 (PyTorch's is True): said whenever padding makes it matter
            args["count_include_pad"] = bool(a.get("count_include_pad", 0))
        conv.emit(node, op, args, [conv.data(node.input[0])], node.output[0])
    return handler


def _global_pool(op: str):
    def handler(conv: _Converter, node) -> None:
        if op == "gap" and _se(conv, node):
            return
        conv.emit(node, op, {}, [conv.data(node.input[0])], node.output[0])
    return handler


def _reduce(op: str):
    def handler(conv: _Converter, node) -> None:
        a = _attrs(conv, node)
        xs = _shape(conv, node.input[0])
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            v = conv.const(node.input[1])
            if v is None:
                raise _Unmapped("axes computed at run time")
            axes = [int(x) for x in v.reshape(-1)]
        r = len(xs)
        if axes is None or r < 3 or sorted(x % r for x in axes) != list(range(2, r)):
            raise _Unmapped(f"over axes {axes}" if axes is not None else "over all axes")
        keep = a.get("keepdims", 1)
        if keep and op == "gap" and _se(conv, node):
            return
        x = conv.data(node.input[0])
        if keep:
            conv.emit(node, op, {}, [x], node.output[0])
        else:
            name = conv.node_name(node)
            conv.emit(node, op, {}, [x], node.output[0] + "#pooled", name)
            conv.emit(node, "flatten", {}, [name], node.output[0],
                      conv.unique(f"{name}_flatten"))
    return handler


def _flatten(conv: _Converter, node) -> None:
    xs = _shape(conv, node.input[0])
    axis = _attrs(conv, node).get("axis", 1)
    if axis % len(xs) != 1 and len(xs) > 1:
        raise _Unmapped(f"axis {axis}")
    if len(xs) == 2:
        conv.alias[node.output[0]] = conv.data(node.input[0])
        return
    conv.emit(node, "flatten", {}, [conv.data(node.input[0])], node.output[0])


def _reshape(conv: _Converter, node) -> None:
    xs = _shape(conv, node.input[0])
    ys = _shape(conv, node.output[0])
    if _channel_shuffle(conv, node, xs, ys):
        return
    if tuple(ys) == tuple(xs):
        conv.alias[node.output[0]] = conv.data(node.input[0])
        return
    if len(ys) == 2 and ys[0] == xs[0] and ys[1] == _numel(xs[1:]):
        if len(xs) == 2:
            conv.alias[node.output[0]] = conv.data(node.input[0])
        else:
            conv.emit(node, "flatten", {}, [conv.data(node.input[0])], node.output[0])
        return
    raise _Unmapped(f"to {list(ys)}")


def _channel_shuffle(conv: _Converter, node, xs, ys) -> bool:
    """Reshape [N, C, *S] → [N, g, C/g, *S], Transpose(0, 2, 1, …), Reshape back."""
    if len(ys) != len(xs) + 1 or len(xs) < 3 or ys[0] != xs[0] or ys[3:] != xs[2:] \
            or ys[1] * ys[2] != xs[1]:
        return False
    skipped: list = []
    tr = _next_skipping_identity(conv, node.output[0], skipped)
    if tr is None or tr.op_type != "Transpose":
        return False
    perm = _attrs(conv, tr).get("perm")
    if list(perm or []) != [0, 2, 1, *range(3, len(ys))]:
        return False
    back = _next_skipping_identity(conv, tr.output[0], skipped)
    if back is None or back.op_type != "Reshape" or \
            tuple(conv.shapes.get(back.output[0], ())) != tuple(xs):
        return False
    conv.absorbed.update(id(n) for n in skipped)
    conv.absorbed.update((id(tr), id(back)))
    conv.emit(node, "channel_shuffle", {"g": ys[1]}, [conv.data(node.input[0])],
              back.output[0])
    return True


def _merge(op: str):
    def handler(conv: _Converter, node) -> None:
        ins = [i for i in node.input]
        if any(i not in conv.alias for i in ins):
            raise _Unmapped("of a constant" if any(conv.is_const(i) for i in ins)
                            else "reads a tensor convcalc could not map")
        shapes = [_shape(conv, i) for i in ins]
        if any(tuple(s) != tuple(shapes[0]) for s in shapes):
            raise _Unmapped("broadcasting")
        conv.emit(node, op, {}, [conv.data(i) for i in ins], node.output[0])
    return handler


def _concat(conv: _Converter, node) -> None:
    if _input_transform(conv, node):
        return
    a = _attrs(conv, node)
    xs = _shape(conv, node.output[0])
    if a.get("axis", 1) % len(xs) != 1:
        raise _Unmapped(f"on axis {a.get('axis')}")
    ins = [i for i in node.input if i]
    if any(i not in conv.alias for i in ins):
        raise _Unmapped("of a constant" if any(conv.is_const(i) for i in ins)
                        else "reads a tensor convcalc could not map")
    if len(ins) == 1:
        conv.alias[node.output[0]] = conv.data(ins[0])
        return
    conv.emit(node, "concat", {}, [conv.data(i) for i in ins], node.output[0])


def _split(conv: _Converter, node) -> None:
    a = _attrs(conv, node)
    xs = _shape(conv, node.input[0])
    if a.get("axis", 0) % len(xs) != 1:
        raise _Unmapped(f"on axis {a.get('axis', 0)}")
    c = xs[1]
    outs = list(node.output)
    sizes = a.get("split")
    if sizes is None and len(node.input) > 1 and node.input[1]:
        v = conv.const(node.input[1])
        if v is None:
            raise _Unmapped("sizes computed at run time")
        sizes = [int(x) for x in v.reshape(-1)]
    if sizes is None:
        n = a.get("num_outputs", len(outs))
        step = -(-c // n)  # ONNX: the last chunk smaller when n does not divide c
        sizes = [min(step, c - i * step) for i in range(n)]
    x = conv.data(node.input[0])
    start = 0
    for out, size in zip(outs, sizes):
        if out:
            conv.emit(node, "slice", {"from": start, "to": start + size}, [x], out)
        start += size


def _slice(conv: _Converter, node) -> None:
    xs = _shape(conv, node.input[0])
    if xs[1] == 3:
        try:
            _gather(conv, node)
            return
        except _Unmapped:
            pass
    a = _attrs(conv, node)
    if "starts" in a:  # opset < 10
        starts, ends = a["starts"], a["ends"]
        axes, steps = a.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        vals = [conv.const(i) if i else None for i in node.input[1:5]]
        if vals[0] is None or vals[1] is None or any(
                v is None for v, i in zip(vals[2:], node.input[3:5]) if i):
            raise _Unmapped("bounds computed at run time")
        starts, ends = [int(v) for v in vals[0]], [int(v) for v in vals[1]]
        axes = [int(v) for v in vals[2]] if len(vals) > 2 and vals[2] is not None \
            else list(range(len(starts)))
        steps = [int(v) for v in vals[3]] if len(vals) > 3 and vals[3] is not None \
            else [1] * len(starts)
    channel = None
    crops = [[0, 0] for _ in xs[2:]]
    for st, en, ax, step in zip(starts, ends, axes, steps):
        ax %= len(xs)
        n = xs[ax]
        if step != 1:
            raise _Unmapped(f"step {step}")
        st = min(max(st + n if st < 0 else st, 0), n)
        en = min(max(en + n if en < 0 else en, 0), n)
        if (st, en) == (0, n):
            continue
        if ax == 0:
            raise _Unmapped("on the batch axis")
        if ax == 1:
            channel = (st, en)
        else:
            crops[ax - 2] = [st, n - en]
    x = conv.data(node.input[0])
    cropped = any(lo or hi for lo, hi in crops)
    if channel is None and not cropped:
        conv.alias[node.output[0]] = x
        return
    if channel is not None:
        name = conv.emit(node, "slice", {"from": channel[0], "to": channel[1]}, [x],
                         node.output[0] + ("#channels" if cropped else ""))
        x = name
    if cropped:
        conv.emit(node, "crop", {"p": crops}, [x], node.output[0])


def _pad(conv: _Converter, node) -> None:
    a = _attrs(conv, node)
    xs = _shape(conv, node.input[0])
    if a.get("mode", "constant") != "constant":
        raise _Unmapped(f"mode {a.get('mode')}")
    if len(node.input) > 2 and node.input[2]:
        v = conv.const(node.input[2])
        if v is None or float(v.reshape(-1)[0]) != 0:
            raise _Unmapped("a value other than 0")
    pads = a.get("pads")
    if pads is None:
        v = conv.const(node.input[1]) if len(node.input) > 1 else None
        if v is None:
            raise _Unmapped("pads computed at run time")
        pads = [int(x) for x in v.reshape(-1)]
    r = len(xs)
    axes = list(range(r))
    if len(node.input) > 3 and node.input[3]:
        v = conv.const(node.input[3])
        if v is None:
            raise _Unmapped("axes computed at run time")
        axes = [int(x) % r for x in v.reshape(-1)]
    full = [[0, 0] for _ in range(r)]
    for i, ax in enumerate(axes):
        full[ax] = [pads[i], pads[i + len(axes)]]
    if full[0] != [0, 0] or full[1] != [0, 0] or any(v < 0 for pair in full for v in pair):
        raise _Unmapped("on the batch or channel axis, or negative")
    conv.emit(node, "pad", {"p": full[2:]}, [conv.data(node.input[0])], node.output[0])


def _resize(conv: _Converter, node) -> None:
    a = _attrs(conv, node)
    xs = _shape(conv, node.input[0])
    ys = _shape(conv, node.output[0])
    mode = a.get("mode", "nearest")
    rank = len(xs) - 2
    if mode not in ("nearest", "linear") or rank < 1 or tuple(ys[:2]) != tuple(xs[:2]):
        raise _Unmapped(f"mode {mode}" if mode not in ("nearest", "linear") else
                        "on the batch or channel axis")
    args: dict = {}
    scales = conv.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if scales is not None and len(scales) == len(xs) and all(
            float(v).is_integer() for v in scales[2:]) and \
            [int(v) * n for v, n in zip(scales[2:], xs[2:])] == list(ys[2:]):
        args["scale"] = [int(v) for v in scales[2:]]
    else:
        args["size"] = list(ys[2:])
    if mode == "linear":
        args["mode"] = {1: "linear", 2: "bilinear", 3: "trilinear"}[rank]
        if a.get("coordinate_transformation_mode") == "align_corners":
            args["align_corners"] = True
    conv.emit(node, "upsample", args, [conv.data(node.input[0])], node.output[0])


def _gather(conv: _Converter, node) -> None:
    # the first node of inception's input transform: find its Concat and try the pattern
    t, seen = node.output[0], 0
    while seen < 8:
        n = _sole_consumer(conv, t)
        if n is None:
            break
        if n.op_type == "Concat":
            if _input_transform(conv, n):
                conv.absorbed.add(id(n))
                return
            break
        t, seen = n.output[0], seen + 1
    raise _Unmapped("outside inception's input transform")


# -- patterns ----------------------------------------------------------------------------------

def _common_path(paths: list[str]) -> str:
    parts = [p.split(".") for p in paths if p]
    if not parts:
        return ""
    common = []
    for words in zip(*parts):
        if len(set(words)) != 1:
            break
        common.append(words[0])
    return ".".join(common)


def _se(conv: _Converter, pool) -> bool:
    """GlobalAveragePool (or ReduceMean) – Conv 1×1 (bias) – act – Conv 1×1 (bias) – gate –
    Mul(x, gate): one ``se`` (torchvision's SqueezeExcitation)."""
    x = pool.input[0]
    xs = conv.shapes.get(x)
    chain = []

    def step(tensor: str, types: tuple):
        n = _sole_consumer(conv, tensor)
        if n is None or n.op_type not in types:
            return None
        chain.append(n)
        return n

    down = step(pool.output[0], ("Conv",))
    if down is None or xs is None:
        return False
    wd = conv.param(down.input[1])
    if wd is None or len(down.input) < 3 or not down.input[2] or any(k != 1 for k in wd[2:]) \
            or _attrs(conv, down).get("group", 1) != 1 or wd[1] != xs[1]:
        return False
    users = conv.consumers.get(down.output[0], [])
    act_node = users[0] if len(users) == 1 else next(
        (n for n in users if n.op_type == "Sigmoid"), None) if len(users) == 2 else None
    if act_node is None:
        return False
    if act_node.op_type == "Relu":
        act, after = "relu", act_node.output[0]
    elif act_node.op_type == "Clip" and _clip_kind(conv, act_node) == "relu6":
        act, after = "relu6", act_node.output[0]
    elif act_node.op_type == "Sigmoid" and len(users) == 2:
        mul = _sole_consumer(conv, act_node.output[0])
        if mul is None or mul.op_type != "Mul" or mul not in users or sorted(mul.input) != \
                sorted([down.output[0], act_node.output[0]]):
            return False
        chain.append(mul)
        act, after = "silu", mul.output[0]
    else:
        return False
    chain.append(act_node)
    up = step(after, ("Conv",))
    if up is None:
        return False
    wu = conv.param(up.input[1])
    if wu is None or len(up.input) < 3 or not up.input[2] or any(k != 1 for k in wu[2:]) or \
            _attrs(conv, up).get("group", 1) != 1 or wu[0] != xs[1] or wu[1] != wd[0]:
        return False
    gate_node = step(up.output[0], ("Sigmoid", "HardSigmoid"))
    if gate_node is None or (gate_node.op_type == "HardSigmoid" and
                             not _hardsigmoid_ok(conv, gate_node)):
        return False
    gate = "sigmoid" if gate_node.op_type == "Sigmoid" else "hardsigmoid"
    scale = step(gate_node.output[0], ("Mul",))
    if scale is None or sorted(scale.input) != sorted([x, gate_node.output[0]]):
        return False
    conv.absorbed.update(id(n) for n in chain)
    path = _common_path([conv.node_path(down, down.input[1]),
                         conv.node_path(up, up.input[1])])
    args = {"squeeze": wd[0], "act": act, "gate": gate}
    conv.emit(pool, "se", args, [conv.data(x)], scale.output[0],
              conv.unique(path or conv.module_path(pool) or "se"))
    return True


_ELEMENTWISE_CONST = ("Mul", "Add", "Sub", "Div", "Unsqueeze", "Squeeze")


def _input_transform(conv: _Converter, concat) -> bool:
    """torchvision's inception input transform: each channel of x taken alone (Gather, or a
    one-channel Slice), scaled and shifted by constants, the channels concatenated back. One
    per-channel affine map with constants: ``bn {affine: false}`` (0 params, 0 MACs, the
    same 2 FLOPs per element)."""
    source = None
    chains = []
    for t in concat.input:
        chain = []
        while True:
            n = conv.producer.get(t)
            if n is None:
                return False
            chain.append(n)
            if n.op_type in ("Gather", "Slice"):
                break
            if n.op_type not in _ELEMENTWISE_CONST:
                return False
            data = [i for i in n.input if i and i not in conv.consts]
            if len(data) != 1:
                return False
            t = data[0]
        head = chain[-1]
        if head.op_type == "Gather":
            idx = conv.const(head.input[1])
            if idx is None or idx.size != 1 or _attrs(conv, head).get("axis", 0) != 1:
                return False
        else:
            vals = [conv.const(i) for i in head.input[1:4]]
            if any(v is None for v in vals) or [int(v) for v in vals[2]] != [1] or \
                    int(vals[1][0]) - int(vals[0][0]) != 1:
                return False
        if source not in (None, head.input[0]):
            return False
        source = head.input[0]
        if any(len(conv.consumers.get(o, [])) != 1 for n in chain for o in n.output):
            return False
        chains.append(chain)
    xs = conv.shapes.get(source)
    if source is None or xs is None or tuple(conv.shapes.get(concat.output[0], ())) != tuple(xs) \
            or len(chains) != xs[1]:
        return False
    for chain in chains:
        conv.absorbed.update(id(n) for n in chain)
    name = conv.unique(_common_path([conv.module_path(concat)]) or "transform_input")
    conv.emit(concat, "bn", {"affine": False}, [conv.data(source)], concat.output[0], name)
    return True


HANDLERS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose,
    "BatchNormalization": _norm("bn", {}), "InstanceNormalization": _norm("in", {"affine": True}),
    "Gemm": _gemm, "MatMul": _matmul,
    "Relu": _simple("relu"), "Tanh": _simple("tanh"), "HardSwish": _simple("hardswish"),
    "Sigmoid": _sigmoid, "HardSigmoid": _hardsigmoid, "Clip": _clip,
    "LeakyRelu": _leaky_relu, "Elu": _elu, "PRelu": _prelu, "Softmax": _softmax,
    "MaxPool": _pool("maxpool"), "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global_pool("gap"), "GlobalMaxPool": _global_pool("gmp"),
    "ReduceMean": _reduce("gap"), "ReduceMax": _reduce("gmp"),
    "Flatten": _flatten, "Reshape": _reshape, "Concat": _concat,
    "Add": _merge("add"), "Mul": _merge("mul"), "Split": _split, "Slice": _slice, "Pad": _pad,
    "Resize": _resize, "Dropout": _alias, "Identity": _alias, "Gather": _gather,
}
assert set(HANDLERS) - {"Gather"} == set(OP_TYPES) - {"Transpose"}, "OP_TYPES lists HANDLERS"
