"""The request log and the fault queue: what tests inspect and what they make go wrong."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    """A canned failure for matching requests; fires ``times`` times, then is spent.

    Attributes:
        path: Regular expression searched in the URL path ("" matches every path).
        method: HTTP method to match (None: any).
        verb: Kubernetes verb to match (``list``, ``get``, ``patch``, ``apply``...; None: any).
        kind: Object kind to match (None: any).
        status: HTTP status to answer with (0: answer normally, after ``delay``).
        retry_after: ``Retry-After`` header value in seconds.
        delay: Seconds to sleep before answering (a slow server).
        reset: Reset the TCP connection instead of answering.
        times: How many requests it fires for.
        message: The Status message (a default names the fault).
    """

    path: str = ""
    method: str | None = None
    verb: str | None = None
    kind: str | None = None
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0
    reset: bool = False
    times: int = 1
    message: str = ""
    fired: int = 0


@dataclass
class RequestRecord:
    """One request as the server saw it (``code`` 0 means the connection was reset)."""

    method: str
    path: str
    query: dict[str, str]
    verb: str
    group: str = ""
    version: str = ""
    kind: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    content_type: str = ""
    field_manager: str = ""
    dry_run: bool = False
    code: int = 0

    @property
    def is_apply(self) -> bool:
        """Whether this is a server-side apply (a PATCH with the apply content type)."""
        return self.verb == "patch" and self.content_type == "application/apply-patch+yaml"


class RequestLog:
    """Thread-safe request records and queued faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._faults: list[Fault] = []

    def inject(self, fault: Fault) -> Fault:
        """Queue a fault; the first queued fault that matches a request fires."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def take_fault(self, record: RequestRecord) -> Fault | None:
        """The fault that fires for ``record``, if any (used by the handler)."""
        with self._lock:
            for fault in self._faults:
                if fault.fired >= fault.times:
                    continue
                if fault.method and fault.method != record.method:
                    continue
                verbs = {record.verb, "apply"} if record.is_apply else {record.verb}
                if fault.verb and fault.verb not in verbs:
                    continue
                if fault.kind and fault.kind != record.kind:
                    continue
                if fault.path and not re.search(fault.path, record.path):
                    continue
                fault.fired += 1
                return fault
        return None

    def add(self, record: RequestRecord) -> None:
        """Log one request."""
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._records)

    def count(self, verb: str | None = None, kind: str | None = None, **match: Any) -> int:
        """How many requests match (``verb="apply"`` counts server-side applies)."""
        total = 0
        for rec in self.records():
            if verb == "apply" and not rec.is_apply:
                continue
            if verb not in (None, "apply") and rec.verb != verb:
                continue
            if kind is not None and rec.kind != kind:
                continue
            if all(getattr(rec, k) == v for k, v in match.items()):
                total += 1
        return total

    def reset(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._records.clear()
