"""Kyverno ``{{ }}`` substitution and condition operators, as Kyverno's engine defines them."""

from __future__ import annotations

from typing import Any

import pytest

from gitops.core.errors import PolicyError
from gitops.policy.kyverno_conditions import condition_holds, conditions_hold, evaluate
from gitops.policy.kyverno_vars import VariableError, VariableNotFound, substitute

CONTEXT = {
    "request": {
        "object": {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"n": 3}},
        "operation": "CREATE",
    }
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{{ request.object.spec.n }}", 3),  # a whole variable keeps its type
        ("n={{ request.object.spec.n }}", "n=3"),  # inside text: written as text
        ("{{request.object.metadata.labels}}!", '{"app":"web"}!'),  # non-strings as JSON
        ("\\{{ request.object.spec.n }}", "{{ request.object.spec.n }}"),  # escaped
        ("{{ request.object.metadata.{{ 'name' }} }}", "web"),  # innermost first
        ("{{ request.object.nope || 'dflt' }}", "dflt"),
        ({"k-{{request.operation}}": ["{{request.object.spec.n}}"]}, {"k-CREATE": [3]}),
        ("no variables", "no variables"),
    ],
)
def test_substitution_follows_kyverno(value: Any, expected: Any) -> None:
    assert substitute(value, CONTEXT) == expected


def test_a_missing_key_is_an_error_outside_preconditions() -> None:
    with pytest.raises(VariableNotFound, match=r"request\.object\.metadata\.labels\.team"):
        substitute("{{ request.object.metadata.labels.team }}", CONTEXT)


def test_preconditions_substitute_an_empty_string_for_missing_keys() -> None:
    assert substitute("x{{ request.object.nope }}", CONTEXT, lenient=True) == "x"


def test_an_invalid_expression_is_a_variable_error() -> None:
    with pytest.raises(VariableError, match="invalid JMESPath"):
        substitute("{{ request.[ }}", CONTEXT)


@pytest.mark.parametrize(
    ("operator", "key", "value", "holds"),
    [
        ("Equals", "1Gi", "1024Mi", True),  # quantities by value
        ("Equals", "1h", "60m0s", True),  # durations by value
        ("Equals", "ghcr.io/x", "ghcr.io/*", True),  # wildcard value
        ("Equals", 3, "3", True),  # number against numeric string
        ("Equals", True, "true", False),  # booleans only equal booleans
        ("NotEquals", "a", "b", True),
        ("GreaterThan", "2Gi", "1Gi", True),
        ("GreaterThan", "1.10.0", "1.9.0", True),  # semantic versions
        ("GreaterThan", "90s", 60, True),  # a duration against seconds
        ("LessThanOrEquals", 2, 2.0, True),
        ("GreaterThan", "abc", 1, False),  # not comparable: false
        ("DurationGreaterThan", "2h", "90m", True),  # Go durations: m is minutes
        ("DurationGreaterThan", "2h", "abc", False),  # not a duration: false
        ("DurationLessThan", "30s", "1m", True),
        ("AnyIn", ["a", "z"], ["a", "b"], True),
        ("AllIn", ["a", "z"], ["a", "b"], False),
        ("AnyNotIn", ["a", "z"], ["a", "b"], True),
        ("AllNotIn", ["y", "z"], ["a", "b"], True),
        ("AnyIn", "team-a", ["team-*"], True),  # wildcards in values
        ("AnyIn", "a", '["a", "b"]', True),  # a JSON array in a string
        ("AnyNotIn", [53, 5000], "5000-6000", True),  # numeric ranges
        ("AllIn", [5000, 5500], "5000-6000", True),
        ("AnyIn", [53], "!5000-6000", True),
        ("In", "b", ["a", "b"], True),  # deprecated forms still evaluate
        ("NotIn", "c", ["a", "b"], True),
        ("AnyIn", {"a": 1}, ["a"], False),  # an unsupported key type is false
    ],
)
def test_operators_follow_kyverno(operator: str, key: Any, value: Any, holds: bool) -> None:
    assert evaluate(operator, key, value) is holds


def test_any_and_all_blocks_combine() -> None:
    block = {
        "any": [{"key": 1, "operator": "Equals", "value": 2},
                {"key": 1, "operator": "Equals", "value": 1}],
        "all": [{"key": "{{ request.operation }}", "operator": "Equals", "value": "CREATE"}],
    }  # fmt: skip
    assert conditions_hold(block, CONTEXT) is True
    block["all"][0]["value"] = "DELETE"
    assert conditions_hold(block, CONTEXT) is False


def test_an_unknown_operator_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="got 'Near'"):
        condition_holds({"key": 1, "operator": "Near", "value": 1}, CONTEXT)
