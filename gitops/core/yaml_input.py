"""Bounded YAML input: values built straight from libyaml's parse events, caps counted as
they arrive.

PyYAML's C loader composes a node graph in C and constructs values from it in Python; the
safety caps (nodes counted with every alias use in full, nesting depth, duplicate keys,
plain JSON values) then needed a second Python walk over every node, which cost more than
the parse itself (12.7 s of 35 s for a 50,000-object diff). Here one Python loop consumes
the C parser's events and does all of it at once: it resolves each plain scalar with the
loader's own YAML 1.1 resolver (so ``yes``/``on`` stay booleans, as today), constructs
values with the loader's own constructors, counts nodes and depth, and stops at the event
that passes a cap, so a hostile text is refused before it is built.

:func:`iter_documents` reads from a string, bytes or a binary file read in chunks by
libyaml; with ``stream_items`` the items of a top-level ``*List`` are handed out one at a
time and the caps apply to each item (a 200,000-object ``kubectl get -o yaml`` capture is
hundreds of MB; its objects are each small).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from types import GeneratorType
from typing import IO, Any

import yaml
from yaml.nodes import ScalarNode

from gitops.core.errors import InputError

try:  # the C parser is an order of magnitude faster; fall back when absent
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]  # same API
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


class Loader(_BaseLoader):  # type: ignore[valid-type,misc]  # a class chosen at import
    """The safe loader, reading YAML as Kubernetes does (sigs.k8s.io/yaml: YAML as JSON)."""


def _timestamp_as_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    # kubectl keeps `date: 2024-01-01` a string; a datetime here would not even serialize
    # to JSON (for a patch, a report or the API).
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]  # a ScalarNode


Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_string)

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Caps:
    """The bounds one document (or one streamed item) is held to.

    Attributes:
        nodes: most nodes, counting each alias use as the whole node it names.
        depth: deepest nesting of mappings and sequences (the root is level 1).
        text: longest scalar, and longest text of one streamed item, in bytes.
    """

    nodes: int
    depth: int
    text: int = 8 * 1024 * 1024


def _resolvers() -> dict[str, list[tuple[str, Any]]]:
    """The loader's implicit resolvers by first character, wildcards appended (as
    :meth:`yaml.resolver.BaseResolver.resolve` tries them)."""
    table: dict[Any, list[tuple[str, Any]]] = Loader.yaml_implicit_resolvers
    wildcard = table.get(None, [])
    return {key: [*value, *wildcard] for key, value in table.items() if key is not None}


_RESOLVERS = _resolvers()
_WILDCARD: list[tuple[str, Any]] = Loader.yaml_implicit_resolvers.get(None, [])


@dataclass
class _Frame:
    """One open mapping or sequence."""

    value: Any
    is_map: bool
    line: int
    anchor: str | None
    expanded_at_start: int
    key: Any = None
    has_key: bool = False
    keys: set[str] | None = None
    merges: list[Any] | None = None
    #: An item of a streamed ``*List``: handed out, not kept.
    streamed: bool = False
    start_index: int = 0


class _Builder:
    """Builds the documents of one YAML stream from its parse events."""

    def __init__(self, loader: Loader, source: str, caps: Caps, stream_items: bool) -> None:
        self.loader, self.source, self.caps, self.stream_items = loader, source, caps, stream_items
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.stack: list[_Frame] = []
        self.raw = self.expanded = 0
        #: Counts and depth are relative to the streamed item being built, if any.
        self.base_raw = self.base_expanded = self.base_depth = 0
        self.root_line = 0
        #: The file being read, told where the parse has got to (None for a text).
        self.reader: _BoundedReader | None = None

    # -- caps ---------------------------------------------------------------------------

    def _count(self, event: Any, alias_size: int = 0) -> None:
        if alias_size:
            self.expanded += alias_size
        else:
            self.raw += 1
            self.expanded += 1
        if self.raw - self.base_raw > self.caps.nodes:
            what = "an item" if self.base_depth else "document"
            raise InputError(
                f"{self.source}: line {event.start_mark.line + 1}: {what} has more than "
                f"{self.caps.nodes} nodes"
            )
        if self.expanded - self.base_expanded > self.caps.nodes:
            raise InputError(
                f"{self.source}: document expands to more than {self.caps.nodes} nodes "
                "(alias expansion bomb?)"
            )

    def _check_depth(self, event: Any) -> None:
        if len(self.stack) + 1 - self.base_depth > self.caps.depth:
            raise InputError(
                f"{self.source}: line {event.start_mark.line + 1}: nesting deeper than "
                f"{self.caps.depth} levels"
            )

    def _not_json(self, type_name: str) -> InputError:
        pointer = ""
        for frame in self.stack:
            if frame.is_map:
                pointer += "/" + str(frame.key).replace("~", "~0").replace("/", "~1")
            else:
                pointer += f"/{len(frame.value)}"
        return InputError(
            f"{self.source}: document at line {self.root_line}: {pointer or '/'} is a "
            f"{type_name}, not a JSON value (tags such as !!set, !!binary and .nan have no "
            "Kubernetes meaning)"
        )

    # -- values ---------------------------------------------------------------------------

    def scalar(self, event: Any) -> Any:
        """The value of a scalar event, resolved and constructed as the loader would."""
        tag, value = event.tag, event.value
        if len(value) > self.caps.text:
            raise InputError(
                f"{self.source}: line {event.start_mark.line + 1}: a scalar of more than "
                f"{self.caps.text} bytes exceeds the YAML size cap"
            )
        if tag is None or tag == "!":
            if event.implicit[0]:
                for candidate, regexp in _RESOLVERS.get(value[:1], _WILDCARD):
                    if regexp.match(value):
                        tag = candidate
                        break
                else:
                    return value
            else:
                return value
        if tag == _STR:
            return value
        is_key = bool(self.stack) and self.stack[-1].is_map and not self.stack[-1].has_key
        if is_key and tag == _MERGE:
            return _MergeKey
        if is_key and tag == _VALUE:  # `=` as a key is a string (PyYAML's flatten_mapping)
            return value
        constructor = Loader.yaml_constructors.get(tag)
        if constructor is None:
            raise yaml.constructor.ConstructorError(
                None, None, f"could not determine a constructor for the tag {tag!r}",
                event.start_mark,
            )  # fmt: skip
        # Called directly, not through construct_object: its cache of constructed nodes
        # would keep every typed scalar of a streamed capture alive.
        node = ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
        built = constructor(self.loader, node)
        if isinstance(built, GeneratorType):  # a collection's constructor on a scalar
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a collection for the tag {tag!r}", event.start_mark
            )
        if type(built) is float and not math.isfinite(built):
            if is_key:
                return built  # a key: YAML allows it, and it becomes a string for the API
            raise self._not_json("non-finite float")
        if not isinstance(built, _JSON_SCALARS):
            raise self._not_json(type(built).__name__)
        return built

    def add(self, value: Any, event: Any, size: int) -> Any:
        """Put ``value`` (``size`` nodes expanded) into the open collection; return the
        finished root value, or ``_Pending`` while a document is still open."""
        if not self.stack:
            return value
        frame = self.stack[-1]
        if not frame.is_map:
            frame.value.append(value)
            return _Pending
        if not frame.has_key:
            if isinstance(value, (list, dict)):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", None, "found unhashable key", event.start_mark
                )
            if event is not None and event.__class__ is yaml.ScalarEvent:
                assert frame.keys is not None
                if event.value in frame.keys:
                    mark: Any = event.start_mark
                    raise InputError(
                        f"{self.source}: line {mark.line + 1}: duplicate mapping key "
                        f"{event.value!r} (each key may appear once in a mapping; the later "
                        "value would silently replace the earlier)"
                    )
                frame.keys.add(event.value)
            frame.key, frame.has_key = value, True
            return _Pending
        if frame.key is _MergeKey:
            self._merge(frame, value, event)
        else:
            frame.value[frame.key] = value
        frame.key, frame.has_key = None, False
        return _Pending

    def _merge(self, frame: _Frame, value: Any, event: Any) -> None:
        mappings = value if isinstance(value, list) else [value]
        if not all(isinstance(m, dict) for m in mappings):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", None,
                "expected a mapping or list of mappings for merging", event.start_mark,
            )  # fmt: skip
        if frame.merges is None:
            frame.merges = []
        frame.merges.extend(mappings)

    def open(self, event: Any, is_map: bool) -> None:
        """Start a mapping or sequence."""
        tag = event.tag
        if tag not in (None, "!", _MAP if is_map else _SEQ):
            if tag in Loader.yaml_constructors:  # !!set, !!omap, !!pairs: safe, not JSON
                raise self._not_json(tag.rsplit(":", 1)[-1])
            raise yaml.constructor.ConstructorError(
                None, None, f"could not determine a constructor for the tag {tag!r}",
                event.start_mark,
            )  # fmt: skip
        self._check_depth(event)
        self._count(event)
        if not self.stack:
            self.root_line = event.start_mark.line + 1
        streamed = (
            self.stream_items
            and len(self.stack) == 2
            and not self.stack[1].is_map
            and self.stack[0].is_map
            and self.stack[0].key == "items"
        )
        frame = _Frame(
            {} if is_map else [], is_map, event.start_mark.line + 1, event.anchor,
            self.expanded - 1, keys=set() if is_map else None, streamed=streamed,
            start_index=event.start_mark.index,
        )  # fmt: skip
        if streamed:
            self.base_raw, self.base_expanded = self.raw - 1, self.expanded - 1
            self.base_depth = 2
        self.stack.append(frame)

    def close(self) -> tuple[Any, _Frame]:
        """End the innermost collection; return its value and frame."""
        frame = self.stack.pop()
        value = frame.value
        if frame.merges:
            # PyYAML 6.0.4's order, as this project always read it: the mappings of
            # `<<: [*a, *b]` in turn, a later one overriding, one merged twice taken once.
            merged: dict[Any, Any] = {}
            seen: set[int] = set()
            for mapping in frame.merges:
                if id(mapping) not in seen:
                    seen.add(id(mapping))
                    merged.update(mapping)
            merged.update(value)
            value = frame.value = merged
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (value, self.expanded - frame.expanded_at_start)
        return value, frame


class _BoundedReader:
    """A binary file fed to libyaml that refuses to read on far past the last parse event.

    libyaml buffers a token whole before it emits its event, so a 500 MB scalar would be
    in memory before any cap could look at it. Reads stop once more than the text cap
    has been read since the last event began (character and byte offsets match for
    ASCII; other text is refused a little early).
    """

    def __init__(self, handle: IO[bytes], limit: int, source: str) -> None:
        self.handle, self.limit, self.source = handle, limit, source
        self.consumed = 0
        self.mark = 0

    def read(self, size: int) -> bytes:
        if self.consumed - self.mark > self.limit:
            raise InputError(
                f"{self.source}: more than {self.limit} bytes past offset {self.mark} "
                "without a complete value exceeds the YAML size cap"
            )
        data = self.handle.read(size)
        self.consumed += len(data)
        return data


class _MergeKeyType:
    """The ``<<`` key of a mapping, merged at the mapping's end, never stored."""


class _PendingType:
    """No finished document yet."""


_MergeKey = _MergeKeyType()
_Pending = _PendingType()


def _events(builder: _Builder, document_start: Any) -> Iterator[Any]:
    """Build one document; yield streamed items, then the document's root value."""
    loader = builder.loader
    get = loader.get_event
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    seq_start, map_start = yaml.SequenceStartEvent, yaml.MappingStartEvent
    builder.anchors = {}
    reader = builder.reader
    while True:
        event = get()
        kind = type(event)
        if reader is not None:
            reader.mark = event.start_mark.index
        if kind is scalar_event:
            builder._check_depth(event)
            builder._count(event)
            if not builder.stack:
                builder.root_line = event.start_mark.line + 1
            value = builder.scalar(event)
            if event.anchor is not None:
                builder.anchors[event.anchor] = (value, 1)
            done = builder.add(value, event, 1)
        elif kind is map_start or kind is seq_start:
            builder.open(event, kind is map_start)
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            value, frame = builder.close()
            if frame.streamed:
                if event.end_mark.index - frame.start_index > builder.caps.text:
                    raise InputError(
                        f"{builder.source}: line {frame.line}: an item of more than "
                        f"{builder.caps.text} bytes exceeds the YAML size cap"
                    )
                builder.raw, builder.expanded = builder.base_raw, builder.base_expanded
                builder.base_raw = builder.base_expanded = builder.base_depth = 0
                yield _Item(value, frame.line)
                continue
            done = builder.add(value, event, 0)
        elif kind is alias_event:
            if event.anchor not in builder.anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
            value, size = builder.anchors[event.anchor]
            builder._count(event, size)
            done = builder.add(value, event, size)
        elif kind is yaml.DocumentEndEvent:
            return
        else:  # pragma: no cover - the parser emits nothing else inside a document
            continue
        if done is not _Pending:
            yield _Root(done)


@dataclass(frozen=True)
class _Item:
    value: Any
    line: int


@dataclass(frozen=True)
class _Root:
    value: Any


@dataclass(frozen=True)
class Parsed:
    """One value handed out by :func:`iter_documents`.

    Attributes:
        value: a document's root value, or one item of a streamed ``*List``.
        document: the document's number in the stream (1-based).
        item: the item's index in the List's ``items``, or None for a whole document.
        line: the line the value starts on (1-based).
    """

    value: Any
    document: int
    item: int | None
    line: int


def iter_documents(
    stream: str | bytes | IO[bytes], source: str, caps: Caps, *, stream_items: bool = False
) -> Iterator[Parsed]:
    """Every non-empty document of a YAML stream, built under ``caps``.

    Args:
        stream: the text, or a binary file libyaml reads in chunks.
        source: names the input in errors.
        caps: the node and depth bounds, per document (per item when streamed).
        stream_items: hand out the items of a top-level mapping's ``items`` sequence one by
            one as they are parsed (the caps then apply to each item); the mapping itself
            follows with its ``items`` empty.

    Raises:
        InputError: invalid YAML, a cap passed, a duplicate key or a value that is not
            JSON, naming ``source`` and the line.
    """
    reader = None
    if not isinstance(stream, (str, bytes)):
        reader = _BoundedReader(stream, caps.text, source)
    loader = Loader(reader or stream)
    builder = _Builder(loader, source, caps, stream_items)
    builder.reader = reader
    number = 0
    try:
        while True:
            event = loader.get_event()
            if type(event) is yaml.StreamEndEvent:
                return
            if type(event) is not yaml.DocumentStartEvent:
                continue
            number += 1
            index = 0
            for built in _events(builder, event):
                if isinstance(built, _Item):
                    yield Parsed(built.value, number, index, built.line)
                    index += 1
                elif built.value is not None:
                    yield Parsed(built.value, number, None, builder.root_line)
            builder.stack.clear()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f": line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError(f"{source}{where}: invalid YAML: {problem}") from None
    except (ValueError, TypeError, OverflowError) as err:
        # A scalar its tag cannot hold (`!!int abc`, an int of 5,000 digits): the
        # constructor's message quotes the value, which may be a secret, so it is not shown.
        raise InputError(
            f"{source}: invalid YAML: a value does not fit its type ({type(err).__name__})"
        ) from None
    finally:
        loader.dispose()
