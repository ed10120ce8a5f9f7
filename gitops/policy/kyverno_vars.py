"""Kyverno variables: JMESPath queries and ``{{ }}`` substitution, with Kyverno's rules.

Queries run on the ``jmespath`` package with :class:`KyvernoFunctions`. Substitution
follows Kyverno's ``pkg/engine/variables``:

- a string that is exactly one ``{{ expr }}`` takes the value's type; inside a longer
  string a value is written as text (strings as they are, anything else as compact JSON);
- innermost variables are resolved first, and the result is scanned again (nesting);
- ``\\{{ ... }}`` is an escape: left as ``{{ ... }}``, never evaluated;
- a variable that resolves to nothing (a missing key, null) is an error
  (:class:`VariableNotFound`) — except in preconditions, where Kyverno substitutes an
  empty string (``lenient=True``).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jmespath  # type: ignore[import-untyped]  # the package ships no type hints
from jmespath.exceptions import JMESPathError  # type: ignore[import-untyped]

from gitops.policy.kyverno_functions import KyvernoFunctions

# Kyverno's own patterns (vars.go): a variable not preceded by a backslash, allowing one
# level of braces inside (a JMESPath object literal).
_VARIABLE = re.compile(r"(^|[^\\])(\{\{(?:\{[^{}]*\}|[^{}])*\}\})")
_ESCAPED = re.compile(r"\\\{\{(?:\{[^{}]*\}|[^{}])*\}\}")
_OPTIONS = jmespath.Options(custom_functions=KyvernoFunctions())
#: Substitution passes before giving up on a string that keeps producing variables.
_MAX_PASSES = 32


class VariableError(Exception):
    """A variable could not be evaluated (invalid expression, a function failed)."""


class VariableNotFound(VariableError):
    """A variable resolved to nothing (a missing key or null)."""


@lru_cache(maxsize=4096)
def _compiled(expression: str) -> Any:
    try:
        return jmespath.compile(expression)
    except JMESPathError as err:
        raise VariableError(f"invalid JMESPath expression {expression!r}: {_line(err)}") from err


def query(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate one JMESPath expression (Kyverno's functions included) over ``context``.

    Raises:
        VariableError: the expression does not parse or fails to evaluate.
    """
    try:
        return _compiled(expression.strip()).search(context, options=_OPTIONS)
    except JMESPathError as err:
        raise VariableError(f"JMESPath query {expression.strip()!r} failed: {_line(err)}") from err
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as err:
        raise VariableError(f"JMESPath query {expression.strip()!r} failed: {_line(err)}") from err


#: has_variables answers by object identity; the object is kept with its answer so an
#: identity is never reused while cached.
_SCANNED: dict[int, tuple[Any, bool]] = {}


def has_variables(value: Any) -> bool:
    """Whether a policy fragment contains any ``{{ }}`` (so substitution can be skipped)."""
    if isinstance(value, str):
        return "{{" in value
    if not isinstance(value, (list, dict)):
        return False
    cached = _SCANNED.get(id(value))
    if cached is not None and cached[0] is value:
        return cached[1]
    found = "{{" in json.dumps(value, default=str)
    if len(_SCANNED) >= 4096:
        _SCANNED.clear()
    _SCANNED[id(value)] = (value, found)
    return found


def substitute(value: Any, context: Mapping[str, Any], lenient: bool = False) -> Any:
    """Replace every ``{{ expr }}`` in strings (recursively in lists and maps, keys too).

    Args:
        value: a policy fragment (message, pattern, conditions).
        context: the variables (``request``, ``element``, ...).
        lenient: substitute "" for unresolvable variables (Kyverno's preconditions).

    Raises:
        VariableError: an expression fails; VariableNotFound when it yields nothing.
    """
    if isinstance(value, str):
        return _substitute_string(value, context, lenient) if "{{" in value else value
    if isinstance(value, list):
        return [substitute(item, context, lenient) for item in value]
    if isinstance(value, dict):
        return {
            (substitute(k, context, lenient) if "{{" in k else k): substitute(v, context, lenient)
            for k, v in value.items()
        }
    return value


def _resolve(expression: str, context: Mapping[str, Any], lenient: bool) -> Any:
    try:
        result = query(expression, context)
    except VariableError:
        if lenient:
            return ""
        raise
    if result is None:
        if lenient:
            return ""
        raise VariableNotFound(f"variable {expression!r} resolved to nothing (missing key or null)")
    return result


_WHOLE = re.compile(r"\{\{((?:\{[^{}]*\}|[^{}])*)\}\}")


def _substitute_string(text: str, context: Mapping[str, Any], lenient: bool) -> Any:
    whole = _WHOLE.fullmatch(text)
    if whole:  # the common case: the string is one variable and takes its value's type
        return _resolve(whole.group(1).strip(), context, lenient)
    for _ in range(_MAX_PASSES):
        found = list(_VARIABLE.finditer(text))
        if not found:
            break
        for match in found:
            variable = match.group(2)
            expression = variable[2:-2].strip()
            value = _resolve(expression, context, lenient)
            if text == variable:
                return value
            text = text.replace(match.group(0), match.group(1) + to_text(value), 1)
    else:
        raise VariableError(f"variables in {text[:80]!r} keep expanding")
    return _ESCAPED.sub(lambda m: m.group(0)[1:], text)


def to_text(value: Any) -> str:
    """A value written into a string, as Kyverno does (Go's ``json.Marshal`` for non-strings)."""
    if isinstance(value, str):
        return value
    return json.dumps(_go_numbers(value), separators=(",", ":"), sort_keys=True)


def _go_numbers(value: Any) -> Any:
    """Integral floats as integers, as Go's JSON encoder prints float64 (``1``, not ``1.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    return value


def _line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]
