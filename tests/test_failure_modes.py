"""Inference failure-mode rules through ``gitops check`` and ``gitops plan``: each fires on
the incident it prevents and stays silent on the correct form."""

from __future__ import annotations

from pathlib import Path

import pytest
from failure_mode_corpus import OPTIONS, cases, deployment, gpu_outside

from gitops.cli.main import main
from gitops.constructs.base import Scope
from gitops.constructs.guardrails import ClusterGuardrails
from gitops.core.errors import ValidationError
from gitops.core.keys import Manifest
from gitops.core.yaml_io import dump_yaml
from gitops.policy import evaluate


def guardrails(engine: str = "vap", **options: object) -> list[Manifest]:
    """The rule set with the failure-mode rules (OPTIONS, then ``options``)."""
    scope = Scope()
    ClusterGuardrails(scope, "platform", engine=engine, failure_modes={**OPTIONS, **options})
    return list(scope.synth())


def fired(objects: list[Manifest], engine: str = "vap", **options: object) -> set[tuple[str, str]]:
    """(object name, rule) of every failure-mode violation."""
    rules = ("gpu-startup-probe", "gpu-parallelism", "lws-gang-scheduling", "gpu-namespaces",
             "deprecated-api-versions", "no-replicas-under-autoscaler")  # fmt: skip
    return {
        (v.key.name, v.policy.removeprefix("gitops-"))
        for v in evaluate([*guardrails(engine, **options), *objects])
        if v.policy.removeprefix("gitops-") in rules
    }


ENGINES = pytest.mark.parametrize("engine", ["vap", "kyverno"])


@ENGINES
@pytest.mark.parametrize(("case", "rule", "obj"), cases("inference"), ids=lambda v: str(v)[:20])
def test_each_rule_fires_on_its_incident_and_only_there(
    engine: str, case: str, rule: str | None, obj: Manifest
) -> None:
    expected = {(obj["metadata"]["name"], rule)} if rule else set()
    assert fired([obj], engine) == expected


@ENGINES
def test_gpu_workloads_outside_the_allowed_namespaces_fire(engine: str) -> None:
    assert fired([gpu_outside("batch")], engine) == {("elsewhere", "gpu-namespaces")}
    allowed = ["inference", "batch"]
    assert fired([gpu_outside("batch")], engine, gpu_namespaces=allowed) == set()


def test_the_startup_budget_follows_the_environment() -> None:
    obj = next(o for c, _, o in cases("inference") if c == "defaults-300s")  # 270 + 10 x 3
    assert fired([obj], min_startup_seconds=301) == {("defaults", "gpu-startup-probe")}


@pytest.mark.parametrize(
    ("api_version", "kind", "version", "fires"),
    [
        ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26", True),
        ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.22", False),  # not yet deprecated
        ("autoscaling/v2", "HorizontalPodAutoscaler", "1.32", False),
        ("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "1.29", True),
        ("policy/v1beta1", "PodDisruptionBudget", "1.25", True),
        ("policy/v1", "PodDisruptionBudget", "1.32", False),
    ],
)
@ENGINES
def test_deprecated_api_versions_fire_for_the_declared_kubernetes_version(
    engine: str, api_version: str, kind: str, version: str, fires: bool
) -> None:
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "a"}}
    expected = {("x", "deprecated-api-versions")} if fires else set()
    assert fired([obj], engine, kubernetes_version=version) == expected


def test_gitops_check_exits_1_and_names_rule_and_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = next(o for c, _, o in cases("inference") if c == "lws-no-gang")
    path = tmp_path / "set.yaml"
    path.write_text(dump_yaml([*guardrails(), bad]))
    assert main(["check", "-f", str(path)]) == 1
    out = capsys.readouterr().out
    assert "LeaderWorkerSet inference/lws-bad: gitops-lws-gang-scheduling" in out
    assert "schedulerName one of volcano" in out


def test_gitops_check_reports_no_failure_mode_on_the_correct_forms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [o for _, rule, o in cases("inference") if rule is None]
    path = tmp_path / "set.yaml"
    path.write_text(dump_yaml([*guardrails(), *good]))
    main(["check", "-f", str(path)])
    out = capsys.readouterr().out  # the object rules (labels, requests) are not under test
    assert not any(rule in out for rule in ("startup-probe", "parallelism", "gang", "gpu-names"))


def test_replicas_on_an_autoscaled_workload_fire_on_the_rendered_set() -> None:
    autoscaled = deployment("inference", "scaled", {"name": "c", "image": "r/c:v1"})
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "scaled", "namespace": "inference"},
        "spec": {"maxReplicas": 3,
                 "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "scaled"}},
    }  # fmt: skip
    assert fired([autoscaled, hpa]) == set()
    pinned = {**autoscaled, "spec": {**autoscaled["spec"], "replicas": 2}}
    assert fired([pinned, hpa]) == {("scaled", "no-replicas-under-autoscaler")}
    assert fired([pinned, hpa], "kyverno") == {("scaled", "no-replicas-under-autoscaler")}
    assert fired([pinned]) == set()  # no autoscaler: replicas are Git's to set
    keda = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": "k", "namespace": "inference"},
            "spec": {"maxReplicaCount": 4, "scaleTargetRef": {"name": "scaled"}}}  # fmt: skip
    assert fired([pinned, keda]) == {("scaled", "no-replicas-under-autoscaler")}


def test_invalid_failure_mode_options_name_the_option() -> None:
    with pytest.raises(ValidationError, match=r"failure_modes\.gang_schedulers must list names"):
        guardrails(gang_schedulers=["x' || true || '"])
    with pytest.raises(ValidationError, match=r"kubernetes_version must look like '1\.32'"):
        guardrails(kubernetes_version="v1.32")


def test_the_example_stays_clean_under_the_failure_mode_rules(project_root: Path) -> None:
    from gitops.render.pipeline import render_environments

    rendered = render_environments(project_root / "blueprints", project_root / "environments")
    assert {name: evaluate(objs) for name, objs in rendered.items()} == {
        name: [] for name in rendered
    }
    assert any(o["metadata"]["name"] == "gitops-gpu-parallelism" for o in rendered["staging"])


def test_plan_lists_the_failure_modes_a_change_introduces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops.repo import commit_tree

    def files(objects: list[Manifest]) -> dict[str, bytes]:
        return {f"envs/dev/all/{i:03d}.yaml": dump_yaml([o]).encode()
                for i, o in enumerate(objects)}  # fmt: skip

    good = next(o for c, _, o in cases("inference") if c == "tp-matches")
    bad = next(o for c, _, o in cases("inference") if c == "tp-mismatch")
    repo = tmp_path / "repo"
    commit_tree(repo, files([*guardrails(), good]), branch="main")
    commit_tree(repo, files([*guardrails(), good, bad]), branch="pr", base="main")
    args = ["plan", "--env", "dev", "--repo", str(repo), "--base", "main", "--head", "pr",
            "--environments", str(tmp_path / "none"), "--exit-code"]  # fmt: skip
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "dev.yaml").write_text(
        "name: dev\ncluster: {name: d, server: 'https://d.example.com'}\nnamespaces: [inference]\n"
    )
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "new policy violations: 3" in out  # also the labels and requests rules
    assert "Deployment inference/tp-bad: gitops-gpu-parallelism" in out
