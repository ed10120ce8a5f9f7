"""Field ownership from ``metadata.managedFields`` (the FieldsV1 trees of server-side apply).

Purely data-manipulative: no I/O. A FieldsV1 tree is a mapping whose keys are ``f:<name>``
(a field), ``k:<json>`` (a list item picked by its key fields), ``v:<json>`` (a set element),
``i:<index>`` (a list item by position) or ``.`` (the node itself); an empty mapping is a
leaf (the whole value is owned).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

#: A FieldsV1 tree as the API server serializes it.
FieldsTree = Mapping[str, Any]


def is_leaf(tree: FieldsTree) -> bool:
    """Whether ``tree`` owns its value as a whole (no owned sub-fields)."""
    return all(key == "." for key in tree)


def _merge(into: dict[str, Any], tree: FieldsTree) -> None:
    for key, child in tree.items():
        if type(child) is not dict and not isinstance(child, Mapping):
            continue
        target = into.setdefault(key, {})
        _merge(target, child)


def merged_tree(
    live: Mapping[str, Any], managers: Iterable[str], operation: str | None = None
) -> dict[str, Any] | None:
    """Union of the FieldsV1 trees of the named managers in ``live`` (None if none match).

    Args:
        live: the live object (with ``metadata.managedFields``).
        managers: manager names to include.
        operation: only entries with this operation (``Apply`` or ``Update``); any if None.
    """
    wanted = set(managers)
    metadata = live.get("metadata")
    entries = metadata.get("managedFields") if isinstance(metadata, Mapping) else None
    if not wanted or not isinstance(entries, list):
        return None
    merged: dict[str, Any] | None = None
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("manager") not in wanted:
            continue
        if operation is not None and entry.get("operation") != operation:
            continue
        # Apply of the main resource only: a status subresource entry is not our manifest.
        if operation == "Apply" and entry.get("subresource") not in (None, ""):
            continue
        fields = entry.get("fieldsV1")
        if isinstance(fields, Mapping):
            merged = {} if merged is None else merged
            _merge(merged, fields)
    return merged


def managers_except(live: Mapping[str, Any], excluded: Iterable[str]) -> list[str]:
    """Names of the field managers in ``live`` other than ``excluded``."""
    metadata = live.get("metadata")
    entries = metadata.get("managedFields") if isinstance(metadata, Mapping) else None
    skip = set(excluded)
    names = {
        str(entry.get("manager"))
        for entry in entries or ()
        if isinstance(entry, Mapping)
        and entry.get("manager") not in skip
        and entry.get("subresource") in (None, "")
    }
    return sorted(names)


def child(tree: FieldsTree | None, name: str) -> FieldsTree | None:
    """The sub-tree of field ``name`` (None when not owned)."""
    if tree is None:
        return None
    sub = tree.get(f"f:{name}")
    if sub is None or type(sub) is dict:  # type() first: an ABC check costs ten times more
        return sub
    return sub if isinstance(sub, Mapping) else None


def item_index(tree: FieldsTree | None) -> dict[frozenset[tuple[str, Any]], FieldsTree]:
    """Sub-trees of ``k:{...}`` list items, indexed by their key fields as a frozenset."""
    index: dict[frozenset[tuple[str, Any]], FieldsTree] = {}
    if tree is None:
        return index
    for key, sub in tree.items():
        if not key.startswith("k:") or not isinstance(sub, Mapping):
            continue
        try:
            fields = json.loads(key[2:])
        except ValueError:
            continue
        if isinstance(fields, dict):
            frozen = frozenset((str(k), _hashable(v)) for k, v in fields.items())
            index[frozen] = sub
    return index


def set_values(tree: FieldsTree | None) -> list[Any]:
    """The owned elements of a set list (``v:<json>`` keys)."""
    values: list[Any] = []
    for key in tree or ():
        if key.startswith("v:"):
            try:
                values.append(json.loads(key[2:]))
            except ValueError:
                continue
    return values


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return json.dumps(value)
    return value


def item_key(fields: Mapping[str, Any]) -> frozenset[tuple[str, Any]]:
    """Frozen form of an item's key fields, comparable with :func:`item_index` keys."""
    return frozenset((k, _hashable(v)) for k, v in fields.items())
