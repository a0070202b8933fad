"""Fuzzing: whatever YAML a user (or an attacker) writes, the library answers with a result or
a :class:`ConvcalcError` — never any other exception.

Random YAML documents are built from the real vocabulary (op names, keys, modifiers,
structures, expectation keys, enum values, expressions) mixed with random text and numbers,
dumped with ``yaml.safe_dump`` and fed through ``spec.parse`` → ``walk`` → ``check_report``.
Derandomized, so a failure is reproducible; a few hundred examples, a few seconds.
"""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcalc import ops
from convcalc.check import check_report
from convcalc.errors import ConvcalcError
from convcalc.spec import EXPECT_KEYS, MERGES, MODIFIERS, STRUCTURES, TOP_KEYS, evaluate, parse
from convcalc.walk import walk

FUZZ = settings(derandomize=True, max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

OP_NAMES = sorted({*ops.OPS, *ops.ALIASES})
PARAM_KEYS = sorted({k for op in ops.OPS.values() for k in op.keys} | set(ops.KEY_ALIASES))
ENUMS = sorted({c for op in ops.OPS.values() for k in op.keys.values() for c in k.choices}
               | set(ops.PAD_MODES))
STRUCT_KEYS = ["body", "shortcut", "branches", "merge", "args", "layers", "min", "max"]
VOCABULARY = sorted({*OP_NAMES, *PARAM_KEYS, *MODIFIERS, *STRUCTURES, *MERGES, *TOP_KEYS,
                     *EXPECT_KEYS, *STRUCT_KEYS, *ENUMS, "blk", "x", "H", "W", "c"})
EXPRESSIONS = ["c", "c*2", "(c + 1)//2", "c % 3", "H", "W//2", "-c", "c - c", "c // 0",
               "2G", "3.5M", "15.47G", "1k", "c**2", "c.real", "f(c)", "__import__('os')",
               "lambda: 1", "[c]", "9" * 40, "((((c))))", "c +", "", " ", "1e3"]

names = st.sampled_from(VOCABULARY) | st.text(max_size=8)
scalars = (st.integers(-3, 70) | st.integers() | st.sampled_from([0, 1, 2, 3, 2**62, 2**63])
           | st.floats(allow_nan=True, allow_infinity=True) | st.booleans() | st.none()
           | st.sampled_from(VOCABULARY) | st.sampled_from(EXPRESSIONS) | st.text(max_size=12))

# anything at all: nested lists and mappings whose keys are mostly real words
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(names, inner, max_size=4), max_leaves=30)

# plausible networks: real ops with their own keys, small values, structures, blocks,
# named tensors and expectations — wrong in the ways a person is wrong (sizes that do not
# fit, merges that do not match, names that are not there), so the walk and every op run

values = (st.integers(0, 9) | st.sampled_from([16, 32, 64, 2**62])
          | st.lists(st.integers(0, 5), min_size=1, max_size=3)
          | st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=2), min_size=1,
                     max_size=3)
          | st.sampled_from(ENUMS) | st.booleans()
          | st.sampled_from(["c", "c*2", "(c + 1)//2", "w - 1", "s"]))


def _op_item(op: str):
    opdef = ops.resolve(op)
    keys = sorted(opdef.keys) or ["k"]
    return st.builds(lambda a, mods: {op: a, **mods},
                     st.dictionaries(st.sampled_from(keys), values, max_size=4) | st.none(),
                     st.fixed_dictionaries({}, optional={
                         "name": st.sampled_from(["a", "b"]), "from": st.sampled_from(["a"]),
                         "times": st.integers(1, 3)}))


op_items = st.sampled_from(OP_NAMES).flatmap(_op_item)
calls = st.builds(lambda n, a: {n: a}, st.sampled_from(["blk", "b2"]),
                  st.dictionaries(st.sampled_from(["c", "s"]), st.integers(1, 9), max_size=2))
leaves = st.sampled_from(OP_NAMES) | op_items | calls


def _nest(inner):
    body = st.lists(inner, max_size=3)
    return st.one_of(
        st.builds(lambda b, sh: {"residual": {"body": b, **({"shortcut": sh} if sh else {})}},
                  body, st.none() | body),
        st.builds(lambda br, m: {"parallel": {"branches": br, "merge": m}},
                  st.lists(body, min_size=1, max_size=3), st.sampled_from(MERGES)),
        st.builds(lambda m, n: {m: n}, st.sampled_from(MERGES),
                  st.sampled_from(["a", "b", ["a", "b"]])),
        inner)


items = st.recursive(leaves, _nest, max_leaves=10)
block = st.fixed_dictionaries({"layers": st.lists(items, max_size=3)},
                              optional={"args": st.dictionaries(st.sampled_from(["c", "s"]),
                                                                st.none() | st.integers(1, 4))})
quantity = (st.integers(0, 10**6) | st.sampled_from(["2G", "3.5M", "15.47G", "1k", "0"])
            | st.fixed_dictionaries({}, optional={"min": st.integers(0, 10**5),
                                                  "max": st.sampled_from([10**4, "1M"])}))
expect = st.fixed_dictionaries({}, optional={
    "output": st.lists(st.integers(1, 64), min_size=1, max_size=4),
    "params": quantity, "macs": quantity, "flops": quantity, "activations": quantity,
    "rf": quantity | st.lists(quantity, min_size=1, max_size=3)})
networks = st.fixed_dictionaries(
    {"input": st.sampled_from([[3, 16, 16], [8, 9], [4, 6, 6, 6], [16], [8, 12, 12],
                               [3, "H", 8], [2, 1, 1]]),
     "layers": st.lists(items, min_size=1, max_size=6)},
    optional={"vars": st.fixed_dictionaries({"c": st.integers(1, 16)},
                                            optional={"w": st.integers(1, 16)}),
              "blocks": st.dictionaries(st.sampled_from(["blk", "b2"]),
                                        block | st.lists(items, max_size=2), max_size=2),
              "expect": expect})
budgets = st.dictionaries(st.sampled_from(["params", "macs", "flops"]),
                          st.integers(0, 10**7), max_size=3)


def survive(text: str, budget=None) -> None:
    """Parse, walk and check; only a ConvcalcError may come out, and it renders as one
    line."""
    try:
        report = walk(parse(text, "fuzz.yaml"))
        check_report(report, budget)
    except ConvcalcError as err:
        line = err.line()
        assert "\n" not in line and line.startswith("fuzz.yaml")


@FUZZ
@given(anything)
def test_any_yaml_document(doc):
    survive(yaml.safe_dump(doc))


@settings(FUZZ, max_examples=200)  # each walks a network: the slowest of these
@given(networks, budgets)
def test_network_shaped_documents(doc, budget):
    survive(yaml.safe_dump(doc, sort_keys=False), budget)


yaml_chars = st.sampled_from(list("[]{}:,-&*!|>'\"#%@`?\n\t \\") + ["- ", ": ", "!!", "&a ",
                                                                   "*a", "<<", "---", "..."])
fragments = st.lists(yaml_chars | st.sampled_from(VOCABULARY) | st.text(max_size=4),
                     max_size=30).map("".join)


@FUZZ
@given(fragments)
def test_raw_text(text):
    survive("input: [3, 8, 8]\nlayers:\n  - " + text)
    survive(text)


expr_text = st.lists(st.sampled_from(list("0123456789+-*/%()., _'\"[]{}:=<>!~^&|@")
                                     + ["c", "w", "H", "lambda", "__import__", "**", "//",
                                        " if ", " for ", "not ", "1e9", "0x", "True"])
                     | st.text(max_size=3), max_size=40).map("".join)


@FUZZ
@given(expr_text, st.booleans())
def test_evaluate_random_text(text, symbols):
    try:
        evaluate(text, {"c": 8, "w": 64}, None, symbols=symbols)
    except ConvcalcError:
        pass


@FUZZ
@given(st.text(max_size=60), st.booleans())
def test_evaluate_any_text(text, symbols):
    try:
        evaluate(text, {"c": 8}, None, symbols=symbols)
    except ConvcalcError:
        pass
