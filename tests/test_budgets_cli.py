"""Change budgets end to end: ``gitops plan`` marks, ``gitops apply`` refuses, overrides recorded.

Every test runs the CLI against a rendered repository and the cluster under test
(``cluster_kubeconfig``), with an environment file declaring the budget.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.cli.main import main
from gitops.cluster.client import ClusterClient
from gitops.core.keys import Manifest, ResourceKey, key_of
from gitops.core.yaml_io import dump_yaml
from gitops.repo import commit_tree
from gitops.repo.history import commit_message


def configmap(name: str, ns: str, labels: dict[str, str] | None = None) -> Manifest:
    """A ConfigMap (optionally labelled)."""
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def gpu_deployment(ns: str, replicas: int, gpus: int = 1) -> Manifest:
    """A Deployment of ``replicas`` pods holding ``gpus`` GPUs each."""
    labels = {"app": "llm"}
    container = {
        "name": "vllm",
        "image": "registry.example.com/vllm:v1",
        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "llm", "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def files_for(manifests: list[Manifest]) -> dict[str, bytes]:
    """Rendered-repository files of environment ``dev``."""
    files = {}
    for manifest in manifests:
        key = key_of(manifest)
        path = f"envs/dev/workloads/{key.namespace}/{key.kind.lower()}-{key.name}.yaml"
        files[path] = dump_yaml([manifest]).encode()
    return files


def environments(tmp_path: Path, budget: dict[str, Any], server: str) -> Path:
    """An environments directory whose ``dev.yaml`` declares ``budget`` (bound to ``server``)."""
    folder = tmp_path / "environments"
    folder.mkdir()
    env = {
        "name": "dev",
        "cluster": {"name": "dev", "server": server},
        "namespaces": ["inference"],
        "change_budget": budget,
    }
    (folder / "dev.yaml").write_text(yaml.safe_dump(env))
    return folder


class Setup:
    """A repository (``main`` = base, ``pr`` = head), an environment file and the cluster."""

    def __init__(self, tmp_path: Path, kubeconfig: Path, budget: dict[str, Any]) -> None:
        self.repo = tmp_path / "repo"
        config = yaml.safe_load(kubeconfig.read_text())
        self.envs = environments(tmp_path, budget, config["clusters"][0]["cluster"]["server"])
        self.kubeconfig = kubeconfig
        self.client = ClusterClient.from_kubeconfig(str(kubeconfig), None)

    def commit(self, manifests: list[Manifest], branch: str, *trailers: str) -> None:
        base = "main" if branch != "main" else None
        commit_tree(
            self.repo,
            files_for(manifests),
            branch=branch,
            base=base,
            message=branch,
            trailers=list(trailers),
        )

    def apply(self, ref: str, *extra: str) -> int:
        return main(
            [
                "apply",
                "--env",
                "dev",
                "--repo",
                str(self.repo),
                "--ref",
                ref,
                "--kubeconfig",
                str(self.kubeconfig),
                "--environments",
                str(self.envs),
                "--repository-id",
                "test-repo",
                *extra,
            ]
        )

    def plan(self, *extra: str) -> int:
        return main(
            [
                "plan",
                "--env",
                "dev",
                "--repo",
                str(self.repo),
                "--base",
                "main",
                "--head",
                "pr",
                "--environments",
                str(self.envs),
                "--exit-code",
                *extra,
            ]
        )

    def exists(self, manifest: Manifest) -> bool:
        """Whether the object is live and not being deleted (a PVC waits for its finalizer)."""
        live = self.client.get(ResourceKey(*key_of(manifest)))
        return live is not None and not live["metadata"].get("deletionTimestamp")


@pytest.fixture
def make(tmp_path: Path, cluster_kubeconfig: Path) -> Any:
    """Build a :class:`Setup` for a budget."""
    return lambda budget: Setup(tmp_path, cluster_kubeconfig, budget)


def test_plan_marks_a_change_over_the_deletion_budget_and_names_it(
    make: Any, cluster_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_namespace
    setup = make({"max_deletions": 1})
    setup.commit([configmap(n, ns) for n in "abcd"], "main")
    setup.commit([configmap("a", ns)], "pr")
    assert setup.plan() == 1
    out = capsys.readouterr().out
    assert "budget max-deletions: 3 deletions of 1: OVER BUDGET" in out
    assert "apply would refuse this change: max-deletions" in out
    assert setup.plan("-o", "json") == 1
    risk = json.loads(capsys.readouterr().out)["risk"]
    assert [(b["budget"], b["over"]) for b in risk["budgets"]] == [
        ("max-deletions", True),
        ("protected-kinds", False),
    ]


def test_plan_within_budget_is_not_marked(
    make: Any, cluster_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_namespace
    setup = make({"max_deletions": 3})
    setup.commit([configmap(n, ns) for n in "abcd"], "main")
    setup.commit([configmap("a", ns)], "pr")
    assert setup.plan() == 1
    out = capsys.readouterr().out
    assert "budget max-deletions: 3 deletions of 3: ok" in out
    assert "OVER BUDGET" not in out and "apply would refuse" not in out


def test_apply_refuses_over_the_deletion_budget_and_changes_nothing(
    make: Any, cluster_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_namespace
    setup = make({"max_deletions": 1})
    setup.commit([configmap(n, ns) for n in "abc"], "main")
    setup.commit([configmap("a", ns), configmap("new", ns)], "pr")
    assert setup.apply("main") == 0
    capsys.readouterr()
    assert setup.apply("pr", "--prune") == 2
    out = capsys.readouterr().out
    assert "REFUSED over the change budget: max-deletions: 2 deletions of 1" in out
    assert all(setup.exists(configmap(n, ns)) for n in "abc")
    assert not setup.exists(configmap("new", ns))  # nothing applied either


def test_apply_refuses_over_the_deletion_percentage(
    make: Any, cluster_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_namespace
    setup = make({"max_deletion_percent": 40})
    setup.commit([configmap(n, ns) for n in "abcd"], "main")
    setup.commit([configmap("a", ns), configmap("b", ns)], "pr")
    assert setup.apply("main") == 0
    assert setup.apply("pr", "--prune") == 2
    assert "max-deletion-percent: 50% (2 of 4) of 40%" in capsys.readouterr().out
    assert setup.exists(configmap("c", ns))


def test_a_recorded_override_lets_apply_spend_the_budget_and_says_who_why(
    make: Any, cluster_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_namespace
    setup = make({"max_deletions": 1})
    setup.commit([configmap(n, ns) for n in "abc"], "main")
    setup.commit([configmap("a", ns)], "pr", "Gitops-Override: max-deletions: retire b and c")
    assert setup.apply("main") == 0
    assert setup.plan() == 1
    assert "over budget, overridden" in capsys.readouterr().out
    assert setup.apply("pr", "--prune") == 0
    out = capsys.readouterr().out
    assert "budget max-deletions overridden (2 deletions of 1): retire b and c" in out
    assert not setup.exists(configmap("b", ns))
    assert "Gitops-Override: max-deletions: retire b and c" in commit_message(setup.repo, "pr")


def test_an_override_of_another_budget_does_not_unlock_this_one(
    make: Any, cluster_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_namespace
    setup = make({"max_deletions": 0})
    setup.commit([configmap(n, ns) for n in "ab"], "main")
    setup.commit([configmap("a", ns)], "pr", "Gitops-Override: max-gpu-delta: more GPUs")
    assert setup.apply("main") == 0
    assert setup.apply("pr", "--prune") == 2
    assert setup.exists(configmap("b", ns))


@pytest.mark.parametrize(
    ("removed", "why"),
    [
        (
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "weights"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
            "PersistentVolumeClaim",
        ),
        ({**configmap("cache", "x", {"app.kubernetes.io/component": "model-cache"})}, "cache"),
    ],
)
def test_prune_never_deletes_a_protected_kind_or_model_cache_without_override(
    make: Any,
    cluster_namespace: str,
    capsys: pytest.CaptureFixture[str],
    removed: Manifest,
    why: str,
) -> None:
    ns = cluster_namespace
    removed = {**removed, "metadata": {**removed["metadata"], "namespace": ns}}
    setup = make({})
    setup.commit([configmap("a", ns), removed], "main")
    setup.commit([configmap("a", ns)], "pr")
    assert setup.apply("main") == 0
    assert setup.plan() == 1
    assert "protected kinds touched:" in capsys.readouterr().out
    assert setup.apply("pr", "--prune") == 2
    assert "protected-kinds: 1 protected deletions" in capsys.readouterr().out
    assert setup.exists(removed)
    # A new commit (a tree change) recording the override.
    override = "Gitops-Override: protected-kinds: moved away"
    setup.commit([configmap("a", ns), configmap("b", ns)], "pr", override)
    assert setup.apply("pr", "--prune") == 0
    assert not setup.exists(removed)


def test_plan_shows_the_gpu_delta_and_apply_refuses_over_it(
    make: Any, cluster_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_namespace
    setup = make({"max_gpu_delta": 2})
    setup.commit([gpu_deployment(ns, replicas=1)], "main")
    setup.commit([gpu_deployment(ns, replicas=2, gpus=2)], "pr")
    assert setup.plan() == 1
    out = capsys.readouterr().out
    assert "gpu delta: +3 (1 → 4)" in out
    assert "budget max-gpu-delta: +3 GPUs of ±2 GPUs: OVER BUDGET" in out
    assert setup.apply("main") == 0
    assert setup.apply("pr") == 2
    assert "max-gpu-delta: +3 GPUs of ±2 GPUs" in capsys.readouterr().out
    live = setup.client.get(key_of({**gpu_deployment(ns, 1)}))
    assert live is not None and live["spec"]["replicas"] == 1


def test_gpu_delta_within_budget_applies(
    make: Any, cluster_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_namespace
    setup = make({"max_gpu_delta": 2})
    setup.commit([gpu_deployment(ns, replicas=1)], "main")
    setup.commit([gpu_deployment(ns, replicas=3)], "pr")
    assert setup.apply("main") == 0
    assert setup.apply("pr") == 0
    live = setup.client.get(key_of(gpu_deployment(ns, 1)))
    assert live is not None and live["spec"]["replicas"] == 3


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ({"max_deletions": -1}, "change_budget.max_deletions must be an integer >= 0, got -1"),
        ({"max_deletion_percent": 101}, "max_deletion_percent must be <= 100, got 101"),
        ({"protected_kinds": ["pvc!"]}, "change_budget.protected_kinds must list kinds"),
        ({"max_deletes": 1}, "unknown key 'max_deletes' in change_budget"),
    ],
)
def test_an_invalid_budget_is_one_line_naming_the_file_and_key(
    make: Any, capsys: pytest.CaptureFixture[str], budget: dict[str, Any], expected: str
) -> None:
    setup = make(budget)
    setup.commit([configmap("a", "x")], "main")
    setup.commit([configmap("a", "x")], "pr")
    assert setup.plan() == 2
    err = capsys.readouterr().err
    assert expected in err and "dev.yaml" in err
    assert len(err.strip().splitlines()) == 1
