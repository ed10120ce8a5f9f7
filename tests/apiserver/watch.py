"""``?watch=true``: a chunked stream of ``{"type", "object"}`` events, as kube-apiserver sends.

Without ``resourceVersion`` (or with ``"0"``) the stream starts with an ``ADDED`` event per
existing object; with one, it replays the changes after it from the store's event log (410
Expired as an ``ERROR`` event when the version is older than the log). The stream ends after
``timeoutSeconds`` or when the server stops.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .store import Event, Store

if TYPE_CHECKING:
    from .handler import Route

_DEFAULT_TIMEOUT = 60.0


def collect(
    store: Store,
    route: Route,
    query: dict[str, str],
    matches: Callable[[dict[str, Any]], bool],
    cursor: int | None,
) -> tuple[list[dict[str, Any]], int]:
    """The events due after ``cursor`` (None: the initial ADDED list); caller holds the lock."""
    res, namespace = route.res, route.namespace
    if cursor is None:
        items = store.items(res, namespace or None, copy_items=False)
        events = [{"type": "ADDED", "object": o} for o in items if matches(o)]
        return events, store.revision
    oldest = store.events[0].revision if store.events else store.revision + 1
    if cursor < oldest - 1 and cursor < store.revision:
        expired = ApiError(410, "Expired", f"too old resource version: {cursor} ({oldest - 1})")
        return [{"type": "ERROR", "object": expired.status()}], store.revision
    due: list[Event] = [e for e in store.events if e.revision > cursor]
    out = []
    for event in due:
        group, kind, ns, _ = event.key
        if (group, kind) != (res.group, res.kind) or (namespace and ns != namespace):
            continue
        if matches(event.obj):
            out.append({"type": event.type, "object": event.obj})
    return out, store.revision


def stream(
    store: Store,
    route: Route,
    query: dict[str, str],
    matches: Callable[[dict[str, Any]], bool],
    write: Callable[[bytes], None],
) -> None:
    """Write events as JSON lines through ``write`` until the timeout or server stop."""
    rv = query.get("resourceVersion")
    cursor: int | None = None if rv in (None, "", "0") else int(rv or 0)
    deadline = time.monotonic() + float(query.get("timeoutSeconds") or _DEFAULT_TIMEOUT)
    while True:
        with store.lock:
            if cursor is not None:
                while (
                    store.revision <= cursor and not store.stopping and time.monotonic() < deadline
                ):
                    store.changed.wait(max(0.0, deadline - time.monotonic()))
            events, cursor = collect(store, route, query, matches, cursor)
            stopping = store.stopping
        for event in events:
            write(json.dumps(event).encode() + b"\n")
        if stopping or time.monotonic() >= deadline or any(e["type"] == "ERROR" for e in events):
            return
