"""Read-back: every formula convcalc prints is a Python expression that evaluates, with Python's
integer semantics (``//``, ``%``, ``*``, ``+``, ``-``, ``**``, parentheses), to exactly the
number convcalc computes when the symbols are bound (``--set H=…``).

Formulas are read back by a small evaluator written here (an ``ast`` walker over ints and
names — no ``eval``), from the text of every renderer: ``net`` as JSON, CSV, Markdown and the
plain table, and ``layer`` as JSON and table. The numbers they must equal come from the same
renderers on the numeric walk (the same network with the symbols bound), never from the
symbolic expression itself. Receptive-field jumps and centres may be fractions; only there is
``/`` read, as exact division.

Random networks are hypothesis-generated (derandomized, like tests/test_properties.py): a
symbolic input ``[C, H]`` or ``[C, H, W]`` through conv, pools (ceil mode too), adaptive pools,
upsample, transposed conv, crop/pad, element-wise ops, residuals, parallel merges, U-Net skips
and flatten + linear. Where the symbolic walk assumes two sizes equal (``2*(H//2) = H``), only
the bindings the numeric walk accepts are checked — and there both sides of the assumption
must read back equal.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import sys
from contextlib import redirect_stdout
from dataclasses import replace
from fractions import Fraction

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convcalc import render
from convcalc.core import RF, Shape
from convcalc.dims import fmt, substitute, symbol
from convcalc.errors import ConvcalcError
from convcalc.spec import parse
from convcalc.walk import collapse, layer_report, walk

READBACK = settings(derandomize=True, max_examples=250, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# -- a tiny safe evaluator --------------------------------------------------------------------

def read_back(text: str, env: dict[str, int], *, division: bool = False):
    """Evaluate a printed formula with Python's integer operators. ``division``: also read
    ``/`` as exact division (receptive-field jumps and centres are fractions)."""
    tree = ast.parse(text.strip(), mode="eval")

    def ev(node):
        if isinstance(node, ast.Constant) and type(node.value) is float and division:
            return Fraction(node.value)  # a field's centre: a half-integer such as 0.5
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            op = type(node.op)
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            if op is ast.FloorDiv:
                return a // b
            if op is ast.Mod:
                return a % b
            if op is ast.Pow and type(b) is int and b >= 0:
                return a ** b
            if op is ast.Div and division:
                return Fraction(a) / Fraction(b)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("min", "max") and not node.keywords and node.args):
            return (min if node.func.id == "min" else max)(ev(a) for a in node.args)
        raise ValueError(f"not an integer formula: {text!r} ({ast.dump(node)[:60]})")

    return ev(tree.body)


def number(text: str):
    """A number as the numeric run prints it: 1,234 or 7 or 111.5 or 1/2; None for a dash."""
    text = text.strip()
    if text in ("—", ""):
        return None
    if "/" in text or "." in text:
        return Fraction(text)
    return int(text.replace(",", ""))


def unmark(text: str) -> str:
    """Markdown → plain: bold, code spans and escapes go."""
    text = text.strip()
    if text.startswith("**") and text.endswith("**") and len(text) >= 4:
        text = text[2:-2]
    text = text.strip("`")
    return re.sub(r"\\([\\`*_|<>\[\]#+-])", r"\1", text)


class Checker:
    """Compares printed symbolic values with printed numeric ones, for one binding."""

    def __init__(self, env: dict[str, int]):
        self.env = env
        self.checked = 0

    def value(self, what: str, sym: str, num: str, *, division: bool = False) -> None:
        want = number(num)
        sym = sym.strip()
        if want is None or sym in ("—", ""):
            assert sym == num.strip(), (what, sym, num)
            return
        if re.fullmatch(r"\d{1,3}(,\d{3})+", sym):  # a plain number, with separators
            got = int(sym.replace(",", ""))
        else:
            got = read_back(sym, self.env, division=division)
        assert Fraction(got) == Fraction(want), (
            f"{what}: {sym!r} reads back as {got} at {self.env}, the numeric run says {want}")
        self.checked += 1

    def dims(self, what: str, sym: str, num: str, *, division: bool = False) -> None:
        """A shape or a per-axis field: values joined by ×."""
        sparts, nparts = sym.split("×"), num.split("×")
        assert len(sparts) == len(nparts), (what, sym, num)
        for i, (s, n) in enumerate(zip(sparts, nparts)):
            self.value(f"{what}[{i}]", s, n, division=division)

    def assumption(self, text: str) -> None:
        left, right = text.split(" = ")
        a, b = read_back(left, self.env), read_back(right, self.env)
        assert a == b, f"assumes {text}, but at {self.env} it is {a} = {b}"
        self.checked += 1


# -- the renderers' text, taken apart ---------------------------------------------------------

SKIP_JSON = {"schema", "name", "file", "path", "op", "conventions", "assumptions", "expect",
             "index", "batch", "change"}


def compare_json(check: Checker, sym, num, where: str = "") -> None:
    if isinstance(sym, dict):
        assert isinstance(num, dict) and set(sym) == set(num), where
        for key in sym:
            if key not in SKIP_JSON:
                compare_json(check, sym[key], num[key], f"{where}.{key}")
    elif isinstance(sym, list):
        assert isinstance(num, list) and len(sym) == len(num), where
        for i, (s, n) in enumerate(zip(sym, num)):
            compare_json(check, s, n, f"{where}[{i}]")
    elif isinstance(sym, str):
        assert num is None or isinstance(num, (int, float, str)), (where, num)
        check.value(where, sym, "—" if num is None else str(num),
                    division=".rf." in where + ".")
    else:
        assert sym == num, (where, sym, num)


def table_cells(lines: list[str]) -> list[list[str]]:
    """Split a plain table (columns two spaces apart, padded) into cells: a column gap is a
    run of two or more positions that are blank on every line. Cells have no double spaces."""
    width = max(map(len, lines))
    lines = [ln.ljust(width) for ln in lines]
    blank = [all(ln[i] == " " for ln in lines) for i in range(width)]
    cuts, i = [], 0
    while i < width:
        if blank[i]:
            j = i
            while j < width and blank[j]:
                j += 1
            if j - i >= 2:
                cuts.append((i, j))
            i = j
        else:
            i += 1
    starts = [0] + [j for _, j in cuts]
    ends = [i for i, _ in cuts] + [width]
    return [[ln[a:b].strip() for a, b in zip(starts, ends)] for ln in lines]


def net_texts(report, rows) -> dict[str, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        render.print_net(report, rows)
    return {"json": render.net_json(report, rows), "csv": render.net_csv(report, rows),
            "markdown": render.net_markdown(report, rows), "table": out.getvalue()}


def compare_net(check: Checker, sym: dict[str, str], num: dict[str, str]) -> None:
    # JSON: every value in the document
    compare_json(check, json.loads(sym["json"]), json.loads(num["json"]))
    sj = json.loads(sym["json"])
    for a in sj["assumptions"]:
        check.assumption(a)

    # CSV: shapes, counts and fields of every row and the total row
    srows = list(csv.reader(io.StringIO(sym["csv"])))
    nrows = list(csv.reader(io.StringIO(num["csv"])))
    assert len(srows) == len(nrows) and srows[0] == nrows[0]
    head = srows[0]
    for srow, nrow in zip(srows[1:], nrows[1:]):
        for col in range(4, len(head)):
            check.dims(f"csv {srow[1]} {head[col]}", srow[col], nrow[col],
                       division=head[col].startswith("rf_"))

    # Markdown: the summary line and every table cell past path and op
    smd, nmd = sym["markdown"].splitlines(), num["markdown"].splitlines()
    assert len(smd) == len(nmd)
    summary = re.compile(r"\*\*.*\*\*: (.*) → (.*) — params (.*), MACs (.*), FLOPs (.*)$")
    sm, nm = summary.match(smd[0]), summary.match(nmd[0])
    assert sm and nm, (smd[0], nmd[0])
    for i, name in enumerate(("input", "output", "params", "MACs", "FLOPs")):
        check.dims(f"markdown summary {name}", unmark(sm[i + 1]), unmark(nm[i + 1]))
    for sline, nline in zip(smd, nmd):
        if not sline.startswith("| ") or sline.startswith("| #"):
            continue
        scells = [unmark(c) for c in re.split(r"(?<!\\)\|", sline)[1:-1]]
        ncells = [unmark(c) for c in re.split(r"(?<!\\)\|", nline)[1:-1]]
        assert len(scells) == len(ncells) == len(render.NET_COLUMNS), sline
        for col in range(3, len(scells)):
            check.dims(f"markdown {scells[1]} {render.NET_COLUMNS[col]}", scells[col],
                       ncells[col], division=render.NET_COLUMNS[col].startswith("RF"))

    # the table: title, every cell but path, op and the bar, the activations/field line
    stext, ntext = sym["table"].splitlines(), num["table"].splitlines()
    title = re.compile(r"[^:]*: (.*) → (.*?)(, batch \d+)?$")
    st_, nt_ = title.match(stext[0]), title.match(ntext[0])
    assert st_ and nt_, (stext[0], ntext[0])
    check.dims("title input", st_[1], nt_[1])
    check.dims("title output", st_[2], nt_[2])
    end = next(i for i, ln in enumerate(stext) if ln.startswith("activations: "))
    assert ntext[end].startswith("activations: ")  # the same rows; only assumptions differ
    scells, ncells = table_cells(stext[1:end]), table_cells(ntext[1:end])
    header = scells[0]
    assert header == ncells[0] and len(header) == len(render.NET_COLUMNS) + 1, header
    for srow, nrow in zip(scells[1:], ncells[1:]):
        for col, name in enumerate(header):
            if name in ("input", "output", "params", "MACs", "FLOPs", "RF size", "RF jump"):
                check.dims(f"table {srow[1]} {name}", srow[col], nrow[col],
                           division=name.startswith("RF"))
    foot = re.compile(r"activations: (.*)   receptive field: size (.*), jump (.*)$")
    sa, na = foot.match(stext[end]), foot.match(ntext[end])
    check.value("table activations", sa[1], na[1])
    check.dims("table RF size", sa[2], na[2], division=True)
    check.dims("table RF jump", sa[3], na[3], division=True)
    for line in stext[end + 1:]:
        m = re.match(r"assumes (.*) \(symbolic sizes", line)
        if m:
            check.assumption(m[1])


# -- the issue's case, by hand ---------------------------------------------------------------

ISSUE = "input: [1, H]\nlayers:\n  - maxpool: {k: 2}\n  - adaptive_avgpool: {out: 2}\n"


def test_issue_case_reads_back_to_the_numeric_total():
    report = walk(parse(ISSUE, "issue.yaml"))
    flops = report.totals["flops"]
    text = json.loads(render.net_json(report, report.rows))["totals"]["flops"]
    assert text == fmt(flops)
    # H = 6: maxpool k=2 gives 6//2 = 3 outputs, (2 - 1) comparison each: 3 FLOPs;
    # adaptive avgpool to 2 on 3: windows [0, 2) and [1, 3), 2 + 2 = 4 adds/divides
    expected = 3 * (2 - 1) + (2 + 2)
    assert read_back(text, {"H": 6}) == expected
    assert walk(parse(ISSUE, "issue.yaml"), sets={"H": 6}).totals["flops"] == expected
    # and for every H the numeric walk accepts
    for h in range(2, 60):
        numeric = walk(parse(ISSUE, "issue.yaml"), sets={"H": h})
        assert read_back(text, {"H": h}) == numeric.totals["flops"], h
    # all four renderers agree on H = 6
    check = Checker({"H": 6})
    numeric = walk(parse(ISSUE, "issue.yaml"), sets={"H": 6})
    numeric, rows = align_rf(report, report.rows, numeric, numeric.rows, {"H": 6})
    compare_net(check, net_texts(report, report.rows), net_texts(numeric, rows))
    assert check.checked > 20


# -- the printer, case by case ---------------------------------------------------------------

def _cases():
    import sympy as sp

    H, W = symbol("H"), symbol("W")
    f, c = sp.floor, sp.ceiling
    return [
        ("floor((H - 1)/2) + 1", f((H - 1) / 2) + 1, "(H - 1)//2 + 1"),
        ("floor(H/2)", f(H / 2), "H//2"),
        ("-floor(H/4)", -f(H / 4), "-(H//4)"),
        ("floor(-H/4)", f(-H / 4), "-((H + 3)//4)"),
        ("floor(-floor(H/2)/2)", f(-f(H / 2) / 2), "-((H//2 + 1)//2)"),
        ("-floor(-floor(H/2)/2)", -f(-f(H / 2) / 2), "(H//2 + 1)//2"),
        ("2*floor(H/2)", 2 * f(H / 2), "2*(H//2)"),
        ("-2*floor(H/2)", -2 * f(H / 2), "-2*(H//2)"),
        ("floor(H/2) - H", f(H / 2) - H, "H//2 - H"),
        ("-H - 1", -H - 1, "-H - 1"),
        ("ceiling(H/3)", c(H / 3), "(H + 2)//3"),
        ("ceiling(-H/3)", c(-H / 3), "-(H//3)"),
        ("ceiling(H/2 + 1/3)", c(H / 2 + sp.Rational(1, 3)), "(3*H + 7)//6"),
        ("floor((1 - H)/3)", f((1 - H) / 3), "-((H + 1)//3)"),
        ("ceiling((H - 1)/2) * W", c((H - 1) / 2) * W, "W*(H//2)"),
        ("H*floor(-H/2)", H * f(-H / 2), "-H*((H + 1)//2)"),
        ("floor(3*floor(H/2)/4)", f(3 * f(H / 2) / 4), "(3*(H//2))//4"),
        ("floor(H**2/4)", f(H**2 / 4), "H**2//4"),
        ("floor(H/2)**2", f(H / 2) ** 2, "(H//2)**2"),
        ("Mod(H, 3)", sp.Mod(H, 3), "H%3"),
        ("-Mod(H, 3)", -sp.Mod(H, 3), "-(H%3)"),
        ("3*Mod(H, 2) + 1", 3 * sp.Mod(H, 2) + 1, "3*(H%2) + 1"),
        ("Max(H, W)", sp.Max(H, W), "max(H, W)"),
        ("Min(H, floor(W/2))", sp.Min(H, f(W / 2)), "min(H, W//2)"),
        ("the issue's total", -f(H / 4) + 2 * f(H / 2) - f(-f(H / 2) / 2),
         "2*(H//2) - H//4 + (H//2 + 1)//2"),
        ("H*W", H * W, "H*W"),
        ("7152*(floor(H/2) + 1)*W", 7152 * (f(H / 2) + 1) * W, "W*(7152*(H//2) + 7152)"),
    ]


CASES = _cases()


@pytest.mark.parametrize("expr,printed", [(e, p) for _, e, p in CASES],
                         ids=[name for name, _, _ in CASES])
def test_printer(expr, printed):
    assert fmt(expr) == printed
    for h in range(1, 30):
        for w in (1, 2, 5, 8):
            env = {"H": h, "W": w}
            assert read_back(printed, env) == substitute(expr, env), env


@pytest.mark.parametrize("expr,printed", [
    ("H/2 - 1/2", "H/2 - 1/2"),  # a receptive field's centre
    ("3*floor(H/2)/2", "3*(H//2)/2"),
])
def test_printer_fractions_read_back_with_exact_division(expr, printed):
    import sympy as sp

    H = symbol("H")
    e = sp.sympify(expr, locals={"H": H})
    assert fmt(e) == printed
    for h in range(1, 30):
        assert read_back(printed, {"H": h}, division=True) == substitute(e, {"H": h})


def test_printer_random_floor_sums_read_back():
    """Sums of signed multiples of nested floors and ceilings, checked over a range of H."""
    import random

    import sympy as sp

    H = symbol("H")
    rng = random.Random(7)
    for _ in range(80):
        e = 0
        for _ in range(rng.randint(1, 4)):
            inner = rng.choice([H, H - rng.randint(0, 3), sp.floor(H / rng.randint(2, 4))])
            kind = rng.choice([sp.floor, sp.ceiling])
            term = kind(rng.choice([1, -1]) * rng.randint(1, 3) * inner / rng.randint(1, 5))
            if rng.random() < 0.3:
                term = kind(term / rng.randint(2, 3))
            e += rng.randint(-3, 3) * term + rng.randint(-2, 2)
        text = fmt(e)
        for h in range(1, 25):
            assert read_back(text, {"H": h}) == substitute(e, {"H": h}), (e, text, h)


# -- random symbolic networks ----------------------------------------------------------------

def _axes(draw, rank, values):
    """One value for every axis, or a list with one per axis."""
    if rank > 1 and draw(st.booleans()):
        return [draw(values) for _ in range(rank)]
    return draw(values)


@st.composite
def window_op(draw, rank, c):
    op = draw(st.sampled_from(("conv", "conv", "maxpool", "avgpool", "deconv")))
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    if op in ("maxpool", "avgpool"):
        args = {"k": k, "s": s, "p": draw(st.integers(0, k // 2)), "ceil": draw(st.booleans())}
        if op == "maxpool":
            args["d"] = draw(st.integers(1, 2))
        return {op: args}, c
    out = draw(st.integers(1, 4))
    args = {"out": out, "k": k, "s": s, "d": draw(st.integers(1, 2)),
            "bias": draw(st.booleans())}
    if op == "conv" and s == 1 and draw(st.booleans()):
        args["p"] = "same"
    else:
        args["p"] = _axes(draw, rank, st.integers(0, 2))
    if op == "deconv":
        args["op"] = draw(st.integers(0, max(s, args["d"]) - 1))
    return {op: args}, out


@st.composite
def plain_op(draw, rank, c):
    """Ops with one input: windows, adaptive pools, resampling, crop/pad, element-wise."""
    kind = draw(st.sampled_from(("window", "window", "window", "adaptive", "upsample", "crop",
                                 "pad", "elementwise")))
    if kind == "window":
        return draw(window_op(rank, c))
    if kind == "adaptive":
        op = draw(st.sampled_from(("adaptive_avgpool", "adaptive_maxpool")))
        return {op: {"out": _axes(draw, rank, st.integers(1, 4))}}, c
    if kind == "upsample":
        if draw(st.booleans()):
            mode = draw(st.sampled_from(("nearest", {1: "linear", 2: "bilinear"}[rank])))
            return {"upsample": {"scale": _axes(draw, rank, st.integers(1, 3)),
                                 "mode": mode}}, c
        return {"upsample": {"size": _axes(draw, rank, st.integers(1, 9))}}, c
    if kind in ("crop", "pad"):
        return {kind: {"p": _axes(draw, rank, st.integers(0, 2))}}, c
    return draw(st.sampled_from(("relu", "bn", "sigmoid", "softmax", "gelu"))), c


@st.composite
def sequence(draw, rank, c, depth, max_size=3):
    items = []
    for _ in range(draw(st.integers(1, max_size))):
        item, c = draw(any_item(rank, c, depth))
        items.append(item)
    return items, c


@st.composite
def any_item(draw, rank, c, depth):
    kind = draw(st.sampled_from(("plain",) * 5 + (("residual", "parallel", "unet")
                                                   if depth < 2 else ())))
    if kind == "plain":
        item, c = draw(plain_op(rank, c))
        if draw(st.integers(0, 9)) == 0:
            item = {**item, "times": 2} if isinstance(item, dict) else {item: None, "times": 2}
        return item, c
    if kind == "residual":
        # a size-keeping body, or a strided one with a strided shortcut
        if draw(st.booleans()):
            body, bc = draw(sequence(rank, c, depth + 1, 2))
            shortcut, sc = draw(sequence(rank, c, depth + 1, 1))
            if bc != sc:
                body.append({"conv": {"out": sc, "k": 1}})
            return {"residual": {"body": body, "shortcut": shortcut}}, sc
        k = draw(st.sampled_from((1, 3, 5)))
        body = [{"conv": {"out": c, "k": k, "p": k // 2}}, "relu"]
        return {"residual": {"body": body}}, c
    if kind == "parallel":
        merge = draw(st.sampled_from(("concat", "add", "mul")))
        branches, outs = [], []
        for _ in range(draw(st.integers(2, 3))):
            if draw(st.integers(0, 3)) == 0:
                branches.append([])
                outs.append(c)
                continue
            branch, bc = draw(sequence(rank, c, depth + 1, 2))
            if merge != "concat" and bc != c:
                branch.append({"conv": {"out": c, "k": 1}})
                bc = c
            branches.append(branch)
            outs.append(bc)
        return {"parallel": {"branches": branches, "merge": merge}}, (
            sum(outs) if merge == "concat" else c)
    # a U-Net skip: save, go down, come back up, concat
    name = f"skip{draw(st.integers(0, 10**6))}"
    s = draw(st.integers(2, 3))
    down = draw(st.sampled_from(({"maxpool": {"k": s}},
                                 {"conv": {"out": c, "k": 3, "s": s, "p": 1}},
                                 {"avgpool": {"k": s, "ceil": True}})))
    up = draw(st.sampled_from(({"upsample": {"scale": s}},
                               {"deconv": {"out": c, "k": s, "s": s}})))
    return {"sequence_unet": [{"identity": None, "name": name}, down, up,
                              {"concat": [name]}]}, 2 * c


def _flatten_unet(items: list) -> list:
    out = []
    for it in items:
        if isinstance(it, dict) and "sequence_unet" in it:
            out.extend(it["sequence_unet"])
        elif isinstance(it, dict) and "residual" in it:
            r = it["residual"]
            out.append({"residual": {k: _flatten_unet(v) for k, v in r.items()}})
        elif isinstance(it, dict) and "parallel" in it:
            p = it["parallel"]
            out.append({"parallel": {"branches": [_flatten_unet(b) for b in p["branches"]],
                                     "merge": p["merge"]}})
        else:
            out.append(it)
    return out


@st.composite
def networks(draw):
    rank = draw(st.integers(1, 2))
    channels = draw(st.integers(1, 3))
    items, _ = draw(sequence(rank, channels, 0, 4))
    tail = draw(st.sampled_from(("", "", "adaptive", "adaptive", "gap", "flatten")))
    if tail == "adaptive":  # sums of signed floors: where a negated floor shows (issue 7.5)
        op = draw(st.sampled_from(("adaptive_avgpool", "adaptive_maxpool")))
        items.append({op: {"out": _axes(draw, rank, st.integers(2, 5))}})
    elif tail:
        items += [tail] + (["flatten"] if tail == "gap" else []) + [{"linear": {"out": 3}}]
    symbols = ["H", "W"][:rank]
    doc = {"input": [channels, *symbols],
           "layers": _flatten_unet(items)}
    return yaml.safe_dump(doc, sort_keys=False), symbols


def align_rf(sym_report, sym_rows, num_report, num_rows, env):
    """Where the symbolic walk cannot know a layer's field (adaptive pooling or upsampling to a
    size depend on the bound size: README, receptive field — shown as — and null), the numeric
    side gets the symbolic field (unknown stays unknown, anything else bound by sympy, not by
    the printer); everywhere else it keeps its own, and its printed formula is read back."""
    def bound(rf):
        return RF(*(tuple(None if v is None else substitute(v, env) for v in getattr(rf, f))
                    for f in ("size", "jump", "start")), rf.whole)

    rows = tuple(replace(n, rf=bound(s.rf)) if _unknowable(s.rf, n.rf) else n
                 for s, n in zip(sym_rows, num_rows))
    if _unknowable(sym_report.rf, num_report.rf):
        num_report = replace(num_report, rf=bound(sym_report.rf))
    return num_report, rows


def _unknowable(sym_rf, num_rf) -> bool:
    return (sym_rf.whole and not num_rf.whole) or any(v is None for v in sym_rf.size)


def _numeric(text: str, env: dict[str, int], batch: int):
    try:
        return walk(parse(text, "net.yaml"), sets=env, batch=batch)
    except ConvcalcError:
        return None


STATS = {"networks": 0, "bindings": 0, "values": 0, "layers": 0, "layer values": 0}


@READBACK
@given(networks(), st.lists(st.tuples(st.integers(1, 48), st.integers(1, 48)), min_size=5,
                            max_size=5),
       st.sampled_from((None, None, None, 0)), st.sampled_from((1, 1, 1, 2)))
def test_random_symbolic_networks_read_back(net, sizes, depth, batch):
    text, symbols = net
    try:
        report = walk(parse(text, "net.yaml"), batch=batch)
    except ConvcalcError:
        assume(False)  # channels that do not match whatever the size, and the like
        return
    rows = report.rows if depth is None else collapse(report, depth)
    sym = net_texts(report, rows)
    checked = 0
    for h, w in sizes:
        env = dict(zip(symbols, (h, w)))
        numeric = _numeric(text, env, batch)
        if numeric is None:
            continue  # PyTorch would refuse this input size too
        nrows = numeric.rows if depth is None else collapse(numeric, depth)
        numeric, nrows = align_rf(report, rows, numeric, nrows, env)
        check = Checker(env)
        compare_net(check, sym, net_texts(numeric, nrows))
        checked += check.checked
        STATS["bindings"] += 1
    STATS["networks"] += 1
    STATS["values"] += checked
    assume(checked)


# -- convcalc layer with a symbolic --n ------------------------------------------------------

LAYER_OPS = ("conv", "deconv", "maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool",
             "upsample", "dwconv", "sepconv", "spatial_sepconv", "flatconv", "deformconv",
             "pad", "crop", "gap", "se", "relu", "bn", "pixel_shuffle")


@st.composite
def layer_cases(draw):
    op = draw(st.sampled_from(LAYER_OPS))
    rank = 2 if op in ("spatial_sepconv", "flatconv") else draw(st.integers(1, 2))
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    cin = draw(st.integers(1, 4))
    args: dict = {}
    if op in ("conv", "deconv", "dwconv", "sepconv", "deformconv"):
        args = {"k": k, "s": s, "p": draw(st.integers(0, 2)), "d": draw(st.integers(1, 2))}
        if op == "deconv":
            args["op"] = draw(st.integers(0, max(s, args["d"]) - 1))
    elif op in ("spatial_sepconv",):
        args = {"k": k, "s": s, "p": draw(st.integers(0, 2))}
    elif op == "flatconv":
        args = {"k": k, "p": draw(st.integers(0, 2))}
    elif op in ("maxpool", "avgpool"):
        args = {"k": k, "s": s, "p": draw(st.integers(0, k // 2)), "ceil": draw(st.booleans())}
    elif op.startswith("adaptive"):
        args = {"out": draw(st.integers(1, 4))}
    elif op == "upsample":
        args = {"scale": draw(st.integers(1, 3)),
                "mode": draw(st.sampled_from(("nearest", {1: "linear", 2: "bilinear"}[rank])))}
    elif op in ("pad", "crop"):
        args = {"p": draw(st.integers(0, 2))}
    elif op == "se":
        args = {"reduction": 1}
    elif op == "pixel_shuffle":
        args = {"r": 1}
    cout = draw(st.integers(1, 4)) if op in ("conv", "deconv", "sepconv", "spatial_sepconv",
                                              "flatconv", "deformconv") else None
    if cout is not None:
        args["out"] = cout
    return op, rank, cin, args


def layer_texts(rep) -> dict[str, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        render.print_layer(rep)
    return {"json": render.layer_json(rep), "table": out.getvalue()}


def compare_layer(check: Checker, sym: dict[str, str], num: dict[str, str]) -> None:
    sj, nj = json.loads(sym["json"]), json.loads(num["json"])
    formulas = sj.pop("formula"), nj.pop("formula")
    sj.pop("args"), nj.pop("args")
    compare_json(check, sj, nj)
    assert len(formulas[0]) == len(formulas[1])
    for s, n in zip(*formulas):  # "H: floor(...) + 1 = (H - 1)//2 + 1": the result after =
        if " = " in s and " = " in n:
            check.value(f"formula {s}", s.rsplit(" = ", 1)[1], n.rsplit(" = ", 1)[1])
    # the table: the value column of the result rows (a long symbolic value stands on a line
    # of its own, its notes below, so rows are matched by label, not by line)
    srows, nrows = layer_values(sym["table"]), layer_values(num["table"])
    assert srows.keys() == nrows.keys()
    for label, value in srows.items():
        if label in ("output", "RF size", "RF jump", "RF start"):
            check.dims(f"layer table {label}", value, nrows[label],
                       division=label.startswith("RF"))
        elif label in ("params", "MACs", "FLOPs"):
            check.value(f"layer table {label}", value, nrows[label])


LAYER_ROW = re.compile(r"^(output|params|MACs|FLOPs|RF size|RF jump|RF start|RF) +(\S+(?: \S+)*)")


def layer_values(table: str) -> dict[str, str]:
    """``label -> value`` of `convcalc layer`'s table: a label, two or more spaces, the value
    (single spaces inside a formula), then two or more spaces before any note."""
    out = {}
    for line in table.splitlines()[1:-1]:
        m = LAYER_ROW.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


@settings(READBACK, max_examples=400)
@given(layer_cases(), st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=3,
                               max_size=3))
def test_layer_with_symbolic_n_reads_back(case, sizes):
    op, rank, cin, args = case
    names = ["H", "W"][:rank]
    try:
        rep = layer_report(op, Shape(cin, tuple(symbol(n) for n in names)), args)
    except ConvcalcError:
        assume(False)
        return
    sym = layer_texts(rep)
    checked = 0
    for h, w in sizes:
        env = dict(zip(names, (h, w)))
        try:
            numeric = layer_report(op, Shape(cin, tuple(env[n] for n in names)), args)
        except ConvcalcError:
            continue
        if _unknowable(rep.rf, numeric.rf):  # see align_rf
            numeric = replace(numeric, rf=RF(*(tuple(None if v is None else substitute(v, env) for v in
                                                     getattr(rep.rf, f))
                                               for f in ("size", "jump", "start")),
                                            rep.rf.whole))
        check = Checker(env)
        compare_layer(check, sym, layer_texts(numeric))
        checked += check.checked
        STATS["layers"] += 1
    STATS["layer values"] += checked
    assume(checked)


def test_the_property_is_not_vacuous():
    """Runs after the property above (file order): it must have compared many values."""
    if STATS["networks"] == 0 or STATS["layers"] == 0:
        pytest.skip("the properties did not run in this session")
    print(STATS, file=sys.stderr)
    assert STATS["bindings"] >= 500 and STATS["values"] >= 50_000, STATS
    assert STATS["layers"] >= 500 and STATS["layer values"] >= 5_000, STATS
