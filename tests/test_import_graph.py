"""The importers' shared form (convcalc/importers/graph.py): nodes → the YAML a person writes.

The YAML must walk to exactly the rows the nodes describe. The reference here is a brute-force
evaluation of the nodes one by one with the op table (``ops.apply`` for leaves; a merge's
shape by SPEC §2.2: add/mul keep the shape, concat sums channels), independent of how
write_yaml structures them — and it is compared row by row, in the order ``layout`` gives,
on op, output shape, params and MACs, for hand-made graphs and for random DAGs.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from convcalc import ops
from convcalc.core import Shape
from convcalc.importers.graph import Node, layout, tensor_name, write_yaml
from convcalc.spec import parse
from convcalc.walk import walk


def brute(nodes: list[Node], input_shape) -> dict[str, tuple]:
    """Each node's (op, output shape, params, MACs), computed node by node."""
    shapes = {"": Shape(input_shape[0], tuple(input_shape[1:]))}
    out = {}
    for n in nodes:
        ins = [shapes[i] for i in n.inputs]
        if n.op in ("add", "mul"):
            shape, params, macs = ins[0], 0, 0
        elif n.op == "concat":
            shape, params, macs = Shape(sum(s.channels for s in ins), ins[0].spatial), 0, 0
        else:
            eff = ops.apply(n.op, ins[0], n.args)
            shape, params, macs = eff.output, eff.params, eff.macs
        shapes[n.name] = shape
        out[n.name] = (ops.resolve(n.op).name, shape.dims, params, macs)
    return out


def assert_walks_to_nodes(nodes, input_shape):
    lay = layout(nodes, input_shape, "net")
    report = walk(parse(lay.text, "imported.yaml"))
    want = brute(nodes, input_shape)
    assert len(report.rows) == len(lay.order) == len(nodes) + (None in lay.order)
    assert sorted(n for n in lay.order if n is not None) == sorted(want)
    for row, name in zip(report.rows, lay.order):
        if name is None:
            assert row.op == "identity" and row.name == "input"
            continue
        got = (row.op, row.output.dims, row.params, row.macs)
        assert got == want[name], f"{row.path} ({name}):\n{lay.text}"
    assert report.output.dims == want[nodes[-1].name][1]
    return lay, report


def N(name, op, inputs, **args):
    return Node(name, op, args, list(inputs))


def resnet_like():
    nodes = [N("conv1", "conv", [""], out=8, k=[3, 3], s=[2, 2], p=[[1, 1], [1, 1]],
               bias=False), N("bn1", "bn", ["conv1"]), N("relu", "relu", ["bn1"])]
    prev = "relu"
    for b in range(3):
        p = f"layer1.{b}"
        nodes += [N(f"{p}.conv1", "conv", [prev], out=8, k=3, p=1, bias=False),
                  N(f"{p}.bn1", "bn", [f"{p}.conv1"]),
                  N(f"{p}.relu", "relu", [f"{p}.bn1"]),
                  N(f"{p}.conv2", "conv", [f"{p}.relu"], out=8, k=3, p=1, bias=False),
                  N(f"{p}.add", "add", [f"{p}.conv2", prev]),
                  N(f"{p}.relu_1", "relu", [f"{p}.add"])]
        prev = f"{p}.relu_1"
    nodes += [N("avgpool", "gap", [prev]), N("flatten", "flatten", ["avgpool"]),
              N("fc", "linear", ["flatten"], out=10)]
    return nodes


def test_resnet_like_folds_identical_blocks_and_keeps_module_paths():
    lay, report = assert_walks_to_nodes(resnet_like(), (3, 32, 32))
    text = lay.text
    assert "blocks:\n  layer1:  # layer1.0\n" in text
    assert "  - layer1: {}\n    name: layer1\n    times: 3\n" in text
    assert "- residual:" in text and "shortcut" not in text  # identity shortcut
    assert "- conv: {out: 8, k: 3, s: 2, p: 1, bias: false}\n    name: conv1" in text
    paths = [r.path for r in report.rows]
    assert "layer1.2.0.body.conv2" in paths  # the module path, inside its block
    assert report.totals["params"] == (3 * 9 * 8 + 16) + 3 * (2 * 8 * 9 * 8 + 16) + 8 * 10 + 10


def test_inception_like_is_parallel_with_identity_branch():
    nodes = [N("stem", "conv", [""], out=8, k=1),
             N("b1", "conv", ["stem"], out=4, k=1),
             N("b2.0", "maxpool", ["stem"], k=3, s=1, p=1),
             N("b2.1", "conv", ["b2.0"], out=4, k=1),
             N("cat", "concat", ["b1", "b2.1", "stem"])]
    lay, report = assert_walks_to_nodes(nodes, (3, 8, 8))
    assert "- parallel:" in lay.text and "      - []\n" in lay.text
    assert "merge: concat" in lay.text
    assert report.output.dims == (4 + 4 + 8, 8, 8)


def test_non_series_parallel_uses_named_merges():
    # a is read by both merges: neither region is closed
    nodes = [N("e1", "conv", [""], out=4, k=3, p=1),
             N("a", "conv", ["e1"], out=4, k=1),
             N("b", "relu", ["e1"]),
             N("c", "add", ["a", "b"]),
             N("d", "add", ["c", "a"]),
             N("head", "conv", ["d"], out=2, k=1)]
    lay, _ = assert_walks_to_nodes(nodes, (1, 8, 8))
    assert "- residual" not in lay.text and "- parallel" not in lay.text
    assert "  - relu: {}\n    name: b\n    from: e1\n" in lay.text
    assert "  - add: b\n    name: c\n    from: a\n" in lay.text
    assert "  - add: a\n    name: d\n" in lay.text


def test_unet_like_skip_is_parallel_where_the_region_is_closed():
    nodes = [N("e1", "conv", [""], out=4, k=3, p=1),
             N("down", "maxpool", ["e1"], k=2),
             N("e2", "conv", ["down"], out=4, k=3, p=1),
             N("up", "upsample", ["e2"], scale=2),
             N("cat", "concat", ["e1", "up"]),
             N("head", "conv", ["cat"], out=2, k=1)]
    lay, _ = assert_walks_to_nodes(nodes, (1, 16, 16))
    assert "      branches:\n        - []\n        - - maxpool: {k: 2}\n" in lay.text


def test_network_input_read_by_name_gets_an_identity_row():
    # the input feeds a branch that is not series-parallel with the rest
    nodes = [N("a", "conv", [""], out=3, k=1), N("b", "relu", [""]),
             N("c", "add", ["a", "b"]), N("d", "add", ["c", "a"])]
    lay, report = assert_walks_to_nodes(nodes, (3, 4, 4))
    assert report.rows[0].op == "identity"
    assert "  - relu: {}\n    name: b\n    from: input\n" in lay.text


def test_dotted_names_are_valid_tensor_names():
    assert tensor_name("layer1.0.conv1") == "layer1.0.conv1"
    assert tensor_name("0.body.1") == "_0.body.1"
    assert tensor_name("/features/features.0/Conv") == "features.features.0.Conv"
    assert tensor_name("a-b.c d") == "a_b.c_d"


def test_write_yaml_rejects_a_broken_graph():
    with pytest.raises(ValueError):
        write_yaml([N("a", "relu", ["nope"])], (1, 4), "x")
    with pytest.raises(ValueError):
        write_yaml([N("a", "add", [""])], (1, 4), "x")


def random_dag(seed: int, size: int) -> list[Node]:
    rnd = random.Random(seed)
    nodes: list[Node] = []
    channels = {"": 8}
    for i in range(size):
        name = f"m{i % 3}.n{i}"
        pool = ["", *(n.name for n in nodes)]
        eight = [p for p in pool if channels[p] == 8]
        kind = rnd.choice(["conv", "relu", "bn", "add", "add", "concat", "mul"])
        if kind == "conv":
            node = N(name, "conv", [rnd.choice(pool[-4:])], out=8, k=rnd.choice([1, 3]),
                     p="same", bias=rnd.random() < 0.5)
        elif kind in ("relu", "bn"):
            node = N(name, kind, [rnd.choice(eight[-4:])])
        else:
            k = min(len(eight), rnd.choice([2, 2, 3]))
            if k < 2:
                node = N(name, "relu", [rnd.choice(eight)])
            else:
                node = N(name, kind, rnd.sample(eight[-5:] if len(eight) >= 5 else eight, k))
        nodes.append(node)
        channels[name] = 8 * len(node.inputs) if node.op == "concat" else 8
    nodes.append(N("head", "conv", [nodes[-1].name], out=2, k=1))
    return nodes


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(0, 10**6), st.integers(1, 25))
def test_random_dags_walk_to_their_nodes(seed, size):
    assert_walks_to_nodes(random_dag(seed, size), (8, 5, 5))


def test_dotted_names_in_yaml():
    text = ("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 1}\n    name: layer1.0.conv1\n"
            "  - relu\n  - add: layer1.0.conv1\n    name: layer1.0\n")
    report = walk(parse(text, "d.yaml"))
    assert [r.path for r in report.rows] == ["layer1.0.conv1", "1", "layer1.0"]
    assert report.rows[2].reads == (1, 0)
    from convcalc.errors import SpecError

    for bad in ("0.conv", "a..b", "a.", "a-b"):
        with pytest.raises(SpecError) as err:
            parse(f"input: [3, 8, 8]\nlayers:\n  - relu: {{}}\n    name: '{bad}'\n", "b.yaml")
        assert str(err.value) == "b.yaml:4:11: error: 'name' must be a tensor name"
