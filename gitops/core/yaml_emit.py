"""PyYAML's block YAML, written without PyYAML for the documents where that is exact.

``yaml.dump`` with the C dumper spends most of its time in Python: the representer builds a
node per value and the resolver runs its regular expressions on every scalar, about 5 s
for 20,000 manifests (``json.dumps`` of the same objects takes 0.3 s). No library on PyPI
writes PyYAML's exact bytes faster (rapidyaml, libfyaml and ruamel.yaml each choose other
quoting, indentation or line folding, and a different byte for one scalar would rewrite
every file of every repository on upgrade).

:class:`BlockEmitter` writes the same bytes as ``yaml.dump(doc, Dumper=D, sort_keys=False,
default_flow_style=False)`` (libyaml's emitter: 2-space indent, sequences inside mappings
not indented, 80 columns). It walks the document itself and writes each string from a
cache: plain when libyaml's analysis allows it *and* the dumper's own implicit resolvers
(the same compiled patterns) read it back as a string, else in single quotes, as libyaml
chooses. A string libyaml would fold at 80 columns or escape (a long sentence, several
lines, non-ASCII) is written by PyYAML itself, placed in a small document at the same
column and indentation, and cut out. A document outside the data model (a root that is
not a non-empty dict, a key that is not a short one-line ASCII string, a tuple, a
subclass) goes to PyYAML whole. Equality with PyYAML is property-tested with hypothesis
(``tests/test_yaml_emit.py``); the bytes are the same as before, so every existing
repository keeps its files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: libyaml's default line width: plain and single-quoted scalars fold at spaces past it.
BEST_WIDTH = 80
#: A simple key is at most 128 characters in libyaml; longer ones are written ``? key``.
MAX_SIMPLE_KEY = 128
_STR_TAG = "tag:yaml.org,2002:str"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_PRINTABLE = frozenset(chr(code) for code in range(0x20, 0x7F))
# First characters that make a plain scalar impossible (libyaml's indicators).
_BAD_FIRST = frozenset("#,[]{}&*!|>'\"%@`")


class _Outside(Exception):
    """The document leaves the subset: PyYAML writes it."""


class BlockEmitter:
    """Writes documents as PyYAML's dumper ``dumper`` would (see the module docstring).

    Args:
        resolvers: the dumper class's ``yaml_implicit_resolvers`` (first character ->
            ``[(tag, pattern)]``, ``None`` for every character).
        fallback: the PyYAML dump of one document, for documents outside the subset.
    """

    def __init__(
        self,
        resolvers: dict[str | None, list[tuple[str, Any]]],
        fallback: Callable[[Any], str],
    ) -> None:
        self._resolvers = resolvers
        self._fallback = fallback
        # Rendered scalars by value; None: outside the subset. Bounded by clearing (below).
        self._values: dict[str, tuple[str, bool] | None] = {}
        self._keys: dict[str, str | None] = {}
        self._placed: dict[tuple[str, int, str | None], str] = {}

    def dump(self, document: Any) -> str:
        """The YAML text of ``document``, byte for byte what the fallback gives."""
        if type(document) is not dict or not document:
            return self._fallback(document)
        if len(self._values) > 200_000 or len(self._keys) > 200_000:
            self._values.clear()
            self._keys.clear()
            self._placed.clear()
        out: list[str] = []
        try:
            self._mapping(document, 0, "", out)
        except _Outside:
            return self._fallback(document)
        return "".join(out)

    def _mapping(self, mapping: dict[Any, Any], indent: int, lead: str, out: list[str]) -> None:
        pad = " " * indent
        for key, value in mapping.items():
            head = f"{lead}{self._key(key)}:"
            lead = pad
            kind = type(value)
            if kind is dict:
                if value:
                    out.append(head + "\n")
                    self._mapping(value, indent + 2, " " * (indent + 2), out)
                else:
                    out.append(head + " {}\n")
            elif kind is list:
                if value:
                    out.append(head + "\n")
                    self._sequence(value, indent, pad, out)  # not indented inside a mapping
                else:
                    out.append(head + " []\n")
            else:
                text = self._scalar(value, len(head) + 1)
                if text is None:  # folded or escaped: PyYAML writes it, at this place
                    text = self._in_context(value, indent, key)
                out.append(f"{head} {text}\n")

    def _sequence(self, items: list[Any], indent: int, lead: str, out: list[str]) -> None:
        pad = " " * indent
        for item in items:
            head = lead + "- "
            lead = pad
            kind = type(item)
            if kind is dict and item:
                self._mapping(item, indent + 2, head, out)
            elif kind is list and item:
                self._sequence(item, indent + 2, head, out)
            elif kind is dict:
                out.append(head + "{}\n")
            elif kind is list:
                out.append(head + "[]\n")
            else:
                text = self._scalar(item, indent + 2)
                if text is None:
                    text = self._in_context(item, indent, None)
                out.append(f"{head}{text}\n")

    def _key(self, key: Any) -> str:
        if type(key) is not str:
            raise _Outside
        text = self._keys.get(key, "")
        if text == "":
            text = self._keys[key] = self._render_key(key)
        if text is None:
            raise _Outside
        return text

    def _scalar(self, value: Any, column: int) -> str | None:
        """The scalar as written at ``column``; ``None``: it depends on more than that."""
        kind = type(value)
        if kind is str:
            found = self._values.get(value)
            if found is None:
                if value in self._values:
                    return None
                found = self._values[value] = self._render_value(value)
                if found is None:
                    return None
            text, spaced = found
            if spaced and column + len(text) > BEST_WIDTH:
                return None  # libyaml folds it at a space past 80 columns
            return text
        if value is None:
            return "null"
        if kind is bool:
            return "true" if value else "false"
        if kind is int:
            return str(value)
        if kind is float:
            return self._float(value)
        raise _Outside

    def _in_context(self, value: str, indent: int, key: str | None) -> str:
        """A string PyYAML folds or escapes, written by PyYAML at the same place.

        libyaml's choice of style depends only on the string; its line breaks on the
        column the scalar starts at and the indentation of the collection holding it
        (``indent``: of the mapping with ``key``, or of the sequence's dashes when ``key``
        is ``None``). A small document of nested one-key mappings recreates both, and the
        scalar's lines are cut out of its dump (continuation lines are already indented).
        """
        place = (value, indent, key)
        text = self._placed.get(place)
        if text is None:
            inner: Any = {key: value} if key is not None else {"a": [value]}
            for _ in range(indent // 2):
                inner = {"a": inner}
            dumped = self._fallback(inner)
            skip = indent // 2 + (0 if key is not None else 1)
            lines = dumped.split("\n")
            first = lines[skip]
            prefix = " " * indent + (self._key(key) + ":" if key is not None else "-")
            if indent % 2 or not first.startswith(prefix + " "):
                raise _Outside  # not the layout expected: PyYAML writes the whole document
            text = "\n".join([first[len(prefix) + 1 :], *lines[skip + 1 :]]).rstrip("\n")
            self._placed[place] = text
        return text

    def _float(self, value: float) -> str:
        # PyYAML's SafeRepresenter.represent_float, then the same implicit-tag check.
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value).lower()
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e", 1)
        if self._resolve(text) != _FLOAT_TAG:
            raise _Outside
        return text

    def _resolve(self, text: str) -> str:
        """The tag the dumper's implicit resolvers give ``text`` written plain."""
        table = self._resolvers
        for tag, pattern in table.get(text[0] if text else "", []) + table.get(None, []):
            if pattern.match(text):
                return str(tag)
        return _STR_TAG

    def _render_value(self, text: str) -> tuple[str, bool] | None:
        """``(written form, contains a space)``, or ``None`` outside the subset."""
        if not all(char in _PRINTABLE for char in text):
            return None  # line breaks, tabs, non-ASCII: quoting and escaping left to PyYAML
        spaced = " " in text
        if _plain_in_block(text) and self._resolve(text) == _STR_TAG:
            return text, spaced
        return "'" + text.replace("'", "''") + "'", spaced

    def _render_key(self, text: str) -> str | None:
        if len(text) > MAX_SIMPLE_KEY or not all(char in _PRINTABLE for char in text):
            return None
        # libyaml (unlike PyYAML's own emitter) applies the block rules to simple keys too.
        if _plain_in_block(text) and self._resolve(text) == _STR_TAG:
            return text
        return "'" + text.replace("'", "''") + "'"


def _plain_in_block(text: str) -> bool:
    """libyaml's analysis: may ``text`` (printable ASCII, one line) be a block plain scalar?"""
    if not text or text[0] == " " or text[-1] == " ":
        return False
    if text.startswith(("---", "...")) or text[0] in _BAD_FIRST:
        return False
    if text[0] in "-?:" and (len(text) == 1 or text[1] == " "):
        return False
    return ": " not in text and not text.endswith(":") and " #" not in text
