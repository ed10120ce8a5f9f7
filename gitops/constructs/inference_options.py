"""Engine options of :class:`~gitops.constructs.inference.InferenceStack`: shutdown drain,
pod security, LoRA adapters, KV-cache offload, and the model's size on disk.

Each option is a frozen dataclass whose :meth:`check` raises
:class:`~gitops.core.errors.ValidationError` as ``<owner>: <field> must be <expected>, got
<given>``; the stack also accepts a mapping of the same fields.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gitops.constructs.inference_params import check_int, check_str, coerce, fail

#: LoRA ranks vLLM accepts for ``--max-lora-rank``.
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
#: KV-cache offload backends of vLLM's ``--kv-offloading-backend``.
KV_BACKENDS = ("native", "lmcache")
#: Attention-head counts of common open models (Llama 3.x 8B/70B/405B: 32/64/128, Qwen2.5
#: 7B/14B: 28/40, Mistral and Mixtral: 32, Gemma 2 9B: 16): vLLM refuses a tensor parallel
#: size that does not divide the head count, so a degree dividing none of them (3, 6, 12...)
#: is very likely a mistake.
COMMON_HEAD_COUNTS = (16, 28, 32, 40, 64, 128)

# "70B", "8b", "1.5B", "8x7B" in a model id: its parameter count in billions.
_PARAMS = re.compile(r"(?<![A-Za-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)[Bb](?![A-Za-z0-9])")
_LORA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GIB = 2**30


@dataclass(frozen=True)
class Drain:
    """How a pod stops without cutting the responses it is streaming.

    On deletion (rollout, scale-down, node drain) the pod leaves the Service's endpoints
    while its ``preStop`` pause runs, so no new request reaches it; then SIGTERM makes vLLM
    stop accepting requests and finish those in flight for up to its ``--shutdown-timeout``
    (without it vLLM aborts them at once). The grace period covers both with a margin.

    Attributes:
        pre_stop_seconds: pause before SIGTERM while endpoints and gateways stop routing.
        shutdown_timeout_seconds: vLLM's ``--shutdown-timeout`` (vllm mode). ``None``: 30 s
            when the image is vLLM v0.19 or later or its tag names no version, left out for
            older tags (they have no such flag and would exit); ``0``: left out (vLLM aborts
            in-flight requests at once).
        grace_seconds: ``terminationGracePeriodSeconds``; defaults to the pause plus the
            shutdown timeout plus 20 s for the engine to exit.
    """

    pre_stop_seconds: int = 10
    shutdown_timeout_seconds: int | None = None
    grace_seconds: int | None = None

    def grace(self, shutdown_timeout: int | None) -> int:
        """The termination grace period in seconds, given the resolved shutdown timeout."""
        if self.grace_seconds is not None:
            return self.grace_seconds
        return self.pre_stop_seconds + (shutdown_timeout or 0) + 20

    def check(self, owner: str, shutdown_timeout: int | None) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        check_int(owner, "drain.pre_stop_seconds", self.pre_stop_seconds, 1)
        if self.shutdown_timeout_seconds is not None:
            check_int(owner, "drain.shutdown_timeout_seconds", self.shutdown_timeout_seconds, 0)
        if self.grace_seconds is not None:
            needed = self.pre_stop_seconds + (shutdown_timeout or 0)
            check_int(owner, "drain.grace_seconds", self.grace_seconds, 1)
            if self.grace_seconds <= needed:
                raise fail(
                    owner,
                    "drain.grace_seconds",
                    f"more than pre_stop_seconds + shutdown_timeout_seconds ({needed}): the "
                    "kubelet kills the engine when the grace period ends",
                    self.grace_seconds,
                )


@dataclass(frozen=True)
class Security:
    """Pod and container security settings.

    Whatever the image, the engine runs without privilege escalation, with every Linux
    capability dropped and the runtime's default seccomp profile. The official vLLM images
    run as root, which the ``restricted`` Pod Security level refuses: give ``run_as_user``
    (a numeric user the image can run as) to run as non-root and meet ``restricted``. KServe's
    Hugging Face runtime image runs as a non-root user already.

    Attributes:
        run_as_user: numeric user (and group, and fsGroup of the cache) to run as; ``None``
            keeps the image's own user (root for vLLM images).
    """

    run_as_user: int | None = None

    def check(self, owner: str) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        if self.run_as_user is not None:
            check_int(owner, "security.run_as_user", self.run_as_user, 1)


@dataclass(frozen=True)
class LoraAdapter:
    """One LoRA adapter served next to the base model (``--lora-modules name=source``).

    Attributes:
        name: the model name clients request for the adapter.
        source: Hugging Face id of the adapter or an absolute path in the pod.
    """

    name: str
    source: str


@dataclass(frozen=True)
class Lora:
    """LoRA adapters served by the engine (vllm mode).

    Attributes:
        adapters: adapters loaded at start (:class:`LoraAdapter` or mappings).
        max_rank: ``--max-lora-rank``; the largest rank among the adapters.
        max_loras: ``--max-loras``, adapters batched together (vLLM's default when ``None``).
    """

    adapters: Sequence[LoraAdapter | Any] = ()
    max_rank: int = 16
    max_loras: int | None = None

    def resolved(self, owner: str) -> tuple[LoraAdapter, ...]:
        """The adapters as :class:`LoraAdapter`, checked."""
        if isinstance(self.adapters, (str, bytes)) or not isinstance(self.adapters, Sequence):
            raise fail(owner, "lora.adapters", "a list of adapters", self.adapters)
        out: list[LoraAdapter] = []
        for index, item in enumerate(self.adapters):
            where = f"lora.adapters[{index}]"
            adapter = coerce(owner, where, LoraAdapter, item)
            name = check_str(owner, f"{where}.name", adapter.name)
            if not _LORA_NAME.match(name):
                raise fail(owner, f"{where}.name", "letters, digits, '.', '_' or '-'", name)
            source = check_str(owner, f"{where}.source", adapter.source)
            if any(c.isspace() for c in source) or "=" in source:
                raise fail(
                    owner, f"{where}.source", "a model id or path without '=' or spaces", source
                )
            if name in (a.name for a in out):
                raise fail(owner, f"{where}.name", "unique among the adapters", name)
            out.append(adapter)
        if not out:
            raise fail(owner, "lora.adapters", "at least one adapter", [])
        return tuple(out)

    def check(self, owner: str) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        self.resolved(owner)
        if self.max_rank not in LORA_RANKS:
            raise fail(owner, "lora.max_rank", f"one of {LORA_RANKS}", self.max_rank)
        if self.max_loras is not None:
            check_int(owner, "lora.max_loras", self.max_loras, 1)

    def args(self, owner: str) -> list[str]:
        """The engine arguments enabling the adapters."""
        args = ["--enable-lora", "--max-lora-rank", str(self.max_rank)]
        if self.max_loras is not None:
            args += ["--max-loras", str(self.max_loras)]
        args.append("--lora-modules")
        args += [f"{a.name}={a.source}" for a in self.resolved(owner)]
        return args


@dataclass(frozen=True)
class KvOffload:
    """KV-cache offload to CPU memory (vllm mode), so evicted prefixes are reloaded, not
    recomputed.

    The buffer lives in the pod's memory: it must fit within ``memory`` with room for the
    engine itself (checked by the stack).

    Attributes:
        size_gib: ``--kv-offloading-size`` in GiB, summed over the tensor parallel ranks.
        backend: ``--kv-offloading-backend`` (``native`` or ``lmcache``).
    """

    size_gib: int | float = 16
    backend: str = "native"

    def check(self, owner: str) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        size = self.size_gib
        if not isinstance(size, (int, float)) or isinstance(size, bool) or not size > 0:
            raise fail(owner, "kv_offload.size_gib", "a number of GiB > 0", size)
        if self.backend not in KV_BACKENDS:
            raise fail(
                owner, "kv_offload.backend", f"one of {', '.join(KV_BACKENDS)}", self.backend
            )

    def args(self) -> list[str]:
        """The engine arguments enabling the offload."""
        size = self.size_gib
        text = str(int(size)) if float(size).is_integer() else str(size)
        return ["--kv-offloading-size", text, "--kv-offloading-backend", self.backend]


def parameter_count(model: str) -> float | None:
    """Parameters of ``model`` in billions, read from its id (``Llama-3.3-70B`` -> 70).

    ``None`` when the id names no size (``BAAI/bge-large-en-v1.5``) or names several.
    """
    found = {
        (int(experts) if experts else 1) * float(size)
        for experts, size in _PARAMS.findall(model.rpartition("/")[2])
    }
    return found.pop() if len(found) == 1 else None


def weights_bytes(model: str, dtype: str | None) -> int | None:
    """Bytes of the model's weights on disk, when its id names its size.

    Two bytes per parameter (bf16/fp16, what hubs publish), four for ``float32``; a quantized
    checkpoint is smaller, so this errs on the safe side for a cache size.
    """
    billions = parameter_count(model)
    if billions is None:
        return None
    per_parameter = 4 if dtype in ("float", "float32") else 2
    return int(billions * 1e9 * per_parameter)


def cache_size_for(weights: int) -> str:
    """A cache size holding ``weights`` bytes with 20% room (tokenizer and config files,
    filesystem overhead), in whole GiB."""
    return f"{math.ceil(weights * 1.2 / _GIB)}Gi"


def gib(value: int) -> str:
    """``value`` bytes in GiB, one decimal, for messages."""
    return f"{value / _GIB:.1f}Gi"
