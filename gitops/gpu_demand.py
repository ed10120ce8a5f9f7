"""How many GPUs a set of manifests can hold at once: the blast radius of a change (pure).

A workload's demand is its GPUs per pod times the pods it may run: ``spec.replicas`` (1
when unset), or the ``maxReplicas`` of a HorizontalPodAutoscaler / ``maxReplicaCount`` of
a KEDA ScaledObject in the same set that targets it (the autoscaler, not Git, decides how
many run, so the budget counts the most it may start). A LeaderWorkerSet replica is a
group: its leader pod plus ``size - 1`` worker pods. A KServe InferenceService counts
``maxReplicas`` (else ``minReplicas``, else 1) predictor pods. A Job runs ``parallelism``
pods; a DaemonSet and a bare Pod count one pod (a DaemonSet's node count is not in Git).

GPUs per pod are the larger of each container's request and limit of the GPU resource,
summed over the containers (init containers run before them, so their largest counts if
larger). Used by the change budgets (:mod:`gitops.budgets`) for ``max_gpu_delta``.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from gitops.model import key_of
from gitops.quantity import parse_quantity

#: The GPU resource counted unless another is named.
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"

_AUTOSCALERS = {
    ("autoscaling", "HorizontalPodAutoscaler"): "maxReplicas",
    ("keda.sh", "ScaledObject"): "maxReplicaCount",
}


def container_gpus(container: Mapping[str, Any], resource: str = DEFAULT_GPU_RESOURCE) -> int:
    """GPUs one container holds: the larger of its request and its limit (rounded up)."""
    resources = container.get("resources") or {}
    found = 0
    for section in ("requests", "limits"):
        value = (resources.get(section) or {}).get(resource)
        if value is None:
            continue
        try:
            found = max(found, math.ceil(parse_quantity(value)))
        except ValueError:
            continue  # not a quantity: the schema check reports it, not the budget
    return found


def pod_gpus(pod_spec: Mapping[str, Any], resource: str = DEFAULT_GPU_RESOURCE) -> int:
    """GPUs one pod holds (see the module docstring)."""
    running = sum(container_gpus(c, resource) for c in _list(pod_spec.get("containers")))
    init = max(
        (container_gpus(c, resource) for c in _list(pod_spec.get("initContainers"))), default=0
    )
    return max(running, init)


def autoscaled(manifests: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], int]:
    """``(namespace, kind, name)`` of every autoscaler target -> its most replicas."""
    out: dict[tuple[str, str, str], int] = {}
    for obj in manifests:
        key = key_of(obj)
        field = _AUTOSCALERS.get((key.group, key.kind))
        if field is None:
            continue
        spec = obj.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        most = spec.get(field)
        if not isinstance(most, int) or isinstance(most, bool):
            continue
        # A ScaledObject's target kind defaults to Deployment.
        kind = str(target.get("kind") or "Deployment")
        out[(key.namespace, kind, str(target.get("name", "")))] = most
    return out


def object_gpus(
    obj: Mapping[str, Any],
    scaled: Mapping[tuple[str, str, str], int] | None = None,
    resource: str = DEFAULT_GPU_RESOURCE,
) -> int:
    """GPUs one object may hold at once (0 for objects that run no pods)."""
    key = key_of(obj)
    spec = obj.get("spec") or {}
    most = (scaled or {}).get((key.namespace, key.kind, key.name))
    if key.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = most if most is not None else _count(spec.get("replicas"), 1)
        return replicas * pod_gpus(_template(spec), resource)
    if key.kind in ("DaemonSet",):
        return pod_gpus(_template(spec), resource)
    if key.kind == "Pod":
        return pod_gpus(spec, resource)
    if key.kind == "Job":
        return _count(spec.get("parallelism"), 1) * pod_gpus(_template(spec), resource)
    if key.kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return _count(job.get("parallelism"), 1) * pod_gpus(_template(job), resource)
    if key.kind == "LeaderWorkerSet":
        group = spec.get("leaderWorkerTemplate") or {}
        size = _count(group.get("size"), 1)
        worker = pod_gpus((group.get("workerTemplate") or {}).get("spec") or {}, resource)
        leader_template = group.get("leaderTemplate")
        leader = (
            pod_gpus(leader_template.get("spec") or {}, resource)
            if isinstance(leader_template, Mapping)
            else worker
        )
        replicas = most if most is not None else _count(spec.get("replicas"), 1)
        return replicas * (leader + max(size - 1, 0) * worker)
    if key.kind == "InferenceService":
        predictor = spec.get("predictor") or {}
        replicas = _count(predictor.get("maxReplicas"), _count(predictor.get("minReplicas"), 1))
        containers = [predictor["model"]] if isinstance(predictor.get("model"), Mapping) else []
        containers += _list(predictor.get("containers"))
        return replicas * pod_gpus({"containers": containers}, resource)
    return 0


def total_gpus(manifests: Iterable[Mapping[str, Any]], resource: str = DEFAULT_GPU_RESOURCE) -> int:
    """GPUs a whole set may hold at once (autoscalers in the set taken into account)."""
    objects = list(manifests)
    scaled = autoscaled(objects)
    return sum(object_gpus(obj, scaled, resource) for obj in objects)


def _template(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    template = spec.get("template") or {}
    return template.get("spec") or {} if isinstance(template, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _count(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return default
    return value
