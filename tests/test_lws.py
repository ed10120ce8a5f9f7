"""InferenceStack multi-node mode: a LeaderWorkerSet group per replica."""

from __future__ import annotations

from typing import Any

import pytest
from k8s_schemas import validate

from gitops import InferenceStack, Scope, ValidationError

IMAGE = "vllm/vllm-openai:v0.8.5"
SHARED = {"access_mode": "ReadWriteMany", "size": "1Ti"}


def render(**kwargs: Any) -> list[dict[str, Any]]:
    scope = Scope(namespace="inference")
    params = {"model": "meta-llama/Llama-3.1-405B-Instruct", "image": IMAGE, "gpus": 8,
              "multi_node": {"nodes": 2}, "cache": SHARED, "memory": "512Gi", **kwargs}  # fmt: skip
    InferenceStack(scope, "big", **params)
    return scope.synth()


def one(objects: list[dict[str, Any]], kind: str, name: str = "big") -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_every_object_is_valid_for_its_schema() -> None:
    objects = render(autoscaling={"kind": "keda", "min_replicas": 1, "max_replicas": 3},
                     route={"parent_refs": ["gw/public"]}, warm_up=True)  # fmt: skip
    for obj in objects:
        validate(obj)
    assert "Deployment" not in {o["kind"] for o in objects}


def test_a_group_is_a_leader_and_workers_with_the_parallelism_split_across_nodes() -> None:
    lws = one(render(multi_node={"nodes": 4}, tensor_parallel_size=8), "LeaderWorkerSet")
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 4
    assert template["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert lws["spec"]["startupPolicy"] == "LeaderCreated"
    leader = template["leaderTemplate"]["spec"]["containers"][0]
    command = leader["command"][2]
    assert command.startswith(
        "bash /vllm-workspace/examples/online_serving/multi-node-serving.sh leader "
        "--ray_port=6379 --ray_cluster_size=$(LWS_GROUP_SIZE) && exec python3 -m "
        "vllm.entrypoints.openai.api_server --model meta-llama/Llama-3.1-405B-Instruct"
    )
    assert "--tensor-parallel-size 8 --pipeline-parallel-size 4" in command
    assert "--distributed-executor-backend ray" in command
    worker = template["workerTemplate"]["spec"]["containers"][0]
    assert worker["command"][2].endswith(
        "worker --ray_port=6379 --ray_address=$(LWS_LEADER_ADDRESS)"
    )
    for container in (leader, worker):
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"


def test_only_leaders_serve_and_are_selected() -> None:
    objects = render()
    lws = one(objects, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    selector = one(objects, "Service")["spec"]["selector"]
    leader_labels = lws["leaderTemplate"]["metadata"]["labels"]
    worker_labels = lws["workerTemplate"]["metadata"]["labels"]
    assert all(leader_labels[k] == v for k, v in selector.items())
    assert not all(worker_labels.get(k) == v for k, v in selector.items())
    assert "readinessProbe" in lws["leaderTemplate"]["spec"]["containers"][0]
    assert "ports" not in lws["workerTemplate"]["spec"]["containers"][0]


def test_the_budget_covers_every_pod_of_the_groups() -> None:
    pdb = one(render(), "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "big"
    }  # fmt: skip


def test_the_autoscaler_scales_the_leader_worker_set_on_the_leaders_metric() -> None:
    scaled = one(render(autoscaling={"kind": "keda", "max_replicas": 2}), "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": "big"
    }  # fmt: skip
    assert 'pod=~"big-[0-9]+"' in scaled["spec"]["triggers"][0]["metadata"]["query"]
    lws = one(render(autoscaling={"kind": "hpa", "max_replicas": 2}), "LeaderWorkerSet")
    assert "replicas" not in lws["spec"]  # the autoscaler owns it
    assert one(render(replicas=3), "LeaderWorkerSet")["spec"]["replicas"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"multi_node": {"nodes": 1}}, r"multi_node.nodes must be an integer >= 2, got 1"),
        (
            {"multi_node": {"nodes": 2, "pipeline_parallel_size": 3}},
            r"multi_node.pipeline_parallel_size must be such that tensor_parallel_size \(8\) x "
            r"pipeline_parallel_size = nodes x gpus \(16\), got 3",
        ),
        (
            {"cache": {"access_mode": "ReadWriteOnce"}},
            r"cache.access_mode must be ReadWriteMany or ReadOnlyMany with multi_node"
            r".*ReadWriteOnce",
        ),
        ({"multi_node": {"startup_policy": "Eager"}}, r"multi_node.startup_policy must be one of"),
        (
            {"multi_node": {"ray_port": 8000}},
            r"multi_node.ray_port must be a port .* other than 8000",
        ),
        ({"multi_node": {"launcher": "run.sh"}}, r"multi_node.launcher must be an absolute path"),
        ({"multi_node": {"size": 2}}, r"multi_node must be a mapping with keys nodes"),
        ({"mode": "kserve", "model": "hf://x/y"}, r"mode must be vllm with multi_node"),
    ],
)
def test_groups_that_cannot_run_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=r"InferenceStack 'big': " + message):
        render(**kwargs)


def test_no_cache_or_an_existing_claim_is_allowed() -> None:
    assert one(render(cache=None), "LeaderWorkerSet")
    lws = one(render(cache={"existing_claim": "weights"}), "LeaderWorkerSet")
    volumes = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["volumes"]
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": "weights"}} in volumes
