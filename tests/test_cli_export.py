"""``convcalc export FILE --to torch``: the command, its files and every refusal, exactly.

The code's numbers are checked against PyTorch in ``test_export_torch.py`` (oracle); here:
what the command writes and where, that it needs no torch, and each error's one line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clirun import cli

ROOT = Path(__file__).resolve().parent.parent


def _yaml(tmp_path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_writes_the_file_given_with_o(capsys, monkeypatch, tmp_path):
    out = tmp_path / "lenet.py"
    code, stdout, stderr = cli(capsys, monkeypatch, "export", "examples/lenet5.yaml", "--to",
                               "torch", "-o", str(out))
    assert (code, stdout, stderr) == (0, "", "")
    text = out.read_text()
    tree = ast.parse(text)  # valid Python
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert {"build", "Lenet5"} <= names
    assert "INPUT_SHAPE = (1, 32, 32)" in text
    # without -o the same code goes to standard output
    code, stdout, _ = cli(capsys, monkeypatch, "export", "examples/lenet5.yaml", "--to",
                          "torch")
    assert code == 0 and stdout == text


def test_one_class_per_used_block_with_its_args(capsys, monkeypatch):
    code, stdout, _ = cli(capsys, monkeypatch, "export", "examples/resnet50.yaml", "--to",
                          "torch")
    assert code == 0
    assert "class Bottleneck(nn.Module):" in stdout
    assert "def __init__(self, cin, c):" in stdout
    assert "class BottleneckDown(nn.Module):" in stdout
    assert "def __init__(self, cin, c, s=1):" in stdout
    assert "w = 64  # YAML var 'w'" in stdout


def test_export_imports_no_torch():
    # the exporter writes code for torch; it does not need torch itself
    probe = ("import sys; from convcalc.cli import main; sys.argv = ['convcalc', 'export', "
             "'examples/resnet50.yaml', '--to', 'torch']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


SYMBOLIC_HEAD = """\
    input: [3, H, W]
    layers:
      - conv: {out: 4, k: 3}
      - flatten
      - linear: {out: 10}
"""

ERRORS = {
    "unknown target": (None, ["--to", "onnx"],
                       "error: --to: unknown target 'onnx' (hint: targets: torch)"),
    "symbolic flatten before linear": (
        SYMBOLIC_HEAD, ["--to", "torch"],
        "{file}:4:5: error: export: flatten: the flattened size 4*(H - 2)*(W - 2) depends on "
        "the input size, and a layer after it needs the number (hint: bind the input's "
        "symbols: convcalc export FILE --to torch --set H=224)"),
    "flatten of different sizes in one block": (
        """\
        input: [3, 8, 8]
        blocks:
          head:
            layers:
              - flatten
              - linear: {out: 2}
        layers:
          - pwconv: {out: 3}
            name: a
          - head: {}
            from: a
          - conv: {out: 3, k: 3}
            from: a
          - head
        """,
        ["--to", "torch"],
        "{file}:5:9: error: export: flatten: the flattened size differs between the places "
        "it runs, and a layer after it needs the number (hint: flatten outside the block, or "
        "call it on one input size)"),
    "deformconv 1-D": (
        """\
        input: [3, 20]
        layers:
          - deformconv: {out: 4, k: 3}
        """, ["--to", "torch"],
        "{file}:3:5: error: export: deformconv: torchvision's DeformConv2d is 2-D only, the "
        "input has 1 spatial axis (hint: export deformconv on 2-D inputs)"),
    "times of a structure as an expression": (
        """\
        input: [3, 8, 8]
        vars: {n: 2}
        layers:
          - residual:
              body: [relu]
            times: n
        """, ["--to", "torch"],
        "{file}:6:12: error: export: 'times' of a residual, parallel or merge must be a number "
        "(the code repeats it) (hint: write the number, or move the structure into a block)"),
    "one layer on two ranks": (
        """\
        input: [3, 8, 8]
        blocks:
          act:
            layers: [relu]
        layers:
          - act
          - gap
          - flatten
          - act
        """, ["--to", "torch"],
        "{file}:4:14: error: export: relu (0) runs on inputs of different ranks (0, 2); one "
        "module class cannot (hint: use the layer in separate blocks per rank)"),
    "padding mode through a block arg": (
        """\
        input: [3, 8, 8]
        blocks:
          pool:
            args: {p: null}
            layers:
              - maxpool: {k: 3, s: 1, p: p}
        layers:
          - pool: {p: [[0, 1], [1, 0]]}
          - pool: {p: [[1, 0], [0, 1]]}
        """, ["--to", "torch"],
        "{file}:6:9: error: export: maxpool: its padding differs between the places it runs, "
        "and the exported code needs it as numbers here (hint: write 'p' in the layer as "
        "numbers, or as an expression of the block's args)"),
    "asymmetric ceil pooling": (
        """\
        input: [3, 8, 8]
        layers:
          - maxpool: {k: 3, s: 2, p: [[0, 1], [1, 0]], ceil: true}
        """, ["--to", "torch"],
        "{file}:3:5: error: export: maxpool: [lo, hi] padding with ceil_mode has no PyTorch "
        "module form (PyTorch's pools pad both sides alike, and ceil_mode's last window "
        "depends on the right padding) (hint: pad both sides alike, or drop ceil)"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_are_one_located_line(case, capsys, monkeypatch, tmp_path):
    text, options, message = ERRORS[case]
    file = "examples/lenet5.yaml" if text is None else _yaml(tmp_path, text)
    code, stdout, stderr = cli(capsys, monkeypatch, "export", file, *options)
    assert (code, stdout) == (2, "")
    assert stderr == message.format(file=file) + "\n"


def test_set_binds_the_flattened_size(capsys, monkeypatch, tmp_path):
    file = _yaml(tmp_path, SYMBOLIC_HEAD)
    code, stdout, _ = cli(capsys, monkeypatch, "export", file, "--to", "torch", "--set", "H=8",
                          "--set", "W=10")
    assert code == 0
    assert f"nn.Linear({4 * (8 - 2) * (10 - 2)}, 10)" in stdout
    assert "INPUT_SHAPE = (3, 8, 10)" in stdout


def test_cannot_write(capsys, monkeypatch, tmp_path):
    target = tmp_path / "no-such-dir" / "x.py"
    code, stdout, stderr = cli(capsys, monkeypatch, "export", "examples/lenet5.yaml", "--to",
                               "torch", "-o", str(target))
    assert (code, stdout) == (2, "")
    assert stderr.startswith(f"{target}: error: cannot write: ")


def test_export_is_deterministic_and_flake_free():
    """The same YAML gives the same file, and pyflakes finds nothing in it (no unused import,
    no undefined name) — for every example and every small network of the op catalog."""
    import io

    from pyflakes.api import check
    from pyflakes.reporter import Reporter

    from convcalc.exporters.torch import export_torch
    from convcalc.spec import load, parse
    from convcalc.walk import walk
    from export_cases import CASES

    nets = [load(str(p)) for p in sorted((ROOT / "examples").glob("*.yaml"))]
    nets += [parse(text, f"{name}.yaml") for name, text in sorted(CASES.items())]
    for net in nets:
        code = export_torch(net, walk(net)).code
        assert export_torch(net, walk(net)).code == code
        warnings = io.StringIO()
        assert check(code, net.file, Reporter(warnings, warnings)) == 0, warnings.getvalue()
