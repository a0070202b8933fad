"""ONNX import: graphs written with ``onnx.helper`` (no torch) — every unsupported-op path with
its exact message, the file errors, and the mappings torch's exporters do not produce
(asymmetric ``pads``, ``auto_pad``, ReduceMean without keepdims, symbolic sizes with --input).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from convcalc.importers import onnx as onnx_import  # noqa: E402
from convcalc.spec import parse  # noqa: E402
from convcalc.walk import walk  # noqa: E402

pytestmark = pytest.mark.oracle  # CI runs these where the onnx extra is installed

ROOT = Path(__file__).resolve().parent.parent
HINT = " (hint: the README's \"Import from ONNX\" lists the op types convcalc maps)"


def weight(name, dims):
    """An initializer with dims only (no data), as a stripped file has it."""
    t = TensorProto()
    t.name, t.data_type = name, TensorProto.FLOAT
    t.dims.extend(dims)
    return t


def const(name, values, dtype=TensorProto.INT64):
    return helper.make_tensor(name, dtype, [len(values)], values)


def save(tmp_path, nodes, inits=(), in_dims=(1, 3, 8, 8), out="y", fname="m.onnx",
         opset=17):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_dims))],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / fname
    onnx.save(model, str(path))
    return str(path)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True,
                          text=True, cwd=ROOT)


def conv(name, src, dst, w="w", **attrs):
    return helper.make_node("Conv", [src, w], [dst], name=name, **attrs)


def error_of(path):
    r = cli("import", path)
    assert r.returncode == 2 and r.stdout == "", r.stderr
    return r.stderr.rstrip("\n")


def test_unsupported_op_types_are_listed_with_their_node_names(tmp_path):
    nodes = [conv("/c1/Conv", "x", "a"), helper.make_node("Erf", ["a"], ["b"], name="e1"),
             helper.make_node("Erf", ["b"], ["c"], name="e2"),
             helper.make_node("Relu", ["c"], ["d"], name="/r/Relu"),  # after Erf: not listed
             helper.make_node("Mod", ["d", "d"], ["y"], name="m1", fmod=1)]
    path = save(tmp_path, nodes, [weight("w", [4, 3, 3, 3])])
    assert error_of(path) == (f"{path}: error: cannot map 3 ONNX nodes to convcalc's ops — "
                              f"Erf: e1, e2; Mod: m1" + HINT)


@pytest.mark.parametrize("case, nodes, inits, what", [
    ("concat on axis 2",
     [conv("c", "x", "a"), helper.make_node("Concat", ["a", "a"], ["y"], name="cat", axis=2)],
     [], "Concat (on axis 2): cat"),
    ("clip other bounds",
     [conv("c", "x", "a"), helper.make_node("Clip", ["a", "lo", "hi"], ["y"], name="clip")],
     [helper.make_tensor("lo", TensorProto.FLOAT, [], [-1.0]),
      helper.make_tensor("hi", TensorProto.FLOAT, [], [1.0])],
     "Clip (bounds other than (0, 6) or (0, ∞)): clip"),
    ("mul broadcasting",
     [conv("c", "x", "a"), helper.make_node("GlobalAveragePool", ["a"], ["p"], name="gap"),
      helper.make_node("Mul", ["a", "p"], ["y"], name="mul")],
     [], "Mul (broadcasting): mul"),
    ("add of a constant",
     [conv("c", "x", "a"), helper.make_node("Add", ["a", "k"], ["y"], name="add")],
     [helper.make_tensor("k", TensorProto.FLOAT, [1], [1.0])], "Add (of a constant): add"),
    ("slice with a step",
     [conv("c", "x", "a"), helper.make_node("Slice", ["a", "s", "e", "ax", "st"], ["y"],
                                            name="sl")],
     [const("s", [0]), const("e", [4]), const("ax", [1]), const("st", [2])],
     "Slice (step 2): sl"),
    ("softmax over a spatial axis",
     [conv("c", "x", "a"), helper.make_node("Softmax", ["a"], ["y"], name="sm", axis=2)],
     [], "Softmax (over axis 2): sm"),
    ("reshape to another shape",
     [conv("c", "x", "a"), helper.make_node("Reshape", ["a", "sh"], ["y"], name="rs")],
     [const("sh", [1, 2, 2, 36])], "Reshape (to [1, 2, 2, 36]): rs"),
    ("pad reflecting",
     [helper.make_node("Pad", ["x", "pp"], ["a"], name="pad", mode="reflect"),
      conv("c", "a", "y")],
     [const("pp", [0, 0, 1, 1, 0, 0, 1, 1])], "Pad (mode reflect): pad"),
])
def test_supported_types_used_another_way_say_how(tmp_path, case, nodes, inits, what):
    path = save(tmp_path, nodes, [weight("w", [4, 3, 3, 3]), *inits])
    assert error_of(path) == (f"{path}: error: cannot map 1 ONNX node to convcalc's ops — "
                              f"{what}" + HINT)


def test_more_than_five_nodes_of_a_type_are_counted(tmp_path):
    nodes, src = [], "x"
    for i in range(7):
        nodes.append(helper.make_node("Erf", [src], [f"t{i}"], name=f"e{i}"))
        src = f"t{i}"
    nodes.append(helper.make_node("Identity", [src], ["y"], name="id"))
    path = save(tmp_path, nodes)
    assert error_of(path) == (f"{path}: error: cannot map 7 ONNX nodes to convcalc's ops — "
                              f"Erf: e0, e1, e2, e3, e4, … (2 more)" + HINT)


def test_file_errors(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff\x00 not a protobuf")
    assert error_of(str(bad)) == f"{bad}: error: not an ONNX model (the file does not parse " \
                                 f"as one)"
    missing = tmp_path / "missing.onnx"
    assert error_of(str(missing)) == f"{missing}: error: no such file"
    r = cli("net", str(missing))
    assert r.returncode == 2 and r.stderr.strip() == f"{missing}: error: no such file"


def test_two_inputs_are_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "z"], ["y"], name="add")], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in "xz"],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert error_of(str(path)) == (f"{path}: error: convcalc reads networks with one input; "
                                   f"the ONNX graph has 2 (x, z)")


def test_symbolic_size_needs_input(tmp_path):
    path = save(tmp_path, [conv("c", "x", "y", strides=[2, 2])], [weight("w", [4, 3, 3, 3])],
                in_dims=("N", 3, "H", "W"))
    assert error_of(path) == (f"{path}: error: the ONNX input 'x' has the symbolic size 'H' "
                              f"(hint: give the size: convcalc import FILE --input 3x224x224)")
    r = cli("import", path, "--input", "3x33x33")
    assert r.returncode == 0, r.stderr
    report = walk(parse(r.stdout, "m.yaml"))
    assert report.output.dims == (4, (33 - 3) // 2 + 1, (33 - 3) // 2 + 1)


def test_missing_onnx_package_is_one_line(tmp_path):
    code = ("import sys; sys.modules['onnx'] = None; sys.argv = ['convcalc', 'net', 'm.onnx']; "
            "from convcalc.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == ("m.onnx: error: reading ONNX files needs the onnx package "
                                "(hint: pip install 'convcalc[onnx]')")


def test_asymmetric_pads_and_auto_pad_map_exactly(tmp_path):
    nodes = [conv("/a/Conv", "x", "a", pads=[0, 0, 1, 1]),  # [H_begin, W_begin, H_end, W_end]
             helper.make_node("Conv", ["a", "w2"], ["b"], name="/b/Conv",
                              auto_pad="SAME_UPPER", strides=[2, 2]),
             helper.make_node("MaxPool", ["b"], ["c"], name="/p/MaxPool", kernel_shape=[2, 2],
                              strides=[2, 2], ceil_mode=1),
             helper.make_node("ReduceMean", ["c"], ["y"], name="/g/ReduceMean", axes=[2, 3],
                              keepdims=0)]
    path = save(tmp_path, nodes, [weight("w", [4, 3, 3, 3]), weight("w2", [5, 4, 3, 3])])
    imp = onnx_import.read(path)  # row shapes are checked against ONNX's own inference
    assert "- conv: {out: 4, k: 3, p: [[0, 1], [0, 1]], bias: false}\n    name: a\n" in imp.text
    report = walk(parse(imp.text, path))
    h = 8 + 1 - 3 + 1  # 7: one row of padding at the end
    same = -(-h // 2)  # SAME_UPPER: ceil(7/2) = 4
    pooled = -(-(same - 2) // 2) + 1  # ceil mode: 2
    assert [r.output.dims for r in report.rows] == [(4, h, h), (5, same, same),
                                                    (5, pooled, pooled), (5, 1, 1), (5,)]
    assert [r.op for r in report.rows] == ["conv", "conv", "maxpool", "gap", "flatten"]
    assert report.totals["params"] == 4 * 3 * 9 + 5 * 4 * 9


def test_import_writes_the_file_and_net_reads_onnx(tmp_path):
    path = save(tmp_path, [conv("/c/Conv", "x", "a"),
                           helper.make_node("Relu", ["a"], ["y"], name="/r/Relu")],
                [weight("w", [4, 3, 3, 3])])
    out = tmp_path / "m.yaml"
    r = cli("import", path, "-o", str(out), "--name", "tiny")
    assert r.returncode == 0 and r.stdout == "", r.stderr
    text = out.read_text()
    assert ("name: tiny\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3, bias: false}\n"
            "    name: c\n") in text
    r = cli("net", path, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert '"params": 108' in r.stdout  # 4*3*3*3, no bias
