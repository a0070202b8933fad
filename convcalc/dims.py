"""Integer arithmetic over ``int | sympy.Expr`` — the only module that imports sympy.

Every formula in convcalc is written once, over values that are either Python ints or sympy
expressions in positive integer symbols (``H``, ``W``). Plain numbers never touch sympy: it is
imported on first use of a symbol, so a numeric ``convcalc layer`` never pays its import time.

Readable output: floors print as Python floor division, ``(H - 1)//2 + 1``, and a floor of a
floor is merged (``floor(floor(y)/b) = floor(y/b)`` for integer ``b > 0``), so a chain of strided
layers reads ``(H - 1)//4 + 1`` instead of nested floors.
"""

from __future__ import annotations

from fractions import Fraction
from functools import reduce
from typing import Any, Iterable, Union

Dim = Union[int, Any]  # int, or a sympy expression when a size is symbolic

_sp = None


def _sympy():
    global _sp
    if _sp is None:
        import sympy

        _sp = sympy
    return _sp


def symbol(name: str):
    """A size symbol: a positive integer."""
    return _sympy().Symbol(name, integer=True, positive=True)


def is_symbolic(x: Any) -> bool:
    t = type(x)  # exact types first: isinstance on Fraction goes through the ABC machinery
    return not (t is int or t is Fraction or isinstance(x, (int, Fraction)))


def prod(values: Iterable[Dim]) -> Dim:
    return reduce(lambda a, b: a * b, values, 1)


def total(values: list) -> Dim:
    """Sum of sizes or counts; symbolic terms are added in one n-ary sum (a running ``sum``
    re-flattens the expression at every step: quadratic)."""
    if any(is_symbolic(v) for v in values):
        return simplify_int(_sympy().Add(*values))
    return sum(values)


def floordiv(a: Dim, b: int) -> Dim:
    """``a // b`` for a positive integer ``b``; symbolic floors of floors are merged."""
    if isinstance(a, int):
        return a // b
    sp = _sympy()
    terms = sp.Add.make_args(sp.sympify(a))
    floors = [t for t in terms if isinstance(t, sp.floor)]
    rest = [t for t in terms if not isinstance(t, sp.floor)]
    rest_sum = sp.Add(*rest)
    if (len(floors) == 1 and not rest_sum.has(sp.floor, sp.ceiling)
            and rest_sum.is_integer):
        # floor(y) + r = floor(y + r) for integer r, then floor(floor(z)/b) = floor(z/b)
        return sp.floor((floors[0].args[0] + rest_sum) / b)
    return sp.floor(a / b)


def simplify_int(x: Any) -> Dim:
    """Turn a sympy integer back into a Python int; leave everything else alone."""
    if isinstance(x, int):
        return x
    if getattr(x, "is_Integer", False):
        return int(x)
    return x


def substitute(x: Any, env: dict[str, int]) -> Any:
    """Replace symbols by integers (``{"H": 224}``)."""
    if not is_symbolic(x):
        return x
    mapping = {s: env[s.name] for s in x.free_symbols if s.name in env}
    if not mapping:
        return x
    out = x.subs(mapping)
    return simplify_int(out) if out.is_Integer else out


_SAMPLES = (1, 2, 3, 7, 64, 97, 224, 1001)
_EQUAL: dict = {}


def provably_equal(a: Any, b: Any) -> bool:
    """True when two sizes are equal for every value of their symbols.

    ``simplify`` is slow (tens of ms), so first the cheap ways out: structural equality, then
    a few sample points, any of which can prove the sizes different."""
    if not is_symbolic(a) and not is_symbolic(b):
        return a == b
    if a == b:
        return True
    key = (a, b)
    if key not in _EQUAL:
        diff = _sympy().sympify(a - b)
        names = sorted(diff.free_symbols, key=lambda s: s.name)
        if any(diff.subs({s: v for s in names}) != 0 for v in _SAMPLES):
            _EQUAL[key] = False
        else:
            _EQUAL[key] = _sympy().simplify(diff) == 0
    return _EQUAL[key]


def largest_coefficient(x: Any) -> int:
    """The largest numerator or denominator among a symbolic size's numbers."""
    return max((max(abs(a.p), a.q) for a in x.atoms(_sympy().Rational)), default=0)


def complexity(x: Any) -> int:
    """How many operations it takes to write a size (0 for numbers)."""
    return _sympy().count_ops(x) if is_symbolic(x) else 0


def free_names(x: Any) -> set[str]:
    return {s.name for s in x.free_symbols} if is_symbolic(x) else set()


def fmt(x: Any) -> str:
    """Readable text for an int, a Fraction or a symbolic size."""
    if x is None:
        return "?"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return str(x)
    if isinstance(x, Fraction):
        return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
    if isinstance(x, (float, str)):  # real-valued keys (slope=0.01) and enum values (nearest)
        return str(x)
    return _show(x)


# -- a small printer: Python syntax, floor as //, no nested floor(...) calls -------------------

def _atom(x) -> bool:
    return x.is_Symbol or (x.is_Integer and x >= 0)


def _wrap(x) -> str:
    s = _show(x)
    return s if _atom(x) or isinstance(x, _sympy().Pow) else f"({s})"


def _show(x) -> str:
    sp = _sympy()
    if x.is_Integer or x.is_Symbol:
        return str(x)
    if x.is_Rational:
        return f"{x.p}/{x.q}"
    if isinstance(x, sp.floor) or isinstance(x, sp.ceiling):
        num, den = sp.fraction(sp.together(x.args[0]))
        if isinstance(x, sp.floor):
            if den.is_Integer and den > 0:
                return f"{_wrap(num)}//{den}" if den != 1 else _show(num)
            return f"floor({_show(x.args[0])})"
        if den.is_Integer and den > 0:
            return f"ceil({_show(num)}/{den})"
        return f"ceil({_show(x.args[0])})"
    if x.is_Add:
        terms = x.as_ordered_terms()
        out = _show(terms[0])
        for t in terms[1:]:
            if t.could_extract_minus_sign():
                out += " - " + _mul_operand(-t)
            else:
                out += " + " + _mul_operand(t)
        return out
    if x.is_Mul:
        if x.could_extract_minus_sign():
            return "-" + _mul_operand(-x)
        num, den = sp.fraction(x)
        parts = [(_show(f) if (_atom(f) or f.is_Pow) else f"({_show(f)})")
                 for f in sp.Mul.make_args(num)]
        text = "*".join(parts)
        if den != 1:
            text += "/" + (_show(den) if _atom(den) else f"({_show(den)})")
        return text
    if x.is_Pow:
        base, e = x.args
        return f"{_wrap(base) if not base.is_Symbol else base}**{_show(e)}"
    if isinstance(x, (sp.Min, sp.Max)):
        name = "min" if isinstance(x, sp.Min) else "max"
        return f"{name}({', '.join(_show(a) for a in x.args)})"
    return str(x)


def _mul_operand(t) -> str:
    """A term after + or -: floors need no parentheses there, but sums do."""
    s = _show(t)
    return f"({s})" if t.is_Add else s
