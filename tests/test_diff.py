"""Tests for gitops.diff.engine (the pure engine) and gitops.diff.output."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.core.errors import ValidationError
from gitops.core.keys import key_of
from gitops.core.labels import PART_OF_LABEL
from gitops.core.yaml_io import load_yaml
from gitops.diff.engine import (
    DiffReport,
    Ownership,
    Status,
    diff_manifests,
    diff_object,
    listing_plan,
    shown_change,
)
from gitops.diff.output import format_json, format_text
from gitops.inputs.ignore import IgnoreRule, parse_ignore_rules

FIXTURES = Path(__file__).parent / "fixtures" / "diff"
SECRET_VALUE = "hunter2-very-secret"


@pytest.fixture
def desired() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml((FIXTURES / "deployment-desired.yaml").read_text(), "d")
    return doc


@pytest.fixture
def live() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml((FIXTURES / "deployment-live.yaml").read_text(), "l")
    return doc


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return container


def _gitops_fields(obj: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = obj["metadata"]["managedFields"][0]["fieldsV1"]
    return fields


def test_applied_object_with_defaults_managed_fields_and_status_is_in_sync(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    assert diff_object(desired, live).status is Status.IN_SYNC


def test_changed_image_is_modified_with_a_replace_patch(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    _container(live)["image"] = "vllm/vllm-openai:v0.5.0"
    result = diff_object(desired, live)
    assert result.status is Status.MODIFIED
    assert result.patch == (
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": "vllm/vllm-openai:v0.6.3",
        },
    )
    assert "-        image: vllm/vllm-openai:v0.5.0" in result.text
    assert "+        image: vllm/vllm-openai:v0.6.3" in result.text
    key = result.key
    assert result.text.startswith(f"--- live/{key}\n+++ desired/{key}\n")


def test_the_shown_change_names_its_sides_and_masks_secret_values() -> None:
    key = key_of(_SHOWN_SECRET)
    live = {**_SHOWN_SECRET, "data": {"token": "b2xk"}}
    patch, text = shown_change(key, _SHOWN_SECRET, live, _SHOWN_SECRET, "predicted")
    assert text.startswith(f"--- live/{key}\n+++ predicted/{key}\n")
    assert patch == [{"op": "replace", "path": "/data/token", "value": "*** (changed)"}]
    assert "b2xk" not in text and "bmV3" not in text


_SHOWN_SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "s", "namespace": "ns"},
    "data": {"token": "bmV3"},
}


def test_env_var_removed_from_desired_is_detected_through_managed_fields(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    _container(live)["env"].append({"name": "DEBUG", "value": "1"})
    containers = _gitops_fields(live)["f:spec"]["f:template"]["f:spec"]["f:containers"]
    containers['k:{"name":"vllm"}']["f:env"]['k:{"name":"DEBUG"}'] = {".": {}, "f:name": {}}
    result = diff_object(desired, live)
    assert result.status is Status.MODIFIED
    assert result.removed == ("spec.template.spec.containers[vllm].env[name=DEBUG]",)
    assert result.patch == ({"op": "remove", "path": "/spec/template/spec/containers/0/env/1"},)
    text = format_text(DiffReport((result,)))
    assert "  will remove spec.template.spec.containers[vllm].env[name=DEBUG]" in text
    assert json.loads(format_json(DiffReport((result,))))["objects"][0]["removed"] == [
        "spec.template.spec.containers[vllm].env[name=DEBUG]"
    ]


def test_env_var_added_by_someone_else_is_not_drift(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    _container(live)["env"].append({"name": "INJECTED", "value": "1"})
    assert diff_object(desired, live).status is Status.IN_SYNC


def test_equal_quantity_in_another_form_is_not_drift(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    _container(live)["resources"]["requests"].update(cpu="1000m", memory="16384Mi")
    assert diff_object(desired, live).status is Status.IN_SYNC


def test_unequal_quantity_is_drift(desired: dict[str, Any], live: dict[str, Any]) -> None:
    _container(live)["resources"]["requests"]["memory"] = "15Gi"
    result = diff_object(desired, live)
    assert result.status is Status.MODIFIED
    assert result.patch[0]["value"] == "16Gi"


def test_replicas_owned_by_the_autoscaler_are_ignored_by_a_manager_rule(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    live["spec"]["replicas"] = 7
    live["metadata"]["managedFields"].append(
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "scale",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    )
    del _gitops_fields(live)["f:spec"]["f:replicas"]
    assert diff_object(desired, live).status is Status.MODIFIED
    rule = IgnoreRule(managers=("kube-controller-manager",))
    assert diff_object(desired, live, ignore=[rule]).status is Status.IN_SYNC


def test_a_manager_rule_naming_our_own_manager_hides_none_of_our_fields(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    # `--ignore-manager gitops` must not silence drift in what gitops itself applies.
    _container(live)["image"] = "vllm/vllm-openai:v0.5.0"
    rule = IgnoreRule(managers=("gitops",))
    assert diff_object(desired, live, ignore=[rule]).status is Status.MODIFIED


def test_ignore_pointer_applies_only_to_its_kinds(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    live["spec"]["replicas"] = 7
    deployment_rule = IgnoreRule(pointer="/spec/replicas", kinds=("Deployment",))
    other_rule = IgnoreRule(pointer="/spec/replicas", kinds=("StatefulSet",))
    assert diff_object(desired, live, ignore=[deployment_rule]).status is Status.IN_SYNC
    assert diff_object(desired, live, ignore=[other_rule]).status is Status.MODIFIED


def test_ignored_pointer_is_not_reported_as_removed(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    del desired["spec"]["replicas"]
    assert diff_object(desired, live).removed == ("spec.replicas",)
    rule = IgnoreRule(pointer="/spec/replicas")
    assert diff_object(desired, live, ignore=[rule]).status is Status.IN_SYNC


def test_label_added_live_is_not_drift_unless_strict(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    live["metadata"]["labels"]["owner"] = "someone"
    assert diff_object(desired, live).status is Status.IN_SYNC
    strict = diff_object(desired, live, strict=True)
    assert strict.status is Status.MODIFIED
    assert strict.patch == ({"op": "remove", "path": "/metadata/labels/owner"},)


def _secret(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hf-token", "namespace": "inference"},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_secret_change_is_shown_masked_and_never_leaks() -> None:
    desired = {**_secret(), "stringData": {"token": SECRET_VALUE, "same": "x"}}
    del desired["data"]
    live = _secret(token="old-value", same="x")
    live["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(desired)
    }
    report = diff_manifests([desired], [live])
    result = report.objects[0]
    assert result.status is Status.MODIFIED
    assert result.patch == ({"op": "replace", "path": "/data/token", "value": "*** (changed)"},)
    outputs = [format_text(report), format_text(report, color=True), format_json(report)]
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    for output in outputs:
        assert SECRET_VALUE not in output and encoded not in output and "old-value" not in output
    assert "*** (changed)" in outputs[0]


def test_secret_in_strict_mode_masks_last_applied_annotation() -> None:
    desired = _secret(token=SECRET_VALUE)
    desired["metadata"]["annotations"] = {"a": "1"}
    live = copy.deepcopy(desired)
    live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = (
        json.dumps(desired)
    )
    live["metadata"]["annotations"]["team"] = "x"
    report = diff_manifests([desired], [live], strict=True)
    assert report.objects[0].status is Status.MODIFIED
    assert SECRET_VALUE not in format_json(report) + format_text(report)


def test_secret_key_removed_from_applied_string_data_is_drift() -> None:
    desired = {**_secret(), "stringData": {"token": SECRET_VALUE}}
    del desired["data"]
    live = _secret(token=SECRET_VALUE, old="gone-value")
    live["metadata"]["managedFields"] = [
        {
            "manager": "gitops",
            "operation": "Apply",
            "fieldsV1": {"f:stringData": {"f:token": {}, "f:old": {}}},
        }
    ]
    result = diff_object(desired, live)
    assert result.removed == ("data.old",)
    assert "gone-value" not in result.text and "Z29uZS12YWx1ZQ" not in result.text


def test_missing_secret_shows_its_keys_but_not_its_values() -> None:
    desired = {**_secret(), "stringData": {"token": SECRET_VALUE}}
    result = diff_object(desired, None)
    assert result.status is Status.MISSING
    assert "+  token: '***'" in result.text and SECRET_VALUE not in result.text


def test_unchanged_secret_is_in_sync() -> None:
    desired = {**_secret(), "stringData": {"token": SECRET_VALUE}}
    assert diff_object(desired, _secret(token=SECRET_VALUE)).status is Status.IN_SYNC


def _config_map(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "inference", "labels": labels},
        "data": {"a": "1"},
    }


def test_missing_orphaned_and_unowned_objects(desired: dict[str, Any]) -> None:
    ownership = Ownership.for_environment("prod")
    orphan = _config_map("old", **{"app.kubernetes.io/managed-by": "gitops"})
    orphan["metadata"]["annotations"] = {"gitops.dev/environment": "prod"}
    other_env = copy.deepcopy(orphan)
    other_env["metadata"]["name"] = "staging-one"
    other_env["metadata"]["annotations"]["gitops.dev/environment"] = "staging"
    unowned = _config_map("kube-root-ca.crt")
    report = diff_manifests(
        [desired, _config_map("new")], [orphan, other_env, unowned], ownership=ownership
    )
    statuses = {(o.key.name, o.status) for o in report.objects}
    assert statuses == {
        ("llama", Status.MISSING),
        ("new", Status.MISSING),
        ("old", Status.ORPHANED),
    }
    assert report.summary()["missing"] == 2 and report.has_differences


def test_kind_not_served_is_reported_per_object() -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "llama", "namespace": "inference"},
        "spec": {"endpoints": [{"port": "http"}]},
    }
    report = diff_manifests(
        [monitor], [], not_served=[("monitoring.coreos.com", "v1", "ServiceMonitor")]
    )
    assert [o.status for o in report.objects] == [Status.KIND_NOT_SERVED]


def test_namespaced_object_without_namespace_matches_default_namespace() -> None:
    desired = _config_map("x")
    del desired["metadata"]["namespace"]
    live = _config_map("x")
    live["metadata"]["namespace"] = "apps"
    report = diff_manifests([desired], [live], default_namespace="apps")
    assert [o.status for o in report.objects] == [Status.IN_SYNC]


def test_json_output_schema(desired: dict[str, Any], live: dict[str, Any]) -> None:
    _container(live)["image"] = "other"
    data = json.loads(format_json(diff_manifests([desired], [live])))
    assert set(data) == {"objects", "summary"}
    assert data["objects"][0].keys() == {
        "apiVersion",
        "kind",
        "namespace",
        "name",
        "status",
        "patch",
    }
    assert data["summary"] == {
        "in-sync": 0,
        "modified": 1,
        "missing": 0,
        "orphaned": 0,
        "kind-not-served": 0,
    }


def test_text_output_is_colored_only_when_asked(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    _container(live)["image"] = "other"
    report = diff_manifests([desired], [live])
    assert "\x1b[" not in format_text(report)
    assert "\x1b[31m-        image: other" in format_text(report, color=True)


def test_empty_report_is_in_sync() -> None:
    report = DiffReport(())
    assert not report.has_differences
    assert format_text(report).strip() == (
        "0 in-sync, 0 modified, 0 missing, 0 orphaned, 0 kind-not-served"
    )


def test_ignore_rules_parse_from_environment_mapping() -> None:
    rules = parse_ignore_rules(
        {
            "ignore": [
                {"pointer": "/spec/replicas", "kinds": ["Deployment"]},
                {"manager": "horizontal-pod-autoscaler"},
                {"managers": ["kube-controller-manager"]},
            ]
        }
    )
    assert rules == [
        IgnoreRule(pointer="/spec/replicas", kinds=("Deployment",)),
        IgnoreRule(managers=("horizontal-pod-autoscaler",)),
        IgnoreRule(managers=("kube-controller-manager",)),
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"pointer": "spec/replicas"}, r"ignore\[0\]: .*must start with '/'"),
        ({"kinds": ["Deployment"]}, r"ignore\[0\]: .*needs a 'pointer' or a 'manager'"),
        ({"pointer": "/a", "kind": "X"}, r"ignore\[0\]: unknown key\(s\) \['kind'\]"),
        ({"pointer": "/a", "kinds": "Deployment"}, r"ignore\[0\]: 'kinds' must be a list"),
    ],
)
def test_invalid_ignore_rules_are_refused(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_ignore_rules([rule])


def test_desired_object_without_name_is_refused() -> None:
    with pytest.raises(Exception, match=r"desired object #1: ConfigMap: key 'metadata.name'"):
        diff_manifests([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}], [])


def test_diff_output_is_deterministic(desired: dict[str, Any], live: dict[str, Any]) -> None:
    _container(live)["image"] = "other"
    first = format_json(diff_manifests([desired], [live]))
    assert first == format_json(diff_manifests([copy.deepcopy(desired)], [copy.deepcopy(live)]))


_names = st.text("abc", min_size=1, max_size=3)
_values = st.one_of(st.integers(0, 3), st.sampled_from(["1", "1000m", "2Gi", "x", ""]))
_containers = st.lists(
    st.fixed_dictionaries(
        {"name": _names, "image": _names},
        optional={
            "env": st.lists(st.fixed_dictionaries({"name": _names, "value": _names}), max_size=3),
            "resources": st.fixed_dictionaries(
                {"limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), _values)}
            ),
            "args": st.lists(_names, max_size=2),
        },
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda c: c["name"],
)
_deployments = st.builds(
    lambda replicas, labels, containers: {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "n", "labels": labels},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}},
    },
    st.integers(0, 3),
    st.dictionaries(_names, _names, max_size=2),
    _containers,
)


@settings(max_examples=150, deadline=None)
@given(_deployments)
def test_property_a_manifest_diffs_in_sync_with_itself(manifest: dict[str, Any]) -> None:
    result = diff_object(manifest, copy.deepcopy(manifest))
    assert result.status is Status.IN_SYNC and result.patch == ()


@settings(max_examples=150, deadline=None)
@given(_deployments, _deployments)
def test_property_fields_only_the_server_sets_are_never_drift(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    # Status and defaults desired never sets change neither the status nor the patch.
    result = diff_object(desired, live)
    served = copy.deepcopy(live)
    served["status"] = {"replicas": 1, "observedGeneration": 4}
    served["spec"]["progressDeadlineSeconds"] = 600
    for container in served["spec"]["template"]["spec"]["containers"]:
        container["terminationMessagePath"] = "/dev/termination-log"
    again = diff_object(desired, served)
    assert (again.status, again.patch) == (result.status, result.patch)
    assert (result.status is Status.IN_SYNC) == (result.patch == ())
    assert not any("/status" in op["path"] or "terminationMessage" in op["path"]
                   for op in result.patch)  # fmt: skip


def test_listing_plan_selects_by_label_only_when_every_object_carries_it() -> None:
    owned = _config_map("a", **{"app.kubernetes.io/managed-by": "gitops"})
    plan = listing_plan(
        [owned, _secret(), {**_secret(), "metadata": {"name": "b", "namespace": "x"}}],
        Ownership.for_environment("prod"),
        [("", "v1", "ConfigMap"), ("apps", "v1", "Deployment")],
    )
    assert plan == {
        ("", "v1", "ConfigMap"): "app.kubernetes.io/managed-by=gitops",
        ("", "v1", "Secret"): None,
        ("apps", "v1", "Deployment"): "app.kubernetes.io/managed-by=gitops",
    }


def test_ownership_can_be_an_applyset_label() -> None:
    ownership = Ownership(labels={PART_OF_LABEL: "applyset-abc-v1"})
    member = _config_map("a", **{PART_OF_LABEL: "applyset-abc-v1"})
    assert ownership.selector() == "applyset.kubernetes.io/part-of=applyset-abc-v1"
    assert ownership.owns(member) and not ownership.owns(_config_map("b"))


def test_ignore_rule_filters_by_name_and_namespace(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    live["spec"]["replicas"] = 7
    other = IgnoreRule(pointer="/spec/replicas", names=("other",))
    elsewhere = IgnoreRule(pointer="/spec/replicas", namespaces=("elsewhere",))
    this = IgnoreRule(pointer="/spec/replicas", names=("llama",), namespaces=("inference",))
    assert diff_object(desired, live, ignore=[other, elsewhere]).status is Status.MODIFIED
    assert diff_object(desired, live, ignore=[this]).status is Status.IN_SYNC
