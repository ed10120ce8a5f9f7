"""Simulated controller status: workload replica counts, Namespace phase, Ready conditions.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from typing import Any


def workload_status(obj: dict[str, Any], ready: bool) -> dict[str, Any] | None:
    """The status a healthy (or stuck) controller would report, for Deployment/StatefulSet.

    Namespaces report ``Active``; other kinds get None (status left as it is).
    """
    if obj.get("kind") == "Namespace":
        return obj.get("status") or {"phase": "Active"}
    if obj.get("kind") not in ("Deployment", "StatefulSet"):
        return None
    replicas = int(obj.get("spec", {}).get("replicas", 1))
    gen = obj["metadata"].get("generation", 1)
    status: dict[str, Any] = {"observedGeneration": gen, "replicas": replicas}
    status["updatedReplicas"] = replicas
    if ready:
        status["readyReplicas"] = replicas
        status["availableReplicas"] = replicas
    elif replicas:
        status["unavailableReplicas"] = replicas
    if obj["kind"] == "Deployment":
        avail = "True" if ready else "False"
        reason = "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable"
        status["conditions"] = [
            {"type": "Available", "status": avail, "reason": reason},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ]
    return status


def ready_condition(status: Any, ready: bool) -> dict[str, Any]:
    """``status`` with its ``Ready`` condition set (how KServe and most operators report)."""
    out = dict(status) if isinstance(status, dict) else {}
    others = [c for c in out.get("conditions") or [] if c.get("type") != "Ready"]
    flag = "True" if ready else "False"
    out["conditions"] = [*others, {"type": "Ready", "status": flag}]
    return out
