"""Tests for render-time policy evaluation: both engines, same verdicts, every workload kind."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitops.constructs.base import Scope
from gitops.constructs.guardrails import ClusterGuardrails, NamespaceGuardrails
from gitops.core.errors import InputError, PolicyError
from gitops.core.keys import Manifest, ResourceKey
from gitops.policy import Violation, evaluate, load_policies
from gitops.policy.kyverno_conditions import condition_holds
from gitops.policy.kyverno_pattern import match

POLICIES = Path(__file__).parent / "policies"
KINDS = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]
ENGINES = ["vap", "kyverno"]
GROUPS = {"Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}


def _container() -> dict[str, Any]:
    return {
        "name": "engine",
        "image": "ghcr.io/vllm/vllm-openai:v0.6.4",
        "ports": [{"containerPort": 8000, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": 8000}},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8000}},
        "resources": {
            "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
        },
    }


def workload(kind: str, namespace: str = "llm", name: str = "engine") -> Manifest:
    """A compliant object of ``kind`` whose pod has one serving container."""
    pod = {
        "metadata": {"labels": {"app.kubernetes.io/name": "engine"}},
        "spec": {"containers": [_container()]},
    }
    obj: Manifest = {
        "apiVersion": GROUPS.get(kind, "apps/v1"),
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
    }
    if kind == "Pod":
        obj["metadata"]["labels"] = pod["metadata"]["labels"]
        obj["spec"] = pod["spec"]
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "@daily", "jobTemplate": {"spec": {"template": pod}}}
    else:
        obj["spec"] = {"template": pod}
    return obj


def pod_of(obj: Manifest) -> dict[str, Any]:
    """The pod (metadata and spec) inside ``obj``, to mutate in place."""
    if obj["kind"] == "Pod":
        return obj
    if obj["kind"] == "CronJob":
        template: dict[str, Any] = obj["spec"]["jobTemplate"]["spec"]["template"]
        return template
    return dict.__getitem__(obj["spec"], "template")  # type: ignore[no-any-return]


def _container_of(obj: Manifest) -> dict[str, Any]:
    container: dict[str, Any] = pod_of(obj)["spec"]["containers"][0]
    return container


def _set(field: str, value: Any) -> Callable[[Manifest], None]:
    return lambda obj: _container_of(obj).__setitem__(field, value)


def _drop(*path: str) -> Callable[[Manifest], None]:
    def mutate(obj: Manifest) -> None:
        target: Any = _container_of(obj)
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


def _gpus(requests: Any, limits: Any) -> Callable[[Manifest], None]:
    def mutate(obj: Manifest) -> None:
        resources = _container_of(obj)["resources"]
        for field, value in (("requests", requests), ("limits", limits)):
            if value is None:
                resources[field].pop("nvidia.com/gpu")
            else:
                resources[field]["nvidia.com/gpu"] = value

    return mutate


def _drop_label(obj: Manifest) -> None:
    del pod_of(obj)["metadata"]["labels"]["app.kubernetes.io/name"]


def _init_latest(obj: Manifest) -> None:
    pod_of(obj)["spec"]["initContainers"] = [{"name": "fetch", "image": "ghcr.io/fetch:latest"}]


# (case, mutation, the one policy it must violate)
CASES: list[tuple[str, Callable[[Manifest], None], str]] = [
    ("gpu-request-without-limit", _gpus("2", None), "gitops-require-gpu-limits"),
    ("too-many-gpus", _gpus(9, 9), "gitops-require-gpu-limits"),
    ("foreign-registry", _set("image", "docker.io/vllm/vllm-openai:v0.6.4"),
     "gitops-restrict-image-registries"),
    ("lookalike-registry", _set("image", "ghcr.io.evil.example/vllm:v1"),
     "gitops-restrict-image-registries"),
    ("latest-tag", _set("image", "ghcr.io/vllm/vllm-openai:latest"), "gitops-disallow-latest-tag"),
    ("untagged", _set("image", "ghcr.io/vllm/vllm-openai"), "gitops-disallow-latest-tag"),
    ("init-container-latest", _init_latest, "gitops-disallow-latest-tag"),
    ("missing-label", _drop_label, "gitops-require-labels"),
    ("missing-liveness", _drop("livenessProbe"), "gitops-require-probes"),
    ("missing-readiness", _drop("readinessProbe"), "gitops-require-probes"),
    ("missing-cpu-request", _drop("resources", "requests", "cpu"),
     "gitops-require-pod-requests-limits"),
    ("missing-memory-limit", _drop("resources", "limits", "memory"),
     "gitops-require-pod-requests-limits"),
]  # fmt: skip


def guardrails(engine: str, **kwargs: Any) -> list[Manifest]:
    """The rendered cluster guardrails (registries restricted to ghcr.io)."""
    scope = Scope()
    kwargs.setdefault("allowed_registries", ["ghcr.io"])
    ClusterGuardrails(scope, "platform", engine=engine, **kwargs)
    return scope.synth()


def _policies_violated(violations: list[Violation]) -> set[str]:
    return {v.policy for v in violations}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", KINDS)
def test_compliant_workload_passes(engine: str, kind: str) -> None:
    assert evaluate([*guardrails(engine), workload(kind)]) == []


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("case", "mutate", "policy"), CASES, ids=[c[0] for c in CASES])
def test_non_compliant_workload_fails_its_rule(
    engine: str, kind: str, case: str, mutate: Callable[[Manifest], None], policy: str
) -> None:
    obj = workload(kind)
    mutate(obj)
    violations = evaluate([*guardrails(engine), obj])
    assert _policies_violated(violations) == {policy}
    assert {v.action for v in violations} == {"Deny"}
    assert all(v.key.kind == kind and v.key.name == "engine" for v in violations)


def test_container_without_ports_needs_no_probes() -> None:
    obj = workload("Job")
    container = _container_of(obj)
    for field in ("ports", "readinessProbe", "livenessProbe"):
        del container[field]
    for engine in ENGINES:
        assert evaluate([*guardrails(engine), obj]) == []


def test_digest_pinned_image_passes_the_tag_rule() -> None:
    obj = workload("Deployment")
    _container_of(obj)["image"] = "ghcr.io/vllm/vllm-openai@sha256:" + "a" * 64
    for engine in ENGINES:
        assert evaluate([*guardrails(engine), obj]) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_excluded_namespace_is_not_checked(engine: str) -> None:
    obj = workload("Deployment", namespace="kube-system")
    _container_of(obj)["image"] = "docker.io/busybox:latest"
    assert evaluate([*guardrails(engine), obj]) == []
    obj["metadata"]["namespace"] = "llm"
    assert evaluate([*guardrails(engine), obj]) != []


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("action", ["Warn", "Audit"])
def test_warn_and_audit_actions_are_carried(engine: str, action: str) -> None:
    obj = workload("StatefulSet")
    _container_of(obj)["image"] = "ghcr.io/vllm/vllm-openai:latest"
    violations = evaluate([*guardrails(engine, action=action), obj])
    assert [(v.policy, v.action) for v in violations] == [("gitops-disallow-latest-tag", action)]


def test_violation_prints_action_object_rule_message_and_provenance() -> None:
    scope = Scope(blueprint="llama", environment="prod")
    ClusterGuardrails(scope, "platform")
    obj = workload("Deployment")
    _container_of(obj)["image"] = "ghcr.io/vllm/vllm-openai:latest"
    obj["metadata"]["annotations"] = {"gitops.dev/construct-path": "llama/engine"}
    (violation,) = evaluate([*scope.synth(), obj])
    assert str(violation) == (
        "Deny Deployment llm/engine: gitops-disallow-latest-tag/validations[1]: using the "
        "mutable image tag 'latest' is not allowed (construct llama/engine)"
    )


def test_violations_are_in_deterministic_order() -> None:
    objects = [workload(kind, name=f"w-{kind.lower()}") for kind in KINDS]
    for obj in objects:
        _container_of(obj)["image"] = "docker.io/x:latest"
    forward = evaluate([*guardrails("vap"), *objects])
    backward = evaluate([*reversed(guardrails("vap")), *reversed(objects)])
    assert forward == backward
    assert [v.key.kind for v in forward][:2] == ["Pod", "Pod"]


def test_kyverno_autogen_names_the_generated_rules() -> None:
    names = {}
    for kind in ("Pod", "Deployment", "CronJob"):
        obj = workload(kind)
        _drop_label(obj)
        (violation,) = evaluate([*guardrails("kyverno"), obj])
        names[kind] = violation.rule
    assert names == {
        "Pod": "check-for-labels",
        "Deployment": "autogen-check-for-labels",
        "CronJob": "autogen-cronjob-check-for-labels",
    }


def _namespace(name: str, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_user_policies_load_from_a_directory_in_order() -> None:
    names = [p["metadata"]["name"] for p in load_policies(POLICIES)]
    assert names == ["max-replicas", "max-replicas", "service-team-label"]


def test_user_vap_applies_through_its_namespace_selector() -> None:
    serving = workload("Deployment", namespace="serving")
    batch = workload("Deployment", namespace="batch")
    for obj in (serving, batch):
        obj["spec"]["replicas"] = 6
    objects = [_namespace("serving", {"gitops.dev/tier": "serving"}), _namespace("batch", {})]
    violations = evaluate([*objects, serving, batch], load_policies(POLICIES))
    assert [(str(v.key), v.policy, v.action, v.message) for v in violations] == [
        ("Deployment serving/engine", "max-replicas", "Deny", "replicas must be at most 4, got 6")
    ]


def test_user_kyverno_audit_policy_reports_audit() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}}
    (violation,) = evaluate([service], load_policies(POLICIES / "team-label.yml"))
    assert (violation.policy, violation.rule, violation.action) == (
        "service-team-label",
        "check-team",
        "Audit",
    )
    assert violation.message.startswith("Services need a team label.")


def test_namespace_guardrails_in_the_set_feed_namespace_selectors() -> None:
    scope = Scope()
    NamespaceGuardrails(scope, "fence", namespace="serving", labels={"gitops.dev/tier": "serving"})
    obj = workload("Deployment", namespace="serving")
    obj["spec"]["replicas"] = 5
    violations = evaluate([*scope.synth(), obj], load_policies(POLICIES))
    assert [v.policy for v in violations] == ["max-replicas"]


def _user_policy(expression: str, failure_policy: str = "Fail") -> list[Manifest]:
    policy = load_policies(POLICIES / "max-replicas.yaml")
    policy = copy.deepcopy(policy)
    policy[0]["spec"]["failurePolicy"] = failure_policy
    policy[0]["spec"]["validations"] = [{"expression": expression, "message": "bad"}]
    del policy[1]["spec"]["matchResources"]
    return policy


def test_broken_cel_names_the_policy_and_the_expression() -> None:
    with pytest.raises(PolicyError, match=r"'max-replicas'.*'object\.spec\.replicas <='"):
        evaluate([workload("Deployment")], _user_policy("object.spec.replicas <="))


def test_unknown_cel_function_is_a_compile_error() -> None:
    with pytest.raises(PolicyError, match=r"max-replicas.*function 'frobnicate'"):
        evaluate([workload("Deployment")], _user_policy("frobnicate(object) == 1"))


def test_evaluation_error_with_failure_policy_fail_is_a_violation() -> None:
    (violation,) = evaluate([workload("Deployment")], _user_policy("object.spec.missing == 1"))
    assert violation.action == "Deny"
    assert "'object.spec.missing == 1' resulted in error" in violation.message


def test_evaluation_error_with_failure_policy_ignore_is_dropped() -> None:
    policies = _user_policy("object.spec.missing == 1", failure_policy="Ignore")
    assert evaluate([workload("Deployment")], policies) == []


def test_non_bool_validation_result_follows_failure_policy() -> None:
    (violation,) = evaluate([workload("Deployment")], _user_policy("object.metadata.name"))
    assert "must evaluate to a bool" in violation.message


def test_kubernetes_string_and_list_functions_are_available() -> None:
    expression = (
        "object.metadata.name.split('-').join('/') == 'a/b' && 'AB'.lowerAscii() == 'ab'"
        " && [1, 2].sum() == 3 && object.metadata.name.indexOf('b') == 2"
    )
    obj = workload("Deployment", name="a-b")
    assert evaluate([obj], _user_policy(expression)) == []


def test_policy_without_binding_is_not_enforced() -> None:
    policy = _user_policy("false")[:1]
    assert evaluate([workload("Deployment")], policy) == []


def test_unsupported_kyverno_validation_is_an_error() -> None:
    policy = load_policies(POLICIES / "team-label.yml")[0]
    policy = copy.deepcopy(policy)
    policy["spec"]["rules"][0]["validate"] = {"manifests": {"attestors": []}, "message": "x"}
    with pytest.raises(
        PolicyError, match=r"'service-team-label' rule 'check-team': validate.manifests"
    ):
        evaluate([workload("Pod")], [policy])


def test_non_policy_file_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    with pytest.raises(InputError, match=r"x.yaml: document 1: expected a .* got ConfigMap"):
        load_policies(tmp_path)


def test_missing_policy_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such policy file or directory"):
        load_policies(tmp_path / "nope")


def test_violation_key_is_a_resource_key() -> None:
    obj = workload("Pod")
    _drop_label(obj)
    (violation,) = evaluate([*guardrails("vap"), obj])
    assert violation.key == ResourceKey("", "v1", "Pod", "llm", "engine")


def test_kyverno_reports_the_path_inside_the_controller() -> None:
    obj = workload("CronJob")
    _container_of(obj)["image"] = "ghcr.io/vllm/vllm-openai:latest"
    (violation,) = evaluate([*guardrails("kyverno"), obj])
    assert violation.message.endswith(
        "(rule failed at path /spec/jobTemplate/spec/template/spec/containers/0/image/)"
    )


def test_undeclared_variable_is_a_compile_error() -> None:
    with pytest.raises(PolicyError, match=r"undeclared reference to 'spec'"):
        evaluate([workload("Deployment")], _user_policy("spec.replicas > 1"))


def test_type_names_compile() -> None:
    policies = _user_policy("type(object.metadata.name) == string")
    assert evaluate([workload("Deployment")], policies) == []


@pytest.mark.parametrize(
    ("expression", "violations"),
    [
        ("object.spec.?nope.orValue(5) == 5", 0),  # absent field: the default
        ("object.spec.?template.hasValue()", 0),  # present field
        ("object.metadata.?labels[?'absent'].orValue('') != ''", 1),
        ("object.spec.?template.spec.containers[0].name == 'engine'", 1),  # a.?b.c chains
    ],
)
def test_optional_field_syntax_evaluates_as_kubernetes_cel(
    expression: str, violations: int
) -> None:
    assert len(evaluate([workload("Deployment")], _user_policy(expression))) == violations


def _with_match_condition(expression: str) -> list[Manifest]:
    policies = _user_policy("false")
    policies[0]["spec"]["matchConditions"] = [{"name": "only-gpu", "expression": expression}]
    return policies


def test_false_match_condition_skips_the_policy() -> None:
    policies = _with_match_condition("object.metadata.name == 'other'")
    assert evaluate([workload("Deployment")], policies) == []


def test_true_match_condition_applies_the_policy() -> None:
    policies = _with_match_condition("object.metadata.name == 'engine'")
    assert [v.rule for v in evaluate([workload("Deployment")], policies)] == ["validations[0]"]


def test_failing_match_condition_follows_failure_policy() -> None:
    (violation,) = evaluate([workload("Deployment")], _with_match_condition("object.nope"))
    assert violation.rule == "matchConditions[only-gpu]"
    assert "resulted in error" in violation.message


def test_object_selector_limits_the_binding() -> None:
    policies = _user_policy("false")
    policies[1]["spec"]["matchResources"] = {"objectSelector": {"matchLabels": {"tier": "gpu"}}}
    labelled = workload("Deployment", name="labelled")
    labelled["metadata"]["labels"] = {"tier": "gpu"}
    violations = evaluate([workload("Deployment"), labelled], policies)
    assert [v.key.name for v in violations] == ["labelled"]


@pytest.mark.parametrize("engine", ENGINES)
def test_replica_sets_are_left_to_their_pods_by_both_engines(engine: str) -> None:
    obj = workload("Deployment")
    obj["kind"] = "ReplicaSet"
    _container_of(obj)["image"] = "docker.io/x:latest"
    assert evaluate([*guardrails(engine), obj]) == []


@pytest.mark.parametrize(
    ("resource", "pattern", "passes"),
    [
        ({"a": 1}, {"=(b)": "x"}, True),  # equality anchor: absent is fine
        ({"b": "y"}, {"=(b)": "x"}, False),  # ... present must match
        ({"b": "y"}, {"X(b)": "null"}, False),  # negation anchor: must be absent
        ({"a": "1"}, {"(b)": "x", "a": "2"}, True),  # conditional anchor unmet: skipped
        ({"b": "x", "a": "1"}, {"(b)": "x", "a": "2"}, False),  # ... met: checked
        ({"image": "ghcr.io/x:1"}, {"image": "quay.io/* | ghcr.io/*"}, True),
        ({"image": "ghcr.io/x:latest"}, {"image": "!*:latest"}, False),
        ({"memory": "2Gi"}, {"memory": ">1Gi"}, True),
        ({"memory": "512Mi"}, {"memory": ">=1Gi"}, False),
        ({"cpu": 2}, {"cpu": "?*"}, True),
        ({"cpu": ""}, {"cpu": "?*"}, False),
        ({"c": [{"n": "a"}, {"n": "b"}]}, {"c": [{"n": "?*"}]}, True),
        ({"c": [{"n": "a"}, {}]}, {"c": [{"n": "?*"}]}, False),
    ],
)
def test_kyverno_pattern_semantics(resource: Any, pattern: Any, passes: bool) -> None:
    outcome = match(resource, pattern)
    assert (outcome is None or outcome[0] == "skip") is passes


@pytest.mark.parametrize(
    ("key", "operator", "value", "holds"),
    [
        ("a", "AnyIn", ["a", "b"], True),
        (["a", "z"], "AllIn", ["a", "b"], False),
        (["a", "z"], "AnyNotIn", ["a", "b"], True),
        (["z"], "AllNotIn", ["a", "b"], True),
        ("ghcr.io/x", "Equals", "ghcr.io/*", True),
        ("3", "GreaterThan", 2, True),
        ("1Gi", "LessThanOrEquals", "1024Mi", True),
        ("{{ request.object.n }}", "Equals", 5, True),
    ],
)
def test_kyverno_condition_operators(key: Any, operator: str, value: Any, holds: bool) -> None:
    context = {"request": {"object": {"n": 5}}}
    condition = {"key": key, "operator": operator, "value": value}
    assert condition_holds(condition, context) is holds


def test_unknown_kyverno_operator_is_an_error() -> None:
    with pytest.raises(PolicyError, match=r"operator must be one of .* got 'Near'"):
        condition_holds({"key": 1, "operator": "Near", "value": 1}, {})
