"""convcalc net --training: what the memory and training analyses cost next to plain `net`.

    python bench/bench_memory.py [--repeat N] [--sizes 1000,10000,100000] [--baseline DIR]

Measured in this run, each network with --format json, output discarded:
  net       convcalc net FILE --format json              (shapes, costs, live bytes, peak)
  training  convcalc net FILE --format json --training   (+ train MACs, saved activations,
                                                           train memory)
on examples/resnet50.yaml and on generated networks of 1k, 10k and 100k leaf layers (the
generator of bench_net.py). `--baseline DIR`: a source tree of another convcalc (e.g. main
before memory.py: `git archive main | tar -x -C DIR`) timed as a third column with the same
command, `python -m convcalc net FILE --format json` with PYTHONPATH=DIR.
Targets: training <= 1.3x net on every network; the marginal cost per layer of --training
flat (last <= 1.5x first).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from _bench import EXAMPLES, PYTHON, Case, cleanup, convcalc, fmt_s, header, measure, \
    parse_args, table, targets, tempdir
import _bench
from bench_net import big_network_yaml


def main() -> None:
    def extra(p):
        p.add_argument("--sizes", default="1000,10000,100000",
                       help="leaf-layer counts of the generated networks ('' skips them)")
        p.add_argument("--baseline", default=None,
                       help="a convcalc source tree to time as a baseline column")

    args = parse_args(__doc__, extra=extra)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    cc = convcalc()
    tmp = tempdir("convcalc-bench-memory-")
    try:
        nets = [("resnet50", EXAMPLES / "resnet50.yaml")]
        for size in sizes:
            path = tmp / f"net{size}.yaml"
            path.write_text(big_network_yaml(size))
            nets.append((f"{size:,} layers", path))
        header("bench_memory: convcalc net --training against plain net", args.repeat)
        rows, results, marginals, previous = [], [], [], None
        for label, path in nets:
            n_layers = None if label == "resnet50" else int(label.split()[0].replace(",", ""))
            runs = args.repeat if (n_layers or 0) <= 10_000 else max(3, args.repeat // 4)
            plain = Case("net", [*cc, "net", str(path), "--format", "json"])
            train = Case("training", [*cc, "net", str(path), "--format", "json",
                                      "--training"])
            cases = [plain, train]
            base = None
            if args.baseline:
                base = Case("baseline", [PYTHON, "-m", "convcalc", "net", str(path),
                                         "--format", "json"])
                cases.append(base)
            print(f"  measuring {label}, {runs} runs ...", file=sys.stderr)
            if base is not None:
                env = dict(_bench.child_env() or os.environ)
                env["PYTHONPATH"] = str(Path(args.baseline).resolve())
                _with_env(base, env)
            measure(cases, runs)
            ratio = train.median / plain.median
            rows.append([label, str(runs), fmt_s(plain.median), fmt_s(train.median),
                         f"{ratio:.2f}x", fmt_s(base.median) if base else "—",
                         f"{plain.median / base.median:.2f}x" if base else "—"])
            results.append((f"{label}: training <= 1.3x net", ratio <= 1.3, f"{ratio:.2f}x"))
            if n_layers is not None:
                if previous is not None:
                    marginals.append((train.median - previous[1]) / (n_layers - previous[0]))
                previous = (n_layers, train.median)
        table(["network", "runs", "net", "net --training", "training / net", "baseline net",
               "net / baseline"], rows)
        if len(marginals) >= 2:
            grow = marginals[-1] / marginals[0]
            results.append(("--training marginal cost per layer flat (last <= 1.5x first)",
                            grow <= 1.5, f"{fmt_s(marginals[-1])} vs {fmt_s(marginals[0])} = "
                                         f"{grow:.2f}x"))
        targets(results)
    finally:
        cleanup(tmp)


def _with_env(case: Case, env: dict) -> None:
    """Run ``case`` with ``env`` (the baseline's PYTHONPATH)."""
    case.argv = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *case.argv]


if __name__ == "__main__":
    main()
