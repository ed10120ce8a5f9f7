"""Multi-node serving of an :class:`~gitops.constructs.inference.InferenceStack` on LeaderWorkerSet.

For models that do not fit one node, one replica is a group of ``nodes`` pods
(``leaderworkerset.x-k8s.io/v1`` LeaderWorkerSet): the leader starts a Ray head and then
the vLLM API server, the workers join the leader's Ray cluster
(``$(LWS_LEADER_ADDRESS)``, which LWS injects) and vLLM places tensor-parallel shards
within a node and pipeline stages across nodes, as the vLLM documentation's LWS example
does with its ``multi-node-serving.sh`` launcher. Only the leader serves HTTP, so the
Service, ServiceMonitor, autoscaler metric and InferencePool select leaders only.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitops.constructs.inference_params import check_int, check_path, fail
from gitops.constructs.inference_pod import (
    CONTAINER,
    PORT_NAME,
    cache_mount_path,
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
    autoscaler,
    cache_claim,
    claim,
    default_query,
    disruption_budget,
    http_route,
    service,
    service_account,
    service_monitor,
)
from gitops.core.keys import Manifest

if TYPE_CHECKING:
    from gitops.constructs.stack_view import StackView

API_VERSION = "leaderworkerset.x-k8s.io/v1"
#: The launcher shipped in the vllm/vllm-openai images (examples/online_serving).
DEFAULT_LAUNCHER = "/vllm-workspace/examples/online_serving/multi-node-serving.sh"
#: LWS startup policies: workers with the leader's pod, or once the leader is Ready.
STARTUP_POLICIES = ("LeaderCreated", "LeaderReady")
#: The Ray head's port on the leader, named as NetworkPolicies and Services refer to it.
RAY_PORT_NAME = "ray"
_CACHE = "model-cache"
# Volume-capable access modes the group's pods on several nodes can share.
_SHARED_MODES = ("ReadWriteMany", "ReadOnlyMany")


@dataclass(frozen=True)
class MultiNode:
    """One replica spread over several nodes: a LeaderWorkerSet group.

    The stack's ``gpus`` are the GPUs of each node (each pod), ``tensor_parallel_size``
    shards within a node (default: all its GPUs), ``pipeline_parallel_size`` stages across
    nodes (default: one per node); vLLM needs ``tp * pp == nodes * gpus``.

    Attributes:
        nodes: pods per group (``leaderWorkerTemplate.size``): the leader and ``nodes - 1``
            workers, each on its own node.
        pipeline_parallel_size: pipeline stages (defaults to ``nodes``).
        startup_policy: ``LeaderCreated`` (default: the leader's server waits for the
            workers to join Ray, so waiting for a Ready leader would never end) or
            ``LeaderReady``.
        ray_port: the Ray head's port on the leader.
        launcher: the script starting Ray (``leader``/``worker`` subcommands) in the image.
    """

    nodes: int = 2
    pipeline_parallel_size: int | None = None
    startup_policy: str = "LeaderCreated"
    ray_port: int = 6379
    launcher: str = DEFAULT_LAUNCHER

    def check(self, owner: str, stack: StackView) -> None:
        """Raise ValidationError naming ``owner`` and the field if the group cannot run."""
        check_int(owner, "multi_node.nodes", self.nodes, 2)
        if self.pipeline_parallel_size is not None:
            check_int(owner, "multi_node.pipeline_parallel_size", self.pipeline_parallel_size, 1)
        if self.startup_policy not in STARTUP_POLICIES:
            raise fail(
                owner,
                "multi_node.startup_policy",
                f"one of {', '.join(STARTUP_POLICIES)}",
                self.startup_policy,
            )
        check_int(owner, "multi_node.ray_port", self.ray_port, 1)
        if self.ray_port > 65535 or self.ray_port == stack.port:
            raise fail(
                owner, "multi_node.ray_port", f"a port in 1..65535 other than {stack.port}",
                self.ray_port,
            )  # fmt: skip
        check_path(owner, "multi_node.launcher", self.launcher)
        if stack.mode != "vllm":
            raise fail(owner, "mode", "vllm with multi_node (LeaderWorkerSet)", stack.mode)
        total = self.nodes * stack.gpus
        if stack.tensor_parallel_size * self.pipeline(stack) != total:
            raise fail(
                owner,
                "multi_node.pipeline_parallel_size",
                f"such that tensor_parallel_size ({stack.tensor_parallel_size}) x "
                f"pipeline_parallel_size = nodes x gpus ({total})",
                self.pipeline(stack),
            )
        cache = stack.cache
        if (
            cache is not None
            and cache.existing_claim is None
            and cache.access_mode not in (_SHARED_MODES)
        ):
            raise fail(
                owner,
                "cache.access_mode",
                "ReadWriteMany or ReadOnlyMany with multi_node (a group's pods run on "
                "different nodes and share one download), or an existing_claim, or no cache",
                cache.access_mode,
            )

    def pipeline(self, stack: StackView) -> int:
        """Pipeline stages: the given size, else one per node."""
        return self.pipeline_parallel_size or self.nodes


def _args(stack: StackView, multi: MultiNode) -> list[str]:
    """Engine arguments with the group's parallelism and the Ray executor."""
    rest = engine_args(stack)
    # engine_args opens with the single-node parallelism; the group sets its own.
    for flag in ("--tensor-parallel-size", "--pipeline-parallel-size"):
        if flag in rest:
            at = rest.index(flag)
            del rest[at : at + 2]
    shutdown = (
        []
        if stack.shutdown_timeout is None
        else ["--shutdown-timeout", str(stack.shutdown_timeout)]
    )
    revision = [] if stack.model_revision is None else ["--revision", stack.model_revision]
    return [
        "--model", stack.model, "--port", str(stack.port), *revision, *shutdown,
        "--tensor-parallel-size", str(stack.tensor_parallel_size),
        "--pipeline-parallel-size", str(multi.pipeline(stack)),
        "--distributed-executor-backend", "ray",
        *rest,
    ]  # fmt: skip


def _pod(stack: StackView, container: dict[str, Any], labels: dict[str, str]) -> Manifest:
    volumes = [shm_volume(stack)]
    claim_name = cache_claim(stack)
    if stack.cache is not None and claim_name is not None:
        volumes.append({"name": _CACHE, "persistentVolumeClaim": {"claimName": claim_name}})
    return {
        "metadata": {"labels": labels},
        "spec": {**scheduling(stack), "containers": [container], "volumes": volumes},
    }


def _container(stack: StackView, command: str) -> dict[str, Any]:
    env: list[dict[str, Any]] = []
    mounts = [shm_mount()]
    if stack.cache is not None and cache_claim(stack) is not None:
        env.append({"name": "HF_HOME", "value": cache_mount_path(stack)})
        mounts.append({"name": _CACHE, "mountPath": cache_mount_path(stack)})
    env += token_env(stack)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": stack.image,
        "imagePullPolicy": "IfNotPresent",
        # $(LWS_*) are expanded by the kubelet from the env LWS injects, before sh runs.
        "command": ["/bin/sh", "-c", command],
    }
    if env:
        container["env"] = env
    container["resources"] = resources(stack)
    container["volumeMounts"] = mounts
    container["securityContext"] = container_security(stack)
    return container


def leader_worker_set(stack: StackView, multi: MultiNode) -> Manifest:
    """The LeaderWorkerSet: leader (Ray head + API server) and worker templates."""
    serve = shlex.join(
        ["python3", "-m", "vllm.entrypoints.openai.api_server", *_args(stack, multi)]
    )
    launcher = shlex.quote(multi.launcher)
    leader = _container(
        stack,
        f"bash {launcher} leader --ray_port={multi.ray_port} "
        f"--ray_cluster_size=$(LWS_GROUP_SIZE) && exec {serve}",
    )
    leader["ports"] = [
        {"name": PORT_NAME, "containerPort": stack.port, "protocol": "TCP"},
        {"name": RAY_PORT_NAME, "containerPort": multi.ray_port, "protocol": "TCP"},
    ]
    leader["lifecycle"] = lifecycle(stack)
    leader.update(probes(stack, PORT_NAME))
    worker = _container(
        stack,
        f"exec bash {launcher} worker --ray_port={multi.ray_port} "
        "--ray_address=$(LWS_LEADER_ADDRESS)",
    )
    spec: dict[str, Any] = {}
    if stack.autoscaling.kind == "none":
        spec["replicas"] = stack.replicas
    spec["startupPolicy"] = multi.startup_policy
    # One group at a time and no surge group: a surge would need nodes x gpus spare GPUs.
    spec["rolloutStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
    }
    spec["leaderWorkerTemplate"] = {
        "size": multi.nodes,
        # A lost worker breaks the group's Ray cluster: restart the whole group.
        "restartPolicy": "RecreateGroupOnPodRestart",
        "leaderTemplate": _pod(stack, leader, stack.labels()),
        "workerTemplate": _pod(stack, worker, stack.labels("worker")),
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "LeaderWorkerSet",
        "metadata": stack.metadata(stack.id),
        "spec": spec,
    }


def _retarget(objects: list[Manifest], stack: StackView) -> list[Manifest]:
    """Point the autoscaler at the LeaderWorkerSet and its metric at the leaders' pods."""
    for obj in objects:
        obj["spec"]["scaleTargetRef"] = {
            "apiVersion": API_VERSION, "kind": "LeaderWorkerSet", "name": stack.id,
        }  # fmt: skip
        for trigger in obj["spec"].get("triggers", []):
            # Leader pods are <lws>-<group index>; workers <lws>-<group>-<index> do not serve.
            trigger["metadata"]["query"] = default_query(stack, f"{stack.id}-[0-9]+")
    return objects


def _group_budget(stack: StackView) -> list[Manifest]:
    """One pod of the whole stack down at a time: any pod down stops its group."""
    labels = stack.labels()
    selector = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
    return disruption_budget(stack, selector)


def render_lws(stack: StackView, multi: MultiNode) -> list[Manifest]:
    """Every object of a multi-node stack, as fresh dicts."""
    return [
        service_account(stack),
        *claim(stack),
        service(stack),
        leader_worker_set(stack, multi),
        *_retarget(autoscaler(stack), stack),
        *_group_budget(stack),
        *service_monitor(stack),
        *http_route(stack, stack.id, stack.port),
    ]
