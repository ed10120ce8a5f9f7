"""Render an :class:`~gitops.constructs.inference.InferenceStack` in ``vllm`` mode.

Deployment, Service, model-cache PersistentVolumeClaim, HorizontalPodAutoscaler or KEDA
ScaledObject, PodDisruptionBudget, ServiceMonitor and HTTPRoute, as plain dicts with a
fixed key order. The pieces both modes share (engine arguments, resources, environment,
disruption budget, route) live here too.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitops.model import Manifest

if TYPE_CHECKING:
    from gitops.constructs.inference import InferenceStack

#: Name of the engine container and of its HTTP port.
CONTAINER = "vllm"
PORT_NAME = "http"
_SHM = "shm"
_CACHE = "model-cache"


def cache_claim(stack: InferenceStack) -> str | None:
    """Name of the PVC the engine mounts (``None`` without a cache)."""
    if stack.cache is None:
        return None
    return stack.cache.existing_claim or f"{stack.id}-cache"


def engine_args(stack: InferenceStack) -> list[str]:
    """vLLM engine arguments shared by both modes (without ``--model``/``--port``)."""
    args = ["--tensor-parallel-size", str(stack.tensor_parallel_size)]
    pipeline = stack.gpus // stack.tensor_parallel_size
    if pipeline > 1:  # GPUs beyond one shard run pipeline stages
        args += ["--pipeline-parallel-size", str(pipeline)]
    if stack.max_model_len is not None:
        args += ["--max-model-len", str(stack.max_model_len)]
    if stack.gpu_memory_utilization is not None:
        args += ["--gpu-memory-utilization", str(stack.gpu_memory_utilization)]
    if stack.dtype is not None:
        args += ["--dtype", stack.dtype]
    return args + list(stack.extra_args)


def resources(stack: InferenceStack) -> dict[str, Any]:
    """Requests and limits: GPUs in both (extended resources require it), memory limited."""
    gpus = str(stack.gpus)
    return {
        "requests": {"cpu": stack.cpu, "memory": stack.memory, stack.gpu_resource: gpus},
        "limits": {"memory": stack.memory, stack.gpu_resource: gpus},
    }


def token_env(stack: InferenceStack) -> list[dict[str, Any]]:
    """``HF_TOKEN`` from the referenced Secret; the value never enters the manifest."""
    if stack.hf_token_secret is None:
        return []
    ref = stack.hf_token_secret
    return [
        {
            "name": "HF_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
        }
    ]


def shm_volume(stack: InferenceStack) -> dict[str, Any]:
    """The in-memory ``/dev/shm`` volume NCCL and the engine's workers need."""
    return {"name": _SHM, "emptyDir": {"medium": "Memory", "sizeLimit": stack.shm_size}}


def shm_mount() -> dict[str, Any]:
    """The ``/dev/shm`` mount of :func:`shm_volume`."""
    return {"name": _SHM, "mountPath": "/dev/shm"}


def scheduling(stack: InferenceStack) -> dict[str, Any]:
    """Pod scheduling fields: priority, runtime class, GPU product selector, tolerations."""
    out: dict[str, Any] = {}
    if stack.priority_class is not None:
        out["priorityClassName"] = stack.priority_class
    if stack.runtime_class is not None:
        out["runtimeClassName"] = stack.runtime_class
    if stack.gpu_product is not None:
        out["nodeSelector"] = {"nvidia.com/gpu.product": stack.gpu_product}
    if stack.tolerations:
        out["tolerations"] = [dict(t) for t in stack.tolerations]
    return out


def _probe(path: str, period: int, failures: int, timeout: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def probes(stack: InferenceStack) -> dict[str, Any]:
    """Startup, readiness and liveness probes; the startup one covers model loading."""
    p = stack.probes
    return {
        "startupProbe": _probe(
            p.startup_path, p.period_seconds, p.startup_failure_threshold, p.timeout_seconds
        ),
        "readinessProbe": _probe(
            p.readiness_path, p.period_seconds, p.failure_threshold, p.timeout_seconds
        ),
        "livenessProbe": _probe(
            p.liveness_path, p.period_seconds, p.failure_threshold, p.timeout_seconds
        ),
    }


def rollout_strategy() -> dict[str, Any]:
    """Replace pods one at a time, without a surge pod.

    A surge pod needs a spare GPU the cluster rarely has (the rollout would hang), and a
    ReadWriteOnce cache the old pod still holds.
    """
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def deployment(stack: InferenceStack) -> Manifest:
    """The engine Deployment (no ``spec.replicas`` when an autoscaler owns it)."""
    env: list[dict[str, Any]] = []
    mounts = [shm_mount()]
    volumes = [shm_volume(stack)]
    claim = cache_claim(stack)
    if stack.cache is not None and claim is not None:
        env.append({"name": "HF_HOME", "value": stack.cache.mount_path})
        mounts.append({"name": _CACHE, "mountPath": stack.cache.mount_path})
        volumes.append({"name": _CACHE, "persistentVolumeClaim": {"claimName": claim}})
    env += token_env(stack)
    args = ["--model", stack.model, "--port", str(stack.port), *engine_args(stack)]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": stack.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": [{"name": PORT_NAME, "containerPort": stack.port, "protocol": "TCP"}],
        "env": env,
        "resources": resources(stack),
        "volumeMounts": mounts,
        **probes(stack),
    }
    if not env:
        del container["env"]
    spec: dict[str, Any] = {}
    if stack.autoscaling.kind == "none":
        spec["replicas"] = stack.replicas
    spec["selector"] = {"matchLabels": stack.selector()}
    spec["strategy"] = rollout_strategy()
    spec["template"] = {
        "metadata": {"labels": stack.labels()},
        "spec": {**scheduling(stack), "containers": [container], "volumes": volumes},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": stack.metadata(stack.id),
        "spec": spec,
    }


def service(stack: InferenceStack) -> Manifest:
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


def claim(stack: InferenceStack) -> list[Manifest]:
    """The model-cache PersistentVolumeClaim, unless the stack mounts an existing one."""
    cache = stack.cache
    if cache is None or cache.existing_claim is not None:
        return []
    spec: dict[str, Any] = {"accessModes": [cache.access_mode]}
    if cache.storage_class is not None:
        spec["storageClassName"] = cache.storage_class
    spec["resources"] = {"requests": {"storage": cache.size}}
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": stack.metadata(f"{stack.id}-cache", "model-cache"),
            "spec": spec,
        }
    ]


def pod_pattern(deployment: str) -> str:
    """Regex matching the pods of a Deployment (``<name>-<replicaset hash>-<suffix>``) only.

    ``llama-.*`` would also match the pods of a stack named ``llama-70b``.
    """
    return f"{deployment}-[a-z0-9]+-[a-z0-9]+"


def default_query(stack: InferenceStack, pods: str) -> str:
    """PromQL summing the autoscaling metric over the stack's pods."""
    scaling = stack.autoscaling
    if scaling.query is not None:
        return scaling.query
    return f'sum({scaling.metric}{{namespace="{stack.namespace}",pod=~"{pods}"}})'


def threshold(stack: InferenceStack) -> str:
    """The autoscaling threshold as a string (KEDA metadata and quantities are strings)."""
    value = stack.autoscaling.threshold
    return str(int(value)) if float(value).is_integer() else str(value)


def autoscaler(stack: InferenceStack) -> list[Manifest]:
    """The HorizontalPodAutoscaler or KEDA ScaledObject targeting the Deployment."""
    scaling = stack.autoscaling
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": stack.id}
    if scaling.kind == "hpa":
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": scaling.metric},
                "target": {"type": "AverageValue", "averageValue": threshold(stack)},
            },
        }
        spec: dict[str, Any] = {
            "scaleTargetRef": target,
            "minReplicas": stack.min_replicas,
            "maxReplicas": stack.max_replicas,
            "metrics": [metric],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": scaling.cooldown_seconds}},
        }
        api, kind = "autoscaling/v2", "HorizontalPodAutoscaler"
    elif scaling.kind == "keda":
        trigger = {
            "type": "prometheus",
            "metadata": {
                "serverAddress": scaling.server_address,
                "query": default_query(stack, pod_pattern(stack.id)),
                "threshold": threshold(stack),
            },
        }
        spec = {
            "scaleTargetRef": target,
            "minReplicaCount": stack.min_replicas,
            "maxReplicaCount": stack.max_replicas,
            "cooldownPeriod": scaling.cooldown_seconds,
            "triggers": [trigger],
        }
        api, kind = "keda.sh/v1alpha1", "ScaledObject"
    else:
        return []
    return [{"apiVersion": api, "kind": kind, "metadata": stack.metadata(stack.id), "spec": spec}]


def disruption_budget(stack: InferenceStack) -> list[Manifest]:
    """The PodDisruptionBudget over the engine pods."""
    if stack.pdb is None:
        return []
    spec: dict[str, Any] = {}
    if stack.pdb.min_available is not None:
        spec["minAvailable"] = stack.pdb.min_available
    else:
        spec["maxUnavailable"] = stack.pdb.max_unavailable
    spec["selector"] = {"matchLabels": stack.selector()}
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": stack.metadata(stack.id),
            "spec": spec,
        }
    ]


def http_route(stack: InferenceStack, backend: str, port: int) -> list[Manifest]:
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


def service_monitor(stack: InferenceStack) -> list[Manifest]:
    """The ServiceMonitor scraping the engine's ``/metrics`` through the Service."""
    if not stack.service_monitor:
        return []
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": stack.metadata(stack.id),
            "spec": {
                "selector": {"matchLabels": stack.selector()},
                "endpoints": [{"port": PORT_NAME, "path": "/metrics"}],
            },
        }
    ]


def render_vllm(stack: InferenceStack) -> list[Manifest]:
    """Every object of a ``vllm``-mode stack, as fresh dicts."""
    return [
        *claim(stack),
        service(stack),
        deployment(stack),
        *autoscaler(stack),
        *disruption_budget(stack),
        *service_monitor(stack),
        *http_route(stack, stack.id, stack.port),
    ]
