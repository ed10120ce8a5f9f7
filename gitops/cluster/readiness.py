"""Whether a live object is ready: Deployments, StatefulSets, InferenceServices, CRDs.

Purely data-manipulative: no I/O; the caller polls and passes what it read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Kinds ``apply --wait`` waits for.
WAITED_KINDS = frozenset({"Deployment", "StatefulSet", "InferenceService"})


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return None


def crd_established(crd: Mapping[str, Any]) -> bool:
    """Whether a CustomResourceDefinition reports ``Established=True``."""
    condition = _condition(crd, "Established")
    return condition is not None and condition.get("status") == "True"


def readiness(obj: Mapping[str, Any]) -> tuple[bool, str]:
    """``(ready, what)`` for a waited-for object; ``what`` says how far it is, in words."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    if kind in ("Deployment", "StatefulSet"):
        metadata = obj.get("metadata") or {}
        wanted = int((obj.get("spec") or {}).get("replicas", 1))
        ready = int(status.get("readyReplicas") or 0)
        updated = int(status.get("updatedReplicas") or 0)
        available = int(status.get(_available(kind)) or 0)
        observed = int(status.get("observedGeneration") or 0)
        if observed < int(metadata.get("generation") or 0):
            return False, "waiting for the controller to observe the new generation"
        done = ready >= wanted and updated >= wanted and available >= wanted
        return done, f"{ready}/{wanted} replicas ready"
    if kind == "InferenceService":
        condition = _condition(obj, "Ready")
        if condition is None:
            return False, "no Ready condition yet"
        ok = condition.get("status") == "True"
        reason = condition.get("reason") or condition.get("message") or ""
        return ok, "Ready" if ok else f"not Ready{f' ({reason})' if reason else ''}"
    return True, "ready"


def _available(kind: object) -> str:
    # StatefulSets report availableReplicas only since 1.22; fall back to ready replicas.
    return "availableReplicas" if kind == "Deployment" else "readyReplicas"
