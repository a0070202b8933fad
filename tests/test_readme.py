"""Every convcalc command in README.md runs, and the result its comment states is true.

The commands are read from the README's code blocks: ```sh lines, ```console lines after
``$ ``, and the ``run:`` lines of the GitHub Actions snippet (```yaml). Each is run as a user
runs it (``python -m convcalc …`` from the repository root) and must exit as documented. Each
has an entry in ``TABLE`` below that checks what its comment claims with arithmetic written
here, independently of convcalc (PyTorch's output-size formulas, the conv parameter rule), on
the command's ``--format json`` output where it has one.

The table and the README must agree both ways: a command added to the README without an entry
here fails (``test_every_readme_command_has_a_check``), and so does an entry whose command is
no longer in the README. So a README example cannot drift from what convcalc does.

Mapped commands: the GitHub Actions step checks ``models/*.yaml`` of the user's project; here it
runs on ``examples/*.yaml`` instead (the glob expanded by the test, as a shell would).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.yaml"))
# a command's glob → what it runs on here
GLOBS = {"models/*.yaml": EXAMPLES}


# -- reading the README ---------------------------------------------------------------------

@dataclass
class Command:
    text: str  # the command as written, whitespace collapsed
    comment: str  # what the README says about it ("" if nothing)
    shown: list[str] = field(default_factory=list)  # output lines a ```console block shows


_FENCE = re.compile(r"^```\s*(\w*)\s*$")
_YAML_RUN = re.compile(r"^(?:-\s+)?(?:run:\s*)?(.*)$")


def _split(line: str) -> tuple[str, str]:
    """``cmd   # comment`` → (cmd, comment); a ``#`` after whitespace starts the comment."""
    match = re.search(r"(?:^|\s)#\s?(.*)$", line)
    if not match:
        return line.strip(), ""
    return line[:match.start()].strip(), match.group(1).strip()


def _convcalc_parts(command: str) -> list[str]:
    """The convcalc commands in a shell line (``pip install . && convcalc net …``)."""
    parts = [p.strip() for p in re.split(r"&&|;|\|\|", command)]
    return [" ".join(p.split()) for p in parts
            if re.match(r"(?:python3? -m )?convcalc(?:\s|$)", p)]


# a runnable command written inline in the prose (`convcalc ops --conventions`); spans with
# placeholders (FILE, OLD NEW, [options]) name a command's form, not a command to run
_INLINE = re.compile(r"`((?:python3? -m )?convcalc(?: [^`]*)?)`")
_PLACEHOLDER = re.compile(r"\b(?:FILE|OLD|NEW)\b|\[options\]|\.\.\.|…")


def _after_convcalc(command: str) -> list[str]:
    """The words after ``convcalc``: a bare `convcalc ops` names a subcommand in the prose."""
    words = command.split()
    return words[words.index("convcalc") + 1:]


def readme_commands(text: str) -> list[Command]:
    commands: list[Command] = []
    lang = None
    for line in text.splitlines():
        fence = _FENCE.match(line.strip())
        if fence:
            lang = None if lang is not None else fence.group(1)
            continue
        if lang is None:
            commands += [Command(" ".join(m.split()), "") for m in _INLINE.findall(line)
                         if not _PLACEHOLDER.search(m) and len(_after_convcalc(m)) > 1]
            continue
        stripped = line.strip()
        if lang == "console":
            if stripped.startswith("$ "):
                cmd, comment = _split(stripped[2:])
                commands += [Command(c, comment) for c in _convcalc_parts(cmd)]
            elif commands and line:
                commands[-1].shown.append(line)
        elif lang in ("sh", "bash", "shell"):
            cmd, comment = _split(stripped)
            commands += [Command(c, comment) for c in _convcalc_parts(cmd)]
        elif lang in ("yaml", "yml"):
            cmd, comment = _split(_YAML_RUN.match(stripped).group(1))
            commands += [Command(c, comment) for c in _convcalc_parts(cmd)]
    return commands


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))
BY_TEXT: dict[str, list[Command]] = {}
for _c in COMMANDS:
    BY_TEXT.setdefault(_c.text, []).append(_c)


# -- running ----------------------------------------------------------------------------------

@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        assert self.code in (0, 1), self.err
        return json.loads(self.out)


def argv(command: str) -> list[str]:
    words = shlex.split(command)
    if words[:2] == ["python", "-m"] or words[:2] == ["python3", "-m"]:
        words = words[2:]
    assert words[0] == "convcalc", command
    if ">" in words:  # `> file`: the test reads standard output instead of a file
        i = words.index(">")
        words = words[:i] + words[i + 2:]
    out = []
    for w in words[1:]:
        out += GLOBS.get(w, [w])
    return out


def _run(args: tuple[str, ...]) -> Run:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "CONVCALC_TRACEBACK")}
    env.update(NO_COLOR="1", COLUMNS="200")
    p = subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True,
                       text=True, cwd=ROOT, env=env, timeout=120)
    return Run(p.returncode, p.stdout, p.stderr)


# -- the table: README command → its exit status and an independent check ------------------

@dataclass
class Entry:
    check: Callable  # check(run, data): run is the command as written, data its JSON output
    comment: str = ""  # the README's comment on the command: what `check` verifies
    code: int = 0  # the documented exit status
    json: tuple[str, ...] | None = ("--format", "json")  # how to ask for JSON (None: no JSON)
    needs: str | None = None  # an optional package the command needs (its extra): the check
    # runs with the oracle tests, where CI installs the extras, and is skipped without it


def conv_out(n, k, s=1, p=0, d=1):
    """PyTorch Conv/MaxPool/AvgPool (floor mode): floor((n + 2p - d(k - 1) - 1)/s) + 1."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def deconv_out(n, k, s=1, p=0, op=0, d=1):
    """PyTorch ConvTranspose: (n - 1)s - 2p + d(k - 1) + op + 1."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def conv_params(cin, cout, kernel, g=1, bias=True):
    """Conv weight cout × cin/g × prod(k), plus a bias per output channel."""
    return cout * (cin // g) * math.prod(kernel) + (cout if bias else 0)


def read_back(formula: str, **values) -> int:
    """A printed size formula evaluated with Python's integer arithmetic."""
    assert re.fullmatch(r"[\w\s+\-*/%()]+", formula), formula
    return eval(formula, {"__builtins__": {}}, values)  # noqa: S307 — checked above


def _shown(run: Run, *texts: str) -> None:
    """Each text is on one line of the output (column padding aside)."""
    lines = [" ".join(line.split()) for line in run.out.splitlines()]
    for t in texts:
        want = " ".join(t.split())
        assert any(want in line for line in lines), (t, run.out)


def vgg16_params() -> int:
    """VGG-16 (Simonyan & Zisserman, configuration D): 13 3×3 convs, three FC layers."""
    cfg = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    convs = sum(conv_params(cin, cout, (3, 3)) for cin, cout in zip([3] + cfg, cfg))
    fcs = (512 * 7 * 7) * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    return convs + fcs


def _net_vgg16(run, data):
    assert data["output"] == [1000]
    assert data["totals"]["params"] == vgg16_params() == 138_357_544  # torchvision's count


def _layer_112(run, data):
    n = conv_out(224, 3, s=2, p=1)
    assert n == (224 + 2 * 1 - 3) // 2 + 1 == 112
    assert data["output"][1:] == [n, n]
    _shown(run, f"output    {n}×{n}")


def _layer_params_73856(run, data):
    assert data["output"] == [128, conv_out(56, 3, p=1), conv_out(56, 3, p=1)] == [128, 56, 56]
    assert data["params"] == conv_params(64, 128, (3, 3)) == 3 * 3 * 64 * 128 + 128 == 73_856
    _shown(run, "params         73,856")


def _layer_symbolic(run, data):
    # "(H - 3)//2 + 1 per axis": the printed formulas read back to PyTorch's size, for every H
    h, w = data["output"][1:]
    assert h == "(H - 3)//2 + 1" and w == "(W - 3)//2 + 1"
    for n in range(3, 200):
        assert read_back(h, H=n) == conv_out(n, 3, s=2) and read_back(w, W=n) == conv_out(n, 3, s=2)


def _layer_general(run, data):
    # "general formula in n": no --n, so the size is a formula in n that reads back
    for f in data["output"][1:]:
        for n in range(1, 200):
            assert read_back(f, n=n) == conv_out(n, 3, s=2, p=1)


def _solve_p(run, data):
    # "solve: p = 1": the one padding that keeps 224 at k=3, s=1
    assert [p for p in range(0, 50) if conv_out(224, 3, s=1, p=p) == 224] == [1]
    assert run.out == "p = 1\n"
    # convcalc.solve/2: per axis, the solutions as [first, last] ranges
    assert data["solve"] == "p" and data["solutions"] == [[[1, 1]], [[1, 1]]]


def _solve_op(run, data):
    # "solve: op = 1": output_padding must be smaller than the stride (2) or the dilation (1)
    assert [op for op in range(0, 2) if deconv_out(6, 3, s=2, p=1, op=op) == 12] == [1]
    assert run.out == "op = 1\n"
    assert data["solve"] == "op" and data["solutions"] == [[[1, 1]], [[1, 1]]]


def _dilated(run, data):
    # "dilated (atrous): 3×3": the kernel spans d(k - 1) + 1 = 5 of the 7 inputs
    n = conv_out(7, 3, d=2)
    assert n == 7 - (2 * (3 - 1) + 1) + 1 == 3
    assert data["output"][1:] == [n, n]
    assert data["rf"]["size"] == [5, 5]


def _grouped(run, data):
    # ResNeXt's grouped 3×3: each of the 128 filters sees 128/32 = 4 input channels
    assert data["output"] == [128, 54, 54]
    assert data["params"] == conv_params(128, 128, (3, 3), g=32) == 128 * 4 * 9 + 128
    assert data["macs"] == 128 * 4 * 9 * 54 * 54


def _conv3d(run, data):
    # "3-D (C3D)": three spatial axes, a 3×3×3 kernel
    assert data["output"] == [64, conv_out(16, 3), conv_out(112, 3), conv_out(112, 3)]
    assert data["params"] == conv_params(3, 64, (3, 3, 3)) == 64 * 3 * 27 + 64
    assert data["macs"] == 64 * 3 * 27 * 14 * 110 * 110


def _conv1d(run, data):
    # "1-D: 32×96, params 2,592" (PyTorch Conv1d(16, 32, 5) on length 100)
    assert data["output"] == [32, conv_out(100, 5)] == [32, 100 - 5 + 1]
    assert data["params"] == conv_params(16, 32, (5,)) == 16 * 32 * 5 + 32 == 2_592


def _pwconv(run, data):
    # ShuffleNet's pointwise group conv: 1×1, 3 groups of 80 channels
    assert data["output"] == [240, 28, 28]
    assert data["params"] == conv_params(240, 240, (1, 1), g=3) == 240 * 80 + 240
    assert data["macs"] == 240 * 80 * 28 * 28


def _dwconv(run, data):
    # depthwise, multiplier 2: groups = cin = 32, out = 2·32 = 64, one 3×3 filter per output
    assert data["output"] == [64, conv_out(56, 3), conv_out(56, 3)]
    assert data["params"] == conv_params(32, 64, (3, 3), g=32) == 64 * 9 + 64


def _sepconv(run, data):
    # "depthwise-separable: 675 + 9,600 MACs": dw 3×3 on 3 channels, then pw 3 → 128, on 5×5
    out = conv_out(7, 3)
    dw, pw = 3 * 1 * 9 * out * out, 128 * 3 * 1 * out * out
    assert (dw, pw) == (675, 9_600)
    assert [part["macs"] for part in data["parts"]] == [dw, pw]
    assert data["macs"] == dw + pw
    assert data["output"] == [128, out, out]


def _spatial_sepconv(run, data):
    # "3×1 then 1×3: 45 + 27 MACs": 3×1 on 5×5 gives 3×5, then 1×3 gives 3×3 (1 channel)
    first = 1 * 1 * 3 * conv_out(5, 3) * 5
    second = 1 * 1 * 3 * conv_out(5, 3) * conv_out(5, 3)
    assert (first, second) == (45, 27)
    assert [part["macs"] for part in data["parts"]] == [first, second]
    assert data["output"] == [1, 3, 3]


def _flatconv(run, data):
    # Jin et al.: pwconv 64 → 64, then depthwise 3×1 and 1×3 (p = 1 keeps 32)
    assert data["output"] == [64, 32, 32]
    lateral = conv_params(64, 64, (1, 1))
    vertical = horizontal = conv_params(64, 64, (3, 1), g=64)
    assert data["params"] == lateral + vertical + horizontal == 4160 + 256 + 256


def _deconv(run, data):
    # "12×12": PyTorch ConvTranspose2d(16, 16, 3, stride=2, padding=1, output_padding=1) on 6
    n = deconv_out(6, 3, s=2, p=1, op=1)
    assert n == (6 - 1) * 2 - 2 * 1 + (3 - 1) + 1 + 1 == 12
    assert data["output"] == [16, n, n]
    assert data["params"] == conv_params(16, 16, (3, 3))
    assert data["macs"] == 16 * 16 * 9 * 6 * 6  # on the input grid


def _deformconv(run, data):
    # DCN v2: offset+mask predictor 64 → 1·(2+1)·9 = 27 channels, plus the main 3×3 conv
    assert data["output"] == [64, 28, 28]
    assert data["params"] == conv_params(64, 27, (3, 3)) + conv_params(64, 64, (3, 3))


def _maxpool_ceil(run, data):
    # "3 (ceil-mode clip rule)": ceil((5 + 2 - 1 - 1)/2) + 1 = 4 windows, but the last starts at
    # 3·2 = 6 >= 5 + 1, in the right padding: PyTorch drops it
    windows = math.ceil(Fraction(5 + 2 * 1 - (2 - 1) - 1, 2)) + 1
    assert windows == 4 and (windows - 1) * 2 >= 5 + 1
    assert data["output"][1:] == [windows - 1, windows - 1] == [3, 3]


def _avgpool(run, data):
    n = conv_out(56, 3, s=2)
    assert data["output"][1:] == [n, n] == [27, 27]


def _adaptive(run, data):
    # PyTorch's adaptive windows [floor(i·n/o), ceil((i+1)·n/o)); FLOPs = sum of window sizes
    n, o = 13, 7
    sizes = [-(-(i + 1) * n // o) - (i * n // o) for i in range(o)]
    assert data["output"] == [256, o, o]
    assert data["flops"] == 256 * sum(sizes) ** 2


def _upsample(run, data):
    # bilinear ×2: 3 lerps of sub, mul, add per output element, 64·56·56 of them
    assert data["output"] == [64, 56, 56]
    assert data["flops"] == 3 * (2 ** 2 - 1) * 64 * 56 * 56


def _linear(run, data):
    # "6 MACs, 12 FLOPs": in·out = 3·2 multiply-adds; (2·in − 1 + bias)·out = 12 FLOPs
    assert data["output"] == [2]
    assert (data["macs"], data["flops"]) == (3 * 2, (2 * 3 - 1 + 1) * 2) == (6, 12)
    assert data["params"] == 3 * 2 + 2
    _shown(run, "MACs       6", "FLOPs     12")


def _github_budget(run, data):
    # --max-macs 5G: a file fails when its MACs exceed 5·10⁹, or cannot be checked (symbolic)
    over = {f["file"] for f in data["files"]
            if not isinstance(f["totals"]["macs"], int) or f["totals"]["macs"] > 5 * 10**9}
    assert over and {f["file"] for f in data["files"] if f["status"] == "failed"} == over
    annotated = re.findall(r"^::error file=([^,]+),", run.out, re.M)
    assert sorted(annotated) == sorted(over)
    assert run.out.splitlines()[-1] == f"{len(EXAMPLES)} files, {len(over)} failed"


def _check_unet_572(run, data):
    # "passes (150.4 G MACs at 572×572)": the budget holds, and the figure the prose gives is
    # the computed total (U-Net's rows are checked against PyTorch in the oracle tests)
    (f,) = data["files"]
    assert f["status"] == "ok" and f["findings"] == []
    assert f["totals"]["macs"] <= 200 * 10**9
    assert round(f["totals"]["macs"] / 10**9, 1) == 150.4
    assert run.out.splitlines()[-1] == "1 file, all ok"


def _resnet50_training(run, data):
    # torchvision's ResNet-50 (REFERENCE.md): 25,557,032 params, 4,089,184,256 MACs per sample
    params, macs, batch, bf16 = 25_557_032, 4_089_184_256, 32, 2
    t = data["totals"]
    assert t["param_bytes"] == params * bf16 == data["gradient_bytes"]  # 48.7 MiB
    assert round(params * bf16 / 2**20, 1) == 48.7
    assert data["optimizer_bytes"] == 2 * params * bf16  # Adam: two moments
    # forward + weight gradient + input gradient, except conv1's input gradient (it reads the
    # image): conv1 is 64·3·7·7 weights at 112×112
    conv1 = 64 * 3 * 7 * 7 * 112 * 112
    assert t["train_macs"] == batch * (3 * macs - conv1) == 388_785_242_112
    # the peak: layer1's first shortcut BatchNorm runs with the image, the body's output and
    # the shortcut conv's output (256×56×56 each) and its own
    assert t["peak_inference_bytes"] == batch * bf16 * (3 * 224 * 224 + 3 * 256 * 56 * 56)
    assert round(t["peak_inference_bytes"] / 2**20) == 156 and data["peak_layer"] == 13
    # train memory = params + gradients + Adam's state + saved activations (the saved bytes
    # equal PyTorch's saved_tensors_hooks count: tests/test_memory_oracle.py)
    assert t["train_memory_bytes"] == 4 * params * bf16 + t["saved_activation_bytes"]
    assert round(t["saved_activation_bytes"] / 2**30, 2) == 1.30
    assert round(t["train_memory_bytes"] / 2**30, 2) == 1.49


HAVE_TORCH = importlib.util.find_spec("torch") is not None


def _export_lenet5(run, data):
    # the file is Python; LeNet-5's layers by PyTorch's conv rule: 1→6 k5, 6→16 k5, 16→120 k5
    tree = ast.parse(run.out)
    assert {"Lenet5", "build"} <= {n.name for n in tree.body if hasattr(n, "name")}
    assert "INPUT_SHAPE = (1, 32, 32)" in run.out
    for cin, cout in ((1, 6), (6, 16), (16, 120)):
        assert f"nn.Conv2d({cin}, {cout}, 5)" in run.out
    # 32 → 28 → 14 → 10 → 5 → 1: the flattened 120 feeds the first linear
    assert conv_out(conv_out(conv_out(32, 5) // 2, 5) // 2, 5) == 1
    assert "nn.Linear(120, 84)" in run.out


def _export_resnet50(run, data):
    # "a model with torchvision's counts": 25,557,032 parameters (REFERENCE.md, torchvision's
    # model table); built with torch when it is installed
    assert "class Bottleneck(nn.Module):" in run.out and "class BottleneckDown" in run.out
    if not HAVE_TORCH:
        return
    namespace: dict = {}
    exec(compile(run.out, "resnet50.py", "exec"), namespace)  # the exported code
    import torch

    with torch.device("meta"):
        model = namespace["build"]()
    assert sum(p.numel() for p in model.parameters()) == 25_557_032


def _torch_import_lenet5(run, data):
    # LeNet-5 (tests/torch_models.py) as YAML rows: its params by the conv and linear rules
    from convcalc.spec import parse
    from convcalc.walk import walk

    report = walk(parse(run.out, "lenet5.yaml"))
    assert [r.op for r in report.rows if r.op in ("conv", "linear")] == ["conv"] * 3 + \
        ["linear"] * 2
    want = (conv_params(1, 6, (5, 5)) + conv_params(6, 16, (5, 5)) + conv_params(16, 120, (5, 5))
            + 120 * 84 + 84 + 84 * 10 + 10)
    assert report.totals["params"] == want == 61_706


def _ops_conventions(run, data):
    # the full statement: every clause of the conventions, one per line
    from convcalc.core import CONVENTIONS

    lines = run.out.splitlines()
    for clause in CONVENTIONS.split("; "):
        assert f"- {clause}" in lines, clause


# -- the pictures: commands that write a file (-o) are checked on that file, then it is removed

def _written(name: str) -> str:
    path = ROOT / name
    try:
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)


def _page_data(html: str, key: str) -> dict:
    (text,) = re.findall(rf'<script type="application/json" id="data-{key}">(.*?)</script>',
                         html, re.S)
    return json.loads(text)


def _unet_html(run, data):
    # "the U-Net page, its skips nested": four crops, each reading the last layer of the
    # encoder level it names, with that level's shape on the edge (572 shrinks by 4 per double
    # conv and halves per pool: 568, 280, 136, 64); the page ends at 572 - 184 = 388
    html = _written("unet.html")
    assert run.out == "" and html.startswith("<!DOCTYPE html>")
    d = _page_data(html, "net")
    paths = [r[0] for r in d["rows"]]
    sizes, n = [], 572
    for level in range(4):
        n = conv_out(conv_out(n, 3), 3)
        sizes.append(n)
        n = conv_out(n, 2, s=2)
    assert sizes == [568, 280, 136, 64]
    crops = [r for r in d["rows"] if r[1].startswith("crop")]
    assert len(crops) == 4
    for crop, level in zip(crops, (4, 3, 2, 1)):
        (src,) = crop[5]
        assert paths[src] == f"enc{level}.3"  # the relu ending double_conv
        assert d["rows"][src][3] == f"{64 * 2 ** (level - 1)}×{sizes[level - 1]}×{sizes[level - 1]}"
    assert d["output"] == f"2×{572 - 184}×{572 - 184}"
    assert all(f'data-path="{p}"' in html for p in paths)


def _resnet_mermaid(run, data):
    # "16 bottlenecks, each one node": torchvision's ResNet-50 has 3 + 4 + 6 + 3 bottleneck
    # blocks; at --depth 1 each residual is one [[…]] node inside its block's subgraph
    lines = run.out.splitlines()
    assert lines[0] == "flowchart TD"
    boxed = [line for line in lines if re.match(r'\s*n\d+\[\["', line)]
    assert len(boxed) == 3 + 4 + 6 + 3 == 16
    assert all(" · residual<br/>" in line for line in boxed)
    assert sum(line.strip().startswith("subgraph ") for line in lines) == 16
    assert len(run.out) <= 50_000 and run.out.count("-->") <= 500  # GitHub renders it


def _resnet_dot(run, data):
    # "every layer, for Graphviz": a stem of 4 (conv, bn, relu, maxpool), 16 bottlenecks of
    # 8 body layers + add + relu, 4 projection shortcuts of conv + bn, then gap, flatten, fc
    text = _written("resnet50.dot")
    assert run.out == "" and text.startswith("digraph convcalc {")
    nodes = re.findall(r"^\s*n\d+ \[label=", text, re.M)
    assert len(nodes) == 4 + 16 * (8 + 2) + 4 * 2 + 3 == 175


def _diff_html(run, data):
    # "the grouped convs marked": ResNeXt-50 (32×4d) replaces each bottleneck's 3×3 conv by
    # a grouped one (g = 32) — 16 of them — and every one is outlined as changed
    html = _written("diff.html")
    new = _page_data(html, "new")
    grouped = [i for i, r in enumerate(new["rows"]) if "g=32" in r[1]]
    assert len(grouped) == 3 + 4 + 6 + 3
    assert all(new["marks"].get(str(i)) == "changed" for i in grouped)
# LeNet-5 (examples/lenet5.onnx, LeCun et al.'s C1…output), by the conv and linear rules
LENET_PARAMS = (6 * (1 * 5 * 5 + 1) + 16 * (6 * 5 * 5 + 1) + 120 * (16 * 5 * 5 + 1)
                + 84 * (120 + 1) + 10 * (84 + 1))
LENET_MACS = (6 * 1 * 25 * 28 * 28 + 16 * 6 * 25 * 10 * 10 + 120 * 16 * 25 * 1 * 1
              + 120 * 84 + 84 * 10)


def _import_lenet5(run, data):
    # the YAML printed walks to LeNet-5: names from the module, C1…output; the counts
    from convcalc.spec import parse
    from convcalc.walk import walk

    report = walk(parse(run.out, "lenet5.yaml"))
    assert [r.name for r in report.rows] == ["c1", "act1", "s2", "c3", "act3", "s4", "c5",
                                             "act5", "flatten", "f6", "act6", "output"]
    assert report.totals["params"] == LENET_PARAMS and report.totals["macs"] == LENET_MACS
    assert report.output.dims == (10,)


def _net_lenet5_onnx(run, data):
    assert data["totals"]["params"] == LENET_PARAMS == 61706
    assert data["totals"]["macs"] == LENET_MACS == 416520
    assert data["output"] == [10]


def _check_lenet5_budget(run, data):
    (f,) = data["files"]
    assert f["status"] == "failed" and LENET_PARAMS > 60 * 10**3
    assert run.out.splitlines()[-1] == "1 file, 1 failed"


def unet_output(n: int) -> int | None:
    """U-Net (examples/unet.yaml) at n×n by PyTorch's formulas, or None where it does not run:
    valid 3×3 conv n - 2, 2×2 pool floor(n/2), 2×2 stride-2 up-conv (x - 1)*2 + 2 = 2x, and
    each level's concat needs the cropped skip (crops 4, 16, 40, 88 per side) to equal the
    up-conv's output."""
    skips, x = [], n
    for _ in range(4):
        x -= 4  # two valid 3×3 convs
        if x < 2:
            return None
        skips.append(x)
        x //= 2
    x -= 4  # the bottom's two convs
    for skip, crop in zip(reversed(skips), (4, 16, 40, 88)):
        if x < 1 or skip - 2 * crop != 2 * x:
            return None
        x = 2 * x - 4
    return x if x >= 1 else None


def _sizes_unet(run, data):
    # n = 16·m + 124, m ≥ 4: the sizes where the arithmetic above runs, and the printed rule
    assert data["valid"] == [n for n in range(1, 1025) if unet_output(n) is not None]
    assert data["valid"] == [16 * m + 124 for m in range(4, (1024 - 124) // 16 + 1)]
    assert (data["period"], data["min"]) == (16, 16 * 4 + 124)
    _shown(run, "rule n = 16·m + 124, m ≥ 4 (188, 204, 220, …)")


def _sizes_unet_near(run, data):
    # 220 → 2×36×36 below, 236 → 2×52×52 above: the valid sizes either side of 224 and the
    # output the arithmetic gives there (n - 184, the paper's 572 → 388)
    below = max(n for n in range(1, 225) if unet_output(n) is not None)
    above = min(n for n in range(224, 1025) if unet_output(n) is not None)
    assert (below, above) == (220, 236)
    assert data["near"]["below"] == {"n": below, "drops": False,
                                     "output": [2, unet_output(below), unet_output(below)]}
    assert data["near"]["above"]["output"] == [2, unet_output(above), unet_output(above)]
    assert unet_output(220) == 36 and unet_output(236) == 52


def _sizes_unet_padded(run, data):
    # the multiples of 16: padded convs keep the size, and each concat needs 2*(x//2) = x
    # after every one of the four pools
    def ok(n):
        x = n
        for _ in range(4):
            if x < 2 or x % 2:
                return False
            x //= 2
        return True
    assert data["valid"] == [n for n in range(1, 1025) if ok(n)] == list(range(16, 1025, 16))


def _sizes_lenet(run, data):
    # 32 ≤ n ≤ 35: C5 is 5×5 on ((n - 4)//2 - 4)//2; its output must be 1×1 (120 features
    # for F6, built at 32×32)
    c5 = lambda n: ((n - 4) // 2 - 4) // 2 - 4  # noqa: E731
    assert data["valid"] == [n for n in range(1, 1025) if n >= 14 and c5(n) == 1]
    assert data["valid"] == [32, 33, 34, 35] and data["rule"] == "32 ≤ n ≤ 35"


def _sizes_vgg(run, data):
    # every n ≥ 32: 3×3 convs with p = 1 keep the size, five 2×2 pools need n//2**5 ≥ 1, and
    # the adaptive pooling to 7×7 makes the linear layers' input the same at every size
    assert data["valid"] == [n for n in range(1, 65) if n // 2**5 >= 1] == list(range(32, 65))
    assert data["rule"] == "every n ≥ 32"


TABLE: dict[str, Entry] = {  # README command → Entry(check, the comment it checks, ...)
    "convcalc export examples/lenet5.yaml --to torch": Entry(_export_lenet5, json=None),
    "convcalc export examples/resnet50.yaml --to torch > resnet50.py":
        Entry(_export_resnet50, "a model with torchvision's counts", json=None),
    "convcalc import tests.torch_models:lenet5 --input 1x32x32":
        Entry(_torch_import_lenet5, "LeNet-5's modules as YAML rows", json=None,
              needs="torch"),
    # written inline in the prose
    "convcalc check examples/unet.yaml --set H=572 --set W=572 --max-macs 200G":
        Entry(_check_unet_572),
    "convcalc ops --conventions": Entry(_ops_conventions, json=None),
    "convcalc net examples/vgg16.yaml": Entry(_net_vgg16),
    "convcalc net examples/resnet50.yaml --training --batch 32 --dtype bf16":
        Entry(_resnet50_training),
    "convcalc layer --k 3 --s 2 --p 1 --n 224": Entry(_layer_112, "112×112"),
    "convcalc layer --k 3 --p 1 --n 56 --cin 64 --cout 128":
        Entry(_layer_params_73856, "params 73,856"),
    "convcalc layer --k 3 --s 2 --n HxW": Entry(_layer_symbolic, "(H - 3)//2 + 1 per axis"),
    "convcalc layer --k 3 --s 2 --p 1": Entry(_layer_general, "general formula in n"),
    "convcalc layer --k 3 --s 1 --n 224 --out 224": Entry(_solve_p, "solve: p = 1"),
    "convcalc layer -t deconv --k 3 --s 2 --p 1 --n 6 --out 12":
        Entry(_solve_op, "solve: op = 1"),
    "convcalc layer --k 3 --d 2 --n 7": Entry(_dilated, "dilated (atrous): 3×3"),
    "convcalc layer --k 3 --g 32 --n 56 --cin 128 --cout 128":
        Entry(_grouped, "grouped (ResNeXt)"),
    "convcalc layer --k 3x3x3 --n 16x112x112 --cin 3 --cout 64": Entry(_conv3d, "3-D (C3D)"),
    "convcalc layer -t conv1d --k 5 --n 100 --cin 16 --cout 32":
        Entry(_conv1d, "1-D: 32×96, params 2,592"),
    "convcalc layer -t pwconv --g 3 --n 28 --cin 240 --cout 240":
        Entry(_pwconv, "pointwise group conv (ShuffleNet)"),
    "convcalc layer -t dwconv --k 3 --n 56 --cin 32 -a mult=2":
        Entry(_dwconv, "depthwise, depth multiplier 2"),
    "convcalc layer -t sepconv --k 3 --n 7 --cin 3 --cout 128":
        Entry(_sepconv, "depthwise-separable: 675 + 9,600 MACs"),
    "convcalc layer -t spatial_sepconv --k 3 --n 5 --cin 1 --cout 1":
        Entry(_spatial_sepconv, "3×1 then 1×3: 45 + 27 MACs"),
    "convcalc layer -t flatconv --k 3 --p 1 --n 32 --cin 64 --cout 64": Entry(_flatconv),
    "convcalc layer -t deconv --k 3 --s 2 --p 1 --op 1 --n 6 --cin 16 --cout 16":
        Entry(_deconv, "12×12"),
    "convcalc layer -t deformconv --k 3 --p 1 --n 28 --cin 64 --cout 64 -a modulated=true":
        Entry(_deformconv),
    "convcalc layer -t maxpool --k 2 --s 2 --p 1 --ceil --n 5":
        Entry(_maxpool_ceil, "3 (ceil-mode clip rule)"),
    "convcalc layer -t avgpool --k 3 --s 2 --n 56": Entry(_avgpool),
    "convcalc layer -t adaptive_avgpool -a out=7 --n 13 --cin 256": Entry(_adaptive),
    "convcalc layer -t upsample -a scale=2 -a mode=bilinear --n 28 --cin 64": Entry(_upsample),
    "convcalc layer -t linear --cin 3 --cout 2": Entry(_linear, "6 MACs, 12 FLOPs"),
    # the pictures (README "Pictures")
    "convcalc net examples/unet.yaml --set H=572 --set W=572 --format html -o unet.html":
        Entry(_unet_html, "the U-Net page, its skips nested", json=None),
    "convcalc net examples/resnet50.yaml --format mermaid --depth 1":
        Entry(_resnet_mermaid, "16 bottlenecks, each one node", json=None),
    "convcalc net examples/resnet50.yaml --format dot -o resnet50.dot":
        Entry(_resnet_dot, "every layer, for Graphviz", json=None),
    "convcalc diff examples/resnet50.yaml examples/resnext50_32x4d.yaml --format html -o "
    "diff.html": Entry(_diff_html, "the grouped convs marked", json=None),
    "convcalc sizes examples/unet.yaml":
        Entry(_sizes_unet, "n = 16·m + 124, m ≥ 4 (188, 204, 220, …)"),
    "convcalc sizes examples/unet.yaml --near 224":
        Entry(_sizes_unet_near, "220 → 2×36×36 below, 236 → 2×52×52 above"),
    "convcalc sizes examples/unet_padded.yaml": Entry(_sizes_unet_padded, "the multiples of 16"),
    "convcalc sizes examples/lenet5.yaml":
        Entry(_sizes_lenet, "32 ≤ n ≤ 35: flatten, then linear"),
    "convcalc sizes examples/vgg16.yaml --range 1..64": Entry(_sizes_vgg, "every n ≥ 32"),
    # the GitHub Actions step, on examples/*.yaml: some examples are over 5G MACs → exit 1
    "convcalc check --format github --max-macs 5G models/*.yaml": Entry(_github_budget, code=1),
    # Import from ONNX (the onnx extra)
    "convcalc import examples/lenet5.onnx": Entry(_import_lenet5, json=None, needs="onnx"),
    "convcalc net examples/lenet5.onnx": Entry(_net_lenet5_onnx, "61,706 params, 416,520 MACs",
                                               needs="onnx"),
    "convcalc check examples/lenet5.onnx --max-params 60k":
        Entry(_check_lenet5_budget, "over budget: exit 1", code=1, needs="onnx"),
}


def _json_args(command: str, entry: Entry) -> tuple[str, ...]:
    args = argv(command)
    if "--format" in args:  # the JSON request replaces the command's own format
        i = args.index("--format")
        args = args[:i] + args[i + 2:]
    return (*args, *entry.json)


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, ...], Run]:
    """Every README command (and its JSON form) once, a few processes at a time."""
    jobs = {tuple(argv(text)) for text in BY_TEXT}
    jobs |= {_json_args(text, entry) for text, entry in TABLE.items()
             if entry.json is not None and text in BY_TEXT}
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(jobs, pool.map(_run, jobs)))


def _param(text: str):
    entry = TABLE.get(text)
    marks = []
    if entry and entry.needs:
        import importlib.util

        marks += [pytest.mark.oracle, pytest.mark.skipif(
            importlib.util.find_spec(entry.needs) is None,
            reason=f"needs {entry.needs} (pip install '.[{entry.needs}]'; CI's oracle run)")]
    return pytest.param(text, marks=marks, id=text)


# -- the tests ------------------------------------------------------------------------------

def test_the_readme_has_commands():
    assert len(BY_TEXT) >= 20  # the extraction itself works


def test_every_readme_command_has_a_check():
    missing = [text for text in BY_TEXT if text not in TABLE]
    assert not missing, ("README commands with no entry in tests/test_readme.py TABLE "
                         f"(add one that checks what the comment claims): {missing}")


def test_every_check_is_for_a_readme_command():
    stale = [text for text in TABLE if text not in BY_TEXT]
    assert not stale, f"TABLE entries whose command is no longer in README.md: {stale}"


@pytest.mark.parametrize("text", [_param(t) for t in BY_TEXT])
def test_readme_command_runs_and_its_comment_holds(text, runs):
    entry = TABLE.get(text)
    if entry is None:
        pytest.fail(f"no TABLE entry for README command {text!r}")
    said = {c.comment for c in BY_TEXT[text] if c.comment}
    assert said <= {entry.comment}, (f"the README now says {said} about {text!r}; the TABLE "
                                     f"entry checks {entry.comment!r}: update its check")
    run = runs[tuple(argv(text))]
    assert "Traceback" not in run.out + run.err
    assert run.code == entry.code, run.err or run.out
    data = runs[_json_args(text, entry)].json() if entry.json is not None else None
    entry.check(run, data)
    for number in re.findall(r"\d[\d,]*\d|\d", entry.comment):  # and the user sees it
        forms = {number, number.replace(",", "")}
        # not part of a longer number (a comma then a digit is a thousands separator; a
        # comma then a space ends a list item: "16·m + 124, m ≥ 4")
        assert any(re.search(rf"(?<![\d,]){re.escape(f)}(?!\d|,\d)", run.out) for f in forms), \
            (number, run.out)


@pytest.mark.parametrize("text", [_param(c.text) for c in COMMANDS if c.shown])
def test_console_output_shown_in_the_readme_is_real(text, runs):
    """A ```console block's output lines (``...`` elides the rest) appear in the real
    output, in order."""
    (command,) = [c for c in COMMANDS if c.text == text and c.shown]
    actual = [line.rstrip() for line in runs[tuple(argv(text))].out.splitlines()]
    at = 0
    for line in command.shown:
        if line.strip() in ("...", "…"):
            continue
        assert line.rstrip() in actual[at:], (line, actual)
        at = actual.index(line.rstrip(), at) + 1


# -- the pre-commit snippet --------------------------------------------------------------------

def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          timeout=60)


def test_precommit_rev_is_a_commit_with_the_hook():
    """The README's pre-commit ``rev:`` must name something a user can install: convcalc has
    no release tags, so it is a full commit sha present in this repository's history, whose
    ``.pre-commit-hooks.yaml`` defines the hook id the snippet uses."""
    import yaml

    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (config,) = [yaml.safe_load(b) for b in blocks if b.lstrip().startswith("repos:")]
    (repo,) = config["repos"]
    rev = str(repo["rev"])
    hook_ids = [h["id"] for h in repo["hooks"]]
    assert hook_ids == ["convcalc-check"]
    assert re.fullmatch(r"[0-9a-f]{40}", rev), f"rev {rev!r} is not a full commit sha"
    try:
        inside = _git("rev-parse", "--is-inside-work-tree")
    except (FileNotFoundError, subprocess.TimeoutExpired):
        pytest.skip("git is not available: cannot look the pre-commit rev up")
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        pytest.skip("not a git checkout (e.g. an sdist): cannot look the pre-commit rev up")
    if _git("cat-file", "-e", f"{rev}^{{commit}}").returncode != 0:
        if _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
            pytest.skip(f"shallow clone: commit {rev} may be outside the fetched history")
        pytest.fail(f"README pre-commit rev {rev} is not a commit of this repository")
    manifest = _git("show", f"{rev}:.pre-commit-hooks.yaml")
    assert manifest.returncode == 0, f"commit {rev} has no .pre-commit-hooks.yaml"
    hooks = yaml.safe_load(manifest.stdout)
    assert "convcalc-check" in [h["id"] for h in hooks]
    (hook,) = [h for h in hooks if h["id"] == "convcalc-check"]
    assert hook["entry"].split()[:2] == ["convcalc", "check"]


def test_the_readme_python_example_runs_and_its_comments_hold(monkeypatch):
    """The ```python block (the library) runs, and each commented expression prints what its
    comment says (a trailing ``...`` elides the rest of a dict)."""
    monkeypatch.chdir(ROOT)  # its paths are relative to a clone
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    assert blocks
    checked = 0
    for block in blocks:
        namespace: dict = {}
        for line in block.splitlines():
            code, _, comment = line.partition("#")
            code, comment = code.strip(), comment.strip()
            if not code:
                continue
            if comment and "=" not in code.replace("==", ""):
                value = eval(code, namespace)  # the README's own example expressions
                shown = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
                if comment.endswith("...}"):
                    assert shown.startswith(comment[:-len("...}")]), (code, shown)
                else:
                    assert shown == comment, (code, shown)
                checked += 1
            else:
                exec(code, namespace)
    assert checked >= 2
    # the conv line, by arithmetic: 64 → 128, k3 s2 p1 on 224 → 112
    out = (224 + 2 * 1 - 3) // 2 + 1
    assert f"128×{out}×{out}, {128 * 64 * 9 + 128}, {128 * 64 * 9 * out * out}, " \
           f"{(2 * 64 * 9 - 1 + 1) * 128 * out * out}" in README.read_text(encoding="utf-8")
    # VGG-16's inference peak in bf16 is at the first ReLU (row 1): the image, conv1_1's
    # output and the ReLU's, 2 bytes each; the ReLU saves its output (SPEC §8, no in-place)
    peak = 2 * (3 * 224 * 224 + 2 * 64 * 224 * 224)
    assert f"# {peak}, 1\n" in README.read_text(encoding="utf-8")
    assert f"# {peak}, {2 * 64 * 224 * 224}\n" in README.read_text(encoding="utf-8")
