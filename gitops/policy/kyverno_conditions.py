"""Kyverno condition operators (``preconditions``, ``deny.conditions``), as upstream evaluates them.

Follows ``pkg/engine/variables/operator``: ``Equals``/``NotEquals`` compare durations,
then quantities, then a string against a wildcard value; numbers compare across int and
float (and numeric strings). The set operators (``AnyIn``, ``AllIn``, ``AnyNotIn``,
``AllNotIn``, deprecated ``In``/``NotIn``) take a key or a list of keys against a list, a
single string, a JSON array in a string or a numeric range (``5000-6000``, ``!1-10``),
with wildcards. ``GreaterThan`` and friends
compare durations, quantities, semantic versions, then numbers; ``Duration*`` operators
compare durations (numbers are seconds). A key of the wrong type makes the condition
false, as upstream logs and returns false.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from gitops.core.errors import PolicyError
from gitops.policy.kyverno_functions import wildcard_match
from gitops.policy.kyverno_semver import parse_version
from gitops.policy.kyverno_units import parse_duration, parse_quantity_or_none
from gitops.policy.kyverno_vars import substitute

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "GreaterThan": lambda a, b: a > b, "GreaterThanOrEquals": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b, "LessThanOrEquals": lambda a, b: a <= b,
}  # fmt: skip
OPERATORS = frozenset({
    "Equals", "NotEquals", "Equal", "NotEqual", "In", "NotIn", "AnyIn", "AllIn", "AnyNotIn",
    "AllNotIn", *_ORDER, *(f"Duration{name}" for name in _ORDER),
})  # fmt: skip


def check_operator(operator: Any, owner: str) -> None:
    """Refuse an operator Kyverno does not define (the policy would not be admitted).

    Raises:
        PolicyError: naming ``owner`` and the operator.
    """
    if operator not in OPERATORS:
        raise PolicyError(f"{owner}: condition operator must be one of "
                          f"{', '.join(sorted(OPERATORS))}, got {operator!r}")  # fmt: skip


def conditions_hold(conditions: Any, context: Mapping[str, Any], lenient: bool = False) -> bool:
    """Evaluate a condition block: a list (all must hold) or ``{any: [...], all: [...]}``.

    Args:
        conditions: the block (None holds).
        context: the variables.
        lenient: unresolvable variables become "" (preconditions) instead of an error.

    Raises:
        VariableError: a variable cannot be resolved (deny conditions).
    """
    if conditions is None:
        return True
    if isinstance(conditions, list):
        return all(condition_holds(c, context, lenient) for c in conditions)
    any_of, all_of = conditions.get("any"), conditions.get("all")
    if any_of is not None and not any(condition_holds(c, context, lenient) for c in any_of):
        return False
    return all_of is None or all(condition_holds(c, context, lenient) for c in all_of)


def condition_holds(condition: Mapping[str, Any], context: Mapping[str, Any],
                    lenient: bool = False) -> bool:  # fmt: skip
    """Evaluate one condition ``{key, operator, value}`` after substituting its variables.

    Raises:
        PolicyError: the operator is not one Kyverno defines.
    """
    check_operator(condition.get("operator"), "condition")
    key = substitute(condition.get("key"), context, lenient)
    value = substitute(condition.get("value"), context, lenient)
    return evaluate(str(condition.get("operator")), key, value)


def evaluate(operator: str, key: Any, value: Any) -> bool:
    """One operator on substituted operands."""
    if operator in ("Equals", "Equal"):
        return _equal(key, value)
    if operator in ("NotEquals", "NotEqual"):
        return not _equal(key, value)
    if operator in _ORDER:
        return _ordered(_ORDER[operator], key, value)
    if operator.startswith("Duration"):
        left, right = _seconds(key), _seconds(value)
        return left is not None and right is not None and _ORDER[operator[8:]](left, right)
    return _set_operator(operator, key, value)


def _number(value: Any) -> Fraction | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(float(value)) if value.strip() else None
        except ValueError:
            return None
    return None


def _equal(key: Any, value: Any) -> bool:
    if isinstance(key, bool) or isinstance(value, bool):
        return isinstance(key, bool) and isinstance(value, bool) and key == value
    if isinstance(key, (int, float)):
        right = _number(value)
        return right is not None and Fraction(key) == right
    if isinstance(key, str):
        if isinstance(value, str):
            durations = parse_duration(key), parse_duration(value)
            if None not in durations and (key != "0" or value != "0"):
                return durations[0] == durations[1]
            quantity = parse_quantity_or_none(key)
            if quantity is not None:
                other = parse_quantity_or_none(value)
                return other is not None and quantity == other
            return wildcard_match(value, key)
        if isinstance(value, (int, float)):
            seconds = parse_duration(key)
            if seconds is not None:
                return Fraction(seconds, 10**9) == Fraction(value)
        return False
    if isinstance(key, (dict, list)):
        return bool(key == value)
    return False


def _seconds(value: Any) -> Fraction | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Fraction(value)
    if isinstance(value, str):
        nanos = parse_duration(value)
        return None if nanos is None else Fraction(nanos, 10**9)
    return None


def _ordered(compare: Callable[[Any, Any], bool], key: Any, value: Any) -> bool:
    if isinstance(key, str) or isinstance(value, str):
        left, right = _seconds(key), _seconds(value)
        # A duration on either side makes both durations (a bare number is seconds).
        if (
            left is not None
            and right is not None
            and (
                (isinstance(key, str) and parse_duration(key) is not None)
                or (isinstance(value, str) and parse_duration(value) is not None)
            )
        ):
            return compare(left, right)
        quantities = parse_quantity_or_none(str(key)), parse_quantity_or_none(str(value))
        if None not in quantities and not isinstance(key, bool) and not isinstance(value, bool):
            return compare(quantities[0], quantities[1])
        versions = parse_version(str(key)), parse_version(str(value))
        if None not in versions:
            return compare(versions[0], versions[1])
    left_number, right_number = _number(key), _number(value)
    if left_number is None or right_number is None:
        return False
    return compare(left_number, right_number)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def _values(value: Any, keys: list[str]) -> list[str] | None:
    """The list a set operator compares against, or None for a type Kyverno refuses."""
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, str):
        if len(keys) == 1 and wildcard_match(value, keys[0]):
            return [keys[0]]
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        if isinstance(decoded, list) and all(isinstance(v, str) for v in decoded):
            return list(decoded)
        return None
    return None


_RANGE = re.compile(r"^(!)?(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)$")


def _in_range(key: str, found: re.Match[str]) -> bool:
    """Whether a numeric key lies in ``low-high`` (inclusive), or outside it for ``!low-high``."""
    number = _number(key)
    if number is None:
        return False
    inside = Fraction(found.group(2)) <= number <= Fraction(found.group(3))
    return inside != bool(found.group(1))


def _member(key: str, values: list[str]) -> bool:
    return any(wildcard_match(key, v) or wildcard_match(v, key) for v in values)


def _set_operator(operator: str, key: Any, value: Any) -> bool:
    if isinstance(key, list):
        keys = [_text(k) for k in key]
    elif isinstance(key, (str, int, float)) and not isinstance(key, bool):
        keys = [_text(key)]
    else:
        return False
    in_range = _RANGE.match(value) if isinstance(value, str) else None
    if in_range:
        inside = [_in_range(k, in_range) for k in keys]
    else:
        values = _values(value, keys)
        if values is None:
            return False
        inside = [_member(k, values) for k in keys]
    if operator == "AnyIn":
        return any(inside)
    if operator in ("AllIn", "In"):
        return all(inside)
    if operator in ("AnyNotIn", "NotIn"):
        return not all(inside)
    return not any(inside)  # AllNotIn
