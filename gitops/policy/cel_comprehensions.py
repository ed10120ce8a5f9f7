"""What the comprehensions of a CEL expression cost on given values, before they run.

The CEL library runs macros (``all``, ``exists``, ``exists_one``, ``map``, ``filter``)
natively, out of reach of the cost meter the Python functions charge: nested ``.all()``
over lists ran past 60 s. cel-go charges at least 1 per iteration; here every
comprehension whose range is a field path (``object.spec.containers``, ``c.env``,
``variables.images``, ``params.data``) is counted on the actual values, nested ones once
per element of the enclosing range, before the expression runs. The count is the worst
case (``all`` and ``exists`` may stop early) and it stops as soon as it passes the limit,
so counting costs no more than the limit itself.

Ranges that are not field paths (a literal list, ``split()``, ``a + b``) are not counted:
their size is bounded by the expression and input size caps only.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


@dataclass
class Comprehension:
    """One macro call: its range as a field path, its variable, what it encloses."""

    path: tuple[str, ...]
    variable: str
    children: list[Comprehension] = field(default_factory=list)


def find_comprehensions(tokens: list[tuple[str, str]]) -> list[Comprehension]:
    """The top-level comprehensions with a field-path range (nested ones as children)."""
    roots: list[Comprehension] = []
    # Open brackets, each with the comprehension it opened (None for other brackets).
    stack: list[Comprehension | None] = []
    for index, (kind, text) in enumerate(tokens):
        if kind == "punct" and text in "([{":
            comprehension = _at(tokens, index)
            if comprehension is not None:
                enclosing = next((c for c in reversed(stack) if c is not None), None)
                (enclosing.children if enclosing else roots).append(comprehension)
            stack.append(comprehension)
        elif kind == "punct" and text in ")]}" and stack:
            stack.pop()
    return roots


def _at(tokens: list[tuple[str, str]], paren: int) -> Comprehension | None:
    """The comprehension whose call opens at ``tokens[paren]``, if it is one we can count."""
    if tokens[paren][1] != "(" or paren < 2:
        return None
    macro, dot = tokens[paren - 1], tokens[paren - 2]
    if macro[0] != "ident" or macro[1] not in _MACROS or dot != ("punct", "."):
        return None
    following = tokens[paren + 1 : paren + 3]
    if len(following) < 2 or following[0][0] != "ident" or following[1] != ("punct", ","):
        return None
    path: list[str] = []
    index = paren - 3
    while index >= 0 and tokens[index][0] == "ident":
        path.append(tokens[index][1])
        if index >= 1 and tokens[index - 1] == ("punct", "."):
            index -= 2
            continue
        index -= 1
        break
    if not path or (index >= 0 and tokens[index][1] in (".", ")", "]")):
        return None  # a receiver that is not a plain field path
    return Comprehension(tuple(reversed(path)), following[0][1])


def worst_case(comprehensions: list[Comprehension], values: Mapping[str, Any], limit: int) -> int:
    """Iterations of ``comprehensions`` on ``values``, counted up to just past ``limit``."""
    total = 0
    pending: list[tuple[Comprehension, Mapping[str, Any]]] = [(c, values) for c in comprehensions]
    while pending and total <= limit:
        comprehension, scope = pending.pop()
        elements = _elements(_resolve(comprehension.path, scope))
        total += len(elements)
        if comprehension.children:
            for element in elements:
                if total > limit:
                    break
                inner = {**scope, comprehension.variable: element}
                pending.extend((child, inner) for child in comprehension.children)
    return total


def _resolve(path: tuple[str, ...], scope: Mapping[str, Any]) -> Any:
    value: Any = scope
    for name in path:
        if not isinstance(value, Mapping) or name not in value:
            return None
        value = value[name]
    return value


def _elements(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return list(value)  # a map comprehension ranges over its keys
    return []
