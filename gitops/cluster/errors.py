"""Errors of the live cluster, and the mapping of API server answers onto them.

Purely data-manipulative: no I/O. Kept apart from :mod:`gitops.cluster.client` so that code
handling these errors need not import ``kubernetes``. Every message is one line naming the
cluster, the request, the HTTP status and the server's reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import NamedTuple

from gitops.core.errors import ClusterError


class NotFoundError(ClusterError):
    """The object or API path does not exist (404)."""


class UnauthorizedError(ClusterError):
    """The credentials were refused (401)."""


class ForbiddenError(ClusterError):
    """The credentials may not do this (403)."""


class InvalidError(ClusterError):
    """The object was refused as invalid (400/422)."""


class UnreachableError(ClusterError):
    """The API server could not be reached (connection error, TLS error or timeout)."""


class ServerError(ClusterError):
    """The API server kept failing (5xx, or 429 beyond the retry budget)."""


class KindNotServedError(ClusterError):
    """The cluster serves no such kind (its CRD is not installed)."""


class ExpiredError(ClusterError):
    """A LIST continue token expired (410 Gone)."""


class Conflict(NamedTuple):
    """One field another manager owns, from a 409 Status' ``details.causes``."""

    manager: str
    field: str


class ConflictError(ClusterError):
    """Server-side apply conflicts with other field managers (409)."""

    def __init__(self, message: str, conflicts: tuple[Conflict, ...] = ()) -> None:
        super().__init__(message)
        self.conflicts = conflicts


def _conflict_manager(message: str) -> str:
    # The API server writes: conflict with "kube-controller-manager" using apps/v1
    match = re.search(r'conflict with "([^"]+)"', message)
    return match.group(1) if match else message


def status_error(status: int, data: bytes, where: str) -> ClusterError:
    """The error for a non-2xx answer, from its Status body (``where`` prefixes the message)."""
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {}
    if not isinstance(body, Mapping):
        body = {}
    message = str(body.get("message") or "").splitlines()[0:1]
    detail = message[0] if message else f"HTTP {status}"
    text = f"{where}: {status} {detail}"
    if status == 409:
        causes = (body.get("details") or {}).get("causes") or []
        conflicts = tuple(
            Conflict(_conflict_manager(str(c.get("message", ""))), str(c.get("field", "")))
            for c in causes
            if isinstance(c, Mapping)
        )
        return ConflictError(text, conflicts)
    error_class: type[ClusterError] = {
        401: UnauthorizedError,
        403: ForbiddenError,
        404: NotFoundError,
        410: ExpiredError,
        400: InvalidError,
        422: InvalidError,
    }.get(status, ServerError if status >= 500 or status == 429 else ClusterError)
    return error_class(text)
