"""Plain-PyTorch models with the patterns the ONNX importer must recognise, beyond the twins of
``tests/torch_models.py``: torchvision-style squeeze-and-excitation (ReLU/Sigmoid and
SiLU/Hardsigmoid), Hardswish and SiLU activations, ShuffleNet v2 units (``chunk`` → Split or
Slice, channel shuffle, concat), a DenseNet block (one concat of 25 tensors), GoogLeNet's input
transform, and the odds and ends (asymmetric zero padding, AvgPool without
``count_include_pad``, MaxPool with ``ceil_mode``, LeakyReLU, ELU, PReLU, InstanceNorm,
ConvTranspose with output_padding, nearest upsampling, Dropout, Softmax, a linear layer
written as ``x @ W + b``). torch.nn only (torchvision is not usable here).

``EXTRA = {name: (builder, input_shape_without_batch)}``.
"""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation: gap, fc1 (1×1 conv), act, fc2, gate, scale."""

    def __init__(self, c, squeeze, act=nn.ReLU, gate=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.activation = act()
        self.scale_activation = gate()

    def forward(self, x):
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


def mobile_blocks():
    """MobileNetV3-like (Hardswish, SE with ReLU/Hardsigmoid) and EfficientNet-like (SiLU, SE
    with SiLU/Sigmoid) layers."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish(),
        nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        SqueezeExcitation(16, 8, nn.ReLU, nn.Hardsigmoid),
        nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU(),
        SqueezeExcitation(32, 8, nn.SiLU, nn.Sigmoid),
        nn.Conv2d(32, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(48, 10))


def _channel_shuffle(x, groups):
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w)
    return torch.transpose(x, 1, 2).contiguous().view(n, c, h, w)


class ShuffleV2Unit(nn.Module):
    """torchvision's ShuffleNetV2 InvertedResidual (Ma et al. 2018, Fig. 3c/d)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())
        b2_in = cin if stride > 1 else half
        self.branch2 = nn.Sequential(
            nn.Conv2d(b2_in, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return _channel_shuffle(out, 2)


def shufflenet_v2_stage():
    return nn.Sequential(
        nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
        ShuffleV2Unit(24, 116, 2), ShuffleV2Unit(116, 116, 1), ShuffleV2Unit(116, 116, 1))


class DenseBlock(nn.Module):
    """DenseNet (Huang et al. 2017): every layer reads the concat of all earlier outputs;
    the block's output is one concat of 25 tensors (input + 24 layers)."""

    def __init__(self, cin=8, growth=4, layers=24):
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(layers):
            c = cin + i * growth
            self.layers.append(nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(),
                                             nn.Conv2d(c, growth, 3, 1, 1, bias=False)))

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


def densenet_block():
    return nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), DenseBlock(),
                         nn.BatchNorm2d(8 + 24 * 4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8 + 24 * 4, 10))


class TransformInput(nn.Module):
    """torchvision GoogLeNet/Inception3 ``_transform_input`` (ImageNet normalisation redone
    for weights trained with inputs in [-1, 1]) before a conv stem."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1)

    def forward(self, x):
        x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        return self.conv1(torch.cat((x_ch0, x_ch1, x_ch2), 1))


class MatMulLinear(nn.Module):
    """A linear layer written out: ``x @ W + b`` (MatMul then Add in ONNX)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cin, cout) * 0.01)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.in_features, self.out_features = cin, cout

    def forward(self, x):
        return x @ self.weight + self.bias


def odds_and_ends():
    return nn.Sequential(
        nn.ZeroPad2d((0, 1, 0, 1)),                                # asymmetric: right, bottom
        nn.Conv2d(3, 8, 3, 2),
        nn.AvgPool2d(3, 2, 1, count_include_pad=False),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.LeakyReLU(0.2), nn.ELU(), nn.PReLU(8), nn.InstanceNorm2d(8, affine=True),
        nn.ConvTranspose2d(8, 8, 3, 2, 1, output_padding=1),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(8, 4, 3, padding=1), nn.Dropout(0.5), nn.Softmax(dim=1),
        nn.Flatten(), MatMulLinear(4 * 16 * 16, 10), nn.Tanh())


EXTRA = {
    "mobile_blocks": (mobile_blocks, (3, 64, 64)),
    "shufflenet_v2_stage": (shufflenet_v2_stage, (3, 64, 64)),
    "densenet_block": (densenet_block, (3, 16, 16)),
    "transform_input": (TransformInput, (3, 32, 32)),
    "odds_and_ends": (odds_and_ends, (3, 31, 31)),
}
