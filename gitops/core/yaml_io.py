"""Safe, bounded YAML: every input read under caps, every output dumped the same way.

Purely data-manipulative, except :func:`read_capped`, the one bounded file reader every
YAML input goes through (so an oversized file is refused before it is read whole).
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from gitops.core.errors import InputError
from gitops.core.keys import type_name
from gitops.core.yaml_emit import BlockEmitter
from gitops.core.yaml_input import Caps, iter_documents

try:  # the C implementation is an order of magnitude faster; fall back when absent
    _BaseDumper: type[yaml.SafeDumper] = yaml.CSafeDumper  # type: ignore[assignment]  # same API
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseDumper = yaml.SafeDumper


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]  # a class chosen at import
    """The safe dumper, never writing anchors and aliases.

    A construct may put one Python list or dict in two places (ingress and egress rules
    alike); PyYAML would write ``&id001`` and ``*id001``, which reviewers cannot read and
    some tools reject. Every occurrence is written out in full.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


# Strings that some reader of the repository takes for another type must be quoted. PyYAML
# already quotes YAML 1.1's yes/no/on/off, but not its one-letter booleans (y, Y, n, N),
# which kubectl's YAML 1.1 decoder (sigs.k8s.io/yaml) reads as true/false, nor YAML 1.2's
# 0o octal integers. Registering them as implicit non-strings makes the dumper quote them.
_Dumper.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))
_Dumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?0o[0-7]+$"), list("-+0"))


#: Largest YAML document text accepted, in bytes (a manifest file or an input file).
MAX_YAML_BYTES = 8 * 1024 * 1024
#: Largest total of YAML read at once (the files at a ref, a ``-f`` directory): 20,000
#: objects of 3 KiB. Each file under :data:`MAX_YAML_BYTES` is not enough: 60 files of
#: 8 MiB at a ref made one diff use 1 GB.
MAX_TOTAL_BYTES = 64 * 1024 * 1024
#: Largest number of nodes one document may expand to, counting each alias use in full.
MAX_YAML_NODES = 1_000_000
#: Deepest nesting of mappings and sequences accepted.
MAX_YAML_DEPTH = 100


def non_json_path(value: Any, *, string_keys: bool = True) -> tuple[str, str] | None:
    """Where ``value`` stops being plain JSON, as ``(JSON pointer, type name)``; None if it is.

    Plain JSON: dicts with string keys, lists, strings, ints, finite floats, booleans and
    None. Anything else (a set, a date, NaN, an object) cannot reach the API server as
    written and would be dumped with a Python-specific YAML tag. With ``string_keys``
    False, scalar keys of other types are allowed (YAML ``8080:``, which kubectl turns
    into the string ``"8080"``).
    """
    if _is_plain_json(value, string_keys):
        return None  # the common case, without building a pointer for every node
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str and (string_keys or type(key) not in _SCALAR_KEYS):
                    return f"{path}/{key!r}", f"{type(key).__name__} key"
                name = str(key).replace("~", "~0").replace("/", "~1")
                stack.append((child, f"{path}/{name}"))
        elif kind is list:
            stack.extend((child, f"{path}/{index}") for index, child in enumerate(item))
        elif kind is float and not math.isfinite(item):
            return path or "/", "non-finite float"
        elif kind not in (str, int, float, bool) and item is not None:
            return path or "/", kind.__name__
    return None


_SCALAR_KEYS = (int, float, bool, type(None))
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})


def _is_plain_json(value: Any, string_keys: bool) -> bool:
    """Whether :func:`non_json_path` would find nothing (same rules, no pointers built)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key in item:
                if type(key) is not str and (string_keys or type(key) not in _SCALAR_KEYS):
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind not in _PLAIN_SCALARS:
            return False
    return True


def dump_yaml(documents: Iterable[Any]) -> str:
    """Dump documents as safe, deterministic YAML (``---`` separated, key order kept)."""
    return yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=False
    )


def _pyyaml_one(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


# PyYAML's bytes, written directly for plain data (see gitops.core.yaml_emit): ~8x faster.
_EMITTER = BlockEmitter(_Dumper.yaml_implicit_resolvers, _pyyaml_one)


def dump_one(document: Any) -> str:
    """Dump one document as safe, deterministic YAML (byte for byte PyYAML's)."""
    return _EMITTER.dump(document)


def load_yaml_all(text: str | bytes, source: str) -> list[Any]:
    """Load every document of a YAML stream safely, with size, depth and alias bounds.

    Aliases are allowed, but a document whose expansion exceeds :data:`MAX_YAML_NODES`
    (a "billion laughs" bomb) is refused at the event that passes the cap, before it is
    built; so is one nested deeper than :data:`MAX_YAML_DEPTH`, a mapping with a key twice
    and a value that is not JSON. Empty documents are dropped. Errors are
    :class:`InputError` naming ``source`` and the line.
    """
    size = len(text)
    if size > MAX_YAML_BYTES:
        raise InputError(f"{source}: {size} bytes exceeds the YAML size cap of {MAX_YAML_BYTES}")
    return [parsed.value for parsed in iter_documents(text, source, yaml_caps())]


def yaml_caps() -> Caps:
    """The caps in force (read at each call, so tests can lower them)."""
    return Caps(nodes=MAX_YAML_NODES, depth=MAX_YAML_DEPTH, text=MAX_YAML_BYTES)


def read_capped(path: Path, source: str | None = None) -> bytes:
    """Read a YAML input file, refusing it once it passes :data:`MAX_YAML_BYTES`.

    At most one byte more than the cap is read, so memory stays bounded; anything but a
    regular file (a FIFO, ``/dev/zero``, a socket) is refused without being opened.

    Raises:
        InputError: the file cannot be read or is larger than the cap.
    """
    where = source or str(path)
    try:
        with open_regular(path, where) as handle:
            # read(n) allocates n bytes up front: ask for the file's size (plus one byte,
            # to see growth), not the cap, or each small file costs 8 MiB for a moment.
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(min(size, MAX_YAML_BYTES) + 1)
            if len(data) > size and len(data) <= MAX_YAML_BYTES:  # it grew meanwhile
                data += handle.read(MAX_YAML_BYTES + 1 - len(data))
    except OSError as err:
        raise InputError(f"{where}: cannot read: {err.strerror or err}") from err
    if len(data) > MAX_YAML_BYTES:
        raise InputError(f"{where}: more than {MAX_YAML_BYTES} bytes exceeds the YAML size cap")
    return data


def open_regular(path: Path, where: str) -> BinaryIO:
    """Open a regular file for reading; anything else is refused without being opened.

    Raises:
        InputError: ``path`` is a FIFO, a device, a socket or a directory.
        OSError: it cannot be opened.
    """
    # A FIFO would block the open forever and a device may act on being opened (a tape
    # rewinds): anything but a regular file is refused before it is opened, and again
    # after (non-blocking), in case it was swapped in between.
    _require_regular(os.stat(path).st_mode, where)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    handle = os.fdopen(descriptor, "rb")
    try:
        _require_regular(os.fstat(handle.fileno()).st_mode, where)
    except InputError:
        handle.close()
        raise
    return handle


def _require_regular(mode: int, where: str) -> None:
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a directory"
            if stat.S_ISDIR(mode)
            else (
                "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "not a regular file"
            )
        )
        raise InputError(f"{where}: expected a regular file, found {kind} (not opened)")


def load_yaml(text: str | bytes, source: str) -> Any:
    """Load a single-document YAML text safely (``None`` when empty)."""
    documents = load_yaml_all(text, source)
    if len(documents) > 1:
        raise InputError(f"{source}: expected one YAML document, found {len(documents)}")
    return documents[0] if documents else None


def is_list_kind(document: Mapping[str, Any]) -> bool:
    """Whether kustomize reads ``document`` as a list: its kind ends with ``List``.

    ``kind: List`` (the ``v1`` List of ``kubectl get``), ``ConfigMapList``, any ``XxxList``:
    kustomize inlines their ``items`` whatever the apiVersion, and kubectl applies the
    items of a ``v1`` List one by one, so neither ever sends the list itself.
    """
    kind = document.get("kind")
    return isinstance(kind, str) and kind.endswith("List")


def flatten_lists(documents: Iterable[Any], source: str = "manifest") -> list[Any]:
    """``documents`` with every ``*List`` replaced by its items, recursively (as kustomize).

    A list without ``items`` (or with ``items: null``) is empty; anything else that is not
    a list of items is refused, as kustomize refuses it. Items are checked by the caller
    (:func:`key_of`), exactly like top-level documents.

    Raises:
        InputError: a list's ``items`` is not a list (the list is named by ``source``).
    """
    out: list[Any] = []
    pending = [(document, source) for document in documents]
    pending.reverse()
    while pending:
        document, where = pending.pop()
        if not isinstance(document, Mapping) or not is_list_kind(document):
            out.append(document)
            continue
        items = document.get("items")
        if items is None:
            continue
        if not isinstance(items, list):
            raise InputError(
                f"{where}: {document['kind']}: items must be a list of objects, "
                f"got {type_name(items)}"
            )
        pending.extend(reversed([(item, f"{where}: items[{i}]") for i, item in enumerate(items)]))
    return out
