"""Render an :class:`~gitops.constructs.inference.InferenceStack` in ``kserve`` mode.

One ``serving.kserve.io/v1beta1`` InferenceService in Standard (raw Deployment) mode
replaces the Deployment, Service and autoscaler: KServe creates the Deployment and Service
``<name>-predictor`` (port 80 to the runtime's 8080) and, for ``autoscalerClass: keda``, the
ScaledObject. KServe creates no PodDisruptionBudget and no monitor, so the stack adds a
PodDisruptionBudget and a PodMonitor (KServe's Service carries none of our labels to
select) over the predictor pods, which carry the stack's labels through
``spec.predictor.labels``; an HTTPRoute targets the predictor Service.

KServe builds the pod by strategic-merging the serving runtime's container (the
ClusterServingRuntime ``kserve-huggingfaceserver``) with ours, ours winning field by
field: whatever the runtime sets and ours leaves out survives. So the container sets what
must not survive: ``limits.cpu`` (the runtime's ``"1"`` would sit below our request),
``args`` (a list is replaced whole, so ``--model_name`` is ours to give), the port the
PodMonitor scrapes, probes, drain and security.

KServe's storage initializer downloads ``storageUri`` itself (no model-cache claim), with
the credentials of the Secrets listed by the predictor's ServiceAccount: the stack's
ServiceAccount lists the Hugging Face token Secret, whose key must be ``HF_TOKEN``.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitops.constructs.inference_metrics import monitor_metadata
from gitops.constructs.inference_pod import (
    container_security,
    engine_args,
    lifecycle,
    probes,
    resources,
    scheduling,
    shm_mount,
    shm_volume,
    token_env,
)
from gitops.constructs.inference_render import (
    default_query,
    disruption_budget,
    http_route,
    pod_pattern,
    rollout_strategy,
    service_account,
    threshold,
)
from gitops.core.keys import Manifest

if TYPE_CHECKING:
    from gitops.constructs.stack_view import StackView

#: The port KServe's Hugging Face runtime listens on, and the predictor Service's port.
RUNTIME_PORT = 8080
SERVICE_PORT = 80
#: Name of the runtime port, as KServe names its container port.
PORT_NAME = "http1"


def predictor_name(stack: StackView) -> str:
    """Name KServe gives the predictor Deployment and Service."""
    return f"{stack.id}-predictor"


def inference_service(stack: StackView) -> Manifest:
    """The InferenceService (Standard deployment mode)."""
    scaling = stack.autoscaling
    model: dict[str, Any] = {
        "modelFormat": {"name": "huggingface"},
        # KServe's Hugging Face storage reads a revision after the id: hf://<id>:<revision>.
        "storageUri": f"{stack.model}:{stack.model_revision}"
        if stack.model_revision
        else stack.model,
        "image": stack.image,
        # The runtime's args (--model_name={{.Name}}) are replaced by ours, not merged.
        "args": [f"--model_name={stack.id}", *engine_args(stack)],
        "ports": [{"name": PORT_NAME, "containerPort": RUNTIME_PORT, "protocol": "TCP"}],
        "env": token_env(stack),
        "resources": resources(stack),
        "volumeMounts": [shm_mount()],
        "securityContext": container_security(stack),
        "lifecycle": lifecycle(stack),
        **probes(stack, RUNTIME_PORT),
    }
    if not model["env"]:
        del model["env"]
    predictor: dict[str, Any] = {
        "minReplicas": stack.min_replicas if scaling.kind == "keda" else stack.replicas,
        "maxReplicas": stack.max_replicas if scaling.kind == "keda" else max(stack.replicas, 1),
    }
    if scaling.kind == "keda":
        metric = {
            "backend": "prometheus",
            "serverAddress": scaling.server_address,
            "query": default_query(stack, pod_pattern(predictor_name(stack))),
        }
        predictor["autoScaling"] = {
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": metric,
                        "target": {"type": "Value", "value": threshold(stack)},
                    },
                }
            ]
        }
    predictor["labels"] = stack.labels()
    predictor["deploymentStrategy"] = rollout_strategy()
    predictor.update(scheduling(stack))
    predictor["model"] = model
    predictor["volumes"] = [shm_volume(stack)]
    metadata = stack.metadata(stack.id)
    metadata["annotations"] = {
        "serving.kserve.io/deploymentMode": "Standard",
        "serving.kserve.io/autoscalerClass": scaling.kind,
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def pod_monitor(stack: StackView) -> list[Manifest]:
    """A PodMonitor scraping the predictor pods' ``/metrics`` on the runtime port."""
    if not stack.service_monitor:
        return []
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": monitor_metadata(stack),
            "spec": {
                "selector": {"matchLabels": stack.selector()},
                # portNumber: prometheus-operator v0.80+ (the CRD in ../shared/schemas
                # accepts it); the pod declares the port, or Prometheus drops the target.
                "podMetricsEndpoints": [{"portNumber": RUNTIME_PORT, "path": "/metrics"}],
            },
        }
    ]


def render_kserve(stack: StackView) -> list[Manifest]:
    """Every object of a ``kserve``-mode stack, as fresh dicts."""
    return [
        service_account(stack),
        inference_service(stack),
        *disruption_budget(stack),
        *pod_monitor(stack),
        *http_route(stack, predictor_name(stack), SERVICE_PORT),
    ]
