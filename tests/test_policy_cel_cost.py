"""cel-go's runtime cost, charged while the CEL library evaluates (``gitops.policy.cel_cost``).

Each expected cost below is what the API server's CEL program charged for the expression
on :data:`OBJECT`: measured with cel-go v0.26.0 and ``k8s.io/apiserver`` v0.36.3's
admission compiler (``plugin/cel.NewCompiler`` over ``environment.MustBaseEnvSet``, the
environment the API server evaluates ValidatingAdmissionPolicies in), reading
``EvalDetails.ActualCost()``. The real server then judges the totals near the limits in
``tests/test_policy_cel_cost_server.py``.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.policy.cel import Activation, CelError, compile_expression
from gitops.policy.cel_limits import PER_CALL_MESSAGE, Budget

OBJECT = {"data": {"s": "abc,x,zy,abcxyz", "t": "hello world"}, "spec": {"l": [1, 2, 3], "n": 5}}

#: (expression, cost cel-go charged evaluating it on OBJECT).
CEL_GO_COSTS = [
    ("true", 0),
    ("object.data.s == ''", 3),
    ("object.spec.n > 3", 4),
    ("object.spec.l[0] == 1", 5),
    ("object.spec.l[object.spec.n - 5] == 1", 9),
    ("has(object.spec.l)", 2),
    ("has(object.spec.l) && object.spec.n == 5", 6),
    ("!has(object.spec.zz) || object.spec.zz == 1", 3),
    ("object.spec.n == 5 ? object.data.s : object.data.t", 6),
    ("size(object.spec.l) == 3", 5),
    ("object.spec.l.size() == 3", 5),
    ("[1, 2, 3].size() == 3", 2),
    ("{'a': 1}.size() == 1", 2),
    ("{'a': object.spec.n}.size() == 1", 35),
    ("object.data.s + object.data.t == ''", 7),
    ("object.spec.l + object.spec.l == []", 7),
    ("object.spec.l.all(x, x > 0)", 19),
    ("object.spec.l.all(x, x > 1)", 11),
    ("object.spec.l.all(x, x < 2)", 16),
    ("object.spec.l.exists(x, x == 2)", 19),
    ("object.spec.l.exists(x, x == 9)", 22),
    ("object.spec.l.exists_one(x, x == 2)", 13),
    ("object.spec.l.map(x, x * 2) == [2, 4, 6]", 47),
    ("object.spec.l.map(x, x > 1, x * 2) == [4, 6]", 39),
    ("object.spec.l.filter(x, x > 1) == [2, 3]", 37),
    ("object.data.s.split(',').all(x, x.size() > 0)", 31),
    ("object.data.s.startsWith('ab')", 5),
    ("object.data.s.contains('xy')", 5),
    ("object.data.s.matches('^a.*z$')", 7),
    ("object.data.s.lowerAscii() == ''", 5),
    ("object.data.s.replace('a', 'b') == ''", 6),
    ("object.data.s.split(',').join('-') == ''", 9),
    ("object.data.s.find('[a-z]+') == ''", 7),
    ("object.data.s.findAll('[a-z]+').size() > 0", 9),
    ("object.data.s.indexOf('x') > 0", 5),
    ("object.spec.l.sum() > 0", 7),
    ("object.spec.l.isSorted()", 6),
    ("'x' in object.spec.l.map(v, string(v))", 49),
    ("object.spec.n in object.spec.l", 7),
    ("'a' in {'a': 1}", 1),
    ("object.data.s.substring(1) == ''", 5),
    ("object.data.s.trim() == ''", 5),
    ("object.data.s.charAt(1) == 'b'", 5),
    ("type(object.spec.n) == int", 5),
    ("int(object.data.s.size()) > 0", 6),
    ("string(object.spec.n) == '5'", 5),
    ("-object.spec.n < 0", 5),
    ("!(object.spec.n > 3)", 5),
    ("object.data.s.split(',').map(m, m + 'z').all(x, x.endsWith('z'))", 84),
    ("[object.data.s].exists(x, x.size() > 100)", 21),
    ("object.spec.l.all(x, object.spec.l.exists(y, y == x))", 73),
    ("object.data.s.size() > 0 && object.data.t.size() > 0 && object.spec.n > 0", 14),
    ("object.spec.n > 0 || object.spec.n < 0 || object.spec.n == 0", 4),
    ("object.data.s + 'z' == ''", 5),
    ("'z' + object.data.s == ''", 5),
    ("object.data.s.lowerAscii() + object.data.t == ''", 11),
    ("object.data.s < 'z'", 4),
    ("object.data.s < object.data.t", 7),
    ("object.data.s.lowerAscii() < object.data.t", 10),
    ("object.spec.n in [1, 2]", 3),
    ("[1, 2, 3].exists_one(x, x == 9)", 8),
    ("[1, 2, 3].exists_one(x, x == 2)", 10),
    ("[1, 2, 3].exists_one(x, x > 1)", 12),
    ("[1, 2, 3, 4, 5, 6].exists_one(x, x == 9)", 14),
    ("[1, 2, 3].map(x, x > 9, x)", 7),
    ("[1, 2, 3].map(x, x > 1, x)", 33),
    ("[1, 2, 3].map(x, x > 0, x)", 46),
    ("[1, 2, 3].filter(x, x > 9)", 7),
    ("[1, 2, 3].filter(x, x > 1)", 33),
    ("[1, 2, 3].filter(x, x > 0)", 46),
    ("[1, 2, 3].map(x, x)", 40),
    ("[1, 2, 3, 4, 5, 6].map(x, x)", 79),
    ("[1, 2, 3].all(x, x > 0)", 16),
    ("[1, 2, 3].all(x, x < 3)", 16),
    ("[1, 2, 3].all(x, x < 1)", 8),
    ("[1, 2, 3].exists(x, x == 3)", 19),
    ("[1, 2, 3].exists(x, x == 1)", 10),
    ("object.spec.n == 5 ? object.data.s : 'x'", 6),
    ("object.spec.n == 5 ? object.spec.l[0] : object.spec.l[1]", 7),
    ("object.data.s.split(',')[0] == ''", 8),
    ("object.data.s.split(',').map(x, x + 'z')[0] == ''", 65),
    ("object.spec.l.all(a, true)", 13),
    ("object.spec.l.all(a, object.spec.l.all(b, true))", 52),
    ("object.spec.l.all(a, object.spec.l.all(b, object.spec.l.all(c, true)))", 169),
    ("object.spec.l.map(x, x).all(y, y > 0)", 59),
    ("object.data.s.split(',').exists_one(x, x.contains('y'))", 20),
    (
        "object.data.s.split(',').filter(x, x.matches('^[a-z]+$'))"
        ".map(x, x.upperAscii())[0] == 'ABC'",
        131,
    ),
    ("object.data.s.split(',').map(x, x.size() > 1, x + x).join(',') == ''", 70),
    ("(object.data.s.split(',') + ['q']).all(x, x < 'zz')", 33),
    ("object.data.s.split(',').all(x, x in ['abc', 'x', 'zy'])", 23),
    ("object.data.s.split(',').all(x, x in object.data.s.split(','))", 63),
    ("{'k': object.data.s}.all(k, k == 'k')", 39),
    ("object.data.s.split(',').exists(x, x > 'b' ? x.startsWith('z') : x.endsWith('c'))", 18),
]


def _cost(source: str, obj: Any = OBJECT) -> tuple[int, Any]:
    budget = Budget(10**12)
    value = compile_expression(source, "P").run(Activation({"object": obj}), budget)
    return 10**12 - budget.left, value


@pytest.mark.parametrize(("source", "expected"), CEL_GO_COSTS)
def test_the_cost_is_cel_gos(source: str, expected: int) -> None:
    assert _cost(source)[0] == expected


_WORDS = st.lists(st.text(alphabet="abxyz", min_size=1, max_size=5), min_size=1, max_size=60)


@st.composite
def _ranges(draw: st.DrawFn, depth: int = 0) -> str:
    """A list of strings of any origin: the field, a literal, split(), map(), filter(), +."""
    kinds = ["field", "literal", "split"] + (["map", "filter", "plus"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "field":
        return "object.l"
    if kind == "literal":
        return "[" + ", ".join(f"'{w}'" for w in draw(_WORDS)) + "]"
    if kind == "split":
        return "object.s.split(',')"
    inner = draw(_ranges(depth + 1))
    if kind == "map":
        return f"{inner}.map(m, m + 'q')"
    if kind == "filter":
        return f"{inner}.filter(f, f.size() > 1)"
    return f"({inner} + {draw(_ranges(depth + 1))})"


@settings(max_examples=150, deadline=None)
@given(source=_ranges(), words=_WORDS, more=_WORDS)
def test_every_iteration_is_charged_whatever_the_range(
    source: str, words: list[str], more: list[str]
) -> None:
    """cel-go charges ``R.all(x, true)`` 3 per element and 1 for the result, on top of
    ``R``: so does gitops check, for ranges that are fields, literals, ``split()``,
    ``map()`` and ``filter()`` results and concatenations."""
    obj = {"s": ",".join(words), "l": more}
    sized, size = _cost(f"size({source}) == 0", obj)
    looped, result = _cost(f"{source}.all(x, true)", obj)
    elements = _cost(f"size({source})", obj)[1]
    assert result is True and size is (elements == 0)
    assert looped - sized == 3 * elements + 1 - 2  # minus size() and ==


_LEAVES = ["object.s", "object.l", "object.n", "'ab'", "3", "[1, 2]", "['a', 'b']"]


@st.composite
def _expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2 or draw(st.booleans()):
        return draw(st.sampled_from(_LEAVES))
    a, b = draw(_expressions(depth + 1)), draw(_expressions(depth + 1))
    return draw(
        st.sampled_from(
            [
                f"({a} + {b})",
                f"({a} == {b})",
                f"({a} < {b})",
                f"({a} in {b})",
                f"size({a})",
                f"({a} == {b} ? ({a}) : ({b}))",
                f"{a}.startsWith({b})",
                f"[{a}].map(v, v)",
                f"[{a}, {b}].exists(v, v == {a})",
                f"[{a}].filter(v, v != {b})",
                f"({a} == {b} && {b} != {a}) || size([{a}]) == 1",
                f"(has(object.l) ? ({a}) : ({b}))",
            ]
        )
    )


@settings(max_examples=300, deadline=None)
@given(source=_expressions(), text=st.text(max_size=8), number=st.integers(-5, 5))
def test_the_instrumented_expression_means_what_the_expression_means(
    source: str, text: str, number: int
) -> None:
    """Whatever it charges, the instrumented expression gives the library's own value
    (``uint`` stays ``uint``), or fails where the library fails."""
    import cel as library

    variables = {"object": {"s": text, "l": ["a", text], "n": number}}
    try:
        expected: Any = library.evaluate(source, variables)
    except Exception:  # any library error: ours must fail too
        expected = CelError
    try:
        got: Any = compile_expression(source, "P").run(Activation(variables))
    except CelError:
        got = CelError
    assert got == expected
    assert type(got) is type(expected)


def test_uint_and_double_stay_what_they_are() -> None:
    assert _cost("[1u + 2u].map(v, v)[0] == 3u")[1] is True
    assert _cost("string(1u + 2u) + string(1.5 + 1.0)")[1] == "32.5"


def test_concatenation_in_a_comprehension_stops_in_bounded_memory() -> None:
    """``dyn + dyn`` costs 1 in cel-go whatever it builds: 10,000 iterations of a
    200,000-character concatenation would build 2 GB under the cost limit. The total
    built by ``+`` is bounded (10,000,000 characters) and stops with the per-call error."""
    # VmHWM is this process's own peak; ru_maxrss would keep pytest's RSS across the exec.
    script = (
        "import re\n"
        "from gitops.policy.cel import Activation, CelError, compile_expression\n"
        "p = compile_expression(\"object.s.split(',').map(x, object.s + object.s)"
        ".size() > 0\", 'P')\n"
        "try:\n"
        "    p.run(Activation({'object': {'s': ('a' * 9 + ',') * 10_000}}))\n"
        "except CelError as err:\n"
        "    print(err)\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1)) // 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=True)  # fmt: skip
    message, peak_mib = result.stdout.split("\n")[:2]
    assert message == PER_CALL_MESSAGE
    assert int(peak_mib) < 400


def test_the_per_call_limit_falls_where_cel_gos_does() -> None:
    """``object.s.split(',').all(x, x == 'a')`` over n words: object.s 2, split() 0.2 per
    character, 5 per iteration (3 for the loop, x 1, == 1), 1 for the result."""
    source = "object.s.split(',').all(x, x == 'a')"

    def expected(n: int) -> int:
        return 2 + math.ceil((2 * n - 1) * 0.2) + 5 * n + 1

    assert expected(185_184) == 999_997
    assert _cost(source, {"s": ",".join(["a"] * 185_184)}) == (999_997, True)
    assert expected(185_185) == 1_000_002
    with pytest.raises(CelError, match=f"^{PER_CALL_MESSAGE}$"):
        _cost(source, {"s": ",".join(["a"] * 185_185)})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("object.s.split(',').map(x, x + 'a').join('') == object.s.replace(',', 'a') + 'a'",
         True),
        ("size(object.s.split(',').filter(x, x != 'q'))", 40_000),
        ("object.s.split(',').map(x, x == 'a', x + x)[39999]", "aa"),
        ("{'k2': 1, 'k1': 2, 'k3': 3}.map(k, k + '!') == ['k1!', 'k2!', 'k3!']", True),
    ],
)  # fmt: skip
def test_map_and_filter_run_to_cel_gos_limit_not_to_a_quadratic_one(
    source: str, expected: Any
) -> None:
    """40,000 elements kept by ``map()`` or ``filter()`` cost under 1,000,000 in cel-go
    and the API server admits them (``tests/test_policy_cel_cost_server.py``); the CEL
    library copies what it builds at every element kept (4,000 elements took 2 s, 60,000
    would take minutes), so they run over a tree of short runs: the same value, in
    bounded time."""
    script = (
        "from gitops.policy.cel import Activation, compile_expression\n"
        f"p = compile_expression({source!r}, 'P')\n"
        "print(repr(p.run(Activation({'object': {'s': ','.join(['a'] * 40_000)}}))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=True)  # fmt: skip
    assert result.stdout.strip() == repr(expected)


_KEYS = st.sampled_from(["a", "b", "c"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(alphabet="xy", max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=12,
)


@st.composite
def _selections(draw: st.DrawFn) -> str:
    """Field selections on ``object``: chains that may miss, hit null, a list or a scalar,
    under ``has()``, in comprehensions, in comparisons."""
    chain = "object" + "".join(f".{key}" for key in draw(st.lists(_KEYS, min_size=1, max_size=4)))
    inner = "".join(f".{key}" for key in draw(st.lists(_KEYS, min_size=1, max_size=2)))
    return draw(
        st.sampled_from(
            [
                chain,
                f"has({chain})",
                f"{chain} == {chain}",
                f"{chain}.all(e, has(e{inner}))",
                f"{chain}.exists(e, e{inner} == 1)",
                f"{chain}.map(e, e{inner})",
                f"has({chain}) ? {chain}{inner} : 0",
            ]
        )
    )


@settings(max_examples=400, deadline=None)
@given(source=_selections(), value=st.dictionaries(_KEYS, _JSON, max_size=3))
def test_field_selections_mean_and_fail_as_the_library_says(
    source: str, value: dict[str, Any]
) -> None:
    """The instrumented expression writes ``x.f`` as ``x['f']`` (the library copies the
    selected value on a selection, not on an index): the same value, or the same error
    message, as the library gives the selection itself."""
    import cel as library

    variables = {"object": value}
    try:
        expected: Any = library.evaluate(source, variables)
    except Exception as err:  # the library's own failure, as run() words it
        expected = ("error", " ".join(str(err).split())[:200])
    try:
        got: Any = compile_expression(source, "P").run(Activation(variables))
    except CelError as err:
        got = ("error", str(err)[:200])
    assert got == expected
