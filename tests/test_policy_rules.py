"""Every guardrail rule, enumerated from the rendered policies: one case that fires it, and
a compliant object (of every workload kind) that fires nothing.

A rule is a ValidatingAdmissionPolicy validation (named by its message) or a Kyverno rule
(autogen prefixes removed). A rule the guardrails render without a case here fails
:func:`test_every_rendered_rule_has_a_case`, so a new rule cannot land untested.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from failure_mode_corpus import OPTIONS

from gitops.constructs.base import Scope
from gitops.constructs.guardrails import ClusterGuardrails
from gitops.core.keys import Manifest
from gitops.policy import Violation, evaluate

ENGINES = ["vap", "kyverno"]
NS = "inference"  # a GPU namespace of OPTIONS
GPU = "nvidia.com/gpu"
KINDS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1", "Pod": "v1"}


def guardrails(engine: str) -> list[Manifest]:
    """Every rule the guardrails have: registries, labels, limits and the failure modes."""
    scope = Scope()
    ClusterGuardrails(
        scope, "platform", engine=engine, allowed_registries=["ghcr.io"], failure_modes=OPTIONS
    )
    return list(scope.synth())


def rendered_rules(policies: list[Manifest]) -> set[tuple[str, str]]:
    """``(policy, rule)`` of every rule in ``policies`` (a VAP validation by its message)."""
    out: set[tuple[str, str]] = set()
    for policy in policies:
        name, spec = policy["metadata"]["name"], policy.get("spec") or {}
        if policy["kind"] == "ValidatingAdmissionPolicy":
            out.update((name, v["message"]) for v in spec["validations"])
        elif policy["kind"] == "ClusterPolicy":
            out.update((name, r["name"]) for r in spec["rules"])
    return out


def fired(policies: list[Manifest], violations: list[Violation]) -> set[tuple[str, str]]:
    """The rules ``violations`` name, in :func:`rendered_rules`' terms."""
    validations = {
        p["metadata"]["name"]: p["spec"]["validations"]
        for p in policies
        if p["kind"] == "ValidatingAdmissionPolicy"
    }
    out = set()
    for v in violations:
        index = re.fullmatch(r"validations\[(\d+)\]", v.rule)
        if v.policy in validations and index:
            out.add((v.policy, validations[v.policy][int(index.group(1))]["message"]))
        else:
            out.add((v.policy, re.sub(r"^autogen-(cronjob-)?", "", v.rule)))
    return out


def container() -> dict[str, Any]:
    """A serving container every rule accepts: 1 GPU, tensor parallel 1, 900 s to start."""
    probe = {"httpGet": {"path": "/health", "port": 8000}}
    return {
        "name": "vllm",
        "image": "ghcr.io/vllm/vllm-openai:v0.6.4",
        "args": ["--model", "m", "--tensor-parallel-size", "1"],
        "ports": [{"containerPort": 8000, "name": "http"}],
        "readinessProbe": probe,
        "livenessProbe": probe,
        "startupProbe": {**probe, "periodSeconds": 10, "failureThreshold": 90},
        "resources": {
            "requests": {"cpu": "4", "memory": "16Gi", GPU: "1"},
            "limits": {"memory": "16Gi", GPU: "1"},
        },
    }


def workload(kind: str = "Deployment") -> Manifest:
    """A compliant ``kind`` in the GPU namespace."""
    pod = {
        "metadata": {"labels": {"app.kubernetes.io/name": "engine"}},
        "spec": {"containers": [container()]},
    }
    obj: Manifest = {
        "apiVersion": KINDS[kind],
        "kind": kind,
        "metadata": {"name": "engine", "namespace": NS},
    }
    if kind == "Pod":
        obj["metadata"]["labels"] = pod["metadata"]["labels"]
        obj["spec"] = pod["spec"]
    else:
        obj["spec"] = {"selector": {"matchLabels": {"app.kubernetes.io/name": "engine"}},
                       "template": pod}  # fmt: skip
    return obj


def changed(change: Callable[[dict[str, Any], Manifest], None]) -> Manifest:
    """A compliant Deployment with ``change(container, object)`` applied."""
    obj = workload()
    change(obj["spec"]["template"]["spec"]["containers"][0], obj)
    return obj


def lws_without_gang() -> Manifest:
    """A LeaderWorkerSet of 2 pods of 1 GPU serving tp 1 x pp 2, no gang scheduler."""
    serving = container()
    serving["args"] += ["--pipeline-parallel-size", "2"]
    template = {"metadata": {"labels": {"app.kubernetes.io/name": "engine"}},
                "spec": {"containers": [serving]}}  # fmt: skip
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "engine", "namespace": NS},
        "spec": {"leaderWorkerTemplate": {"size": 2, "workerTemplate": template}},
    }


def _set(field: str, value: Any) -> Callable[[dict[str, Any], Manifest], None]:
    return lambda c, _: c.__setitem__(field, value)


def _resources(requests: dict[str, str], limits: dict[str, str]) -> Callable[..., None]:
    return lambda c, _: c.__setitem__("resources", {"requests": requests, "limits": limits})


def _no_label(_: dict[str, Any], obj: Manifest) -> None:
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "engine"}


def _elsewhere(_: dict[str, Any], obj: Manifest) -> None:
    obj["metadata"]["namespace"] = "batch"


def _no_startup(c: dict[str, Any], _: Manifest) -> None:
    del c["startupProbe"]


def _no_readiness(c: dict[str, Any], _: Manifest) -> None:
    del c["readinessProbe"]


GPU_ONLY = {GPU: "1"}
#: (case, object, the policy it fires, a pattern the fired rule's name or message matches)
CASES: list[tuple[str, Manifest, str, str]] = [
    ("gpu-request-without-limit",
     changed(_resources({"cpu": "4", "memory": "1Gi", GPU: "1"}, {"memory": "1Gi"})),
     "gitops-require-gpu-limits", r"must also set|require-gpu-limit"),
    ("nine-gpus",
     changed(lambda c, o: (_resources({"cpu": "4", "memory": "1Gi", GPU: "9"},
                                      {"memory": "1Gi", GPU: "9"})(c, o),
                           c.__setitem__("args", ["--model", "m", "-tp", "9"]))),
     "gitops-require-gpu-limits", r"at most 8|limit-gpus-per-pod"),
    ("foreign-registry", changed(_set("image", "docker.io/vllm/vllm-openai:v0.6.4")),
     "gitops-restrict-image-registries", r"allowed registry|validate-registries"),
    ("untagged", changed(_set("image", "ghcr.io/vllm/vllm-openai")),
     "gitops-disallow-latest-tag", r"tag or digest is required|require-image-tag"),
    ("latest", changed(_set("image", "ghcr.io/vllm/vllm-openai:latest")),
     "gitops-disallow-latest-tag", r"'latest' is not allowed|validate-image-tag"),
    ("no-name-label", changed(_no_label), "gitops-require-labels",
     r"app.kubernetes.io/name are required|check-for-labels"),
    ("no-cpu-request",
     changed(_resources({"memory": "1Gi", GPU: "1"}, {"memory": "1Gi", GPU: "1"})),
     "gitops-require-pod-requests-limits", r"CPU and memory|validate-resources"),
    ("no-readiness", changed(_no_readiness), "gitops-require-probes",
     r"readiness|validate-probes"),
    ("no-startup-probe", changed(_no_startup), "gitops-gpu-startup-probe",
     r"must define a|gpu-startup-probe"),
    ("short-startup",
     changed(_set("startupProbe", {"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 10,
                                   "failureThreshold": 6})),
     "gitops-gpu-startup-probe", r"must allow at|gpu-startup-probe"),
    ("tp-mismatch", changed(_set("args", ["--model", "m", "--tensor-parallel-size", "2"])),
     "gitops-gpu-parallelism", r"must equal|gpu-parallelism"),
    ("gpu-outside", changed(_elsewhere), "gitops-gpu-namespaces",
     r"may only run in|gpu-namespaces"),
    ("lws-no-gang", lws_without_gang(), "gitops-lws-gang-scheduling",
     r"gang-schedul"),
]  # fmt: skip


def deprecated_cases(policies: list[Manifest]) -> list[tuple[str, Manifest, str, str]]:
    """One object per deprecated apiVersion and kind the rendered policy names."""
    cases = []
    for policy in policies:
        if policy["metadata"]["name"] != "gitops-deprecated-api-versions":
            continue
        for validation in policy["spec"].get("validations", []):
            api_version, kind = validation["message"].split(" ")[:2]
            obj = {"apiVersion": api_version, "kind": kind,
                   "metadata": {"name": "old", "namespace": NS}}  # fmt: skip
            pattern = re.escape(f"{api_version} {kind} is deprecated")
            cases.append((f"{api_version}-{kind}", obj, policy["metadata"]["name"], pattern))
    return cases


def all_cases(engine: str) -> list[tuple[str, Manifest, str, str]]:
    """:data:`CASES` and a case per deprecated apiVersion (named by the VAP's messages)."""
    deprecated = deprecated_cases(guardrails("vap"))
    if engine == "kyverno":  # one rule: every deprecated object fires it
        deprecated = [(c, o, p, "deprecated-api-versions") for c, o, p, _ in deprecated]
    return CASES + deprecated


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_compliant_workload_fires_no_rule(engine: str, kind: str) -> None:
    assert evaluate([*guardrails(engine), workload(kind)]) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_each_case_fires_exactly_its_rule(engine: str) -> None:
    policies = guardrails(engine)
    for case, obj, policy, pattern in all_cases(engine):
        rules = fired(policies, evaluate([*policies, copy.deepcopy(obj)]))
        assert len(rules) == 1, f"{case}: {sorted(rules)}"
        [(name, rule)] = rules
        assert name == policy, f"{case}: {name}"
        assert re.search(pattern, rule), f"{case}: {rule!r} does not match {pattern!r}"


@pytest.mark.parametrize("engine", ENGINES)
def test_every_rendered_rule_has_a_case(engine: str) -> None:
    policies = guardrails(engine)
    covered = set()
    for _, obj, _, _ in all_cases(engine):
        covered |= fired(policies, evaluate([*policies, copy.deepcopy(obj)]))
    assert rendered_rules(policies) - covered == set()
