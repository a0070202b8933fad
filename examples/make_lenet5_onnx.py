"""Writes examples/lenet5.onnx: examples/lenet5.yaml as a PyTorch module with LeCun et al.'s
layer names (C1, S2, C3, S4, C5, F6, output), exported by PyTorch's legacy exporter (opset 17), its initializers stripped to their dims (a few kB instead of
240 kB; such a file fails onnx.checker, and convcalc reads it all the same: it needs the
weights' shapes, never their values). Run from the repository root:

    pip install torch==2.13.0 onnx && python examples/make_lenet5_onnx.py
"""

from collections import OrderedDict

import onnx
import torch
from torch import nn

model = nn.Sequential(OrderedDict([
    ("c1", nn.Conv2d(1, 6, 5)), ("act1", nn.Tanh()), ("s2", nn.AvgPool2d(2)),
    ("c3", nn.Conv2d(6, 16, 5)), ("act3", nn.Tanh()), ("s4", nn.AvgPool2d(2)),
    ("c5", nn.Conv2d(16, 120, 5)), ("act5", nn.Tanh()), ("flatten", nn.Flatten()),
    ("f6", nn.Linear(120, 84)), ("act6", nn.Tanh()), ("output", nn.Linear(84, 10)),
])).eval()
torch.onnx.export(model, (torch.zeros(1, 1, 32, 32),), "examples/lenet5.onnx", dynamo=False,
                  opset_version=17, input_names=["image"], output_names=["logits"])
m = onnx.load("examples/lenet5.onnx")
for t in m.graph.initializer:
    t.ClearField("raw_data")
    for f in ("float_data", "int32_data", "int64_data", "double_data"):
        t.ClearField(f)
m.producer_name, m.producer_version = "pytorch (stripped by make_lenet5_onnx.py)", torch.__version__
onnx.save(m, "examples/lenet5.onnx")
