"""Expectations (``expect:``) and budgets → findings.

Quantities are integers or strings with an SI suffix (``2G``, ``3.5M``: k=1e3, M=1e6, G=1e9,
T=1e12), exact or ``{min: ..., max: ...}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from .dims import fmt, free_names, is_symbolic, provably_equal
from .errors import Loc, SpecError
from .spec import MAX_INT, shown

SI = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_QTY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMGT]?)\s*$")
QUANTITIES = ("params", "macs", "flops", "activations")
# SPEC §8: byte sizes take decimal (k, M, G, T) and binary (Ki, Mi, Gi, Ti) suffixes, B optional
BYTE_UNITS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
              "Ki": 2**10, "KI": 2**10, "ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_BYTES = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMGT]i?)?\s*B?\s*$")
BYTE_HINT = "write 8GiB or 512MB: k, M, G, T are 10^3, 10^6, 10^9, 10^12; Ki, Mi, Gi, Ti " \
            "are 2^10, 2^20, 2^30, 2^40"
MEMORY_KEYS = ("peak_memory", "train_memory", "train_macs")  # expect: keys of SPEC §8
BYTE_KEYS = ("peak_memory", "train_memory")


@dataclass(frozen=True)
class Bound:
    exact: int | None = None
    min: int | None = None
    max: int | None = None

    def holds(self, value: int) -> bool:
        if self.exact is not None:
            return value == self.exact
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def text(self) -> str:
        if self.exact is not None:
            return f"{self.exact:,}"
        parts = []
        if self.min is not None:
            parts.append(f"≥ {self.min:,}")
        if self.max is not None:
            parts.append(f"≤ {self.max:,}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Finding:
    loc: Loc | None
    what: str  # params | macs | ... | output | rf | budget name
    message: str
    expected: Any = None
    actual: Any = None


def quantity(value: Any, loc: Loc | None, what: str) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected a number, got {value!r}", loc=loc)
    if isinstance(value, int):
        if value < 0:
            raise SpecError(f"{what}: must not be negative, got {value}", loc=loc)
        return value
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        if len(value) > 40:  # a hostile 5000-digit string: no huge Decimal, no huge int
            raise SpecError(f"{what}: a number written with {len(value):,} characters is "
                            f"too large", loc=loc)
        m = _QTY.match(value)
        if m:
            return _scaled(value, m.group(1), SI[m.group(2)], loc, what, "a whole number")
    raise SpecError(f"{what}: expected an integer or a string like 2G or 3.5M, got "
                    f"{shown(value)}", loc=loc, hint="SI suffixes: k, M, G, T")


def _scaled(text: str, digits: str, scale: int, loc: Loc | None, what: str,
            whole: str) -> int:
    """``digits × scale`` exactly (``2.5`` and 10**9 for ``2.5G``): a whole number, at most
    MAX_INT, or a located error saying which it is not."""
    try:
        with localcontext() as ctx:
            ctx.prec = 100  # exact: the default 28 digits would round silently
            number = Decimal(digits) * scale
    except InvalidOperation:
        number = None
    if number is not None and number == number.to_integral_value():
        if number > MAX_INT:
            raise SpecError(f"{what}: {text!r} is too large", loc=loc)
        return int(number)
    raise SpecError(f"{what}: {text!r} is not {whole}", loc=loc)


def byte_size(value: Any, loc: Loc | None, what: str) -> int:
    """A number of bytes: an integer, or a string with a decimal or binary suffix (SPEC §8:
    ``512MB``, ``24GiB``, ``1.5G``); a whole number of bytes."""
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected a size in bytes, got {value!r}", loc=loc,
                        hint=BYTE_HINT)
    if isinstance(value, int):
        if value < 0:
            raise SpecError(f"{what}: must not be negative, got {value}", loc=loc)
        return value
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str) and len(value) <= 40:
        m = _BYTES.match(value)
        if m and (m.group(2) or "") in BYTE_UNITS:
            return _scaled(value, m.group(1), BYTE_UNITS[m.group(2) or ""], loc, what,
                           "a whole number of bytes")
    raise SpecError(f"{what}: expected a size in bytes, got {shown(value)}", loc=loc,
                    hint=BYTE_HINT)


def bound(y, what: str, parse=quantity) -> Bound:
    """Parse an exact value or ``{min, max}`` from a located YAML value."""
    if y.is_map:
        for key in y.value:
            if key not in ("min", "max"):
                raise SpecError(f"{what}: a range has 'min' and 'max', got '{key}'",
                                loc=y.keys[key])
        if not y.value:
            raise SpecError(f"{what}: empty range", loc=y.loc)
        lo = y.value.get("min")
        hi = y.value.get("max")
        b = Bound(min=None if lo is None else parse(lo.value, lo.loc, what),
                  max=None if hi is None else parse(hi.value, hi.loc, what))
        if b.min is not None and b.max is not None and b.min > b.max:
            raise SpecError(f"{what}: min {b.min:,} is above max {b.max:,}", loc=y.loc)
        return b
    return Bound(exact=parse(y.value, y.loc, what))


_PROGRESSION = re.compile(r"^\s*(?:n\s*=\s*)?(\d+)\s*[*·]\s*m\s*(?:([+-])\s*(\d+)\s*)?,"
                          r"\s*m\s*(?:>=|≥)\s*(\d+)\s*$")


@dataclass(frozen=True)
class Progression:
    """``expect: {sizes: "16*m + 124, m >= 4"}``: the valid input sizes (every spatial axis
    the same n, SPEC §6) are exactly ``step*m + offset`` for every ``m >= first``."""

    step: int
    offset: int
    first: int

    def text(self) -> str:
        sign = "+" if self.offset >= 0 else "-"
        off = "" if self.offset == 0 else f" {sign} {abs(self.offset)}"
        return f"{self.step}*m{off}, m >= {self.first}"

    def matches(self, sizes) -> bool:
        start = self.step * self.first + self.offset
        if sizes.period is None or sizes.isolated or sizes.min != start:
            return False
        if self.step == 1:
            return sizes.period == 1
        return sizes.period == self.step and len(sizes.residues) == 1


def progression(y) -> Progression:
    m = _PROGRESSION.match(y.value) if isinstance(y.value, str) else None
    if not m:
        raise SpecError(f"expect.sizes: expected a progression like \"16*m + 124, m >= 4\", "
                        f"got {shown(y.value)}", loc=y.loc,
                        hint="the valid input sizes as STEP*m + OFFSET, m >= FIRST")
    step, sign, off, first = int(m.group(1)), m.group(2), int(m.group(3) or 0), int(m.group(4))
    offset = -off if sign == "-" else off
    if step < 1 or step * first + offset < 1:
        raise SpecError(f"expect.sizes: {y.value!r} starts at {step * first + offset}, not a "
                        f"positive size", loc=y.loc)
    return Progression(step, offset, first)


def parse_expect(expect: dict, bindings: dict | None = None) -> dict[str, Any]:
    """``expect:`` → {key: (Bound | list, Loc)}; raises SpecError on malformed values."""
    out: dict[str, Any] = {}
    for key, y in expect.items():
        if key == "output":
            if not y.is_list or not y.value:
                raise SpecError("expect.output: a shape list like [1000] or [64, 56, 56]",
                                loc=y.loc)
            dims = []
            for d in y.value:
                if isinstance(d.value, bool) or not isinstance(d.value, (int, str)):
                    raise SpecError(f"expect.output: sizes are integers, got {d.brief()}",
                                    loc=d.loc)
                if isinstance(d.value, str):
                    from .spec import evaluate

                    dims.append(evaluate(d.value, bindings or {}, d.loc, symbols=True))
                else:
                    dims.append(d.value)
            out[key] = (dims, y.loc)
        elif key == "sizes":
            out[key] = (progression(y), y.loc)
        elif key == "rf":
            if y.is_list:
                out[key] = ([bound(v, "expect.rf") for v in y.value], y.loc)
            else:
                out[key] = (bound(y, "expect.rf"), y.loc)
        else:
            out[key] = (bound(y, f"expect.{key}", byte_size if key in BYTE_KEYS else quantity),
                        y.loc)
    return out


def memory_totals(report, options: dict | None = None, *, training: bool = False
                  ) -> dict[str, Any]:
    """peak_memory, train_memory and train_macs (SPEC §8) of ``report`` at its batch, with
    ``options`` (dtype, optimizer)."""
    from . import memory

    m = memory.analyse(report, training=training, **(options or {}))
    t = m.totals
    return {"peak_memory": t["peak_inference_bytes"],
            "train_memory": t.get("train_memory_bytes"), "train_macs": t.get("train_macs")}


def declared_totals(report, options: dict | None = None, keys=()) -> dict[str, Any]:
    """The totals ``expect:`` is about: the network as declared, per sample. ``--batch``
    multiplies MACs, FLOPs and activations; here that factor is taken back out (exactly:
    every row was multiplied by it). The memory keys among ``keys`` are computed at batch 1
    with ``options`` (dtype, optimizer)."""
    out = dict(report.totals)
    if any(k in MEMORY_KEYS for k in keys):
        import dataclasses

        one = dataclasses.replace(report, batch=1)
        mem = memory_totals(one, options, training=any(k != "peak_memory" for k in keys
                                                        if k in MEMORY_KEYS))
        if mem["train_macs"] is not None and report.batch != 1:
            # the rows' MACs carry the batch: every term of train_macs is a multiple of it
            from .dims import simplify_int

            v = mem["train_macs"]
            mem["train_macs"] = v // report.batch if type(v) is int else simplify_int(
                v / report.batch)
        out.update(mem)
    if report.batch == 1:
        return out
    from .dims import simplify_int

    for key in ("macs", "flops", "activations"):
        v = out[key]
        if type(v) is int:
            out[key] = v // report.batch
        elif v is not None:
            out[key] = simplify_int(v / report.batch)
    return out


def expectations(report, options: dict | None = None
                 ) -> list[tuple[str, Any, Any, bool | None]]:
    """(quantity, declared, computed, ok) for each declared expectation, as values: a Bound,
    a shape list or a list of Bounds declared; a count, a shape list or RF sizes computed.
    ``expect:`` is about the network as declared, as ``convcalc check`` reads it: per sample
    (under ``--batch`` the per-sample values are compared) and on the YAML's input (under
    ``--input`` nothing is compared: ok is None)."""
    compared = not report.input_override
    failed = {f.what for f in check_report(report, options=options)} if compared else set()
    expect = parse_expect(report.expect, report.bindings)
    totals = declared_totals(report, options, expect)
    rows = []
    for key, (want, _) in expect.items():
        if key == "output":
            computed = list(report.output.dims)
        elif key == "rf":
            computed = list(report.rf.size)
        elif key == "sizes":
            want, computed = want.text(), _sizes(report).text(ascii=True)
        else:
            computed = totals[key]
        rows.append((key, want, computed, key not in failed if compared else None))
    return rows


def check_report(report, budgets: dict[str, int] | None = None, *,
                 options: dict | None = None) -> list[Finding]:
    """Compare a walked network with its ``expect:`` (about the network as declared: per
    sample, on the YAML's input, with ``--set`` bindings) and with command-line budgets
    (the memory budgets at the report's batch). ``options``: dtype and optimizer (SPEC §8)."""
    findings: list[Finding] = []
    expect = parse_expect(report.expect, report.bindings)
    totals = declared_totals(report, options, expect)
    for key, (want, loc) in expect.items():
        if key == "output":
            actual = list(report.output.dims)
            if len(actual) != len(want) or not all(
                    provably_equal(a, w) for a, w in zip(actual, want)):
                findings.append(Finding(loc, "output", f"output shape: expected "
                                        f"{_shape(want)}, got {_shape(actual)}", want,
                                        actual))
        elif key == "rf":
            sizes = list(report.rf.size)
            wants = want if isinstance(want, list) else [want] * len(sizes)
            if len(wants) != len(sizes):
                findings.append(Finding(loc, "rf", f"rf: expected {len(wants)} "
                                        f"{'axis' if len(wants) == 1 else 'axes'}, the "
                                        f"network has {len(sizes)}", want, sizes))
                continue
            if any(s is None for s in sizes):
                # adaptive pooling or resizing to a size on a symbolic input, or branches that
                # move at different rates: the field has no value to compare (README, rf)
                names = sorted(set().union(*(free_names(d) for d in report.input.spatial)))
                findings.append(Finding(loc, "rf", "receptive field: unknown here (it depends "
                                        "on the input size)" + (
                                            f"; bind {' and '.join(names)} with --set"
                                            if names else ""), want, sizes))
                continue
            bad = [(w, s) for w, s in zip(wants, sizes)
                   if is_symbolic(s) or not (s == int(s) and w.holds(int(s)))]
            if bad:
                findings.append(Finding(loc, "rf", "receptive field: expected "
                                        + " × ".join(w.text() for w in wants) + ", got "
                                        + " × ".join(fmt(s) for s in sizes), want, sizes))
        elif key == "sizes":
            got = _sizes(report)
            if not want.matches(got):
                findings.append(Finding(loc, "sizes", f"input sizes: expected {want.text()}, "
                                        f"got {got.text(ascii=True)}", want.text(),
                                        got.text(ascii=True)))
        else:
            findings.extend(_compare(key, want, totals[key], loc, report))
    budgets = budgets or {}
    if any(k in BYTE_KEYS for k in budgets):
        mem = memory_totals(report, options, training="train_memory" in budgets)
    for key, limit in budgets.items():
        actual = mem[key] if key in BYTE_KEYS else report.totals[key]
        findings.extend(_compare(key, Bound(max=limit), actual, None, report, budget=True))
    return findings


# the budget options (SPEC §1.3, §8) and how findings name the quantities
BUDGET_OPTIONS = {"params": "--max-params", "macs": "--max-macs", "flops": "--max-flops",
                  "peak_memory": "--max-memory", "train_memory": "--max-train-memory"}
LABELS = {"macs": "MACs", "flops": "FLOPs", "peak_memory": "peak memory",
          "train_memory": "train memory", "train_macs": "train MACs"}


def _amount(key: str, value: int) -> str:
    if key in BYTE_KEYS:
        from .render.memory import human_bytes

        return f"{value:,} B ({human_bytes(value)})"
    return f"{value:,}"


def _sizes(report):
    """The network's valid input sizes, every spatial axis the same n (SPEC §6)."""
    from .sizes import analyse

    return analyse(report.spec, sets=report.bindings)


def _example_size(report, names) -> int:
    """A size to suggest binding a symbol to: the valid size nearest 224 (U-Net's nearest
    is 220: 224 would stop at a concat)."""
    from .errors import ConvcalcError
    from .sizes import nearest_valid, symbol_rules

    try:
        rules = dict(symbol_rules(report.spec, sets=report.bindings) or [])
    except ConvcalcError:
        return 224
    rule = rules.get(names[0])
    best = None if rule is None else nearest_valid(rule, 224)
    return 224 if best is None else best


def _compare(key: str, want: Bound, actual: Any, loc, report=None,
             budget: bool = False) -> list[Finding]:
    label = LABELS.get(key, key)
    if actual is None or is_symbolic(actual):
        names = sorted(free_names(actual)) if actual is not None else []
        example = 224 if report is None or report.spec is None or not names else \
            _example_size(report, names)
        bind = (f"bind {' and '.join(names)} with --set, e.g. --set {names[0]}={example}"
                if names
                else "declare it for a numeric input")
        return [Finding(loc, key, f"{label}: cannot check a symbolic value "
                                  f"({fmt(actual)}); {bind}",
                    want.max if budget else want, actual)]
    if want.holds(actual):
        return []
    if budget:
        return [Finding(loc, key, f"{label} {_amount(key, actual)} is over the budget "
                                  f"{BUDGET_OPTIONS[key]} {_amount(key, want.max)} (by "
                                  f"{actual - want.max:,})", want.max, actual)]
    diff = ""
    if want.exact is not None:
        diff = f" (off by {actual - want.exact:+,})"
    unit = " B" if key in BYTE_KEYS else ""
    return [Finding(loc, key, f"{label}: expected {want.text()}{unit}, got "
                              f"{_amount(key, actual)}{diff}", want, actual)]


def _shape(dims) -> str:
    return "[" + ", ".join(fmt(d) for d in dims) + "]"


@dataclass(frozen=True)
class CheckResult:
    file: str
    status: str  # ok | failed | invalid
    findings: tuple[Finding, ...] = ()
    report: Any = None
    error: Any = None  # the ConvcalcError that made the file invalid
    bound: tuple[str, ...] = ()  # the --set names this file declares (and that were bound)


def run_checks(files: list[str], budgets: dict[str, int] | None = None,
               sets: dict[str, int] | None = None, *, batch: int = 1,
               options: dict | None = None) -> list[CheckResult]:
    """Every file checked (all of them, even after a failure). A ``--set`` name that no file
    declares is a usage error (unless a file is invalid: it may be the one that declares it)."""
    results = [run_check(f, budgets, sets, batch=batch, options=options) for f in files]
    bound = {name for r in results for name in r.bound}
    unbound = [name for name in sets or {} if name not in bound]
    if unbound and not any(r.status == "invalid" for r in results):
        where = results[0].file if len(results) == 1 else "any of the files"
        raise SpecError(f"--set {unbound[0]}: no var or input symbol of that name in {where}")
    return results


def run_check(path: str, budgets: dict[str, int] | None = None,
              sets: dict[str, int] | None = None, *, batch: int = 1,
              options: dict | None = None) -> CheckResult:
    """Load, walk and check one file; every user error becomes an 'invalid' result.
    ``sets`` binds the vars and input symbols this file declares; the others are left to the
    other files (the caller reports a name no file declares)."""
    from .errors import ConvcalcError
    from .spec import STDIN, STDIN_NAME, load
    from .walk import settable_names, walk

    file = STDIN_NAME if path == STDIN else path
    bound: tuple[str, ...] = ()
    try:
        net = load(path)
        names = settable_names(net)
        bound = tuple(k for k in (sets or {}) if k in names)
        report = walk(net, sets={k: sets[k] for k in bound}, batch=batch)
        findings = check_report(report, budgets, options=options)
    except ConvcalcError as err:
        if err.loc is None:
            err.loc = Loc(file)
        return CheckResult(file, "invalid", error=err, bound=bound)
    except RecursionError:
        err = SpecError("nested too deeply", loc=Loc(file, 1, 1))
        return CheckResult(file, "invalid", error=err, bound=bound)
    return CheckResult(file, "failed" if findings else "ok", tuple(findings), report,
                       bound=bound)
