"""YAML → network spec. Every node keeps its ``Loc``; nothing the user wrote is evaluated.

YAML is composed with PyYAML's safe machinery into located values (:class:`Y`): tags other than
the plain YAML scalars are rejected, aliases are expanded under a size budget (no "billion
laughs"), nesting is bounded. Integer expressions (``c*4``, ``(c + 1)//2``) go through a small
whitelisted ``ast`` walker: integers, names, ``+ - * // %``, unary minus and parentheses —
never ``eval``, never ``sympy.sympify``.
"""

from __future__ import annotations

import ast
import re
import os
from dataclasses import dataclass, field
from functools import lru_cache
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

    def brief(self) -> str:
        """A short repr for messages: a 100,000-value list must not become the message."""
        import reprlib

        r = reprlib.Repr()
        r.maxlevel, r.maxlist, r.maxdict, r.maxstring, r.maxother = 2, 4, 4, 40, 40
        text = r.repr(self.plain())
        return text if len(text) <= 80 else text[:79] + "…"


def shown(value: Any) -> str:
    """A value for a message, located values inside collections included: what the user
    wrote, never convcalc's own records (``Y(value=..., loc=...)``); YAML's null, true and
    false, not Python's None, True and False."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return Y(value, None).brief()


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
    return _decode(data, path, "file")


def _decode(data: bytes, name: str, noun: str) -> str:
    """The text of a file or of standard input, held to the same rules (size, binary, UTF-8)."""
    if len(data) > MAX_FILE:
        raise SpecError(f"{noun} is larger than {MAX_FILE // 1_000_000} MB", loc=Loc(name, 1, 1))
    if b"\0" in data:
        raise SpecError(f"binary {noun}, not YAML", loc=Loc(name, 1, 1))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SpecError("not UTF-8 text", loc=Loc(name, line, 1)) from None


_PLAIN_INT = re.compile(r"(?:0|[1-9][0-9]{0,17})\Z")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEYWORDS = {"yes", "no", "true", "false", "on", "off", "null", "y", "n"}

_SCALAR_TAGS = {
    "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:str",
}


_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_PLAIN_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)\Z")


def _refuse_misread(tag: str, text: str, value, loc: Loc) -> None:
    """YAML 1.1 reads some plain scalars as something a reader would not: ``010`` is 8
    (octal), ``0x10`` 16, ``1:20`` 80 (base 60), ``1_000`` 1000, and ``yes``/``no``/``on``/
    ``off`` are booleans. A network file means what it looks like, so these are errors."""
    if tag == "tag:yaml.org,2002:bool":
        if text.lower() not in ("true", "false"):
            word = "true" if value else "false"
            raise SpecError(f"{text!r} reads as {word} in YAML 1.1", loc=loc,
                            hint=f"write {word}, or quote it for the word")
        return
    if tag == "tag:yaml.org,2002:int":
        if _DECIMAL.match(text):
            return
    elif tag != "tag:yaml.org,2002:float" or ("_" not in text and ":" not in text):
        return
    digits = text.lstrip("+-").lower()
    why = ("base 60" if ":" in digits else "hexadecimal" if digits.startswith("0x")
           else "binary" if digits.startswith("0b") else "digits separated by '_'"
           if "_" in digits else "octal")
    raise SpecError(f"{text!r} reads as {value!r} in YAML 1.1 ({why})", loc=loc,
                    hint=f"write {value!r} in plain decimal")


# what YAML allows in a stream (YAML 1.1 §5.1, as both of PyYAML's readers check it)
_NON_PRINTABLE = re.compile(r"[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD"
                            r"\U00010000-\U0010FFFF]")
_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # YAML's line breaks


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting lines as YAML does."""
    line, start = 1, 0
    for m in _BREAK.finditer(text, 0, index):
        line, start = line + 1, m.end()
    return line, index - start + 1


# characters whose reading differs between libyaml and the pure-Python parser (above)
_LIBYAML_DIFFERS = re.compile(r"[\t?!]")


def parse_yaml(text: str, file: str) -> Y:
    """Compose ``text`` into located values, one parser event at a time.

    Nothing recurses (a 5000-deep ``[[[[…`` is one located error, not a RecursionError), the
    depth and alias budgets are enforced as the events stream in (a hostile file is refused
    at its first offending event). Tags are resolved and checked here, whichever parser
    produced the events.

    PyYAML's pure-Python parser is the reference: it has no limits of its own, so every
    limit a user meets is convcalc's, with convcalc's message. libyaml, when PyYAML has it,
    is only a faster way (about 20×) to the same events: it is used for files without a tab,
    a '?' or a '!' (it reads tabs as separators where the pure-Python parser refuses them,
    takes ``[relu?]`` as a value where the pure-Python parser stops at the '?', and ends a
    tag at a ',' in a flow collection where the pure-Python parser reads on), and when it
    refuses a file — a syntax error, or its own nesting limit, which its look-ahead can reach
    before convcalc's limit of 100 levels is seen — the file is parsed again by the reference
    parser, which says what is wrong and where. So one file gets one answer, with or without
    libyaml, on any PyYAML 6."""
    import yaml

    bad = _NON_PRINTABLE.search(text)
    if bad:  # checked here, before either parser: both would stop at it, at different times
        line, col = _position(text, bad.start())
        raise SpecError(f"malformed YAML: unacceptable character #x{ord(bad.group()):04x}",
                        loc=Loc(file, line, col))
    try:
        from yaml._yaml import CParser
    except ImportError:  # PyYAML without libyaml
        CParser = None
    root: Y | None = None
    done = False
    if CParser is not None and not _LIBYAML_DIFFERS.search(text):
        try:
            root, done = _Builder(file).build(CParser(text)), True
        except yaml.YAMLError:
            pass  # libyaml refused the file: the reference parser says why, below
    if not done:
        try:
            root = _Builder(file).build(yaml.SafeLoader(text))
        except yaml.MarkedYAMLError as err:
            raise _yaml_error(err, text, file) from None
        except yaml.YAMLError as err:
            raise SpecError(f"malformed YAML: {' '.join(str(err).split())}",
                            loc=Loc(file, 1, 1)) from None
    if root is None or root.value is None:  # no document, or one empty value ('---'), which
        # libyaml and the pure-Python parser place differently
        raise SpecError("empty file: expected a mapping with 'input' and 'layers'",
                        loc=Loc(file, 1, 1))
    return root


def _yaml_error(err, text: str, file: str) -> SpecError:
    """The reference parser's error as one located convcalc diagnostic."""
    mark = err.problem_mark or err.context_mark
    if mark is None:
        return SpecError("malformed YAML", loc=Loc(file, 1, 1))
    loc = Loc(file, mark.line + 1, mark.column + 1)
    index = mark.index  # a character index into ``text`` (the pure-Python reader's mark)
    if 0 <= index < len(text) and text[index] == "\t":
        start = index - mark.column
        if not text[start:index].strip(" \t"):
            return SpecError("malformed YAML: a tab in the indentation", loc=loc,
                             hint="YAML forbids tabs for indentation; indent with spaces")
        return SpecError("malformed YAML: a tab between values", loc=loc,
                         hint="YAML forbids tabs for indentation, and convcalc reads tabs "
                              "only inside quoted strings and comments; use spaces")
    problem = " ".join(str(err.problem or err.context or "malformed YAML").split())
    return SpecError(f"malformed YAML: {problem}", loc=loc)


class _Frame:
    """A collection being built."""

    __slots__ = ("y", "anchor", "start", "height", "key")

    def __init__(self, y: Y, anchor: str | None, start: int) -> None:
        self.y = y
        self.anchor = anchor
        self.start = start  # the node count before it: its size, if it has an anchor
        self.height = 0  # how many levels its deepest value sits below it
        self.key: str | None = None  # a mapping's key waiting for its value


class _Builder:
    """YAML events → :class:`Y`, iteratively. An alias shares the anchored value instead of
    copying it, but counts in full against ``MAX_NODES`` and ``MAX_DEPTH``, as if expanded
    (so a "billion laughs" stops at the first alias past the budget)."""

    def __init__(self, file: str) -> None:
        import yaml

        self.yaml = yaml
        self.ev = yaml.events
        self.file = file
        self.count = 0
        self.anchors: dict[str, tuple[Y, int, int]] = {}  # name → (value, size, height)
        self.open: set[str] = set()  # anchors of collections still being built
        self.helper = yaml.SafeLoader("")  # the safe resolver and scalar constructors

    def loc(self, mark) -> Loc:
        return Loc(self.file, mark.line + 1, mark.column + 1)

    def budget(self, size: int, depth: int, height: int, loc: Loc) -> None:
        self.count += size
        if self.count > MAX_NODES:
            raise SpecError(f"document expands to more than {MAX_NODES:,} values "
                            "(alias/anchor bomb?)", loc=loc)
        if depth + height > MAX_DEPTH:
            raise SpecError(f"nested more than {MAX_DEPTH} levels deep", loc=loc)

    def build(self, parser) -> Y | None:
        ev = self.ev
        get_event = parser.get_event
        scalar_t, alias_t = ev.ScalarEvent, ev.AliasEvent
        starts = (ev.SequenceStartEvent, ev.MappingStartEvent)
        ends = (ev.SequenceEndEvent, ev.MappingEndEvent)
        stack: list[_Frame] = []
        root: Y | None = None
        documents = 0
        while True:
            event = get_event()
            kind = type(event)  # dispatch on the exact type: this loop sees every event
            if kind is scalar_t:
                value, height = self.scalar(event, stack), 0
            elif kind in starts:
                stack.append(self.collection(event, len(stack)))
                continue
            elif kind in ends:
                frame = stack.pop()
                value, height = frame.y, frame.height
                if frame.anchor is not None:
                    self.open.discard(frame.anchor)
                    self.anchors[frame.anchor] = (value, self.count - frame.start, height)
            elif kind is alias_t:
                value, height = self.alias(event, len(stack))
            elif event is None or kind is ev.StreamEndEvent:
                return root
            elif kind is ev.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise SpecError("more than one YAML document ('---') in the file",
                                    loc=self.loc(event.start_mark),
                                    hint="one network per file")
                continue
            else:  # stream start, document end
                continue
            if not stack:
                root = value
                continue
            parent = stack[-1]
            if height >= parent.height:
                parent.height = height + 1
            if parent.y.is_list:
                parent.y.value.append(value)
            elif parent.key is None:
                self.key(parent, value, event)
            else:
                parent.y.value[parent.key] = value
                parent.key = None

    def collection(self, event, depth: int) -> _Frame:
        loc = self.loc(event.start_mark)
        start = self.count
        self.budget(1, depth, 0, loc)
        kind = "seq" if isinstance(event, self.ev.SequenceStartEvent) else "map"
        tag = event.tag
        if tag is not None and tag != "!" and tag != f"tag:yaml.org,2002:{kind}":
            raise SpecError(f"unsupported YAML tag {tag!r}", loc=loc,
                            hint="only plain values, lists and mappings are allowed")
        if event.anchor is not None:
            self.open.add(event.anchor)
        y = Y([], loc) if kind == "seq" else Y({}, loc, {})
        return _Frame(y, event.anchor, start)

    def alias(self, event, depth: int) -> tuple[Y, int]:
        loc = self.loc(event.start_mark)
        name = event.anchor
        if name in self.open:
            raise SpecError(f"alias '*{name}' is inside the collection it names "
                            "(a recursive structure)", loc=loc)
        if name not in self.anchors:
            raise SpecError(f"alias '*{name}' names no anchor", loc=loc,
                            hint=did_you_mean(name, self.anchors))
        value, size, height = self.anchors[name]
        self.budget(size, depth, height, loc)
        return value, height

    def scalar(self, event, stack: list) -> Y:
        yaml = self.yaml
        loc = self.loc(event.start_mark)
        self.budget(1, len(stack), 0, loc)
        tag = event.tag
        text = event.value
        if tag is None and event.implicit[0] and event.anchor is None:
            # fast path for the common plain scalars, resolved exactly as the YAML 1.1 resolver
            # would: decimal integers without a leading zero, and names that are no keyword
            if _PLAIN_INT.match(text):
                return Y(int(text), loc)
            if _PLAIN_NAME.match(text) and text.lower() not in _KEYWORDS:
                return Y(text, loc)
        if tag is None or tag == "!":
            tag = self.helper.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == "tag:yaml.org,2002:merge":
            raise SpecError("YAML merge keys ('<<') are not supported", loc=loc)
        if tag not in _SCALAR_TAGS:
            raise SpecError(f"unsupported YAML tag {tag!r}", loc=loc,
                            hint="only plain values, lists and mappings are allowed")
        text = event.value
        if tag == "tag:yaml.org,2002:int":
            digits = sum(ch.isdigit() for ch in text)
            if digits > 30 or len(text) > 80:  # 0x…, 0b…: no str() of a huge int either
                raise SpecError(f"integer with {max(digits, len(text))} digits is too large",
                                loc=loc)
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
        try:
            value = self.helper.yaml_constructors[tag](self.helper, node)
        except Exception:  # a malformed scalar for its tag
            raise SpecError(f"cannot read value {text[:40]!r}", loc=loc) from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise SpecError(f"integer {value} is too large", loc=loc)
        if event.implicit[0] and not (stack and stack[-1].key is None and stack[-1].y.is_map):
            _refuse_misread(tag, text, value, loc)  # (a key is its text: `on:` stays "on")
        y = Y(value, loc)
        if event.anchor is not None:
            self.anchors[event.anchor] = (y, 1, 0)
        return y

    def key(self, parent: _Frame, value: Y, event) -> None:
        if not isinstance(event, self.ev.ScalarEvent) or isinstance(value.value, float):
            raise SpecError("mapping keys must be plain names", loc=value.loc)
        key = event.value
        if key in parent.y.value:
            raise SpecError(f"duplicate key '{key}' (first at line "
                            f"{parent.y.keys[key].line})", loc=value.loc)
        parent.y.keys[key] = value.loc
        parent.key = key


# -- safe integer expressions ---------------------------------------------------------------

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%"}


def evaluate(text: str, env: dict[str, Any], loc: Loc | None, *, symbols: bool = False) -> Any:
    """Evaluate an integer expression over ``env``; unknown names become size symbols only
    when ``symbols`` is true (inside ``input:``)."""
    if len(text) > MAX_EXPR:
        raise SpecError(f"expression longer than {MAX_EXPR} characters", loc=loc)
    try:
        tree = _parse(text.strip())
    except (SyntaxError, SyntaxWarning, ValueError, RecursionError, MemoryError):
        raise SpecError(f"cannot read expression {text!r}", loc=loc,
                        hint="use integers, names, + - * // % and parentheses") from None
    return _Eval(env, loc, symbols, text, text.strip()).visit(tree.body)


@lru_cache(maxsize=1024)  # blocks evaluate the same few expressions once per call
def _parse(text: str) -> ast.Expression:
    import warnings

    with warnings.catch_warnings():  # Python's SyntaxWarning ('1if') is an error, not stderr
        warnings.simplefilter("error")
        return ast.parse(text, mode="eval")


class _Eval:
    def __init__(self, env, loc, symbols, text, source):
        self.env, self.loc, self.symbols, self.text = env, loc, symbols, text
        self.source = source  # the text parsed: where each literal is spelled

    def fail(self, what: str, hint: str | None = None):
        raise SpecError(f"{what} in expression {self.text!r}", loc=self.loc,
                        hint=hint or "expressions allow integers, names, + - * // % and "
                                     "parentheses")

    def visit(self, node) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int):
                self.fail(f"{type(node.value).__name__} constant {node.value!r}")
            # Python also reads 0x10, 0o10, 0b11 and 1_000; a network file writes integers
            # in plain decimal, inside an expression as outside (README: YAML 1.1 spellings)
            spelled = ast.get_source_segment(self.source, node)
            if spelled is not None and not _PLAIN_DECIMAL.match(spelled):
                self.fail(f"integer {spelled!r} not in plain decimal",
                          f"write {node.value} in plain decimal")
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
            digits = len(str(abs(value)))  # at most ~200: expressions are short
            shown = f"value {value}" if digits <= 30 else f"a {digits}-digit value"
            raise SpecError(f"{shown} in {self.text!r} is too large", loc=self.loc)
        return value


# -- the network spec ------------------------------------------------------------------------

MODIFIERS = ("name", "times", "from")
STRUCTURES = ("residual", "parallel")
MERGES = ("add", "concat", "mul")
TOP_KEYS = ("name", "input", "vars", "blocks", "layers", "expect", "version", "description")
EXPECT_KEYS = ("output", "params", "macs", "flops", "activations", "rf",
               "sizes",  # sizes: SPEC §6, the valid input sizes as a progression
               "peak_memory", "train_memory", "train_macs")  # SPEC §8
MAX_TIMES = 100_000
# a tensor name: a word, or dot-separated words after it, as module paths are (layer1.0.conv1;
# SPEC §7 names imported layers after them); the first character is not a digit, so a name
# never reads as a row's index
_TENSOR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*\Z")


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


STDIN = "-"  # as a FILE argument: read the network from standard input
STDIN_NAME = "<stdin>"  # its name in locations and reports


def load(path: str) -> Network:
    if path == STDIN:
        return parse(read_stdin(), STDIN_NAME)
    if is_onnx(path):  # SPEC §1: an .onnx file is read as if it had been imported
        from .importers.onnx import onnx_yaml

        return parse(onnx_yaml(path), path)
    return parse(read_text(path), path)


def is_onnx(path: str) -> bool:
    return path.lower().endswith(".onnx")


def read_stdin() -> str:
    """Standard input, held to the same rules as a file."""
    import sys

    return _decode(sys.stdin.buffer.read(MAX_FILE + 1), STDIN_NAME, "input")


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
        raise SpecError(f"format version {version.brief()} is not supported; this convcalc "
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
    if not layers:
        raise SpecError("'layers' is empty: a network needs at least one layer",
                        loc=top["layers"].loc, hint="list the items under layers:, e.g. "
                                                    "`- conv: {out: 16, k: 3}`")
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
        raise SpecError(f"a layer is an op name or a mapping, got {y.brief()}", loc=y.loc)
    main = [k for k in y.value if k not in MODIFIERS]
    if not main:
        raise SpecError("this item has modifiers but no op", loc=y.loc,
                        hint="write e.g. `- relu: {}` with `name:` on the next line")
    if len(main) > 1:
        from . import ops

        for k in main:  # `nmae: x` next to the op: a misspelt modifier, not a second op
            close = did_you_mean(k, MODIFIERS)
            if close and not ops.known_op(k):
                raise SpecError(f"unknown item key '{k}'", loc=y.keys[k], hint=close)
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
                                      _TENSOR_NAME.match(value.value)):
            raise SpecError(f"'{mod}' must be a tensor name", loc=value.loc)
    return item


def _structure_keys(name: str, value: Y | None, loc: Loc, allowed: tuple[str, str],
                    need: str) -> None:
    if value is None or not value.is_map:
        raise SpecError(need, loc=loc)
    for k in value.value:
        if k not in allowed:
            raise SpecError(f"{name} has no key '{k}'", loc=value.keys[k],
                            hint=did_you_mean(k, allowed) or
                            f"{name} takes {allowed[0]} and {allowed[1]}")


def _make(key: str, value: Y | None, loc: Loc, item_loc: Loc) -> Item:
    if not isinstance(key, str) or not key:
        raise SpecError("a layer needs an op name", loc=loc)
    if key == "residual":
        _structure_keys(key, value, loc, ("body", "shortcut"),
                        "residual needs a mapping with 'body' (and 'shortcut')")
        if "body" not in value.value:
            raise SpecError("residual needs 'body'", loc=loc)
        short = value.value.get("shortcut")
        return Item("residual", key, None, loc, body=_items(value.value["body"], "body"),
                    shortcut=None if short is None or short.value is None
                    else _items(short, "shortcut"))
    if key == "parallel":
        _structure_keys(key, value, loc, ("branches", "merge"),
                        "parallel needs a mapping with 'branches' and 'merge'")
        branches_y = value.value.get("branches")
        if branches_y is None or not branches_y.is_list or not branches_y.value:
            raise SpecError("parallel needs 'branches': a list of layer lists", loc=loc)
        merge_y = value.value.get("merge")
        merge = "concat" if merge_y is None else merge_y.value
        if merge not in MERGES:
            raise SpecError(f"merge must be one of {', '.join(MERGES)}, got {merge_y.brief()}",
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
