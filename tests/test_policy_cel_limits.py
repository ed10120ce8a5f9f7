"""CEL stays bounded as the API server bounds it: size, depth, RE2, per-call and budget.

Hangs and crashes are caught by running the hostile case in a subprocess with a timeout
(a SIGSEGV is a non-zero return code there, not the end of the test run); memory by
tracemalloc. The numbers are Kubernetes' own (see :mod:`gitops.policy.cel_limits`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.core.errors import PolicyError
from gitops.policy import evaluate
from gitops.policy.cel import Activation, Budget, BudgetExceeded, CelError, compile_expression
from gitops.policy.cel_limits import (
    BUDGET_MESSAGE,
    MAX_EXPRESSION_CODE_POINTS,
    MAX_RECURSION_DEPTH,
    PER_CALL_LIMIT,
    PER_CALL_MESSAGE,
    RUNTIME_COST_BUDGET,
)

ROOT = Path(__file__).parent.parent


def _python(script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def _run(source: str, obj: Any = None, budget: Budget | None = None) -> Any:
    return compile_expression(source, "P").run(Activation({"object": obj or {}}), budget)


def test_the_limits_are_the_api_servers() -> None:
    assert (PER_CALL_LIMIT, RUNTIME_COST_BUDGET) == (1_000_000, 10_000_000)
    assert (MAX_EXPRESSION_CODE_POINTS, MAX_RECURSION_DEPTH) == (100_000, 250)


def test_find_with_a_catastrophic_pattern_runs_in_linear_time() -> None:
    """``(a+)+$`` over 40 characters ran past 30 s with Python's backtracking ``re``."""
    result = _python(
        """
        from gitops.policy.cel import Activation, compile_expression
        source = "object.s.find('(a+)+$') + '|' + object.s.findAll('(a+)+$').join(',')"
        program = compile_expression(source, "P")
        print(program.run(Activation({"object": {"s": "a" * 40 + "b"}})))
        """,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "|\n"


@pytest.mark.parametrize(
    "source",
    [
        "object.s.find('(?=a)a') == ''",
        "object.s.findAll(r'(?<=a)b').size() == 0",
        "object.s.matches('(a)\\\\1')",
        "matches(object.s, '(?!x)')",
    ],
)
def test_a_literal_pattern_re2_rejects_is_a_compile_error(source: str) -> None:
    with pytest.raises(
        PolicyError, match=r"P: CEL expression .* does not compile: invalid regular"
    ):
        compile_expression(source, "P")


def test_find_and_find_all_use_re2_semantics() -> None:
    assert _run("object.s.find('[0-9]+')", {"s": "ab12cd345"}) == "12"
    assert _run("object.s.findAll('[0-9]+')", {"s": "ab12cd345"}) == ["12", "345"]
    assert _run("object.s.findAll('[0-9]+', 1)", {"s": "ab12cd345"}) == ["12"]
    with pytest.raises(CelError, match="invalid regular expression"):
        _run("object.s.find(object.p)", {"s": "a", "p": "(?=a)"})  # not a literal: at runtime


def test_15000_plus_terms_are_refused_before_the_library_parses_them() -> None:
    """The library's parser overflowed the native stack: SIGSEGV, no message at all."""
    result = _python(
        """
        from gitops.core.errors import PolicyError
        from gitops.policy.cel import compile_expression
        try:
            compile_expression("+".join(["1"] * 15000), "P")
        except PolicyError as err:
            print(str(err)[-60:])
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(
        "does not compile: expression recursion limit exceeded: 250"
    )


def test_an_expression_over_the_size_limit_is_refused() -> None:
    with pytest.raises(
        PolicyError, match=r"code point size exceeds limit: size: 100001, limit 100000"
    ):
        compile_expression("'" + "x" * (MAX_EXPRESSION_CODE_POINTS - 1) + "'", "P")
    assert _run("'" + "x" * 99_990 + "'.size()") == 99_990


def _chain(terms: list[int], ops: list[str], nesting: int) -> tuple[str, int]:
    """``((...(t0 op t1) op t2...)))`` with ``nesting`` extra parentheses around it."""
    source = str(terms[0])
    for op, term in zip(ops, terms[1:], strict=False):
        source = f"{source} {op} {term}"
    return "(" * nesting + source + ")" * nesting, eval(source)  # ints only


@settings(max_examples=60, deadline=None)
@given(
    terms=st.lists(st.integers(0, 9), min_size=1, max_size=400),
    ops=st.lists(st.sampled_from(["+", "-"]), min_size=400, max_size=400),
    nesting=st.integers(0, 60),
)
def test_random_expressions_within_the_bounds_evaluate_and_past_them_are_refused(
    terms: list[int], ops: list[str], nesting: int
) -> None:
    source, expected = _chain(terms, ops, nesting)
    depth = nesting + len(terms) - 1  # every chained operator nests one level deeper
    if depth > MAX_RECURSION_DEPTH:
        with pytest.raises(PolicyError, match="recursion limit exceeded: 250"):
            compile_expression(source, "P")
    else:
        assert _run(source) == expected


def test_a_replace_chain_stops_at_the_per_call_limit_in_bounded_memory() -> None:
    """Eight chained ``replace()`` calls, each multiplying the text by ten, used 2.1 GB."""
    source = "object.s" + ".replace('a', 'aaaaaaaaaa')" * 8 + " == ''"
    tracemalloc.start()
    try:
        with pytest.raises(CelError, match=f"^{PER_CALL_MESSAGE}$"):
            _run(source, {"s": "a" * 100})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024
    assert (
        _run("object.s" + ".replace('a', 'aaaaaaaaaa')" * 2 + ".size()", {"s": "a" * 100}) == 10_000
    )


def _policy(validations: list[dict[str, Any]], failure: str = "Fail") -> list[dict[str, Any]]:
    rules = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
              "resources": ["configmaps"]}]  # fmt: skip
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "costly"},
            "spec": {"failurePolicy": failure, "matchConstraints": {"resourceRules": rules},
                     "validations": validations},
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "costly"},
            "spec": {"policyName": "costly", "validationActions": ["Deny"]},
        },
    ]  # fmt: skip


def _configmap(text: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n"}, "data": {"s": text}}  # fmt: skip


def test_an_expression_over_the_per_call_limit_is_reported_as_the_api_server_does() -> None:
    source = "object.data.s" + ".replace('a', 'aaaaaaaaaa')" * 8 + " == ''"
    (violation,) = evaluate([_configmap("a" * 100)], _policy([{"expression": source}]))
    assert violation.message == f"expression '{source}' resulted in error: {PER_CALL_MESSAGE}"
    assert evaluate([_configmap("a" * 100)], _policy([{"expression": source}], "Ignore")) == []


def test_a_policy_over_the_runtime_budget_stops_with_the_api_servers_message() -> None:
    # Each find() costs 0.1 x 60,000 characters x 0.25 x 400 pattern characters = 600,000:
    # under the per-call limit, and 17 of them pass the 10,000,000 budget.
    check = {"expression": "object.data.s.find('" + "b" * 400 + "') == ''"}
    text = "a" * 60_000
    assert evaluate([_configmap(text)], _policy([check] * 16)) == []
    (violation,) = evaluate([_configmap(text)], _policy([check] * 17))
    assert violation.message == BUDGET_MESSAGE
    assert evaluate([_configmap(text)], _policy([check] * 17, "Ignore")) == []


def test_a_budget_is_spent_by_every_run_charged_to_it() -> None:
    budget = Budget(1_000)
    program = compile_expression("object.s.lowerAscii() == ''", "P")
    # cel-go: object 1, .s 1, lowerAscii 0.1 per character (400), == against '' 0.
    activation = Activation({"object": {"s": "A" * 4_000}})
    assert program.run(activation, budget) is False
    assert budget.left == 598
    assert program.run(activation, budget) is False
    assert budget.left == 196
    with pytest.raises(BudgetExceeded, match=BUDGET_MESSAGE):
        program.run(activation, budget)


def test_nested_comprehensions_stop_at_the_per_call_limit() -> None:
    """Nested ``.all()`` over lists ran past 60 s: the library runs macros natively."""
    result = _python(
        """
        from gitops.policy.cel import Activation, CelError, compile_expression
        program = compile_expression("object.l.all(x, object.l.all(y, object.l.all(z, true)))", "P")
        try:
            program.run(Activation({"object": {"l": list(range(5000))}}))
        except CelError as err:
            print(err)
        """,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == PER_CALL_MESSAGE


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 1500), depth=st.integers(1, 3), per_item=st.booleans())
def test_comprehensions_are_charged_every_iteration_as_cel_go_charges(
    size: int, depth: int, per_item: bool
) -> None:
    """Nested ``all()``: over the object's list at every level, or (``per_item``) over a
    list held by each element of the enclosing range. cel-go charges ``x.l.all(v, p)``
    2 for the range, 3 plus the predicate per iteration, and 1 for the result."""
    if per_item:
        source = "object.l.all(a, a.l.all(b, true))"
        value: list[Any] = [{"l": list(range(size))} for _ in range(size)]
        iterations = 2 + size * (3 + 2 + 3 * size + 1) + 1
    else:
        source = "true"
        iterations = 0
        for level in reversed(range(depth)):
            source = f"object.l.all(v{level}, {source})"
            iterations = 2 + size * (3 + iterations) + 1
        value = list(range(size))
    budget = Budget()
    if iterations > PER_CALL_LIMIT:
        with pytest.raises(CelError, match=f"^{PER_CALL_MESSAGE}$"):
            _run(source, {"l": value}, budget)
    else:
        assert _run(source, {"l": value}, budget) is True
        assert RUNTIME_COST_BUDGET - budget.left == iterations


def test_a_kyverno_message_of_braces_and_spaces_is_substituted_in_bounded_time() -> None:
    """``{{`` and 2,000 spaces in a Kyverno message took 29 s."""
    result = _python(
        """
        from gitops.policy import evaluate
        rule = {"name": "r", "match": {"any": [{"resources": {"kinds": ["ConfigMap"]}}]},
                "validate": {"message": "{{" + " " * 2000, "pattern": {"data": {"k": "x"}}}}
        policy = {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
                  "metadata": {"name": "k"},
                  "spec": {"validationFailureAction": "Enforce", "rules": [rule]}}
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "a", "namespace": "n"}, "data": {"k": "y"}}
        print(len(evaluate([cm], [policy])))
        """,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
