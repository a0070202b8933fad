"""YAML → network spec. Every node keeps its ``Loc``; nothing the user wrote is evaluated.

YAML is composed with PyYAML's safe machinery into located values (:class:`Y`): tags other than
the plain YAML scalars are rejected, aliases are expanded under a size budget (no "billion
laughs"), nesting is bounded. Integer expressions (``c*4``, ``(c + 1)//2``) go through a small
whitelisted ``ast`` walker: integers, names, ``+ - * // %``, unary minus and parentheses —
never ``eval``, never ``sympy.sympify``.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import Loc, SpecError, did_you_mean

MAX_NODES = 200_000  # located values after alias expansion
MAX_DEPTH = 100  # nesting of YAML collections
MAX_INT = 2**62  # sizes and counts beyond this are mistakes, not networks
MAX_EXPR = 200  # characters in one expression
MAX_FILE = 5_000_000  # bytes


@dataclass
class Y:
    """A YAML value with where it was written. Maps hold ``dict[str, Y]`` plus key locations."""

    value: Any
    loc: Loc
    keys: dict[str, Loc] | None = None

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def plain(self) -> Any:
        if self.is_map:
            return {k: v.plain() for k, v in self.value.items()}
        if self.is_list:
            return [v.plain() for v in self.value]
        return self.value


# -- reading YAML -------------------------------------------------------------------------

def read_text(path: str) -> str:
    if os.path.isdir(path):
        raise SpecError("is a directory, not a YAML file", loc=Loc(path))
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE + 1)
    except FileNotFoundError:
        raise SpecError("no such file", loc=Loc(path)) from None
    except OSError as err:
        raise SpecError(f"cannot read: {err.strerror}", loc=Loc(path)) from None
    if len(data) > MAX_FILE:
        raise SpecError(f"file is larger than {MAX_FILE // 1_000_000} MB", loc=Loc(path, 1, 1))
    if b"\0" in data:
        raise SpecError("binary file, not YAML", loc=Loc(path, 1, 1))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SpecError("not UTF-8 text", loc=Loc(path, line, 1)) from None


_SCALAR_TAGS = {
    "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:str",
}


def parse_yaml(text: str, file: str) -> Y:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        loc = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file, 1, 1)
        problem = err.problem or err.context or "malformed YAML"
        raise SpecError(f"malformed YAML: {problem}", loc=loc) from None
    except yaml.YAMLError as err:
        raise SpecError(f"malformed YAML: {err}", loc=Loc(file, 1, 1)) from None
    except RecursionError:
        raise SpecError("YAML nested too deeply", loc=Loc(file, 1, 1)) from None
    if node is None:
        raise SpecError("empty file: expected a mapping with 'input' and 'layers'",
                        loc=Loc(file, 1, 1))
    return _Converter(file).convert(node, 0)


class _Converter:
    def __init__(self, file: str) -> None:
        self.file = file
        self.count = 0
        import yaml

        self.yaml = yaml
        self.constructor = yaml.SafeLoader("")

    def loc(self, node) -> Loc:
        return Loc(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node, depth: int) -> Y:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(f"document expands to more than {MAX_NODES:,} values "
                            "(alias/anchor bomb?)", loc=self.loc(node))
        if depth > MAX_DEPTH:
            raise SpecError(f"nested more than {MAX_DEPTH} levels deep", loc=self.loc(node))
        yaml = self.yaml
        if isinstance(node, yaml.ScalarNode):
            if node.tag not in _SCALAR_TAGS:
                raise SpecError(f"unsupported YAML tag {node.tag!r}", loc=self.loc(node),
                                hint="only plain values, lists and mappings are allowed")
            if node.tag == "tag:yaml.org,2002:int":
                digits = sum(ch.isdigit() for ch in node.value)
                if digits > 30:
                    raise SpecError(f"integer with {digits} digits is too large",
                                    loc=self.loc(node))
            try:
                value = self.constructor.construct_object(node)
            except Exception:  # a malformed scalar for its tag
                raise SpecError(f"cannot read value {node.value[:40]!r}",
                                loc=self.loc(node)) from None
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
                raise SpecError(f"integer {value} is too large", loc=self.loc(node))
            return Y(value, self.loc(node))
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise SpecError(f"unsupported YAML tag {node.tag!r}", loc=self.loc(node))
            return Y([self.convert(item, depth + 1) for item in node.value], self.loc(node))
        if isinstance(node, yaml.MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                raise SpecError(f"unsupported YAML tag {node.tag!r}", loc=self.loc(node))
            values: dict[str, Y] = {}
            keys: dict[str, Loc] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in (
                        "tag:yaml.org,2002:str", "tag:yaml.org,2002:int",
                        "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"):
                    raise SpecError("mapping keys must be plain names", loc=self.loc(key_node))
                if key_node.value == "<<":
                    raise SpecError("YAML merge keys ('<<') are not supported",
                                    loc=self.loc(key_node))
                key = key_node.value
                if key in values:
                    raise SpecError(f"duplicate key '{key}' (first at line {keys[key].line})",
                                    loc=self.loc(key_node))
                keys[key] = self.loc(key_node)
                values[key] = self.convert(value_node, depth + 1)
            return Y(values, self.loc(node), keys)
        raise SpecError("unsupported YAML node", loc=self.loc(node))


# -- safe integer expressions ---------------------------------------------------------------

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%"}


def evaluate(text: str, env: dict[str, Any], loc: Loc | None, *, symbols: bool = False) -> Any:
    """Evaluate an integer expression over ``env``; unknown names become size symbols only
    when ``symbols`` is true (inside ``input:``)."""
    if len(text) > MAX_EXPR:
        raise SpecError(f"expression longer than {MAX_EXPR} characters", loc=loc)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise SpecError(f"cannot read expression {text!r}", loc=loc,
                        hint="use integers, names, + - * // % and parentheses") from None
    return _Eval(env, loc, symbols, text).visit(tree.body)


class _Eval:
    def __init__(self, env, loc, symbols, text):
        self.env, self.loc, self.symbols, self.text = env, loc, symbols, text

    def fail(self, what: str, hint: str | None = None):
        raise SpecError(f"{what} in expression {self.text!r}", loc=self.loc,
                        hint=hint or "expressions allow integers, names, + - * // % and "
                                     "parentheses")

    def visit(self, node) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int):
                self.fail(f"{type(node.value).__name__} constant {node.value!r}")
            return self.check(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            if self.symbols:
                from .dims import symbol

                return symbol(node.id)
            raise SpecError(f"undefined name '{node.id}' in {self.text!r}", loc=self.loc,
                            hint=did_you_mean(node.id, self.env) or
                            ("define it under vars: or as a block arg" if not self.env
                             else f"known names: {', '.join(sorted(self.env))}"))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.visit(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.visit(node.left), self.visit(node.right)
            op = type(node.op)
            if op in (ast.FloorDiv, ast.Mod):
                if not isinstance(right, int):
                    self.fail("division by a symbol")
                if right == 0:
                    self.fail("division by zero")
                if op is ast.FloorDiv:
                    from .dims import floordiv

                    return floordiv(left, right) if right > 0 else left // right
                return left % right
            result = {ast.Add: lambda: left + right, ast.Sub: lambda: left - right,
                      ast.Mult: lambda: left * right}[op]()
            return self.check(result)
        if isinstance(node, ast.Call):
            self.fail("a function call")
        if isinstance(node, ast.Attribute):
            self.fail("attribute access")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            self.fail("'**'", "write the product out, e.g. c*c")
        self.fail(f"{type(node).__name__.lower()}")

    def check(self, value):
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise SpecError(f"value {value} in {self.text!r} is too large", loc=self.loc)
        return value


# -- the network spec ------------------------------------------------------------------------

MODIFIERS = ("name", "times", "from")
STRUCTURES = ("residual", "parallel")
MERGES = ("add", "concat", "mul")
TOP_KEYS = ("name", "input", "vars", "blocks", "layers", "expect", "version", "description")
EXPECT_KEYS = ("output", "params", "macs", "flops", "activations", "rf")
MAX_TIMES = 100_000


@dataclass
class Item:
    """One entry of a ``layers`` list: an op, a block call, a structure or a merge."""

    kind: str  # op | block | residual | parallel | merge
    name: str  # op, block or merge name; the structure's name
    args: Y | None  # the value under the key (arguments), unevaluated
    loc: Loc
    label: Y | None = None  # name:
    times: Y | None = None
    source: Y | None = None  # from:
    body: list["Item"] = field(default_factory=list)
    shortcut: list["Item"] | None = None
    branches: list[list["Item"]] = field(default_factory=list)
    merge: str = "concat"


@dataclass
class Block:
    name: str
    params: dict[str, Y | None]  # default (None = required)
    layers: list[Item]
    loc: Loc


@dataclass
class Network:
    file: str
    name: str | None
    input: Y
    vars: dict[str, Y]
    blocks: dict[str, Block]
    layers: list[Item]
    expect: dict[str, Y]
    expect_loc: Loc | None
    loc: Loc


def load(path: str) -> Network:
    return parse(read_text(path), path)


def parse(text: str, file: str) -> Network:
    root = parse_yaml(text, file)
    if not root.is_map:
        kind = "a list" if root.is_list else f"a single value ({root.value!r})"
        raise SpecError(f"the document is {kind}; expected a mapping with 'input' and "
                        f"'layers'", loc=root.loc)
    top = root.value
    for key in top:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown top-level key '{key}'", loc=root.keys[key],
                            hint=did_you_mean(key, TOP_KEYS) or
                            f"top-level keys: {', '.join(TOP_KEYS)}")
    for need in ("input", "layers"):
        if need not in top:
            raise SpecError(f"missing '{need}'", loc=root.loc)
    version = top.get("version")
    if version is not None and (isinstance(version.value, bool) or version.value != 1):
        raise SpecError(f"format version {version.value!r} is not supported; this convcalc "
                        f"reads version 1", loc=version.loc)
    name = top.get("name")
    if name is not None and not isinstance(name.value, (str, int)):
        raise SpecError("'name' must be a string", loc=name.loc)
    vars_y = top.get("vars")
    variables: dict[str, Y] = {}
    if vars_y is not None:
        if not vars_y.is_map:
            raise SpecError("'vars' must be a mapping of names to integers", loc=vars_y.loc)
        for key, value in vars_y.value.items():
            _check_name(key, vars_y.keys[key], "var")
            variables[key] = value
    blocks: dict[str, Block] = {}
    blocks_y = top.get("blocks")
    if blocks_y is not None:
        if not blocks_y.is_map:
            raise SpecError("'blocks' must be a mapping of block names to definitions",
                            loc=blocks_y.loc)
        for key, value in blocks_y.value.items():
            blocks[key] = _block(key, value, blocks_y.keys[key])
    expect: dict[str, Y] = {}
    expect_y = top.get("expect")
    if expect_y is not None:
        if not expect_y.is_map:
            raise SpecError("'expect' must be a mapping", loc=expect_y.loc)
        for key, value in expect_y.value.items():
            if key not in EXPECT_KEYS:
                raise SpecError(f"unknown expectation '{key}'", loc=expect_y.keys[key],
                                hint=did_you_mean(key, EXPECT_KEYS) or
                                f"expect takes {', '.join(EXPECT_KEYS)}")
            expect[key] = value
    layers = _items(top["layers"], "layers")
    return Network(file, None if name is None else str(name.value), top["input"], variables,
                   blocks, layers, expect, expect_y.loc if expect_y else None, root.loc)


def _check_name(key: str, loc: Loc, what: str) -> None:
    if not key.isidentifier():
        raise SpecError(f"{what} name '{key}' is not a valid name", loc=loc)


def _block(name: str, y: Y, loc: Loc) -> Block:
    from . import ops

    _check_name(name, loc, "block")
    if ops.known_op(name) or name in STRUCTURES or name in MERGES:
        raise SpecError(f"block '{name}' shadows the op of the same name", loc=loc,
                        hint="rename the block")
    if y.is_list:
        return Block(name, {}, _items(y, f"block '{name}'"), loc)
    if not y.is_map:
        raise SpecError(f"block '{name}' must be a mapping with 'layers' (and 'args')",
                        loc=y.loc)
    for key in y.value:
        if key not in ("args", "layers"):
            raise SpecError(f"block '{name}' has unknown key '{key}'", loc=y.keys[key],
                            hint=did_you_mean(key, ("args", "layers")) or
                            "a block has 'args' and 'layers'")
    if "layers" not in y.value:
        raise SpecError(f"block '{name}' has no 'layers'", loc=y.loc)
    params: dict[str, Y | None] = {}
    args_y = y.value.get("args")
    if args_y is not None and args_y.value is not None:
        if not args_y.is_map:
            raise SpecError(f"block '{name}': 'args' must map names to defaults (null = "
                            f"required)", loc=args_y.loc)
        for key, default in args_y.value.items():
            _check_name(key, args_y.keys[key], "arg")
            params[key] = None if default.value is None else default
    return Block(name, params, _items(y.value["layers"], f"block '{name}'"), loc)


def _items(y: Y, where: str) -> list[Item]:
    if not y.is_list:
        raise SpecError(f"{where} must be a list of layers", loc=y.loc)
    return [_item(entry) for entry in y.value]


def _item(y: Y) -> Item:
    if isinstance(y.value, str):
        return _make(y.value, None, y.loc, y.loc)
    if not y.is_map:
        raise SpecError(f"a layer is an op name or a mapping, got {y.plain()!r}", loc=y.loc)
    main = [k for k in y.value if k not in MODIFIERS]
    if not main:
        raise SpecError("this item has modifiers but no op", loc=y.loc,
                        hint="write e.g. `- relu: {}` with `name:` on the next line")
    if len(main) > 1:
        raise SpecError(f"one op per item, got {', '.join(main)}", loc=y.keys[main[1]],
                        hint="start a new list item with '- '")
    key = main[0]
    item = _make(key, y.value[key], y.keys[key], y.loc)
    item.label = y.value.get("name")
    item.times = y.value.get("times")
    item.source = y.value.get("from")
    for mod in ("name", "from"):
        value = y.value.get(mod)
        if value is not None and not (isinstance(value.value, str) and
                                      value.value.isidentifier()):
            raise SpecError(f"'{mod}' must be a tensor name", loc=value.loc)
    return item


def _make(key: str, value: Y | None, loc: Loc, item_loc: Loc) -> Item:
    if not isinstance(key, str) or not key:
        raise SpecError("a layer needs an op name", loc=loc)
    if key == "residual":
        if value is None or not value.is_map:
            raise SpecError("residual needs a mapping with 'body' (and 'shortcut')", loc=loc)
        for k in value.value:
            if k not in ("body", "shortcut"):
                raise SpecError(f"residual has no key '{k}'", loc=value.keys[k],
                                hint=did_you_mean(k, ("body", "shortcut")) or
                                "residual takes body and shortcut")
        if "body" not in value.value:
            raise SpecError("residual needs 'body'", loc=loc)
        short = value.value.get("shortcut")
        return Item("residual", key, None, loc, body=_items(value.value["body"], "body"),
                    shortcut=None if short is None or short.value is None
                    else _items(short, "shortcut"))
    if key == "parallel":
        if value is None or not value.is_map:
            raise SpecError("parallel needs a mapping with 'branches' and 'merge'", loc=loc)
        for k in value.value:
            if k not in ("branches", "merge"):
                raise SpecError(f"parallel has no key '{k}'", loc=value.keys[k],
                                hint=did_you_mean(k, ("branches", "merge")) or
                                "parallel takes branches and merge")
        branches_y = value.value.get("branches")
        if branches_y is None or not branches_y.is_list or not branches_y.value:
            raise SpecError("parallel needs 'branches': a list of layer lists", loc=loc)
        merge_y = value.value.get("merge")
        merge = "concat" if merge_y is None else merge_y.value
        if merge not in MERGES:
            raise SpecError(f"merge must be one of {', '.join(MERGES)}, got {merge!r}",
                            loc=merge_y.loc, hint=did_you_mean(str(merge), MERGES))
        branches = []
        for b in branches_y.value:
            if b.value is None:
                branches.append([])
            else:
                branches.append(_items(b, "a branch"))
        return Item("parallel", key, None, loc, branches=branches, merge=merge)
    if key in MERGES:
        if value is None or value.value is None or (value.is_list and not value.value):
            raise SpecError(f"{key} needs the name of a saved tensor", loc=loc,
                            hint=f"`- {key}: X` where an earlier item has `name: X`")
        return Item("merge", key, value, loc)
    return Item("op_or_block", key, value, loc)
