"""A faster :func:`gitops.model.dump_one` for plain manifests, byte-identical to it.

PyYAML spends most of a dump in its Python representer and serializer (a node object and
an event per value), not in the C emitter. Manifests are plain dicts, lists, strings,
integers, booleans and ``None``, written in block style, so their YAML can be built
directly as text. :func:`dump` does that for the shapes whose output it knows exactly,
and hands the whole document to :func:`gitops.model.dump_one` for anything else: floats,
tuples, shared containers (PyYAML writes anchors), non-ASCII text, quotes, line breaks,
long keys, a string that could be wrapped at the 80-column width, and any other type.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from gitops.model import dump_one

#: Characters of a string this module writes itself (others go to PyYAML).
_SAFE = re.compile(r"[A-Za-z0-9_./:=+@,$%()*!?&<>^-]+(?: [A-Za-z0-9_./:=+@,$%()*!?&<>^-]+)*")
#: A first character that makes a plain scalar an indicator (quoted by PyYAML).
_INDICATOR_FIRST = frozenset("#,[]{}&*!|>'\"%@`")
#: PyYAML's preferred line width: a plain scalar may be folded at a space past it.
_WIDTH = 80
#: Keys at least this long are written as complex keys (``? key``) by libyaml.
_KEY_LIMIT = 100

_resolver = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
#: Rendering of each string seen (None: PyYAML's to write), bounded for long-lived processes.
_scalars: dict[str, str | None] = {}
_SCALARS_MAX = 200_000


class _Fallback(Exception):
    """The document holds something only PyYAML should write."""


def dump(document: Any) -> str:
    """The YAML text of ``document``, exactly as :func:`gitops.model.dump_one` gives it."""
    if type(document) is not dict or not document:
        return dump_one(document)
    out: list[str] = []
    try:
        _mapping(document, 0, out, False, set())
    except _Fallback:
        return dump_one(document)
    return "".join(out)


def dump_bytes(document: Any) -> bytes:
    """:func:`dump`, encoded as UTF-8 (what a repository file holds)."""
    return dump(document).encode()


def _mapping(value: dict[Any, Any], indent: int, out: list[str], inline: bool,
             seen: set[int]) -> None:  # fmt: skip
    _enter(value, seen)
    pad = " " * indent
    for key, item in value.items():
        if type(key) is not str or not key or len(key) >= _KEY_LIMIT:
            raise _Fallback
        text = _string(key, indent)
        if inline:
            out.append(text)
            inline = False
        else:
            out.append(pad + text)
        kind = type(item)
        if kind is dict:
            if item:
                out.append(":\n")
                _mapping(item, indent + 2, out, False, seen)
            else:
                _enter(item, seen)
                out.append(": {}\n")
        elif kind is list:
            if item:
                out.append(":\n")
                _sequence(item, indent, out, False, seen)  # PyYAML: indentless in a mapping
            else:
                _enter(item, seen)
                out.append(": []\n")
        else:
            out.append(": " + _scalar(item, indent + len(text) + 2) + "\n")


def _sequence(value: list[Any], indent: int, out: list[str], inline: bool,
              seen: set[int]) -> None:  # fmt: skip
    _enter(value, seen)
    pad = " " * indent
    for item in value:
        if inline:
            out.append("- ")
            inline = False
        else:
            out.append(pad + "- ")
        kind = type(item)
        if kind is dict:
            if item:
                _mapping(item, indent + 2, out, True, seen)
            else:
                _enter(item, seen)
                out.append("{}\n")
        elif kind is list:
            if item:
                _sequence(item, indent + 2, out, True, seen)
            else:
                _enter(item, seen)
                out.append("[]\n")
        else:
            out.append(_scalar(item, indent + 2) + "\n")


def _enter(container: Any, seen: set[int]) -> None:
    # A container met twice is written by PyYAML as an anchor and aliases.
    marker = id(container)
    if marker in seen:
        raise _Fallback
    seen.add(marker)


def _scalar(value: Any, column: int) -> str:
    kind = type(value)
    if kind is str:
        return _string(value, column)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    raise _Fallback


def _string(value: str, column: int) -> str:
    text = _scalars.get(value)
    if text is None:
        if value in _scalars:
            raise _Fallback
        if len(_scalars) >= _SCALARS_MAX:
            _scalars.clear()
        text = _scalars[value] = _style(value)
        if text is None:
            raise _Fallback
    if " " in value and column + len(text) > _WIDTH:
        raise _Fallback  # PyYAML may fold it at a space
    return text


def _style(value: str) -> str | None:
    """Plain or single-quoted text of a string as PyYAML writes it, or None if unsure."""
    if value == "":
        return "''"
    if _SAFE.fullmatch(value) is None:
        return None
    plain = not (
        value[0] in _INDICATOR_FIRST
        or (value[0] in "?:-" and (len(value) == 1 or value[1] == " "))
        or value.endswith(":")
        or ": " in value
        or value.startswith(("---", "..."))
    )
    resolved = _resolver.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]  # unannotated in types-PyYAML
    if plain and resolved == _STR_TAG:
        return value
    return f"'{value}'"
