"""Integer arithmetic over ``int | sympy.Expr`` — the only module that imports sympy.

Every formula in convcalc is written once, over values that are either Python ints or sympy
expressions in positive integer symbols (``H``, ``W``). Plain numbers never touch sympy: it is
imported on first use of a symbol, so a numeric ``convcalc layer`` never pays its import time.

Readable output that reads back: every formula is a Python expression over ints that gives,
with Python's ``//`` and ``%``, the number convcalc computes once the symbols are bound. Floors
print as floor division, ``(H - 1)//2 + 1``, and a floor of a floor is merged
(``floor(floor(y)/b) = floor(y/b)`` for integer ``b > 0``), so a chain of strided layers reads
``(H - 1)//4 + 1`` instead of nested floors. See the printer below for signs and ceilings.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache, reduce
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


def divisor_totients(n: int) -> list[tuple[int, int]]:
    """``(d, phi(d))`` for every divisor d of n (number theory is sympy's, so it lives here)."""
    sp = _sympy()
    return [(int(d), int(sp.totient(d))) for d in sp.divisors(n)]


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
    return _printed(x)


@lru_cache(maxsize=4096)  # a report prints each size and count several times (rows, totals)
def _printed(x) -> str:
    return _show(x)


# -- a small printer: Python syntax that reads back ----------------------------------------
#
# Every formula convcalc prints is a Python expression over ints that evaluates, with Python's
# ``//`` and ``%``, to the number convcalc computes when the symbols are bound (``--set``).
# Floors print as floor division, ``(H - 1)//2 + 1``; a floor of a negative numerator is the
# negated ceiling, written with ``//`` too: ``floor(-x/b) = -((x + b - 1)//b)``, so no ``//``
# ever follows a unary minus (Python reads ``-H//4`` as ``(-H)//4``, not ``-(H//4)``). A unary
# minus before ``//`` or ``%`` gets parentheses: ``-(H//4)``. Rational coefficients (receptive
# field centres) use true division: ``H/2 - 1/2``. sympy's Min/Max (not made by convcalc today)
# would print as Python's ``min(a, b)``/``max(a, b)``.

_ATOM, _POW, _MUL, _FLOOR, _ADD = "atom", "pow", "mul", "floor", "add"


def _show(x) -> str:
    return _with_sign(*_signed(x))


def _with_sign(neg: bool, text: str, top: str) -> str:
    """A magnitude with its sign: a unary minus binds tighter than ``//`` and ``%``."""
    if not neg:
        return text
    return "-" + (f"({text})" if top in (_FLOOR, _ADD) else text)


def _paren(x, keep: tuple = (_ATOM, _POW)) -> str:
    """``x`` as an operand: parenthesized unless its top operator is one of ``keep``."""
    neg, text, top = _signed(x)
    if not neg and top in keep:
        return text
    return f"({_with_sign(neg, text, top)})"


def _signed(x) -> tuple[bool, str, str]:
    """(negative, text of the magnitude, top operator of that text) for a sympy expression."""
    sp = _sympy()
    if x.is_Integer:
        return x < 0, str(abs(x)), _ATOM
    if x.is_Symbol:
        return False, str(x), _ATOM
    if x.is_Rational:
        return x.p < 0, f"{abs(x.p)}/{x.q}", _MUL
    if isinstance(x, (sp.floor, sp.ceiling, sp.Mod)):
        return _floor_like(x)
    if x.is_Add:
        return False, _add(x), _ADD
    if x.is_Mul or (x.is_Pow and x.exp.is_negative):
        return _product(x)
    if x.is_Pow:
        return False, f"{_paren(x.base, (_ATOM,))}**{_paren(x.exp, (_ATOM,))}", _POW
    if isinstance(x, (sp.Min, sp.Max)):
        name = "min" if isinstance(x, sp.Min) else "max"
        return False, f"{name}({', '.join(_show(a) for a in x.args)})", _ATOM
    return False, str(x), _ATOM  # not made by convcalc's ops (no Piecewise, no Float)


def _add(x) -> str:
    terms = [_signed(t) for t in x.as_ordered_terms()]
    # lead with a positive term when there is one: H//2 - H//4, not -(H//4) + H//2
    lead = next((i for i, (neg, _, _) in enumerate(terms) if not neg), 0)
    terms.insert(0, terms.pop(lead))
    out = _with_sign(*terms[0])
    for neg, text, top in terms[1:]:
        out += (" - " if neg else " + ") + (f"({text})" if top == _ADD else text)
    return out


def _product(x) -> tuple[bool, str, str]:
    """A product: sign (negated floors flip it), factors joined by ``*``, ``/`` denominators."""
    coeff, factors = x.as_coeff_mul()
    neg = coeff < 0
    nums = [str(abs(coeff.p))] if abs(coeff.p) != 1 else []
    dens = [str(coeff.q)] if coeff.q != 1 else []
    parts: list[tuple[str, str]] = []
    for f in factors:
        if f.is_Pow and f.exp.is_negative:
            dens.append(_paren(1 / f, (_ATOM, _POW)))
            continue
        fneg, text, top = _signed(f)
        neg ^= fneg
        parts.append((text, top))
    if len(parts) == 1 and not nums and not dens:
        return (neg,) + parts[0]  # a lone factor keeps its own top operator
    nums += [f"({t})" if top in (_FLOOR, _ADD) else t for t, top in parts]
    text = "*".join(nums) or "1"
    if dens:
        den = dens[0] if len(dens) == 1 else f"({'*'.join(dens)})"
        text += "/" + den
    return neg, text, _MUL


def _floor_like(x) -> tuple[bool, str, str]:
    """floor, ceiling and Mod with ``//`` and ``%``: floor(n/d) = n//d for d > 0;
    ceil(n/d) = (n + d - 1)//d for integer n (else -((-n)//d)); a negative numerator turns one
    into the other: floor(-n/d) = -ceil(n/d)."""
    sp = _sympy()
    if isinstance(x, sp.Mod):  # sympy's Mod takes the divisor's sign, as Python's % does
        a, b = x.args
        return False, f"{_paren(a, (_ATOM,))}%{_paren(b, (_ATOM,))}", _FLOOR
    is_floor = isinstance(x, sp.floor)
    num, den = sp.fraction(sp.together(x.args[0]))
    if den.is_Integer and den < 0:
        num, den = -num, -den
    if not den.is_positive:  # never made by convcalc: sizes are divided by positive integers
        return False, f"{'floor' if is_floor else 'ceil'}({_show(x.args[0])})", _ATOM
    neg = num.could_extract_minus_sign()
    if neg:
        num = -num
        is_floor = not is_floor
    if den == 1 and num.is_integer:  # sympy leaves no floor of an integer, but be safe
        nneg, text, top = _signed(num)
        return neg ^ nneg, text, top
    if not is_floor:
        if not num.is_integer:
            return not neg, f"{_paren(-num)}//{_paren(den, (_ATOM,))}", _FLOOR
        num = num + den - 1
    return neg, f"{_paren(num)}//{_paren(den, (_ATOM,))}", _FLOOR
