"""``convcalc diff``: rows aligned by structure and names before numbers (issue 7, item 7).

Every expected value is worked out by hand from SPEC §4 below, never copied from a run.

``BASE`` (input 3×32×32):
  stem  conv 3→16 k3 p1 → 16×32×32: params 16·27 + 16 = 448, MACs 16·27·1,024 = 442,368,
        FLOPs 2·MACs = 884,736 (with bias); RF 3, jump 1
  1     relu 16×32×32: FLOPs 16,384; RF 3
  2.0, 2.1, 2.2  conv 16→16 k3 p1: params 16·144 + 16 = 2,320, MACs 16·144·1,024 =
        2,359,296, FLOPs 4,718,592; RF 5, 7, 9
  3     conv 16→32 k3 s2 p1 → 32×16×16: params 32·144 + 32 = 4,640, MACs 32·144·256 =
        1,179,648, FLOPs 2,359,296; RF 9 + 2 = 11, jump 2
  4     relu 32×16×16: FLOPs 8,192
  totals: params 448 + 3·2,320 + 4,640 = 12,048; MACs 442,368 + 3·2,359,296 + 1,179,648 =
          8,699,904; FLOPs 884,736 + 16,384 + 3·4,718,592 + 2,359,296 + 8,192 = 17,424,384;
          activations 16,384·5 + 8,192·2 = 98,304
Every receptive field here is centred on 0 (k3 p1 and k1 p0 windows are symmetric).
"""

from __future__ import annotations

import json
import random

import pytest

from convcalc import diff as diff_module
from convcalc.diff import _myers, diff_reports
from convcalc.spec import load
from convcalc.walk import walk
from clirun import cli

BASE = """\
input: [3, 32, 32]
layers:
  - conv: {out: 16, k: 3, p: 1}
    name: stem
  - relu
  - conv: {out: 16, k: 3, p: 1}
    times: 3
  - conv: {out: 32, k: 3, s: 2, p: 1}
  - relu
"""
TOTALS = {"params": 12_048, "macs": 8_699_904, "flops": 17_424_384, "activations": 98_304}
C16 = {"out": 16, "k": 3, "p": 1}



@pytest.fixture
def versions(tmp_path, monkeypatch):
    """Write OLD and NEW, return a function giving (exit code, stdout) of ``convcalc diff``."""
    monkeypatch.chdir(tmp_path)

    def run(capsys, new: str, old: str = BASE, *options: str):
        (tmp_path / "old.yaml").write_text(old)
        (tmp_path / "new.yaml").write_text(new)
        code, out, err = cli(capsys, monkeypatch, "diff", "old.yaml", "new.yaml", *options)
        assert err == ""
        return code, out

    return run


def diff_json(versions, capsys, new: str, old: str = BASE) -> dict:
    code, out = versions(capsys, new, old, "--format", "json")
    assert code == 0
    return json.loads(out)


def row(index, path, op, inp, out, params, macs, flops, rf, jump=1, name=None, args=None):
    """A layer of convcalc's JSON (SPEC §5) plus the arguments diff compares."""
    axes = len(inp) - 1
    return {"index": index, "path": path, "name": name, "op": op, "input": inp, "output": out,
            "params": params, "macs": macs, "flops": flops,
            "rf": {"size": [rf] * axes, "jump": [jump] * axes, "start": [0] * axes},
            "args": args or {}}


def field(name, old, new):
    return {"field": name, "old": old, "new": new}


def brief(layer) -> tuple:
    """(change, old path, new path, fields, delta) of one JSON entry."""
    return (layer["change"], layer["old"] and layer["old"]["path"],
            layer["new"] and layer["new"]["path"], layer["fields"], layer["delta"])


def delta(params, macs, flops):
    return {"params": params, "macs": macs, "flops": flops}


# -- insertion ------------------------------------------------------------------------------

# a 1×1 conv 16→8 after the stem: params 8·16 + 8 = 136, MACs 8·16·1,024 = 131,072,
# FLOPs 262,144, RF still 3; the relu now sees 8 channels (FLOPs 8,192); the first repeated
# conv reads 8 channels: params 16·72 + 16 = 1,168, MACs 16·72·1,024 = 1,179,648,
# FLOPs 2,359,296; the second and later convs see what they saw before: unchanged.
INSERTED = BASE.replace("    name: stem\n", "    name: stem\n  - conv: {out: 8, k: 1}\n")


def test_an_insertion_is_one_added_row_plus_the_rows_whose_numbers_change(versions, capsys):
    doc = diff_json(versions, capsys, INSERTED)
    assert doc == {
        "schema": "convcalc.diff/1", "old": "old.yaml", "new": "new.yaml",
        "output": {"old": [32, 16, 16], "new": [32, 16, 16]},
        "totals": {
            "params": {"old": 12_048, "new": 12_048 + 136 - 1_152, "delta": 136 - 1_152},
            "macs": {"old": 8_699_904, "new": 8_699_904 + 131_072 - 1_179_648,
                     "delta": 131_072 - 1_179_648},
            "flops": {"old": 17_424_384, "new": 17_424_384 + 262_144 - 8_192 - 2_359_296,
                      "delta": 262_144 - 8_192 - 2_359_296},
            # +8,192 for the new conv's output, -8,192 for the narrower relu
            "activations": {"old": 98_304, "new": 98_304, "delta": 0}},
        "layers": [
            {"change": "added", "old": None,
             "new": row(1, "1", "conv", [16, 32, 32], [8, 32, 32], 136, 131_072, 262_144, 3,
                        args={"out": 8, "k": 1}),
             "fields": [], "delta": delta(136, 131_072, 262_144)},
            {"change": "changed",
             "old": row(1, "1", "relu", [16, 32, 32], [16, 32, 32], 0, 0, 16_384, 3),
             "new": row(2, "2", "relu", [8, 32, 32], [8, 32, 32], 0, 0, 8_192, 3),
             "fields": [field("input", [16, 32, 32], [8, 32, 32]),
                        field("output", [16, 32, 32], [8, 32, 32]),
                        field("flops", 16_384, 8_192)],
             "delta": delta(0, 0, -8_192)},
            {"change": "changed",
             "old": row(2, "2.0", "conv", [16, 32, 32], [16, 32, 32], 2_320, 2_359_296,
                        4_718_592, 5, args=C16),
             "new": row(3, "3.0", "conv", [8, 32, 32], [16, 32, 32], 1_168, 1_179_648,
                        2_359_296, 5, args=C16),
             "fields": [field("input", [16, 32, 32], [8, 32, 32]),
                        field("params", 2_320, 1_168), field("macs", 2_359_296, 1_179_648),
                        field("flops", 4_718_592, 2_359_296)],
             "delta": delta(-1_152, -1_179_648, -2_359_296)}]}


def test_an_insertion_in_the_table(versions, capsys):
    code, out = versions(capsys, INSERTED)
    assert code == 0
    rows = [line.split("  ") for line in out.splitlines()[6:]]
    cells = [[c.strip() for c in r if c.strip()] for r in rows]
    assert cells == [
        ["change", "path", "op", "output", "what", "Δ params", "Δ MACs"],
        ["added", "1", "conv", "8×32×32", "out=8 k=1", "+136", "+131,072"],
        ["changed", "1 → 2", "relu", "16×32×32 → 8×32×32", "input: 16×32×32 → 8×32×32", "0",
         "0"],
        ["changed", "2.0 → 3.0", "conv", "16×32×32", "input: 16×32×32 → 8×32×32", "-1,152",
         "-1,179,648"]]


# -- deletion, repetitions ------------------------------------------------------------------

def test_a_deletion_is_one_removed_row(versions, capsys):
    """Without the relu after the stem nothing else sees other numbers (a relu keeps the
    shape); the later rows move up one path but are the same layers."""
    doc = diff_json(versions, capsys, BASE.replace("  - relu\n  - conv: {out: 16", "  - conv: "
                                                   "{out: 16", 1))
    assert [brief(x) for x in doc["layers"]] == [
        ("removed", "1", None, [], delta(0, 0, -16_384))]
    assert doc["totals"]["activations"] == {"old": 98_304, "new": 81_920, "delta": -16_384}


def test_times_3_to_2_removes_the_last_repetition(versions, capsys):
    """The final conv and relu see what they saw before: not listed."""
    doc = diff_json(versions, capsys, BASE.replace("times: 3", "times: 2"))
    assert [brief(x) for x in doc["layers"]] == [
        ("removed", "2.2", None, [], delta(-2_320, -2_359_296, -4_718_592))]
    assert doc["totals"]["params"] == {"old": 12_048, "new": 9_728, "delta": -2_320}


def test_times_2_to_3_adds_the_last_repetition(versions, capsys):
    doc = diff_json(versions, capsys, BASE, BASE.replace("times: 3", "times: 2"))
    assert [brief(x) for x in doc["layers"]] == [
        ("added", None, "2.2", [], delta(2_320, 2_359_296, 4_718_592))]


# -- names and arguments --------------------------------------------------------------------

def test_a_renamed_layer_is_a_change_not_a_removal_and_an_addition(versions, capsys):
    doc = diff_json(versions, capsys, BASE.replace("name: stem", "name: first"))
    assert [brief(x) for x in doc["layers"]] == [
        ("changed", "stem", "first", [field("name", "stem", "first")], delta(0, 0, 0))]
    code, out = versions(capsys, BASE.replace("name: stem", "name: first"), BASE,
                         "--format", "markdown")
    assert out.splitlines()[-1] == (
        "| changed | stem → first | conv | 16×32×32 | name: `stem` → `first` | 0 | 0 |")


# the last conv with k 5: output (32 + 2 - 5)//2 + 1 = 15; params 32·16·25 + 32 = 12,832,
# MACs 32·400·225 = 2,880,000, FLOPs 5,760,000; the relu after it: 32·225 = 7,200 FLOPs
K5 = BASE.replace("{out: 32, k: 3, s: 2, p: 1}", "{out: 32, k: 5, s: 2, p: 1}")


def test_an_argument_change_says_which_argument(versions, capsys):
    doc = diff_json(versions, capsys, K5)
    assert [brief(x) for x in doc["layers"]] == [
        ("changed", "3", "3",
         [field("args.k", 3, 5), field("output", [32, 16, 16], [32, 15, 15]),
          field("params", 4_640, 12_832), field("macs", 1_179_648, 2_880_000),
          field("flops", 2_359_296, 5_760_000)],
         delta(12_832 - 4_640, 2_880_000 - 1_179_648, 5_760_000 - 2_359_296)),
        ("changed", "4", "4",
         [field("input", [32, 16, 16], [32, 15, 15]),
          field("output", [32, 16, 16], [32, 15, 15]), field("flops", 8_192, 7_200)],
         delta(0, 0, -992))]
    code, out = versions(capsys, K5, BASE, "--format", "markdown")
    assert out.splitlines()[-2:] == [
        "| changed | 3 | conv | 32×16×16 → 32×15×15 | k: 3 → 5 | +8,192 | +1,700,352 |",
        "| changed | 4 | relu | 32×16×16 → 32×15×15 | input: 32×16×16 → 32×15×15 | 0 | 0 |"]


def test_arguments_are_compared_as_pytorch_sees_them(versions, capsys):
    """PyTorch's names, per-axis lists, explicit defaults: the same layer."""
    same = BASE.replace("{out: 32, k: 3, s: 2, p: 1}", "{out_channels: 32, kernel_size: [3, 3], "
                        "stride: 2, padding: [[1, 1], 1], d: 1, g: 1, bias: true}")
    code, out = versions(capsys, same, BASE, "--format", "markdown")
    assert out.splitlines()[-1] == "| | no layer changed | | | | | |"
    # an explicit value that differs from the default is a change; the default is shown
    doc = diff_json(versions, capsys, BASE.replace("{out: 32, k: 3, s: 2, p: 1}",
                                                   "{out: 32, k: 3, s: 2, p: 1, bias: false}"))
    assert [brief(x) for x in doc["layers"]] == [
        ("changed", "3", "3", [field("args.bias", True, False), field("params", 4_640, 4_608),
                               # FLOPs without bias: (2·144 - 1)·32·256
                               field("flops", 2_359_296, 287 * 32 * 256)],
         delta(-32, 0, 287 * 32 * 256 - 2_359_296))]


# -- order and structure --------------------------------------------------------------------

# two convs swapped (3×32×32 input):
#   old 0 conv k3 3→8: params 8·27 + 8 = 224, MACs 8·27·1,024 = 221,184
#   old 1 conv k5 8→8: params 8·200 + 8 = 1,608, MACs 8·200·1,024 = 1,638,400
#   new 0 conv k5 3→8: params 8·75 + 8 = 608, MACs 8·75·1,024 = 614,400
#   new 1 conv k3 8→8: params 8·72 + 8 = 584, MACs 8·72·1,024 = 589,824
# A swap is a move: one layer keeps its identity, the other is removed here and added there
# (cost 2), never two layers whose arguments changed into each other's (cost 3). Both moves
# cost the same; on a tie a removal comes before an addition, so the k3 conv is the one moved.
SWAP = """\
input: [3, 32, 32]
layers:
  - conv: {out: 8, k: 3, p: 1}
  - conv: {out: 8, k: 5, p: 2}
"""
SWAPPED = """\
input: [3, 32, 32]
layers:
  - conv: {out: 8, k: 5, p: 2}
  - conv: {out: 8, k: 3, p: 1}
"""


def test_swapped_layers_are_a_move(versions, capsys):
    doc = diff_json(versions, capsys, SWAPPED, SWAP)
    assert [brief(x) for x in doc["layers"]] == [
        ("removed", "0", None, [], delta(-224, -221_184, -442_368)),
        ("changed", "1", "0",
         [field("input", [8, 32, 32], [3, 32, 32]), field("params", 1_608, 608),
          field("macs", 1_638_400, 614_400), field("flops", 3_276_800, 1_228_800)],
         delta(-1_000, -1_024_000, -2_048_000)),
        ("added", None, "1", [], delta(584, 589_824, 1_179_648))]
    assert doc["totals"]["params"]["delta"] == -224 - 1_000 + 584


def test_layers_moved_into_a_block_are_the_same_layers(versions, capsys, tmp_path):
    """A block is a macro: calling one instead of writing its layers out changes no layer
    (the paths do change: 2.0 → 2.0.0)."""
    refactored = BASE.replace("layers:\n", "blocks:\n  three:\n    layers:\n"
                              "      - conv: {out: 16, k: 3, p: 1}\n        times: 3\n"
                              "layers:\n", 1).replace(
        "  - conv: {out: 16, k: 3, p: 1}\n    times: 3\n", "  - three\n")
    paths = [r.path for r in walk(load_text(refactored, tmp_path)).rows]
    assert paths[2:5] == ["2.0.0", "2.0.1", "2.0.2"]
    code, out = versions(capsys, refactored, BASE, "--format", "markdown")
    assert out.splitlines()[-1] == "| | no layer changed | | | | | |"
    assert "| params | 12,048 | 12,048 | 0 |" in out


def test_a_layer_moved_between_residual_branches_says_its_path(versions, capsys):
    """conv and bn trade places between body and shortcut (16×8×8 input, shapes kept). The
    conv (16·144 + 16 = 2,320 params, 16·144·64 = 147,456 MACs) is removed from the body and
    added to the shortcut; the bn stays the same layer in another branch: changed, with its
    path as the difference."""
    old = ("input: [16, 8, 8]\nlayers:\n  - residual:\n      body: [conv: {out: 16, k: 3, "
           "p: 1}]\n      shortcut: [bn]\n")
    new = ("input: [16, 8, 8]\nlayers:\n  - residual:\n      body: [bn]\n      shortcut: "
           "[conv: {out: 16, k: 3, p: 1}]\n")
    doc = diff_json(versions, capsys, new, old)
    assert [brief(x) for x in doc["layers"]] == [
        ("removed", "0.body.0", None, [], delta(-2_320, -147_456, -294_912)),
        ("changed", "0.shortcut.0", "0.body.0", [field("path", "0.shortcut.0", "0.body.0")],
         delta(0, 0, 0)),
        ("added", None, "0.shortcut.0", [], delta(2_320, 147_456, 294_912))]


def test_named_merges_compare_the_tensors_they_merge(versions, capsys):
    old = ("input: [4, 8, 8]\nlayers:\n  - relu: {}\n    name: a\n  - relu: {}\n    name: b\n"
           "  - conv: {out: 4, k: 1}\n  - concat: [a]\n")
    doc = diff_json(versions, capsys, old.replace("concat: [a]", "concat: [b]"), old)
    assert [brief(x) for x in doc["layers"]] == [
        ("changed", "3", "3", [field("args.tensors", ["a"], ["b"])], delta(0, 0, 0))]


def load_text(text: str, tmp_path, name: str = "net.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load(str(path))


# -- big networks ---------------------------------------------------------------------------

def test_big_networks_align_through_anchors(tmp_path, monkeypatch):
    """Beyond the dynamic programme's table, equal rows anchor the alignment (Myers' diff)
    and the gaps get the full edit script: the insertion case gives the same answer."""
    old, new = walk(load_text(BASE, tmp_path)), walk(load_text(INSERTED, tmp_path))
    full = diff_reports(old, new)
    monkeypatch.setattr(diff_module, "MAX_CELLS", 4)
    anchored = diff_reports(old, new)
    assert [(c.kind, c.old and c.old.path, c.new and c.new.path, c.fields)
            for c in anchored.changes] == [
        (c.kind, c.old and c.old.path, c.new and c.new.path, c.fields) for c in full.changes]
    assert [c.kind for c in full.changes] == ["added", "changed", "changed"]


def test_myers_finds_a_longest_common_subsequence():
    """Against the textbook dynamic programme on random short sequences (derandomized)."""
    def lcs(a, b):
        t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(len(a) - 1, -1, -1):
            for j in range(len(b) - 1, -1, -1):
                t[i][j] = t[i + 1][j + 1] + 1 if a[i] == b[j] else max(t[i + 1][j], t[i][j + 1])
        return t[0][0]

    rng = random.Random(7)
    for _ in range(2_000):
        a = [rng.randrange(3) for _ in range(rng.randrange(10))]
        b = [rng.randrange(3) for _ in range(rng.randrange(10))]
        pairs = _myers(a, b, len(a) + len(b))
        assert all(a[x] == b[y] for x, y in pairs)
        assert all(x1 < x2 and y1 < y2 for (x1, y1), (x2, y2) in zip(pairs, pairs[1:]))
        assert len(pairs) == lcs(a, b)
        edits = len(a) + len(b) - 2 * len(pairs)
        if edits:
            assert _myers(a, b, edits - 1) is None  # the budget is respected


def test_alignment_properties_on_random_edits(tmp_path):
    """Random edits of random layer lists: every row of both versions appears exactly once,
    in order; identical versions give no change; only same-op rows are paired."""
    rng = random.Random(11)
    choices = ["relu", "bn", "conv: {out: 8, k: 3, p: 1}", "conv: {out: 8, k: 1}",
               "conv: {out: 4, k: 3, p: 1}", "maxpool: {k: 1}"]
    for _ in range(60):
        items = [rng.choice(choices) for _ in range(rng.randrange(1, 9))]
        edited = list(items)
        for _ in range(rng.randrange(4)):
            op = rng.randrange(3)
            if op == 0 or not edited:
                edited.insert(rng.randrange(len(edited) + 1), rng.choice(choices))
            elif op == 1 and len(edited) > 1:
                del edited[rng.randrange(len(edited))]
            else:
                edited[rng.randrange(len(edited))] = rng.choice(choices)

        def net(seq):
            return walk(load_text("input: [8, 8, 8]\nlayers:\n"
                                  + "".join(f"  - {s}\n" for s in seq), tmp_path))

        a, b = net(items), net(edited)
        assert diff_reports(a, a).changes == ()
        pairs = diff_module.align([diff_module._Layer(r) for r in a.rows],
                                  [diff_module._Layer(r) for r in b.rows])
        assert [x.row.index for x, _ in pairs if x] == list(range(len(a.rows)))
        assert [y.row.index for _, y in pairs if y] == list(range(len(b.rows)))
        assert all(x.op == y.op for x, y in pairs if x and y)


def test_standard_input_is_read_once(capsys, monkeypatch):
    # `diff - -` read stdin twice: the second read was empty ("<stdin>:1:1: error: empty file")
    assert cli(capsys, monkeypatch, "diff", "-", "-") == (
        2, "", "error: standard input ('-') can be read once (hint: give '-' once)\n")
