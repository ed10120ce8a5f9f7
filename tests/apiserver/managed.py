"""``metadata.managedFields`` bookkeeping: who owns which field, Update and Apply semantics.

Purely data-manipulative: no I/O. Mirrors the real field manager closely enough for a
reconciler: Update operations take ownership of every field they changed (so ``kubectl
edit`` steals a field from an applier); Apply operations own exactly the fields of their
configuration, conflict with other owners whose values differ, and prune what they dropped.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from .fields import (
    Path,
    changed_paths,
    field_set,
    from_fields_v1,
    get_at,
    is_container,
    merge,
    prune,
    to_fields_v1,
)


@dataclass
class Entry:
    """One managedFields entry, decoded."""

    manager: str
    operation: str
    api_version: str
    time: str
    fields: set[Path]
    subresource: str = ""

    def same_owner(self, manager: str, operation: str, subresource: str) -> bool:
        """Whether this entry belongs to that (manager, operation, subresource)."""
        return (self.manager, self.operation, self.subresource) == (
            manager,
            operation,
            subresource,
        )

    def encode(self) -> dict[str, Any]:
        """The wire form of this entry."""
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(self.fields),
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out


@dataclass
class Conflict:
    """A field another manager owns with a different value than the applier's."""

    manager: str
    operation: str
    api_version: str
    path: Path

    @property
    def field(self) -> str:
        """The field in the ``.spec.replicas`` notation the real server uses."""
        parts = []
        for element in self.path:
            if element.startswith("f:"):
                parts.append("." + element[2:])
            else:
                keys = json.loads(element[2:])
                parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
        return "".join(parts)

    @property
    def owner(self) -> str:
        """The owner as the real server prints it (Update managers name their apiVersion)."""
        if self.operation == "Update":
            return f'"{self.manager}" using {self.api_version}'
        return f'"{self.manager}"'


@dataclass
class ApplyResult:
    """The outcome of merging an applied configuration."""

    obj: dict[str, Any]
    entries: list[Entry]
    conflicts: list[Conflict] = field(default_factory=list)


def decode(obj: dict[str, Any] | None) -> list[Entry]:
    """The managedFields entries of ``obj`` (empty for a new object)."""
    out = []
    for raw in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        out.append(
            Entry(
                manager=raw.get("manager", ""),
                operation=raw.get("operation", "Update"),
                api_version=raw.get("apiVersion", ""),
                time=raw.get("time", ""),
                fields=from_fields_v1(raw.get("fieldsV1") or {}),
                subresource=raw.get("subresource", ""),
            )
        )
    return out


def encode(entries: list[Entry]) -> list[dict[str, Any]]:
    """The wire form of the entries, dropping managers that own nothing."""
    return [e.encode() for e in entries if e.fields]


def record_update(
    entries: list[Entry],
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    api_version: str,
    now: str,
    *,
    with_status: bool,
    subresource: str = "",
) -> list[Entry]:
    """Entries after ``manager`` wrote ``new`` over ``old`` with an Update operation."""
    entries = [copy.deepcopy(e) for e in entries]
    changed = changed_paths(old, new, with_status)
    gone = field_set(old or {}, maps=True, with_status=with_status) - field_set(
        new, maps=True, with_status=with_status
    )
    for entry in entries:
        entry.fields -= gone | changed
    mine = next((e for e in entries if e.same_owner(manager, "Update", subresource)), None)
    if mine is None:
        if not changed:
            return entries
        mine = Entry(manager, "Update", api_version, now, set(), subresource)
        entries.append(mine)
    if changed:
        mine.fields |= changed
        mine.time = now
        mine.api_version = api_version
    return entries


def apply(
    entries: list[Entry],
    live: dict[str, Any],
    config: dict[str, Any],
    manager: str,
    api_version: str,
    now: str,
    *,
    force: bool,
    with_status: bool,
    subresource: str = "",
) -> ApplyResult:
    """Merge ``config`` applied by ``manager`` into ``live``; report conflicts unless forced."""
    entries = [copy.deepcopy(e) for e in entries]
    applied = field_set(config, maps=False, with_status=with_status)
    conflicts = []
    for path in sorted(applied):
        found, live_value = get_at(live, path)
        _, new_value = get_at(config, path)
        # List items and empty maps only say "this exists": they merge, never conflict.
        if not found or new_value == {} or is_container(path, new_value):
            continue
        if live_value == new_value:
            continue
        for entry in entries:
            # Owners through other subresources (a scale by the HPA) conflict too.
            if entry.same_owner(manager, "Apply", subresource):
                continue
            if path in entry.fields:
                conflicts.append(Conflict(entry.manager, entry.operation, entry.api_version, path))
    if conflicts and not force:
        return ApplyResult(live, entries, conflicts)
    for conflict in conflicts:
        for entry in entries:
            if (entry.manager, entry.operation) == (conflict.manager, conflict.operation):
                entry.fields.discard(conflict.path)
    mine = next((e for e in entries if e.same_owner(manager, "Apply", subresource)), None)
    previous = mine.fields if mine else set()
    merged: dict[str, Any] = merge(live, config)
    others = set().union(*(e.fields for e in entries if e is not mine)) | applied
    # Shortest first: dropping a list item takes its fields with it.
    for path in sorted(previous - applied, key=len):
        prune(merged, path, others)
    if mine is None:
        mine = Entry(manager, "Apply", api_version, now, set(), subresource)
        entries.append(mine)
    if mine.fields != applied:
        mine.time = now
    mine.fields = applied
    mine.api_version = api_version
    return ApplyResult(merged, entries, [])


def conflict_message(conflicts: list[Conflict]) -> str:
    """The Status message of an apply conflict, worded as kube-apiserver words it."""
    if len(conflicts) == 1:
        only = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {only.owner}: {only.field}"
    lines = []
    for owner in sorted({c.owner for c in conflicts}):
        lines.append(f"conflicts with {owner}:")
        lines.extend(f"- {c.field}" for c in conflicts if c.owner == owner)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
