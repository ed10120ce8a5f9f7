"""LIST: label/field selection, ``limit``/``continue`` pagination over consistent snapshots."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .patch import PatchError, field_matcher, label_matcher
from .resources import Resource
from .store import Store


def encode_continue(snapshot: str, offset: int, revision: int) -> str:
    """An opaque continue token (the real one is also base64 JSON)."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "s": snapshot, "o": offset, "rv": revision})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_continue(token: str) -> tuple[str, int]:
    """The snapshot id and offset in a continue token; 400 when it is not one of ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(data["s"]), int(data["o"])
    except (ValueError, KeyError, TypeError) as err:
        raise ApiError(400, "BadRequest", f"continue key is not valid: {err}") from err


def matcher(query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    """The predicate of ``labelSelector`` and ``fieldSelector`` (400 when unparseable)."""
    try:
        labels = label_matcher(query.get("labelSelector", ""))
        fields = field_matcher(query.get("fieldSelector", ""))
    except PatchError as err:
        raise ApiError(400, "BadRequest", str(err)) from err

    def matches(obj: dict[str, Any]) -> bool:
        return bool(labels(obj["metadata"].get("labels") or {}) and fields(obj))

    return matches


def select(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """Filter by ``labelSelector`` and ``fieldSelector``."""
    matches = matcher(query)
    return [o for o in items if matches(o)]


@dataclass
class _Snapshot:
    items: list[dict[str, Any]]
    revision: int
    res: Resource = field(repr=False)


class Lister:
    """Answers LIST requests; keeps the snapshot behind each outstanding continue token."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.snapshots: dict[str, _Snapshot] = {}

    def page(self, res: Resource, namespace: str | None, query: dict[str, str]) -> Any:
        """A ``<Kind>List`` page (used by the handler; caller holds the store lock)."""
        limit = int(query.get("limit") or 0)
        token = query.get("continue")
        if token:
            snap_id, offset = decode_continue(token)
            snapshot = self.snapshots.get(snap_id)
            if snapshot is None or snapshot.res != res:
                raise ApiError(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a "
                    "consistent list result. You can start a new list without the continue "
                    "parameter.",
                )
        else:
            items = select(self.store.items(res, namespace, copy_items=False), query)
            snap_id, offset = uuid.uuid4().hex, 0
            snapshot = _Snapshot(items, self.store.revision, res)
        end = offset + limit if limit else len(snapshot.items)
        page = copy.deepcopy(snapshot.items[offset:end])
        meta: dict[str, Any] = {"resourceVersion": str(snapshot.revision)}
        if end < len(snapshot.items):
            self.snapshots[snap_id] = snapshot
            meta["continue"] = encode_continue(snap_id, end, snapshot.revision)
            meta["remainingItemCount"] = len(snapshot.items) - end
        if not res.custom:
            # The real server omits apiVersion/kind on the items of built-in lists.
            page = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in page]
        return {
            "kind": res.list_kind,
            "apiVersion": res.api_version,
            "metadata": meta,
            "items": page,
        }

    def expire(self) -> None:
        """Make every outstanding continue token answer 410 Expired (as after compaction)."""
        with self.store.lock:
            self.snapshots.clear()
