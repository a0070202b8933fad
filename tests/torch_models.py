"""Plain-PyTorch builders of the networks in ``examples/`` (torch.nn only, no torchvision).

Each builder returns an ``nn.Module`` whose parameter count equals the published one where a
number is published (torchvision's model table for the ImageNet classifiers) and whose leaf
modules are *registered and executed in the order of the YAML's rows*: structures are built
from :class:`Residual` (body first, then shortcut, then the add) and :class:`Parallel`
(branches in order, then the merge), so a forward hook on the leaf modules lists them in the
same order as ``convcalc net examples/NAME.yaml`` lists its layers. Element-wise ops that
torchvision reuses (one ``ReLU`` module called three times in a ResNet bottleneck) are separate
modules here; that changes no count.

``MODELS`` maps each example name to ``(builder, input_shape_without_batch)``.

Counting convention of :func:`count_macs` (SPEC §4, torchvision's "GFLOPS"): conv
``cout*cin/g*prod(k)*prod(out)``; transposed conv on the input grid ``cin*cout/g*prod(k)*prod(in)``;
linear ``in*out``; deformable conv: its offset/mask predictor (an ordinary ``nn.Conv2d``) plus the
main conv's ``cout*cin/g*prod(k)*prod(out)``. Nothing else counts.
"""

from __future__ import annotations

from math import prod

import torch
import torch.nn.functional as F
from torch import nn


# -- structural helpers (mirror the YAML structures) -------------------------------------

class Residual(nn.Module):
    """``body(x) + shortcut(x)``; an absent shortcut is the identity. Body runs first."""

    def __init__(self, body, shortcut=()):
        super().__init__()
        self.body = nn.Sequential(*body)
        self.shortcut = nn.Sequential(*shortcut)  # empty Sequential = identity

    def forward(self, x):
        y = self.body(x)
        return y + self.shortcut(x)


class Parallel(nn.Module):
    """Every branch gets the same input, in order; outputs are merged (concat on channels,
    add or mul). An empty branch is the identity."""

    def __init__(self, branches, merge="concat"):
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(*b) for b in branches)
        self.merge = merge

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        if self.merge == "concat":
            return torch.cat(outs, dim=1)
        acc = outs[0]
        for o in outs[1:]:
            acc = acc + o if self.merge == "add" else acc * o
        return acc


class Crop(nn.Module):
    """Remove ``lo``/``hi`` elements from each spatial axis (U-Net's skip crop, TCN's Chomp1d).
    ``pads`` is one ``(lo, hi)`` pair per spatial axis."""

    def __init__(self, *pads):
        super().__init__()
        self.pads = pads

    def forward(self, x):
        index = [slice(None), slice(None)]
        for (lo, hi), n in zip(self.pads, x.shape[2:]):
            index.append(slice(lo, n - hi))
        return x[tuple(index)]


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle (Zhang et al. 2018, §3.1)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, *rest = x.shape
        return x.view(n, self.groups, c // self.groups, *rest).transpose(1, 2).reshape(x.shape)


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 (Zhu et al. 2019): a 3×3 conv whose sampling positions are shifted by learned
    offsets and whose samples are scaled by a learned mask in [0, 1]. The offsets (2·k²) and
    mask (k²) come from an ordinary conv with the same k, s, p, d (bias on), as in mmcv's
    ``ModulatedDeformConv2dPack`` / torchvision's ``DeformConv2d`` usage. Pure-torch
    implementation via ``grid_sample`` (torchvision.ops is not available here)."""

    def __init__(self, cin, cout, k=3, s=1, p=1, d=1, bias=False):
        super().__init__()
        self.k, self.s, self.p, self.d = k, s, p, d
        self.in_channels, self.out_channels, self.groups = cin, cout, 1
        self.kernel_size = (k, k)
        self.conv_offset = nn.Conv2d(cin, 3 * k * k, k, s, p, d, bias=True)
        self.weight = nn.Parameter(torch.empty(cout, cin, k, k))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None

    def forward(self, x):
        n, c, h, w = x.shape
        k, kk = self.k, self.k * self.k
        om = self.conv_offset(x)
        ho, wo = om.shape[-2:]
        dy, dx = om[:, 0:2 * kk:2], om[:, 1:2 * kk:2]
        mask = torch.sigmoid(om[:, 2 * kk:])
        taps = torch.arange(k, dtype=x.dtype, device=x.device) * self.d
        ky, kx = torch.meshgrid(taps, taps, indexing="ij")
        ys = torch.arange(ho, dtype=x.dtype, device=x.device) * self.s - self.p
        xs = torch.arange(wo, dtype=x.dtype, device=x.device) * self.s - self.p
        py = ys.view(1, 1, ho, 1) + ky.reshape(1, kk, 1, 1) + dy
        px = xs.view(1, 1, 1, wo) + kx.reshape(1, kk, 1, 1) + dx
        grid = torch.stack([2 * px / max(w - 1, 1) - 1, 2 * py / max(h - 1, 1) - 1], dim=-1)
        sampled = F.grid_sample(x, grid.view(n, kk * ho, wo, 2), mode="bilinear",
                                padding_mode="zeros", align_corners=True)
        sampled = sampled.view(n, c, kk, ho, wo) * mask.view(n, 1, kk, ho, wo)
        cols = sampled.view(n, c * kk, ho * wo)
        out = torch.einsum("ok,nkl->nol", self.weight.reshape(self.out_channels, c * kk), cols)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1)
        return out.view(n, self.out_channels, ho, wo)


# -- ImageNet classifiers (torchvision's model table) ------------------------------------

def vgg16():
    """torchvision.models.vgg16 (cfg "D", Simonyan & Zisserman 2015): 138,357,544 params."""
    layers, cin = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
            cin = v
    return nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(7), nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
        nn.Linear(4096, 1000))


def alexnet():
    """torchvision.models.alexnet (the 64-192-384-256-256 "one weird trick" variant,
    Krizhevsky 2014): 61,100,840 params."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d(6), nn.Flatten(),
        nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(True),
        nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(True),
        nn.Linear(4096, 1000))


def _bottleneck(cin, planes, stride=1, groups=1, width_per_group=64):
    """torchvision's Bottleneck (ResNet v1.5: the stride sits in the 3×3 conv)."""
    width = int(planes * (width_per_group / 64.0)) * groups
    cout = planes * 4
    body = [nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(True),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)]
    shortcut = ()
    if stride != 1 or cin != cout:
        shortcut = (nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    return [Residual(body, shortcut), nn.ReLU(True)]


def _resnet(blocks, groups=1, width_per_group=64):
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
        for j in range(n):
            layers += _bottleneck(cin, planes, 2 if (j == 0 and i > 0) else 1, groups,
                                  width_per_group)
            cin = planes * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)


def resnet50():
    """torchvision.models.resnet50 (He et al. 2016, v1.5): 25,557,032 params."""
    return _resnet((3, 4, 6, 3))


def resnext50_32x4d():
    """torchvision.models.resnext50_32x4d (Xie et al. 2017): 25,028,904 params."""
    return _resnet((3, 4, 6, 3), groups=32, width_per_group=4)


def _cbr6(cin, cout, k=1, s=1, g=1):
    """torchvision's Conv2dNormActivation(norm=BatchNorm2d, activation=ReLU6)."""
    return [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=g, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU6(True)]


def _inverted_residual(cin, cout, s, t):
    hidden = cin * t
    body = []
    if t != 1:
        body += _cbr6(cin, hidden)
    body += _cbr6(hidden, hidden, 3, s, g=hidden)
    body += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
    if s == 1 and cin == cout:
        return [Residual(body)]
    return body


def mobilenet_v2():
    """torchvision.models.mobilenet_v2 (Sandler et al. 2018): 3,504,872 params."""
    layers, cin = _cbr6(3, 32, 3, 2), 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            layers += _inverted_residual(cin, c, s if i == 0 else 1, t)
            cin = c
    layers += _cbr6(320, 1280)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, 1000)]
    return nn.Sequential(*layers)


def _basic_conv(cin, cout, k=1, s=1, p=0):
    """torchvision's GoogLeNet BasicConv2d: conv (no bias) + BatchNorm(eps=0.001) + ReLU."""
    return [nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout, eps=0.001),
            nn.ReLU(True)]


def _inception(cin, c1, c3r, c3, c5r, c5, pool):
    return Parallel([
        _basic_conv(cin, c1),
        _basic_conv(cin, c3r) + _basic_conv(c3r, c3, 3, p=1),
        # torchvision's known deviation from the paper: 3×3 where the paper has 5×5
        _basic_conv(cin, c5r) + _basic_conv(c5r, c5, 3, p=1),
        [nn.MaxPool2d(3, 1, 1, ceil_mode=True)] + _basic_conv(cin, pool),
    ])


def googlenet():
    """torchvision.models.googlenet without the auxiliary heads (Szegedy et al. 2015):
    6,624,904 params."""
    return nn.Sequential(
        *_basic_conv(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, ceil_mode=True),
        *_basic_conv(64, 64), *_basic_conv(64, 192, 3, p=1), nn.MaxPool2d(3, 2, ceil_mode=True),
        _inception(192, 64, 96, 128, 16, 32, 32),
        _inception(256, 128, 128, 192, 32, 96, 64),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        _inception(480, 192, 96, 208, 16, 48, 64),
        _inception(512, 160, 112, 224, 24, 64, 64),
        _inception(512, 128, 128, 256, 24, 64, 64),
        _inception(512, 112, 144, 288, 32, 64, 64),
        _inception(528, 256, 160, 320, 32, 128, 128),
        nn.MaxPool2d(2, 2, ceil_mode=True),
        _inception(832, 256, 160, 320, 32, 128, 128),
        _inception(832, 384, 192, 384, 48, 128, 128),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1024, 1000))


# -- other networks of examples/ ---------------------------------------------------------

def lenet5():
    """LeNet-5 (LeCun et al. 1998) in its common modern form: C3 fully connected to S2,
    average pooling for the subsampling layers, a linear output layer in place of the RBF."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
        nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))


def dcgan_generator():
    """The DCGAN generator of pytorch/examples (dcgan/main.py; Radford et al. 2016),
    nz=100, ngf=64, nc=3."""
    nz, ngf, nc = 100, 64, 3

    def up(cin, cout, s, p):
        return [nn.ConvTranspose2d(cin, cout, 4, s, p, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(True)]

    return nn.Sequential(
        *up(nz, ngf * 8, 1, 0), *up(ngf * 8, ngf * 4, 2, 1), *up(ngf * 4, ngf * 2, 2, 1),
        *up(ngf * 2, ngf, 2, 1),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def c3d():
    """C3D (Tran et al. 2015), Sports-1M head (487 classes); Caffe's ceil rounding of pool5
    written as ceil_mode."""
    def conv(cin, cout):
        return [nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU(True)]
    return nn.Sequential(
        *conv(3, 64), nn.MaxPool3d((1, 2, 2), (1, 2, 2)),
        *conv(64, 128), nn.MaxPool3d(2, 2),
        *conv(128, 256), *conv(256, 256), nn.MaxPool3d(2, 2),
        *conv(256, 512), *conv(512, 512), nn.MaxPool3d(2, 2),
        *conv(512, 512), *conv(512, 512), nn.MaxPool3d(2, 2, ceil_mode=True),
        nn.Flatten(),
        nn.Linear(8192, 4096), nn.ReLU(True), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
        nn.Linear(4096, 487), nn.Softmax(dim=1))


def _unet_double(cin, cout, p=0):
    return [nn.Conv2d(cin, cout, 3, padding=p), nn.ReLU(True),
            nn.Conv2d(cout, cout, 3, padding=p), nn.ReLU(True)]


class UNet(nn.Module):
    """The original U-Net (Ronneberger et al. 2015, Fig. 1): valid 3×3 convs, 2×2 max pools,
    2×2 up-convolutions halving the channels, crop-and-concat skips, 1×1 conv to 2 classes.
    Modules are registered in the order ``forward`` runs them (and the YAML lists them):
    at each decoder level the up-conv, then the crop of the saved encoder tensor, then the
    concat [cropped skip, up] and the two convs."""

    CROPS = (4, 16, 40, 88)  # for 572×572: 64→56, 136→104, 280→200, 568→392

    def __init__(self, padding=0, crops=CROPS):
        super().__init__()
        self.down = nn.ModuleList()
        cin = 1
        for i, c in enumerate((64, 128, 256, 512)):
            self.down.append(nn.Sequential(*(([nn.MaxPool2d(2)] if i else []) +
                                             _unet_double(cin, c, padding))))
            cin = c
        self.bottom = nn.Sequential(nn.MaxPool2d(2), *_unet_double(512, 1024, padding))
        self.up = nn.ModuleList()
        for c, crop in zip((512, 256, 128, 64), crops):
            self.up.append(nn.ModuleDict({
                "upconv": nn.ConvTranspose2d(c * 2, c, 2, 2),
                "crop": Crop((crop, crop), (crop, crop)),
                "convs": nn.Sequential(*_unet_double(c * 2, c, padding))}))
        self.head = nn.Conv2d(64, 2, 1)

    def forward(self, x):
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        x = self.bottom(x)
        for stage, skip in zip(self.up, reversed(skips)):
            up = stage["upconv"](x)
            x = stage["convs"](torch.cat([stage["crop"](skip), up], dim=1))
        return self.head(x)


def unet_padded():
    """U-Net with padded 3×3 convs and no crops (examples/unet_padded.yaml)."""
    return UNet(padding=1, crops=(0, 0, 0, 0))


def shufflenet_v1_stage():
    """ShuffleNet v1 (Zhang et al. 2018), 1×, g=3: the stem and Stage 2 (Table 1):
    one stride-2 unit (Fig. 2c) and three stride-1 units (Fig. 2b), 240 output channels,
    bottleneck = out/4; no group conv on the first pointwise layer of Stage 2 (§3.3)."""
    g, cin, cout, mid = 3, 24, 240, 60
    layers = [nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(True),
              nn.MaxPool2d(3, 2, 1)]

    def body(cin, cout, s, first_g):
        return [nn.Conv2d(cin, mid, 1, groups=first_g, bias=False), nn.BatchNorm2d(mid),
                nn.ReLU(True), ChannelShuffle(g),
                nn.Conv2d(mid, mid, 3, s, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
                nn.Conv2d(mid, cout, 1, groups=g, bias=False), nn.BatchNorm2d(cout)]

    layers += [Parallel([body(cin, cout - cin, 2, 1), [nn.AvgPool2d(3, 2, 1)]]), nn.ReLU(True)]
    for _ in range(3):
        layers += [Residual(body(cout, cout, 1, g)), nn.ReLU(True)]
    return nn.Sequential(*layers)


def deeplabv3_aspp():
    """DeepLabv3's ASPP head (Chen et al. 2017, §3.3; torchvision
    segmentation/deeplabv3.py DeepLabHead) on a ResNet feature map at output stride 16
    (513×513 input → 33×33), rates 6, 12, 18, 21 classes, upsampled to 513×513."""
    def cbr(cin, cout, k=1, d=1):
        return [nn.Conv2d(cin, cout, k, padding=d * (k // 2), dilation=d, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(True)]
    branches = [cbr(2048, 256)] + [cbr(2048, 256, 3, r) for r in (6, 12, 18)]
    branches.append([nn.AdaptiveAvgPool2d(1), *cbr(2048, 256),
                     nn.Upsample(size=(33, 33), mode="bilinear", align_corners=False)])
    return nn.Sequential(
        Parallel(branches), *cbr(5 * 256, 256), nn.Dropout(0.5),
        *cbr(256, 256, 3), nn.Conv2d(256, 21, 1),
        nn.Upsample(size=(513, 513), mode="bilinear", align_corners=False))


def tcn():
    """TCN (Bai, Kolter & Koltun 2018; locuslab/TCN, poly_music): 88 input channels,
    4 levels of 150 channels, kernel 5, dilations 1, 2, 4, 8, per-step linear 150→88.
    The original wraps each conv in weight_norm (one extra gain per output channel);
    plain convs here, as in the YAML."""
    k, layers, cin = 5, [], 88
    for i in range(4):
        d, pad = 2 ** i, (k - 1) * 2 ** i
        body = [nn.Conv1d(cin, 150, k, padding=pad, dilation=d), Crop((0, pad)), nn.ReLU(),
                nn.Dropout(0.25),
                nn.Conv1d(150, 150, k, padding=pad, dilation=d), Crop((0, pad)), nn.ReLU(),
                nn.Dropout(0.25)]
        shortcut = [nn.Conv1d(cin, 150, 1)] if cin != 150 else []
        layers += [Residual(body, shortcut), nn.ReLU()]
        cin = 150
    layers += [nn.Conv1d(150, 88, 1), nn.Sigmoid()]
    return nn.Sequential(*layers)


def deformable():
    """Res5 (conv5_x) of ResNet-50 with DCNv2 (Zhu et al. 2019, §3): every 3×3 conv is a
    modulated deformable conv; input: the 1024×14×14 res4 output of a 224×224 image."""
    layers, cin = [], 1024
    for i in range(3):
        s = 2 if i == 0 else 1
        body = [nn.Conv2d(cin, 512, 1, bias=False), nn.BatchNorm2d(512), nn.ReLU(True),
                ModulatedDeformConv2d(512, 512, 3, s, 1), nn.BatchNorm2d(512), nn.ReLU(True),
                nn.Conv2d(512, 2048, 1, bias=False), nn.BatchNorm2d(2048)]
        shortcut = ((nn.Conv2d(cin, 2048, 1, s, bias=False), nn.BatchNorm2d(2048))
                    if i == 0 else ())
        layers += [Residual(body, shortcut), nn.ReLU(True)]
        cin = 2048
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)


def _sepconv(cin, cout, k=3, p=1, bias=False):
    """Depthwise k×k then pointwise 1×1, no nonlinearity between (Xception's SeparableConv2d)."""
    return [nn.Conv2d(cin, cin, k, padding=p, groups=cin, bias=bias),
            nn.Conv2d(cin, cout, 1, bias=bias)]


def separable():
    """The composite example of examples/separable.yaml: Xception's entry flow (Chollet 2017),
    an Inception-v3-style factorized 7×1/1×7 conv, two flattened conv layers (Jin et al. 2014)."""
    def block(cin, cout, first):
        body = ([] if first else [nn.ReLU()]) + _sepconv(cin, cout) + [
            nn.BatchNorm2d(cout), nn.ReLU(), *_sepconv(cout, cout), nn.BatchNorm2d(cout),
            nn.MaxPool2d(3, 2, 1)]
        return Residual(body, [nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout)])

    def flat(cin, cout, k=3):
        return [nn.Conv2d(cin, cout, 1),
                nn.Conv2d(cout, cout, (k, 1), padding=(k // 2, 0), groups=cout),
                nn.Conv2d(cout, cout, (1, k), padding=(0, k // 2), groups=cout)]

    return nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, bias=False), nn.BatchNorm2d(32), nn.ReLU(True),
        nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
        block(64, 128, True), block(128, 256, False), block(256, 728, False),
        nn.Conv2d(728, 192, 1, bias=False), nn.BatchNorm2d(192), nn.ReLU(True),
        nn.Conv2d(192, 192, (7, 1), padding=(3, 0), bias=False),
        nn.Conv2d(192, 192, (1, 7), padding=(0, 3), bias=False),
        nn.BatchNorm2d(192), nn.ReLU(True),
        *flat(192, 256), *flat(256, 256), nn.ReLU(True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 1000))


MODELS = {
    "vgg16": (vgg16, (3, 224, 224)),
    "alexnet": (alexnet, (3, 224, 224)),
    "resnet50": (resnet50, (3, 224, 224)),
    "mobilenet_v2": (mobilenet_v2, (3, 224, 224)),
    "googlenet": (googlenet, (3, 224, 224)),
    "lenet5": (lenet5, (1, 32, 32)),
    "resnext50_32x4d": (resnext50_32x4d, (3, 224, 224)),
    "dcgan_generator": (dcgan_generator, (100, 1, 1)),
    "c3d": (c3d, (3, 16, 112, 112)),
    "unet": (UNet, (1, 572, 572)),
    "unet_padded": (unet_padded, (1, 256, 256)),
    "shufflenet_v1_stage": (shufflenet_v1_stage, (3, 224, 224)),
    "deeplabv3_aspp": (deeplabv3_aspp, (2048, 33, 33)),
    "tcn": (tcn, (88, 128)),
    "deformable": (deformable, (1024, 14, 14)),
    "separable": (separable, (3, 299, 299)),
}


# -- counting ------------------------------------------------------------------------------

def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _conv_like_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return (module.in_channels * module.out_channels // module.groups
                * prod(module.kernel_size) * prod(inp.shape[2:]))
    if isinstance(module, (nn.modules.conv._ConvNd, ModulatedDeformConv2d)):
        return (module.out_channels * module.in_channels // module.groups
                * prod(module.kernel_size) * prod(out.shape[2:]))
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features * prod(out.shape[1:-1])
    return 0


def trace(model: nn.Module, input_shape) -> list[tuple[str, str, tuple, int]]:
    """Run one zero sample through ``model``; return, in execution order, one
    ``(path, type, output_shape, macs)`` per leaf module (and per deformable conv, whose
    offset conv is listed just before it)."""
    rows = []
    hooks = []
    for path, m in model.named_modules():
        leaf = not any(True for _ in m.children())
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            continue  # containers; an empty Sequential is an identity shortcut, not a layer
        if leaf or isinstance(m, ModulatedDeformConv2d):
            def hook(mod, args, out, path=path):
                rows.append((path, type(mod).__name__, tuple(out.shape[1:]),
                             _conv_like_macs(mod, args[0], out)))
            hooks.append(m.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    return rows


def count_macs(model: nn.Module, input_shape) -> int:
    return sum(r[3] for r in trace(model, input_shape))
