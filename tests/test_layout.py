"""Tests for the repository layout: stable safe paths, sync waves, Argo CD and Flux objects."""

from __future__ import annotations

from typing import Any

import pytest
from k8s_schemas import validate

from gitops.core.errors import RenderError
from gitops.core.keys import ResourceKey
from gitops.core.paths import describe_changes, environment_of
from gitops.inputs.environments import Cluster, Environment
from gitops.render.layout import (
    GUARDRAILS,
    WORKLOADS,
    argocd_objects,
    environment_dir,
    flux_objects,
    object_path,
    sync_wave,
    with_sync_wave,
)

ENV = Environment(
    name="prod",
    cluster=Cluster("prod-gpu", "https://prod.example.com:6443"),
    namespaces=("inference",),
)


def obj(kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata}


def test_namespaced_object_path_uses_layer_namespace_kind_and_name() -> None:
    path = object_path("prod", WORKLOADS, obj("Deployment", "llama", "inference"))
    assert path == "envs/prod/workloads/inference/deployment-llama.yaml"


def test_cluster_scoped_object_goes_under_cluster_dir() -> None:
    path = object_path("prod", GUARDRAILS, obj("Namespace", "inference"))
    assert path == "envs/prod/guardrails/_cluster/namespace-inference.yaml"


def test_environment_dir_is_under_envs() -> None:
    assert environment_dir("dev") == "envs/dev"
    assert environment_of("envs/dev/workloads/x/y.yaml") == "dev"
    assert environment_of("argocd/application-dev.yaml") == "dev"
    assert environment_of("argocd/kustomization.yaml") is None


@pytest.mark.parametrize(
    ("name", "namespace"),
    [("..", None), ("a/b", None), (".git", None), ("/etc", None), ("ok", ".."), ("ok", ".git")],
)
def test_names_escaping_the_output_directory_are_refused(name: str, namespace: str | None) -> None:
    with pytest.raises(RenderError, match=r"is not a DNS-1123 subdomain and cannot name a file"):
        object_path("prod", WORKLOADS, obj("ConfigMap", name, namespace))


def test_kind_that_is_not_a_word_is_refused() -> None:
    with pytest.raises(RenderError, match=r"kind '\.\./x' cannot name a file"):
        object_path("prod", WORKLOADS, obj("../x", "ok"))


def test_sync_waves_order_crds_namespaces_guardrails_then_workloads() -> None:
    waves = [
        sync_wave(WORKLOADS, "CustomResourceDefinition"),
        sync_wave(GUARDRAILS, "Namespace"),
        sync_wave(GUARDRAILS, "ValidatingAdmissionPolicy"),
        sync_wave(GUARDRAILS, "ValidatingAdmissionPolicyBinding"),
        sync_wave(GUARDRAILS, "NetworkPolicy"),
        sync_wave(WORKLOADS, "Service"),
        sync_wave(WORKLOADS, "Deployment"),
        sync_wave(WORKLOADS, "HorizontalPodAutoscaler"),
    ]
    assert waves == sorted(waves)
    assert max(waves[:5]) < 0 <= min(waves[5:])


def test_with_sync_wave_copies_and_leaves_input_untouched() -> None:
    original = obj("Deployment", "llama", "inference")
    stamped = with_sync_wave(original, WORKLOADS)
    assert stamped["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "9"
    assert "annotations" not in original["metadata"]


def test_argocd_objects_are_valid_and_scoped_to_the_environment() -> None:
    keys = [
        ResourceKey("", "v1", "Namespace", "", "inference"),
        ResourceKey("apps", "v1", "Deployment", "inference", "llama"),
    ]
    project, application = argocd_objects(ENV, keys)
    validate(project)
    validate(application)
    assert project["spec"]["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    assert project["spec"]["destinations"][0]["server"] == "https://prod.example.com:6443"
    assert application["spec"]["source"]["path"] == "envs/prod"
    assert application["spec"]["syncPolicy"]["automated"]["prune"] is True


def test_flux_workloads_depend_on_guardrails_and_prune() -> None:
    guardrails, workloads = flux_objects(ENV, [GUARDRAILS, WORKLOADS])
    validate(guardrails)
    validate(workloads)
    assert guardrails["spec"]["path"] == "./envs/prod/guardrails"
    assert workloads["spec"]["dependsOn"] == [{"name": "prod-guardrails"}]
    assert "dependsOn" not in guardrails["spec"]
    assert guardrails["spec"]["prune"] is workloads["spec"]["prune"] is True


def test_describe_changes_groups_paths_per_environment() -> None:
    lines = describe_changes(
        ["envs/dev/workloads/a/deployment-x.yaml"],
        ["envs/prod/workloads/a/service-x.yaml"],
        ["envs/dev/workloads/a/service-y.yaml"],
    )
    assert lines == [
        "dev: 1 added, 0 changed, 1 removed",
        "  + envs/dev/workloads/a/deployment-x.yaml",
        "  - envs/dev/workloads/a/service-y.yaml",
        "prod: 0 added, 1 changed, 0 removed",
        "  ~ envs/prod/workloads/a/service-x.yaml",
    ]
