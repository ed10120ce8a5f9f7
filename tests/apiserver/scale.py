"""The ``/scale`` subresource: an ``autoscaling/v1`` Scale view of a workload's replicas.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import copy
from typing import Any


def to_scale(obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale object the real server derives from a Deployment or StatefulSet."""
    meta = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    scale_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if k in meta
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def scaled(obj: dict[str, Any], scale: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the replicas (and resourceVersion precondition) a Scale write asks for."""
    out = copy.deepcopy(obj)
    replicas = (scale.get("spec") or {}).get("replicas")
    if replicas is not None:
        out.setdefault("spec", {})["replicas"] = replicas
    wanted = (scale.get("metadata") or {}).get("resourceVersion")
    if wanted:
        out["metadata"]["resourceVersion"] = wanted
    out["metadata"].pop("managedFields", None)
    return out
