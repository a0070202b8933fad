"""A YAML network → one self-contained, readable PyTorch file (SPEC §7, ``convcalc export``).

The file has one ``nn.Module`` class per YAML block that the network uses (named after the
block, its args as constructor arguments after ``cin``, the input channels), a top-level class
named after the network, ``build()`` returning it, and ``INPUT_SHAPE`` when the input is
numeric. Every leaf layer of the walk (a row of ``convcalc net``) is one module of the built
model; :attr:`TorchExport.modules` says which (row index → qualified module name), so tests
can compare each row with PyTorch.

What comes from where: the structure (sequences, residuals, parallels, named tensors, block
calls, ``times``) is read from the parsed spec, the code mirrors it; the values the code
needs that the spec does not write as expressions (a flattened size, padding given as a mode
or as pairs) come from the walk's rows of the item — never recomputed here. Channel counts are
written as the YAML's own expressions (``nn.Conv2d(cin, c * 4, 1)``), each op's output
channels by its catalog rule (conv: ``out``; dwconv: ``cin*mult``; concat: the sum; slice:
``to - from``; pixel_shuffle: ``c // r**2``; flatten: the walk's number).

PyTorch equivalents of the catalog (PyTorch docs of each module):
conv/pwconv/dwconv → ``ConvNd`` (dwconv: ``groups=cin``); sepconv → depthwise then pointwise
``ConvNd`` (Chollet 2017); spatial_sepconv → one ``ConvNd`` per axis (k×1, 1×k: Szegedy et al.
2016); flatconv → pointwise, then one depthwise 1-D conv per axis (Jin et al. 2014); deconv →
``ConvTransposeNd``; deformconv → an offset (and mask) ``Conv2d`` + torchvision's
``DeformConv2d`` (Dai et al. 2017, Zhu et al. 2019); padding ``[lo, hi]`` pairs that PyTorch's
modules cannot express → ``ConstantPadNd`` before the layer (−inf for max pooling), or a crop
after a transposed conv.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from .. import __version__, ops
from ..dims import fmt
from ..errors import Loc, SpecError
from ..spec import Y, evaluate

Ex = Any  # an integer, or the Python source of an integer expression


@dataclass(frozen=True)
class TorchExport:
    code: str
    class_name: str
    modules: dict[int, str]  # row index → qualified name of its module in build()'s model


def export_torch(net, report) -> TorchExport:
    """The PyTorch source of ``net``, whose walk is ``report``."""
    return _Gen(net, report).run()


# -- integer expressions as Python source -----------------------------------------------------

_BINOPS = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "//": ast.FloorDiv, "%": ast.Mod}


class _NeedsNumber:
    """Channels the code cannot write (a symbolic flattened size): an error when used."""

    def __init__(self, error: SpecError) -> None:
        self.error = error

    def __str__(self) -> str:
        raise self.error


def _node(e: Ex) -> ast.expr:
    if isinstance(e, _NeedsNumber):
        raise e.error
    if isinstance(e, int):
        return ast.Constant(e) if e >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-e))
    return ast.parse(e, mode="eval").body


def _fold(src: str) -> Ex:
    """``src`` as an int when it has no names (``(64 + 1)//2`` → 32)."""
    tree = ast.parse(src, mode="eval").body
    if any(isinstance(n, ast.Name) for n in ast.walk(tree)):
        return ast.unparse(tree)
    return evaluate(src, {}, None)


def _bin(a: Ex, op: str, b: Ex) -> Ex:
    for e in (a, b):
        if isinstance(e, _NeedsNumber):
            raise e.error
    if isinstance(a, int) and isinstance(b, int):
        if op in ("//", "%"):
            return a // b if op == "//" else a % b
        return a + b if op == "+" else a - b if op == "-" else a * b
    if op == "*" and (a == 1 or b == 1):
        return b if a == 1 else a
    if op in "+-" and b == 0:
        return a
    if op == "//" and b == 1:
        return a
    return ast.unparse(ast.BinOp(_node(a), _BINOPS[op](), _node(b)))


def _subst(e: Ex, mapping: dict[str, Ex]) -> Ex:
    """``e`` with names replaced by expressions (a block's output channels at a call site)."""
    if isinstance(e, (int, _NeedsNumber)):
        return e

    class Sub(ast.NodeTransformer):
        def visit_Name(self, node):
            return _node(mapping[node.id]) if node.id in mapping else node

    tree = Sub().visit(ast.parse(e, mode="eval"))
    return _fold(ast.unparse(tree.body))


def _text(e: Ex) -> str:
    return str(e)


RESERVED = set(keyword.kwlist) | set(keyword.softkwlist) | {
    "torch", "nn", "F", "self", "x", "cin", "build", "INPUT_SHAPE", "range", "super", "float",
    "slice", "tuple", "zip", "len", "sum", "max", "min", "int", "list", "math", "print",
    "DeformConv2d", "True", "False", "None"}


def _camel(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", str(name))
    text = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not text or not text[0].isalpha():
        text = "Net" + text
    return text


# -- the generator ----------------------------------------------------------------------------

@dataclass
class _Member:
    attr: str  # attribute (qualified inside its class)
    block: str | None  # the block class it instantiates, if any
    times: bool  # an nn.Sequential of repetitions: the next path segment is the repetition


@dataclass
class _Class:
    name: str  # Python class name
    block: str | None  # YAML block name (None: the network)
    params: list[str] = field(default_factory=list)  # constructor source, after self
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    attrs: set[str] = field(default_factory=set)
    members: dict[str, _Member] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # Python names in forward
    free: list[tuple[str, str, str]] = field(default_factory=list)  # (yaml, var, channels)
    out_channels: Ex = None
    channel_args: list[str] = field(default_factory=list)  # free tensors' channels used
    names: dict[str, str] = field(default_factory=dict)  # YAML value names → Python
    doc: str = ""


class _Scope:
    """Saved tensors: YAML name → (Python variable, channels); a block's outermost scope
    turns an unknown name into a forward argument (a tensor of the calling scope)."""

    def __init__(self, parent: "_Scope | None", cls: _Class | None = None, gen=None):
        self.parent, self.cls, self.gen = parent, cls, gen
        self.tensors: dict[str, tuple[str, Ex]] = {}

    def get(self, name: str, loc) -> tuple[str, Ex]:
        scope = self
        while scope is not None:
            if name in scope.tensors:
                return scope.tensors[name]
            if scope.parent is None and scope.cls is not None and scope.cls.block is not None:
                var = scope.gen.fresh(scope.cls, _ident(name))
                channels = _ident(f"c_{name}")
                scope.cls.free.append((name, var, channels))
                scope.tensors[name] = (var, channels)
                return scope.tensors[name]
            scope = scope.parent
        raise SpecError(f"export: no saved tensor '{name}'", loc=loc)


def _ident(name: str) -> str:
    name = re.sub(r"\W", "_", str(name))
    if not name or name[0].isdigit():
        name = "t_" + name
    return name + "_" if name in RESERVED else name


class _Gen:
    def __init__(self, net, report) -> None:
        self.net, self.report = net, report
        self.rows_at: dict[Loc, list] = {}
        for row in report.rows:
            self.rows_at.setdefault(row.loc, []).append(row)
        self.helpers: set[str] = set()
        self.classes: dict[str, _Class] = {}  # YAML block name → class
        used = {what for row in report.rows for _, what in row.ancestors}
        self.used_blocks = [b for b in net.blocks if b in used]
        taken = set(RESERVED) | set(HELPERS)
        self.class_names: dict[str | None, str] = {}
        for b in self.used_blocks:
            self.class_names[b] = self._unique(_camel(b), taken)
        self.class_names[None] = self._unique(_camel(net.name or _stem(net.file)), taken)
        self.reserved = taken
        self.var_names = {v: self.py_name(v) for v in net.vars}

    @staticmethod
    def _unique(name: str, taken: set[str]) -> str:
        base, n = name, 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        return name

    def py_name(self, name: str) -> str:
        name = _ident(name)
        return name + "_" if name in self.reserved else name

    def fresh(self, cls: _Class, base: str) -> str:
        name, n = base, 1
        while name in cls.used or name in self.reserved:
            name, n = f"{base}_{n}", n + 1
        cls.used.add(name)
        return name

    def attr(self, cls: _Class, base: str) -> str:
        name = re.sub(r"\W", "_", base)
        if name[0].isdigit():
            name = "m" + name
        if name in _MODULE_ATTRS or keyword.iskeyword(name):
            name += "_"
        name = self._unique(name, cls.attrs)
        return name

    # -- the whole file -----------------------------------------------------------------

    def run(self) -> TorchExport:
        net, report = self.net, self.report
        for b in self.used_blocks:
            self.block_class(b)
        top = _Class(self.class_names[None], None, names=dict(self.var_names))
        top.doc = (f"The network '{net.name or _stem(net.file)}' of {net.file}: input "
                   f"{report.input}, output {report.output} per sample.")
        top.used.add("x")
        scope = _Scope(None, top, self)
        var, channels = self.seq(top, net.layers, "x", "x", report.input.channels, scope, "")
        top.forward.append(f"return {var}")
        top.out_channels = channels
        modules = {}
        for row in report.rows:
            name = self.resolve(top, row.path)
            if name is not None:
                modules[row.index] = name
        code = self.render(top)
        return TorchExport(code, top.name, modules)

    def resolve(self, cls: _Class, path: str) -> str | None:
        segs = path.split(".")
        for j in range(len(segs), 0, -1):
            m = cls.members.get(".".join(segs[:j]))
            if m is None:
                continue
            name, rest = m.attr, segs[j:]
            if m.times:
                if not rest:
                    return None
                name, rest = f"{name}.{rest[0]}", rest[1:]
            if m.block is None:
                return name if not rest else None
            if not rest:
                return None
            inner = self.resolve(self.classes[m.block], ".".join(rest))
            return None if inner is None else f"{name}.{inner}"
        return None

    def render(self, top: _Class) -> str:
        net, report = self.net, self.report
        numeric = all(type(d) is int for d in report.input.dims)
        needs = "torch" + (" and torchvision (torchvision.ops.DeformConv2d, for deformconv)"
                           if "DeformConv" in self.helpers else "")
        out = [f'"""{net.name or _stem(net.file)} in PyTorch: written by `convcalc export '
               f'{net.file} --to torch` (convcalc {__version__}).',
               "",
               "One module per leaf layer of the YAML; each one's output shape, parameter "
               "count and MACs",
               f"equal its row of `convcalc net {net.file}`. Needs only {needs}.",
               '"""', ""]
        if "DeformConv" in self.helpers or any("torch." in line for c in [
                *self.classes.values(), top] for line in c.forward):
            out.append("import torch")
        if "DeformConv" in self.helpers:
            out.append("from torchvision.ops import DeformConv2d")
        out.append("from torch import nn")
        out.append("")
        if numeric:
            dims = ", ".join(str(d) for d in report.input.dims)
            out.append(f"INPUT_SHAPE = ({dims}{',' if len(report.input.dims) == 1 else ''})"
                       "  # per sample, channels first")
        else:
            shown = ", ".join(str(d) for d in report.input.dims)
            out.append(f"# input: ({shown}) per sample — symbolic: the model runs on every "
                       f"size the YAML accepts (`convcalc sizes {net.file}`)")
        for v, name in self.var_names.items():
            out.append(f"{name} = {self.var_value(v)}  # YAML var '{v}'")
        out.append("")
        for h in HELPERS:
            if h in self.helpers:
                out += ["", HELPERS[h].strip("\n"), ""]
        for b in self.used_blocks:
            out += ["", *self.class_lines(self.classes[b]), ""]
        out += ["", *self.class_lines(top), ""]
        out += ["", "def build():",
                f'    """The network of {net.file}."""',
                f"    return {top.name}()", ""]
        text = "\n".join(out)
        text = re.sub(r"\n{4,}", "\n\n\n", text)
        return text.rstrip("\n") + "\n"

    def var_value(self, v: str) -> str:
        y = self.net.vars[v]
        if v in self.report.bindings:
            return str(self.report.bindings[v])
        return self.value_src(y, dict(self.var_names))[0]

    def class_lines(self, cls: _Class) -> list[str]:
        params = ", ".join(["self", *cls.params])
        lines = [f"class {cls.name}(nn.Module):", f'    """{cls.doc}"""', "",
                 f"    def __init__({params}):", "        super().__init__()"]
        lines += [f"        {line}" for line in cls.init]
        fwd_params = ", ".join(["self", "x", *(var for _, var, _ in cls.free)])
        lines += ["", f"    def forward({fwd_params}):"]
        lines += [f"        {line}" for line in cls.forward]
        return lines

    # -- block classes -------------------------------------------------------------------

    def block_class(self, name: str) -> _Class:
        if name in self.classes:
            return self.classes[name]
        block = self.net.blocks[name]
        names = dict(self.var_names)
        for p in block.params:
            names[p] = self.py_name(p)
        cls = _Class(self.class_names[name], name, names=names)
        cls.used.add("x")
        self.classes[name] = cls
        params = ["cin"]
        late = []
        for p, default in block.params.items():
            py = names[p]
            if default is None:
                params.append(py)
            else:
                src, is_expr = self.value_src(default, names)
                if is_expr and any(n in block.params for n in _names(default.value)):
                    params.append(f"{py}=None")  # a default computed from other args
                    late.append(f"if {py} is None:")
                    late.append(f"    {py} = {src}")
                else:
                    params.append(f"{py}={src}")
        cls.init += late
        scope = _Scope(None, cls, self)
        var, channels = self.seq(cls, block.layers, "x", "x", "cin", scope, "")
        cls.forward.append(f"return {var}")
        cls.out_channels = channels
        # a saved tensor of the caller's: its channels are an argument only where used
        text = "\n".join(cls.init) + "\n" + str(cls.out_channels if not isinstance(
            cls.out_channels, _NeedsNumber) else "")
        cls.channel_args = [c for _, _, c in cls.free if re.search(rf"\b{c}\b", text)]
        cls.params = params + cls.channel_args
        args = ", ".join(block.params) or "none"
        cls.doc = f"YAML block '{name}' (args: {args}); cin = input channels."
        return cls

    # -- sequences and items ---------------------------------------------------------------

    def seq(self, cls, items, inp: str, out: str, channels: Ex, scope: _Scope,
            prefix: str) -> tuple[str, Ex]:
        """Emit ``items`` reading tensor ``inp``; each statement writes ``out`` (or a named
        tensor's variable). Returns the variable holding the result and its channels."""
        var = inp
        for i, item in enumerate(items):
            var, channels = self.item(cls, item, i, var, out, channels, scope, prefix)
        return var, channels

    def item(self, cls, item, i, var, out, channels, scope, prefix):
        label = item.label.value if item.label is not None else None
        seg = label or str(i)
        base = f"{prefix}.{seg}" if prefix else seg
        if item.source is not None:
            var, channels = scope.get(item.source.value, item.source.loc)
        target = out
        if label is not None:
            target = self.fresh(cls, _ident(label))
        times, times_src = 1, None
        if item.times is not None:
            times_src, is_expr = self.value_src(item.times, cls.names)
            times = None if is_expr else item.times.value
        kind = item.kind
        if kind in ("residual", "parallel", "merge"):
            if times is None:
                times = self.constant_times(item)
            for r in range(times):
                path = f"{base}.{r}" if times > 1 else base
                var, channels = self.structure(cls, item, var, target, channels, scope, path)
        elif item.name in self.net.blocks:
            var, channels = self.call(cls, item, var, target, channels, scope, base, times,
                                      times_src)
        else:
            var, channels = self.leaf(cls, item, var, target, channels, base, times,
                                      times_src)
        if label is not None:
            scope.tensors[label] = (var, channels)
        return var, channels

    def constant_times(self, item) -> int:
        raise SpecError("export: 'times' of a residual, parallel or merge must be a number "
                        "(the code repeats it)", loc=item.times.loc,
                        hint="write the number, or move the structure into a block")

    def structure(self, cls, item, var, target, channels, scope, path):
        if item.kind == "residual":
            cls.forward.append(f"# residual ({path}): body + shortcut")
            body_out = self.fresh(cls, "y")
            body, cb = self.seq(cls, item.body, var, body_out, channels, _Scope(scope),
                                f"{path}.body")
            short, _ = (var, channels) if item.shortcut is None else self.seq(
                cls, item.shortcut, var, self.fresh(cls, "s"), channels, _Scope(scope),
                f"{path}.shortcut")
            cls.forward.append(f"{target} = {body} + {short}")
            return target, cb
        if item.kind == "parallel":
            cls.forward.append(f"# parallel ({path}): {len(item.branches)} branches, "
                               f"merge {item.merge}")
            outs = []
            for b, branch in enumerate(item.branches):
                o, c = self.seq(cls, branch, var, self.fresh(cls, f"b{b}"), channels,
                                _Scope(scope), f"{path}.{b}")
                outs.append((o, c))
            return target, self.merge(cls, item.merge, outs, target)
        # a named merge: the current tensor and saved ones
        names_y = item.args.value if item.args.is_list else [item.args]
        tensors = [(var, channels)] + [scope.get(ny.value, ny.loc) for ny in names_y]
        return target, self.merge(cls, item.name, tensors, target)

    def merge(self, cls, how, tensors, target) -> Ex:
        names = [v for v, _ in tensors]
        if how == "concat":
            cls.forward.append(f"{target} = torch.cat([{', '.join(names)}], 1)")
            total: Ex = 0
            for _, c in tensors:
                total = _bin(total, "+", c) if total != 0 else c
            return total
        cls.forward.append(f"{target} = {(' + ' if how == 'add' else ' * ').join(names)}")
        return tensors[0][1]

    # -- block calls and repetitions ---------------------------------------------------------

    def call(self, cls, item, var, target, channels, scope, base, times, times_src):
        inner = self.block_class(item.name)
        block = self.net.blocks[item.name]
        given: dict[str, str] = {}
        args_y = item.args
        if args_y is not None and args_y.value is not None:
            for key, y in args_y.value.items():
                given[key] = self.value_src(y, cls.names)[0]
        free_vars = [scope.get(n, item.loc) for n, _, _ in inner.free]

        def make(cin: Ex) -> tuple[str, Ex]:
            parts = [_text(cin)] + [f"{inner.names[k]}={v}" for k, v in given.items()]
            parts += [f"{c}={_text(ch)}" for (_, _, c), (_, ch) in zip(inner.free, free_vars)
                      if c in inner.channel_args]
            # the block's output channels, in the caller's terms
            mapping: dict[str, Ex] = {"cin": cin}
            for (_, _, c), (_, ch) in zip(inner.free, free_vars):
                mapping[c] = ch
            for k, default in block.params.items():
                if k in given:
                    src = given[k]
                elif default is not None:
                    src = self.value_src(default, inner.names)[0]
                    src = _subst(src, mapping) if _is_int_src(src) else src
                else:
                    continue
                if _is_int_src(str(src)):
                    mapping[inner.names[k]] = _fold(str(src))
            return f"{inner.name}({', '.join(parts)})", _subst(inner.out_channels, mapping)

        attr = self.attr(cls, f"{item.name}_{base}".replace(".", "_") if not item.label
                         else base.replace(".", "_"))
        src, channels = self.repeat(item, make, channels, times, times_src)
        cls.init.append(f"self.{attr} = {src}")
        cls.members[base] = _Member(attr, item.name, times != 1)
        extra = "".join(f", {v}" for v, _ in free_vars)
        cls.forward.append(f"{target} = self.{attr}({var}{extra})")
        return target, channels

    def repeat(self, item, make, channels, times, times_src):
        """One module, or an nn.Sequential of ``times`` repetitions (the first may differ:
        its input channels)."""
        src0, out0 = make(channels)
        if times == 1:
            return src0, out0
        src1, out1 = make(out0)
        src2, out2 = make(out1)
        if src1 == src2 and out1 == out2:
            n = times_src if times is None else str(times)
            if src0 == src1:
                return f"nn.Sequential(*({src0} for _ in range({n})))", out0
            if times == 2:
                return f"nn.Sequential({src0}, {src1})", out1
            count = f"{n} - 1" if times is None else str(times - 1)
            return f"nn.Sequential({src0}, *({src1} for _ in range({count})))", out1
        if times is None:
            raise SpecError("export: repetitions whose channels keep changing need a number "
                            "of 'times'", loc=item.times.loc)
        srcs, c = [], channels
        for _ in range(times):
            s, c = make(c)
            srcs.append(s)
        return "nn.Sequential(" + ", ".join(srcs) + ")", c

    # -- leaves --------------------------------------------------------------------------

    def leaf(self, cls, item, var, target, channels, base, times, times_src):
        opdef = ops.resolve(item.name)
        rows = self.rows_at.get(item.loc, [])
        if not rows:
            raise SpecError(f"export: {item.name} ({base}) has no layer in the walk",
                            loc=item.loc)
        ranks = {r.input.rank for r in rows}
        if len(ranks) > 1:
            raise SpecError(f"export: {item.name} ({base}) runs on inputs of different ranks "
                            f"({', '.join(map(str, sorted(ranks)))}); one module class cannot",
                            loc=item.loc, hint="use the layer in separate blocks per rank")
        leaf = _Leaf(self, cls, item, opdef.name, rows[0].input.rank, rows)
        attr = self.attr(cls, base.replace(".", "_") if item.label else
                         f"{opdef.name}_{base}".replace(".", "_"))
        src, channels = self.repeat(item, leaf.module, channels, times, times_src)
        cls.init.append(f"self.{attr} = {src}")
        cls.members[base] = _Member(attr, None, times != 1)
        cls.forward.append(f"{target} = self.{attr}({var})")
        return target, channels

    # -- values --------------------------------------------------------------------------

    def value_src(self, y: Y, names: dict[str, str]) -> tuple[str, bool]:
        """Python source of a YAML value; True when it is an expression over names."""
        v = y.value
        if isinstance(v, bool):
            return repr(v), False
        if isinstance(v, (int, float)):
            return repr(v), False
        if v is None:
            return "None", False
        if isinstance(v, list):
            parts = [self.value_src(e, names) for e in v]
            inner = ", ".join(p for p, _ in parts)
            return f"({inner}{',' if len(parts) == 1 else ''})", any(e for _, e in parts)
        text = str(v).strip()
        if text.isidentifier() and text not in names:
            return repr(text), False  # a word: an enum value ('same', 'bilinear')
        tree = ast.parse(text, mode="eval")

        class Rename(ast.NodeTransformer):
            def visit_Name(self, node):
                return ast.Name(names.get(node.id, node.id), ast.Load())

        src = ast.unparse(Rename().visit(tree).body)
        folded = _fold(src)
        return str(folded), not isinstance(folded, int)


def _is_int_src(src: str) -> bool:
    try:
        tree = ast.parse(str(src), mode="eval").body
    except SyntaxError:
        return False
    return all(isinstance(n, (ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.operator,
                              ast.unaryop)) or (isinstance(n, ast.Constant) and type(n.value)
                                                is int) for n in ast.walk(tree))


def _names(value) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", str(value)))


def _stem(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


# nn.Module's own attributes: a layer named `training` must not replace them
_MODULE_ATTRS = {"training", "forward", "eval", "train", "cuda", "cpu", "to", "parameters",
                 "modules", "children", "apply", "state_dict", "half", "float", "double",
                 "type", "zero_grad", "register_buffer", "add_module", "get_submodule",
                 "named_modules", "named_parameters", "buffers", "extra_repr", "dump_patches",
                 "call_super_init"}


def _axes_tuple(values) -> str:
    values = tuple(values)
    if len(set(values)) == 1:
        return str(values[0])
    return "(" + ", ".join(map(str, values)) + ")"


def _pairs_text(pairs) -> str:
    inner = ", ".join(f"({lo}, {hi})" for lo, hi in pairs)
    return f"({inner}{',' if len(pairs) == 1 else ''})"


def _torch_pad(pairs) -> str:
    """PyTorch's pad order: the last axis first, (lo, hi) each."""
    flat = [v for lo, hi in reversed(pairs) for v in (lo, hi)]
    return "(" + ", ".join(map(str, flat)) + ")"


class _Leaf:
    """One leaf item of the YAML and the walk's rows for it (every place it runs)."""

    def __init__(self, gen: _Gen, cls: _Class, item, op: str, rank: int, rows) -> None:
        self.gen, self.cls, self.item, self.op, self.rank, self.rows = gen, cls, item, op, \
            rank, rows
        self.opdef = ops.OPS[op]
        self.written: dict[str, Y] = {}
        if item.args is not None and item.args.is_map:
            for key, y in item.args.value.items():
                self.written[ops.KEY_ALIASES.get(key, key)] = y
        self.norm = [self.normalise(dict(r.args)) for r in rows]

    def fail(self, what: str, hint: str | None = None):
        raise SpecError(f"export: {self.item.name}: {what}", loc=self.item.loc, hint=hint)

    def normalise(self, raw: dict) -> dict:
        """The op's arguments as the catalog normalises them (per-axis tuples, pairs)."""
        given = {ops.KEY_ALIASES.get(k, k): v for k, v in raw.items()}
        args: dict[str, Any] = {}
        for key in self.opdef.keys.values():
            if key.name in given:
                v = given[key.name]
                args[key.name] = ops._normalise(self.op, key, key.name,
                                                list(v) if isinstance(v, tuple) else v,
                                                self.rank) if key.kind in (
                    "axes", "axes0", "pad") else v
            elif key.default is ops.REQUIRED:
                args[key.name] = None
            elif key.default is ops.SAME_AS_K:
                args[key.name] = args["k"]
            elif key.kind in ("axes", "axes0") and key.default is not None:
                args[key.name] = (key.default,) * self.rank
            elif key.kind == "pad" and isinstance(key.default, int):
                args[key.name] = ((key.default, key.default),) * self.rank
            else:
                args[key.name] = key.default
        return args

    def const(self, key: str):
        values = {_hashable(a[key]) for a in self.norm}
        if len(values) > 1:
            self.fail(f"'{key}' differs between the places it runs ({len(values)} values), "
                      "and the exported code needs it as written here",
                      hint=f"write '{key}' in the layer as a number, or as an expression of "
                           "the block's args")
        return self.norm[0][key]

    def src(self, key: str) -> str | None:
        """Python source of a key as the YAML writes it (None: not written)."""
        y = self.written.get(key)
        if y is None:
            return None
        return self.gen.value_src(y, self.cls.names)[0]

    def kw(self, **pairs) -> str:
        return "".join(f", {k}={v}" for k, v in pairs.items() if v is not None)

    def pads(self, a) -> tuple:
        k = a.get("k") or (1,) * self.rank
        d = a.get("d") or (1,) * self.rank
        s = a.get("s") or (1,) * self.rank
        return ops._pads(self.op, a["p"], k, d, s)

    def padding(self, modes: bool) -> tuple[str | None, tuple | None]:
        """(padding source for the module, explicit (lo, hi) pairs to pad before it)."""
        y = self.written.get("p")
        if y is None:
            return None, None
        pads = [self.pads(a) for a in self.norm]
        raws = [dict(r.args) for r in self.rows]
        raw_values = [next(v for k, v in raw.items() if ops.KEY_ALIASES.get(k, k) == "p")
                      for raw in raws]
        if modes and all(v in ("same", "valid") for v in raw_values):
            return self.src("p"), None
        as_written = all(isinstance(v, int) or (isinstance(v, (list, tuple)) and all(
            isinstance(e, int) for e in v)) for v in raw_values)
        if all(lo == hi for p in pads for lo, hi in p):
            if as_written:
                return self.src("p"), None
            return _axes_tuple(lo for lo, _ in self.const_pads(pads)), None
        return None, self.const_pads(pads)

    def const_pads(self, pads):
        if len(set(pads)) > 1:
            self.fail("its padding differs between the places it runs, and the exported code "
                      "needs it as numbers here",
                      hint="write 'p' in the layer as numbers, or as an expression of the "
                           "block's args")
        return pads[0]

    # -- one module per op ---------------------------------------------------------------

    def module(self, cin: Ex) -> tuple[str, Ex]:
        op, r = self.op, self.rank
        out = self.src("out")
        bias = self.src("bias")
        if op in ("conv", "dwconv", "pwconv"):
            if op == "pwconv":
                return (f"nn.Conv{r}d({cin}, {out}, 1{self.kw(groups=self.src('g'), bias=bias)})",
                        _fold(out))
            cout = _fold(out) if op == "conv" else _bin(cin, "*", _fold(self.src("mult") or "1"))
            p, pre = self.padding(modes=True)
            groups = self.src("g") if op == "conv" else _text(cin)
            conv = (f"nn.Conv{r}d({cin}, {cout}, {self.src('k')}"
                    f"{self.kw(stride=self.src('s'), padding=p, dilation=self.src('d'))}"
                    f"{self.kw(groups=groups, bias=bias)})")
            return self.prepad(conv, pre, 0.0), cout
        if op == "sepconv":
            mid = _bin(cin, "*", _fold(self.src("mult") or "1"))
            p, pre = self.padding(modes=True)
            dw = (f"nn.Conv{r}d({cin}, {mid}, {self.src('k')}"
                  f"{self.kw(stride=self.src('s'), padding=p, dilation=self.src('d'))}"
                  f"{self.kw(groups=_text(cin), bias=bias)})")
            pw = f"nn.Conv{r}d({mid}, {out}, 1{self.kw(bias=bias)})"
            parts = ([f"nn.ConstantPad{r}d({_torch_pad(pre)}, 0.0)"] if pre else []) + [dw, pw]
            return f"nn.Sequential({', '.join(parts)})", _fold(out)
        if op == "spatial_sepconv":
            k, s = self.const("k"), self.const("s")
            pads = self.const_pads([ops._pads(op, a["p"], a["k"], (1,) * r, a["s"])
                                    for a in self.norm])
            convs = self.axis_convs(cin, out, _fold(out), k, pads, bias, strides=s)
            return f"nn.Sequential({', '.join(convs)})", _fold(out)
        if op == "flatconv":
            k = self.const("k")
            ones = (1,) * r
            pads = self.const_pads([ops._pads(op, a["p"], a["k"], ones, ones)
                                    for a in self.norm])
            cout = _fold(out)
            convs = [f"nn.Conv{r}d({cin}, {cout}, 1{self.kw(bias=bias)})"]
            convs += self.axis_convs(cout, cout, cout, k, pads, bias, groups=_text(cout))
            return f"nn.Sequential({', '.join(convs)})", cout
        if op == "deconv":
            p, pre = self.padding(modes=False)
            conv = (f"nn.ConvTranspose{r}d({cin}, {out}, {self.src('k')}"
                    f"{self.kw(stride=self.src('s'), padding=p)}"
                    f"{self.kw(output_padding=self.src('op'), groups=self.src('g'))}"
                    f"{self.kw(bias=bias, dilation=self.src('d'))})")
            if pre:
                self.gen.helpers.add("Crop")
                conv = f"nn.Sequential({conv}, Crop({tuple(pre)}))"
            return conv, _fold(out)
        if op == "deformconv":
            if r != 2:
                self.fail(f"torchvision's DeformConv2d is 2-D only, the input has "
                          f"{ops._axes(r)}", hint="export deformconv on 2-D inputs")
            self.gen.helpers.add("DeformConv")
            p, pre = self.padding(modes=False)
            # [lo, hi] pairs: pad the input once; the offset conv and the sampling both read it
            return self.prepad(
                f"DeformConv({cin}, {out}, {self.src('k')}"
                f"{self.kw(stride=self.src('s'), padding=p, dilation=self.src('d'))}"
                f"{self.kw(groups=self.src('g'), offset_groups=self.src('offset_groups'))}"
                f"{self.kw(modulated=self.src('modulated'), bias=bias)})", pre, "0.0"), \
                _fold(out)
        if op in ("maxpool", "avgpool"):
            p, pre = self.padding(modes=False)
            ceil = self.src("ceil")
            if pre and self.const("ceil"):
                self.fail("[lo, hi] padding with ceil_mode has no PyTorch module form "
                          "(PyTorch's pools pad both sides alike, and ceil_mode's last window "
                          "depends on the right padding)",
                          hint="pad both sides alike, or drop ceil")
            name = "MaxPool" if op == "maxpool" else "AvgPool"
            extra = self.kw(dilation=self.src("d")) if op == "maxpool" else ""
            pool = (f"nn.{name}{r}d({self.src('k')}{self.kw(stride=self.src('s'), padding=p)}"
                    f"{extra}{self.kw(ceil_mode=ceil)})")
            return self.prepad(pool, pre, "float('-inf')" if op == "maxpool" else "0.0"), cin
        if op in ("adaptive_avgpool", "adaptive_maxpool"):
            kind = "Avg" if op == "adaptive_avgpool" else "Max"
            return f"nn.Adaptive{kind}Pool{r}d({out})", cin
        if op in ("gap", "gmp"):
            kind = "Avg" if op == "gap" else "Max"
            return f"nn.Adaptive{kind}Pool{r}d(1)", cin
        if op == "linear":
            return f"nn.Linear({cin}, {out}{self.kw(bias=bias)})", _fold(out)
        if op == "flatten":
            sizes = {row.output.channels for row in self.rows}
            if len(sizes) == 1 and all(type(n) is int for n in sizes):
                return "nn.Flatten()", sizes.pop()
            if len(sizes) == 1:
                why = f"the flattened size {fmt(sizes.pop())} depends on the input size"
                hint = "bind the input's symbols: convcalc export FILE --to torch --set H=224"
            else:
                why = "the flattened size differs between the places it runs"
                hint = "flatten outside the block, or call it on one input size"
            # only an error if a later layer needs the number (linear, bn, ...)
            return "nn.Flatten()", _NeedsNumber(SpecError(
                f"export: {self.item.name}: {why}, and a layer after it needs the number",
                loc=self.item.loc, hint=hint))
        if op == "bn":
            return f"nn.BatchNorm{max(r, 1)}d({cin}{self.kw(affine=self.src('affine'))})", cin
        if op == "gn":
            return (f"nn.GroupNorm({self.src('g')}, {cin}"
                    f"{self.kw(affine=self.src('affine'))})"), cin
        if op == "ln":
            if r == 0:
                return (f"nn.LayerNorm({cin}"
                        f"{self.kw(elementwise_affine=self.src('affine'))})"), cin
            self.gen.helpers.add("ChannelLayerNorm")
            return f"ChannelLayerNorm({cin}{self.kw(affine=self.src('affine'))})", cin
        if op == "in":
            return f"nn.InstanceNorm{r}d({cin}{self.kw(affine=self.src('affine'))})", cin
        if op in ELEMENTWISE:
            name, keys = ELEMENTWISE[op]
            args = [f"{torch_key}={self.src(key)}" for key, torch_key in keys
                    if self.src(key) is not None]
            if op == "prelu" and self.src("num") is not None:
                args = [self.src("num")]
            return f"nn.{name}({', '.join(args)})", cin
        if op == "softmax":
            return "nn.Softmax(dim=1)", cin
        if op == "upsample":
            return (f"nn.Upsample({self.kw(size=self.src('size'), scale_factor=self.src('scale'))[2:]}"
                    f"{self.kw(mode=self.src('mode'), align_corners=self.src('align_corners'))})",
                    cin)
        if op == "pixel_shuffle":
            rr = _fold(self.src("r"))
            return f"nn.PixelShuffle({self.src('r')})", _bin(cin, "//", _bin(rr, "*", rr))
        if op == "channel_shuffle":
            self.gen.helpers.add("ChannelShuffle")
            return f"ChannelShuffle({self.src('g')})", cin
        if op == "se":
            self.gen.helpers.add("SqueezeExcitation")
            squeeze = self.src("squeeze")
            if squeeze is None:
                squeeze = _text(_bin(cin, "//", _fold(self.src("reduction") or "16")))
            act = {"relu": "nn.ReLU", "silu": "nn.SiLU", "relu6": "nn.ReLU6"}[
                self.const("act")]
            gate = {"sigmoid": "nn.Sigmoid", "hardsigmoid": "nn.Hardsigmoid"}[
                self.const("gate")]
            return (f"SqueezeExcitation({cin}, {squeeze}, {act}, {gate}, rank={r})", cin)
        if op == "pad":
            pairs = self.pair_srcs() or self.const_pads([self.pads(a) for a in self.norm])
            return f"nn.ConstantPad{r}d({_torch_pad(pairs)}, 0.0)", cin
        if op == "crop":
            self.gen.helpers.add("Crop")
            pairs = self.pair_srcs() or self.const("p")
            return f"Crop({_pairs_text(pairs)})", cin
        if op == "slice":
            self.gen.helpers.add("ChannelSlice")
            start = _fold(self.src("from") or "0")
            stop = _fold(self.src("to")) if self.src("to") is not None else cin
            return f"ChannelSlice({start}, {stop})", _bin(stop, "-", start)
        self.fail("has no PyTorch export")  # pragma: no cover - every catalog op is above
        raise AssertionError

    def pair_srcs(self) -> list[tuple[str, str]] | None:
        """``p`` as (lo, hi) sources per axis, as the YAML writes them (None: a mode)."""
        y = self.written.get("p")
        if y is None:
            return [("0", "0")] * self.rank
        names = self.cls.names
        if isinstance(y.value, str) and y.value.strip() in ops.PAD_MODES:
            return None
        if not y.is_list:
            one = self.gen.value_src(y, names)[0]
            return [(one, one)] * self.rank
        pairs = []
        for e in y.value:
            if e.is_list:
                lo, hi = (self.gen.value_src(v, names)[0] for v in e.value)
            else:
                lo = hi = self.gen.value_src(e, names)[0]
            pairs.append((lo, hi))
        return pairs

    def axis_convs(self, cin, out, cout, k, pads, bias, strides=None, groups=None) -> list:
        """One conv per axis, each with a kernel only along its axis (spatial_sepconv's
        k×1 then 1×k, flatconv's depthwise lines): ``cin`` → ``out`` channels first, then
        ``cout`` → ``out``; an uneven padding pair becomes an explicit pad before its conv."""
        r = self.rank
        convs, c = [], cin
        for axis in range(r):
            only = lambda v, other: _axes_tuple(v if i == axis else other for i in range(r))
            lo, hi = pads[axis]
            if lo != hi:
                convs.append(self.pad_axis(axis, lo, hi))
                lo = 0
            stride = only(strides[axis], 1) if strides and strides[axis] != 1 else None
            convs.append(f"nn.Conv{r}d({c}, {out}, {only(k[axis], 1)}"
                         f"{self.kw(stride=stride, padding=only(lo, 0) if lo else None)}"
                         f"{self.kw(groups=groups, bias=bias)})")
            c = cout
        return convs

    def pad_axis(self, axis: int, lo: int, hi: int) -> str:
        pairs = [(lo, hi) if i == axis else (0, 0) for i in range(self.rank)]
        return f"nn.ConstantPad{self.rank}d({_torch_pad(pairs)}, 0.0)"

    def prepad(self, module: str, pre, value: str) -> str:
        if not pre:
            return module
        return f"nn.Sequential(nn.ConstantPad{self.rank}d({_torch_pad(pre)}, {value}), {module})"


def _hashable(v):
    return tuple(_hashable(e) for e in v) if isinstance(v, (list, tuple)) else v


# catalog element-wise op → PyTorch module and (catalog key, PyTorch keyword) pairs
ELEMENTWISE = {
    "relu": ("ReLU", (("inplace", "inplace"),)),
    "relu6": ("ReLU6", (("inplace", "inplace"),)),
    "leaky_relu": ("LeakyReLU", (("slope", "negative_slope"), ("inplace", "inplace"))),
    "prelu": ("PReLU", ()),
    "elu": ("ELU", (("alpha", "alpha"), ("inplace", "inplace"))),
    "gelu": ("GELU", (("approximate", "approximate"),)),
    "silu": ("SiLU", (("inplace", "inplace"),)),
    "sigmoid": ("Sigmoid", ()),  # PyTorch's Sigmoid and Tanh take no inplace
    "hardsigmoid": ("Hardsigmoid", (("inplace", "inplace"),)),
    "hardswish": ("Hardswish", (("inplace", "inplace"),)),
    "tanh": ("Tanh", ()),
    "dropout": ("Dropout", (("p", "p"), ("inplace", "inplace"))),
    "identity": ("Identity", ()),
}

# small modules for catalog ops PyTorch has no module for, written into the file when used
HELPERS = {
    "Crop": '''
class Crop(nn.Module):
    """Remove (lo, hi) elements from each spatial axis (convcalc's crop)."""

    def __init__(self, pads):
        super().__init__()
        self.pads = pads

    def forward(self, x):
        index = [slice(None), slice(None)]
        for (lo, hi), n in zip(self.pads, x.shape[2:]):
            index.append(slice(lo, n - hi))
        return x[tuple(index)]
''',
    "ChannelSlice": '''
class ChannelSlice(nn.Module):
    """Keep channels [start, stop) (convcalc's slice: ShuffleNet v2's channel split)."""

    def __init__(self, start, stop):
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x):
        return x[:, self.start:self.stop]
''',
    "ChannelShuffle": '''
class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle (Zhang et al. 2018, §3.1): channels as (groups, c/groups),
    transposed. nn.ChannelShuffle computes the same; written out, ONNX exporters take it."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, *rest = x.shape
        grouped = x.view(n, self.groups, c // self.groups, *rest)
        return grouped.transpose(1, 2).reshape(x.shape)
''',
    "ChannelLayerNorm": '''
class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels at every position (convcalc's ln; ConvNeXt's LayerNorm2d)."""

    def __init__(self, channels, affine=True):
        super().__init__()
        self.norm = nn.LayerNorm(channels, elementwise_affine=affine)

    def forward(self, x):
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)
''',
    "SqueezeExcitation": '''
class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): global average pool, 1x1 conv down, act,
    1x1 conv up, gate, scale the input (convcalc's se; torchvision's SqueezeExcitation)."""

    def __init__(self, channels, squeeze, act=nn.ReLU, gate=nn.Sigmoid, rank=2):
        super().__init__()
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[rank - 1]
        self.pool = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)[rank - 1](1)
        self.down = conv(channels, squeeze, 1)
        self.act = act()
        self.up = conv(squeeze, channels, 1)
        self.gate = gate()

    def forward(self, x):
        return x * self.gate(self.up(self.act(self.down(self.pool(x)))))
''',
    "DeformConv": '''
class DeformConv(nn.Module):
    """Deformable conv, DCN v1 (Dai et al. 2017; v2 with modulated, Zhu et al. 2019): an
    ordinary conv predicts the offsets (and the mask) with the same kernel, stride, padding
    and dilation; torchvision's DeformConv2d samples with them (convcalc's deformconv)."""

    def __init__(self, cin, cout, k, stride=1, padding=0, dilation=1, groups=1,
                 offset_groups=1, modulated=False, bias=True):
        super().__init__()
        kh, kw = (k, k) if isinstance(k, int) else k
        self.offsets = 2 * offset_groups * kh * kw
        self.modulated = modulated
        masks = offset_groups * kh * kw if modulated else 0
        self.offset = nn.Conv2d(cin, self.offsets + masks, k, stride, padding, dilation)
        nn.init.zeros_(self.offset.weight)  # start as a regular conv
        nn.init.zeros_(self.offset.bias)
        self.conv = DeformConv2d(cin, cout, k, stride, padding, dilation, groups, bias)

    def forward(self, x):
        out = self.offset(x)
        if not self.modulated:
            return self.conv(x, out)
        return self.conv(x, out[:, :self.offsets], torch.sigmoid(out[:, self.offsets:]))
''',
}
