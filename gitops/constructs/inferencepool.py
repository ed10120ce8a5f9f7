"""Model-aware routing through a Gateway API Inference Extension InferencePool.

Instead of a Service, the stack's HTTPRoute sends traffic to an ``inference.networking.k8s.io/v1``
InferencePool selecting the engine pods; the gateway asks the pool's endpoint picker (EPP)
which pod gets each request, scored by queue length, KV-cache use and prefix-cache hits.
The EPP objects follow what the upstream ``inferencepool`` Helm chart renders: a
ServiceAccount, a Role on pods and on pools (get/watch/list) with its RoleBinding, a
ConfigMap holding the plugins configuration, a Deployment with ports ``grpc`` 9002
(ext-proc), ``grpc-health`` 9003 and ``metrics`` 9090, and a Service exposing
``grpc-ext-proc`` and ``http-metrics``. Its pods carry ``gitops.dev/kube-api-access:
"true"`` so the environment's NetworkPolicies let them (and only them) reach the API server.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitops.constructs.inference_checks import check_image
from gitops.constructs.inference_params import check_int, check_quantity, fail
from gitops.constructs.network import KUBE_API_LABEL
from gitops.core.keys import Manifest

if TYPE_CHECKING:
    from gitops.constructs.stack_view import StackView

GROUP = "inference.networking.k8s.io"
#: The endpoint picker image of the project's v1.0 release.
DEFAULT_EPP_IMAGE = "registry.k8s.io/gateway-api-inference-extension/epp:v1.0.0"
#: The EPP's ports, as the upstream chart names and numbers them.
EXT_PROC_PORT = 9002
HEALTH_PORT = 9003
METRICS_PORT = 9090
#: What the gateway does when the picker does not answer.
FAILURE_MODES = ("FailClose", "FailOpen")
COMPONENT = "endpoint-picker"
# The chart's default scheduling profile: queue and KV-cache load, then prefix-cache hits.
_PLUGINS = """apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: prefix-cache-scorer
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: queue-scorer
    weight: 2
  - pluginRef: kv-cache-utilization-scorer
    weight: 2
  - pluginRef: prefix-cache-scorer
    weight: 3
"""
_CONFIG_FILE = "default-plugins.yaml"


@dataclass(frozen=True)
class InferencePoolRouting:
    """Route through an InferencePool and its endpoint picker instead of the Service.

    Attributes:
        epp_image: the endpoint picker image (mirror it into an allowed registry).
        replicas: endpoint picker replicas.
        failure_mode: ``FailClose`` (default: no picker, no traffic, rather than unbalanced
            traffic that overloads one engine) or ``FailOpen``.
        cpu: CPU request of the picker.
        memory: memory request and limit of the picker.
    """

    epp_image: str = DEFAULT_EPP_IMAGE
    replicas: int = 1
    failure_mode: str = "FailClose"
    cpu: str = "500m"
    memory: str = "1Gi"

    def check(self, owner: str, stack: StackView) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        check_image(owner, self.epp_image, None, stack.strict)
        check_int(owner, "inference_pool.replicas", self.replicas, 1)
        if self.failure_mode not in FAILURE_MODES:
            raise fail(
                owner, "inference_pool.failure_mode", "FailClose or FailOpen", self.failure_mode
            )
        check_quantity(owner, "inference_pool.cpu", self.cpu)
        check_quantity(owner, "inference_pool.memory", self.memory)
        if stack.mode != "vllm":
            raise fail(owner, "mode", "vllm with inference_pool (KServe routes itself)", stack.mode)


def epp_name(stack: StackView) -> str:
    """The endpoint picker's name (its Deployment, Service, ServiceAccount, ConfigMap)."""
    return f"{stack.id}-epp"


def pool_backend(stack: StackView) -> dict[str, Any]:
    """An HTTPRoute backendRef to the stack's InferencePool."""
    return {"group": GROUP, "kind": "InferencePool", "name": stack.id}


def inference_pool(stack: StackView, routing: InferencePoolRouting) -> Manifest:
    """The InferencePool selecting the stack's serving pods."""
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "InferencePool",
        "metadata": stack.metadata(stack.id),
        "spec": {
            "selector": {"matchLabels": stack.selector()},
            "targetPorts": [{"number": stack.port}],
            "endpointPickerRef": {
                "name": epp_name(stack),
                "port": {"number": EXT_PROC_PORT},
                "failureMode": routing.failure_mode,
            },
        },
    }


def _epp_selector(stack: StackView) -> dict[str, str]:
    labels = stack.labels(COMPONENT)
    return {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                                   "app.kubernetes.io/component")}  # fmt: skip


def _metadata(stack: StackView, name: str) -> dict[str, Any]:
    return stack.metadata(name, COMPONENT)


def endpoint_picker(stack: StackView, routing: InferencePoolRouting) -> list[Manifest]:
    """ServiceAccount, Role, RoleBinding, ConfigMap, Deployment and Service of the picker."""
    name = epp_name(stack)
    return [
        *_epp_access(stack, name),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(stack, name),
            "data": {_CONFIG_FILE: _PLUGINS},
        },
        _epp_deployment(stack, routing, name),
        _epp_service(stack, name),
    ]


def _epp_access(stack: StackView, name: str) -> list[Manifest]:
    """The picker's ServiceAccount and the Role it reads pods and pools with."""
    ns = stack.namespace
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]},
        {"apiGroups": [GROUP], "resources": ["inferencepools"], "verbs": ["get", "watch", "list"]},
        {
            "apiGroups": ["inference.networking.x-k8s.io"],
            "resources": ["inferenceobjectives", "inferencemodelrewrites"],
            "verbs": ["get", "watch", "list"],
        },
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(stack, name)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _metadata(stack, name),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _metadata(stack, name),
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        },
    ]


def _epp_container(stack: StackView, routing: InferencePoolRouting) -> dict[str, Any]:
    """The picker's container: ext-proc, health and metrics ports, its plugins config."""
    ns = stack.namespace
    grpc_probe = {
        "grpc": {"port": HEALTH_PORT, "service": "inference-extension"},
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
    }
    container = {
        "name": "epp",
        "image": routing.epp_image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "--pool-name", stack.id,
            "--pool-namespace", ns,
            "--zap-encoder", "json",
            "--config-file", f"/config/{_CONFIG_FILE}",
        ],
        "ports": [
            {"name": "grpc", "containerPort": EXT_PROC_PORT, "protocol": "TCP"},
            {"name": "grpc-health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "env": [
            {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
        ],
        "resources": {
            "requests": {"cpu": routing.cpu, "memory": routing.memory},
            "limits": {"memory": routing.memory},
        },
        "livenessProbe": dict(grpc_probe),
        "readinessProbe": dict(grpc_probe),
        "volumeMounts": [{"name": "plugins-config", "mountPath": "/config"}],
    }  # fmt: skip
    return container


def _epp_deployment(stack: StackView, routing: InferencePoolRouting, name: str) -> Manifest:
    """The picker's Deployment."""
    pod_labels = {**stack.labels(COMPONENT), KUBE_API_LABEL: "true"}
    container = _epp_container(stack, routing)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(stack, name),
        "spec": {
            "replicas": routing.replicas,
            "selector": {"matchLabels": _epp_selector(stack)},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": name,
                    # As long as the longest request an engine may still be serving.
                    "terminationGracePeriodSeconds": 130,
                    "containers": [container],
                    "volumes": [{"name": "plugins-config", "configMap": {"name": name}}],
                },
            },
        },
    }


def _epp_service(stack: StackView, name: str) -> Manifest:
    """The Service the gateway sends ext-proc calls to."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(stack, name),
        "spec": {
            "type": "ClusterIP",
            "selector": _epp_selector(stack),
            "ports": [
                {"name": "grpc-ext-proc", "protocol": "TCP", "port": EXT_PROC_PORT,
                 "targetPort": EXT_PROC_PORT, "appProtocol": "http2"},
                {"name": "http-metrics", "protocol": "TCP", "port": METRICS_PORT,
                 "targetPort": METRICS_PORT},
            ],
        },
    }  # fmt: skip


def route_to_pool(objects: list[Manifest], stack: StackView) -> list[Manifest]:
    """Send the stack's HTTPRoute to its InferencePool instead of its Service."""
    for obj in objects:
        if obj.get("kind") == "HTTPRoute" and obj["metadata"]["name"] == stack.id:
            for rule in obj["spec"]["rules"]:
                rule["backendRefs"] = [pool_backend(stack)]
    return objects


def render_pool(stack: StackView, routing: InferencePoolRouting) -> list[Manifest]:
    """The InferencePool and its endpoint picker."""
    return [inference_pool(stack, routing), *endpoint_picker(stack, routing)]
