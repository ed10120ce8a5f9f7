"""``InferenceStack``: one model served by vLLM-style engines, as plain Kubernetes objects.

Every argument is checked at construction, after the environment's overrides are merged
in and before the construct joins any tree, so invalid input renders nothing. Rendering
lives in :mod:`~gitops.constructs.inference_render` (mode ``vllm``) and
:mod:`~gitops.constructs.kserve` (mode ``kserve``).

Purely data-manipulative: no I/O.
"""

# Over 400 lines: InferenceStack's 47 documented keyword parameters (its signature and
# class docstring are ~150 lines); checks and rendering live in the inference_* modules.
from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from gitops.constructs.base import Construct, Scope, check_dns1123_label
from gitops.constructs.inference_checks import (
    SELECTOR_KEYS,
    check_bool,
    check_gpu_product,
    check_gpu_resource,
    check_image,
    check_labels,
    check_model,
    check_revision,
    check_strings,
    check_tolerations,
    optional_subdomain,
    pdb_mapping,
)
from gitops.constructs.inference_ext import render_stack, resolve_extensions
from gitops.constructs.inference_options import Drain, KvOffload, Lora, Security
from gitops.constructs.inference_params import (
    Autoscaling,
    Disruption,
    ModelCache,
    Probes,
    Route,
    SecretKeyRef,
    as_mapping,
    check_int,
    check_quantity,
    coerce,
    fail,
    snake_case,
)
from gitops.constructs.inference_resolve import (
    check_parallelism,
    resolve_cache,
    resolve_drain,
    resolve_kserve,
    resolve_memory_options,
    secret_ref,
)
from gitops.constructs.inferencepool import InferencePoolRouting
from gitops.constructs.kserve import render_kserve
from gitops.constructs.lws import MultiNode
from gitops.constructs.warmup import WarmUp
from gitops.core.errors import ValidationError
from gitops.core.keys import Manifest
from gitops.core.labels import MANAGED_BY
from gitops.core.suggest import did_you_mean

#: The cache a stack gets unless told otherwise: a ReadWriteOnce PVC per replica, sized
#: from the model.
DEFAULT_CACHE = ModelCache()
#: The disruption budget a stack gets unless told otherwise: at most one pod down.
DEFAULT_PDB = Disruption()
#: Rendering modes.
MODES = ("vllm", "kserve")
#: vLLM ``--dtype`` values.
DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")


class InferenceStack(Construct):
    """One model served by vLLM engines: Deployment, Service, cache, autoscaler, PDB, monitor.

    With only ``model``, ``image`` and ``gpus`` the stack is complete: a StatefulSet with GPU
    requests and limits, ``/dev/shm``, a model-cache PVC per replica sized from the model,
    startup/readiness/liveness probes (15 minute start-up budget), a drain on shutdown, a
    hardened security context, its own ServiceAccount without a token, and the GPU
    toleration; a ClusterIP Service; a PodDisruptionBudget (``maxUnavailable: 1``); a
    ServiceMonitor. Autoscaling is off by default (``kind: none``): turning it on needs a
    metrics pipeline (KEDA or an adapter) the cluster may lack. Nested parameters take the
    dataclass or a mapping of its fields.

    Args:
        scope: a :class:`~gitops.constructs.base.Scope`, a construct, or a cdk8s App/Chart.
        id: the stack's name; base of every object name (``llama``, ``llama-cache``).
        model: Hugging Face id, ``hf://<id>`` or (vllm mode) an absolute path in the image.
        model_revision: the hub revision to serve (a commit hash pins it; a branch or tag
            follows it): vLLM's ``--revision``, or KServe's ``hf://<id>:<revision>``.
            Default: the hub's default branch. ``gitops set model`` sets it per environment.
        image: engine image (vllm mode) or KServe Hugging Face runtime image (kserve mode).
        gpus: GPUs per pod (>= 1).
        replicas: pods when not autoscaled (>= 0; 0 parks the stack).
        namespace: namespace of every object (the scope's by default).
        gpu_resource: extended resource name of the GPUs (``amd.com/gpu`` ...).
        gpu_product: ``nvidia.com/gpu.product`` node label value to schedule on.
        tensor_parallel_size: GPUs per model shard; divides ``gpus`` (defaults to ``gpus``);
            a degree dividing no common attention-head count warns.
        max_model_len: ``--max-model-len``.
        gpu_memory_utilization: ``--gpu-memory-utilization`` in (0, 1].
        dtype: ``--dtype``.
        extra_args: further engine arguments, appended as given.
        shm_size: size limit of the in-memory ``/dev/shm`` (counts toward ``memory``).
        cache: the model cache (:class:`ModelCache`), or ``None`` for none (vllm mode;
            KServe's storage initializer downloads the model itself).
        model_size: the weights' size on disk (a quantity), when the model id does not name
            its parameter count; sizes the cache.
        hf_token_secret: Secret key holding a Hugging Face token (referenced, never read;
            in kserve mode the key must be ``HF_TOKEN``, what KServe's storage initializer
            reads).
        api_key_secret: Secret key holding the API key clients must send (vllm mode,
            ``VLLM_API_KEY``); ``None`` leaves ``/v1`` open to every pod the network allows.
        tolerations: pod tolerations (default: tolerate ``<gpu_resource>:NoSchedule``).
        priority_class: ``priorityClassName`` of the pods.
        runtime_class: ``runtimeClassName`` of the pods (``nvidia``).
        probes: health probes (:class:`Probes`; vllm mode, KServe's runtime owns its own).
        autoscaling: autoscaler (:class:`Autoscaling`); off by default.
        pdb: disruption budget (:class:`Disruption`), or ``None`` for none.
        service_monitor: render a Prometheus-operator monitor scraping ``/metrics`` (a
            ServiceMonitor; in kserve mode a PodMonitor on the predictor pods).
        route: Gateway API exposure (:class:`Route`).
        mode: ``vllm`` (Deployment and friends) or ``kserve`` (an InferenceService).
        labels: extra labels (team, cost-center) on every object and pod.
        monitor_labels: extra labels on the ServiceMonitor/PodMonitor only: the ones the
            cluster's Prometheus selects monitors by (kube-prometheus-stack: ``release``).
        drain: shutdown drain (:class:`Drain`): preStop pause, vLLM's shutdown timeout,
            grace period.
        security: pod security (:class:`Security`): non-root user where the image allows.
        progress_deadline_seconds: the Deployment's progress deadline (vllm mode); above the
            startup budget, by default the budget plus 600 s.
        lora: LoRA adapters (:class:`Lora`; vllm mode).
        kv_offload: KV-cache offload to CPU memory (:class:`KvOffload`; vllm mode).
        strict: refuse ``:latest`` and untagged images.
        port: the engine's HTTP port (vllm mode).
        cpu: CPU request per pod.
        memory: memory request and limit per pod.
        multi_node: serve each replica from a LeaderWorkerSet group of nodes
            (:class:`~gitops.constructs.lws.MultiNode`; ``gpus`` are then per node).
        inference_pool: route through a Gateway API Inference Extension InferencePool and
            its endpoint picker instead of the Service
            (:class:`~gitops.constructs.inferencepool.InferencePoolRouting`, or ``True``).
        warm_up: fill the cache in an init container before the engine starts
            (:class:`~gitops.constructs.warmup.WarmUp`, or ``True``).

    Raises:
        ValidationError: an argument or environment override is invalid; the message names
            the stack, the field, what was expected and what was given.
    """

    type_name = "InferenceStack"
    #: Set by :func:`~gitops.constructs.inference_ext.resolve_extensions`.
    multi_node: MultiNode | None
    inference_pool: InferencePoolRouting | None
    warm_up: WarmUp | None

    # Over 60 lines by its signature: every stack parameter is a typed keyword argument of
    # the public API; checking them is _resolve's.
    def __init__(
        self,
        scope: Any,
        id: str,
        *,
        model: str,
        image: str,
        model_revision: str | None = None,
        gpus: int = 1,
        replicas: int = 1,
        namespace: str | None = None,
        gpu_resource: str = "nvidia.com/gpu",
        gpu_product: str | None = None,
        tensor_parallel_size: int | None = None,
        max_model_len: int | None = None,
        gpu_memory_utilization: float | None = None,
        dtype: str | None = None,
        extra_args: Sequence[str] = (),
        shm_size: str = "16Gi",
        cache: ModelCache | Mapping[str, Any] | None = DEFAULT_CACHE,
        hf_token_secret: SecretKeyRef | Mapping[str, Any] | str | None = None,
        tolerations: Sequence[Mapping[str, Any]] | None = None,
        priority_class: str | None = None,
        runtime_class: str | None = None,
        probes: Probes | Mapping[str, Any] | None = None,
        autoscaling: Autoscaling | Mapping[str, Any] | None = None,
        pdb: Disruption | Mapping[str, Any] | None = DEFAULT_PDB,
        service_monitor: bool = True,
        route: Route | Mapping[str, Any] | None = None,
        mode: str = "vllm",
        labels: Mapping[str, str] | None = None,
        strict: bool = False,
        port: int = 8000,
        cpu: str = "4",
        memory: str = "32Gi",
        multi_node: Any = None,
        inference_pool: Any = None,
        warm_up: Any = False,
        model_size: str | None = None,
        api_key_secret: SecretKeyRef | Mapping[str, Any] | str | None = None,
        monitor_labels: Mapping[str, str] | None = None,
        drain: Drain | Mapping[str, Any] | None = None,
        security: Security | Mapping[str, Any] | None = None,
        progress_deadline_seconds: int | None = None,
        lora: Lora | Mapping[str, Any] | None = None,
        kv_offload: KvOffload | Mapping[str, Any] | None = None,
    ) -> None:
        owner = f"InferenceStack {id!r}"
        check_dns1123_label(owner, "name", id)
        params: dict[str, Any] = {
            "model": model, "image": image, "model_revision": model_revision, "gpus": gpus,
            "replicas": replicas,
            "namespace": namespace, "gpu_resource": gpu_resource, "gpu_product": gpu_product,
            "tensor_parallel_size": tensor_parallel_size, "max_model_len": max_model_len,
            "gpu_memory_utilization": gpu_memory_utilization, "dtype": dtype,
            "extra_args": extra_args, "shm_size": shm_size, "cache": cache,
            "hf_token_secret": hf_token_secret, "tolerations": tolerations,
            "priority_class": priority_class, "runtime_class": runtime_class,
            "probes": probes, "autoscaling": autoscaling, "pdb": pdb,
            "service_monitor": service_monitor, "route": route, "mode": mode,
            "labels": labels, "strict": strict, "port": port, "cpu": cpu, "memory": memory,
            "multi_node": multi_node, "inference_pool": inference_pool, "warm_up": warm_up,
            "model_size": model_size, "api_key_secret": api_key_secret,
            "monitor_labels": monitor_labels, "drain": drain, "security": security,
            "progress_deadline_seconds": progress_deadline_seconds, "lora": lora,
            "kv_offload": kv_offload,
        }  # fmt: skip
        # Validate before Construct.__init__: under a cdk8s scope that call attaches a chart
        # to the App, which must not happen for invalid input.
        overrides = _overrides_for(scope, id)
        if not overrides:
            self._resolve(owner, id, params)
        else:
            # The blueprint's own values first, so an error is blamed on the right file;
            # then the same checks on the merged values, blamed on the environment.
            self._resolve(owner, id, dict(params))
            try:
                _apply_overrides(owner, params, overrides)
                self._resolve(owner, id, params)
            except ValidationError as err:
                raise ValidationError(
                    f"{_overrides_source(scope)}: overrides.{id}: {err}"
                ) from None
        super().__init__(scope, id)
        self._register()

    @classmethod
    def from_spec(cls, scope: Any, spec: Mapping[str, Any], source: str) -> InferenceStack:
        """Build a stack from a declarative blueprint entry (``kind: InferenceStack``).

        ``spec`` holds ``kind``, ``name`` (or ``id``) and the constructor's parameters as
        keys, in snake_case or camelCase.

        Raises:
            ValidationError: naming ``source``, the stack and the offending key.
        """
        if not isinstance(spec, Mapping):
            raise ValidationError(f"{source}: InferenceStack spec must be a mapping, got {spec!r}")
        if spec.get("kind") != "InferenceStack":
            raise ValidationError(
                f"{source}: kind must be 'InferenceStack', got {spec.get('kind')!r}"
            )
        if "name" in spec and "id" in spec and spec["name"] != spec["id"]:
            raise ValidationError(
                f"{source}: InferenceStack name and id must agree, got {spec['name']!r} and "
                f"{spec['id']!r}"
            )
        name = spec.get("name", spec.get("id"))
        if not isinstance(name, str):
            raise ValidationError(f"{source}: InferenceStack name must be a string, got {name!r}")
        kwargs: dict[str, Any] = {}
        for key, value in spec.items():
            if key in ("kind", "name", "id"):
                continue
            snake = snake_case(key) if isinstance(key, str) else key
            if snake not in PARAMETERS:
                raise ValidationError(
                    f"{source}: InferenceStack {name!r}: key must be one of the stack's "
                    f"parameters, got {key!r}{did_you_mean(snake, PARAMETERS)}"
                )
            kwargs[snake] = value
        if "model" not in kwargs or "image" not in kwargs:
            missing = "model" if "model" not in kwargs else "image"
            raise ValidationError(f"{source}: InferenceStack {name!r}: key {missing!r} is required")
        try:
            return cls(scope, name, **kwargs)
        except ValidationError as err:
            raise ValidationError(f"{source}: {err}") from err

    @property
    def namespace(self) -> str:
        """The namespace of every object of the stack."""
        return self._namespace or super().namespace

    def labels(self, component: str = "engine") -> dict[str, str]:
        """Labels of an object of the stack: recommended labels plus the extra ``labels``."""
        out = {
            "app.kubernetes.io/name": "kserve" if self.mode == "kserve" else "vllm",
            "app.kubernetes.io/instance": self.id,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": self.id,
            "app.kubernetes.io/managed-by": MANAGED_BY,
        }
        out.update(self.extra_labels)
        return out

    def selector(self) -> dict[str, str]:
        """The engine pods' stable labels, used by every selector of the stack."""
        labels = self.labels()
        return {key: labels[key] for key in SELECTOR_KEYS}

    def metadata(self, name: str, component: str = "engine") -> dict[str, Any]:
        """``metadata`` of an object of the stack."""
        return {"name": name, "namespace": self.namespace, "labels": self.labels(component)}

    def _build(self) -> list[Manifest]:
        if self.mode == "kserve":
            return render_kserve(self)
        return render_stack(self)

    def _resolve(self, owner: str, id: str, p: dict[str, Any]) -> None:
        """Check every parameter and keep the resolved values as attributes."""
        self._resolve_identity(owner, id, p)
        self._resolve_engine(owner, p)
        self._resolve_pod(owner, p)

    def _resolve_identity(self, owner: str, id: str, p: dict[str, Any]) -> None:
        """Mode, name, namespace, image and model."""
        self.mode: str = p["mode"]
        if self.mode not in MODES:
            raise fail(owner, "mode", "one of vllm, kserve", self.mode)
        if self.mode == "kserve" and len(id) > 53:
            raise fail(owner, "name", "at most 53 characters in kserve mode (<name>-predictor)", id)
        if not id[0].isalpha():
            raise fail(owner, "name", "starting with a letter (a Service name is DNS-1035)", id)
        self._namespace: str | None = p["namespace"]
        if self._namespace is not None:
            check_dns1123_label(owner, "namespace", self._namespace)
        self.strict = check_bool(owner, "strict", p["strict"])
        self.image = check_image(owner, p["image"], p.get("image_tag"), self.strict)
        self.model = check_model(owner, p["model"], self.mode)
        self.model_revision = check_revision(owner, p["model_revision"], self.model, self.mode)

    def _resolve_engine(self, owner: str, p: dict[str, Any]) -> None:
        """GPUs, replicas, parallelism and the engine's sizes and port."""
        self.gpus = check_int(owner, "gpus", p["gpus"], 1)
        self.replicas = check_int(owner, "replicas", p["replicas"], 0)
        self.tensor_parallel_size = check_parallelism(owner, self.gpus, p["tensor_parallel_size"])
        self.gpu_resource = check_gpu_resource(owner, p["gpu_resource"])
        self.gpu_product = check_gpu_product(owner, p["gpu_product"])
        mml = p["max_model_len"]
        self.max_model_len = None if mml is None else check_int(owner, "max_model_len", mml, 1)
        gmu = p["gpu_memory_utilization"]
        if gmu is not None and (
            not isinstance(gmu, (int, float)) or isinstance(gmu, bool) or not 0 < gmu <= 1
        ):
            raise fail(owner, "gpu_memory_utilization", "a number in (0, 1]", gmu)
        self.gpu_memory_utilization: float | None = gmu
        self.dtype: str | None = p["dtype"]
        if self.dtype is not None and self.dtype not in DTYPES:
            raise fail(owner, "dtype", f"one of {', '.join(DTYPES)}", self.dtype)
        self.extra_args = check_strings(owner, "extra_args", p["extra_args"])
        self.shm_size = check_quantity(owner, "shm_size", p["shm_size"])
        self.cpu = check_quantity(owner, "cpu", p["cpu"])
        self.memory = check_quantity(owner, "memory", p["memory"])
        self.port = check_int(owner, "port", p["port"], 1)
        if self.port > 65535:
            raise fail(owner, "port", "a port number in 1..65535", self.port)

    def _resolve_pod(self, owner: str, p: dict[str, Any]) -> None:
        """Secrets, security, drain, scheduling, probes, scaling, routing, labels, cache."""
        # KServe's storage initializer reads the token from the key HF_TOKEN.
        token_key = "HF_TOKEN" if self.mode == "kserve" else "token"
        self.hf_token_secret = secret_ref(owner, "hf_token_secret", p["hf_token_secret"], token_key)
        self.api_key_secret = secret_ref(owner, "api_key_secret", p["api_key_secret"], "api-key")
        self.security = coerce(owner, "security", Security, p["security"] or Security())
        self.security.check(owner)
        self.drain, self.shutdown_timeout = resolve_drain(owner, p, self.mode, self.image)
        self.lora, self.kv_offload = resolve_memory_options(owner, p, self.memory)
        self.tolerations = check_tolerations(owner, p["tolerations"], self.gpu_resource)
        self.priority_class = optional_subdomain(owner, "priority_class", p["priority_class"])
        self.runtime_class = optional_subdomain(owner, "runtime_class", p["runtime_class"])
        probes = coerce(owner, "probes", Probes, p["probes"] or Probes())
        probes.check(owner)
        self.probes = probes.for_mode(self.mode)
        self.autoscaling = coerce(
            owner, "autoscaling", Autoscaling, p["autoscaling"] or Autoscaling()
        )
        self.autoscaling.check(owner)
        self._resolve_replica_bounds(owner)
        self.pdb = (
            None if p["pdb"] is None else coerce(owner, "pdb", Disruption, pdb_mapping(p["pdb"]))
        )
        if self.pdb is not None:
            self.pdb.check(owner)
        self.service_monitor = check_bool(owner, "service_monitor", p["service_monitor"])
        self.route = None if p["route"] is None else coerce(owner, "route", Route, p["route"])
        if self.route is not None:
            self.route.check(owner)
        self.extra_labels = check_labels(owner, p["labels"])
        self.monitor_labels = check_labels(owner, p["monitor_labels"], "monitor_labels")
        self.cache, self.cache_size = resolve_cache(self, owner, p)
        self.progress_deadline_seconds = resolve_kserve(self, owner, p)
        resolve_extensions(self, owner, p)

    def _resolve_replica_bounds(self, owner: str) -> None:
        """Settle the autoscaler's bounds: defaults from ``replicas``, min <= max."""
        scaling = self.autoscaling
        if self.mode == "kserve" and scaling.kind == "hpa":
            raise fail(
                owner,
                "autoscaling.kind",
                "'none' or 'keda' in kserve mode (its HPA scales on CPU or memory only)",
                scaling.kind,
            )
        self.min_replicas = self.replicas if scaling.min_replicas is None else scaling.min_replicas
        if scaling.kind == "hpa" and self.min_replicas < 1:
            raise fail(
                owner, "autoscaling.min_replicas", "an integer >= 1 for hpa", self.min_replicas
            )
        self.max_replicas = scaling.max_replicas or max(4, self.min_replicas)
        self.fallback_replicas = scaling.fallback_replicas or max(self.min_replicas, 1)
        if scaling.kind != "none" and self.min_replicas > self.max_replicas:
            raise fail(
                owner,
                "autoscaling.min_replicas",
                f"<= autoscaling.max_replicas ({self.max_replicas})",
                self.min_replicas,
            )


#: The constructor's parameters, in signature order (keys of blueprints and overrides).
PARAMETERS: tuple[str, ...] = tuple(inspect.signature(InferenceStack.__init__).parameters)[3:]


def _root(scope: Any) -> Scope | None:
    """The root Scope of ``scope`` (itself, or a construct's), None under a foreign scope."""
    if isinstance(scope, Scope):
        return scope
    return scope.root() if isinstance(scope, Construct) else None


def _overrides_for(scope: Any, id: str) -> Mapping[str, Any]:
    """The environment's overrides for ``id``, as :meth:`Construct.overrides` reads them.

    Read from the scope because validation happens before ``Construct.__init__``.
    """
    root = _root(scope)
    return root.overrides.get(id, {}) if root is not None else {}


def _overrides_source(scope: Any) -> str:
    """The file the overrides came from (the environment's), for error messages."""
    root = _root(scope)
    env = root.context.get("environment") if root is not None else None
    return str(getattr(env, "source", None) or "environment overrides")


def _apply_overrides(owner: str, params: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Merge the environment's overrides into ``params``; overrides win."""
    for key, value in overrides.items():
        name = snake_case(key) if isinstance(key, str) else key
        if name not in PARAMETERS and name != "image_tag":
            hint = did_you_mean(name, [*PARAMETERS, "image_tag"])
            error = fail(owner, "environment override key", "a stack parameter or image_tag", key)
            raise ValidationError(f"{error}{hint}")
        if name == "autoscaling" and value is not None:
            if not isinstance(value, Mapping):
                raise fail(owner, "autoscaling override", "a mapping", value)
            base = coerce(owner, "autoscaling", Autoscaling, params["autoscaling"] or Autoscaling())
            merged = as_mapping(base)
            merged.update({snake_case(str(k)): v for k, v in value.items()})
            value = merged
        params[name] = value
