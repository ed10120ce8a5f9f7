"""Update validation of immutable fields, worded as kube-apiserver words it.

Purely data-manipulative: no I/O. Only the immutability rules a reconciler meets in practice
(workload selectors, StatefulSet and PVC specs, Job templates); other validation is not done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_STATEFULSET_MUTABLE = frozenset(
    {
        "replicas",
        "ordinals",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    }
)
_PVC_MUTABLE = frozenset({"resources", "volumeAttributesClassName"})


@dataclass(frozen=True)
class Invalid:
    """One field error: the field path, the cause reason and its message."""

    field: str
    reason: str
    message: str


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _immutable(spec_old: dict[str, Any], spec_new: dict[str, Any], name: str) -> list[Invalid]:
    if spec_old.get(name) == spec_new.get(name):
        return []
    shown = _value(spec_new.get(name))
    return [
        Invalid(f"spec.{name}", "FieldValueInvalid", f"Invalid value: {shown}: field is immutable")
    ]


def _forbidden_spec_change(
    old: dict[str, Any], new: dict[str, Any], mutable: frozenset[str]
) -> bool:
    keys = (set(old) | set(new)) - mutable
    return any(old.get(k) != new.get(k) for k in keys)


def update_errors(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[Invalid]:
    """The field errors an update from ``old`` to ``new`` draws (empty: allowed)."""
    spec_old, spec_new = old.get("spec") or {}, new.get("spec") or {}
    if kind in ("Deployment", "DaemonSet", "ReplicaSet"):
        return _immutable(spec_old, spec_new, "selector")
    if kind == "StatefulSet":
        if _forbidden_spec_change(spec_old, spec_new, _STATEFULSET_MUTABLE):
            message = (
                "Forbidden: updates to statefulset spec for fields other than 'replicas', "
                "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' "
                "and 'minReadySeconds' are forbidden"
            )
            return [Invalid("spec", "FieldValueForbidden", message)]
        return []
    if kind == "Job":
        return _immutable(spec_old, spec_new, "selector") + _immutable(
            spec_old, spec_new, "template"
        )
    if kind == "PersistentVolumeClaim":
        if _forbidden_spec_change(spec_old, spec_new, _PVC_MUTABLE):
            message = (
                "Forbidden: spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims"
            )
            return [Invalid("spec", "FieldValueForbidden", message)]
        return []
    if kind == "Service" and spec_old.get("clusterIP") != spec_new.get("clusterIP"):
        shown = _value(spec_new.get("clusterIPs"))
        return [
            Invalid("spec.clusterIPs[0]", "FieldValueInvalid", f"Invalid value: {shown}: may not "
                    "change once set")
        ]  # fmt: skip
    return []


def carry_allocated(kind: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Keep values the server allocated when an update leaves them out (Service IPs, ports)."""
    if kind != "Service":
        return
    spec_old, spec_new = old.get("spec") or {}, new.setdefault("spec", {})
    for key in ("clusterIP", "clusterIPs"):
        if key in spec_old and not spec_new.get(key):
            spec_new[key] = spec_old[key]
    allocated = {
        (p.get("port"), p.get("protocol", "TCP")): p["nodePort"]
        for p in spec_old.get("ports") or []
        if "nodePort" in p
    }
    for port in spec_new.get("ports") or []:
        node_port = allocated.get((port.get("port"), port.get("protocol", "TCP")))
        if node_port is not None and "nodePort" not in port:
            port["nodePort"] = node_port
