"""Memory and training cost of a walked network (SPEC §8): pure functions over the walk's
:class:`~convcalc.walk.Report` and its data-flow graph (``Row.reads``, ``Report.out``).

- **live bytes / peak** (inference): the rows run in file order (a compound layer's parts in
  sequence); every output is a tensor of its own, freed once its last reader has run; the
  network input is held throughout and the network output to the end.
- **train MACs**: forward + weight gradient + input gradient where the layer's input depends
  on a trainable parameter (``requires grad`` propagated along ``reads``); a layer the output
  does not depend on (found walking back from ``Report.out``) has no backward.
- **saved bytes**: the distinct storages PyTorch's autograd holds for backward at the end of a
  training-mode forward pass, by the per-op rules of :data:`SAVES`, measured on PyTorch 2.13
  CPU (``tests/test_memory_oracle.py`` measures every rule with
  ``torch.autograd.graph.saved_tensors_hooks``). A view keeps its base's storage alive, so
  storages, not tensors, are counted; a storage several layers save is counted once, at the
  first layer that saves it (so the total is the sum over rows).

The saved-tensor rules are one table here, keyed by canonical op name, not a field of the op
table: they describe PyTorch's autograd (a backend), not the op's arithmetic, and keeping them
in one place lets the README's rule table and the oracle test read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .dims import is_symbolic, total
from .errors import ShapeError
from .walk import INPUT, Report, Row, groups

# bytes per element of activations and params (SPEC §8)
DTYPES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp64": 8, "int8": 1}
# optimizer state per parameter, in values (SPEC §8): SGD none, momentum buffer 1, Adam/AdamW
# first and second moments 2 (torch.optim docs)
OPTIMIZERS = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
INDEX_BYTES = 8  # max pooling's indices are int64 whatever the dtype
MASK_BYTES = 1  # dropout's mask is bool (torch.native_dropout), SPEC §8

# What each op's autograd node saves for backward, measured on PyTorch 2.13 CPU float32 in
# training mode (tests/test_memory_oracle.py). A node exists when the op's input requires a
# gradient or the op has parameters; an op without one saves nothing. Tokens:
#   input   the storage of the tensor it reads (a view's base)
#   output  its own output
#   indices int64, one per output element (max pooling)
#   mask    bool, one per output element (dropout, as torch.native_dropout keeps it)
#   stats:channel  2 values per channel, not per sample (BatchNorm's save_mean, save_invstd)
#   stats:group    2 values per sample and group (GroupNorm's mean, rstd)
#   stats:position 2 values per sample and position (LayerNorm over channels: mean, rstd)
#   stats:instance 2 values per sample and channel (InstanceNorm runs batch_norm on
#                  1 × N·C × …), 3 with affine (the weight repeated N times, a new tensor)
# Parameters and buffers (weights, running statistics) are not activations and not listed.
SAVES: dict[str, tuple[str, ...]] = {
    "conv": ("input",), "pwconv": ("input",), "dwconv": ("input",), "deconv": ("input",),
    "linear": ("input",),
    "bn": ("input", "stats:channel"), "gn": ("input", "stats:group"),
    "ln": ("input", "stats:position"), "in": ("input", "stats:instance"),
    "relu": ("output",), "sigmoid": ("output",), "tanh": ("output",), "softmax": ("output",),
    "relu6": ("input",), "leaky_relu": ("input",), "prelu": ("input",), "elu": ("input",),
    "gelu": ("input",), "silu": ("input",), "hardsigmoid": ("input",),
    "hardswish": ("input",),
    "dropout": ("mask",),
    "maxpool": ("input", "indices"), "adaptive_maxpool": ("input", "indices"),
    "gmp": ("input", "indices"),  # AdaptiveMaxPool(1)
    "avgpool": ("input",), "adaptive_avgpool": ("input",),
    "gap": (),  # AdaptiveAvgPool(1) is a mean, whose backward needs only sizes
    "identity": (), "flatten": (), "pad": (), "crop": (), "slice": (), "upsample": (),
    "pixel_shuffle": (), "channel_shuffle": (), "add": (), "concat": (),
    "mul": ("factors",),  # each factor, when another factor requires a gradient
    # deformconv's main part, torchvision.ops.deform_conv2d (csrc/ops/autograd/
    # deform_conv2d_kernel.cpp saves input, weight, offset, mask, bias): its input and the
    # offset predictor's output (DCNv2 as mmcv's ModulatedDeformConv2dPack: offsets
    # concatenated, mask through a sigmoid), plus the zeros torchvision's Python wrapper makes
    # for a missing mask (batch × 1) and a missing bias (cout)
    "deform": ("inputs", "placeholders"),
}
# ops whose output is a view of their input in PyTorch (it shares the input's storage): for
# saved tensors only — for live bytes SPEC §8 makes every output a tensor of its own
VIEWS = {"identity", "flatten", "crop", "slice"}

# Compound layers (ops.Effect.parts): which op each part is and what it reads (-1: the
# layer's input, j: part j's output). Parts not listed run in sequence, each a conv.
PART_OPS = {"dw": "dwconv", "pw": "pwconv", "lateral": "pwconv", "gap": "gap",
            "down": "pwconv", "up": "pwconv", "scale": "mul", "offset": "conv",
            "offset+mask": "conv", "deform": "deform"}
PART_READS = {
    # the offset predictor and the deformable conv both read the input (DCN, Dai et al. 2017)
    "deformconv": ((-1,), (-1, 0)),
    # squeeze-and-excitation (Hu et al. 2018): the gate scales the block's input
    "se": ((-1,), (0,), (1,), (2,), (3,), (-1, 4)),
}


class RowMemory(NamedTuple):  # a tuple: 100,000 of them are made in one run
    live_bytes: Any  # bytes of activations live while this layer runs
    saved_bytes: Any = None  # with training: bytes of storages it is the first to save
    train_macs: Any = None  # with training: forward + backward MACs


@dataclass(frozen=True)
class Memory:
    rows: tuple[RowMemory, ...]
    totals: dict[str, Any]  # SPEC §8's JSON keys
    peak_row: int | None  # the row reaching peak_inference_bytes (None: no rows, or symbolic)
    dtype: str = "fp32"
    batch: int = 1
    training: bool = False
    optimizer: str = "adam"
    gradient_bytes: Any = None  # with training
    optimizer_bytes: Any = None  # with training
    extras: dict = field(default_factory=dict)


def size_bytes(numel, batch: int, per: int):
    return None if numel is None else numel * batch * per


def _bytes_per(dtype: str) -> int:
    return DTYPES[dtype]


def _parts(row: Row) -> list[tuple[str, Any, tuple[int, ...]]]:
    """A compound row's parts as (op, effect, reads); a plain row has none."""
    if not row.parts:
        return []
    reads = PART_READS.get(row.op)
    out = []
    for j, (name, eff) in enumerate(row.parts):
        op = PART_OPS.get(name, name)
        if op not in SAVES:  # spatial_sepconv's and flatconv's per-axis parts: "3x1"
            op = "conv"
        out.append((op, eff, reads[j] if reads else (j - 1,)))
    return out


def analyse(report: Report, *, dtype: str = "fp32", training: bool = False,
            optimizer: str = "adam") -> Memory:
    """Memory (and with ``training`` the training cost) of ``report`` at its batch."""
    per = _bytes_per(dtype)
    if training:
        check_training_shapes(report)
    batch = report.batch
    rows = report.rows
    n = len(rows)
    in_bytes = size_bytes(report.input.numel(), batch, per)
    numels = _numels(rows)
    out_bytes = [None if v is None else v * batch * per for v in numels]

    # -- liveness: the last row reading each tensor; the output is held to the end
    last = list(range(n))  # a tensor nobody reads is freed right after its row
    for r in rows:
        for s in r.reads:
            if s != INPUT and r.index > last[s]:
                last[s] = r.index
    if report.out != INPUT:
        last[report.out] = n
    frees: list[list[int]] = [[] for _ in range(n)]
    for t in range(n):
        if last[t] < n:
            frees[last[t]].append(t)

    live: list[Any] = []
    running = in_bytes  # the network input is held by the caller throughout
    unknown = in_bytes is None
    for i, r in enumerate(rows):
        ob = out_bytes[i]
        if unknown or ob is None:
            unknown = True
            live.append(None)
            continue
        if r.parts:
            live.append(_compound_live(r, running, frees[i], out_bytes, batch, per))
        else:
            live.append(running + ob)
        running = running + ob
        for t in frees[i]:
            running = running - out_bytes[t]

    numeric = all(type(v) is int for v in live)
    peak_row = None
    peak = None
    if not rows:
        peak = in_bytes
    elif numeric:
        peak = max(live)
        peak_row = live.index(peak)  # the first layer that reaches it
    params = report.totals["params"]
    param_bytes = None if params is None else params * per
    totals = {"param_bytes": param_bytes, "peak_inference_bytes": peak}
    if not training:
        return Memory(tuple(RowMemory(v) for v in live), totals, peak_row, dtype, batch,
                      False, optimizer)

    grads, saved, train = _training(report, per, numels, out_bytes)
    totals["train_macs"] = _sum(train)
    totals["saved_activation_bytes"] = _sum(saved)
    state = OPTIMIZERS[optimizer]
    gradient_bytes = param_bytes
    optimizer_bytes = None if params is None else state * params * per
    totals["train_memory_bytes"] = _sum([param_bytes, gradient_bytes, optimizer_bytes,
                                         totals["saved_activation_bytes"]])
    return Memory(tuple(RowMemory(v, s, t) for v, s, t in zip(live, saved, train)), totals,
                  peak_row, dtype, batch, True, optimizer, gradient_bytes, optimizer_bytes)


def _numels(rows) -> list:
    """Output elements per row; rows share their shapes (the op table's results are
    memoised), so each distinct shape is counted once."""
    cache: dict[int, Any] = {}
    out = []
    for r in rows:
        shape = r.output
        n = cache.get(id(shape), cache)
        if n is cache:
            n = cache[id(shape)] = shape.numel()
        out.append(n)
    return out


def _sum(values):
    """The sum; None if any value is unknown (numbers first: the common case is fast)."""
    try:
        result = sum(values)
    except TypeError:  # a None
        return None
    return result if type(result) is int else total(list(values))


def _compound_live(row: Row, running, frees_here, out_bytes, batch, per):
    """The most bytes live while one of a compound layer's parts runs: the tensors live
    before the layer, minus its input once no later part (and no later layer) reads it, plus
    the parts' outputs from when they are made until their last reader among the parts."""
    parts = _parts(row)
    k = len(parts)
    sizes = [size_bytes(eff.output.numel(), batch, per) for _, eff, _ in parts]
    last = list(range(k))
    last[k - 1] = k  # the last part's output is the layer's output
    input_last = -1
    for j, (_, _, reads) in enumerate(parts):
        for s in reads:
            if s == -1:
                input_last = j
            elif j > last[s]:
                last[s] = j
    src = row.reads[0]
    input_freed = src != INPUT and src in frees_here  # this layer is its last reader
    best = None
    held = running
    for j in range(k):
        now = held + sizes[j]
        best = now if best is None or now > best else best
        held = now
        for t in range(j + 1):
            if last[t] == j:
                held = held - sizes[t]
        if input_freed and input_last == j:
            held = held - out_bytes[src]
    return best


def _training(report: Report, per: int, numels: list, out_bytes: list):
    """Per row: requires-grad, saved bytes, train MACs."""
    rows = report.rows
    batch = report.batch
    n = len(rows)
    # rows the output depends on: walk back from Report.out along reads
    alive = [False] * n
    stack = [report.out] if report.out != INPUT else []
    while stack:
        i = stack.pop()
        if alive[i]:
            continue
        alive[i] = True
        stack.extend(s for s in rows[i].reads if s != INPUT and not alive[s])

    needs_grad = [False] * n  # the row's output depends on a trainable parameter
    storage = list(range(n))  # the row whose output storage holds this row's output (views)
    contiguous = [True] * n
    seen: set = set()
    saved_out: list[Any] = []
    train_out: list[Any] = []
    in_bytes = size_bytes(report.input.numel(), batch, per)

    def store(src: int):
        return INPUT if src == INPUT else storage[src]

    def nbytes_of(key) -> Any:
        if key == INPUT:
            return in_bytes
        if type(key) is tuple:  # a compound layer's part, or a running product
            return key[-1]
        return out_bytes[key]

    for i, r in enumerate(rows):
        reads = r.reads
        if len(reads) == 1:
            src = reads[0]
            rg0 = src != INPUT and needs_grad[src]
            rg_in = [rg0]
            keys = [INPUT if src == INPUT else storage[src]]
        else:
            src = reads[0] if reads else INPUT
            rg_in = [s != INPUT and needs_grad[s] for s in reads]
            rg0 = True in rg_in
            keys = [store(s) for s in reads]
        has_params = bool(r.params)
        needs_grad[i] = has_params or rg0
        op = r.op
        if op in VIEWS and not (op == "flatten" and src != INPUT and not contiguous[src]):
            # views share their input's storage; a flatten of a strided view copies
            storage[i] = keys[0]
            contiguous[i] = (op in ("identity", "flatten") and
                             (src == INPUT or contiguous[src])) or (
                op in ("crop", "slice") and r.input == r.output)
        macs = r.macs
        if not alive[i]:
            saved_out.append(0)
            train_out.append(macs)
            continue
        # -- train MACs and the saved storages
        if r.parts:
            train, items = _compound_training(r, rg_in[0], store(src), batch, per)
        else:
            if has_params and macs:
                train = macs + macs + (macs if rg_in[0] else 0)
            else:
                train = macs
            items = _rule(op, r.output, numels[i], keys, rg_in, storage[i], batch, per,
                          r) if needs_grad[i] else ()
        train_out.append(train)
        total_saved = 0
        for key, nb in items:
            if key is None:  # an extra tensor of this layer alone
                total_saved = total_saved + nb
            elif key not in seen:
                seen.add(key)
                total_saved = total_saved + (nbytes_of(key) if nb is None else nb)
        saved_out.append(total_saved)
    return needs_grad, saved_out, train_out


def _compound_training(r: Row, rg_input: bool, input_key, batch: int, per: int):
    """A compound layer's train MACs and saved storages, part by part."""
    i = r.index
    train = r.macs
    part_rg: list[bool] = []
    items: list = []
    parts = _parts(r)
    last = len(parts) - 1
    for j, (op, eff, reads) in enumerate(parts):
        rgs = [rg_input if s == -1 else part_rg[s] for s in reads]
        rg = True in rgs
        pm = None if eff.macs is None else eff.macs * batch
        if eff.params and pm is not None:
            # the deformable part always has its column gradient: its offsets need it
            train = train + pm + (pm if rg or op == "deform" else 0)
        node = bool(eff.params) or rg
        part_rg.append(node)
        if not node:
            continue
        keys = [input_key if s == -1 else
                (i, "part", s, size_bytes(r.parts[s][1].output.numel(), batch, per))
                for s in reads]
        own = i if j == last else (i, "part", j,
                                   size_bytes(eff.output.numel(), batch, per))
        items += _rule(op, eff.output, eff.output.numel(), keys, rgs, own, batch, per, r)
    return train, items


def _rule(op, output, out_n, keys, rgs, own, batch, per, row):
    """The (storage key, bytes) pairs one autograd node saves; bytes None: the storage's
    size, looked up from its key. A key None is an extra tensor of this node alone."""
    items: list = []
    if op == "adaptive_avgpool" and all(d == 1 for d in output.spatial):
        op = "gap"  # PyTorch's AdaptiveAvgPool to size 1 is a mean: nothing saved
    for token in SAVES.get(op, ()):
        if token == "input":
            padded = _same_padded(row) if op in ("conv", "dwconv") and (
                row.op == op or row.op == "sepconv") else None
            if padded is not None:
                # PyTorch pads the input itself for an uneven 'same' and saves that copy
                items.append((None, padded * batch * per))
            else:
                items.append((keys[0], None))
        elif token == "inputs":
            items += [(k, None) for k in keys]
        elif token == "output":
            items.append((own, None))
        elif token == "placeholders":
            args = dict(row.args)
            if not args.get("modulated", False):
                items.append((None, batch * per))
            if not args.get("bias", True):
                items.append((None, output.channels * per))
        elif token == "indices":
            items.append((None, out_n * batch * INDEX_BYTES))
        elif token == "mask":
            items.append((None, out_n * batch * MASK_BYTES))
        elif token == "factors":
            # x0 * x1 * ... left to right: step j saves the running product if x_j requires
            # grad, and x_j if the product does; the products are new tensors
            prod_key, prod_rg = keys[0], rgs[0]
            for j in range(1, len(keys)):
                if rgs[j]:
                    items.append((prod_key, None))
                if prod_rg:
                    items.append((keys[j], None))
                prod_rg = prod_rg or rgs[j]
                prod_key = (row.index, "product", j, out_n * batch * per)
        elif token.startswith("stats:"):
            c = output.channels
            spatial = 1
            for d in output.spatial:
                spatial = spatial * d
            kind = token[6:]
            if kind == "channel":
                items.append((None, 2 * c * per))  # per channel, whatever the batch
            elif kind == "group":
                g = dict(row.args).get("g", dict(row.args).get("num_groups"))
                items.append((None, 2 * batch * g * per))
            elif kind == "position":
                items.append((None, 2 * batch * spatial * per))
            elif kind == "instance":
                affine = dict(row.args).get("affine", False)
                items.append((None, (3 if affine else 2) * batch * c * per))
    return items


def _same_padded(row: Row):
    """Elements of the input PyTorch's conv saves for ``padding='same'`` when an axis's total
    padding d*(k - 1) is odd: aten's _convolution_same pads the odd extra on the end side
    with constant_pad_nd and convolves the copy (None: the input itself is saved)."""
    args = {_KEYS.get(k, k): v for k, v in row.args}
    if args.get("p") != "same" or row.input.channels is None:
        return None
    rank = row.input.rank
    k, d = args.get("k"), args.get("d", 1)
    k = k if isinstance(k, tuple) else (k,) * rank
    d = d if isinstance(d, tuple) else (d,) * rank
    extra = [di * (ki - 1) % 2 for ki, di in zip(k, d)]
    if not any(extra):
        return None
    n = row.input.channels
    for size, e in zip(row.input.spatial, extra):
        n = n * (size + e)
    return n


_KEYS = {"padding": "p", "kernel_size": "k", "dilation": "d"}


def check_training_shapes(report: Report) -> None:
    """PyTorch refuses BatchNorm in training mode on one value per channel (batch 1 after a
    global pool): ``Expected more than 1 value per channel when training`` (torch.nn.functional
    .batch_norm's _verify_batch_size)."""
    for r in report.rows:
        if r.op != "bn":
            continue
        spatial = 1
        for d in r.input.spatial:
            spatial = spatial * d
        if type(spatial) is int and r.batch * spatial == 1:
            raise ShapeError(f"bn ({r.path}) on input {r.input}: with --training and batch "
                             f"{r.batch}, each channel has 1 value; PyTorch's BatchNorm "
                             f"refuses it in training mode", loc=r.loc,
                             hint="use --batch 2 or more, or a norm that does not batch "
                                  "(gn, ln)")


def collapse_rows(report: Report, mem: Memory, depth: int) -> tuple[RowMemory, ...]:
    """``mem.rows`` grouped as :func:`convcalc.walk.collapse` groups the report's rows: a group
    is live at the most its rows are, and saves and costs what they add up to."""
    out: list[RowMemory] = []
    for key, rows in groups(report, depth):
        group = [mem.rows[r.index] for r in rows]
        if key is None:
            out.append(group[0])
            continue
        lives = [g.live_bytes for g in group]
        live = None if any(v is None or is_symbolic(v) for v in lives) else max(lives)
        out.append(RowMemory(live,
                             None if not mem.training else _sum([g.saved_bytes for g in group]),
                             None if not mem.training else _sum([g.train_macs for g in group])))
    return tuple(out)


def layer_memory(layer, *, dtype: str = "fp32", training: bool = False,
                 optimizer: str = "adam") -> Memory:
    """One layer (``convcalc layer``) as a one-row network reading the input."""
    row = Row(0, "0", None, layer.op, layer.input, layer.output, layer.effect.params,
              layer.effect.macs, layer.effect.flops, layer.rf, None, layer.effect.parts,
              args=tuple(layer.args.items()), reads=(INPUT,))
    report = Report(None, "", layer.input, layer.output, (row,), layer.rf, out=0)
    return analyse(report, dtype=dtype, training=training, optimizer=optimizer)


class Fit(NamedTuple):
    batch: int | None  # the largest batch that fits; 0: none; None: every batch fits
    train_memory_bytes: Any  # at that batch (None when none fits)
    next_train_memory_bytes: Any  # at the next batch (when none fits: at the smallest)
    smallest: int  # the smallest batch that runs (2 when a BatchNorm needs two values)


def fit_batch(report_at, budget: int, *, dtype: str, optimizer: str) -> Fit:
    """The largest batch whose train_memory_bytes is at most ``budget``. Every per-sample
    tensor's bytes scale with the batch and nothing else does (SPEC §8), so train memory is
    ``a*batch + b``: two analyses give ``a`` and ``b`` exactly, and a third at the answer
    checks it. ``report_at(batch)`` walks the network at a batch."""
    def train(batch: int):
        return analyse(report_at(batch), dtype=dtype, training=True,
                       optimizer=optimizer).totals["train_memory_bytes"]

    first = 2 if _needs_two(report_at(1)) else 1
    m1, m2 = train(first), train(first + 1)
    if m1 is None or is_symbolic(m1):
        raise ShapeError("--fit needs numeric sizes", hint="bind the input sizes with --set")
    slope = m2 - m1
    if m1 > budget:
        return Fit(0, None, m1, first)
    if slope == 0:
        return Fit(None, m1, m1, first)
    batch = min(first + (budget - m1) // slope, 2**62)
    at = train(batch)
    assert at <= budget and at == m1 + (batch - first) * slope, (at, budget)
    return Fit(batch, at, at + slope, first)


def _needs_two(report: Report) -> bool:
    try:
        check_training_shapes(report)
    except ShapeError:
        return True
    return False
