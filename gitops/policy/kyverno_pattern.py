"""Kyverno's validation patterns, as ``pkg/engine/validate`` matches them.

Map keys may carry anchors: ``=(key)`` (check only if present), ``X(key)`` (must be
absent), ``(key)`` (conditional: when it does not hold, the enclosing list element is
skipped, and a list where every element was skipped is skipped), ``<(key)`` (global: when
it does not hold the whole rule is skipped), ``^(key)`` (existence: some element of the
list matches) and ``+(key)`` (mutate only, ignored). A list pattern applies its first
element to every element of the list. Scalar patterns support ``|`` alternatives, ``!``
negation, ``*``/``?`` wildcards and ``>``, ``>=``, ``<``, ``<=`` comparisons (numbers and
quantities). Variables are substituted before matching (:mod:`gitops.policy.kyverno_vars`).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from gitops.core.quantity import parse_quantity
from gitops.policy.kyverno_vars import to_text

_ANCHOR = re.compile(r"^(=|X|\^|\+|<)?\((.+)\)$")
_COMPARISON = re.compile(r"^(>=|<=|>|<|!=|!)?(.*)$", re.DOTALL)

#: Result of matching: ``None`` passes, ``("fail", path)`` fails, ``("skip", path)`` means
#: a conditional anchor did not hold (the element is not checked), ``("global", path)`` a
#: global anchor did not hold (the rule is not checked).
Outcome = tuple[str, str] | None


def match(resource: Any, pattern: Any, path: str = "/") -> Outcome:
    """Match ``resource`` against a Kyverno validation pattern.

    Returns None when it matches, ``("fail", path)`` when it does not, ``("skip", path)``
    when a conditional anchor did not hold (the element, or the rule at the root, is not
    checked) and ``("global", path)`` when a global anchor did not hold (the whole rule
    is skipped, wherever the anchor is).
    """
    if isinstance(pattern, dict):
        return _match_map(resource, pattern, path)
    if isinstance(pattern, list):
        return _match_list(resource, pattern, path)
    return None if value_matches(resource, pattern) else ("fail", path)


def _match_list(resource: Any, pattern: list[Any], path: str) -> Outcome:
    if not isinstance(resource, list):
        return ("fail", path)
    if not pattern:
        return ("fail", path)
    if isinstance(pattern[0], dict):
        # Every element must match the first pattern element; elements a conditional
        # anchor skips do not count, and if none applied the list itself is skipped.
        applied, skipped = 0, None
        for index, item in enumerate(resource):
            outcome = _match_map(item, pattern[0], f"{path}{index}/")
            if outcome is None:
                applied += 1
            elif outcome[0] == "skip":
                skipped = skipped or outcome
            else:
                return outcome
        return skipped if applied == 0 and skipped is not None else None
    if isinstance(pattern[0], (str, int, float, bool)) or pattern[0] is None:
        for index, item in enumerate(resource):
            if not any(value_matches(item, element) for element in pattern):
                return ("fail", f"{path}{index}/")
        return None
    if len(resource) < len(pattern):
        return ("fail", path)
    for index, element in enumerate(pattern):
        outcome = match(resource[index], element, f"{path}{index}/")
        if outcome is not None:
            return outcome
    return None


def _expand_metadata(pattern: Mapping[str, Any], resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """Kyverno's ``ExpandInMetadata``: wildcard keys under ``metadata.labels``/``annotations``
    stand for each matching key of the resource (anchors kept); with none, they stay."""
    for key, sub in pattern.items():
        anchor = _ANCHOR.match(key)
        if (anchor.group(2) if anchor else key) != "metadata" or not isinstance(sub, dict):
            continue
        metadata = resource.get("metadata")
        if not isinstance(metadata, dict):
            return pattern
        expanded = dict(sub)
        for field_key, field_pattern in sub.items():
            inner = _ANCHOR.match(field_key)
            name = inner.group(2) if inner else field_key
            present = metadata.get(name)
            if name in ("labels", "annotations") and isinstance(field_pattern, dict) \
                    and isinstance(present, dict):  # fmt: skip
                expanded[field_key] = _expand_keys(field_pattern, present)
        return {**pattern, key: expanded}
    return pattern


def _expand_keys(pattern: Mapping[str, Any], present: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pattern.items():
        anchor = _ANCHOR.match(key)
        prefix, name = ((anchor.group(1) or ""), anchor.group(2)) if anchor else ("", key)
        if "*" not in name and "?" not in name:
            out[key] = value
            continue
        matches = [k for k in present if _wildcard(k, name)]
        if not matches:
            out[key] = value
        for actual in matches:
            out[f"{prefix}({actual})" if anchor else actual] = value
    return out


_MapPlan = tuple[tuple[tuple[str | None, str, Any], ...], tuple[tuple[str, Any], ...], bool]
#: Parsed map patterns by identity (the pattern is kept, so an identity is never reused).
_PLANS: dict[int, tuple[Mapping[str, Any], _MapPlan]] = {}


def _plan(pattern: Mapping[str, Any]) -> _MapPlan:
    """(anchored keys, plain keys, whether metadata keys need wildcard expansion)."""
    cached = _PLANS.get(id(pattern))
    if cached is not None and cached[0] is pattern:
        return cached[1]
    anchors, plain, wild = [], [], False
    for key, sub in pattern.items():
        anchor = _ANCHOR.match(key)
        if anchor:
            anchors.append((anchor.group(1), anchor.group(2), sub))
        else:
            plain.append((key, sub))
        name = anchor.group(2) if anchor else key
        if name == "metadata" and isinstance(sub, dict):
            wild = any(isinstance(v, dict) and any("*" in k or "?" in k for k in v)
                       for v in sub.values())  # fmt: skip
    plan = (tuple(anchors), tuple(plain), wild)
    if len(_PLANS) >= 4096:
        _PLANS.clear()
    _PLANS[id(pattern)] = (pattern, plan)
    return plan


def _match_map(resource: Any, pattern: Mapping[str, Any], path: str) -> Outcome:
    if not isinstance(resource, dict):
        return ("fail", path)
    anchors, plain, wild = _plan(pattern)
    if wild:
        expanded = _expand_metadata(pattern, resource)
        if expanded is not pattern:
            anchors, plain, _ = _plan(expanded)
    # Anchors first (Kyverno's phase 1), then the plain keys.
    for kind, name, sub in anchors:
        if kind is None:  # conditional: an unmet condition skips the enclosing element
            if name not in resource or match(resource[name], sub, f"{path}{name}/") is not None:
                return ("skip", f"{path}{name}/")
        elif kind == "<":  # global: an unmet condition skips the whole rule
            if name in resource and match(resource[name], sub, f"{path}{name}/") is not None:
                return ("global", f"{path}{name}/")
        elif kind == "X":
            if name in resource:
                return ("fail", f"{path}{name}/")
        elif kind == "=" and name in resource:
            outcome = match(resource[name], sub, f"{path}{name}/")
            if outcome is not None:
                return outcome
        elif kind == "^" and name in resource:  # existence: some element of the list matches
            outcome = _exists(resource[name], sub, f"{path}{name}/")
            if outcome is not None:
                return outcome
        # "+(key)" adds a field in mutate patterns; a validate pattern ignores it.
    for key, sub in plain:
        value = resource.get(key)
        if value is None and (sub == "*" or isinstance(sub, (dict, list))):
            return ("fail", f"{path}{key}/")  # Kyverno: "not found" / "different structures"
        outcome = match(value, sub, f"{path}{key}/")
        if outcome is not None:
            return outcome
    return None


def _exists(resource: Any, pattern: Any, path: str) -> Outcome:
    if not isinstance(resource, list) or not isinstance(pattern, list) or len(pattern) != 1:
        return ("fail", path)
    for index, item in enumerate(resource):
        if match(item, pattern[0], f"{path}{index}/") is None:
            return None
    return ("fail", path)


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
    text = "" if value is None else to_text(value) if not isinstance(value, bool) else str(value)
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
