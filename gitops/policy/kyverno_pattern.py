"""Kyverno's validation language: patterns with anchors, deny conditions, ``{{ }}`` variables.

Patterns: map keys may carry anchors ``=(key)`` (check only if present), ``X(key)`` (must
be absent) and ``(key)`` (conditional: when it does not match, the enclosing element is
skipped, not failed); a list pattern applies its element pattern to every element;
string values support ``|`` alternatives, ``!`` negation, ``*``/``?`` wildcards and
``>``, ``>=``, ``<``, ``<=`` comparisons (numbers and quantities). Variables are JMESPath
(the ``jmespath`` package) over ``request`` and ``element``; a string that is exactly one
``{{ }}`` takes the value's type.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import jmespath  # type: ignore[import-untyped]  # the package ships no type hints
from jmespath.exceptions import JMESPathError  # type: ignore[import-untyped]

from gitops.errors import PolicyError
from gitops.quantity import parse_quantity

_VARIABLE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_ANCHOR = re.compile(r"^(=|X|\^|\+|<)?\((.+)\)$")
_COMPARISON = re.compile(r"^(>=|<=|>|<|!=|!)?(.*)$", re.DOTALL)

#: Result of matching: ``None`` passes, ``("fail", path)`` fails, ``("skip", path)`` means
#: a conditional anchor did not hold (the element is not checked).
Outcome = tuple[str, str] | None


def substitute(value: Any, context: Mapping[str, Any]) -> Any:
    """Replace ``{{ expr }}`` in strings (recursively in lists and maps) by JMESPath results.

    Raises:
        PolicyError: a JMESPath expression is invalid.
    """
    if isinstance(value, str):
        whole = _VARIABLE.fullmatch(value.strip())
        if whole:
            return query(whole.group(1), context)
        return _VARIABLE.sub(lambda m: _text(query(m.group(1), context)), value)
    if isinstance(value, list):
        return [substitute(item, context) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, context) for key, item in value.items()}
    return value


def query(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate one JMESPath expression over ``context``."""
    try:
        return jmespath.search(expression, dict(context))
    except JMESPathError as err:
        raise PolicyError(f"JMESPath expression {expression!r} is invalid: {err}") from err


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def match(resource: Any, pattern: Any, path: str = "/") -> Outcome:
    """Match ``resource`` against a Kyverno validation pattern."""
    if isinstance(pattern, dict):
        return _match_map(resource, pattern, path)
    if isinstance(pattern, list):
        if not isinstance(resource, list):
            return ("fail", path)
        for index, item in enumerate(resource):
            for element in pattern:
                outcome = match(item, element, f"{path}{index}/")
                if outcome is not None and outcome[0] == "fail":
                    return outcome
        return None
    return None if value_matches(resource, pattern) else ("fail", path)


def _match_map(resource: Any, pattern: Mapping[str, Any], path: str) -> Outcome:
    if not isinstance(resource, dict):
        return ("fail", path)
    anchored = [(_ANCHOR.match(key), key, sub) for key, sub in pattern.items()]
    # Conditional anchors first: when one does not hold the whole element is skipped.
    for anchor, _key, sub in anchored:
        if anchor and anchor.group(1) in (None, "^"):
            name = anchor.group(2)
            if name not in resource or match(resource[name], sub, f"{path}{name}/") is not None:
                return ("skip", f"{path}{name}/")
    for anchor, key, sub in anchored:
        kind, name = (anchor.group(1), anchor.group(2)) if anchor else ("", key)
        child = f"{path}{name}/"
        if kind in (None, "^", "+"):
            continue
        if kind == "X":
            if name in resource:
                return ("fail", child)
            continue
        if name not in resource:
            if kind == "=":
                continue
            return ("fail", child)
        outcome = match(resource[name], sub, child)
        if outcome is not None:
            return outcome
    return None


def value_matches(value: Any, pattern: Any) -> bool:
    """Whether a scalar value matches a scalar pattern (``a | b``, ``!x``, ``?*``, ``>1``)."""
    if isinstance(pattern, bool) or pattern is None:
        return bool(value == pattern)
    if isinstance(pattern, (int, float)):
        return _number(value) == pattern
    if not isinstance(pattern, str):
        return bool(value == pattern)
    return any(_one(value, alt.strip()) for alt in pattern.split("|"))


def _one(value: Any, pattern: str) -> bool:
    if isinstance(value, (dict, list)):
        return pattern == "*" or (pattern == "?*" and bool(value))
    operator, operand = _COMPARISON.match(pattern).groups()  # type: ignore[union-attr]
    if operator in (">", ">=", "<", "<="):
        left, right = _number(value), _number(operand.strip())
        if left is None or right is None:
            return False
        return _compare(operator, left, right)
    text = "" if value is None else _text(value) if not isinstance(value, bool) else str(value)
    if isinstance(value, bool):
        text = text.lower()
    if operator in ("!", "!="):
        return not _wildcard(text, operand)
    return _wildcard(text, pattern)


def _wildcard(text: str, pattern: str) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return text == pattern
    # fnmatch also treats [] as classes; escape them so only * and ? are special.
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


def _compare(operator: str, left: Fraction, right: Fraction) -> bool:
    if operator == ">":
        return left > right
    if operator == ">=":
        return left >= right
    if operator == "<":
        return left < right
    return left <= right


def _number(value: Any) -> Fraction | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    try:
        return parse_quantity(str(value))
    except ValueError:
        return None


_OPERATORS = (
    "Equals", "NotEquals", "In", "NotIn", "AnyIn", "AllIn", "AnyNotIn", "AllNotIn",
    "GreaterThan", "GreaterThanOrEquals", "LessThan", "LessThanOrEquals",
)  # fmt: skip


def condition_holds(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Evaluate one Kyverno condition ``{key, operator, value}``.

    Raises:
        PolicyError: the operator is unknown.
    """
    operator = condition.get("operator")
    if operator not in _OPERATORS:
        raise PolicyError(
            f"condition operator must be one of {', '.join(_OPERATORS)}, got {operator!r}"
        )
    key = substitute(condition.get("key"), context)
    value = substitute(condition.get("value"), context)
    if operator in ("Equals", "NotEquals"):
        equal = key == value or (
            isinstance(key, str) and isinstance(value, str) and _wildcard(key, value)
        )
        return equal if operator == "Equals" else not equal
    if operator.startswith(("Greater", "Less")):
        left, right = _number(key), _number(value)
        if left is None or right is None:
            return False
        symbol = {"GreaterThan": ">", "GreaterThanOrEquals": ">=", "LessThan": "<"}
        return _compare(symbol.get(operator, "<="), left, right)
    keys = key if isinstance(key, list) else [key]
    values = value if isinstance(value, list) else [value]
    inside = [any(k == v or (isinstance(v, str) and isinstance(k, str) and _wildcard(k, v))
                  for v in values) for k in keys]  # fmt: skip
    if operator in ("AnyIn",):
        return any(inside)
    if operator in ("AllIn", "In"):
        return all(inside)
    if operator == "AnyNotIn":
        return not all(inside)
    return not any(inside)  # AllNotIn, NotIn


def conditions_hold(conditions: Any, context: Mapping[str, Any]) -> bool:
    """Evaluate a condition block: a list (all must hold) or ``{any: [...], all: [...]}``."""
    if conditions is None:
        return True
    if isinstance(conditions, list):
        return all(condition_holds(c, context) for c in conditions)
    any_of, all_of = conditions.get("any"), conditions.get("all")
    if any_of is not None and not any(condition_holds(c, context) for c in any_of):
        return False
    return all_of is None or all(condition_holds(c, context) for c in all_of)
