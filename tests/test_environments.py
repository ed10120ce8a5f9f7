"""Tests for environment files: the example loads, and every bad input names file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitops.core.errors import InputError, ValidationError
from gitops.inputs.environments import DEFAULT_REPO_URL, load_environment, load_environments

VALID = """\
name: qa
cluster: {name: qa-gpu, server: "https://qa.example.com:6443"}
namespaces: [inference, batch]
"""


def write(tmp_path: Path, text: str, name: str = "qa.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_environments_load_sorted_with_their_actions(project_root: Path) -> None:
    envs = load_environments(project_root / "environments")
    assert [(e.name, e.action) for e in envs] == [
        ("dev", "Audit"),
        ("prod", "Deny"),
        ("staging", "Warn"),
    ]


def test_prod_example_has_gpu_quota_and_more_replicas(project_root: Path) -> None:
    prod = load_environment(project_root / "environments" / "prod.yaml")
    dev = load_environment(project_root / "environments" / "dev.yaml")
    assert prod.gpu_quota is not None and prod.gpu_quota > 0
    assert dev.gpu_quota is None
    prod_max = prod.overrides["llama-8b"]["autoscaling"]["max_replicas"]
    dev_max = dev.overrides["llama-8b"]["autoscaling"]["max_replicas"]
    assert prod_max > dev_max


def test_minimal_environment_gets_documented_defaults(tmp_path: Path) -> None:
    env = load_environment(write(tmp_path, VALID))
    assert env.namespace == "inference"
    assert env.namespaces == ("inference", "batch")
    assert (env.engine, env.action, env.repo_url) == ("vap", "Deny", DEFAULT_REPO_URL)
    assert env.cluster.server == "https://qa.example.com:6443"
    assert dict(env.overrides) == {}


def test_unknown_top_level_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "replica: 3\n")
    with pytest.raises(ValidationError, match=r"qa\.yaml: unknown key 'replica' in environment"):
        load_environment(path)


def test_unknown_override_key_names_stack(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "overrides:\n  llama:\n    replica: 2\n")
    with pytest.raises(ValidationError, match=r"unknown key 'replica' in overrides\.llama"):
        load_environment(path)


def test_unknown_guardrail_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "guardrails: {engine: vap, mode: Deny}\n")
    with pytest.raises(ValidationError, match=r"unknown key 'mode' in guardrails"):
        load_environment(path)


def test_invalid_action_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "guardrails: {action: Block}\n")
    with pytest.raises(ValidationError, match=r"guardrails\.action must be one of .*'Block'"):
        load_environment(path)


def test_name_must_match_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, VALID, name="other.yaml")
    with pytest.raises(ValidationError, match=r"other\.yaml: name must match the file name"):
        load_environment(path)


def test_missing_cluster_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "name: qa\nnamespaces: [a]\n")
    with pytest.raises(ValidationError, match=r"required key 'cluster' is missing"):
        load_environment(path)


def test_cluster_server_must_be_a_url(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('"https://qa.example.com:6443"', "qa.example.com"))
    with pytest.raises(ValidationError, match=r"cluster\.server must be a URL"):
        load_environment(path)


def test_autoscaling_bounds_must_be_ordered(tmp_path: Path) -> None:
    text = VALID + "overrides:\n  llama:\n    autoscaling: {min_replicas: 5, max_replicas: 2}\n"
    with pytest.raises(ValidationError, match=r"min_replicas \(5\) must be <= max_replicas"):
        load_environment(write(tmp_path, text))


def test_gpu_quota_must_be_a_count(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"quotas\.gpu must be an integer >= 0"):
        load_environment(write(tmp_path, VALID + "quotas: {gpu: lots}\n"))


def test_namespace_must_be_a_dns_label(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("[inference, batch]", "[../etc]"))
    with pytest.raises(ValidationError, match=r"namespaces\[0\] must be a DNS-1123 label"):
        load_environment(path)


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: [qa\n")
    with pytest.raises(InputError, match=r"qa\.yaml: line \d+.*invalid YAML"):
        load_environment(path)


def test_directory_without_environments_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no environment files"):
        load_environments(tmp_path)


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="environments directory not found"):
        load_environments(tmp_path / "nope")


def test_diff_ignore_rules_are_parsed(tmp_path: Path) -> None:
    text = VALID + "diff:\n  ignore:\n    - {pointer: /spec/replicas, kinds: [Deployment]}\n"
    env = load_environment(write(tmp_path, text))
    assert [(r.pointer, tuple(r.kinds)) for r in env.diff_ignore] == [
        ("/spec/replicas", ("Deployment",))
    ]


def test_invalid_diff_ignore_rule_names_file_and_key(tmp_path: Path) -> None:
    text = VALID + "diff:\n  ignore:\n    - {pointer: spec/replicas}\n"
    with pytest.raises(ValidationError, match=r"qa\.yaml: diff\.ignore\[0\]"):
        load_environment(write(tmp_path, text))


def test_unknown_diff_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"qa\.yaml: unknown key 'strict' in diff"):
        load_environment(write(tmp_path, VALID + "diff: {strict: true}\n"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("guardrails: {gpu_namespaces: [Inference]}", "guardrails.gpu_namespaces[0]"),
        ("guardrails: {min_startup_seconds: -5}", "guardrails.min_startup_seconds must be"),
        ("guardrails: {gang_scheduling: {schedulers: volcano}}",
         "guardrails.gang_scheduling.schedulers must be a list"),
        ("guardrails: {gang_scheduling: {queue: [a]}}", "unknown key 'queue'"),
        ("promotion: {after: qa}", "promotion.after must name another environment"),
        ("promotion: {before: x}", "unknown key 'before' in promotion"),
    ],
)  # fmt: skip
def test_failure_mode_and_promotion_settings_are_validated(
    tmp_path: Path, extra: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        load_environment(write(tmp_path, VALID + extra + "\n"))


def test_kubernetes_version_must_be_a_quoted_minor_version(tmp_path: Path) -> None:
    text = VALID.replace('6443"}', '6443", kubernetes_version: 1.30}')  # a float: 1.3
    with pytest.raises(ValidationError, match=r"cluster\.kubernetes_version must be a minor"):
        load_environment(write(tmp_path, text))


def test_promotion_after_an_unknown_environment_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, VALID + "promotion: {after: staging}\n")
    with pytest.raises(ValidationError, match=r"promotion\.after: no environment named .staging."):
        load_environments(tmp_path)
