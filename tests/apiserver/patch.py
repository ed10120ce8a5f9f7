"""Patch formats (JSON merge, JSON Patch, strategic merge) and label/field selectors.

Purely data-manipulative: no I/O. Errors are raised as :class:`PatchError` (the server
answers them with 400/422 Status bodies).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonpatch

from .fields import list_keys


class PatchError(ValueError):
    """A patch or selector the server cannot apply (answered as 400 BadRequest)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(target: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 JSON Patch."""
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    try:
        result: dict[str, Any] = jsonpatch.apply_patch(target, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        raise PatchError(
            f"the server rejected our request due to an error in our request: {err}"
        ) from err
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch: like merge patch, but lists with merge keys merge item by item.

    Supports ``$patch: delete``/``replace`` on maps and list items; other ``$`` directives
    (``$setElementOrder``, ``$retainKeys``) are accepted and ignored.
    """
    if not isinstance(patch, dict):
        if isinstance(patch, list) and isinstance(target, list):
            return _merge_list(target, patch, field)
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = strategic_merge_patch(out.get(key), value, key)
    return out


def _merge_list(target: list[Any], patch: list[Any], field: str) -> list[Any]:
    plain = [p for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    keys = list_keys(field, plain or target)
    if keys is None:
        return copy.deepcopy(plain)
    out = [copy.deepcopy(t) for t in target]

    def find(item: dict[str, Any]) -> int | None:
        for i, existing in enumerate(out):
            if all(existing.get(k) == item.get(k) for k in keys if k in item):
                return i
        return None

    for item in patch:
        pos = find(item)
        if item.get("$patch") == "delete":
            if pos is not None:
                del out[pos]
        elif pos is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("$")})
        else:
            out[pos] = strategic_merge_patch(out[pos], item, field)
    return out


_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9._/-]+)\s*"
    r"(?:(?P<op>==|=|!=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[A-Za-z0-9._-]*))?\s*$"
)


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def label_matcher(selector: str) -> Any:
    """Compile a label selector (``=, ==, !=, in, notin, key, !key``) into a predicate."""
    checks = []
    for part in _split_selector(selector):
        match = _REQUIREMENT.match(part)
        if match is None or (match["neg"] and match["op"]):
            raise PatchError(f"unable to parse requirement: {part.strip()!r}")
        key, op, raw = match["key"], (match["op"] or "").strip(), match["value"]
        values = {v.strip() for v in raw.strip("()").split(",")} if raw is not None else set()
        checks.append((bool(match["neg"]), key, op, values))

    def matches(labels: dict[str, str]) -> bool:
        for neg, key, op, values in checks:
            present, value = key in labels, labels.get(key)
            ok = {
                "": present != neg,
                "=": present and value in values,
                "==": present and value in values,
                "!=": not present or value not in values,
                "in": present and value in values,
                "notin": not present or value not in values,
            }[op]
            if not ok:
                return False
        return True

    return matches


def field_matcher(selector: str) -> Any:
    """Compile a field selector over ``metadata.name``/``metadata.namespace``."""
    checks = []
    for part in _split_selector(selector):
        match = re.match(r"^\s*(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(\S*)\s*$", part)
        if match is None:
            raise PatchError(f'field label not supported: "{part.strip()}"')
        checks.append((match[1].split(".")[1], match[2] != "!=", match[3]))

    def matches(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        return all((meta.get(field, "") == value) == equal for field, equal, value in checks)

    return matches
