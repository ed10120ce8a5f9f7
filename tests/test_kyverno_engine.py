"""The Kyverno engine: rule results (pass, fail, skip, error) as Kyverno's engine gives them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitops.core.errors import PolicyError
from gitops.core.keys import Manifest
from gitops.policy import Values, evaluate, report


def pod(name: str = "p", namespace: str | None = "apps", **spec: Any) -> Manifest:
    containers = spec.pop("containers", [{"name": "c", "image": "ghcr.io/x:1"}])
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": containers, **spec}}  # fmt: skip


def deployment(name: str = "d", **spec: Any) -> Manifest:
    template = pod(name, **spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": template["spec"]}},
    }


def policy(*rules: dict[str, Any], action: str = "Enforce", **extra: Any) -> Manifest:
    named = [{"name": f"r{i}", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}, **r}
             for i, r in enumerate(rules)]  # fmt: skip
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "pol", **extra.pop("metadata", {})},
        "spec": {"validationFailureAction": action, "rules": named, **extra},
    }


def results(objects: list[Manifest], *policies: Manifest,
            values: Values | None = None) -> dict[tuple[str, str], str]:  # fmt: skip
    _violations, found = report(objects, list(policies), values)
    return {(r.key.name, r.rule): r.result for r in found}


def test_a_global_anchor_that_does_not_hold_skips_the_rule() -> None:
    rule = {"validate": {"pattern": {"spec": {"<(hostNetwork)": True,
                                              "containers": [{"name": "x"}]}}}}  # fmt: skip
    assert results([pod(hostNetwork=False), pod("q", hostNetwork=True)], policy(rule)) == {
        ("p", "r0"): "skip",
        ("q", "r0"): "fail",
    }


def test_a_list_whose_elements_are_all_skipped_is_skipped() -> None:
    rule = {"validate": {"pattern": {"spec": {"containers": [{"(name)": "db", "image": "db:*"}]}}}}
    objects = [pod(), pod("q", containers=[{"name": "db", "image": "x"}])]
    assert results(objects, policy(rule)) == {("p", "r0"): "skip", ("q", "r0"): "fail"}


def test_an_existence_anchor_needs_one_matching_element() -> None:
    rule = {"validate": {"pattern": {"spec": {"^(containers)": [{"image": "db:*"}]}}}}
    two = [{"name": "a", "image": "x"}, {"name": "b", "image": "db:1"}]
    objects = [pod(containers=two), pod("q")]
    assert results(objects, policy(rule)) == {("p", "r0"): "pass", ("q", "r0"): "fail"}


def test_wildcard_metadata_keys_apply_to_each_matching_key() -> None:
    rule = {"validate": {"pattern": {"metadata": {"=(annotations)": {"=(team/*)": "a|b"}}}}}
    good, bad = pod(), pod("q")
    good["metadata"]["annotations"] = {"team/x": "a"}
    bad["metadata"]["annotations"] = {"team/x": "a", "team/y": "c"}
    assert results([good, bad], policy(rule)) == {("p", "r0"): "pass", ("q", "r0"): "fail"}


def test_foreach_with_nothing_applied_is_a_skip_and_any_failing_element_fails() -> None:
    rule = {"validate": {"foreach": [{
        "list": "request.object.spec.initContainers",
        "deny": {"conditions": {"any": [
            {"key": "{{ element.image }}", "operator": "Equals", "value": "*:latest"}]}},
    }]}}  # fmt: skip
    objects = [pod(), pod("q", initContainers=[{"name": "i", "image": "x:latest"}])]
    assert results(objects, policy(rule)) == {("p", "r0"): "skip", ("q", "r0"): "fail"}


def test_unmet_preconditions_skip_and_deny_without_conditions_always_fails() -> None:
    rule = {
        "preconditions": {"all": [{"key": "{{ request.object.metadata.name }}",
                                   "operator": "Equals", "value": "q"}]},
        "validate": {"message": "no", "deny": {}},
    }  # fmt: skip
    assert results([pod(), pod("q")], policy(rule)) == {("p", "r0"): "skip", ("q", "r0"): "fail"}


def test_pod_rules_answer_for_controllers_as_autogen_rules() -> None:
    rule = {"validate": {"pattern": {"spec": {"containers": [{"image": "docker.io/*"}]}}}}
    assert results([deployment()], policy(rule)) == {("d", "autogen-r0"): "fail"}
    off = policy(rule, metadata={"annotations": {
        "pod-policies.kyverno.io/autogen-controllers": "none"}})  # fmt: skip
    assert results([deployment()], off) == {}


def test_kind_selectors_with_group_and_version() -> None:
    rule = {"match": {"any": [{"resources": {"kinds": ["apps/v1/Deployment"]}}]},
            "validate": {"deny": {}}}  # fmt: skip
    other = copy.deepcopy(rule)
    other["match"]["any"][0]["resources"]["kinds"] = ["batch/*/Deployment"]
    assert results([deployment()], policy(rule)) == {("d", "r0"): "fail"}
    assert results([deployment()], policy(other)) == {}


def test_operations_without_create_do_not_match() -> None:
    rule = {"match": {"any": [{"resources": {"kinds": ["Pod"], "operations": ["DELETE"]}}]},
            "validate": {"deny": {}}}  # fmt: skip
    assert results([pod()], policy(rule)) == {}


def test_an_object_without_namespace_is_checked_in_default_and_reported_as_given() -> None:
    rule = {"validate": {"pattern": {"metadata": {"namespace": "!default"}}}}
    violations = evaluate([pod(namespace=None)], [policy(rule)])
    assert [(v.key.namespace, v.rule) for v in violations] == [("", "r0")]


def test_rule_failure_action_and_namespace_overrides_decide_the_action() -> None:
    rule = {"validate": {"failureAction": "Audit", "deny": {}}}
    assert [v.action for v in evaluate([pod()], [policy(rule)])] == ["Audit"]
    overridden = policy({"validate": {"deny": {}}}, action="Audit",
                        validationFailureActionOverrides=[
                            {"action": "Enforce", "namespaces": ["ap*"]}])  # fmt: skip
    assert [v.action for v in evaluate([pod(), pod("o", "other")], [overridden])] == [
        "Deny", "Audit"]  # fmt: skip


def test_a_namespaced_policy_applies_to_its_namespace_only() -> None:
    namespaced = policy({"validate": {"deny": {}}}, metadata={"namespace": "apps"})
    namespaced["kind"] = "Policy"
    assert results([pod(), pod("o", "other")], namespaced) == {("p", "r0"): "fail"}


def test_validate_cel_with_variables_preconditions_and_message_expression() -> None:
    rule = {
        "celPreconditions": [{"name": "named", "expression": "object.metadata.name != 'skip'"}],
        "validate": {"cel": {
            "variables": [{"name": "images",
                           "expression": "object.spec.containers.map(c, c.image)"}],
            "expressions": [{"expression": "variables.images.all(i, i.startsWith('ghcr.io/'))",
                             "messageExpression": "'bad image ' + variables.images[0]"}],
        }},
    }  # fmt: skip
    objects = [pod(), pod("q", containers=[{"name": "c", "image": "docker.io/x"}]), pod("skip")]
    violations, found = report(objects, [policy(rule)])
    assert {(r.key.name, r.result) for r in found} == {("p", "pass"), ("q", "fail"),
                                                       ("skip", "skip")}  # fmt: skip
    assert [v.message for v in violations] == ["bad image docker.io/x"]


def test_a_cel_expression_that_errors_is_an_error_result() -> None:
    rule = {"validate": {"cel": {"expressions": [{"expression": "object.spec.nope == 1"}]}}}
    assert results([pod()], policy(rule)) == {("p", "r0"): "error"}


def test_the_images_variable_is_parsed_as_kyverno_does() -> None:
    rule = {"validate": {"deny": {"conditions": {"any": [
        {"key": "{{ images.containers.c.registry }}", "operator": "NotEquals",
         "value": "docker.io"}]}}}}  # fmt: skip
    docker = pod("q", containers=[{"name": "c", "image": "nginx"}])
    assert results([pod(), docker], policy(rule)) == {("p", "r0"): "fail", ("q", "r0"): "pass"}


@pytest.mark.parametrize(
    ("rule", "feature"),
    [
        (
            {
                "context": [{"name": "cm", "configMap": {"name": "x", "namespace": "y"}}],
                "validate": {"deny": {}},
            },
            "context entry 'cm' \\(configMap\\)",
        ),
        (
            {
                "context": [{"name": "api", "apiCall": {"urlPath": "/api/v1/pods"}}],
                "validate": {"deny": {}},
            },
            "context entry 'api' \\(apiCall\\)",
        ),
        (
            {"validate": {"message": "{{ request.userInfo.username }}", "deny": {}}},
            "request.userInfo is the requesting user",
        ),
        ({"verifyImages": [{"imageReferences": ["*"]}]}, "verifyImages"),
        (
            {
                "exclude": {"any": [{"subjects": [{"kind": "User", "name": "x"}]}]},
                "validate": {"deny": {}},
            },
            "exclude by subjects",
        ),
        (
            {
                "validate": {
                    "deny": {
                        "conditions": {
                            "any": [
                                {"key": "{{ time_now_utc() }}", "operator": "Equals", "value": "x"}
                            ]
                        }
                    }
                }
            },
            "JMESPath function time_now_utc\\(\\)",
        ),
        ({"imageExtractors": {}, "validate": {"deny": {}}}, "rule field 'imageExtractors'"),
        (
            {"validate": {"cel": {"paramKind": {"kind": "ConfigMap"}, "expressions": []}}},
            "validate.cel.paramKind",
        ),
        ({"validate": {"manifests": {}}}, "validate.manifests"),
    ],
)
def test_what_render_time_cannot_know_is_refused_naming_policy_rule_feature(
    rule: dict[str, Any], feature: str
) -> None:
    with pytest.raises(PolicyError, match=f"ClusterPolicy 'pol' rule 'r0': {feature}"):
        evaluate([pod()], [policy(rule)])


def test_values_supply_what_the_cluster_would() -> None:
    rule = {
        "context": [{"name": "allowed", "configMap": {"name": "x", "namespace": "y"}}],
        "validate": {"deny": {"conditions": {"any": [
            {"key": "{{ request.object.metadata.name }}", "operator": "AnyNotIn",
             "value": "{{ allowed.data.names }}"}]}}},
    }  # fmt: skip
    values = Values.from_document(
        {"policies": [{"name": "pol", "rules": [{"name": "r0",
                                                 "values": {"allowed.data.names": '["p"]'}}]}]},
        "values.yaml")  # fmt: skip
    assert results([pod(), pod("q")], policy(rule), values=values) == {
        ("p", "r0"): "pass", ("q", "r0"): "fail"}  # fmt: skip


def test_a_secret_quoted_by_a_message_is_masked_even_without_a_namespace() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"token": "hunter2-very-secret"}}  # fmt: skip
    rule = {"match": {"any": [{"resources": {"kinds": ["Secret"]}}]},
            "validate": {"message": "token {{ request.object.stringData.token }}",
                         "deny": {}}}  # fmt: skip
    violations = evaluate([secret], [policy(rule)])
    assert violations and all("hunter2" not in v.message for v in violations)


def test_resource_values_win_over_rule_and_global_values() -> None:
    rule = {
        "context": [{"name": "cfg", "configMap": {"name": "x", "namespace": "y"}}],
        "validate": {"deny": {"conditions": {"any": [
            {"key": "{{ request.object.metadata.name }}", "operator": "Equals",
             "value": "{{ cfg.forbidden }}"}]}}},
    }  # fmt: skip
    values = Values.from_document(
        {
            "globalValues": {"cfg.forbidden": "p"},
            "policies": [{
                "name": "pol",
                "rules": [{"name": "r0", "values": {"cfg.forbidden": "q"}}],
                "resources": [{"name": "q", "values": {"cfg.forbidden": "none"}}],
            }],
        },
        "values.yaml",
    )  # fmt: skip
    assert results([pod(), pod("q")], policy(rule), values=values) == {
        ("p", "r0"): "pass", ("q", "r0"): "pass"}  # fmt: skip
    only_global = Values.from_document({"globalValues": {"cfg.forbidden": "p"}}, "v.yaml")
    assert results([pod(), pod("q")], policy(rule), values=only_global) == {
        ("p", "r0"): "fail", ("q", "r0"): "pass"}  # fmt: skip


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("policies.kyverno.io/v1alpha1", "ValidatingPolicy"), ("kyverno.io/v2", "PolicyException")],
)
def test_kyverno_kinds_the_engine_does_not_evaluate_are_refused(
    api_version: str, kind: str
) -> None:
    other = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spec": {}}
    with pytest.raises(PolicyError, match=f"{kind} 'x': gitops check does not evaluate"):
        evaluate([pod(), other])
