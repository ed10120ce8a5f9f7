"""Tests for the guardrail constructs: schema-valid objects, quota and network shapes, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from k8s_schemas import validate

from gitops.constructs.base import Scope
from gitops.constructs.guardrails import ClusterGuardrails, NamespaceGuardrails
from gitops.core.errors import ValidationError
from gitops.core.keys import Manifest
from gitops.core.yaml_io import dump_yaml


def _namespace_objects(**kwargs: Any) -> list[Manifest]:
    scope = Scope()
    NamespaceGuardrails(scope, "llm-fence", namespace="llm", **kwargs)
    return scope.synth()


def _cluster_objects(**kwargs: Any) -> list[Manifest]:
    scope = Scope()
    ClusterGuardrails(scope, "platform", **kwargs)
    return scope.synth()


def _by_name(objects: list[Manifest], kind: str, name: str) -> Manifest:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


FULL_NAMESPACE = {
    "gpu_quota": 8,
    "cpu_quota": "64",
    "memory_quota": "512Gi",
    "gateway_namespace": "gateway",
    "limits": {"default": {"cpu": "1", "memory": "2Gi"}, "max": {"memory": "256Gi"}},
    "labels": {"team": "ml-platform"},
}


def test_namespace_guardrail_objects_are_schema_valid() -> None:
    objects = _namespace_objects(**FULL_NAMESPACE)
    assert {o["kind"] for o in objects} == {
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
    }
    for obj in objects:
        validate(obj)


@pytest.mark.parametrize("engine", ["vap", "kyverno"])
@pytest.mark.parametrize("action", ["Deny", "Warn", "Audit"])
def test_cluster_guardrail_objects_are_schema_valid(engine: str, action: str) -> None:
    objects = _cluster_objects(engine=engine, action=action, allowed_registries=["ghcr.io"])
    assert len(objects) >= 6
    for obj in objects:
        validate(obj)


def test_gpu_quota_uses_the_requests_form() -> None:
    quota = _by_name(_namespace_objects(gpu_quota=4), "ResourceQuota", "gitops-quota")
    assert quota["spec"]["hard"] == {"requests.nvidia.com/gpu": "4"}


def test_cpu_and_memory_quota_set_requests_and_limits() -> None:
    quota = _by_name(
        _namespace_objects(cpu_quota="16", memory_quota="64Gi", gpu_resource="amd.com/gpu",
                           gpu_quota=2),
        "ResourceQuota",
        "gitops-quota",
    )  # fmt: skip
    assert quota["spec"]["hard"] == {
        "requests.amd.com/gpu": "2",
        "requests.cpu": "16",
        "limits.cpu": "16",
        "requests.memory": "64Gi",
        "limits.memory": "64Gi",
    }


def test_no_quota_or_limit_range_without_values() -> None:
    kinds = {o["kind"] for o in _namespace_objects()}
    assert "ResourceQuota" not in kinds and "LimitRange" not in kinds


def test_default_deny_selects_every_pod_both_directions() -> None:
    deny = _by_name(_namespace_objects(), "NetworkPolicy", "gitops-default-deny")
    assert deny["metadata"]["namespace"] == "llm"
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_dns_egress_is_allowed_to_kube_dns_on_port_53() -> None:
    dns = _by_name(_namespace_objects(), "NetworkPolicy", "gitops-allow-dns")
    rule = dns["spec"]["egress"][0]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert rule["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert rule["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_gateway_ingress_only_when_a_gateway_namespace_is_given() -> None:
    names = {o["metadata"]["name"] for o in _namespace_objects() if o["kind"] == "NetworkPolicy"}
    assert "gitops-allow-gateway" not in names
    gateway = _by_name(
        _namespace_objects(gateway_namespace="gw"), "NetworkPolicy", "gitops-allow-gateway"
    )
    assert gateway["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "gw"
    }


def test_pod_security_defaults_to_baseline_enforced_restricted_warned() -> None:
    namespace = _by_name(_namespace_objects(), "Namespace", "llm")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"
    assert labels["app.kubernetes.io/managed-by"] == "gitops"


def test_limit_range_is_a_container_limit() -> None:
    limit = _by_name(_namespace_objects(**FULL_NAMESPACE), "LimitRange", "gitops-limits")
    assert limit["spec"]["limits"] == [
        {"type": "Container", "default": {"cpu": "1", "memory": "2Gi"},
         "max": {"memory": "256Gi"}}
    ]  # fmt: skip


def test_vap_binding_action_and_namespace_exclusion() -> None:
    objects = _cluster_objects(action="Warn", exclude_namespaces=["kube-system", "gpu-operator"])
    binding = _by_name(objects, "ValidatingAdmissionPolicyBinding", "gitops-disallow-latest-tag")
    assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
        {
            "key": "kubernetes.io/metadata.name",
            "operator": "NotIn",
            "values": ["kube-system", "gpu-operator"],
        }
    ]


def test_registry_rule_only_when_registries_are_given() -> None:
    names = {o["metadata"]["name"] for o in _cluster_objects()}
    assert "gitops-restrict-image-registries" not in names
    assert "gitops-disallow-latest-tag" in names


def test_kyverno_enforce_for_deny_and_audit_with_warnings_for_warn() -> None:
    deny = _by_name(_cluster_objects(engine="kyverno"), "ClusterPolicy", "gitops-require-labels")
    warn = _by_name(
        _cluster_objects(engine="kyverno", action="Warn"), "ClusterPolicy", "gitops-require-labels"
    )
    assert deny["spec"]["validationFailureAction"] == "Enforce"
    assert (warn["spec"]["validationFailureAction"], warn["spec"]["emitWarning"]) == ("Audit", True)


def test_rendering_is_deterministic() -> None:
    first = dump_yaml(_cluster_objects(engine="kyverno", allowed_registries=["ghcr.io"]))
    assert first == dump_yaml(_cluster_objects(engine="kyverno", allowed_registries=["ghcr.io"]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"engine": "gatekeeper"},
            r"ClusterGuardrails 'platform': engine must be one of vap, kyverno, "
            r"got 'gatekeeper'",
        ),
        ({"action": "deny"}, r"action must be one of Deny, Warn, Audit, got 'deny'"),
        (
            {"allowed_registries": ["https://ghcr.io"]},
            r"allowed_registries must hold .* got 'https://ghcr.io'",
        ),
        ({"allowed_registries": ["ghcr.io/*"]}, r"must hold .* got 'ghcr.io/\*'"),
        ({"allowed_registries": "ghcr.io"}, r"allowed_registries must be a list of strings"),
        ({"max_gpus_per_pod": -1}, r"max_gpus_per_pod must be an integer >= 0, got -1"),
        ({"required_labels": ["bad label"]}, r"required_labels must hold label keys"),
        ({"exclude_namespaces": ["Kube_System"]}, r"exclude_namespaces must be a DNS-1123 label"),
    ],
)
def test_cluster_guardrails_reject_bad_input(kwargs: dict[str, Any], message: str) -> None:
    scope = Scope()
    with pytest.raises(ValidationError, match=message):
        ClusterGuardrails(scope, "platform", **kwargs)
    assert scope.children == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"namespace": "LLM"}, r"NamespaceGuardrails 'fence': namespace must be a DNS-1123 label"),
        ({"namespace": "llm", "gpu_quota": -2}, r"gpu_quota must be an integer >= 0, got -2"),
        (
            {"namespace": "llm", "cpu_quota": "lots"},
            r"cpu_quota must be a non-negative .* got 'lots'",
        ),
        ({"namespace": "llm", "memory_quota": "-1Gi"}, r"memory_quota must be a non-negative"),
        (
            {"namespace": "llm", "pod_security": "strict"},
            r"pod_security must be one of .* got 'strict'",
        ),
        ({"namespace": "llm", "limits": {"maximum": {"cpu": "1"}}}, r"limits keys must be among"),
        (
            {"namespace": "llm", "limits": {"max": {"cpu": "one"}}},
            r"limits.max.cpu must be a non-negative",
        ),
        (
            {"namespace": "llm", "gateway_namespace": "GW"},
            r"gateway_namespace must be a DNS-1123 label",
        ),
        (
            {"namespace": "llm", "labels": {"team": "a b"}},
            r"labels\['team'\] must be a label value",
        ),
    ],
)
def test_namespace_guardrails_reject_bad_input(kwargs: dict[str, Any], message: str) -> None:
    scope = Scope()
    with pytest.raises(ValidationError, match=message):
        NamespaceGuardrails(scope, "fence", **kwargs)
    assert scope.children == []
