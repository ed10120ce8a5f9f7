"""Capacity checks: GPU quota at min and max replicas per namespace, shm within memory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.constructs.base import Scope
from gitops.constructs.guardrails import NamespaceGuardrails
from gitops.constructs.inference import InferenceStack
from gitops.core.errors import PolicyError
from gitops.policy.capacity import check_capacity
from gitops.workflows.render import render_to_repo

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "registry.example.com/vllm/vllm-openai:v0.8.5"


def _rendered(quota: int | None, *stacks: dict[str, Any]) -> list[dict[str, Any]]:
    scope = Scope(namespace="llm")
    NamespaceGuardrails(scope, "fence", namespace="llm", gpu_quota=quota)
    for spec in stacks:
        spec.setdefault("cache", {"access_mode": "ReadWriteMany"})  # one Deployment per stack
        InferenceStack(scope, spec.pop("id"), model="m/x-1B", image=IMAGE, **spec)
    return scope.synth()


def _rules(found: list[Any]) -> list[tuple[str, str]]:
    return [(v.rule, v.action) for v in found]


def test_min_replicas_beyond_the_quota_is_a_deny_naming_the_sum() -> None:
    found = check_capacity(
        _rendered(
            16,
            {"id": "chat", "autoscaling": {"kind": "hpa", "min_replicas": 20, "max_replicas": 20}},
        )
    )
    assert _rules(found) == [
        ("gpu-quota-at-min-replicas", "Deny"),
        ("gpu-quota-at-max-replicas", "Warn"),
    ]
    assert found[0].message == (
        "namespace llm requests 20 nvidia.com/gpu at min replicas (Deployment/chat 20 x 1), "
        "above its quota requests.nvidia.com/gpu=16: the pods beyond the quota are refused "
        "and never start"
    )
    assert found[0].key.kind == "ResourceQuota" and found[0].policy == "gitops-capacity"


def test_max_replicas_beyond_the_quota_is_a_warning_only() -> None:
    found = check_capacity(
        _rendered(
            16,
            {"id": "chat", "autoscaling": {"kind": "hpa", "min_replicas": 2, "max_replicas": 9}},
            {
                "id": "big",
                "gpus": 4,
                "autoscaling": {"kind": "keda", "min_replicas": 1, "max_replicas": 2},
            },
        )
    )
    assert _rules(found) == [("gpu-quota-at-max-replicas", "Warn")]
    assert found[0].message.startswith(
        "namespace llm requests 17 nvidia.com/gpu at max replicas (Deployment/big 2 x 4, "
        "Deployment/chat 9 x 1), above its quota requests.nvidia.com/gpu=16: autoscaling stops"
    )


def test_exactly_the_quota_passes_and_no_quota_never_fails() -> None:
    stack = {"id": "chat", "gpus": 2, "replicas": 8}
    assert check_capacity(_rendered(16, dict(stack))) == []
    assert _rules(check_capacity(_rendered(15, dict(stack))))[0][0] == "gpu-quota-at-min-replicas"
    assert check_capacity(_rendered(None, {"id": "chat", "gpus": 8, "replicas": 100})) == []


def test_other_namespaces_do_not_count_against_a_quota() -> None:
    objects = _rendered(4, {"id": "chat", "replicas": 4})
    other = _rendered(None, {"id": "elsewhere", "replicas": 40})
    for obj in other:
        obj["metadata"]["namespace"] = "batch"
    assert check_capacity(objects + other) == []


def test_shm_as_large_as_the_memory_limit_is_refused() -> None:
    found = check_capacity(_rendered(None, {"id": "chat", "memory": "8Gi"}))  # default shm 16Gi
    assert _rules(found) == [("shm-within-memory", "Deny")]
    assert found[0].message.startswith(
        "pod pods of Deployment/chat: memory-backed emptyDir (/dev/shm) of 16Gi is not below "
        "the pod's memory limit of 8Gi"
    )
    assert check_capacity(_rendered(None, {"id": "chat", "memory": "8Gi", "shm_size": "2Gi"})) == []
    assert _rules(check_capacity(_rendered(None, {"id": "c", "memory": "16Gi"}))) == [
        ("shm-within-memory", "Deny")
    ]


def test_a_leader_worker_set_counts_every_pod_of_every_group() -> None:
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "big", "namespace": "llm"},
        "spec": {
            "replicas": 2,
            "leaderWorkerTemplate": {
                "size": 3,
                "leaderTemplate": {"spec": {"containers": [_gpu_container(8)]}},
                "workerTemplate": {"spec": {"containers": [_gpu_container(8)]}},
            },
        },
    }
    quota = _rendered(47)
    found = check_capacity([*quota, lws])
    assert _rules(found) == [
        ("gpu-quota-at-min-replicas", "Deny"),
        ("gpu-quota-at-max-replicas", "Warn"),
    ]
    assert "requests 48 nvidia.com/gpu" in found[0].message
    assert check_capacity([*_rendered(48), lws]) == []


def _gpu_container(gpus: int) -> dict[str, Any]:
    return {"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from gitops.cli.main import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.fixture
def example(tmp_path: Path) -> Path:
    for name in ("blueprints", "environments"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def test_check_exits_1_when_min_replicas_exceed_the_quota(example: Path) -> None:
    staging = example / "environments" / "staging.yaml"
    staging.write_text(
        staging.read_text().replace(
            "llama-8b:\n    autoscaling: {min_replicas: 1, max_replicas: 2}",
            "llama-8b:\n    autoscaling: {min_replicas: 20, max_replicas: 20}",
        )
    )
    result = _cli("check", "--blueprints", str(example / "blueprints"),
                  "--environments", str(example / "environments"))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "staging: Deny ResourceQuota inference/gitops-quota: gitops-capacity/"
        "gpu-quota-at-min-replicas: namespace inference requests "
    ) in result.stdout


def test_render_refuses_min_replicas_beyond_the_quota_and_commits_nothing(
    example: Path, tmp_path: Path
) -> None:
    staging = example / "environments" / "staging.yaml"
    staging.write_text(
        staging.read_text().replace("gpu: 16", "gpu: 4")  # llama-70b alone needs 4, plus 8b
    )
    repo = tmp_path / "repo"
    with pytest.raises(PolicyError, match=r"staging: Deny .*gpu-quota-at-min-replicas"):
        render_to_repo(example / "blueprints", example / "environments", repo)
    assert not (repo / ".git").exists() or not list((repo / "envs").glob("*"))


def _deployment(index: int, gpus: int, low: int, high: int) -> list[dict[str, Any]]:
    name = f"s{index}"
    container = {"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": "llm"},
         "spec": {"template": {"spec": {"containers": [container]}}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": name, "namespace": "llm"},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                  "minReplicas": low, "maxReplicas": high}},
    ]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 8), st.integers(1, 10), st.integers(0, 10)), max_size=6),
    st.integers(0, 100),
)
def test_deny_exactly_when_min_exceeds_and_warn_exactly_when_max_exceeds(
    stacks: list[tuple[int, int, int]], quota: int
) -> None:
    objects = _rendered(quota)
    for index, (gpus, low, extra) in enumerate(stacks):
        objects += _deployment(index, gpus, low, low + extra)
    rules = {rule for rule, _ in _rules(check_capacity(objects))}
    at_min = sum(gpus * low for gpus, low, _ in stacks)
    at_max = sum(gpus * (low + extra) for gpus, low, extra in stacks)
    assert ("gpu-quota-at-min-replicas" in rules) == (at_min > quota)
    assert ("gpu-quota-at-max-replicas" in rules) == (at_max > quota)


def test_the_whole_set_check_runs_the_capacity_checks_with_the_guardrails() -> None:
    # check_policies is the render-time check without the per-object cache (a stand-in
    # evaluator): a Deny from capacity refuses the commit, a Warn becomes a note.
    from gitops.render.pipeline import check_policies

    hpa = {"kind": "hpa", "max_replicas": 20}
    over_min = {"id": "chat", "autoscaling": {**hpa, "min_replicas": 20}}
    with pytest.raises(PolicyError, match=r"dev: .*gpu-quota-at-min-replicas"):
        check_policies({"dev": _rendered(16, over_min)})
    over_max = {"id": "chat", "autoscaling": {**hpa, "min_replicas": 1}}
    notes = check_policies({"dev": _rendered(16, over_max)})
    assert [n for n in notes if "gpu-quota-at-max-replicas" in n] != []
    assert all(n.startswith("dev: ") for n in notes)
