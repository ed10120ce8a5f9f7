"""The engine pod of an :class:`~gitops.constructs.inference.InferenceStack`: container,
probes, security, drain on shutdown, volumes and scheduling, shared by both modes.

In kserve mode KServe strategic-merges the serving runtime's container into the one
rendered here, so every field the runtime sets and the stack must own is rendered
explicitly (see :mod:`~gitops.constructs.kserve`).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitops.constructs.inference_params import HF_CACHE_PATH

if TYPE_CHECKING:
    from gitops.constructs.stack_view import StackView

#: Name of the engine container and of its HTTP port.
CONTAINER = "vllm"
PORT_NAME = "http"
#: Name of the model-cache volume (and of the StatefulSet's volume claim template).
CACHE_VOLUME = "model-cache"
#: Where the cache is mounted when the pod runs as non-root: root's home is mode 0700.
NON_ROOT_CACHE_PATH = "/data/huggingface"
_SHM = "shm"
_HOME = "home"


def engine_args(stack: StackView) -> list[str]:
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
    if stack.lora is not None:
        args += stack.lora.args(f"InferenceStack {stack.id!r}")
    if stack.kv_offload is not None:
        args += stack.kv_offload.args()
    return args + list(stack.extra_args)


def resources(stack: StackView) -> dict[str, Any]:
    """Requests and limits: GPUs in both (extended resources require it), memory limited.

    No CPU limit in vllm mode (a limit throttles the tokenizer and scheduler threads under
    load); in kserve mode the CPU limit equals the request, because KServe's merge would
    otherwise keep the runtime's ``limits.cpu: "1"``, below the request, and the API server
    refuses the pod.
    """
    gpus = str(stack.gpus)
    limits: dict[str, Any] = {"memory": stack.memory, stack.gpu_resource: gpus}
    if stack.mode == "kserve":
        limits = {"cpu": stack.cpu, **limits}
    return {
        "requests": {"cpu": stack.cpu, "memory": stack.memory, stack.gpu_resource: gpus},
        "limits": limits,
    }


def _secret_env(name: str, ref: Any) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def token_env(stack: StackView) -> list[dict[str, Any]]:
    """``HF_TOKEN`` and ``VLLM_API_KEY`` from the referenced Secrets (never their values)."""
    env = []
    if stack.hf_token_secret is not None:
        env.append(_secret_env("HF_TOKEN", stack.hf_token_secret))
    if stack.api_key_secret is not None:
        # vLLM then requires "Authorization: Bearer <key>" on /v1; /health and /metrics stay
        # open for the kubelet and Prometheus.
        env.append(_secret_env("VLLM_API_KEY", stack.api_key_secret))
    return env


def cache_mount_path(stack: StackView) -> str:
    """Where the model cache is mounted (``HF_HOME``)."""
    assert stack.cache is not None
    if stack.cache.mount_path is not None:
        return stack.cache.mount_path
    return HF_CACHE_PATH if stack.security.run_as_user is None else NON_ROOT_CACHE_PATH


def shm_volume(stack: StackView) -> dict[str, Any]:
    """The in-memory ``/dev/shm`` volume NCCL and the engine's workers need."""
    return {"name": _SHM, "emptyDir": {"medium": "Memory", "sizeLimit": stack.shm_size}}


def shm_mount() -> dict[str, Any]:
    """The ``/dev/shm`` mount of :func:`shm_volume`."""
    return {"name": _SHM, "mountPath": "/dev/shm"}


def pod_security(stack: StackView) -> dict[str, Any]:
    """The pod's securityContext: RuntimeDefault seccomp; the non-root user when given."""
    out: dict[str, Any] = {}
    user = stack.security.run_as_user
    if user is not None:
        out = {"runAsNonRoot": True, "runAsUser": user, "runAsGroup": user, "fsGroup": user}
    elif stack.mode == "kserve":
        out = {"runAsNonRoot": True}  # the runtime's image runs as a non-root user
    out["seccompProfile"] = {"type": "RuntimeDefault"}
    return out


def container_security(stack: StackView) -> dict[str, Any]:
    """The container's securityContext: no privilege, no escalation, no capability."""
    out: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    if stack.security.run_as_user is not None or stack.mode == "kserve":
        out["runAsNonRoot"] = True
    out["seccompProfile"] = {"type": "RuntimeDefault"}
    return out


def lifecycle(stack: StackView) -> dict[str, Any]:
    """The preStop pause that lets endpoints drop the pod before SIGTERM reaches the engine.

    The ``sleep`` action (Kubernetes 1.30+) needs no shell in the image.
    """
    return {"preStop": {"sleep": {"seconds": stack.drain.pre_stop_seconds}}}


def scheduling(stack: StackView) -> dict[str, Any]:
    """Pod-level fields: identity, drain, security, priority, GPU placement, tolerations."""
    out: dict[str, Any] = {
        "serviceAccountName": stack.id,
        # The engine never calls the Kubernetes API: no token to steal from it.
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": stack.drain.grace(stack.shutdown_timeout),
        "securityContext": pod_security(stack),
    }
    if stack.priority_class is not None:
        out["priorityClassName"] = stack.priority_class
    if stack.runtime_class is not None:
        out["runtimeClassName"] = stack.runtime_class
    if stack.gpu_product is not None:
        out["nodeSelector"] = {"nvidia.com/gpu.product": stack.gpu_product}
    if stack.tolerations:
        out["tolerations"] = [dict(t) for t in stack.tolerations]
    return out


def _probe(path: str, port: str | int, period: int, failures: int, timeout: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def probes(stack: StackView, port: str | int) -> dict[str, Any]:
    """Startup, readiness and liveness probes; the startup one covers model loading."""
    p = stack.probes
    assert p.startup_path and p.readiness_path and p.liveness_path
    assert p.startup_failure_threshold is not None
    return {
        "startupProbe": _probe(
            p.startup_path, port, p.period_seconds, p.startup_failure_threshold, p.timeout_seconds
        ),
        "readinessProbe": _probe(
            p.readiness_path, port, p.period_seconds, p.failure_threshold, p.timeout_seconds
        ),
        "livenessProbe": _probe(
            p.liveness_path, port, p.period_seconds, p.failure_threshold, p.timeout_seconds
        ),
    }


def vllm_container(stack: StackView, cache_volume: str | None) -> dict[str, Any]:
    """The engine container of vllm mode; ``cache_volume`` names the mounted cache volume."""
    env: list[dict[str, Any]] = []
    mounts = [shm_mount()]
    if stack.cache is not None and cache_volume is not None:
        path = cache_mount_path(stack)
        env.append({"name": "HF_HOME", "value": path})
        mounts.append({"name": cache_volume, "mountPath": path})
    if stack.security.run_as_user is not None:
        # vLLM writes its compile cache and settings under $HOME, which the image's root
        # home does not let another user write.
        env.append({"name": "HOME", "value": "/home/vllm"})
        mounts.append({"name": _HOME, "mountPath": "/home/vllm"})
    env += token_env(stack)
    args = ["--model", stack.model, "--port", str(stack.port)]
    if stack.model_revision is not None:
        args += ["--revision", stack.model_revision]
    if stack.shutdown_timeout is not None:
        args += ["--shutdown-timeout", str(stack.shutdown_timeout)]
    args += engine_args(stack)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": stack.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": [{"name": PORT_NAME, "containerPort": stack.port, "protocol": "TCP"}],
        "env": env,
        "resources": resources(stack),
        "volumeMounts": mounts,
        "securityContext": container_security(stack),
        "lifecycle": lifecycle(stack),
        **probes(stack, PORT_NAME),
    }
    if not env:
        del container["env"]
    return container


def vllm_volumes(stack: StackView, claim: str | None) -> list[dict[str, Any]]:
    """The pod's volumes: ``/dev/shm``, a writable home when non-root, the shared cache claim."""
    volumes = [shm_volume(stack)]
    if stack.security.run_as_user is not None:
        volumes.append({"name": _HOME, "emptyDir": {}})
    if claim is not None:
        volumes.append({"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
    return volumes
