"""What a rendered workload runs: its pod templates, pods per replica, replica bounds.

One reading of Deployments, StatefulSets, ReplicaSets, Jobs, LeaderWorkerSets (a leader and
``size - 1`` workers per replica) and KServe InferenceServices (the predictor), with the
HorizontalPodAutoscaler or KEDA ScaledObject that scales them, for the checks that count
what a set of objects will ask of the cluster (GPUs against quotas, shm within memory).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

from gitops.core.keys import Manifest
from gitops.core.quantity import is_quantity, parse_quantity

#: Kinds whose ``spec.template`` is their one pod template.
_TEMPLATED = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})


@dataclass(frozen=True)
class PodGroup:
    """The pods one template of a workload runs per replica.

    Attributes:
        role: which template (``pod``, ``leader``, ``worker``, ``predictor``).
        spec: the pod spec (``containers``, ``volumes``...).
        labels: the pods' labels.
        annotations: the pods' annotations.
        per_replica: pods of this template in one replica (LeaderWorkerSet workers:
            ``size - 1``).
    """

    role: str
    spec: Mapping[str, Any]
    labels: Mapping[str, str]
    per_replica: int
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    """A workload object, its pod groups and the replicas it may run.

    Attributes:
        manifest: the workload object.
        groups: its pod groups.
        min_replicas: replicas it runs at least (the autoscaler's minimum, else its own).
        max_replicas: replicas it may reach (the autoscaler's maximum, else its own).
    """

    manifest: Manifest
    groups: tuple[PodGroup, ...]
    min_replicas: int
    max_replicas: int

    @property
    def name(self) -> str:
        """``<Kind>/<name>``."""
        return f"{self.manifest['kind']}/{self.manifest['metadata']['name']}"

    @property
    def namespace(self) -> str:
        """The workload's namespace (``default`` when unset)."""
        return str(self.manifest.get("metadata", {}).get("namespace") or "default")

    def per_replica(self, resource: str) -> Fraction:
        """How much of ``resource`` one replica requests (all its pods)."""
        return sum(
            (pod_request(g.spec, resource) * g.per_replica for g in self.groups), Fraction(0)
        )


def workloads(manifests: Sequence[Manifest]) -> list[Workload]:
    """Every workload among ``manifests``, with the bounds of the autoscaler targeting it."""
    scalers = _autoscalers(manifests)
    out: list[Workload] = []
    for manifest in manifests:
        groups = pod_groups(manifest)
        if not groups:
            continue
        low, high = _own_replicas(manifest)
        meta = manifest.get("metadata", {})
        bounds = scalers.get(
            (str(meta.get("namespace") or "default"), str(manifest.get("kind")), meta.get("name"))
        )
        if bounds is not None:
            low, high = bounds
        out.append(Workload(manifest, tuple(groups), low, max(low, high)))
    return out


def pod_groups(manifest: Manifest) -> list[PodGroup]:
    """The pod groups of a workload object (empty for anything else)."""
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if not isinstance(spec, Mapping):
        return []
    if kind in _TEMPLATED or kind == "Job":
        return _group("pod", spec.get("template"), 1)
    if kind == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        size = _int(lwt.get("size"), 1)
        worker = lwt.get("workerTemplate")
        leader = lwt.get("leaderTemplate")
        if leader is None:  # without a leader template the leader runs the worker template
            return _group("worker", worker, size)
        return [*_group("leader", leader, 1), *_group("worker", worker, size - 1)]
    if kind == "InferenceService":
        predictor = spec.get("predictor") or {}
        if not isinstance(predictor, Mapping):
            return []
        containers = [dict(c) for c in predictor.get("containers") or []]
        model = predictor.get("model")
        if isinstance(model, Mapping):
            containers.append({"name": "kserve-container", "resources": model.get("resources")})
        labels = {"serving.kserve.io/inferenceservice": str(manifest["metadata"]["name"])}
        return [PodGroup("predictor", {**predictor, "containers": containers}, labels, 1)]
    return []


@lru_cache(maxsize=4096)
def _parsed(value: str | int | float) -> Fraction | None:
    return parse_quantity(value) if is_quantity(value) else None


def quantity(value: object) -> Fraction | None:
    """``value`` as an exact number if it is a Kubernetes quantity, else ``None``.

    Memoized: a rendered set repeats a handful of quantities (``16Gi``, ``1``) thousands
    of times, and exact parsing costs ~0.3 ms each.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return _parsed(value)


def pod_request(spec: Mapping[str, Any], resource: str) -> Fraction:
    """What a pod requests of ``resource``: its containers' sum, or its largest init container.

    Extended resources (GPUs) must have equal requests and limits, so a container giving
    only the limit requests that much.
    """

    def request(container: Any) -> Fraction:
        resources = (container or {}).get("resources") or {}
        for part in ("requests", "limits"):
            value = quantity((resources.get(part) or {}).get(resource))
            if value is not None:
                return value
        return Fraction(0)

    running = sum((request(c) for c in spec.get("containers") or []), Fraction(0))
    init = max((request(c) for c in spec.get("initContainers") or []), default=Fraction(0))
    return max(running, init)


def memory_limit(spec: Mapping[str, Any]) -> Fraction | None:
    """The pod's memory limit (its containers' sum), or ``None`` if a container has none."""
    total = Fraction(0)
    for container in spec.get("containers") or []:
        limit = quantity(
            (((container or {}).get("resources") or {}).get("limits") or {}).get("memory")
        )
        if limit is None:
            return None
        total += limit
    return total


def _group(role: str, template: Any, per_replica: int) -> list[PodGroup]:
    if not isinstance(template, Mapping) or per_replica < 1:
        return []
    spec = template.get("spec")
    metadata = template.get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    if not isinstance(spec, Mapping):
        return []
    return [PodGroup(role, spec, labels, per_replica, annotations)]


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _own_replicas(manifest: Manifest) -> tuple[int, int]:
    spec = manifest.get("spec") or {}
    kind = manifest.get("kind")
    if kind == "Job":
        count = _int(spec.get("parallelism"), 1)
        return count, count
    if kind == "InferenceService":
        predictor = spec.get("predictor") or {}
        low = _int(predictor.get("minReplicas"), 1)
        return low, max(low, _int(predictor.get("maxReplicas"), low))
    count = _int(spec.get("replicas"), 1)
    return count, count


def _autoscalers(manifests: Sequence[Manifest]) -> dict[tuple[str, str, Any], tuple[int, int]]:
    """(namespace, target kind, target name) -> (min, max) of HPAs and ScaledObjects."""
    out: dict[tuple[str, str, Any], tuple[int, int]] = {}
    for manifest in manifests:
        kind = manifest.get("kind")
        spec = manifest.get("spec") or {}
        if kind == "HorizontalPodAutoscaler":
            low, high = _int(spec.get("minReplicas"), 1), _int(spec.get("maxReplicas"), 1)
        elif kind == "ScaledObject":
            # KEDA's defaults: scale to zero, at most 100 replicas.
            low = _int(spec.get("minReplicaCount"), 0)
            high = _int(spec.get("maxReplicaCount"), 100)
        else:
            continue
        target = spec.get("scaleTargetRef") or {}
        namespace = str(manifest.get("metadata", {}).get("namespace") or "default")
        out[(namespace, str(target.get("kind", "Deployment")), target.get("name"))] = (low, high)
    return out
