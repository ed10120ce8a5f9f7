"""CEL optional values (``x.?field``, ``m[?key]``, ``orValue``...) on a library without them.

Kubernetes enables CEL's optional types (``cel-go``'s ``OptionalTypes``) for admission
policies, and Kyverno's ``validate.cel`` and the policy library use them everywhere
(``object.spec.?initContainers.orValue([])``). The ``common-expression-language`` parser
rejects that syntax, so :func:`rewrite` turns each optional form into a call of a function
defined here before compiling:

- ``R.?f`` becomes ``_optional_field(R, 'f')`` and ``R[?k]`` ``_optional_index(R, k)``;
- ``.orValue(d)``, ``.hasValue()``, ``.value()``, ``.or(o)`` on an optional, and
  ``optional.of(x)``, ``optional.ofNonZeroValue(x)``, ``optional.none()`` become calls too.

The receiver ``R`` is the postfix chain just before ``.?`` (identifiers, field selections,
calls and indexes, or one parenthesised expression), found by matching brackets
backwards; string literals are never rewritten. Optionals are reserved map values that
only these functions produce or read.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_TAG = "\x00optional"
#: An empty optional; a present one is ``{_TAG: "some", "value": v}`` (maps no Kubernetes
#: object can contain, so an optional never equals a plain value, as in cel-go).
NONE: dict[str, str] = {_TAG: "none"}

_STRING = re.compile(
    r"""[rR]?[bB]?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^\\'\n])*'|"(?:\\.|[^\\"\n])*")"""
)
_CALLS = (
    (re.compile(r"\boptional\s*\.\s*ofNonZeroValue\s*\("), "_optional_of_non_zero("),
    (re.compile(r"\boptional\s*\.\s*of\s*\("), "_optional_of("),
    (re.compile(r"\boptional\s*\.\s*none\s*\(\s*\)"), "_optional_none()"),
    (re.compile(r"\.\s*orValue\s*\("), "._optional_or_value("),
    (re.compile(r"\.\s*hasValue\s*\("), "._optional_has_value("),
    (re.compile(r"\.\s*value\s*\(\s*\)"), "._optional_value()"),
    (re.compile(r"\.\s*or\s*\("), "._optional_or("),
)
_OPTIONAL_SYNTAX = re.compile(r"\.\?|\[\?|\boptional\s*\.")


def _is_none(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and value.get(_TAG) == "none"


def _some(value: Any) -> dict[str, Any]:
    return {_TAG: "some", "value": value}


def _unwrap(value: Any) -> Any:
    """The value inside a present optional (a plain value passes through)."""
    if isinstance(value, dict) and value.get(_TAG) == "some" and len(value) == 2:
        return value["value"]
    return value


def _field(receiver: Any, name: str) -> Any:
    receiver = _unwrap(receiver)
    if isinstance(receiver, dict) and not _is_none(receiver) and name in receiver:
        return _some(receiver[name])
    return NONE


def _index(receiver: Any, key: Any) -> Any:
    receiver = _unwrap(receiver)
    if _is_none(receiver):
        return NONE
    if isinstance(receiver, dict):
        return _some(receiver[key]) if key in receiver else NONE
    if isinstance(receiver, list) and isinstance(key, int) and not isinstance(key, bool):
        return _some(receiver[key]) if 0 <= key < len(receiver) else NONE
    return NONE


def _value(optional: Any) -> Any:
    if _is_none(optional):
        raise ValueError("optional.none() dereference")
    return _unwrap(optional)


def _non_zero(value: Any) -> Any:
    return NONE if value in (None, 0, 0.0, "", False, [], {}) else _some(value)


#: The functions :func:`rewrite` calls, to register with the CEL environment.
OPTIONAL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "_optional_field": _field,
    "_optional_index": _index,
    "_optional_or_value": lambda optional, default: (
        default if _is_none(optional) else _unwrap(optional)
    ),
    "_optional_has_value": lambda optional: not _is_none(optional),
    "_optional_value": _value,
    "_optional_or": lambda optional, other: other if _is_none(optional) else optional,
    "_optional_of": _some,
    "_optional_of_non_zero": _non_zero,
    "_optional_none": lambda: NONE,
}


def rewrite(source: str) -> str:
    """``source`` with every optional form turned into calls of :data:`OPTIONAL_FUNCTIONS`.

    An expression without optional syntax is returned unchanged.
    """
    if not _OPTIONAL_SYNTAX.search(_mask(source)):
        return source
    text = source
    for pattern, replacement in _CALLS:
        text = _sub_outside_strings(pattern, replacement, text)
    while True:
        masked = _mask(text)
        found = re.search(r"\.\?|\[\?", masked)
        if not found:
            return text
        start = _receiver_start(masked, found.start())
        receiver = text[start : found.start()]
        if found.group() == ".?":
            name = re.match(r"\s*([A-Za-z_]\w*)", masked[found.end() :])
            if not name or not receiver.strip():
                raise ValueError(f"cannot read the optional field at {found.start()}")
            end = found.end() + name.end()
            call = f"_optional_field({receiver}, '{name.group(1)}')"
        else:
            end = _closing(masked, found.start()) + 1
            call = f"_optional_index({receiver}, {text[found.end() : end - 1]})"
        text = text[:start] + call + _chained(text[end:])


def _chained(rest: str) -> str:
    """Selections after an optional stay optional (``a.?b.c`` is ``a.?b.?c``), as in cel-go."""
    field = re.match(r"\s*\.\s*[A-Za-z_]\w*(?!\w|\s*\()", rest)
    if field:
        dot = rest.index(".")
        return rest[: dot + 1] + "?" + rest[dot + 1 :]
    if re.match(r"\s*\[(?!\?)", rest):
        bracket = rest.index("[")
        return rest[: bracket + 1] + "?" + rest[bracket + 1 :]
    return rest


def _mask(text: str) -> str:
    """``text`` with the inside of string literals blanked (brackets in strings ignored)."""
    return _STRING.sub(lambda m: m.group(0)[0] + "_" * (len(m.group(0)) - 2) + m.group(0)[-1],
                       text)  # fmt: skip


def _sub_outside_strings(pattern: re.Pattern[str], replacement: str, text: str) -> str:
    masked = _mask(text)
    out, last = [], 0
    for found in pattern.finditer(masked):
        out.append(text[last : found.start()])
        out.append(replacement)
        last = found.end()
    out.append(text[last:])
    return "".join(out)


def _receiver_start(masked: str, end: int) -> int:
    """Where the postfix chain ending at ``end`` starts (scanning backwards)."""
    position = end
    while position > 0:
        char = masked[position - 1]
        if char in ")]":
            position = _opening(masked, position - 1)
        elif char.isalnum() or char in "_.":
            position -= 1
        elif char in "'\"":
            position = masked.rfind(char, 0, position - 1)
        else:
            break
    return position


def _opening(masked: str, close: int) -> int:
    pairs, depth = {")": "(", "]": "["}, 0
    opener = pairs[masked[close]]
    for index in range(close, -1, -1):
        if masked[index] == masked[close]:
            depth += 1
        elif masked[index] == opener:
            depth -= 1
            if depth == 0:
                return index
    raise ValueError("unbalanced brackets")


def _closing(masked: str, open_: int) -> int:
    depth = 0
    for index in range(open_, len(masked)):
        if masked[index] == "[":
            depth += 1
        elif masked[index] == "]":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError("unbalanced brackets")
