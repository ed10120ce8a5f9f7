"""``Status`` errors, worded as kube-apiserver words them (404, 409, 422...).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from typing import Any

from .immutable import Invalid
from .resources import Resource


class ApiError(Exception):
    """An error answered with a ``Status`` body."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        """The ``Status`` object the real server would send."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(res: Resource) -> str:
    """``deployments.apps`` (or ``configmaps`` for the core group), as messages say it."""
    return f"{res.plural}.{res.group}" if res.group else res.plural


def not_found(res: Resource, name: str) -> ApiError:
    """The 404 the real server answers for a missing object."""
    details = {"name": name, "group": res.group, "kind": res.plural}
    return ApiError(404, "NotFound", f'{qualified(res)} "{name}" not found', details)


def check_invalid(res: Resource, name: str, errors: list[Invalid]) -> None:
    """422 Invalid listing ``errors``, as the real validation answers."""
    if not errors:
        return
    group_kind = f"{res.kind}.{res.group}" if res.group else res.kind
    texts = [f"{e.field}: {e.message}" for e in errors]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    causes = [{"reason": e.reason, "message": e.message, "field": e.field} for e in errors]
    raise ApiError(
        422,
        "Invalid",
        f'{group_kind} "{name}" is invalid: {joined}',
        {"name": name, "group": res.group, "kind": res.kind, "causes": causes},
    )


def check_precondition(
    res: Resource, name: str, meta: dict[str, Any], live: dict[str, Any]
) -> None:
    """409 Conflict when the request names a resourceVersion that is no longer current."""
    wanted = meta.get("resourceVersion")
    if wanted and wanted != live["metadata"]["resourceVersion"]:
        raise ApiError(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {qualified(res)} "{name}": the object has '
            "been modified; please apply your changes to the latest version and try again",
            {"name": name, "group": res.group, "kind": res.plural},
        )
