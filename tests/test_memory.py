"""Memory and training cost (SPEC §8), written as arithmetic on small networks.

Legend: fp32 is 4 bytes per element. Live bytes of a layer = the network input (held by the
caller) + every earlier output some later layer still reads (or the network output) + the
layer's own output; for a compound layer the most over its parts. Train MACs = forward
+ weight gradient (= forward) + input gradient (= forward) when the layer's input depends on a
trainable parameter. Saved bytes: the storages listed in memory.SAVES, each counted once.
"""

from __future__ import annotations

import textwrap

import pytest

from convcalc import memory
from convcalc.errors import ShapeError
from convcalc.spec import parse
from convcalc.walk import walk


def analyse(text: str, *, batch: int = 1, sets=None, **kwargs):
    report = walk(parse(textwrap.dedent(text), "t.yaml"), batch=batch, sets=sets)
    return report, memory.analyse(report, **kwargs)


CHAIN = """
    input: [3, 8, 8]
    layers:
      - conv: {out: 4, k: 3, p: 1}
      - relu
      - maxpool: {k: 2}
      - flatten
      - linear: {out: 10}
"""


def test_chain_live_bytes_and_peak():
    report, m = analyse(CHAIN)
    x, c, p, f, o = 3*8*8, 4*8*8, 4*4*4, 4*4*4, 10
    assert [r.live_bytes for r in m.rows] == [
        4*(x + c), 4*(x + c + c), 4*(x + c + p), 4*(x + p + f), 4*(x + f + o)]
    assert m.totals["peak_inference_bytes"] == 4*(x + c + c)
    assert m.peak_row == 1
    assert m.totals["param_bytes"] == 4*((4*3*9 + 4) + (64*10 + 10))
    assert not m.training and m.rows[0].saved_bytes is None and m.rows[0].train_macs is None


@pytest.mark.parametrize("dtype, per", [("fp32", 4), ("fp16", 2), ("bf16", 2), ("fp64", 8),
                                        ("int8", 1)])
def test_dtype_and_batch_scale(dtype, per):
    _, one = analyse(CHAIN)
    _, m = analyse(CHAIN, batch=3, dtype=dtype)
    assert m.totals["param_bytes"] == one.totals["param_bytes"] // 4 * per  # params do not scale
    assert m.totals["peak_inference_bytes"] == one.totals["peak_inference_bytes"] // 4 * per * 3
    assert [r.live_bytes for r in m.rows] == [r.live_bytes // 4 * per * 3 for r in one.rows]


def test_chain_training():
    report, m = analyse(CHAIN, training=True, optimizer="adam")
    conv_macs, fc_macs = 4*3*9*64, 64*10
    # the conv reads the network input: no input gradient; the linear's input depends on it
    assert [r.train_macs for r in m.rows] == [2*conv_macs, 0, 0, 0, 3*fc_macs]
    x, c, p = 3*8*8, 4*8*8, 4*4*4
    # conv saves the input, relu its output, maxpool its input (= relu's output, counted once)
    # and int64 indices, linear its input (flatten's view of the pool output)
    assert [r.saved_bytes for r in m.rows] == [4*x, 4*c, 8*p, 0, 4*p]
    params = (4*3*9 + 4) + (64*10 + 10)
    t = m.totals
    assert t["train_macs"] == sum(r.train_macs for r in m.rows)
    assert t["saved_activation_bytes"] == sum(r.saved_bytes for r in m.rows)
    assert t["train_memory_bytes"] == 4*params + 4*params + 2*4*params + t[
        "saved_activation_bytes"]
    assert m.gradient_bytes == 4*params and m.optimizer_bytes == 2*4*params


@pytest.mark.parametrize("optimizer, values", [("sgd", 0), ("momentum", 1), ("adam", 2),
                                               ("adamw", 2)])
def test_optimizer_state(optimizer, values):
    _, m = analyse(CHAIN, training=True, optimizer=optimizer, dtype="bf16")
    params = (4*3*9 + 4) + (64*10 + 10)
    assert m.optimizer_bytes == values * params * 2
    assert m.totals["train_memory_bytes"] == (2 + values)*2*params + m.totals[
        "saved_activation_bytes"]


def test_batch_scales_saved_but_not_bn_statistics():
    text = """
        input: [2, 4, 4]
        layers:
          - conv: {out: 3, k: 1}
          - bn
    """
    _, one = analyse(text, training=True)
    _, three = analyse(text, batch=3, training=True)
    # bn saves its input (the conv output, 3*4*4) and 2 statistics per channel
    assert one.rows[1].saved_bytes == 4*3*16 + 4*2*3
    assert three.rows[1].saved_bytes == 3*4*3*16 + 4*2*3


def test_residual_keeps_the_skip_alive():
    text = """
        input: [2, 4, 4]
        layers:
          - conv: {out: 2, k: 1}
          - residual:
              body:
                - conv: {out: 2, k: 3, p: 1}
                - relu
          - relu
    """
    _, m = analyse(text)
    x = 2*16  # every tensor is 2x4x4
    # conv0; body conv (x, conv0 kept for the add, own); relu; add (conv0, relu, own); relu
    assert [r.live_bytes for r in m.rows] == [4*2*x, 4*3*x, 4*4*x, 4*4*x, 4*3*x]


def test_named_tensor_lives_until_its_last_reader():
    text = """
        input: [1, 8]
        layers:
          - conv: {out: 2, k: 1}
            name: a
          - conv: {out: 4, k: 1}
          - conv: {out: 1, k: 1}
          - concat: [a]
    """
    _, m = analyse(text)
    x, a, b, c, cat = 8, 16, 32, 8, 24
    assert [r.live_bytes for r in m.rows] == [
        4*(x + a), 4*(x + a + b), 4*(x + a + b + c), 4*(x + a + c + cat)]


def test_side_branch_has_no_backward():
    text = """
        input: [1, 8]
        layers:
          - conv: {out: 2, k: 1}
            name: trunk
          - conv: {out: 3, k: 1}
            name: aux
          - conv: {out: 4, k: 1}
            from: trunk
    """
    _, m = analyse(text, training=True)
    # the aux conv's output is read by nothing: forward only, nothing saved; it is freed at
    # once, so the last conv runs with the input, trunk and its own output
    assert [r.train_macs for r in m.rows] == [2*(2*8), 3*8*2, 3*(4*2*8)]
    assert [r.saved_bytes for r in m.rows] == [4*8, 0, 4*2*8]
    assert [r.live_bytes for r in m.rows] == [4*(8 + 16), 4*(8 + 16 + 24), 4*(8 + 16 + 32)]


def test_sepconv_parts_are_tensors_of_their_own():
    text = """
        input: [2, 4, 4]
        layers:
          - conv: {out: 2, k: 1, bias: false}
          - sepconv: {out: 3, k: 3, p: 1, bias: false}
    """
    report, m = analyse(text, training=True)
    x, c0, dw, pw = 2*16, 2*16, 2*16, 3*16
    # dw runs with the input, c0 and its output; then pw with dw's output (c0 freed)
    assert m.rows[1].live_bytes == 4*max(x + c0 + dw, x + dw + pw)
    dw_macs, pw_macs = 2*9*16, 3*2*16
    assert m.rows[1].train_macs == 3*dw_macs + 3*pw_macs  # its input needs a gradient
    assert m.rows[1].saved_bytes == 4*(c0 + dw)  # dw saves c0, pw saves dw's output


def test_se_saves_its_internal_tensors():
    text = """
        input: [8, 4, 4]
        layers:
          - conv: {out: 8, k: 1}
          - se: {squeeze: 2}
    """
    _, m = analyse(text, training=True)
    c, hw = 8, 16
    # gap saves nothing; down saves the pooled c; relu its 2 outputs (read by up); sigmoid
    # its c outputs, which the scale saves with the block's input (the conv output)
    assert m.rows[1].saved_bytes == 4*(c + 2 + c + c*hw)
    assert m.rows[1].train_macs == 3*(2*c) + 3*(c*2)


def test_mul_saves_the_factors_that_others_need():
    text = """
        input: [2, 4]
        layers:
          - relu: {}
            name: a
          - conv: {out: 2, k: 1}
          - mul: a
    """
    # a (relu of the input) needs no gradient: relu has no autograd node and saves nothing;
    # the conv saves a; mul keeps a again (counted once, at the conv) but not the conv output
    _, m = analyse(text, training=True)
    assert [r.saved_bytes for r in m.rows] == [0, 4*8, 0]
    assert m.totals["saved_activation_bytes"] == 4*8
    assert m.rows[1].train_macs == 2*(2*2*4)


def test_dropout_mask_is_one_byte_and_maxpool_indices_eight():
    text = """
        input: [2, 4, 4]
        layers:
          - conv: {out: 2, k: 1}
          - dropout
          - maxpool: {k: 2}
    """
    _, m = analyse(text, training=True, dtype="fp16", batch=5)
    assert m.rows[1].saved_bytes == 5*2*16*1
    assert m.rows[2].saved_bytes == 5*2*16*2 + 5*2*4*8


def test_training_batchnorm_on_one_value_is_an_error():
    text = """
        input: [4, 3, 3]
        layers:
          - gap
          - bn
    """
    report, m = analyse(text)  # inference: fine
    with pytest.raises(ShapeError) as err:
        memory.analyse(report, training=True)
    assert err.value.line() == (
        "t.yaml:5:5: error: bn (1) on input 4×1×1: with --training and batch 1, each "
        "channel has 1 value; PyTorch's BatchNorm refuses it in training mode (hint: use "
        "--batch 2 or more, or a norm that does not batch (gn, ln))")
    _, m = analyse(text, batch=2, training=True)
    assert m.rows[1].saved_bytes == 4*2*4 + 4*2*4


def test_symbolic_sizes_give_formulas_and_no_peak():
    text = """
        input: [1, H]
        layers:
          - conv: {out: 2, k: 1}
    """
    _, m = analyse(text, training=True)
    assert str(m.rows[0].live_bytes) == "12*H"
    assert m.totals["peak_inference_bytes"] is None and m.peak_row is None
    _, m = analyse(text, sets={"H": 5}, training=True)
    assert m.totals["peak_inference_bytes"] == 4*(5 + 10)


EXAMPLE_SETS = {"unet.yaml": {"H": 572, "W": 572}, "tcn.yaml": {"T": 128},
                "unet_padded.yaml": {"H": 256, "W": 256}}


@pytest.mark.parametrize("name", sorted(p.name for p in __import__("pathlib").Path(
    __file__).resolve().parent.parent.joinpath("examples").glob("*.yaml")))
def test_totals_are_sums_and_the_batch_scales(name):
    """Every example: train MACs and saved bytes are sums over rows; a batch of 3 triples
    every per-sample byte (the peak, each row's live bytes) and every MAC, and leaves params,
    BatchNorm's per-channel statistics (2c values) and the zero bias torchvision makes for a
    deformable conv without one (cout values) alone."""
    from convcalc.spec import load

    path = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples" / name
    net = load(str(path))
    reports = [walk(net, sets=EXAMPLE_SETS.get(name), batch=b) for b in (2, 6)]
    two, six = (memory.analyse(r, training=True) for r in reports)
    for m in (two, six):
        assert m.totals["train_macs"] == sum(r.train_macs for r in m.rows)
        assert m.totals["saved_activation_bytes"] == sum(r.saved_bytes for r in m.rows)
    assert [r.live_bytes for r in six.rows] == [3 * r.live_bytes for r in two.rows]
    assert six.totals["peak_inference_bytes"] == 3 * two.totals["peak_inference_bytes"]
    assert six.totals["train_macs"] == 3 * two.totals["train_macs"]
    assert six.totals["param_bytes"] == two.totals["param_bytes"]
    fixed = sum(4 * 2 * r.output.channels for r, m in zip(reports[0].rows, two.rows)
                if r.op == "bn" and m.saved_bytes)
    fixed += sum(4 * r.output.channels for r in reports[0].rows
                 if r.op == "deformconv" and ("bias", False) in r.args)
    assert (six.totals["saved_activation_bytes"] - fixed
            == 3 * (two.totals["saved_activation_bytes"] - fixed))


X = 2 * 4 * 6 * 6  # the layer's input below: a 1×1 conv's 4×6×6 output, batch 2
SAVED_RULES = [  # (layer, bytes it saves), fp32: 4 bytes per float, indices 8, masks 1
    ("conv: {out: 3, k: 3, p: 1}", 4 * X), ("deconv: {out: 3, k: 2, s: 2}", 4 * X),
    ("dwconv: {k: 3}", 4 * X), ("prelu: {num: 4}", 4 * X),
    ("bn", 4 * X + 4 * 2 * 4),  # mean and inverse std per channel, not per sample
    ("gn: {g: 2}", 4 * X + 4 * 2 * 2 * 2),  # per sample and group
    ("ln", 4 * X + 4 * 2 * 2 * 36),  # per sample and position
    ("in", 4 * X + 4 * 2 * 2 * 4), ("in: {affine: true}", 4 * X + 4 * 3 * 2 * 4),
    *[(op, 4 * X) for op in ("relu", "sigmoid", "tanh", "softmax")],  # their outputs
    *[(op, 4 * X) for op in ("relu6", "leaky_relu", "elu", "gelu", "silu", "hardsigmoid",
                             "hardswish")],  # their inputs
    ("dropout", 1 * X),
    ("maxpool: {k: 2}", 4 * X + 8 * 2 * 4 * 3 * 3), ("avgpool: {k: 2}", 4 * X),
    ("adaptive_avgpool: {out: 2}", 4 * X), ("adaptive_avgpool: {out: 1}", 0), ("gap", 0),
    ("gmp", 4 * X + 8 * 2 * 4), ("adaptive_maxpool: {out: 3}", 4 * X + 8 * 2 * 4 * 9),
    *[(op, 0) for op in ("identity", "flatten", "pad: {p: 1}", "crop: {p: 1}",
                         "slice: {to: 2}", "upsample: {scale: 2}", "channel_shuffle: {g: 2}",
                         "pixel_shuffle: {r: 2}")],
    ("sepconv: {out: 5, k: 3, p: 1}", 4 * X + 4 * X),  # dw its input, pw dw's output
    # gap nothing; down the pooled 4; relu its 2; up (relu's 2 again); sigmoid its 4; the
    # scale its input and the sigmoid's output (again)
    ("se: {squeeze: 2}", 4 * (2 * 4 + 2 * 2 + 2 * 4 + X)),
    ("conv: {out: 3, k: 2, p: same}", 4 * 2 * 4 * 7 * 7),  # PyTorch's padded copy
]


@pytest.mark.parametrize("layer, saved", SAVED_RULES, ids=[c[0] for c in SAVED_RULES])
def test_saved_bytes_rule_of_each_op(layer, saved):
    text = f"input: [4, 6, 6]\nlayers:\n  - pwconv: {{out: 4}}\n  - {layer}\n"
    _, m = analyse(text, batch=2, training=True)
    assert m.rows[0].saved_bytes == 4 * X  # the 1×1 conv saves the network input
    assert m.rows[1].saved_bytes == saved


def test_a_linear_after_flatten_saves_the_pooled_storage():
    text = "input: [4, 6, 6]\nlayers:\n  - pwconv: {out: 4}\n  - flatten\n  - linear: {out: 3}\n"
    _, m = analyse(text, batch=2, training=True)
    assert [r.saved_bytes for r in m.rows] == [4 * X, 0, 4 * X]


I, C = 4 * 36, 4 * 36  # below: the network input 4×6×6 and the 1×1 conv's output, batch 1
LIVE_RULES = [  # (layer, its live bytes): the input, the conv's output (read by this layer)
    ("relu", 4 * (I + C + C)), ("maxpool: {k: 2}", 4 * (I + C + 4 * 9)),
    ("concat: [a]", 4 * (I + C + 2 * C)),  # the conv's output is `a`: read twice
    # parts in sequence: dw with its input and output, then pw with dw's output and its own
    # (the conv's output is freed once dw has read it)
    ("sepconv: {out: 5, k: 3, p: 1}", 4 * max(I + C + C, I + C + 5 * 36)),
    ("flatconv: {out: 5, k: 3, p: 1}", 4 * max(I + C + 5 * 36, I + 5 * 36 + 5 * 36)),
    # gap → 4, down → 2, act → 2, up → 4, gate → 4, scale → 4×6×6; the block's input stays
    # for the scale
    ("se: {squeeze: 2}", 4 * max(I + C + 4, I + C + 4 + 2, I + C + 2 + 2, I + C + 2 + 4,
                               I + C + 4 + 4, I + C + 4 + C)),
    # the offset predictor (2·9 channels) and the deformable conv both read the input
    ("deformconv: {out: 4, k: 3, p: 1}", 4 * (I + C + 18 * 36 + 4 * 36)),
]


@pytest.mark.parametrize("layer, live", LIVE_RULES, ids=[c[0] for c in LIVE_RULES])
def test_live_bytes_rule(layer, live):
    text = (f"input: [4, 6, 6]\nlayers:\n  - pwconv: {{out: 4}}\n    name: a\n"
            f"  - {layer}\n")
    _, m = analyse(text)
    assert m.rows[0].live_bytes == 4 * (I + C)
    assert m.rows[1].live_bytes == live
