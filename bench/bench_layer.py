"""convcalc layer: one conv layer, against the CLI stack's floor and the PyTorch route.

    python bench/bench_layer.py [--repeat N]

Columns, all measured in this run:
  floor     python -c 'import typer, rich.table'   (what any typer + rich CLI pays to start)
  numeric   convcalc layer --k 3 --s 2 --p 1 --n 224 --cin 64 --cout 128
  symbolic  the same with --n HxW                    (information: pays sympy's import)
  pytorch   python -c: import torch, build nn.Conv2d(64, 128, 3, 2, 1), run a zero
            [1, 64, 224, 224] tensor, print the output shape and the parameter count
Targets: numeric median <= 0.1 s, <= 1.5x the floor, >= 10x faster than the PyTorch route.
"""

from __future__ import annotations

from _bench import FLOOR, PYTHON, Case, convcalc, fmt_s, has_module, header, measure, \
    parse_args, table, targets

LAYER = ["layer", "--k", "3", "--s", "2", "--p", "1", "--cin", "64", "--cout", "128"]
TORCH_LAYER = (
    "import torch\n"
    "from torch import nn\n"
    "m = nn.Conv2d(64, 128, 3, 2, 1)\n"
    "with torch.inference_mode():\n"
    "    y = m(torch.zeros(1, 64, 224, 224))\n"
    "print(tuple(y.shape), sum(p.numel() for p in m.parameters()))\n"
)


def main() -> None:
    args = parse_args(__doc__)
    cc = convcalc()
    floor = Case("floor: import typer, rich.table", FLOOR)
    numeric = Case("convcalc layer --n 224", [*cc, *LAYER, "--n", "224"])
    symbolic = Case("convcalc layer --n HxW (symbolic)", [*cc, *LAYER, "--n", "HxW"])
    cases = [floor, numeric, symbolic]
    torch = None
    if has_module("torch"):
        torch = Case("pytorch: nn.Conv2d on zeros", [PYTHON, "-c", TORCH_LAYER])
        cases.append(torch)

    header("bench_layer: one conv layer (64->128, k3 s2 p1, 224x224)", args.repeat)
    measure(cases, args.repeat)

    rows = []
    for c in cases:
        rows.append([c.label, fmt_s(c.median), fmt_s(c.best), fmt_s(c.cpu_median),
                     f"{c.median / floor.median:.2f}x",
                     f"{c.median / numeric.median:.2f}x"])
    if torch is None:
        rows.append(["pytorch: nn.Conv2d on zeros", "—", "—", "—", "—", "skipped"])
        print("pytorch: torch not importable; column skipped")
    table(["command", "median", "min", "cpu", "vs floor", "vs numeric"], rows)

    results = [
        ("numeric median <= 0.1 s", numeric.median <= 0.1, fmt_s(numeric.median)),
        ("numeric <= 1.5x floor", numeric.median <= 1.5 * floor.median,
         f"{numeric.median / floor.median:.2f}x"),
    ]
    if torch is not None:
        speedup = torch.median / numeric.median
        results.append(("numeric >= 10x faster than pytorch", speedup >= 10,
                        f"{speedup:.1f}x faster"))
    else:
        results.append(("numeric >= 10x faster than pytorch", None, "torch not installed"))
    targets(results)


if __name__ == "__main__":
    main()
