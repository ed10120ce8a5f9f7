"""Render an :class:`~gitops.constructs.inference.InferenceStack` in ``vllm`` mode.

ServiceAccount, Deployment (or StatefulSet with a cache volume per replica), Service,
shared model-cache PersistentVolumeClaim, HorizontalPodAutoscaler (plus its
prometheus-adapter rule) or KEDA ScaledObject, PodDisruptionBudget, ServiceMonitor and
HTTPRoute, as plain dicts with a fixed key order. The objects both modes share (service
account, disruption budget, route) live here too; the pod is built by
:mod:`~gitops.constructs.inference_pod`.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gitops.constructs.inference_metrics import (
    adapter_metric_name,
    adapter_rules,
    monitor_metadata,
)
from gitops.constructs.inference_pod import (
    CACHE_VOLUME,
    PORT_NAME,
    scheduling,
    vllm_container,
    vllm_volumes,
)
from gitops.core.keys import Manifest

if TYPE_CHECKING:
    from gitops.constructs.stack_view import StackView


def cache_claim(stack: StackView) -> str | None:
    """Name of the one PVC every replica mounts (``None``: no cache, or one per replica)."""
    if stack.cache is None or stack.cache.per_replica:
        return None
    return stack.cache.existing_claim or f"{stack.id}-cache"


def workload_kind(stack: StackView) -> str:
    """``StatefulSet`` when each replica has its own cache volume, else ``Deployment``."""
    return "StatefulSet" if stack.cache is not None and stack.cache.per_replica else "Deployment"


def rollout_strategy() -> dict[str, Any]:
    """Replace pods one at a time, without a surge pod.

    A surge pod needs a spare GPU the cluster rarely has (the rollout would hang).
    """
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def _volume_claim_template(stack: StackView) -> dict[str, Any]:
    cache = stack.cache
    assert cache is not None and stack.cache_size is not None
    spec: dict[str, Any] = {"accessModes": [cache.access_mode]}
    if cache.storage_class is not None:
        spec["storageClassName"] = cache.storage_class
    spec["resources"] = {"requests": {"storage": stack.cache_size}}
    return {
        "metadata": {"name": CACHE_VOLUME, "labels": stack.labels("model-cache")},
        "spec": spec,
    }


def workload(stack: StackView) -> Manifest:
    """The engine Deployment or StatefulSet (no ``spec.replicas`` when autoscaled)."""
    kind = workload_kind(stack)
    per_replica = kind == "StatefulSet"
    claim = cache_claim(stack)
    container = vllm_container(stack, CACHE_VOLUME if stack.cache is not None else None)
    spec: dict[str, Any] = {}
    if stack.autoscaling.kind == "none":
        spec["replicas"] = stack.replicas
    spec["selector"] = {"matchLabels": stack.selector()}
    if per_replica:
        spec["serviceName"] = stack.id
        # Replicas load their models side by side, not one after another's 15 minutes.
        spec["podManagementPolicy"] = "Parallel"
        # One pod at a time, never a surge pod (a StatefulSet has none).
        spec["updateStrategy"] = {"type": "RollingUpdate"}
        # A replica scaled away keeps its download for when it comes back.
        spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }
    else:
        spec["strategy"] = rollout_strategy()
        spec["progressDeadlineSeconds"] = stack.progress_deadline_seconds
    spec["template"] = {
        "metadata": {"labels": stack.labels()},
        "spec": {
            **scheduling(stack),
            "containers": [container],
            "volumes": vllm_volumes(stack, claim),
        },
    }
    if per_replica:
        spec["volumeClaimTemplates"] = [_volume_claim_template(stack)]
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": stack.metadata(stack.id),
        "spec": spec,
    }


def service_account(stack: StackView) -> Manifest:
    """The engine's own ServiceAccount, without a token mount.

    In kserve mode it lists the Hugging Face token Secret: KServe's storage initializer
    reads ``HF_TOKEN`` from the Secrets of the predictor's ServiceAccount, not from the
    model container's environment.
    """
    out: Manifest = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": stack.metadata(stack.id),
        "automountServiceAccountToken": False,
    }
    if stack.mode == "kserve" and stack.hf_token_secret is not None:
        out["secrets"] = [{"name": stack.hf_token_secret.name}]
    return out


def service(stack: StackView) -> Manifest:
    """ClusterIP Service in front of the engine pods."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": stack.metadata(stack.id),
        "spec": {
            "type": "ClusterIP",
            "selector": stack.selector(),
            "ports": [
                {"name": PORT_NAME, "port": stack.port, "targetPort": PORT_NAME, "protocol": "TCP"}
            ],
        },
    }


def claim(stack: StackView) -> list[Manifest]:
    """The shared model-cache PersistentVolumeClaim (a new ReadWriteMany cache only)."""
    cache = stack.cache
    if cache is None or cache.existing_claim is not None or cache.per_replica:
        return []
    assert stack.cache_size is not None
    spec: dict[str, Any] = {"accessModes": [cache.access_mode]}
    if cache.storage_class is not None:
        spec["storageClassName"] = cache.storage_class
    spec["resources"] = {"requests": {"storage": stack.cache_size}}
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": stack.metadata(f"{stack.id}-cache", "model-cache"),
            "spec": spec,
        }
    ]


def pod_pattern(name: str, kind: str = "Deployment") -> str:
    """Regex matching the pods of a Deployment (``<name>-<replicaset hash>-<suffix>``) or a
    StatefulSet (``<name>-<ordinal>``) only.

    ``llama-.*`` would also match the pods of a stack named ``llama-70b``.
    """
    if kind == "StatefulSet":
        return f"{name}-[0-9]+"
    return f"{name}-[a-z0-9]+-[a-z0-9]+"


def default_query(stack: StackView, pods: str) -> str:
    """PromQL summing the autoscaling metric over the stack's pods."""
    scaling = stack.autoscaling
    if scaling.query is not None:
        return scaling.query
    return f'sum({scaling.metric}{{namespace="{stack.namespace}",pod=~"{pods}"}})'


def threshold(stack: StackView) -> str:
    """The autoscaling threshold as a string (KEDA metadata and quantities are strings)."""
    value = stack.autoscaling.threshold
    return str(int(value)) if float(value).is_integer() else str(value)


def autoscaler(stack: StackView) -> list[Manifest]:
    """The HorizontalPodAutoscaler or KEDA ScaledObject targeting the engine workload."""
    scaling = stack.autoscaling
    kind_of_target = workload_kind(stack)
    target = {"apiVersion": "apps/v1", "kind": kind_of_target, "name": stack.id}
    # While a new pod loads its model the queue stays long; the window keeps each
    # evaluation from adding pods for load the loading ones will absorb.
    behavior = {
        "scaleUp": {"stabilizationWindowSeconds": scaling.scale_up_seconds},
        "scaleDown": {"stabilizationWindowSeconds": scaling.cooldown_seconds},
    }
    if scaling.kind == "hpa":
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": adapter_metric_name(scaling.metric)},
                "target": {"type": "AverageValue", "averageValue": threshold(stack)},
            },
        }
        spec: dict[str, Any] = {
            "scaleTargetRef": target,
            "minReplicas": stack.min_replicas,
            "maxReplicas": stack.max_replicas,
            "metrics": [metric],
            "behavior": behavior,
        }
        api, kind = "autoscaling/v2", "HorizontalPodAutoscaler"
    elif scaling.kind == "keda":
        trigger = {
            "type": "prometheus",
            "metadata": {
                "serverAddress": scaling.server_address,
                "query": default_query(stack, pod_pattern(stack.id, kind_of_target)),
                "threshold": threshold(stack),
            },
        }
        spec = {
            "scaleTargetRef": target,
            "minReplicaCount": stack.min_replicas,
            "maxReplicaCount": stack.max_replicas,
            "cooldownPeriod": scaling.cooldown_seconds,
            # Prometheus down must not scale the engine down (or to zero) under load.
            "fallback": {
                "failureThreshold": 3,
                "replicas": stack.fallback_replicas,
                "behavior": "currentReplicasIfHigher",
            },
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behavior}},
            "triggers": [trigger],
        }
        api, kind = "keda.sh/v1alpha1", "ScaledObject"
    else:
        return []
    return [{"apiVersion": api, "kind": kind, "metadata": stack.metadata(stack.id), "spec": spec}]


def disruption_budget(
    stack: StackView, selector: Mapping[str, str] | None = None
) -> list[Manifest]:
    """The PodDisruptionBudget over the engine pods (``selector``: default the stack's)."""
    if stack.pdb is None:
        return []
    spec: dict[str, Any] = {}
    if stack.pdb.min_available is not None:
        spec["minAvailable"] = stack.pdb.min_available
    else:
        spec["maxUnavailable"] = stack.pdb.max_unavailable
    spec["selector"] = {"matchLabels": dict(selector or stack.selector())}
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": stack.metadata(stack.id),
            "spec": spec,
        }
    ]


def http_route(stack: StackView, backend: str, port: int) -> list[Manifest]:
    """The Gateway API HTTPRoute sending the route's traffic to ``backend:port``."""
    route = stack.route
    if route is None:
        return []
    parents: list[dict[str, Any]] = []
    for ref in route.refs(f"InferenceStack {stack.id!r}"):
        parent: dict[str, Any] = {"name": ref.name}
        if ref.namespace is not None:
            parent["namespace"] = ref.namespace
        if ref.section_name is not None:
            parent["sectionName"] = ref.section_name
        parents.append(parent)
    rule: dict[str, Any] = {
        "matches": [{"path": {"type": "PathPrefix", "value": route.path_prefix}}],
        "backendRefs": [{"name": backend, "port": port}],
    }
    if route.request_timeout is not None:
        rule["timeouts"] = {"request": route.request_timeout}
    spec: dict[str, Any] = {"parentRefs": parents}
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    spec["rules"] = [rule]
    return [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": stack.metadata(stack.id),
            "spec": spec,
        }
    ]


def service_monitor(stack: StackView) -> list[Manifest]:
    """The ServiceMonitor scraping the engine's ``/metrics`` through the Service."""
    if not stack.service_monitor:
        return []
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": monitor_metadata(stack),
            "spec": {
                "selector": {"matchLabels": stack.selector()},
                "endpoints": [{"port": PORT_NAME, "path": "/metrics"}],
            },
        }
    ]


def render_vllm(stack: StackView) -> list[Manifest]:
    """Every object of a ``vllm``-mode stack, as fresh dicts."""
    return [
        service_account(stack),
        *claim(stack),
        service(stack),
        workload(stack),
        *autoscaler(stack),
        *adapter_rules(stack),
        *disruption_budget(stack),
        *service_monitor(stack),
        *http_route(stack, stack.id, stack.port),
    ]
