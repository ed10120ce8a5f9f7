"""Cross-parameter checks of :class:`~gitops.constructs.inference.InferenceStack`: the
model cache against the model and the replicas, mode-specific limits, memory-backed
options, tensor parallelism.

Each function raises :class:`~gitops.core.errors.ValidationError` as ``<owner>: <field> must be
<expected>, got <given>``, before the stack renders anything.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any

from gitops.constructs.inference_checks import split_image
from gitops.constructs.inference_options import (
    COMMON_HEAD_COUNTS,
    Drain,
    KvOffload,
    Lora,
    cache_size_for,
    gib,
    weights_bytes,
)
from gitops.constructs.inference_params import (
    KSERVE_PROGRESS_DEADLINE,
    ModelCache,
    SecretKeyRef,
    as_mapping,
    check_int,
    check_quantity,
    coerce,
    fail,
)
from gitops.core.errors import StackWarning
from gitops.core.quantity import parse_quantity

if TYPE_CHECKING:
    from gitops.constructs.stack_view import StackView

#: Headroom of the default progress deadline over the startup budget: scheduling, attaching
#: the cache volume and pulling a multi-gigabyte engine image come before the first probe.
PULL_ALLOWANCE = 600
#: The first vLLM release with ``--shutdown-timeout`` (vllm-project/vllm#36666).
SHUTDOWN_TIMEOUT_SINCE = (0, 19)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")
#: Memory the engine itself needs beside a KV offload buffer (Python, CUDA context, the
#: tokenizer, pinned staging buffers).
ENGINE_MEMORY_GIB = 8


def check_parallelism(owner: str, gpus: int, value: object) -> int:
    """The tensor parallel size: a divisor of ``gpus``; warns if it divides no common
    attention-head count (vLLM refuses the model at start-up, minutes into a rollout)."""
    tp = gpus if value is None else check_int(owner, "tensor_parallel_size", value, 1)
    if gpus % tp:
        raise fail(owner, "tensor_parallel_size", f"a divisor of gpus ({gpus})", value)
    if not any(heads % tp == 0 for heads in COMMON_HEAD_COUNTS):
        warnings.warn(
            f"{owner}: tensor_parallel_size {tp} divides none of the attention-head counts "
            f"of common models ({', '.join(map(str, COMMON_HEAD_COUNTS))}); vLLM refuses a "
            "model whose head count it does not divide",
            StackWarning,
            stacklevel=4,
        )
    return tp


def secret_ref(owner: str, name: str, value: object, default_key: str) -> SecretKeyRef | None:
    """A Secret key reference from a ref, a mapping, or a Secret name (key ``default_key``)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = SecretKeyRef(name=value, key=default_key)
    ref = coerce(owner, name, SecretKeyRef, value)
    ref.check(owner, name)
    return ref


def resolve_memory_options(
    owner: str, p: dict[str, Any], memory: str
) -> tuple[Lora | None, KvOffload | None]:
    """LoRA adapters and KV-cache offload, checked; the offload buffer must fit ``memory``."""
    lora = None if p["lora"] is None else coerce(owner, "lora", Lora, p["lora"])
    if lora is not None:
        lora.check(owner)
    kv = (
        None if p["kv_offload"] is None else coerce(owner, "kv_offload", KvOffload, p["kv_offload"])
    )
    if kv is not None:
        kv.check(owner)
        room = parse_quantity(memory) / 2**30 - ENGINE_MEMORY_GIB
        if kv.size_gib > room:
            raise fail(
                owner,
                "kv_offload.size_gib",
                f"at most memory ({memory}) minus {ENGINE_MEMORY_GIB}Gi for the engine "
                f"({float(room):g} GiB): the buffer lives in the pod's memory",
                kv.size_gib,
            )
    return lora, kv


def _most_replicas(stack: StackView) -> int:
    """The most replicas the stack can run at once."""
    return stack.replicas if stack.autoscaling.kind == "none" else stack.max_replicas


def resolve_cache(
    stack: StackView, owner: str, p: dict[str, Any]
) -> tuple[ModelCache | None, str | None]:
    """The model cache and the size of its new PVCs (``None`` when none is created).

    Refuses a cache smaller than the model's weights, a cache whose size cannot be known,
    and an existing ReadWriteOnce claim several replicas would share across nodes.
    """
    if p["cache"] is None or stack.mode == "kserve":
        return None, None
    cache = coerce(owner, "cache", ModelCache, p["cache"])
    cache.check(owner)
    if cache.existing_claim is not None:
        replicas = _most_replicas(stack)
        if cache.access_mode in ("ReadWriteOnce", "ReadWriteOncePod") and replicas > 1:
            raise fail(
                owner,
                "cache.access_mode",
                f"ReadWriteMany or ReadOnlyMany for an existing claim shared by up to "
                f"{replicas} replicas (a ReadWriteOnce volume attaches to one node; replicas "
                "elsewhere wait on Multi-Attach), or a new cache (one volume per replica)",
                cache.access_mode,
            )
        return cache, None
    weights = _model_bytes(stack, owner, p["model_size"])
    if cache.size is None:
        if weights is None and stack.model.startswith("/"):
            raise fail(
                owner,
                "cache",
                f"null for a model inside the image ({stack.model}: nothing is downloaded), "
                "or a cache with a size",
                as_mapping(cache),
            )
        if weights is None:
            raise fail(
                owner,
                "cache.size",
                f"given: the size of {stack.model!r} cannot be read from its id (give "
                "cache.size, or model_size to size the cache from)",
                None,
            )
        return cache, cache_size_for(weights)
    if weights is not None and parse_quantity(cache.size) < weights:
        raise fail(
            owner,
            "cache.size",
            f"at least the model's weights ({gib(weights)} for {stack.model!r})",
            cache.size,
        )
    return cache, cache.size


def _model_bytes(stack: StackView, owner: str, model_size: object) -> int | None:
    """The weights' size: ``model_size`` when given, else read from the model id."""
    if model_size is not None:
        return int(parse_quantity(check_quantity(owner, "model_size", model_size)))
    return weights_bytes(stack.model, stack.dtype)


def resolve_kserve(stack: StackView, owner: str, p: dict[str, Any]) -> int | None:
    """Mode-specific checks; the Deployment's progress deadline (vllm mode).

    The deadline must exceed the startup budget: a cold start of a large model would mark
    the rollout failed (Argo CD: Degraded, later sync waves held) while it still loads.
    """
    budget = stack.probes.startup_budget
    deadline = p["progress_deadline_seconds"]
    if stack.mode == "vllm":
        if deadline is None:
            return budget + PULL_ALLOWANCE
        check_int(owner, "progress_deadline_seconds", deadline, 1)
        if deadline <= budget:
            raise fail(
                owner,
                "progress_deadline_seconds",
                f"more than the startup budget ({budget} s): a pod still loading would mark "
                "the rollout failed",
                deadline,
            )
        return int(deadline)
    for name in ("progress_deadline_seconds", "api_key_secret", "lora", "kv_offload"):
        if p[name] is not None:
            raise fail(
                owner, name, "unset in kserve mode (KServe's runtime does not support it)", p[name]
            )
    if budget >= KSERVE_PROGRESS_DEADLINE:
        raise fail(
            owner,
            "probes",
            f"a startup budget below {KSERVE_PROGRESS_DEADLINE} s in kserve mode (KServe "
            "keeps the Deployment's default progress deadline)",
            f"{budget} s",
        )
    ref = stack.hf_token_secret
    if ref is not None and ref.key != "HF_TOKEN":
        raise fail(
            owner,
            "hf_token_secret.key",
            "'HF_TOKEN' in kserve mode (KServe's storage initializer reads that key of the "
            "Secrets its ServiceAccount lists)",
            ref.key,
        )
    return None


def resolve_drain(owner: str, p: dict[str, Any], mode: str, image: str) -> tuple[Drain, int | None]:
    """The drain settings and vLLM's shutdown timeout (``None``: no flag rendered)."""
    drain = coerce(owner, "drain", Drain, p["drain"] or Drain())
    check_int(owner, "drain.pre_stop_seconds", drain.pre_stop_seconds, 1)
    given = drain.shutdown_timeout_seconds
    if given is not None:
        check_int(owner, "drain.shutdown_timeout_seconds", given, 0)
    _, tag, _ = split_image(image)
    found = _VERSION.match(tag or "")
    too_old = found is not None and (int(found[1]), int(found[2])) < SHUTDOWN_TIMEOUT_SINCE
    if mode == "kserve" or given == 0 or (given is None and too_old):
        timeout = None  # KServe's model server has no such flag
    elif too_old:
        since = ".".join(map(str, SHUTDOWN_TIMEOUT_SINCE))
        raise fail(
            owner,
            "drain.shutdown_timeout_seconds",
            f"unset or 0 for an image older than vLLM v{since} (it has no --shutdown-timeout "
            "and would exit at start)",
            given,
        )
    else:
        timeout = 30 if given is None else given
    drain.check(owner, timeout)
    return drain, timeout
