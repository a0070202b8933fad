"""convcalc net: ResNet-50 against the PyTorch route, and the cost per layer as networks grow.

    python bench/bench_net.py [--repeat N] [--sizes 1000,10000,100000]

Part 1, all measured in this run:
  floor     python -c 'import typer, rich.table'
  convcalc  convcalc net examples/resnet50.yaml      (a generated ResNet-50 YAML when the
            example does not exist yet)
  pytorch   a script that imports torch and torchinfo, builds ResNet-50 (v1.5 Bottleneck,
            written here in plain torch.nn: torchvision is not assumed) and calls
            torchinfo.summary(model, input_size=(1, 3, 224, 224))
Part 2: generated networks of 1k, 10k and 100k leaf layers (convcalc's limit is 100,000): a
top-level list written out item by item, cycling through a block of varied ops with a nested
residual block, the residual block repeated with times:, and plain conv/bn/relu items. Timed:
`convcalc net FILE --format json` with output discarded; the time per layer should stay flat.
Targets: resnet50 <= 0.3 s and >= 10x faster than the PyTorch route; 100k layers <= 5 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _bench import EXAMPLES, FLOOR, PYTHON, Case, child_env, cleanup, convcalc, fmt_s, \
    has_module, header, measure, parse_args, table, targets, tempdir

# ResNet-50 v1.5 (stride in the 3x3) in the YAML format of SPEC §2; used only when
# examples/resnet50.yaml is missing. torchvision: 25,557,032 params, 4,089,184,256 MACs.
RESNET50_YAML = """\
name: resnet50
input: [3, 224, 224]
blocks:
  bottleneck:
    args: {c: null}
    layers:
      - residual:
          body:
            - conv: {out: c, k: 1, bias: false}
            - bn
            - relu
            - conv: {out: c, k: 3, p: 1, bias: false}
            - bn
            - relu
            - conv: {out: c*4, k: 1, bias: false}
            - bn
      - relu
  bottleneck_down:
    args: {c: null, s: 1}
    layers:
      - residual:
          body:
            - conv: {out: c, k: 1, bias: false}
            - bn
            - relu
            - conv: {out: c, k: 3, s: s, p: 1, bias: false}
            - bn
            - relu
            - conv: {out: c*4, k: 1, bias: false}
            - bn
          shortcut:
            - conv: {out: c*4, k: 1, s: s, bias: false}
            - bn
      - relu
layers:
  - conv: {out: 64, k: 7, s: 2, p: 3, bias: false}
  - bn
  - relu
  - maxpool: {k: 3, s: 2, p: 1}
  - bottleneck_down: {c: 64}
  - bottleneck: {c: 64}
    times: 2
  - bottleneck_down: {c: 128, s: 2}
  - bottleneck: {c: 128}
    times: 3
  - bottleneck_down: {c: 256, s: 2}
  - bottleneck: {c: 256}
    times: 5
  - bottleneck_down: {c: 512, s: 2}
  - bottleneck: {c: 512}
    times: 2
  - gap
  - flatten
  - linear: {out: 1000}
expect:
  output: [1000]
  params: 25557032
  macs: 4089184256
"""

# The PyTorch route a user would take: build the model, ask torchinfo. Import included.
TORCH_RESNET50 = """\
import torch
from torch import nn
from torchinfo import summary


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, c, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride, 1, bias=False)  # v1.5: stride in the 3x3
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != c * 4:
            self.downsample = nn.Sequential(nn.Conv2d(cin, c * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(c * 4))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for c, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stage = []
            for i in range(blocks):
                stage.append(Bottleneck(cin, c, stride if i == 0 else 1))
                cin = c * 4
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


stats = summary(ResNet50(), input_size=(1, 3, 224, 224))
print(stats.total_params, stats.total_mult_adds)
"""


def big_network_yaml(target_layers: int) -> str:
    """Exactly ``target_layers`` leaf layers (for targets of 43 or more). The top-level list is
    written out item by item, so reading the YAML scales with the size, and it cycles through a
    block call (12 varied ops + a nested residual block), the residual block repeated with
    ``times:``, and plain conv/bn/relu items; trailing ``relu`` items make the count exact.
    Few YAML values per layer keep the file inside convcalc's document budget. Stride 1 and
    ``p: 1`` keep the 16x32x32 shape valid at any depth."""
    header = [
        f"name: generated-{target_layers}",
        "input: [16, 32, 32]",
        "blocks:",
        "  res:                    # 7 rows: conv bn relu conv bn, the add, relu",
        "    args: {c: null}",
        "    layers:",
        "      - residual:",
        "          body:",
        "            - conv: {out: c, k: 3, p: 1, bias: false}",
        "            - bn",
        "            - relu",
        "            - conv: {out: c, k: 3, p: 1, bias: false}",
        "            - bn",
        "      - relu",
        "  stage:                  # 19 rows: 12 ops, then res",
        "    args: {c: null}",
        "    layers:",
        "      - conv: {out: c, k: 3, p: 1, bias: false}",
        "      - bn",
        "      - relu",
        "      - conv: {out: c*2, k: 1}",
        "      - relu6",
        "      - dwconv: {k: 3, p: 1}",
        "      - bn",
        "      - conv: {out: c, k: [3, 1], p: [1, 0]}",
        "      - maxpool: {k: 3, s: 1, p: 1}",
        "      - gelu",
        "      - avgpool: {k: 3, s: 1, p: 1}",
        "      - identity",
        "      - res: {c: c}",
        "layers:",
    ]
    cycle = [  # 19 + 21 + 3 = 43 rows
        "  - stage: {c: 16}",
        "  - res: {c: 16}",
        "    times: 3",
        "  - conv: {out: 16, k: 3, p: 1}",
        "  - bn",
        "  - relu",
    ]
    cycles, rest = divmod(target_layers, 43)
    lines = header + cycle * cycles + ["  - relu"] * rest
    return "\n".join(lines) + "\n"


def net_json(cc: list[str], path: Path) -> dict:
    proc = subprocess.run([*cc, "net", str(path), "--format", "json"], capture_output=True,
                          text=True, env=child_env())
    if proc.returncode != 0:
        sys.exit(f"convcalc net {path} failed (exit {proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)


def part1(cc: list[str], tmp: Path, repeat: int) -> tuple[Case, list]:
    """ResNet-50: convcalc against the PyTorch route. Returns the floor and the targets."""
    resnet, source = EXAMPLES / "resnet50.yaml", "examples/resnet50.yaml"
    if not resnet.exists():
        resnet, source = tmp / "resnet50.yaml", "a generated ResNet-50 (no examples/resnet50.yaml)"
        resnet.write_text(RESNET50_YAML)
    report = net_json(cc, resnet)
    totals = report["totals"]

    header("bench_net part 1: ResNet-50, convcalc vs torch + torchinfo", repeat)
    print(f"convcalc:  {source}: {len(report['layers'])} layers, params {totals['params']:,}, "
          f"MACs {totals['macs']:,}")
    floor = Case("floor: import typer, rich.table", FLOOR)
    table_case = Case("convcalc net resnet50.yaml", [*cc, "net", str(resnet)])
    json_case = Case("convcalc net resnet50.yaml --format json",
                     [*cc, "net", str(resnet), "--format", "json"])
    cases = [floor, table_case, json_case]
    torch = None
    if has_module("torch", "torchinfo"):
        script = tmp / "torch_resnet50.py"
        script.write_text(TORCH_RESNET50)
        torch = Case("pytorch: build + torchinfo.summary", [PYTHON, str(script)])
        cases.append(torch)
        # once, untimed: the same network on both sides
        out = subprocess.run(torch.argv, capture_output=True, text=True, env=child_env())
        last = (out.stdout.strip().splitlines() or ["? ?"])[-1].split()
        if out.returncode == 0 and len(last) == 2 and last[0].isdigit():
            print(f"torchinfo: params {int(last[0]):,}, mult-adds {int(last[1]):,}")
        else:
            print("torchinfo: the PyTorch script failed; its column is skipped")
            print(out.stderr[-1500:])
            cases.remove(torch)
            torch = None
    else:
        print("torchinfo: torch or torchinfo (with numpy) not importable; column skipped")
    print()
    measure(cases, repeat)
    rows = [[c.label, fmt_s(c.median), fmt_s(c.best), fmt_s(c.cpu_median),
             f"{c.median / floor.median:.2f}x", f"{c.median / table_case.median:.2f}x"]
            for c in cases]
    if torch is None:
        rows.append(["pytorch: build + torchinfo.summary", "—", "—", "—", "—", "skipped"])
    table(["command", "median", "min", "cpu", "vs floor", "vs convcalc net"], rows)

    results = [("resnet50 median <= 0.3 s", table_case.median <= 0.3,
                fmt_s(table_case.median))]
    if torch is not None:
        speedup = torch.median / table_case.median
        results.append(("resnet50 >= 10x faster than pytorch", speedup >= 10,
                        f"{speedup:.1f}x faster"))
    else:
        results.append(("resnet50 >= 10x faster than pytorch", None, "torch route skipped"))
    return floor, results


def part2(cc: list[str], tmp: Path, repeat: int, sizes: list[int]) -> list:
    """Generated networks: time per layer, and the marginal time per added layer."""
    print()
    print("bench_net part 2: generated networks, convcalc net FILE --format json > /dev/null")
    measured = []
    for size in sizes:
        path = tmp / f"net{size}.yaml"
        path.write_text(big_network_yaml(size))
        n_layers = len(net_json(cc, path)["layers"])
        # fewer runs for the big ones: their run-to-run noise is small next to seconds
        runs = repeat if size <= 10_000 else max(3, repeat // 4)
        print(f"  measuring {n_layers:,} layers, {runs} runs ...", file=sys.stderr)
        case = Case(f"{n_layers:,} layers", [*cc, "net", str(path), "--format", "json"])
        measure([case], runs)
        measured.append((n_layers, path, runs, case))
    rows, marginals = [], []
    previous = None
    for n_layers, path, runs, case in measured:
        marginal = "—"
        if previous is not None and n_layers > previous[0]:
            m = (case.median - previous[1].median) / (n_layers - previous[0])
            marginals.append(m)
            marginal = fmt_s(m)
        rows.append([case.label, path_size(path), str(runs), fmt_s(case.median),
                     fmt_s(case.best), fmt_s(case.cpu_median),
                     fmt_s(case.median / n_layers), marginal])
        previous = (n_layers, case)
    table(["network", "yaml", "runs", "median", "min", "cpu", "per layer",
           "marginal per layer"], rows)
    print("(marginal per layer: the median's growth from the previous row per added layer; "
          "flat = linear cost)")

    results = []
    for n_layers, _, _, case in measured:
        if n_layers == 100_000:
            results.append(("100,000-layer network <= 5 s", case.median <= 5,
                            fmt_s(case.median)))
    if len(marginals) >= 2:
        grow = marginals[-1] / marginals[0]
        results.append(("marginal cost per layer flat (last <= 1.5x first)", grow <= 1.5,
                        f"{fmt_s(marginals[-1])} vs {fmt_s(marginals[0])} = {grow:.2f}x"))
    return results


def main() -> None:
    args = parse_args(__doc__, extra=lambda p: p.add_argument(
        "--sizes", default="1000,10000,100000",
        help="leaf-layer counts of the generated networks, each >= 43 and <= 100000 "
             "(default 1000,10000,100000; '' skips part 2)"))
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    cc = convcalc()
    tmp = tempdir("convcalc-bench-net-")
    try:
        _, results = part1(cc, tmp, args.repeat)
        if sizes:
            results += part2(cc, tmp, args.repeat, sizes)
        targets(results)
    finally:
        cleanup(tmp)


def path_size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


if __name__ == "__main__":
    main()
