"""Memory and training on the command line (SPEC §8): options, the net table's columns and
summary, JSON/CSV/Markdown fields, ``--fit``, check's budgets and ``expect:`` keys, byte
suffixes, and convcalc's own messages.

The network ``SMALL`` by hand (fp32, 4 bytes per element, batch 1):
  input 3×8×8 = 192;  conv 3→4 k3 p1: 4×8×8 = 256 (params 4·27 + 4 = 112, MACs 4·27·64 = 6,912)
  relu: 256;  maxpool k2: 4×4×4 = 64;  flatten: 64;  linear 64→10: 10 (params 650, MACs 640)
  live bytes: 4·(192 + 256), 4·(192 + 256 + 256), 4·(192 + 256 + 64), 4·(192 + 64 + 64),
      4·(192 + 64 + 10); peak 4·704 = 2,816 at the relu (layer 1)
  training: conv 2·6,912 (reads the input: no input gradient), linear 3·640;
      saved: conv its input 4·192, relu its output 4·256, maxpool its input (the relu's
      output, counted once) and int64 indices 8·64, linear its input (flatten's view of the
      pool output) 4·64: 768 + 1,024 + 512 + 256 = 2,560
  params 762: 3,048 bytes; Adam 2 values each
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from convcalc import memory
from convcalc.spec import load
from convcalc.walk import walk
from clirun import cli

SMALL = """\
name: small
input: [3, 8, 8]
layers:
  - conv: {out: 4, k: 3, p: 1}
  - relu
  - maxpool: {k: 2}
  - flatten
  - linear: {out: 10}
"""

PARAMS = 4 * 27 + 4 + 64 * 10 + 10
LIVE = [4 * (192 + 256), 4 * (192 + 256 + 256), 4 * (192 + 256 + 64), 4 * (192 + 64 + 64),
        4 * (192 + 64 + 10)]
TRAIN_MACS = [2 * 6912, 0, 0, 0, 3 * 640]
SAVED = [4 * 192, 4 * 256, 8 * 64, 0, 4 * 64]


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return str(path)


def run(capsys, monkeypatch, *args):
    return cli(capsys, monkeypatch, *args)


def test_json_fields(small, capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, "net", small, "--training", "-f", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert [layer["live_bytes"] for layer in data["layers"]] == LIVE
    assert [layer["train_macs"] for layer in data["layers"]] == TRAIN_MACS
    assert [layer["saved_bytes"] for layer in data["layers"]] == SAVED
    t = data["totals"]
    assert t["param_bytes"] == 4 * PARAMS
    assert t["peak_inference_bytes"] == 4 * (192 + 256 + 256)
    assert t["train_macs"] == sum(TRAIN_MACS)
    assert t["saved_activation_bytes"] == sum(SAVED)
    assert t["train_memory_bytes"] == 4 * PARAMS * (1 + 1 + 2) + sum(SAVED)
    assert data["peak_layer"] == 1 and data["dtype"] == "fp32" and data["optimizer"] == "adam"
    assert "memory:" in data["conventions"]


def test_json_without_training_has_no_training_fields(small, capsys, monkeypatch):
    data = json.loads(run(capsys, monkeypatch, "net", small, "-f", "json")[1])
    assert set(data["totals"]) == {"params", "macs", "flops", "activations", "param_bytes",
                                   "peak_inference_bytes"}
    assert "train_macs" not in data["layers"][0] and data["layers"][0]["live_bytes"] == LIVE[0]


@pytest.mark.parametrize("dtype, per", [("fp16", 2), ("bf16", 2), ("fp64", 8), ("int8", 1)])
def test_dtype_and_batch_in_json(small, capsys, monkeypatch, dtype, per):
    data = json.loads(run(capsys, monkeypatch, "net", small, "--training", "--dtype", dtype,
                          "--batch", "3", "--optimizer", "sgd", "-f", "json")[1])
    t = data["totals"]
    assert t["param_bytes"] == per * PARAMS  # params do not scale with the batch
    assert t["peak_inference_bytes"] == 3 * per * (192 + 256 + 256)
    # indices stay int64 whatever the dtype
    saved = 3 * (per * 192 + per * 256 + 8 * 64 + per * 64)
    assert [layer["saved_bytes"] for layer in data["layers"]] == [
        3 * per * 192, 3 * per * 256, 3 * 8 * 64, 0, 3 * per * 64]
    assert t["saved_activation_bytes"] == saved
    assert t["train_memory_bytes"] == 2 * per * PARAMS + saved  # sgd: no state
    assert t["train_macs"] == 3 * sum(TRAIN_MACS)


def test_csv_and_markdown_columns(small, capsys, monkeypatch):
    out = run(capsys, monkeypatch, "net", small, "--training", "-f", "csv")[1]
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][-3:] == ["live_bytes", "train_macs", "saved_bytes"]
    assert [r[-3:] for r in rows[1:-1]] == [[str(a), str(b), str(c)] for a, b, c in
                                           zip(LIVE, TRAIN_MACS, SAVED)]
    assert rows[-1][-3:] == ["", str(sum(TRAIN_MACS)), str(sum(SAVED))]
    md = run(capsys, monkeypatch, "net", small, "--training", "-f", "markdown")[1]
    lines = md.splitlines()
    assert lines[2].endswith("| live | train MACs | saved |")
    assert lines[4].endswith("| 1.75 KiB | 13,824 | 768 B |")  # 4*(192 + 256) = 1,792
    assert "- inference peak: 2.75 KiB at layer 1 (1, relu)" in lines


def test_table_summary_names_the_peak_layer(small, capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "net", small, "--training", "--dtype", "bf16",
                       "--batch", "32")
    assert code == 0
    lines = out.splitlines()
    at = lines.index("memory (bf16, batch 32):")
    # params 2*762 = 1,524 B; saved 32*(2*192 + 2*256 + 8*64 + 2*64) = 49,152 B
    assert lines[at + 1:at + 8] == [
        "  params             1.49 KiB",
        "  gradients          1.49 KiB",
        "  optimizer state    2.98 KiB (adam)",  # 2*1,524 = 3,048 B
        "  saved activations  48.0 KiB",
        "  train memory       54.0 KiB (a lower bound: no allocator cache, workspaces or "
        "backward transients)",  # 4*1,524 + 49,152 = 55,248 B = 53.95 KiB
        "  inference peak     44.0 KiB at layer 1 (1, relu)",  # 32*2*704 = 45,056
        f"  train MACs         {32 * sum(TRAIN_MACS):,} (forward + backward)"]
    header = lines[1].split()
    assert header[-4:] == ["live", "train", "MACs", "saved"]
    assert out.splitlines()[-1].startswith("conventions: ")


@pytest.mark.parametrize("text, value", [("512MB", 512 * 10**6), ("24GiB", 24 * 2**30),
                                         ("1.5G", 15 * 10**8), ("1KiB", 1024),
                                         ("3 kB", 3000), ("7", 7), ("2TiB", 2 * 2**40)])
def test_byte_sizes(text, value):
    from convcalc.check import byte_size

    assert byte_size(text, None, "--max-memory") == value


@pytest.mark.parametrize("text, message", [
    ("1XB", "error: --max-memory: expected a size in bytes, got '1XB' (hint: write 8GiB or "
            "512MB: k, M, G, T are 10^3, 10^6, 10^9, 10^12; Ki, Mi, Gi, Ti are 2^10, 2^20, "
            "2^30, 2^40)"),
    ("1.5B", "error: --max-memory: '1.5B' is not a whole number of bytes"),
])
def test_byte_size_errors(small, capsys, monkeypatch, text, message):
    code, out, err = run(capsys, monkeypatch, "check", small, "--max-memory", text)
    assert (code, out, err) == (2, "", message + "\n")


def test_fit_is_the_largest_batch_that_fits(small, capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, "net", small, "--training", "--fit", "1MiB",
                         "-f", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    net = load(small)

    def train(batch):
        return memory.analyse(walk(net, batch=batch), training=True).totals[
            "train_memory_bytes"]

    b = data["batch"]
    assert train(b) == data["train_memory_bytes"] <= 2**20 < train(b + 1)
    # a + b*batch, by hand: 4*762*4 fixed, 2,560 per sample
    assert b == (2**20 - 4 * PARAMS * 4) // 2560
    code, out, _ = run(capsys, monkeypatch, "net", small, "--training", "--fit", "1MiB")
    assert f"largest batch that fits: {b:,} " in out


def test_fit_when_nothing_fits(small, capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "net", small, "--training", "--fit", "1kB")
    assert code == 0
    assert out.splitlines()[1] == (f"no batch fits: batch 1 needs 14.4 KiB "
                                   f"({4 * PARAMS * 4 + 2560:,} B) of train memory")


@pytest.mark.parametrize("args, message", [
    (["--fit", "1GiB"], "error: --fit needs --training (hint: add --training)"),
    (["--training", "--fit", "1GiB", "--batch", "2"],
     "error: --fit finds the batch: it takes no --batch (hint: drop --batch)"),
    (["--dtype", "fp8"], "error: --dtype must be one of fp32, fp16, bf16, fp64, int8, got "
                         "'fp8'"),
    (["--dtype", "FP16"], "error: --dtype must be one of fp32, fp16, bf16, fp64, int8, got "
                          "'FP16' (hint: did you mean 'fp16'?)"),
    (["--optimizer", "adam"], "error: --optimizer needs --training (hint: add --training)"),
    (["--training", "--optimizer", "adagrad"],
     "error: --optimizer must be one of sgd, momentum, adam, adamw, got 'adagrad'"),
    (["--training", "--optimizer", "Adam"],
     "error: --optimizer must be one of sgd, momentum, adam, adamw, got 'Adam' (hint: "
     "did you mean 'adam'?)"),
])
def test_option_errors(small, capsys, monkeypatch, args, message):
    assert run(capsys, monkeypatch, "net", small, *args) == (2, "", message + "\n")


def test_check_budgets(small, capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, "check", small, "--max-memory", "2KiB",
                         "--max-train-memory", "10kB", "--batch", "2")
    assert code == 1
    peak = 2 * 4 * (192 + 256 + 256)  # 5,632
    train = 4 * PARAMS * 4 + 2 * 2560  # 17,312
    assert out.splitlines() == [
        f"{small}: error: peak memory {peak:,} B (5.50 KiB) is over the budget --max-memory "
        f"2,048 B (2.00 KiB) (by {peak - 2048:,})",
        f"{small}: error: train memory {train:,} B (16.9 KiB) is over the budget "
        f"--max-train-memory 10,000 B (9.77 KiB) (by {train - 10000:,})",
        "1 file, 1 failed"]
    code, out, _ = run(capsys, monkeypatch, "check", small, "--max-memory", "6KiB",
                       "--max-train-memory", "17kB", "--batch", "2", "--dtype", "fp16")
    assert (code, out) == (0, "1 file, all ok\n")


def test_expect_memory_keys(tmp_path, capsys, monkeypatch):
    path = tmp_path / "e.yaml"
    train = 4 * PARAMS * 4 + 2560
    path.write_text(SMALL + f"expect:\n  peak_memory: 2816\n  train_memory: {{max: 15KiB}}\n"
                            f"  train_macs: {sum(TRAIN_MACS)}\n")
    assert run(capsys, monkeypatch, "check", str(path))[:2] == (0, "1 file, all ok\n")
    # per sample under --batch, like every expectation
    assert run(capsys, monkeypatch, "check", str(path), "--batch", "4")[0] == 0
    path.write_text(SMALL + "expect:\n  peak_memory: 2KiB\n  train_memory: {max: 14KiB}\n")
    code, out, _ = run(capsys, monkeypatch, "check", str(path))
    assert code == 1
    assert out.splitlines()[:2] == [
        f"{path}:10:16: error: peak memory: expected 2,048 B, got 2,816 B (2.75 KiB) (off by "
        f"+768)",
        f"{path}:11:17: error: train memory: expected ≤ 14,336 B, got {train:,} B (14.4 KiB)"]


def test_training_batchnorm_on_one_value_is_located(capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, "net", "examples/deeplabv3_aspp.yaml",
                         "--training")
    assert (code, out) == (2, "")
    assert err == ("examples/deeplabv3_aspp.yaml:28:9: error: bn (aspp_concat.4.1.1) on input "
                   "256×1×1: with --training and batch 1, each channel has 1 value; PyTorch's "
                   "BatchNorm refuses it in training mode (hint: use --batch 2 or more, or a "
                   "norm that does not batch (gn, ln))\n")
    assert run(capsys, monkeypatch, "net", "examples/deeplabv3_aspp.yaml", "--training",
               "--batch", "2")[0] == 0
    assert run(capsys, monkeypatch, "net", "examples/deeplabv3_aspp.yaml")[0] == 0


def test_layer_memory(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "layer", "--k", "3", "--n", "8", "--cin", "3",
                       "--cout", "4", "--training", "-f", "json")
    data = json.loads(out)
    assert data["live_bytes"] == 4 * (3 * 64 + 4 * 36)
    assert data["param_bytes"] == 4 * (4 * 27 + 4)
    assert data["train_macs"] == 2 * 4 * 27 * 36  # the input needs no gradient
    assert data["saved_bytes"] == 4 * 3 * 64
    code, out, _ = run(capsys, monkeypatch, "layer", "--k", "3", "--n", "8", "--cin", "3",
                       "--cout", "4", "--dtype", "fp16")
    # fp16: 2*(3*64 + 4*36) = 672 B live; 2*112 = 224 B of params
    assert "memory    672 B  live: input and output (fp16); params 224 B" in out


def test_diff_with_memory(small, tmp_path, capsys, monkeypatch):
    other = tmp_path / "other.yaml"
    other.write_text(SMALL.replace("out: 4", "out: 8"))
    data = json.loads(run(capsys, monkeypatch, "diff", small, str(other), "--training",
                          "-f", "json")[1])
    t = data["totals"]
    assert t["peak_inference_bytes"]["old"] == 4 * (192 + 256 + 256)
    assert t["peak_inference_bytes"]["new"] == 4 * (192 + 512 + 512)
    assert t["train_macs"]["delta"] == 2 * 6912 + 3 * 640  # conv doubles, linear's in doubles
    assert "param_bytes" not in json.loads(run(capsys, monkeypatch, "diff", small, str(other),
                                               "-f", "json")[1])["totals"]


def test_fit_starts_at_batch_2_when_a_batchnorm_needs_it(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "net", "examples/deeplabv3_aspp.yaml",
                       "--training", "--fit", "24GiB", "--dtype", "bf16", "-f", "json")
    data = json.loads(out)
    assert code == 0 and data["smallest_batch"] == 2
    net = load("examples/deeplabv3_aspp.yaml")

    def train(batch):
        return memory.analyse(walk(net, batch=batch), training=True,
                              dtype="bf16").totals["train_memory_bytes"]

    assert train(data["batch"]) <= 24 * 2**30 < train(data["batch"] + 1)
    code, out, _ = run(capsys, monkeypatch, "net", "examples/deeplabv3_aspp.yaml",
                       "--training", "--fit", "100MB")
    assert out.splitlines()[1].startswith("no batch fits: batch 2 needs ")
