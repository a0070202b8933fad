"""The importers' shared form — a graph of catalog ops — and the YAML written from it.

Every importer (ONNX, PyTorch) produces a list of :class:`Node`: one per leaf layer, in
topological order (a node's inputs come before it), the last one the network's output. A node
is a catalog op (``convcalc ops``) with its arguments in the catalog's keys, named after the
source's module path (``layer1.0.conv1``), reading the outputs of the nodes it names (``""``
is the network input). Merges (``add``, ``concat``, ``mul``) read two or more; every other op
reads one.

:func:`write_yaml` writes the YAML a person would write for it:

- a chain is a list of items; every leaf item is ``name:``d after its node (the module path);
- a merge whose inputs all come from one tensor through branches that touch nothing else
  (series-parallel: the region between the merge and its immediate dominator is closed) is a
  ``residual`` (an ``add`` of two) or a ``parallel`` (a concat, an add of more, a mul), its
  branches written the same way, recursively;
- anything else reads saved tensors: ``from: NAME`` on an item whose input is not the previous
  item's output, ``- add: NAME`` / ``- concat: [A, B]`` for a merge;
- runs of consecutive identical groups of items (the same text once their names are taken
  relative to each group's module prefix: ``layer1.1.conv1`` and ``layer1.2.conv1`` are both
  ``conv1``) become one entry of ``blocks:`` called with ``times:``; nothing outside a run may
  read a tensor inside it (a block's names are its own), so a fold never changes a row.

The rows the YAML walks to are the nodes, one each, in the order :func:`layout` returns (its
``order``): same op, arguments, shapes, params and MACs. (Should the network input be read by
name — a side branch from the input that is not series-parallel — a first ``identity`` row
named ``input`` gives it one; it is the one row without a node, ``None`` in ``order``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MERGE_OPS = ("add", "concat", "mul")
INPUT = ""  # Node.inputs: the network input


@dataclass
class Node:
    name: str  # unique; the source's module path ("layer1.0.conv1")
    op: str  # a catalog op name as YAML writes it ("conv", "bn", "add", ...)
    args: dict = field(default_factory=dict)  # catalog keys; merges: {}
    inputs: list = field(default_factory=list)  # names of the nodes read, in order; "" = input


@dataclass
class Layout:
    text: str  # the YAML
    order: list  # per row of its walk, the node it comes from (None: the ``input`` identity)


def write_yaml(nodes: list[Node], input_shape: tuple, name: str, *, source: str = "") -> str:
    """The YAML a person would write for ``nodes`` on ``input_shape`` (channels first)."""
    return layout(nodes, input_shape, name, source=source).text


# -- names ----------------------------------------------------------------------------------

_NAME_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*\Z")
_YAML_WORDS = {"yes", "no", "true", "false", "on", "off", "null", "y", "n", "~"}


def tensor_name(path: str) -> str:
    """A module path as a YAML tensor name: dot-separated words of letters, digits and ``_``,
    not starting with a digit (``features.0`` stays, ``0.conv`` becomes ``_0.conv``: a name
    must not look like a row's index)."""
    segments = [re.sub(r"[^A-Za-z0-9_]", "_", s) for s in re.split(r"[./]+", path.strip("./"))]
    text = ".".join(s for s in segments if s) or "_"
    if not (text[0].isalpha() or text[0] == "_"):
        text = "_" + text
    return text


def _scalar(text: str) -> str:
    return repr(text) if text.lower() in _YAML_WORDS else text


# -- validation -----------------------------------------------------------------------------

def _check(nodes: list[Node]) -> None:
    """The importer's contract (a broken one is a bug in convcalc, not the user's input)."""
    seen: set[str] = set()
    for n in nodes:
        if not n.name or n.name in seen:
            raise ValueError(f"node names must be unique and non-empty: {n.name!r}")
        for i in n.inputs:
            if i != INPUT and i not in seen:
                raise ValueError(f"node {n.name!r} reads {i!r}, which is not an earlier node")
        if (n.op in MERGE_OPS) != (len(n.inputs) >= 2) or (n.op not in MERGE_OPS and
                                                           len(n.inputs) != 1):
            raise ValueError(f"node {n.name!r} ({n.op}) reads {len(n.inputs)} tensors")
        seen.add(n.name)
    if not nodes:
        raise ValueError("no nodes")


# -- the item tree ----------------------------------------------------------------------------

@dataclass
class _Item:
    kind: str  # op | merge | residual | parallel | call
    op: str = ""  # op name, merge kind, block name
    args: dict = field(default_factory=dict)
    node: str | None = None  # the node whose output this item is (a structure: its merge)
    label: str | None = None  # name: (leaves always; others when read by name)
    source: str | None = None  # from:
    refs: list = field(default_factory=list)  # a named merge's other tensors
    body: list = field(default_factory=list)
    shortcut: list = field(default_factory=list)
    branches: list = field(default_factory=list)
    times: int = 1
    needed: bool = False  # read by name somewhere


class _Builder:
    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = {n.name: n for n in nodes}
        self.index = {n.name: i for i, n in enumerate(nodes)}
        self.consumers: dict[str, list[str]] = {INPUT: []}
        for n in nodes:
            self.consumers[n.name] = []
        for n in nodes:
            for i in dict.fromkeys(n.inputs):
                self.consumers[i].append(n.name)
        self.labels = _unique_labels(nodes)
        self.idom = self._dominators(nodes)
        self.producer: dict[str, _Item] = {}  # node name → the item whose output it is
        self.input_needed = False

    def _dominators(self, nodes) -> dict[str, str]:
        """Immediate dominators on a DAG in topological order: the nearest common dominator
        of a node's inputs (Cooper, Harvey & Kennedy's intersection, on depths)."""
        idom: dict[str, str] = {}
        depth = {INPUT: 0}

        def meet(a: str, b: str) -> str:
            while a != b:
                if depth[a] < depth[b]:
                    a, b = b, a
                a = idom[a]
            return a

        for n in nodes:
            d = n.inputs[0]
            for other in n.inputs[1:]:
                d = meet(d, other)
            idom[n.name] = d
            depth[n.name] = depth[d] + 1
        return idom

    def ancestors(self, name: str, stop: set[str]) -> set[str]:
        out, todo = set(), [name]
        while todo:
            v = todo.pop()
            if v in out or v in stop or v == INPUT:
                continue
            out.add(v)
            todo.extend(self.nodes[v].inputs)
        return out

    def region(self, merge: str, allowed: set[str]):
        """The branches of a series-parallel merge, or None: the nodes between the merge and
        its immediate dominator f, split by the merge input they lead to; closed (they read
        only f and one another, and only the merge and one another read them)."""
        node = self.nodes[merge]
        f = self.idom[merge]
        if len(set(node.inputs)) != len(node.inputs) and any(i != f for i in node.inputs):
            return None
        branches, seen = [], set()
        for i in node.inputs:
            part = set() if i == f else self.ancestors(i, {f})
            if part & seen or not part <= allowed:
                return None
            seen |= part
            branches.append(part)
        for v in seen:
            if any(src != f and src not in seen for src in self.nodes[v].inputs):
                return None
            if any(c != merge and c not in seen for c in self.consumers[v]):
                return None
        return f, branches

    # -- sequences ---------------------------------------------------------------------------

    def sequence(self, names: list[str], start: str) -> list[_Item]:
        """Items for the nodes ``names`` (topological order), which start from tensor
        ``start``: structures where the graph is series-parallel, saved tensors otherwise."""
        allowed = set(names)
        inside: dict[str, tuple] = {}  # merge → (f, branches) for the outermost regions
        for name in reversed(names):
            if name in inside or any(name in b for _, br in inside.values() for b in br):
                continue
            if self.nodes[name].op in MERGE_OPS:
                found = self.region(name, allowed)
                if found is not None:
                    inside[name] = found
        taken = {v for _, br in inside.values() for b in br for v in b}
        items: list[_Item] = []
        cur = start
        for name in names:
            if name in taken:
                continue
            node = self.nodes[name]
            if name in inside:
                f, branches = inside[name]
                item = self.structure(node, f, branches)
                first = f
            elif node.op in MERGE_OPS:
                first, *rest = node.inputs
                for r in rest:
                    self.need(r)
                item = _Item("merge", node.op, node=name, refs=[self.label_of(r) for r in rest])
            else:
                first = node.inputs[0]
                item = _Item("op", node.op, dict(node.args), node=name)
            if item.kind in ("op", "merge"):
                item.label = self.labels[name]
            if first != cur:
                self.need(first)
                item.source = self.label_of(first)
            self.producer[name] = item
            items.append(item)
            cur = name
        return items

    def structure(self, node: Node, f: str, branches: list[set[str]]) -> _Item:
        order = lambda part: sorted(part, key=self.index.__getitem__)
        seqs = [self.sequence(order(b), f) if b else [] for b in branches]
        if node.op == "add" and len(seqs) == 2 and not (not seqs[0] and not seqs[1]):
            body, short = (seqs[0], seqs[1]) if seqs[0] else (seqs[1], seqs[0])
            return _Item("residual", node=node.name, body=body, shortcut=short)
        return _Item("parallel", node.op, node=node.name, branches=seqs)

    def label_of(self, name: str) -> str:
        return "input" if name == INPUT else self.labels[name]

    def need(self, name: str) -> None:
        if name == INPUT:
            self.input_needed = True
            return
        item = self.producer[name]
        item.needed = True
        if item.label is None:
            item.label = self.labels[name]


def _unique_labels(nodes: list[Node]) -> dict[str, str]:
    labels: dict[str, str] = {}
    used: set[str] = {"input"}
    for n in nodes:
        base = tensor_name(n.name)
        label, k = base, 1
        while label in used:
            label, k = f"{base}_{k}", k + 1
        used.add(label)
        labels[n.name] = label
    return labels


# -- rows in walk order -------------------------------------------------------------------------

def _rows(items: list[_Item], blocks: dict[str, list[_Item]], out: list) -> None:
    for item in items:
        if item.kind == "call":  # the run it replaces, every repetition with its own nodes
            _rows(item.body, blocks, out)
            continue
        for _ in range(item.times):
            if item.kind == "residual":
                _rows(item.body, blocks, out)
                _rows(item.shortcut, blocks, out)
                out.append(item.node)
            elif item.kind == "parallel":
                for b in item.branches:
                    _rows(b, blocks, out)
                out.append(item.node)
            else:
                out.append(item.node)


# -- folding repeated groups into blocks ------------------------------------------------------

def _labels_in(items: list[_Item]) -> list[str]:
    out = []
    for it in items:
        if it.label is not None:
            out.append(it.label)
        for seq in (it.body, it.shortcut, *it.branches):
            out.extend(_labels_in(seq))
    return out


def _refs_in(items: list[_Item]) -> list[str]:
    out = []
    for it in items:
        if it.source is not None:
            out.append(it.source)
        out.extend(it.refs)
        for seq in (it.body, it.shortcut, *it.branches):
            out.extend(_refs_in(seq))
    return out


def _prefix(labels: list[str]) -> str:
    """The longest common dotted prefix of the labels that leaves a word after it."""
    if not labels:
        return ""
    parts = [lab.split(".") for lab in labels]
    common = []
    for words in zip(*parts):
        if len(set(words)) != 1:
            break
        common.append(words[0])
    if any(len(p) == len(common) for p in parts):
        common = common[:-1]
    # what is left must still be a name: not starting with a digit (layer1.0 | conv1, not
    # features.0.body | 0)
    while common and any(p[len(common)][:1].isdigit() for p in parts):
        common = common[:-1]
    return ".".join(common)


def _fold(items: list[_Item], writer: "_Writer", later_refs: set[str]) -> list[_Item]:
    """Replace runs of identical consecutive groups by block calls with ``times:``."""
    out: list[_Item] = []
    used: set[str] = set()
    i = 0
    n = len(items)
    while i < n:
        best = None
        for size in range(1, 7):
            group = items[i:i + size]
            if len(group) < size:
                break
            key = writer.group_key(group)
            if key is None:
                continue
            reps = 1
            while items[i + reps * size:i + (reps + 1) * size] and \
                    writer.group_key(items[i + reps * size:i + (reps + 1) * size]) == key:
                reps += 1
            if reps < 2:
                continue
            run = items[i:i + reps * size]
            inner = set(_labels_in(run))
            outside = set(_refs_in(items[:i])) | set(_refs_in(items[i + reps * size:])) | \
                later_refs
            if inner & outside:
                continue
            if best is None or reps * size > best[0] * best[1]:
                best = (reps, size, key)
        if best is None:
            out.append(items[i])
            i += 1
            continue
        reps, size, key = best
        block = writer.block_for(key, items[i:i + size])
        call = _Item("call", block, times=reps, body=items[i:i + reps * size])
        prefixes = [_prefix(_labels_in(items[i + r * size:i + (r + 1) * size]))
                    for r in range(reps)]
        parent = prefixes[0].rpartition(".")[0]
        if parent and prefixes == [f"{parent}.{r}" for r in range(reps)] and \
                parent not in _labels_in(items) and parent not in used:
            call.label = parent  # rows layer1.0.…, layer1.1.…: the module paths
            used.add(parent)
        out.append(call)
        i += reps * size
    return out


# -- text ---------------------------------------------------------------------------------------

def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, str):
        return _scalar(v)
    return str(v)


def _simplify(op: str, args: dict) -> dict:
    """Per-axis values that agree become one number, symmetric padding pairs one number per
    axis, and keys at the op's default are left out (pooling's stride when it is the kernel)."""
    from .. import ops

    opdef = ops.resolve(op)
    out = {}
    for key, v in args.items():
        if isinstance(v, (list, tuple)):
            v = [list(x) if isinstance(x, (list, tuple)) else x for x in v]
            if v and all(isinstance(x, list) and len(x) == 2 and x[0] == x[1] for x in v):
                v = [x[0] for x in v]
            if v and all(x == v[0] for x in v) and not isinstance(v[0], list):
                v = v[0]
        out[key] = v
    for key in list(out):
        spec = opdef.keys.get(ops.KEY_ALIASES.get(key, key))
        if spec is None:
            continue
        default = spec.default
        if default is ops.SAME_AS_K:
            default = out.get("k", ops.REQUIRED)
        if default is ops.REQUIRED or default is None:
            continue
        if out[key] == default and isinstance(out[key], bool) == isinstance(default, bool):
            del out[key]
    return out


class _Writer:
    def __init__(self) -> None:
        self.blocks: dict[str, list[_Item]] = {}  # name → items (labels relative)
        self.block_keys: dict[str, str] = {}  # group key → block name
        self.block_prefix: dict[str, str] = {}

    def group_key(self, group: list[_Item]) -> str | None:
        if any(it.kind == "call" for it in group):
            return None
        prefix = _prefix(_labels_in(group))
        return "\n".join(self.lines(group, prefix, 0))

    def block_for(self, key: str, group: list[_Item]) -> str:
        if key in self.block_keys:
            return self.block_keys[key]
        from .. import ops

        prefix = _prefix(_labels_in(group))
        words = [w for w in prefix.split(".") if w[:1].isalpha()]  # layer1.1 → layer1
        base = words[-1] if words else "block"
        name, k = base, 2
        while name in self.blocks or ops.known_op(name) or name in (
                "residual", "parallel", "input", *MERGE_OPS):
            name, k = f"{base}{k}", k + 1
        self.blocks[name] = group
        self.block_keys[key] = name
        self.block_prefix[name] = prefix
        return name

    def rel(self, label: str | None, prefix: str) -> str | None:
        if label is None or not prefix:
            return label
        if label.startswith(prefix + "."):
            return label[len(prefix) + 1:]
        return label

    def lines(self, items: list[_Item], prefix: str, indent: int) -> list[str]:
        pad = " " * indent
        out: list[str] = []
        for it in items:
            out.extend(pad + line for line in self.item(it, prefix))
        return out

    def item(self, it: _Item, prefix: str) -> list[str]:
        mods = []
        if it.label is not None:
            mods.append(f"name: {_scalar(self.rel(it.label, prefix))}")
        if it.source is not None:
            mods.append(f"from: {_scalar(self.rel(it.source, prefix))}")
        if it.times > 1:
            mods.append(f"times: {it.times}")
        if it.kind == "op":
            args = _simplify(it.op, it.args)
            if not args and not mods:
                return [f"- {it.op}"]
            text = "{" + ", ".join(f"{k}: {_value(v)}" for k, v in args.items()) + "}"
            return [f"- {it.op}: {text}"] + ["  " + m for m in mods]
        if it.kind == "merge":
            refs = [_scalar(self.rel(r, prefix)) for r in it.refs]
            value = refs[0] if len(refs) == 1 and it.op != "concat" else \
                "[" + ", ".join(refs) + "]"
            return [f"- {it.op}: {value}"] + ["  " + m for m in mods]
        if it.kind == "call":
            return [f"- {it.op}: {{}}"] + ["  " + m for m in mods]
        if it.kind == "residual":
            lines = ["- residual:", "    body:"] + self.lines(it.body, prefix, 6)
            if it.shortcut:
                lines += ["    shortcut:"] + self.lines(it.shortcut, prefix, 6)
            return lines + ["  " + m for m in mods]
        lines = ["- parallel:", "    branches:"]
        for branch in it.branches:
            if not branch:
                lines.append("      - []")
                continue
            inner = self.lines(branch, prefix, 0)
            lines.append("      - " + inner[0])
            lines.extend("        " + line for line in inner[1:])
        lines.append(f"    merge: {it.op}")
        return lines + ["  " + m for m in mods]


def layout(nodes: list[Node], input_shape: tuple, name: str, *, source: str = "") -> Layout:
    """:func:`write_yaml`'s text, and the node behind each row of its walk, in walk order."""
    _check(nodes)
    b = _Builder(nodes)
    items = b.sequence([n.name for n in nodes], INPUT)
    if b.input_needed:
        first = _Item("op", "identity", node=None, label="input")
        b.producer[INPUT] = first
        for it in items:  # the input is read by name: "from: input"
            _rename_input(it)
        items.insert(0, first)
    writer = _Writer()
    items = _fold(items, writer, set())
    order: list = []
    _rows(items, writer.blocks, order)
    lines = []
    if source:
        lines.append(f"# imported from {source} by convcalc")
    lines.append(f"name: {_scalar(tensor_name(name)) if name else 'imported'}")
    lines.append("input: [" + ", ".join(str(d) for d in input_shape) + "]")
    if writer.blocks:
        lines.append("blocks:")
        for bname, group in writer.blocks.items():
            lines.append(f"  {bname}:")
            prefix = writer.block_prefix[bname]
            if prefix:
                lines[-1] += f"  # {prefix}"
            lines.append("    layers:")
            lines.extend(writer.lines(group, prefix, 6))
    lines.append("layers:")
    lines.extend(writer.lines(items, "", 2))
    return Layout("\n".join(lines) + "\n", order)


def _rename_input(it: _Item) -> None:
    if it.source == INPUT:
        it.source = "input"
    it.refs = ["input" if r == INPUT else r for r in it.refs]
    for seq in (it.body, it.shortcut, *it.branches):
        for sub in seq:
            _rename_input(sub)
