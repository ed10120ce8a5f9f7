"""Field paths, FieldsV1 encoding and structural merge, as server-side apply sees objects.

Purely data-manipulative: no I/O. A field path is a tuple of FieldsV1 path elements
(``"f:spec"``, ``'k:{"name":"vllm"}'``). Lists of objects with a known merge key are
*associative* (merged item by item, each item addressed by its key); other lists, and a few
maps the real schema marks atomic, are replaced whole and owned as one leaf.
"""

from __future__ import annotations

import copy
import json
from typing import Any

Path = tuple[str, ...]

# Merge keys of the associative lists this server knows (the real schema has more).
_LIST_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "hostAliases": ("ip",),
    "ownerReferences": ("uid",),
}
_DEFAULT_KEY_VALUES = {"protocol": "TCP"}
# Maps the real schema declares atomic (owned and replaced as a whole).
_ATOMIC_MAPS = frozenset({"selector", "nodeSelector"})
# Non-pointer struct fields: the real server writes no "." for them in Update entries.
_STRUCT_FIELDS = frozenset({"metadata", "spec", "template", "strategy", "status", "jobTemplate"})
# Metadata fields that belong to the server, never to a field manager.
_SERVER_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


def list_keys(field: str, items: list[Any]) -> tuple[str, ...] | None:
    """The merge key of list ``field``, or None when the list is atomic."""
    if not items or not all(isinstance(i, dict) for i in items):
        return _LIST_KEYS.get(field) if not items else None
    if field == "ports":
        if all("containerPort" in i for i in items):
            return ("containerPort", "protocol")
        if all("port" in i for i in items):
            return ("port", "protocol")
        return None
    return _LIST_KEYS.get(field)


def item_key(keys: tuple[str, ...], item: dict[str, Any]) -> str:
    """The ``k:{...}`` path element addressing ``item`` in an associative list."""
    values = {k: item.get(k, _DEFAULT_KEY_VALUES.get(k)) for k in keys}
    return "k:" + json.dumps(values, sort_keys=True, separators=(",", ":"))


def _managed_top(obj: dict[str, Any], with_status: bool) -> dict[str, Any]:
    """The part of an object that field managers own."""
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    if not with_status:
        out.pop("status", None)
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    if meta:
        out["metadata"] = meta
    return out


def field_set(obj: dict[str, Any], *, maps: bool, with_status: bool = False) -> set[Path]:
    """Every owned path of ``obj``: leaves and list items, plus non-empty maps if ``maps``.

    Apply operations own leaves and list items; Update operations also own each map.
    """
    out: set[Path] = set()
    _walk(_managed_top(obj, with_status), (), "", out, maps)
    return out


def _walk(value: Any, path: Path, field: str, out: set[Path], maps: bool) -> None:
    if isinstance(value, dict) and value and field not in _ATOMIC_MAPS:
        if maps and path and field not in _STRUCT_FIELDS:
            out.add(path)
        for k, v in value.items():
            _walk(v, (*path, f"f:{k}"), k, out, maps)
        return
    if isinstance(value, list) and value:
        keys = list_keys(field, value)
        if keys is not None:
            for item in value:
                item_path = (*path, item_key(keys, item))
                out.add(item_path)
                for k, v in item.items():
                    _walk(v, (*item_path, f"f:{k}"), k, out, maps)
            return
    if path:
        out.add(path)


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    """Encode a set of paths as a FieldsV1 tree (``{"f:spec": {"f:replicas": {}}}``)."""
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = tree
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted_tree(tree[k]) for k in sorted(tree)}


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """Decode a FieldsV1 tree into the set of paths it owns."""
    out: set[Path] = set()
    for element, child in tree.items():
        if element == ".":
            out.add(prefix)
            continue
        path = (*prefix, element)
        if not child:
            out.add(path)
        else:
            out |= from_fields_v1(child, path)
    return out


def _step(node: Any, element: str, field: str) -> tuple[bool, Any, str]:
    """Follow one path element; return (found, child, child's field name)."""
    if element.startswith("f:"):
        name = element[2:]
        if isinstance(node, dict) and name in node:
            return True, node[name], name
        return False, None, name
    if element.startswith("k:") and isinstance(node, list):
        keys = list_keys(field, node)
        for item in node:
            if keys is not None and item_key(keys, item) == element:
                return True, item, field
    return False, None, field


def get_at(obj: dict[str, Any], path: Path) -> tuple[bool, Any]:
    """The value at ``path`` in ``obj`` (``(False, None)`` when absent)."""
    node: Any = obj
    field = ""
    for element in path:
        found, node, field = _step(node, element, field)
        if not found:
            return False, None
    return True, node


def remove_at(obj: dict[str, Any], path: Path) -> bool:
    """Remove the field or list item at ``path``; return whether something was removed."""
    if not path:
        return False
    found, parent = get_at(obj, path[:-1])
    if not found:
        return False
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict) and last[2:] in parent:
        del parent[last[2:]]
        return True
    if last.startswith("k:") and isinstance(parent, list):
        field = path[-2][2:] if len(path) > 1 else ""
        keys = list_keys(field, parent)
        for i, item in enumerate(parent):
            if keys is not None and item_key(keys, item) == last:
                del parent[i]
                return True
    return False


def merge(live: Any, config: Any, field: str = "") -> Any:
    """Merge an applied configuration into a live value (structural, list-map aware)."""
    if isinstance(live, dict) and isinstance(config, dict) and field not in _ATOMIC_MAPS:
        out = dict(live)
        for k, v in config.items():
            out[k] = merge(live[k], v, k) if k in live else copy.deepcopy(v)
        return out
    if isinstance(live, list) and isinstance(config, list):
        keys = list_keys(field, config) if config else None
        if keys is not None and list_keys(field, live) == keys:
            return _merge_list(live, config, keys, field)
    return copy.deepcopy(config)


def _merge_list(live: list[Any], config: list[Any], keys: tuple[str, ...], field: str) -> list[Any]:
    """Merge associative lists the way structured-merge-diff does.

    The applied order wins for items in both lists; items only in the live list keep their
    place relative to their live neighbours; new items land where the config puts them.
    """
    lhs = [(item_key(keys, i), i) for i in live]
    rhs = [(item_key(keys, i), i) for i in config]
    in_lhs, in_rhs = dict(lhs), dict(rhs)
    shared = [k for k, _ in rhs if k in in_lhs]
    out: list[Any] = []
    merged: set[str] = set()
    li = ri = 0
    while li < len(lhs) or ri < len(rhs):
        if li < len(lhs) and ri < len(rhs):
            key = lhs[li][0]
            if key == rhs[ri][0]:
                out.append(merge(in_lhs[key], in_rhs[key], field))
                merged.add(key)
                shared = shared[1:] if shared and shared[0] == key else shared
                li, ri = li + 1, ri + 1
                continue
            if key in in_rhs and shared and shared[0] != key:
                li += 1  # a shared item, but not the next one in applied order
                continue
        if li < len(lhs):
            key = lhs[li][0]
            if key not in in_rhs:
                out.append(copy.deepcopy(in_lhs[key]))
                li += 1
                continue
            if key in merged:
                li += 1
                continue
        if ri < len(rhs):
            key = rhs[ri][0]
            merged.add(key)
            if key in in_lhs:
                out.append(merge(in_lhs[key], in_rhs[key], field))
            else:
                out.append(copy.deepcopy(in_rhs[key]))
            shared = shared[1:] if shared and shared[0] == key else shared
            ri += 1
    return out


def prune(obj: dict[str, Any], path: Path, owned_elsewhere: set[Path]) -> None:
    """Remove ``path`` unless someone else owns it or a field below it.

    Parents emptied by the removal go too, unless they are owned themselves.
    """
    if any(p[: len(path)] == path for p in owned_elsewhere):
        return
    if not remove_at(obj, path):
        return
    parent = path[:-1]
    while parent:
        found, value = get_at(obj, parent)
        if not found or value or any(p[: len(parent)] == parent for p in owned_elsewhere):
            return
        remove_at(obj, parent)
        parent = parent[:-1]


def changed_paths(old: dict[str, Any] | None, new: dict[str, Any], with_status: bool) -> set[Path]:
    """Paths of ``new`` (Update granularity) that are new or hold a different value."""
    out = set()
    for path in field_set(new, maps=True, with_status=with_status):
        found, old_value = get_at(old or {}, path)
        if not found:
            out.add(path)
            continue
        _, new_value = get_at(new, path)
        if not is_container(path, new_value) and old_value != new_value:
            out.add(path)
    return out


def is_container(path: Path, value: Any) -> bool:
    """Whether ``path`` holds a list item or a non-atomic map (owned apart from its leaves)."""
    if path and path[-1].startswith("k:"):
        return True
    field = path[-1][2:] if path else ""
    return isinstance(value, dict) and bool(value) and field not in _ATOMIC_MAPS
