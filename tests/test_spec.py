"""The YAML network format (SPEC §2): every feature parses and walks, and every user mistake
is one located error whose full text — ``file:line:col: error: message (hint: ...)`` — is part
of the interface and compared exactly.

Locations in the expected strings are computed from the YAML text itself (:func:`at`), so a
test says *which* token the error points at rather than hard-coding line numbers.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from convcalc.errors import ConvcalcError, ShapeError, SpecError
from convcalc.spec import evaluate, load, parse
from convcalc.walk import walk


# -- helpers ---------------------------------------------------------------------------------

def write(tmp_path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def at(text: str, needle: str, nth: int = 0, offset: int = 0) -> str:
    """``line:col`` (1-based) of the ``nth`` occurrence of ``needle`` in the dedented text,
    moved ``offset`` characters to the right."""
    text = textwrap.dedent(text)
    pos = -1
    for _ in range(nth + 1):
        pos = text.index(needle, pos + 1)
    pos += offset
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{col}"


def error_of(tmp_path, text: str) -> tuple[str, str, ConvcalcError]:
    """Load and walk ``text``; return (file, the one-line diagnostic, the error)."""
    path = write(tmp_path, text)
    with pytest.raises(ConvcalcError) as info:
        walk(load(path))
    return path, info.value.line(), info.value


def rows_of(text: str, file: str = "t.yaml"):
    return walk(parse(textwrap.dedent(text), file)).rows


def ops_and_outputs(text: str):
    return [(r.op, r.output.dims) for r in rows_of(text)]


# -- items (§2.1) -------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["- relu", "- relu: {}", "- relu:"],
                         ids=["bare", "empty-map", "null"])
def test_an_op_without_arguments_has_three_spellings(spelling):
    net = parse(f"input: [3, 8, 8]\nlayers:\n  {spelling}\n", "t.yaml")
    (item,) = net.layers
    assert (item.kind, item.name) == ("op_or_block", "relu")
    assert ops_and_outputs(f"input: [3, 8, 8]\nlayers:\n  {spelling}\n") == [("relu",
                                                                             (3, 8, 8))]


def test_modifiers_name_times_from():
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 1}
            name: stem
          - relu: {}
            times: 3
          - conv: {out: 6, k: 3}
            from: stem
            name: side
        """
    net = parse(textwrap.dedent(text), "t.yaml")
    stem, act, side = net.layers
    assert stem.label.value == "stem"
    assert act.times.value == 3
    assert (side.source.value, side.label.value) == ("stem", "side")
    rows = rows_of(text)
    assert [r.path for r in rows] == ["stem", "1.0", "1.1", "1.2", "side"]
    assert [r.name for r in rows] == ["stem", None, None, None, "side"]
    # `from: stem` feeds the 4-channel stem output (not the relu's) into the last conv
    assert rows[-1].input.dims == (4, 8, 8)
    assert rows[-1].params == 6 * 4 * 3 * 3 + 6


def test_times_repeats_a_block_with_its_own_paths():
    text = """\
        input: [2, 8, 8]
        blocks:
          cr:
            layers:
              - conv: {out: 2, k: 3, p: 1}
              - relu
        layers:
          - cr: {}
            times: 2
        """
    rows = rows_of(text)
    assert [(r.path, r.op) for r in rows] == [("0.0.0", "conv"), ("0.0.1", "relu"),
                                              ("0.1.0", "conv"), ("0.1.1", "relu")]
    assert rows[0].ancestors == (("0.0", "cr"),)


# -- structures (§2.2) --------------------------------------------------------------------------

def test_residual_with_and_without_shortcut():
    text = """\
        input: [4, 8, 8]
        layers:
          - residual:
              body:
                - conv: {out: 4, k: 3, p: 1}
          - residual:
              body:
                - conv: {out: 8, k: 3, s: 2, p: 1}
              shortcut:
                - conv: {out: 8, k: 1, s: 2}
        """
    net = parse(textwrap.dedent(text), "t.yaml")
    first, second = net.layers
    assert first.kind == second.kind == "residual"
    assert first.shortcut is None and len(first.body) == 1
    assert len(second.shortcut) == 1
    assert [(r.path, r.op, r.output.dims) for r in rows_of(text)] == [
        ("0.body.0", "conv", (4, 8, 8)), ("0.add", "add", (4, 8, 8)),
        ("1.body.0", "conv", (8, 4, 4)), ("1.shortcut.0", "conv", (8, 4, 4)),
        ("1.add", "add", (8, 4, 4))]


@pytest.mark.parametrize("merge, channels", [("concat", 4 + 4 + 4), ("add", 4), ("mul", 4)])
def test_parallel_with_an_identity_branch(merge, channels):
    text = f"""\
        input: [4, 8, 8]
        layers:
          - parallel:
              branches:
                - []
                - [conv: {{out: 4, k: 3, p: 1}}]
                - - conv: {{out: 4, k: 1}}
                  - relu
              merge: {merge}
        """
    item = parse(textwrap.dedent(text), "t.yaml").layers[0]
    assert item.kind == "parallel" and item.merge == merge
    assert [len(b) for b in item.branches] == [0, 1, 2]
    rows = rows_of(text)
    assert [r.path for r in rows] == ["0.1.0", "0.2.0", "0.2.1", f"0.{merge}"]
    assert rows[-1].output.dims == (channels, 8, 8)


def test_parallel_merge_defaults_to_concat():
    text = """\
        input: [4, 8, 8]
        layers:
          - parallel:
              branches: [[], []]
        """
    assert parse(textwrap.dedent(text), "t.yaml").layers[0].merge == "concat"
    assert rows_of(text)[-1].output.dims == (8, 8, 8)


def test_densenet_layer_is_an_identity_branch_concatenated():
    """DenseNet (Huang et al. 2017): x → concat(x, H(x)), growth rate 4."""
    text = """\
        input: [6, 8, 8]
        layers:
          - parallel:
              branches:
                - []
                - [bn, relu, conv: {out: 4, k: 3, p: 1, bias: false}]
            times: 3
        """
    concat_rows = [r for r in rows_of(text) if r.op == "concat"]
    assert [r.output.channels for r in concat_rows] == [6 + 4, 6 + 8, 6 + 12]


@pytest.mark.parametrize("merge_line, op, out_channels", [
    ("- concat: [skip]", "concat", 4 + 4),
    ("- concat: skip", "concat", 4 + 4),
    ("- add: skip", "add", 4),
    ("- mul: skip", "mul", 4),
], ids=["concat-list", "concat-name", "add", "mul"])
def test_named_merges(merge_line, op, out_channels):
    text = f"""\
        input: [3, 8, 8]
        layers:
          - conv: {{out: 4, k: 1}}
            name: skip
          - conv: {{out: 4, k: 3, p: 1}}
          {merge_line}
        """
    item = parse(textwrap.dedent(text), "t.yaml").layers[-1]
    assert (item.kind, item.name) == ("merge", op)
    assert rows_of(text)[-1].op == op
    assert rows_of(text)[-1].output.dims == (out_channels, 8, 8)


def test_concat_of_several_saved_tensors():
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 2, k: 1}
            name: a
          - conv: {out: 5, k: 1}
            name: b
          - conv: {out: 7, k: 1}
          - concat: [a, b]
        """
    assert rows_of(text)[-1].output.dims == (7 + 2 + 5, 8, 8)


# -- blocks and values (§2.3, §2.4) -------------------------------------------------------------

def test_block_args_defaults_and_required():
    text = """\
        input: [4, 8, 8]
        blocks:
          down:
            args: {c: null, s: 2}
            layers:
              - conv: {out: c, k: 3, s: s, p: 1}
        layers:
          - down: {c: 8}
          - down: {c: 16, s: 1}
        """
    net = parse(textwrap.dedent(text), "t.yaml")
    assert net.blocks["down"].params["c"] is None
    assert net.blocks["down"].params["s"].value == 2
    assert [r.output.dims for r in rows_of(text)] == [(8, 4, 4), (16, 4, 4)]


def test_a_block_may_be_a_plain_list():
    text = """\
        input: [4, 8, 8]
        blocks:
          act: [bn, relu]
        layers:
          - act
        """
    assert [r.op for r in rows_of(text)] == ["bn", "relu"]


def test_vars_and_safe_expressions():
    text = """\
        input: [3, 8, 8]
        vars: {w: 7, w4: w*4}
        blocks:
          b:
            args: {c: null}
            layers:
              - conv: {out: c*4, k: 1}
              - conv: {out: (c + 1)//2, k: 1}
              - conv: {out: c % 4 + 1, k: 1}
        layers:
          - conv: {out: w4 - w, k: 1}
          - b: {c: w}
        """
    assert [r.output.channels for r in rows_of(text)] == [7 * 4 - 7, 7 * 4, (7 + 1) // 2,
                                                          7 % 4 + 1]


@pytest.mark.parametrize("expr, value", [
    ("c*4", 12), ("(c + 1)//2", 2), ("c % 2", 1), ("-c + 10", 7), ("2*(c - 1) + c//2", 5),
    ("  c  ", 3), ("7 // 2 * 2", 6),
])
def test_evaluate(expr, value):
    assert evaluate(expr, {"c": 3}, None) == value


def test_pytorch_key_aliases_equal_the_short_keys():
    short = """\
        input: [3, 16, 16]
        layers:
          - conv: {out: 8, k: 3, s: 2, p: 1, d: 1, g: 1, bias: false}
          - deconv: {out: 4, k: 3, s: 2, p: 1, op: 1}
          - maxpool: {k: 3, s: 2, p: 1, ceil: true}
          - flatten
          - linear: {out: 10}
        """
    long = """\
        input: [3, 16, 16]
        layers:
          - conv: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1, dilation: 1,
                   groups: 1, bias: false}
          - conv_transpose: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1,
                             output_padding: 1}
          - maxpool2d: {kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}
          - flatten
          - fc: {out_features: 10}
        """

    def numbers(text):
        return [(r.op, r.output.dims, r.params, r.macs, r.flops) for r in rows_of(text)]

    assert numbers(long) == numbers(short)
    # ceil mode: ceil((16 + 2 - 3)/2) + 1 = 9; the last window starts at 16 < 16 + 1, kept
    assert [d for _, d, *_ in numbers(short)] == [(8, 8, 8), (4, 16, 16), (4, 9, 9),
                                                  (4 * 9 * 9,), (10,)]


def test_expect_is_parsed_with_locations():
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 1}
        expect:
          output: [4, 8, 8]
          params: 16
          macs: {min: 0.7k, max: 2G}
        """
    net = parse(textwrap.dedent(text), "t.yaml")
    assert net.expect["output"].plain() == [4, 8, 8]
    assert net.expect["params"].value == 16
    assert net.expect["macs"].plain() == {"min": "0.7k", "max": "2G"}
    assert str(net.expect["params"].loc) == f"t.yaml:{at(text, '16')}"
    assert str(net.expect["macs"].value["max"].loc) == f"t.yaml:{at(text, '2G')}"
    from convcalc.check import check_report

    assert check_report(walk(net)) == []  # MACs 3*4*8*8 = 768, params 3*4 + 4 = 16


def test_spec_example_from_section_2_walks():
    """The YAML of SPEC §2 verbatim: resnet-ish (ResNet-18's first two stages)."""
    text = """\
        name: resnet-ish
        input: [3, 224, 224]
        vars: {w: 64}
        blocks:
          basic:
            args: {c: null, s: 1}
            layers:
              - residual:
                  body:
                    - conv: {out: c, k: 3, s: s, p: 1, bias: false}
                    - bn
                    - relu
                    - conv: {out: c, k: 3, p: 1, bias: false}
                    - bn
                  shortcut:
                    - conv: {out: c, k: 1, s: s, bias: false}
                    - bn
              - relu
        layers:
          - conv: {out: w, k: 7, s: 2, p: 3, bias: false}
            name: stem
          - bn
          - relu
          - maxpool: {k: 3, s: 2, p: 1}
          - basic: {c: w}
            times: 2
          - basic: {c: w*2, s: 2}
          - gap
          - flatten
          - linear: {out: 1000}
        """
    report = walk(parse(textwrap.dedent(text), "t.yaml"))
    assert report.name == "resnet-ish"
    assert report.output.dims == (1000,)
    stem = 3 * 64 * 7 * 7 + 2 * 64
    basic64 = 2 * (64 * 64 * 9 + 2 * 64) + (64 * 64 + 2 * 64)
    basic128 = (64 * 128 * 9 + 128 * 128 * 9 + 4 * 128) + (64 * 128 + 2 * 128)
    assert report.totals["params"] == stem + 2 * basic64 + basic128 + 128 * 1000 + 1000


# -- errors, compared exactly (§1.4, STYLE "error messages are part of the interface") ------------

def test_error_residual_shapes_differ(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - relu
          - residual:
              body:
                - conv: {out: 4, k: 3, p: 1}
        """
    path, line, err = error_of(tmp_path, text)
    assert isinstance(err, ShapeError)
    assert line == (f"{path}:{at(text, 'residual')}: error: residual (1): body gives 4×8×8 "
                    f"but shortcut gives 3×8×8")


def test_error_residual_shapes_differ_inside_a_block(tmp_path):
    text = """\
        input: [3, 8, 8]
        blocks:
          b:
            layers:
              - residual:
                  body: [conv: {out: 4, k: 1}]
        layers:
          - b
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'residual')}: error: residual in block 'b' (0): body "
                    f"gives 4×8×8 but shortcut gives 3×8×8")


def test_error_concat_spatial_sizes_differ(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - parallel:
              branches:
                - [conv: {out: 4, k: 3}]
                - [conv: {out: 4, k: 1}]
              merge: concat
        """
    path, line, err = error_of(tmp_path, text)
    assert isinstance(err, ShapeError)
    assert line == (f"{path}:{at(text, 'parallel')}: error: parallel concat (0): branch 0 "
                    f"gives 4×6×6 but branch 1 gives 4×8×8 (spatial sizes must match to "
                    f"concat)")


def test_error_named_concat_sizes_differ(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 1}
            name: skip
          - maxpool: {k: 2}
          - concat: [skip]
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'concat')}: error: concat (2): the current tensor gives "
                    f"4×4×4 but 'skip' gives 4×8×8 (spatial sizes must match to concat)")


def test_error_named_add_shapes_differ(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 1}
            name: a
          - conv: {out: 8, k: 1}
          - add: a
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'add')}: error: add (2): the current tensor gives "
                    f"8×8×8 but 'a' gives 4×8×8")


def test_error_unknown_op_with_hint(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 3}
          - rellu
        """
    path, line, err = error_of(tmp_path, text)
    assert isinstance(err, SpecError)
    assert line == f"{path}:{at(text, 'rellu')}: error: unknown op 'rellu' (hint: did you mean " \
                   f"'relu'?)"


def test_error_unknown_op_suggests_a_block(tmp_path):
    text = """\
        input: [3, 8, 8]
        blocks:
          bottleneck: [relu]
        layers:
          - bottelneck: {}
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'bottelneck')}: error: unknown op 'bottelneck' (hint: "
                    f"did you mean 'bottleneck'?)")


def test_error_unknown_key_with_hint(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, kernal_size: 3}
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'kernal_size')}: error: conv (0) on input 3×8×8: "
                    f"no key 'kernal_size' (it takes out, k, s, p, d, g, bias) (hint: did "
                    f"you mean 'kernel_size'?)")


def test_error_unknown_top_level_key(tmp_path):
    text = """\
        input: [3, 8, 8]
        layer:
          - relu
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'layer:')}: error: unknown top-level key 'layer' "
                    f"(hint: did you mean 'layers'?)")


def test_error_missing_required_block_arg(tmp_path):
    text = """\
        input: [3, 8, 8]
        blocks:
          b:
            args: {c: null}
            layers:
              - conv: {out: c, k: 1}
        layers:
          - b: {}
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'b: {}')}: error: block 'b' needs arg 'c' (hint: "
                    f"`- b: {{c: ...}}`)")


def test_error_unknown_block_arg(tmp_path):
    text = """\
        input: [3, 8, 8]
        blocks:
          b:
            args: {c: 2}
            layers:
              - conv: {out: c, k: 1}
        layers:
          - b: {cc: 3}
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'cc')}: error: block 'b' has no arg 'cc' (hint: did "
                    f"you mean 'c'?)")


def test_error_misspelt_name_as_a_block_arg_points_at_the_arg(tmp_path):
    """SPEC §2.4: a name that is neither a var, an arg nor an enum value is an error — at the
    place it is written, not later where the block uses it."""
    text = """\
        input: [3, 8, 8]
        vars: {width: 4}
        blocks:
          b:
            args: {c: null}
            layers:
              - conv: {out: c, k: 1}
        layers:
          - b: {c: widht}
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'widht')}: error: undefined name 'widht' in 'widht' "
                    f"(hint: did you mean 'width'?)")


def test_an_enum_value_may_be_a_block_arg():
    text = """\
        input: [4, 8, 8]
        blocks:
          up:
            args: {m: nearest}
            layers:
              - upsample: {scale: 2, mode: m}
        layers:
          - up: {m: bilinear}
        """
    (row,) = rows_of(text)
    assert row.output.dims == (4, 16, 16)
    assert row.flops == 4 * 16 * 16 * 3 * (2 ** 2 - 1)  # bilinear: 3 lerps of 3 FLOPs


@pytest.mark.parametrize("expr, name", [("c*2", "c"), ("w + 1", "w")])
def test_error_undefined_name_in_expression(tmp_path, expr, name):
    text = f"""\
        input: [3, 8, 8]
        layers:
          - conv: {{out: {expr}, k: 1}}
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, expr)}: error: undefined name '{name}' in '{expr}' "
                    f"(hint: define it under vars: or as a block arg)")


def test_error_undefined_name_hints_a_close_var(tmp_path):
    text = """\
        input: [3, 8, 8]
        vars: {width: 4}
        layers:
          - conv: {out: widht*2, k: 1}
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'widht*2')}: error: undefined name 'widht' in "
                    f"'widht*2' (hint: did you mean 'width'?)")


def test_error_a_symbol_outside_input_is_an_undefined_name(tmp_path):
    text = """\
        input: [3, H, 8]
        layers:
          - conv: {out: H, k: 1}
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'H, k')}: error: undefined name 'H' in 'H' (hint: "
                    f"define it under vars: or as a block arg)")


def test_error_a_var_naming_nothing(tmp_path):
    text = """\
        input: [3, 8, 8]
        vars: {a: 4, b: aa}
        layers:
          - relu
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'aa')}: error: undefined name 'aa' in 'aa' (hint: did "
                    f"you mean 'a'?)")


def test_error_a_block_that_calls_itself(tmp_path):
    text = """\
        input: [3, 8, 8]
        blocks:
          b:
            layers:
              - relu
              - b
        layers:
          - b
        """
    path, line, _ = error_of(tmp_path, text)
    # points at the recursive call `- b` inside the block
    assert line == f"{path}:{at(text, '- b', offset=2)}: error: block 'b' calls itself (b → b)"


def test_error_a_two_block_cycle(tmp_path):
    text = """\
        input: [3, 8, 8]
        blocks:
          a:
            layers: [b]
          b:
            layers:
              - relu
              - a
        layers:
          - a
        """
    path, line, _ = error_of(tmp_path, text)
    # the cycle closes at the `- a` inside block b
    assert line == (f"{path}:{at(text, '- a', offset=2)}: error: block 'a' calls itself "
                    f"(a → b → a)")


def test_error_from_names_an_unknown_tensor(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 1}
            name: stem
          - relu: {}
            from: stm
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'stm')}: error: 'from: stm' names no saved tensor "
                    f"(hint: did you mean 'stem'?)")


def test_error_merge_names_an_unknown_tensor(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - relu: {}
            name: skip
          - concat: [skp]
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'skp')}: error: concat: no saved tensor 'skp' (hint: "
                    f"did you mean 'skip'?)")


def test_error_block_shadowing_an_op(tmp_path):
    text = """\
        input: [3, 8, 8]
        blocks:
          conv: [relu]
        layers:
          - relu
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'conv')}: error: block 'conv' shadows the op of the "
                    f"same name (hint: rename the block)")


def test_error_two_ops_in_one_item(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - relu:
            bn:
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'bn')}: error: one op per item, got relu, bn (hint: "
                    f"start a new list item with '- ')")


# -- expressions are never evaluated (STYLE rule 8) ---------------------------------------------

INJECTIONS = [
    ("__import__('os').system('touch PWNED')", "a function call"),
    ("__import__('os')", "a function call"),
    ("c.__class__", "attribute access"),
    ("c.real", "attribute access"),
    ("abs(c)", "a function call"),
    ("c**2", "'**'"),
    ("9**9**9**9", "'**'"),
    ("[c][0]", "subscript"),
    ("lambda: 1", "lambda"),
    ("c if c else 1", "ifexp"),
    ("'abc'", "str constant 'abc'"),
    ("1.5*c", "float constant 1.5"),
]


@pytest.mark.parametrize("expr, what", INJECTIONS, ids=[e for e, _ in INJECTIONS])
def test_expression_injection_is_rejected_with_a_located_error(tmp_path, monkeypatch, expr,
                                                               what):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.chdir(tmp_path)
    quoted = '"' + expr + '"'
    text = f"""\
        input: [3, 8, 8]
        vars: {{c: 4}}
        layers:
          - conv: {{out: {quoted}, k: 1}}
        """
    path, line, err = error_of(tmp_path, text)
    assert isinstance(err, SpecError)
    hint = ("write the product out, e.g. c*c" if what == "'**'" else
            "expressions allow integers, names, + - * // % and parentheses")
    assert line == (f"{path}:{at(text, quoted)}: error: {what} in expression {expr!r} (hint: "
                    f"{hint})")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("expr", ["__builtins__", "__import__", "os", "self"])
def test_dunder_and_global_names_are_just_undefined(expr):
    with pytest.raises(SpecError, match=f"undefined name '{expr}'"):
        evaluate(expr, {"c": 3}, None)


def test_division_by_zero_is_an_error_not_a_crash():
    with pytest.raises(SpecError, match="division by zero"):
        evaluate("c // (c - 3)", {"c": 3}, None)
    with pytest.raises(SpecError, match="division by zero"):
        evaluate("c % 0", {"c": 3}, None)


def test_huge_values_are_refused():
    with pytest.raises(SpecError, match="too large"):
        evaluate("c" + "*c" * 40, {"c": 1000}, None)


def test_error_a_merge_with_no_tensor_names(tmp_path):
    """`- concat: []` would silently merge the current tensor with nothing."""
    text = """\
        input: [3, 8, 8]
        layers:
          - relu: {}
            name: a
          - concat: []
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'concat')}: error: concat needs the name of a saved "
                    f"tensor (hint: `- concat: X` where an earlier item has `name: X`)")


def test_version_1_is_accepted_and_others_are_refused(tmp_path):
    assert rows_of("version: 1\ninput: [3, 8, 8]\nlayers: [relu]\n")[0].op == "relu"
    text = """\
        version: 2
        input: [3, 8, 8]
        layers: [relu]
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, '2')}: error: format version 2 is not supported; this "
                    f"convcalc reads version 1")


# -- YAML 1.1 values a reader would misread (issue 7, item 17) ---------------------------------

# (plain scalar, what YAML 1.1 makes of it — written as the arithmetic a reader would not do —,
# the reason named in the message)
MISREAD_INTS = [
    ("010", 1 * 8 + 0, "octal"), ("-010", -(1 * 8), "octal"), ("00", 0, "octal"),
    ("0x10", 1 * 16, "hexadecimal"), ("0b11", 2 + 1, "binary"),
    ("1:20", 1 * 60 + 20, "base 60"), ("1_000", 1000, "digits separated by '_'"),
]


@pytest.mark.parametrize("text, value, why", MISREAD_INTS, ids=[t for t, _, _ in MISREAD_INTS])
def test_yaml_11_integers_that_do_not_read_as_written_are_errors(tmp_path, text, value, why):
    yaml_text = f"input: [3, 8, 8]\nlayers:\n  - conv: {{out: 4, k: {text}}}\n"
    path, line, _ = error_of(tmp_path, yaml_text)
    assert line == (f"{path}:3:{len('  - conv: {out: 4, k: ') + 1}: error: '{text}' reads as "
                    f"{value} in YAML 1.1 ({why}) (hint: write {value} in plain decimal)")


@pytest.mark.parametrize("text, word", [("yes", "true"), ("No", "false"), ("on", "true"),
                                        ("OFF", "false")])
def test_yaml_11_booleans_beyond_true_false_are_errors(tmp_path, text, word):
    yaml_text = f"input: [3, 8, 8]\nlayers:\n  - conv: {{out: 4, k: 1, bias: {text}}}\n"
    path, line, _ = error_of(tmp_path, yaml_text)
    col = len("  - conv: {out: 4, k: 1, bias: ") + 1
    assert line == (f"{path}:3:{col}: error: '{text}' reads as {word} in YAML 1.1 (hint: "
                    f"write {word}, or quote it for the word)")


def test_yaml_11_floats_with_separators_are_errors(tmp_path):
    text = "input: [3, 8, 8]\nlayers: [relu]\nexpect:\n  macs: 1:20.5\n"
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:4:9: error: '1:20.5' reads as {60 + 20.5!r} in YAML 1.1 "
                    f"(base 60) (hint: write {80.5!r} in plain decimal)")


def test_plain_decimals_booleans_and_keyword_keys_still_read():
    # signed decimals, 0, and the spellings of true/false; `on:` as a key is the text "on"
    # (as a value it is the boolean: quoted, the name)
    text = """\
        input: [3, 8, 8]
        vars: {on: +2, off: -0}
        layers:
          - conv: {out: 'on', k: 1, bias: True}
          - conv: {out: 2, k: 1, bias: FALSE}
        """
    net = parse(textwrap.dedent(text), "t.yaml")
    assert net.vars["on"].value == 2 and net.vars["off"].value == 0
    rows = rows_of(text)
    assert [r.params for r in rows] == [2 * 3 + 2, 2 * 2]


@pytest.mark.parametrize("expr, value", [("0x10 + 0", 16), ("1_000 - 1", 1000),
                                         ("0o10", 8), ("2*(0b11)", 3), ("'0X1F'", 31)])
def test_expressions_write_integers_in_plain_decimal_too(tmp_path, expr, value):
    # Python's parser reads 0x10, 0o10, 0b11 and 1_000; outside an expression these are
    # errors (above), so inside one they are too: one rule for what a file's integers mean
    text = f"input: [3, 8, 8]\nlayers:\n  - conv: {{out: {expr}, k: 1}}\n"
    path, line, _ = error_of(tmp_path, text)
    literal = re.search(r"0[xXob]\w+|\d+_\d+", expr).group(0)
    shown = expr.strip("'")
    assert line == (f"{path}:3:{len('  - conv: {out: ') + 1}: error: integer {literal!r} not "
                    f"in plain decimal in expression {shown!r} (hint: write {value} in plain "
                    f"decimal)")


def test_quoted_text_is_not_a_misreading(tmp_path):
    # quoted, `'010'` is a string: an expression, where Python's rules refuse a leading zero
    path, line, _ = error_of(tmp_path, "input: [3, 8, 8]\nlayers:\n  - conv: {out: '010', "
                                       "k: 1}\n")
    assert line.startswith(f"{path}:3:17: error: cannot read expression '010'")


def test_an_empty_network_is_an_error(tmp_path):
    text = "input: [3, 8, 8]\nlayers: []\n"
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, '[]')}: error: 'layers' is empty: a network needs at "
                    f"least one layer (hint: list the items under layers:, e.g. "
                    f"`- conv: {{out: 16, k: 3}}`)")


def test_dash_reads_standard_input(monkeypatch):
    import io
    import sys

    text = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 1}\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    net = load("-")
    assert net.file == "<stdin>"
    assert walk(net).rows[0].params == 4 * 3 + 4
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"input: [3, 8, 8]\n"
                                                                  b"layers: [rleu]\n")))
    with pytest.raises(ConvcalcError) as info:
        walk(load("-"))
    assert info.value.line() == ("<stdin>:2:10: error: unknown op 'rleu' (hint: did you "
                                 "mean 'relu'?)")


# -- names: unique within a scope (issue 7, item 13) ---------------------------------------------

def test_two_items_with_one_name_in_one_list_are_an_error(tmp_path):
    text = """\
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 1}
            name: x
          - relu: {}
            name: x
        """
    path, line, _ = error_of(tmp_path, text)
    assert line == (f"{path}:{at(text, 'x', nth=1)}: error: duplicate name 'x' (first at line "
                    f"4) (hint: a name is unique within its list: the layers, a block, a "
                    f"residual body or shortcut, a parallel branch)")


def test_a_name_may_repeat_in_other_scopes_and_paths_stay_unique():
    text = """\
        input: [4, 8, 8]
        blocks:
          unit:
            layers:
              - conv: {out: 4, k: 1}
                name: x
              - add: x
        layers:
          - unit
          - unit
          - parallel:
              branches:
                - [{relu: {}, name: x}]
                - [{relu: {}, name: x}]
              merge: add
          - relu: {}
            name: x
        """
    rows = rows_of(text)
    paths = [r.path for r in rows]
    assert len(paths) == len(set(paths))
    assert paths == ["0.x", "0.1", "1.x", "1.1", "2.0.x", "2.1.x", "2.add", "x"]


def test_a_name_with_times_names_the_last_repetition():
    text = """\
        input: [3, 16, 16]
        layers:
          - maxpool: {k: 2}
            name: x
            times: 3
          - relu
          - conv: {out: 4, k: 1}
            from: x
        """
    rows = rows_of(text)
    assert [r.path for r in rows] == ["x.0", "x.1", "x.2", "1", "2"]
    assert rows[-1].input.dims == (3, 16 // 2 // 2 // 2, 16 // 2 // 2 // 2)


def test_a_scalar_input_names_the_same_rank_range_as_the_list_check(tmp_path):
    # a flat input ([3]) is valid: both messages say 0–3 spatial sizes
    path, line, _ = error_of(tmp_path, "input: 3\nlayers: [relu]\n")
    assert line == (f"{path}:1:8: error: 'input' must be a list: channels then 0–3 spatial "
                    f"sizes, e.g. [3, 224, 224]")

# -- a collection where a value belongs: shown as written, not as convcalc's records -----------

@pytest.mark.parametrize("text, needle, message", [
    ("input: [3, {a: 1}]\nlayers: [relu]\n", "{a",
     "input sizes must be integers or names, got {'a': 1}"),
    ("input: [3, [8]]\nlayers: [relu]\n", "[8",
     "input sizes must be integers or names, got [8]"),
    ("input: [3, 8]\nlayers:\n  - parallel: {branches: [[relu]], merge: [add]}\n", "[add",
     "merge must be one of add, concat, mul, got ['add']"),
    ("input: [3, 8]\nlayers:\n  - relu\n  - add: [{a: 1}]\n", "{a",
     "add takes tensor names, got {'a': 1}"),
    ("input: [3, 8]\nexpect: {params: [1]}\nlayers: [relu]\n", "[1",
     "expect.params: expected an integer or a string like 2G or 3.5M, got [1] "
     "(hint: SI suffixes: k, M, G, T)"),
    ("input: [3, 8]\nexpect: {output: [{a: 1}]}\nlayers: [relu]\n", "{a",
     "expect.output: sizes are integers, got {'a': 1}"),
    ("version: [1]\ninput: [3, 8]\nlayers: [relu]\n", "[1",
     "format version [1] is not supported; this convcalc reads version 1"),
])
def test_collections_in_messages_are_shown_as_written(text, needle, message):
    # these messages once printed Y(value=1, loc=Loc(file=..., line=..., col=...)), whose
    # columns differ between libyaml and the pure-Python parser
    from convcalc.check import check_report
    with pytest.raises(ConvcalcError) as info:
        check_report(walk(parse(text, "t.yaml")), None)
    assert info.value.line() == f"t.yaml:{at(text, needle)}: error: {message}"


@pytest.mark.parametrize("expr, written, value", [
    ("0x1f + 1", "0x1f", 31), ("0o10*2", "0o10", 8), ("1_000 // 2", "1_000", 1000),
    ("c + 0b11", "0b11", 3),
])
def test_expressions_take_plain_decimal_integers_only(expr, written, value):
    # Python's parser reads 0x1f as 31; a plain YAML value 0x1f is refused, so is this
    with pytest.raises(SpecError) as info:
        evaluate(expr, {"c": 8}, None)
    assert info.value.line() == (f"error: integer {written!r} not in plain decimal in "
                                 f"expression {expr!r} (hint: write {value} in plain decimal)")


def test_python_syntax_warnings_do_not_reach_stderr():
    # '1if' made Python print "<unknown>:1: SyntaxWarning: invalid decimal literal" before
    # convcalc's one line
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(SpecError) as info:
            evaluate("1if", {}, None)
    assert seen == []
    assert info.value.line() == ("error: cannot read expression '1if' (hint: use integers, "
                                 "names, + - * // % and parentheses)")
