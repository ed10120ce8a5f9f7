"""Delivery settings derived from the stacks: Flux timeout and health, Argo CD retry and diffing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cel
import pytest
from k8s_schemas import validate

from gitops.constructs.base import Scope
from gitops.constructs.inference import InferenceStack
from gitops.core.yaml_io import load_yaml
from gitops.inputs.environments import load_environments
from gitops.inputs.ignore import IgnoreRule
from gitops.render import delivery
from gitops.render.pipeline import render_environments, render_tree

ROOT = Path(__file__).resolve().parents[1]


def _stack(**kwargs: Any) -> list[dict[str, Any]]:
    scope = Scope(namespace="inference")
    InferenceStack(scope, "chat", model="m/x-1B", image="vllm/vllm-openai:v0.8.5", **kwargs)
    return scope.synth()


def test_the_budget_is_the_slowest_pods_startup_probe_plus_one_readiness_period() -> None:
    assert delivery.startup_budget(_stack()) == 10 * 90 + 10  # the 15 minute default
    slow = _stack(probes={"startup_failure_threshold": 180, "period_seconds": 20})
    assert delivery.startup_budget(slow) == 20 * 180 + 20
    assert delivery.startup_budget(_stack() + slow) == 3620
    assert delivery.startup_budget([]) == 0


def test_a_cache_warm_up_adds_its_timeout_to_the_budget() -> None:
    warm = _stack(warm_up={"timeout_seconds": 1800})
    assert delivery.startup_budget(warm) == 1800 + 910
    assert delivery.startup_budget(_stack(warm_up=True)) == 3600 + 910
    assert delivery.flux_timeout(delivery.startup_budget(warm)) == "51m"


def test_flux_waits_the_budget_plus_a_margin_and_never_less_than_its_default() -> None:
    assert delivery.flux_timeout(910) == "21m"  # 910 + 300 s, rounded up to minutes
    assert delivery.flux_timeout(3620) == "66m"
    assert delivery.flux_timeout(0) == "5m"


@pytest.mark.parametrize("budget", [0, 29, 30, 910, 3620, 86_400])
def test_argo_cd_backs_off_for_at_least_the_budget(budget: int) -> None:
    retry = delivery.argocd_retry(budget)
    backoff = retry["backoff"]
    cap = int(backoff["maxDuration"].removesuffix("m")) * 60
    delays = [min(30 * 2**n, cap) for n in range(retry["limit"])]
    assert sum(delays) >= budget
    assert cap >= budget and retry["limit"] >= 5
    assert backoff["duration"] == "30s" and backoff["factor"] == 2


def test_ignore_rules_become_ignore_differences() -> None:
    rules = [
        IgnoreRule(pointer="/spec/replicas", kinds=("Deployment", "LeaderWorkerSet")),
        IgnoreRule(managers=("kube-controller-manager",)),
        IgnoreRule(pointer="/spec/template/spec/containers/*/image", names=("chat",),
                   namespaces=("inference",)),
    ]  # fmt: skip
    assert delivery.ignore_differences(rules) == [
        {"group": "*", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
        {"group": "*", "kind": "LeaderWorkerSet", "jsonPointers": ["/spec/replicas"]},
        {"group": "*", "kind": "*", "managedFieldsManagers": ["kube-controller-manager"]},
        {"group": "*", "kind": "*", "name": "chat", "namespace": "inference",
         "jqPathExpressions": [".spec.template.spec.containers[]?.image"]},
    ]  # fmt: skip


@pytest.mark.skipif(shutil.which("jq") is None, reason="needs jq to judge the JQ expressions")
def test_jq_paths_select_what_the_pointer_names() -> None:
    """jq itself evaluates the exported expressions on a Deployment."""
    obj = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "x:1"}, {"name": "b-c", "image": "y:2"}]}}},
        "metadata": {"annotations": {"example.com/odd key": "v"}}}  # fmt: skip
    for pointer, expected in (
        ("/spec/template/spec/containers/*/image", ["x:1", "y:2"]),
        ("/spec/template/spec/containers/1/name", ["b-c"]),
        ("/metadata/annotations/example.com~1odd key", ["v"]),
    ):
        expression = delivery._jq(pointer)
        result = subprocess.run(
            ["jq", "-c", f"[{expression}]"], input=json.dumps(obj), capture_output=True,
            text=True, check=True,
        )  # fmt: skip
        assert json.loads(result.stdout) == expected, expression


@pytest.mark.parametrize("expr", delivery.HEALTH_CHECK_EXPRS, ids=lambda e: e["kind"])
def test_health_expressions_judge_conditions(expr: dict[str, str]) -> None:
    """The CEL expressions Flux evaluates, run by a CEL implementation on statuses."""
    kind_ready = "Available" if expr["kind"] == "LeaderWorkerSet" else "Ready"

    def run(source: str, conditions: list[dict[str, str]]) -> bool:
        return bool(cel.evaluate(source, {"status": {"conditions": conditions}}))

    assert run(expr["current"], [{"type": kind_ready, "status": "True"}])
    assert not run(expr["current"], [{"type": kind_ready, "status": "False"}])
    assert not run(expr["current"], [])
    if "failed" in expr:
        assert run(expr["failed"], [{"type": kind_ready, "status": "False"}])
        assert not run(expr["failed"], [])


@pytest.fixture(scope="module")
def tree() -> dict[str, bytes]:
    envs = load_environments(ROOT / "environments")
    return render_tree(render_environments(ROOT / "blueprints", ROOT / "environments"), envs)


def test_the_example_application_and_kustomizations_carry_the_derived_settings(
    tree: dict[str, bytes],
) -> None:
    app = load_yaml(tree["argocd/application-prod.yaml"], "app")
    validate(app)
    policy = app["spec"]["syncPolicy"]
    assert policy["syncOptions"] == [
        "PruneLast=true", "ServerSideApply=true", "RespectIgnoreDifferences=true"
    ]  # fmt: skip
    # The example's warm-up stacks may download for an hour before the 910 s probe budget.
    assert policy["retry"] == delivery.argocd_retry(3600 + 910)
    workloads = load_yaml(tree["flux/prod/kustomization-prod-workloads.yaml"], "flux")
    guardrails = load_yaml(tree["flux/prod/kustomization-prod-guardrails.yaml"], "flux")
    for obj in (workloads, guardrails):
        validate(obj)
    assert workloads["spec"]["timeout"] == "81m"
    assert guardrails["spec"]["timeout"] == "5m"  # no pods: Flux's default
    assert {e["kind"] for e in workloads["spec"]["healthCheckExprs"]} == {
        "LeaderWorkerSet", "InferenceService", "ScaledObject"
    }  # fmt: skip


def test_an_environments_ignore_rules_reach_its_application(tmp_path: Path) -> None:
    for name in ("blueprints", "environments"):
        shutil.copytree(ROOT / name, tmp_path / name)
    dev = tmp_path / "environments" / "dev.yaml"
    dev.write_text(
        dev.read_text() + "diff:\n  ignore:\n    - {pointer: /spec/replicas, kinds: [Deployment]}\n"
    )
    envs = load_environments(tmp_path / "environments")
    files = render_tree(
        render_environments(tmp_path / "blueprints", tmp_path / "environments"), envs
    )
    app = load_yaml(files["argocd/application-dev.yaml"], "app")
    validate(app)
    assert app["spec"]["ignoreDifferences"] == [
        {"group": "*", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
    ]
    assert "ignoreDifferences" not in load_yaml(files["argocd/application-prod.yaml"], "a")["spec"]
