"""The HTML report's size and render time (issue 11): for each network, the page's bytes, the
time `convcalc net --format html` takes to write it, and in headless Chromium (Playwright,
the system browser) the time from navigation until the page's script has drawn the graph
(`html[data-ready]`) and the time "expand all" takes to lay out and draw every layer.
Medians of --repeat runs. Not a test: it prints a table and exits 0.

    python bench/bench_html.py [--repeat 5] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIG = """\
name: residual-10k
input: [8, 16, 16]
blocks:
  res:
    layers:
      - residual:
          body:
            - conv: {out: 8, k: 3, p: 1}
            - relu
            - conv: {out: 8, k: 3, p: 1}
      - relu
layers:
  - res:
    times: 2000
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    (tmp / "big.yaml").write_text(BIG)
    cases = [("ResNet-50", ["examples/resnet50.yaml"]),
             ("DenseNet-121", ["examples/densenet121.yaml"]),
             ("U-Net 572", ["examples/unet.yaml", "--set", "H=572", "--set", "W=572"]),
             ("10,000 layers", [str(tmp / "big.yaml")])]
    exe = Path(sys.executable).parent / "convcalc"
    print(f"{'network':14} {'layers':>7} {'bytes':>11} {'write s':>8} {'open s':>7} "
          f"{'expand s':>8}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        for name, argv in cases:
            out = tmp / "page.html"
            writes = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                subprocess.run([str(exe), "net", *argv, "--format", "html", "-o", str(out)],
                               check=True, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"})
                writes.append(time.perf_counter() - t)
            opens, expands = [], []
            for _ in range(args.repeat):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t = time.perf_counter()
                page.goto(out.as_uri())
                page.wait_for_selector("html[data-ready]", state="attached")
                opens.append(time.perf_counter() - t)
                t = time.perf_counter()
                page.click("button[data-action=expand]")
                expands.append(time.perf_counter() - t)
                layers = page.eval_on_selector_all("table.layers tbody tr", "e => e.length")
                page.close()
            med = statistics.median
            print(f"{name:14} {layers:>7,} {out.stat().st_size:>11,} {med(writes):>8.2f} "
                  f"{med(opens):>7.2f} {med(expands):>8.2f}")
        browser.close()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
