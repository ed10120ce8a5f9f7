"""What the renderers of an InferenceStack read of it: a structural type, not the construct.

:class:`~gitops.constructs.inference.InferenceStack` validates its parameters and keeps the
resolved values as attributes; the modules that turn them into objects (``vllm`` and
``kserve`` modes, LeaderWorkerSet, InferencePool, warm-up, pod, metrics) and the resolvers
that settle cross-parameter defaults take a :class:`StackView`. The construct satisfies it
structurally, so those modules never import the construct and the construct imports them
at the top: the dependency points one way (``inference`` -> renderers -> ``stack_view``).
"""

from __future__ import annotations

from typing import Any, Protocol

from gitops.constructs.inference_options import Drain, KvOffload, Lora, Security
from gitops.constructs.inference_params import (
    Autoscaling,
    Disruption,
    ModelCache,
    Probes,
    Route,
    SecretKeyRef,
)


class StackView(Protocol):
    """The resolved parameters of one stack (see ``InferenceStack`` for their meaning)."""

    id: str
    mode: str
    strict: bool
    image: str
    model: str
    model_revision: str | None
    gpus: int
    replicas: int
    tensor_parallel_size: int
    gpu_resource: str
    gpu_product: str | None
    max_model_len: int | None
    gpu_memory_utilization: float | None
    dtype: str | None
    extra_args: tuple[str, ...]
    shm_size: str
    cpu: str
    memory: str
    port: int
    hf_token_secret: SecretKeyRef | None
    api_key_secret: SecretKeyRef | None
    security: Security
    drain: Drain
    shutdown_timeout: int | None
    lora: Lora | None
    kv_offload: KvOffload | None
    tolerations: list[dict[str, Any]]
    priority_class: str | None
    runtime_class: str | None
    probes: Probes
    autoscaling: Autoscaling
    min_replicas: int
    max_replicas: int
    fallback_replicas: int
    pdb: Disruption | None
    service_monitor: bool
    route: Route | None
    extra_labels: dict[str, str]
    monitor_labels: dict[str, str]
    cache: ModelCache | None
    cache_size: str | None
    progress_deadline_seconds: int | None

    @property
    def namespace(self) -> str:
        """The namespace of every object of the stack."""
        ...

    def labels(self, component: str = "engine") -> dict[str, str]:
        """Labels of an object of the stack."""
        ...

    def selector(self) -> dict[str, str]:
        """The engine pods' stable labels."""
        ...

    def metadata(self, name: str, component: str = "engine") -> dict[str, Any]:
        """``metadata`` of an object of the stack."""
        ...
