"""GPU demand of a set: what ``max-gpu-delta`` measures."""

from __future__ import annotations

from failure_mode_corpus import container, deployment, lws

from gitops.core.gpu_demand import total_gpus


def test_an_autoscaled_workload_counts_its_autoscalers_maximum() -> None:
    engine = deployment("ns", "llm", container(2))
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "llm", "namespace": "ns"},
        "spec": {"minReplicas": 1, "maxReplicas": 5,
                 "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "llm"}},
    }  # fmt: skip
    assert total_gpus([engine]) == 2  # one replica by default
    assert total_gpus([engine, hpa]) == 10


def test_a_leaderworkerset_group_counts_every_pod() -> None:
    group = lws("ns", "big", 4, gpus=8)  # no leader template: the leader runs the worker's
    assert total_gpus([group]) == 32
    group["spec"]["replicas"] = 2
    assert total_gpus([group]) == 64


def test_objects_without_pods_hold_no_gpus() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}}
    assert total_gpus([service]) == 0
