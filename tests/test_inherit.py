"""Tests for environment inheritance (``extends``, ``abstract``) and fleets (``clusters``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.core.errors import InputError, ValidationError
from gitops.inputs.environments import load_environments, select_environments
from gitops.inputs.inherit import merge

BASE = """\
name: prod-base
abstract: true
namespaces: [inference]
guardrails: {engine: kyverno, action: Deny, allowed_registries: [registry.example.com/]}
quotas: {gpu: 48, cpu: "512"}
overrides:
  llama: {replicas: 3, gpu_product: NVIDIA-H100-80GB-HBM3}
"""

FLEET = """\
name: prod
extends: prod-base
clusters:
  - name: us-east-1
    server: https://us-east-1.example.com:6443
    labels: {region: us-east}
  - name: eu-west-1
    server: https://eu-west-1.example.com:6443
    labels: {region: eu-west}
    quotas: {gpu: 16}
    overrides:
      llama: {gpu_product: NVIDIA-A100-SXM4-80GB}
"""


def project(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "environments"
    directory.mkdir()
    for stem, text in files.items():
        (directory / f"{stem.replace('_', '-')}.yaml").write_text(text)
    return directory


def test_merge_merges_mappings_and_replaces_lists_and_scalars() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": [1]}
    child = {"a": {"y": [3]}, "c": [2], "d": 4}
    assert merge(base, child) == {"a": {"x": 1, "y": [3]}, "b": 1, "c": [2], "d": 4}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": [1]}  # inputs untouched


def test_a_fleet_is_one_environment_per_cluster_with_its_values_merged(tmp_path: Path) -> None:
    envs = load_environments(project(tmp_path, prod_base=BASE, prod=FLEET))
    assert [e.target for e in envs] == ["prod/eu-west-1", "prod/us-east-1"]  # base not rendered
    eu, us = envs
    assert {e.name for e in envs} == {"prod"} and all(e.fleet for e in envs)
    assert (eu.gpu_quota, us.gpu_quota) == (16, 48)
    assert (eu.cpu_quota, us.cpu_quota) == ("512", "512")  # inherited by both
    assert dict(eu.overrides["llama"]) == {"replicas": 3, "gpu_product": "NVIDIA-A100-SXM4-80GB"}
    assert dict(us.overrides["llama"]) == {"replicas": 3, "gpu_product": "NVIDIA-H100-80GB-HBM3"}
    assert dict(eu.cluster.labels) == {"region": "eu-west"}
    assert eu.engine == "kyverno" and eu.namespaces == ("inference",)


def test_env_selection_takes_a_fleet_or_one_of_its_clusters(tmp_path: Path) -> None:
    envs = load_environments(project(tmp_path, prod_base=BASE, prod=FLEET))
    assert [e.target for e in select_environments(envs, ["prod"])] == [
        "prod/eu-west-1",
        "prod/us-east-1",
    ]
    assert [e.target for e in select_environments(envs, ["prod/us-east-1"])] == ["prod/us-east-1"]
    with pytest.raises(InputError, match=r"--env prod/us-east-2: .*did you mean 'prod/us-east-1'"):
        select_environments(envs, ["prod/us-east-2"])


def test_a_chain_of_extends_applies_in_order(tmp_path: Path) -> None:
    staging = "name: staging\nextends: prod\ncluster: {name: s, context: staging}\n"
    staging += "guardrails: {action: Warn}\n"
    prod = "name: prod\nextends: prod-base\ncluster: {name: p, server: https://p.example.com}\n"
    envs = load_environments(project(tmp_path, prod_base=BASE, prod=prod, staging=staging))
    by_name = {e.name: e for e in envs}
    assert (by_name["staging"].action, by_name["staging"].engine) == ("Warn", "kyverno")
    assert by_name["staging"].cluster.context == "staging"
    assert by_name["staging"].cluster.server == ""
    assert by_name["prod"].action == "Deny"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"prod": "name: prod\nextends: prod-bse\n"},
            r"prod\.yaml: extends 'prod-bse': no such environment in the directory "
            r"\(did you mean 'prod-base'\?\)",
        ),
        (
            {
                "a": "name: a\nextends: b\n",
                "b": "name: b\nextends: a\n",
            },
            r"b\.yaml: extends forms a cycle: a -> b -> a",
        ),
        ({"prod": "name: prod\nextends: [prod-base]\n"}, r"extends must name another"),
        (
            {"prod": FLEET.replace("    labels: {region: us-east}\n", "    label: {}\n")},
            r"prod\.yaml: unknown key 'label' in clusters\[0\] \(did you mean 'labels'\?\)",
        ),
        (
            {"prod": FLEET.replace("eu-west-1\n", "us-east-1\n", 1)},
            r"clusters\[1\]\.name 'us-east-1' is listed twice",
        ),
        (
            {"prod": FLEET.replace("    server: https://us-east-1.example.com:6443\n", "")},
            r"clusters\[0\]: cluster 'us-east-1' needs server .* or context",
        ),
        (
            {"prod": FLEET.replace("quotas: {gpu: 16}", "quotas: {gpu: lots}")},
            r"prod\.yaml: clusters\[1\]: quotas\.gpu must be an integer >= 0, got 'lots'",
        ),
        (
            {"prod_base": BASE.replace("action: Deny", "action: Block")},
            r"prod-base\.yaml: guardrails\.action must be one of Deny, Warn, Audit",
        ),
    ],
    ids=[
        "missing-parent",
        "cycle",
        "not-a-name",
        "cluster-key-typo",
        "duplicate-cluster",
        "no-server-or-context",
        "bad-cluster-quota",
        "abstract-validated",
    ],
)
def test_bad_inheritance_is_one_error_naming_the_file(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    all_files = {"prod_base": BASE, "prod": FLEET, **files}
    with pytest.raises((ValidationError, InputError), match=expected):
        load_environments(project(tmp_path, **all_files))


def test_override_keys_are_the_stack_parameters_with_a_suggestion(tmp_path: Path) -> None:
    text = BASE.replace("replicas: 3", "max_model_length: 4096")
    with pytest.raises(
        ValidationError,
        match=r"unknown key 'max_model_length' in overrides\.llama \(did you mean 'max_model_len'",
    ):
        load_environments(project(tmp_path, prod_base=text, prod=FLEET))
