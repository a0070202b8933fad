"""Threads shapes, costs and receptive fields through layers.

``layer_report`` is the one-layer case behind ``convcalc layer``; networks (``walk``) build
on the same composition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from . import ops
from .core import RF, Effect, Shape
from .dims import (complexity, fmt, is_symbolic, largest_coefficient, provably_equal,
                   simplify_int, total)
from .errors import ConvcalcError, Loc, ShapeError, SpecError, did_you_mean
from .spec import MAX_INT, MERGES, STRUCTURES, Y, evaluate


@dataclass(frozen=True)
class LayerReport:
    op: str
    args: dict[str, Any]
    input: Shape
    effect: Effect
    rf: RF

    @property
    def output(self) -> Shape:
        return self.effect.output


def layer_report(op: str, x: Shape, args: dict[str, Any], *, lenient: bool = True) -> LayerReport:
    """One layer on input ``x``: the op table's effect plus the receptive field relative to
    ``x`` itself."""
    effect = ops.apply(op, x, args, lenient=lenient)
    _check_sizes(ops.resolve(op).name, None, effect.output, None)
    rf = RF.identity(x.rank).then(effect.rf, x.spatial)
    return LayerReport(ops.resolve(op).name, dict(args), x, effect, rf)


# -- networks ------------------------------------------------------------------------------

MAX_ROWS = 100_000  # leaf layers in one network; also bounds repetitions (``times``)
MAX_SYMBOLIC_ROWS = 1_000  # layers with symbolic sizes: sympy makes each ~10-50 ms
MAX_NESTING = 100  # block calls and structures inside one another


@dataclass(frozen=True)
class Row:
    """One leaf layer of a network walk."""

    index: int
    path: str
    name: str | None
    op: str
    input: Shape
    output: Shape
    params: Any
    macs: Any
    flops: Any
    rf: RF
    loc: Loc | None
    parts: tuple = ()
    ancestors: tuple[tuple[str, str], ...] = ()  # (path, what) of enclosing blocks/structures
    batch: int = 1  # macs and flops above are already multiplied by it; shapes are per sample
    args: tuple = ()  # (key, value) as written, evaluated (lists as tuples): what diff compares
    # The data-flow edges: the indices of the rows whose outputs this row reads, in the
    # order the op takes them (INPUT for the network input). A leaf reads one tensor; a
    # merge reads its branches' (residual: body, then shortcut). Every analysis over the
    # network (totals, liveness, training) reads these edges; nothing walks the spec again.
    reads: tuple[int, ...] = ()

    @property
    def activations(self) -> Any:
        n = self.output.numel()
        return None if n is None else n * self.batch


INPUT = -1  # the index ``Row.reads`` and ``Report.out`` use for the network input


@dataclass(frozen=True)
class Report:
    name: str | None
    file: str
    input: Shape
    output: Shape
    rows: tuple[Row, ...]
    rf: RF
    batch: int = 1
    assumptions: tuple[str, ...] = ()
    expect: dict = field(default_factory=dict)
    bindings: dict = field(default_factory=dict)  # --set values, for expectations
    input_override: bool = False  # --input replaced the declared input
    out: int = INPUT  # the row whose output is the network's output (INPUT: no layers)
    spec: Any = field(default=None, compare=False, repr=False)  # the network walked

    def readers(self) -> list[list[int]]:
        """For each row, the rows that read its output (the graph's edges reversed)."""
        out: list[list[int]] = [[] for _ in self.rows]
        for row in self.rows:
            for src in row.reads:
                if src != INPUT:
                    out[src].append(row.index)
        return out

    def total(self, what: str) -> Any:
        """Sum over rows; rows already carry the batch (SPEC §5: totals = sum over layers)."""
        values = [getattr(r, what) for r in self.rows]
        if any(v is None for v in values):
            return None
        return total(values)

    @cached_property
    def totals(self) -> dict[str, Any]:
        return {k: _clean(self.total(k)) for k in ("params", "macs", "flops", "activations")}


def _clean(x):
    return x if type(x) is int else simplify_int(x) if is_symbolic(x) else x


@dataclass(frozen=True)
class Tensor:
    shape: Shape
    rf: RF
    src: int = INPUT  # the row that made it


class _Scope:
    """Saved tensors (``name:``); a block call gets its own scope that can read outward."""

    def __init__(self, parent: "_Scope | None" = None) -> None:
        self.tensors: dict[str, Tensor] = {}
        self.parent = parent
        self.labels: dict[str, Loc] = {}  # where each name of this scope was given

    def claim(self, label: str, loc: Loc) -> None:
        """A name is given once per scope: a second one would make a second row with the
        same path and silently replace the saved tensor."""
        first = self.labels.setdefault(label, loc)
        if first != loc:
            raise SpecError(f"duplicate name '{label}' (first at line {first.line})", loc=loc,
                            hint="a name is unique within its list: the layers, a block, "
                                 "a residual body or shortcut, a parallel branch")

    def get(self, name: str) -> Tensor | None:
        scope = self
        while scope is not None:
            if name in scope.tensors:
                return scope.tensors[name]
            scope = scope.parent
        return None

    def names(self) -> list[str]:
        out, scope = [], self
        while scope is not None:
            out.extend(scope.tensors)
            scope = scope.parent
        return out


def parse_input(net, env: dict[str, Any], override: list | None = None) -> Shape:
    if override is not None:
        # a command-line value: its mistakes are the option's, not the YAML's
        try:
            return _parse_input(net, env, override)
        except ConvcalcError as err:
            err.loc = None
            if not err.message.startswith("--input"):
                err.prefixed("--input")
            raise
    return _parse_input(net, env, None)


def _parse_input(net, env: dict[str, Any], override: list | None) -> Shape:
    if override is not None:
        declared = net.input.value if net.input.is_list else None
        if declared is not None and len(declared) != len(override):
            axes = lambda n: f"{n} spatial size{'s' if n != 1 else ''}"
            raise SpecError(f"--input: {axes(len(override) - 1)}, but the network declares "
                            f"{axes(len(declared) - 1)} (input: {net.input.brief()})",
                            hint="give channels and one size per declared axis, like "
                                 + "x".join(str(y.value).replace(" ", "") for y in declared))
        values = [Y(v, None) for v in override]
        loc = None
    else:
        if not net.input.is_list:
            raise SpecError("'input' must be a list: channels then 0–3 spatial sizes, e.g. "
                            "[3, 224, 224]", loc=net.input.loc)
        values, loc = net.input.value, net.input.loc
    if not 1 <= len(values) <= 4:
        raise SpecError(f"'input' has {len(values)} entries; expected channels then 0–3 "
                        f"spatial sizes", loc=loc)
    dims = []
    for i, y in enumerate(values):
        v = y.value
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise SpecError(f"input sizes must be integers or names, got {y.brief()}", loc=y.loc)
        if isinstance(v, str):
            v = evaluate(v, env, y.loc, symbols=i > 0)
        if isinstance(v, int) and v < 1:
            raise SpecError(f"input sizes must be positive, got {v}", loc=y.loc)
        if i == 0 and not isinstance(v, int):
            raise SpecError("the channel count must be a number", loc=y.loc)
        dims.append(v)
    return Shape(dims[0], tuple(dims[1:]))


def settable_names(net, override: list | None = None) -> set[str]:
    """What ``--set`` may bind in ``net``: its vars and the symbols of its input (``--input``
    replaces the declared sizes and symbols)."""
    names = set(net.vars)
    values = override if override is not None else (
        net.input.value if net.input.is_list else [])
    for y in values:
        v = y.value if isinstance(y, Y) else y
        if isinstance(v, str):
            names.update(_names_in(v))
    return names


def input_shape(net, override: list | None = None, sets: dict[str, int] | None = None
                ) -> Shape:
    """The network's input shape as the walk reads it: vars evaluated, ``--set`` bound."""
    return _Walker(net, override, sets or {}, 1).input_shape()


def walk(net, *, input_override: list | None = None, sets: dict[str, int] | None = None,
         batch: int = 1, merges: list | None = None) -> Report:
    """Thread shapes, costs and receptive fields through a parsed network.

    ``merges``: a list to record every merge in, as ``(row index, how, input shapes)``; with
    it, numeric sizes that differ at a merge do not stop the walk (the first input's shape
    goes on) — the sizes analysis (``sizes.py``) judges the merges from the record."""
    return _Walker(net, input_override, sets or {}, batch, merges).run()


class _Walker:
    def __init__(self, net, input_override, sets, batch, merges=None) -> None:
        self.net = net
        self.merges = merges
        self.rows: list[Row] = []
        self.assumptions: list[str] = []
        self.reps = 1  # product of the enclosing items' ``times``
        self.symbolic_rows = 0
        self.literal_args: dict[int, dict] = {}  # id(item) → args without names or strings
        self.sets = sets
        self.batch = batch
        self.input_override = input_override

    def input_shape(self) -> Shape:
        env: dict[str, Any] = {}
        for name, y in self.net.vars.items():
            # --set binds a var before the vars that depend on it are computed
            env[name] = self.sets[name] if name in self.sets else self.value(y, env, "expr")
        for name, value in self.sets.items():
            env[name] = value
        self.env = env
        return parse_input(self.net, env, self.input_override)

    def run(self) -> Report:
        net = self.net
        x_shape = self.input_shape()
        env = self.env
        unused = set(self.sets) - settable_names(net, self.input_override)
        if unused:
            raise SpecError(f"--set {sorted(unused)[0]}: no var or input symbol of that name "
                            f"in {net.file}")
        self.extent = x_shape.spatial
        self.env = env
        x = Tensor(x_shape, RF.identity(x_shape.rank))
        _refuse_bombs(net)
        x = self.items(net.layers, x, env, _Scope(), "", (), ())
        return Report(net.name, net.file, x_shape, x.shape, tuple(self.rows), x.rf,
                      self.batch, tuple(dict.fromkeys(self.assumptions)),
                      {k: v for k, v in net.expect.items()}, dict(self.sets),
                      self.input_override is not None, x.src, net)

    # -- values --------------------------------------------------------------------------

    def value(self, y, env, kind: str | None = None, choices: tuple = ()) -> Any:
        v = y.value
        if type(v) is int or type(v) is bool:
            return v
        if isinstance(v, list):
            return [self.value(item, env, kind, choices) for item in v]
        if isinstance(v, dict):
            raise SpecError("expected a value, got a mapping", loc=y.loc)
        if isinstance(v, str):
            text = v.strip()
            if kind in ("enum", "pad") and (text in choices or text in ops.PAD_MODES):
                return text  # a legal mode
            if text not in env and (kind in ("enum", "bool") or (
                    kind in ("pad", None) and text.isidentifier())):
                return text  # a word, not a name: the op judges it ("did you mean 'same'?")
            if kind == "enum":
                return env.get(text, text)
            return evaluate(text, env, y.loc)
        return v

    # -- items ---------------------------------------------------------------------------

    def items(self, items, x: Tensor, env, scope, prefix, ancestors, stack) -> Tensor:
        for i, item in enumerate(items):
            x = self.item(item, i, x, env, scope, prefix, ancestors, stack)
        return x

    def item(self, item, i, x, env, scope, prefix, ancestors, stack) -> Tensor:
        label = item.label.value if item.label is not None else None
        if label is not None:
            scope.claim(label, item.label.loc)
        seg = label or str(i)
        base = f"{prefix}.{seg}" if prefix else seg
        times = 1
        if item.times is not None:
            times = self.value(item.times, env)
            if isinstance(times, bool) or not isinstance(times, int) or times < 1:
                raise SpecError(f"'times' must be a positive integer, got {times!r}",
                                loc=item.times.loc)
            if times > MAX_ROWS:
                raise SpecError(f"'times: {times}' is more than {MAX_ROWS:,} repetitions",
                                loc=item.times.loc)
            if self.reps * times > MAX_ROWS:
                # nested repetitions multiply: refuse before doing the work
                raise SpecError(f"'times: {times}' inside {self.reps:,} repetitions makes "
                                f"{self.reps * times:,}, more than {MAX_ROWS:,}",
                                loc=item.times.loc)
        if item.source is not None:
            name = item.source.value
            saved = scope.get(name)
            if saved is None:
                raise SpecError(f"'from: {name}' names no saved tensor", loc=item.source.loc,
                                hint=did_you_mean(name, scope.names()) or
                                "save one with `name:` on an earlier item")
            x = saved
        outer = self.reps
        self.reps = outer * times
        try:
            for r in range(times):
                path = f"{base}.{r}" if times > 1 else base
                x = self.one(item, x, env, scope, path, label if times == 1 else None,
                             ancestors, stack)
        finally:
            self.reps = outer
        if label is not None:
            scope.tensors[label] = x
        return x

    def one(self, item, x, env, scope, path, label, ancestors, stack) -> Tensor:
        if len(ancestors) >= MAX_NESTING and (item.kind in ("residual", "parallel")
                                              or item.name in self.net.blocks):
            raise SpecError(f"blocks and structures nested more than {MAX_NESTING} deep",
                            loc=item.loc)
        if item.kind == "residual":
            return self.residual(item, x, env, scope, path, ancestors, stack)
        if item.kind == "parallel":
            return self.parallel(item, x, env, scope, path, ancestors, stack)
        if item.kind == "merge":
            return self.named_merge(item, x, env, scope, path, label, ancestors, stack)
        if item.name in self.net.blocks:
            return self.block(item, x, env, scope, path, ancestors, stack)
        if not ops.known_op(item.name):
            choices = [*ops.OPS, *ops.ALIASES, *self.net.blocks, *STRUCTURES, *MERGES]
            raise SpecError(f"unknown op '{item.name}'", loc=item.loc,
                            hint=did_you_mean(item.name, choices) or
                            "`convcalc ops` lists the ops; blocks are defined under blocks:")
        return self.leaf(item, x, env, path, label, ancestors, stack)

    def context(self, what: str, path: str, stack) -> str:
        if stack:
            block, call_path = stack[-1]
            return f"{what} in block '{block}' ({call_path})"
        return f"{what} ({path})"

    def leaf(self, item, x, env, path, label, ancestors, stack) -> Tensor:
        opdef = ops.resolve(item.name)
        args_y = item.args
        args = self.literal_args.get(id(item))
        if args is None:
            args = self.arguments(item, opdef, env)
        try:
            effect = ops.apply(item.name, x.shape, args)
        except ConvcalcError as err:
            loc = item.loc
            if err.key is not None and args_y is not None and args_y.keys:
                loc = args_y.keys.get(err.key) or _alias_loc(args_y.keys, err.key) or loc
            message = err.message
            if message.startswith(opdef.name + ": "):
                message = message[len(opdef.name) + 2:]
            err.message = f"{item.name} ({path}) on input {x.shape}: {message}"
            raise err.at(loc)
        rf = x.rf.then(effect.rf, self.extent)
        index = self.add_row(path, label, opdef.name, x.shape, effect.output, effect.params,
                             effect.macs, effect.flops, rf, item.loc, effect.parts, ancestors,
                             tuple((k, _frozen(v)) for k, v in args.items()), (x.src,))
        return Tensor(effect.output, rf, index)

    def arguments(self, item, opdef, env) -> dict[str, Any]:
        """Evaluate an op's arguments in ``env``; numbers-only ones are kept for reuse."""
        args_y = item.args
        args: dict[str, Any] = {}
        if args_y is None or args_y.value is None:
            return args
        if not args_y.is_map:
            raise SpecError(f"{item.name} takes a mapping of keys, got {args_y.brief()}",
                            loc=args_y.loc, hint=f"write `{item.name}: {{k: 3}}`")
        for key, y in args_y.value.items():
            spec_key = opdef.keys.get(ops.KEY_ALIASES.get(key, key))
            kind = spec_key.kind if spec_key else None
            try:
                args[key] = self.value(y, env, kind, spec_key.choices if spec_key else ())
            except ConvcalcError as err:
                raise err.at(y.loc)
        if all(_literal(y.value) for y in args_y.value.values()):
            self.literal_args[id(item)] = args  # the same in every repetition and block call
        return args

    def add_row(self, path, name, op, inp, out, params, macs, flops, rf, loc, parts,
                ancestors, args=(), reads=()) -> int:
        if len(self.rows) >= MAX_ROWS:
            raise SpecError(f"the network has more than {MAX_ROWS:,} layers", loc=loc)
        if not (out.channels is None or type(out.channels) is int) or not all(
                type(d) is int for d in out.spatial):
            self.symbolic_rows += 1
            if self.symbolic_rows > MAX_SYMBOLIC_ROWS:
                raise SpecError(f"more than {MAX_SYMBOLIC_ROWS:,} layers with symbolic sizes",
                                loc=loc, hint="give the input sizes as numbers (or bind "
                                "them: convcalc net --set H=224)")
        _check_sizes(op, path, out, loc)
        # --batch multiplies MACs and FLOPs (not params) in every row, so totals = sum of rows
        if self.batch != 1 or type(macs) is not int or type(flops) is not int:
            macs, flops = (None if v is None else _clean(v * self.batch) for v in (macs, flops))
        self.rows.append(Row(len(self.rows), path, name, op, inp, out, _clean(params), macs,
                             flops, rf, loc, parts, ancestors, self.batch, args, reads))
        return len(self.rows) - 1

    def block(self, item, x, env, scope, path, ancestors, stack) -> Tensor:
        block = self.net.blocks[item.name]
        chain = [name for name, _ in stack]
        if item.name in chain:
            cycle = " → ".join(chain[chain.index(item.name):] + [item.name])
            raise SpecError(f"block '{item.name}' calls itself ({cycle})", loc=item.loc)
        given: dict[str, Any] = {}
        args_y = item.args
        if args_y is not None and args_y.value is not None:
            if not args_y.is_map:
                raise SpecError(f"block '{item.name}' takes a mapping of args, got "
                                f"{args_y.brief()}", loc=args_y.loc)
            for key, y in args_y.value.items():
                if key not in block.params:
                    raise SpecError(f"block '{item.name}' has no arg '{key}'",
                                    loc=args_y.keys[key],
                                    hint=did_you_mean(key, block.params) or
                                    (f"its args: {', '.join(block.params)}" if block.params
                                     else "it takes no args"))
                given[key] = self.value(y, env)
                if isinstance(given[key], str) and given[key] not in _enum_values():
                    # SPEC §2.4: a name that is neither a var, an arg nor an enum value is
                    # an error here, not a string that fails later inside the block
                    raise SpecError(f"undefined name '{given[key]}' in {y.value!r}",
                                    loc=y.loc, hint=did_you_mean(given[key], env) or
                                    "define it under vars: or as a block arg")
        inner = dict(self.env)
        for key, default in block.params.items():
            if key in given:
                inner[key] = given[key]
            elif default is None:
                raise SpecError(f"block '{item.name}' needs arg '{key}'", loc=item.loc,
                                hint=f"`- {item.name}: {{{key}: ...}}`")
            else:
                inner[key] = self.value(default, {**self.env, **given})
        anc = ancestors + ((path, item.name),)
        return self.items(block.layers, x, inner, _Scope(scope), path, anc,
                          stack + ((item.name, path),))

    def residual(self, item, x, env, scope, path, ancestors, stack) -> Tensor:
        anc = ancestors + ((path, "residual"),)
        body = self.items(item.body, x, env, _Scope(scope), f"{path}.body", anc, stack)
        short = x if item.shortcut is None else self.items(
            item.shortcut, x, env, _Scope(scope), f"{path}.shortcut", anc, stack)
        out = self.merge_shapes("add", [body.shape, short.shape], item.loc,
                                self.context("residual", path, stack),
                                ["body", "shortcut"])
        rf = body.rf.union(short.rf)
        index = self.add_row(f"{path}.add", None, "add", body.shape, out, 0, 0,
                             ops.merge_flops("add", 2, out), rf, item.loc, (), anc, (),
                             (body.src, short.src))
        return Tensor(out, rf, index)

    def parallel(self, item, x, env, scope, path, ancestors, stack) -> Tensor:
        anc = ancestors + ((path, "parallel"),)
        outs = [self.items(branch, x, env, _Scope(scope), f"{path}.{b}", anc, stack)
                for b, branch in enumerate(item.branches)]
        names = [f"branch {b}" for b in range(len(outs))]
        return self.finish_merge(item.merge, outs, item.loc,
                                 self.context(f"parallel {item.merge}", path, stack), names,
                                 f"{path}.{item.merge}", None, anc)

    def named_merge(self, item, x, env, scope, path, label, ancestors, stack) -> Tensor:
        y = item.args
        names_y = y.value if y.is_list else [y]
        tensors, names = [x], ["the current tensor"]
        for ny in names_y:
            name = ny.value
            if not isinstance(name, str):
                raise SpecError(f"{item.name} takes tensor names, got {ny.brief()}", loc=ny.loc)
            saved = scope.get(name)
            if saved is None:
                raise SpecError(f"{item.name}: no saved tensor '{name}'", loc=ny.loc,
                                hint=did_you_mean(name, scope.names()) or
                                "save one with `name:` on an earlier item")
            tensors.append(saved)
            names.append(f"'{name}'")
        return self.finish_merge(item.name, tensors, item.loc,
                                 self.context(item.name, path, stack), names, path, label,
                                 ancestors, (("tensors", tuple(ny.value for ny in names_y)),))

    def finish_merge(self, how, tensors, loc, context, names, path, label, ancestors,
                     args=()):
        shapes = [t.shape for t in tensors]
        out = self.merge_shapes(how, shapes, loc, context, names)
        rf = tensors[0].rf
        for t in tensors[1:]:
            rf = rf.union(t.rf)
        flops = ops.merge_flops(how, len(tensors), out)
        index = self.add_row(path, label, how, shapes[0], out, 0, 0, flops, rf, loc, (),
                             ancestors, args, tuple(t.src for t in tensors))
        return Tensor(out, rf, index)

    def merge_shapes(self, how, shapes, loc, context, names) -> Shape:
        first = shapes[0]
        if self.merges is not None:
            self.merges.append((len(self.rows), how, tuple(shapes)))
        spatial = list(first.spatial)
        for shape, name in zip(shapes[1:], names[1:]):
            same_rank = shape.rank == first.rank
            if how == "concat":
                ok = same_rank and all(self.same(a, b, spatial, i) for i, (a, b) in
                                       enumerate(zip(first.spatial, shape.spatial)))
                what = "spatial sizes"
            else:
                ok = same_rank and shape.channels == first.channels and all(
                    self.same(a, b, spatial, i) for i, (a, b) in
                    enumerate(zip(first.spatial, shape.spatial)))
                what = "shapes"
            if not ok and self.merges is None:
                raise ShapeError(f"{context}: {names[0]} gives {first} but {name} gives "
                                 f"{shape}" + ("" if how != "concat" else
                                               f" ({what} must match to concat)"), loc=loc)
        channels = first.channels
        if how == "concat":
            channels = sum(s.channels for s in shapes)
        return Shape(channels, tuple(spatial))

    def same(self, a, b, spatial, i) -> bool:
        """Equal sizes; symbolic sizes that are not provably equal are recorded as an
        assumption (they agree for the inputs PyTorch would accept) and the simpler kept."""
        if provably_equal(a, b):
            return True
        if not is_symbolic(a) and not is_symbolic(b):
            return False
        self.assumptions.append(f"{fmt(a)} = {fmt(b)}")
        if complexity(b) < complexity(a):
            spatial[i] = b
        return True


def _enum_values() -> set[str]:
    """Every string an op key accepts (modes, gates, padding modes) — legal block-arg values."""
    return {c for d in ops.OPS.values() for k in d.keys.values() for c in k.choices} | set(
        ops.PAD_MODES)


def _check_sizes(op: str, path: str | None, out: Shape, loc) -> None:
    """Sizes beyond 2**62 are mistakes, not networks — and left alone, 300 repetitions of
    ``upsample: {scale: 2**62}`` make numbers too long to print. Symbolic sizes are held to
    coefficients of at most 100 digits. ``path`` None: one layer (``convcalc layer``)."""
    where = op if path is None else f"{op} ({path})"
    for d in (out.channels, *out.spatial):
        if isinstance(d, int):
            if d > MAX_INT:
                raise ShapeError(f"{where}: output {out} has a size beyond 2**62", loc=loc)
        elif d is not None and is_symbolic(d):
            if largest_coefficient(d) > 10**100:
                raise ShapeError(f"{where}: output size has a coefficient of more than "
                                 "100 digits", loc=loc)


def _refuse_bombs(net) -> None:
    """Refuse an expansion bomb before walking it (blocks whose branches call blocks whose
    branches call blocks…, or repetitions inside repetitions): a lower bound of the rows each
    item makes — literal ``times`` only, each block counted once — must stay within
    ``MAX_ROWS``; the error points at the innermost item that goes over."""
    memo: dict[str, int] = {}
    busy: set[str] = set()

    def over(loc) -> SpecError:
        return SpecError(f"the network expands to more than {MAX_ROWS:,} layers "
                         "(repetitions and branches multiply)", loc=loc)

    def items(seq, depth: int) -> int:
        total = 0
        for it in seq:
            total += item(it, depth)
            if total > MAX_ROWS:
                raise over(it.loc)
        return total

    def item(it, depth: int) -> int:
        if depth > MAX_NESTING:  # the walk reports it, at the place
            return 0
        if it.kind == "residual":
            n = 1 + items(it.body, depth + 1) + items(it.shortcut or [], depth + 1)
        elif it.kind == "parallel":
            n = 1 + sum(items(b, depth + 1) for b in it.branches)
        elif it.kind == "op_or_block" and it.name in net.blocks:
            n = block(it.name, depth + 1)
        else:
            n = 1
        if n > MAX_ROWS:
            raise over(it.loc)
        t = it.times.value if it.times is not None else 1
        if isinstance(t, bool) or not isinstance(t, int) or t <= 1:
            return n  # 1, or an expression or a mistake: the walk checks it
        if t > MAX_ROWS:
            raise SpecError(f"'times: {t}' is more than {MAX_ROWS:,} repetitions",
                            loc=it.times.loc)
        if n * t > MAX_ROWS:
            raise SpecError(f"'times: {t}' of at least {n:,} layers each makes more than "
                            f"{MAX_ROWS:,} layers", loc=it.times.loc)
        return n * t

    def block(name: str, depth: int) -> int:
        if name in memo:
            return memo[name]
        if name in busy:  # a cycle: the walk reports it
            return 0
        busy.add(name)
        n = items(net.blocks[name].layers, depth)
        busy.discard(name)
        if depth <= MAX_NESTING:
            memo[name] = n
        return n

    items(net.layers, 0)


def _literal(value) -> bool:
    """Numbers and booleans (and lists of them) mean the same in every scope."""
    if isinstance(value, list):
        return all(_literal(v.value) for v in value)
    return isinstance(value, (int, float))  # bool is an int


def _frozen(value):
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def _alias_loc(keys: dict, canon: str):
    for spelled, loc in keys.items():
        if ops.KEY_ALIASES.get(spelled) == canon:
            return loc
    return None


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def groups(report: Report, depth: int) -> list[tuple[tuple[str, str] | None, list[Row]]]:
    """The rows in runs: ``(None, [row])`` for a row nested at most ``depth`` deep, and
    ``((path, what), rows)`` for the consecutive rows inside one enclosing item at ``depth``.
    :func:`collapse` and ``memory.collapse_rows`` both group by it."""
    out: list[tuple[tuple[str, str] | None, list[Row]]] = []
    for row in report.rows:
        k = row.ancestors[depth] if len(row.ancestors) > depth else None
        if k is not None and out and out[-1][0] == k:
            out[-1][1].append(row)
        else:
            out.append((k, [row]))
    return out


def collapse(report: Report, depth: int) -> tuple[Row, ...]:
    """Rows nested deeper than ``depth`` become one row per enclosing item at that depth; the
    data-flow edges follow (a group reads what its rows read from outside the group)."""
    out: list[Row] = []
    where: dict[int, int] = {INPUT: INPUT}  # row index → collapsed row index
    for key, group in groups(report, depth):
        if key is None:
            row = group[0]
            reads = tuple(where[s] for s in row.reads)
            where[row.index] = len(out)
            out.append(Row(len(out), row.path, row.name, row.op, row.input, row.output,
                           row.params, row.macs, row.flops, row.rf, row.loc, row.parts,
                           row.ancestors, row.batch, row.args, reads))
            continue
        first, last = group[0], group[-1]
        inside = {r.index for r in group}
        # a group reads what its rows read from outside it
        reads = tuple(dict.fromkeys(where[s] for r in group for s in r.reads
                                    if s not in inside))
        total = lambda attr: None if any(getattr(r, attr) is None for r in group) \
            else sum(getattr(r, attr) for r in group)
        for r in group:
            where[r.index] = len(out)
        out.append(Row(len(out), key[0], None, key[1], first.input, last.output,
                       total("params"), total("macs"), total("flops"), last.rf, first.loc,
                       (), first.ancestors[:depth], first.batch, (), reads))
    return tuple(out)
