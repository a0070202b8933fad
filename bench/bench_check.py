"""convcalc check: 200 example-sized YAML files in one process, and the marginal cost per file.

    python bench/bench_check.py [--repeat N] [--files 200]

The files are varied copies of examples/*.yaml (each copy renamed, with its expect: section
kept), or, when there are no examples, generated ResNet-style networks of varied depth, width
and input size. Columns, all measured in this run:
  floor     python -c 'import typer, rich.table'
  1 file    convcalc check ONE.yaml             (the median-sized one of the N files)
  N files   convcalc check F1.yaml ... FN.yaml  (one process)
per file = N-file time / N; marginal = (N-file time - 1-file time) / (N - 1): what each further
file costs once the interpreter and the CLI stack are up.
Target: the N-file run <= 2 s.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from _bench import EXAMPLES, FLOOR, Case, child_env, cleanup, convcalc, fmt_s, header, \
    measure, parse_args, table, targets, tempdir

_NAME_LINE = re.compile(r"^name:[ \t]*(.*?)[ \t]*$", re.M)


def example_copies(out: Path, count: int) -> tuple[list[Path], str]:
    sources = sorted(EXAMPLES.glob("*.yaml"))
    files = []
    for i in range(count):
        src = sources[i % len(sources)]
        text = src.read_text(encoding="utf-8")
        tag = f"{src.stem}-copy{i:03d}"
        if _NAME_LINE.search(text):
            text = _NAME_LINE.sub(f"name: {tag}", text, count=1)
        else:
            text = f"name: {tag}\n" + text
        dst = out / f"{tag}.yaml"
        dst.write_text(f"# bench_check copy {i} of examples/{src.name}\n{text}", encoding="utf-8")
        files.append(dst)
    return files, f"copies of {len(sources)} examples/*.yaml"


def resnet_yaml(i: int) -> str:
    """A ResNet-style network (basic blocks), varied by i: depth, width, input, classes."""
    depths = [(2, 2, 2, 2), (3, 4, 6, 3), (1, 1, 1, 1), (2, 3, 4, 2)][i % 4]
    width = (16, 32, 64)[i % 3]
    size = (224, 192, 160, 128, 96)[i % 5]
    classes = (10, 100, 1000)[i % 3]
    lines = [
        f"name: resnetish-{i:03d}",
        f"input: [3, {size}, {size}]",
        f"vars: {{w: {width}}}",
        "blocks:",
        "  basic:",
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
        "  down:",
        "    args: {c: null}",
        "    layers:",
        "      - residual:",
        "          body:",
        "            - conv: {out: c, k: 3, s: 2, p: 1, bias: false}",
        "            - bn",
        "            - relu",
        "            - conv: {out: c, k: 3, p: 1, bias: false}",
        "            - bn",
        "          shortcut:",
        "            - conv: {out: c, k: 1, s: 2, bias: false}",
        "            - bn",
        "      - relu",
        "layers:",
        "  - conv: {out: w, k: 7, s: 2, p: 3, bias: false}",
        "  - bn",
        "  - relu",
        "  - maxpool: {k: 3, s: 2, p: 1}",
    ]
    for stage, n in enumerate(depths):
        c = f"w*{2 ** stage}"
        first = "basic" if stage == 0 else "down"
        lines.append(f"  - {first}: {{c: {c}}}")
        if n > 1:
            lines += [f"  - basic: {{c: {c}}}", f"    times: {n - 1}"]
    lines += ["  - gap", "  - flatten", f"  - linear: {{out: {classes}}}",
              "expect:", f"  output: [{classes}]", "  params: {max: 100M}"]
    return "\n".join(lines) + "\n"


def generated(out: Path, count: int) -> tuple[list[Path], str]:
    files = []
    for i in range(count):
        path = out / f"resnetish-{i:03d}.yaml"
        path.write_text(resnet_yaml(i), encoding="utf-8")
        files.append(path)
    return files, "generated ResNet-style networks (examples/*.yaml not found)"


def main() -> None:
    args = parse_args(__doc__, default_repeat=15, extra=lambda p: p.add_argument(
        "--files", type=int, default=200, help="number of YAML files (default 200)"))
    cc = convcalc()
    tmp = tempdir("convcalc-bench-check-")
    try:
        make = example_copies if list(EXAMPLES.glob("*.yaml")) else generated
        files, source = make(tmp, args.files)
        single = sorted(files, key=lambda f: f.stat().st_size)[len(files) // 2]  # median size

        # one untimed run: the files must check cleanly, or the timing means nothing
        proc = subprocess.run([*cc, "check", *map(str, files)], capture_output=True, text=True,
                              env=child_env())
        summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        if proc.returncode not in (0, 1):
            sys.exit(f"convcalc check failed on the generated files (exit {proc.returncode}):\n"
                     f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

        header(f"bench_check: convcalc check over {len(files)} YAML files in one process",
               args.repeat)
        total_kb = sum(f.stat().st_size for f in files) / 1e3
        print(f"files: {source}, {total_kb:.0f} kB in all; convcalc says: {summary!r}")
        print(f"single file: {single.name} ({single.stat().st_size / 1e3:.1f} kB)")
        print()
        floor = Case("floor: import typer, rich.table", FLOOR)
        one = Case("convcalc check (1 file)", [*cc, "check", str(single)], ok_codes=(0, 1))
        many = Case(f"convcalc check ({len(files)} files)", [*cc, "check", *map(str, files)],
                    ok_codes=(0, 1))
        measure([floor, one, many], args.repeat)
        rows = [[c.label, fmt_s(c.median), fmt_s(c.best), fmt_s(c.cpu_median),
                 f"{c.median / floor.median:.2f}x"] for c in (floor, one, many)]
        table(["command", "median", "min", "cpu", "vs floor"], rows)

        n = len(files)
        per_file = many.median / n
        marginal = (many.median - one.median) / (n - 1) if n > 1 else float("nan")
        print()
        print(f"per file (N-file median / {n}):               {fmt_s(per_file)}")
        print(f"marginal per further file ((N - 1) / {n - 1}):  {fmt_s(marginal)}")
        print(f"start-up share of the 1-file run (floor / 1 file): "
              f"{floor.median / one.median:.0%}")
        if n == 200:
            targets([("200 files <= 2 s", many.median <= 2, fmt_s(many.median))])
        else:
            targets([("200 files <= 2 s", None, f"not measured: ran {n} files")])
    finally:
        cleanup(tmp)


if __name__ == "__main__":
    main()
