"""The server judges our admission checks: ``gitops check`` verdicts and messages equal the
API server's for ValidatingAdmissionPolicies.

Against the real control plane (``tests/controlplane``): every guardrail policy and binding
``ClusterGuardrails`` renders (VAP engine), and user policies with ``paramKind`` (a
ConfigMap of parameters), ``matchConditions``, ``variables`` and ``messageExpression``,
bound through namespace and object selectors, are installed; a seeded corpus of Pods,
Deployments, StatefulSets, DaemonSets, Jobs and CronJobs (compliant and not, in namespaces
labelled differently) is created with ``dryRun=All``. For each object the server's verdict
(admitted or denied) and its message must be those of :func:`gitops.policy.evaluate`.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
from typing import Any

import pytest
from controlplane import ClusterUnderTest

from gitops.constructs.base import Scope
from gitops.constructs.guardrails import ClusterGuardrails
from gitops.policy import evaluate
from gitops.policy.vap_params import NOT_FOUND_DENY as NO_PARAMS

pytestmark = pytest.mark.fake_only

OBJECTS = 240
SEED = 11
_API = "admissionregistration.k8s.io/v1"
#: name -> labels of the namespaces objects are created in.
NAMESPACES = {
    "vap-prod": {"env": "prod"},
    "vap-dev": {"env": "dev"},
    "vap-other": {},
}
PARAMS = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "replica-limits", "namespace": "vap-params"},
    "data": {"maxReplicas": "3", "team": "search"},
}


def guardrails() -> list[dict[str, Any]]:
    """The VAP policies and bindings ClusterGuardrails renders."""
    app = Scope()
    ClusterGuardrails(
        app,
        "guardrails",
        engine="vap",
        allowed_registries=("registry.example.com",),
        required_labels=("app.kubernetes.io/name",),
        max_gpus_per_pod=4,
        exclude_namespaces=("vap-other",),
    )
    return [m for m in app.synth() if m["apiVersion"].startswith(_API)]


def user_policies() -> list[dict[str, Any]]:
    """Policies with paramKind, matchConditions, variables and messageExpression."""
    workloads = {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["deployments", "statefulsets"],
    }
    return [
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "user-replica-limit"},
            "spec": {
                "failurePolicy": "Fail",
                "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                "matchConstraints": {"resourceRules": [workloads]},
                "variables": [
                    {"name": "replicas", "expression": "object.spec.replicas"},
                    {"name": "limit", "expression": "int(params.data.maxReplicas)"},
                ],
                "validations": [
                    {
                        "expression": "variables.replicas <= variables.limit",
                        "messageExpression": "'replicas ' + string(variables.replicas) + "
                        "' exceed the limit of ' + string(variables.limit) + ' for team ' + "
                        "params.data.team",
                        "message": "too many replicas",
                    }
                ],
            },
        },
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "user-replica-limit"},
            "spec": {
                "policyName": "user-replica-limit",
                "validationActions": ["Deny"],
                "paramRef": {
                    "name": "replica-limits",
                    "namespace": "vap-params",
                    "parameterNotFoundAction": "Deny",
                },
                "matchResources": {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
            },
        },
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "user-gpu-tier"},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {**workloads, "resources": ["deployments", "statefulsets", "daemonsets"]},
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["pods"],
                        },
                    ]
                },
                "matchConditions": [
                    {
                        "name": "gpu-tier",
                        "expression": "has(object.metadata.labels) && "
                        "object.metadata.labels.exists(k, k == 'tier') && "
                        "object.metadata.labels['tier'] == 'gpu'",
                    }
                ],
                "variables": [
                    {
                        "name": "spec",
                        "expression": "object.kind == 'Pod' ? object.spec : "
                        "object.spec.template.spec",
                    },
                    {
                        "name": "unlimited",
                        "expression": "variables.spec.containers.filter(c, "
                        "!has(c.resources) || !has(c.resources.limits) || "
                        "!('memory' in c.resources.limits)).map(c, c.name)",
                    },
                ],
                "validations": [
                    {
                        "expression": "size(variables.unlimited) == 0",
                        "messageExpression": "'GPU-tier containers need a memory limit: ' + "
                        "variables.unlimited.join(', ')",
                    },
                    {
                        "expression": "!has(variables.spec.hostNetwork) || "
                        "!variables.spec.hostNetwork",
                        "message": "GPU-tier workloads may not use the host network",
                    },
                ],
            },
        },
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "user-gpu-tier"},
            "spec": {
                "policyName": "user-gpu-tier",
                "validationActions": ["Deny"],
                "matchResources": {
                    "objectSelector": {
                        "matchExpressions": [{"key": "exempt", "operator": "DoesNotExist"}]
                    }
                },
            },
        },
    ]


def _container(rng: random.Random, name: str) -> dict[str, Any]:
    registries = ["registry.example.com/vllm", "docker.io/library", "registry.example.com"]
    registry = rng.choice(registries)
    tag = rng.choice([":v0.11.0", ":latest", ""])
    out: dict[str, Any] = {"name": name, "image": f"{registry}/engine{tag}"}
    gpus = rng.choice([0, 1, 4, 5, 8])
    if rng.random() < 0.85:
        requests: dict[str, Any] = {"cpu": "1", "memory": "1Gi"}
        limits: dict[str, Any] = {"memory": "1Gi"}
        if rng.random() < 0.2:
            del limits["memory"]
        if gpus:
            limits["nvidia.com/gpu"] = str(gpus)
            if rng.random() < 0.8:
                requests["nvidia.com/gpu"] = str(gpus)
        out["resources"] = {"requests": requests, "limits": limits}
    if rng.random() < 0.8:
        out["readinessProbe"] = {"httpGet": {"path": "/health", "port": 8000}}
    if rng.random() < 0.8:
        out["livenessProbe"] = {"httpGet": {"path": "/health", "port": 8000}}
    return out


def corpus(count: int = OBJECTS, seed: int = SEED) -> list[dict[str, Any]]:
    """``count`` workloads of six kinds, compliant or not, across namespaces and labels."""
    rng = random.Random(seed)
    kinds = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]
    out = []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        name = f"w-{index:03d}"
        labels: dict[str, str] = {"app": name}
        if rng.random() < 0.8:
            labels["app.kubernetes.io/name"] = rng.choice(["engine", ""])
        if rng.random() < 0.4:
            labels["tier"] = rng.choice(["gpu", "cpu"])
        if rng.random() < 0.15:
            labels["exempt"] = "yes"
        pod_spec: dict[str, Any] = {
            "containers": [_container(rng, "main")]
            + ([_container(rng, "side")] if rng.random() < 0.3 else []),
            "restartPolicy": "Always" if kind in ("Pod", "Deployment") else "OnFailure",
        }
        if kind in ("StatefulSet", "DaemonSet"):
            pod_spec["restartPolicy"] = "Always"
        if rng.random() < 0.1:
            pod_spec["hostNetwork"] = True
        template = {"metadata": {"labels": dict(labels)}, "spec": pod_spec}
        group = {"Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
        obj: dict[str, Any] = {
            "apiVersion": group,
            "kind": kind,
            "metadata": {"name": name, "namespace": rng.choice(list(NAMESPACES)),
                         "labels": labels},
        }  # fmt: skip
        selector = {"matchLabels": {"app": name}}
        if kind == "Pod":
            obj["spec"] = pod_spec
        elif kind in ("Deployment", "StatefulSet"):
            obj["spec"] = {"replicas": rng.choice([1, 3, 4]), "selector": selector,
                           "template": template}  # fmt: skip
            if kind == "StatefulSet":
                obj["spec"]["serviceName"] = name
        elif kind == "DaemonSet":
            obj["spec"] = {"selector": selector, "template": template}
        elif kind == "Job":
            obj["spec"] = {"template": template}
        else:
            obj["spec"] = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
        out.append(obj)
    return out


def _plural(kind: str) -> str:
    return {"Pod": "pods", "Deployment": "deployments", "StatefulSet": "statefulsets",
            "DaemonSet": "daemonsets", "Job": "jobs", "CronJob": "cronjobs"}[kind]  # fmt: skip


def server_verdict(cluster: ClusterUnderTest, obj: dict[str, Any]) -> str | None:
    """The message the server denies ``obj`` with (dryRun=All), or None when admitted."""
    prefix = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    path = f"{prefix}/namespaces/{obj['metadata']['namespace']}/{_plural(obj['kind'])}"
    try:
        cluster.plane.api("POST", f"{path}?dryRun=All", obj)
    except urllib.error.HTTPError as err:
        body = json.loads(err.read() or b"{}")
        return str(body.get("message", err))
    return None


def install(cluster: ClusterUnderTest, manifests: list[dict[str, Any]]) -> None:
    """Create namespaces, the params object and the policies; wait until they are in force."""
    for name, labels in {**NAMESPACES, "vap-params": {}}.items():
        cluster.plane.api("POST", "/api/v1/namespaces",
                          {"metadata": {"name": name, "labels": labels}})  # fmt: skip
    cluster.plane.api("POST", "/api/v1/namespaces/vap-params/configmaps", PARAMS)
    for manifest in manifests:
        plural = "validatingadmissionpolicies"
        if manifest["kind"].endswith("Binding"):
            plural = "validatingadmissionpolicybindings"
        cluster.plane.api("POST", f"/apis/{_API}/{plural}", manifest)


def expected(manifests: list[dict[str, Any]], obj: dict[str, Any]) -> list[str]:
    """What ``gitops check`` says about ``obj``: the messages of its Deny violations."""
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}
        for n, labels in NAMESPACES.items()
    ]
    found = evaluate([*namespaces, PARAMS, *manifests, obj])
    return [f"{v.policy}: {v.message}" for v in found if v.action == "Deny" and v.key.name
            == obj["metadata"]["name"]]  # fmt: skip


def test_gitops_check_gives_the_servers_verdict_and_message(cluster: ClusterUnderTest) -> None:
    manifests = [*guardrails(), *user_policies()]
    policies = [m for m in manifests if m["kind"] == "ValidatingAdmissionPolicy"]
    assert len(policies) >= 7
    install(cluster, manifests)
    objects = corpus()
    verdicts = [expected(manifests, obj) for obj in objects]
    wait_in_force(cluster, objects, verdicts)
    disagreements = []
    denied = 0
    for obj, ours in zip(objects, verdicts, strict=True):
        theirs = server_verdict(cluster, obj)
        denied += theirs is not None
        # The server names the first denial it found; it must be one of ours, word for word.
        same = (theirs is None) == (not ours) and (
            theirs is None or any(_denial(m) in theirs for m in ours)
        )
        if not same:
            disagreements.append(f"{obj['metadata']['name']}: server {theirs!r}, ours {ours}")
    print(f"VAP agreement: {len(objects)} objects, {len(policies)} policies, {denied} denied, "
          f"{len(disagreements)} disagreements")  # fmt: skip
    assert disagreements == [], "\n".join(disagreements[:30])
    assert 40 < denied < len(objects) - 40


def wait_in_force(
    cluster: ClusterUnderTest, objects: list[dict[str, Any]], verdicts: list[list[str]]
) -> None:
    """Wait until every policy that denies something of the corpus is in force on the server.

    A policy takes effect once the server has compiled it: for each policy, the first object
    ``gitops check`` denies by it must be denied by the server before the corpus is judged.
    """
    probes: dict[str, dict[str, Any]] = {}
    for obj, ours in zip(objects, verdicts, strict=True):
        for denial in ours:
            probes.setdefault(denial.split(": ", 1)[0], obj)
    assert len(probes) >= 5, sorted(probes)
    deadline = time.monotonic() + 120
    for policy, obj in sorted(probes.items()):
        while server_verdict(cluster, obj) is None:
            assert time.monotonic() < deadline, f"policy {policy} never came into force"
            time.sleep(0.2)


def _denial(ours: str) -> str:
    """The server's words for one of our violations (``policy: message``)."""
    policy, message = ours.split(": ", 1)
    return f"ValidatingAdmissionPolicy '{policy}' with binding '{policy}' denied request: {message}"


def test_params_come_from_the_binding_paramref_and_missing_ones_deny() -> None:
    policies = user_policies()[:2]
    deployment = next(o for o in corpus() if o["kind"] == "Deployment")
    deployment["metadata"]["namespace"] = "vap-prod"
    deployment["spec"]["replicas"] = 4
    prod = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "vap-prod", "labels": {"env": "prod"}}}  # fmt: skip
    (found,) = evaluate([prod, PARAMS, *policies, deployment])
    assert found.message == "replicas 4 exceed the limit of 3 for team search"
    deployment["spec"]["replicas"] = 3
    assert evaluate([prod, PARAMS, *policies, deployment]) == []
    (missing,) = evaluate([prod, *policies, deployment])
    assert (missing.rule, missing.message) == ("paramRef", NO_PARAMS)
    policies[1]["spec"]["paramRef"]["parameterNotFoundAction"] = "Allow"
    assert evaluate([prod, *policies, deployment]) == []
