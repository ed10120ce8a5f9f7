"""paramKind policies: params found as the API server finds them (name, selector,
namespace), and parameterNotFoundAction applied with the server's message."""

from __future__ import annotations

from typing import Any

import pytest

from gitops.policy import evaluate
from gitops.policy.vap_params import NOT_FOUND_DENY


def _policy(failure: str = "Fail") -> dict[str, Any]:
    rules = [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"],
              "resources": ["deployments"]}]  # fmt: skip
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "max-replicas"},
        "spec": {
            "failurePolicy": failure,
            "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
            "matchConstraints": {"resourceRules": rules},
            "validations": [{
                "expression": "object.spec.replicas <= int(params.data.max)",
                "messageExpression": "'at most ' + params.data.max + ' replicas'",
            }],
        },
    }  # fmt: skip


def _binding(ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "max-replicas"},
        "spec": {"policyName": "max-replicas", "validationActions": ["Deny"], "paramRef": ref},
    }


def _limits(namespace: str, maximum: int, name: str = "limits", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {"max": str(maximum)}}  # fmt: skip


def _deployment(namespace: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"web-{replicas}", "namespace": namespace},
            "spec": {"replicas": replicas}}  # fmt: skip


def _messages(
    objects: list[dict[str, Any]], ref: dict[str, Any], failure: str = "Fail"
) -> list[str]:
    found = evaluate(objects, [_policy(failure), _binding(ref)])
    return sorted(f"{v.key.namespace}/{v.key.name}: {v.message}" for v in found)


@pytest.mark.parametrize("action", ["Allow", "Deny"])
def test_params_in_the_set_are_used_whatever_the_not_found_action(action: str) -> None:
    """The issue's case: params present and ``Allow`` denied compliant objects."""
    ref = {"name": "limits", "parameterNotFoundAction": action}
    objects = [_limits("apps", 3), _deployment("apps", 2), _deployment("apps", 5)]
    assert _messages(objects, ref) == ["apps/web-5: at most 3 replicas"]


def test_params_default_to_the_namespace_of_the_object_admitted() -> None:
    ref = {"name": "limits", "parameterNotFoundAction": "Deny"}
    objects = [_limits("a", 3), _limits("b", 10), _deployment("a", 5), _deployment("b", 5)]
    assert _messages(objects, ref) == ["a/web-5: at most 3 replicas"]


def test_param_ref_namespace_names_where_params_live() -> None:
    ref = {"name": "limits", "namespace": "platform", "parameterNotFoundAction": "Deny"}
    objects = [_limits("platform", 4), _limits("apps", 100), _deployment("apps", 5)]
    assert _messages(objects, ref) == ["apps/web-5: at most 4 replicas"]


def test_a_selector_evaluates_the_policy_once_per_params_object() -> None:
    ref = {"selector": {"matchLabels": {"tier": "limits"}}, "parameterNotFoundAction": "Deny"}
    objects = [
        _limits("apps", 3, "strict", tier="limits"),
        _limits("apps", 8, "loose", tier="limits"),
        _limits("apps", 1, "other", tier="unrelated"),
        _deployment("apps", 5),
        _deployment("apps", 2),
    ]
    assert _messages(objects, ref) == ["apps/web-5: at most 3 replicas"]


def test_no_params_with_allow_admits() -> None:
    ref = {"name": "limits", "parameterNotFoundAction": "Allow"}
    assert _messages([_deployment("apps", 50)], ref) == []


def test_no_params_with_deny_is_the_api_servers_configuration_error() -> None:
    ref = {"name": "limits", "parameterNotFoundAction": "Deny"}
    assert _messages([_deployment("apps", 1)], ref) == [f"apps/web-1: {NOT_FOUND_DENY}"]
    assert _messages([_deployment("apps", 1)], ref, failure="Ignore") == []
