"""Small networks that together use every op of the catalog (``test_export_torch.py`` checks
that they do), for the exporter's tests."""

CASES = {
    "convs_2d": """
name: convs 2d
input: [4, 12, 10]
vars: {w: 8}
layers:
  - conv: {out: w, k: 3, p: same, bias: false}
  - conv2d: {out: w, k: [3, 2], s: [2, 1], p: [[1, 2], [0, 1]], d: 1}
  - conv: {out: w, k: 2, p: full, d: 2, g: 2}
  - pwconv: {out: 12, g: 4}
  - dwconv: {k: 3, p: 1, mult: 2}
  - sepconv: {out: 6, k: 3, s: 2, p: 1, mult: 2, bias: false}
  - spatial_sepconv: {out: 6, k: 3, p: 1}
  - flatconv: {out: 5, k: 3, p: 1}
  - deconv: {out: 4, k: 3, s: 2, p: 1, op: 1}
  - convtranspose2d: {out: 4, k: 2, s: 2, p: [[0, 1], [1, 0]], g: 2, bias: false}
  - deformconv: {out: 6, k: 3, p: 1}
  - deformconv: {out: 6, k: 3, s: 2, p: 1, offset_groups: 2, modulated: true, bias: false}
  - pad: {p: [[1, 0], [0, 2]]}
  - crop: {p: [1, [0, 1]]}
""",
    "pools_2d": """
input: [3, 17, 15]
layers:
  - maxpool: {k: 3, s: 2, p: 1, ceil: true}
  - maxpool: {k: 2, s: 1, d: 2}
  - avgpool: {k: 2, ceil: true}
  - maxpool2d: {k: 2, s: 1, p: [[0, 1], [1, 0]]}
  - avgpool: {k: 2, s: 1, p: [[1, 0], [0, 0]]}
  - adaptive_avgpool: {out: [3, 2]}
    name: a
  - adaptive_maxpool: {out: 2}
    from: a
  - gmp
  - flatten
  - linear: {out: 4}
""",
    "norms_and_activations": """
input: [6, 5, 4]
layers:
  - bn
  - gn: {g: 3}
  - ln
  - in: {affine: true}
  - instancenorm2d
  - relu
  - relu6
  - leaky_relu: {slope: 0.2}
  - prelu
  - prelu: {num: 6}
  - elu: {alpha: 0.5}
  - gelu: {approximate: tanh}
  - silu
  - sigmoid
  - hardsigmoid
  - hardswish
  - tanh
  - softmax
  - dropout: {p: 0.1}
  - identity
  - gap
  - flatten
  - bn
  - batchnorm1d: {affine: false}
  - ln
  - gn: {g: 2}
  - prelu: {num: 6}
  - fc: {out: 3, bias: false}
""",
    "rearranging": """
input: [32, 6, 5]
layers:
  - upsample: {scale: 2}
  - upsample: {size: [13, 11], mode: bilinear, align_corners: true}
  - upsample: {scale: [1, 2], mode: bilinear}
  - pixel_shuffle: {r: 2}
  - channel_shuffle: {g: 2}
  - se: {reduction: 2}
  - se: {squeeze: 3, act: silu, gate: hardsigmoid}
  - slice: {from: 2, to: 6}
  - slice: {to: 3}
  - slice: {from: 1}
  - gap
""",
    "structures": """
name: structures
input: [3, 16, 16]
vars: {c: 4}
blocks:
  unit:
    args: {c: null, s: 1, e: c*2}
    layers:
      - residual:
          body:
            - conv: {out: e, k: 3, s: s, p: 1}
            - relu
            - conv: {out: c, k: 1}
          shortcut:
            - conv: {out: c, k: 1, s: s}
      - relu
  grow:
    args: {m: 2}
    layers:
      - dwconv: {k: 1, mult: m}
  skip:
    layers:
      - add: stem
  join:                          # reads a tensor of its caller: its channels are an argument
    layers:
      - concat: [stem]
      - pwconv: {out: 4}
layers:
  - conv: {out: c, k: 3, p: 1}
    name: stem
  - unit: {c: c}
    times: 3
  - skip
  - join
  - grow: {}
    times: 2
  - conv: {out: c, k: 1}
  - residual:
      body:
        - bn
        - relu
    times: 2
  - parallel:
      branches:
        - []
        - [conv: {out: 2, k: 1}]
        - [maxpool: {k: 3, s: 1, p: 1}, pwconv: {out: 3}]
      merge: concat
    name: cat
  - conv: {out: c, k: 1}
    name: a
  - parallel:
      branches:
        - [relu]
        - [sigmoid]
      merge: mul
  - parallel:
      branches:
        - [relu]
        - []
      merge: add
  - mul: a
  - relu: {}
    times: 2
  - concat: [stem, a]
  - conv: {out: 3, k: 1}
    from: cat
  - concat: [a]
  - unit: {c: 6, s: 2}
""",
    "one_and_three_d": """
input: [2, 6, 6, 6]
layers:
  - conv3d: {out: 4, k: 3, p: 1}
  - maxpool3d: {k: 2}
  - upsample: {scale: 2, mode: trilinear}
  - se: {reduction: 2}
  - pad: {p: 1}
  - avgpool: {k: [1, 2, 2], s: 2}
  - dwconv: {k: 2}
  - bn3d
  - flatten
  - linear: {out: 5}
""",
    "one_d": """
input: [3, 20]
layers:
  - conv1d: {out: 4, k: 5, p: same}
  - sepconv: {out: 6, k: 3, d: 2}
  - flatconv: {out: 4, k: 3}
  - deconv1d: {out: 2, k: 4, s: 2}
  - maxpool1d: {k: 3, s: 2, ceil: true}
  - avgpool1d: {k: 2}
  - adaptive_avgpool: {out: 3}
  - in: {affine: true}
  - upsample: {size: 7, mode: linear}
  - crop: {p: [[1, 2]]}
  - bn1d
""",
}
