"""Time ONNX import beyond onnx.load: python bench/onnx_import.py FILE.onnx [...]

Prints, per file, its size (with external data), onnx.load(load_external_data=False), and
the rest of convcalc's import (shape inference when needed, mapping, YAML, the walk that
checks every row against the file), best of 3."""

import os
import sys
import time

import onnx

from convcalc.importers import onnx as onnx_import

for path in sys.argv[1:]:
    size = os.path.getsize(path) + (os.path.getsize(path + ".data")
                                    if os.path.exists(path + ".data") else 0)
    loads, totals = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        onnx.load(path, load_external_data=False)
        t1 = time.perf_counter()
        onnx_import.read(path)
        t2 = time.perf_counter()
        loads.append(t1 - t0)
        totals.append(t2 - t1)
    load = min(loads)
    print(f"{path}: {size / 1e6:.0f} MB, onnx.load {load:.3f} s, import {min(totals):.3f} s "
          f"(beyond the load: {min(totals) - load:.3f} s)")
