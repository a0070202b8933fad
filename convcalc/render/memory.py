"""Memory and training figures for people (SPEC §8): byte sizes in binary units, the net
table's memory cells and the memory summary under the totals."""

from __future__ import annotations

from typing import Any

from ..dims import fmt, is_symbolic

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")

# what every report states about memory (SPEC §4, §8); the README quotes it
MEMORY_CONVENTIONS = (
    "memory: bytes per element by --dtype (int64 pooling indices, bool dropout masks); "
    "peak = largest total of live activation tensors, layers run in file order, each output "
    "its own tensor, freed after its last reader, the input held throughout; excluded: "
    "params, buffers, an op's transient extras, allocator caching and workspaces; "
    "train memory = params + gradients + optimizer state + saved activations (what "
    "autograd keeps for backward, PyTorch 2.13), a lower bound")
MEMORY_SHORT = ("memory: activations only, PyTorch's autograd rules; train memory is a lower "
                "bound (no allocator cache, workspaces or backward transients)")


def human_bytes(n: Any) -> str:
    """``22.1 GiB``: binary units, three significant digits (a whole number of bytes below
    1 KiB); formulas as they are, with their unit."""
    if n is None:
        return "—"
    if is_symbolic(n):
        return f"{fmt(n)} B"
    if n < 1024:
        return f"{n} B"
    value, unit = float(n), 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value /= 1024
        unit += 1
    if value >= 1023.95 and unit < len(UNITS) - 1:  # 1023.99 MiB prints as 1.0 GiB
        value /= 1024
        unit += 1
    text = f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return f"{text} {UNITS[unit]}"


def memory_columns(training: bool) -> list[str]:
    return ["live", "train MACs", "saved"] if training else ["live"]


def memory_cells(m, training: bool, num) -> list[str]:
    cells = [human_bytes(m.live_bytes)]
    if training:
        cells += [num(m.train_macs), human_bytes(m.saved_bytes)]
    return cells


def summary_head(mem) -> str:
    return f"memory ({mem.dtype}" + (f", batch {mem.batch}" if mem.batch != 1 else "") + "):"


def summary_items(report, mem, num) -> list[tuple[str, str, str]]:
    """The memory summary as (label, value, note) items."""
    t = mem.totals
    items = [("params", human_bytes(t["param_bytes"]), "")]
    if mem.training:
        items += [("gradients", human_bytes(mem.gradient_bytes), ""),
                  ("optimizer state", human_bytes(mem.optimizer_bytes), f"({mem.optimizer})"),
                  ("saved activations", human_bytes(t["saved_activation_bytes"]), ""),
                  ("train memory", human_bytes(t["train_memory_bytes"]),
                   "(a lower bound: no allocator cache, workspaces or backward transients)")]
    items.append(("inference peak", human_bytes(t["peak_inference_bytes"]),
                  peak_where(report, mem).strip()))
    if mem.training:
        items.append(("train MACs", num(t["train_macs"]), "(forward + backward)"))
    return items


def summary_lines(report, mem, num) -> list[str]:
    """The memory summary under the totals."""
    return [summary_head(mem)] + [f"  {label:<17}  {value}" + (f" {note}" if note else "")
                                  for label, value, note in summary_items(report, mem, num)]


def peak_where(report, mem) -> str:
    if mem.peak_row is None:
        if report.rows and t_symbolic(mem):
            return " (symbolic sizes: bind them with --set for the peak)"
        return ""
    row = report.rows[mem.peak_row]
    return f" at layer {row.index} ({row.path}, {row.op})"


def t_symbolic(mem) -> bool:
    return any(r.live_bytes is not None and is_symbolic(r.live_bytes) for r in mem.rows)
