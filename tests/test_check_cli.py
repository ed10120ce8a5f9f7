"""Tests for ``gitops check``: exit codes and output for files and for the embedded example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops.cli.main import main
from gitops.constructs.base import Scope
from gitops.constructs.guardrails import ClusterGuardrails
from gitops.core.keys import Manifest
from gitops.core.yaml_io import dump_yaml

POLICIES = Path(__file__).parent / "policies"


def _deployment(image: str, replicas: int = 1) -> Manifest:
    container = {
        "name": "engine",
        "image": image,
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "engine", "namespace": "llm"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "engine"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "engine"}},
                "spec": {"containers": [container]},
            },
        },
    }


def _write(tmp_path: Path, image: str, action: str = "Deny", replicas: int = 1) -> Path:
    scope = Scope()
    ClusterGuardrails(scope, "platform", action=action)
    path = tmp_path / "manifests.yaml"
    path.write_text(dump_yaml([*scope.synth(), _deployment(image, replicas)]))
    return path


def test_compliant_manifests_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "-f", str(_write(tmp_path, "ghcr.io/vllm:v1"))])
    assert code == 0
    assert capsys.readouterr().out.strip() == "check passed: 0 violation(s) in given manifests"


def test_denied_object_exits_one_and_prints_the_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "-f", str(_write(tmp_path, "ghcr.io/vllm:latest"))])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert lines == [
        "Deny Deployment llm/engine: gitops-disallow-latest-tag/validations[1]: using the "
        "mutable image tag 'latest' is not allowed (unknown source)",
        "check denied: 1 violation(s) in given manifests",
    ]


def test_warnings_are_printed_but_exit_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "-f", str(_write(tmp_path, "ghcr.io/vllm:latest", action="Warn"))])
    assert code == 0
    assert capsys.readouterr().out.startswith("Warn Deployment llm/engine: ")


def test_json_output_lists_violations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "-f", str(_write(tmp_path, "ghcr.io/vllm")), "-o", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert document["denied"] is True
    assert [(v["policy"], v["action"], v["namespace"]) for v in document["violations"]] == [
        ("gitops-disallow-latest-tag", "Deny", "llm")
    ]


def test_extra_policies_are_enforced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifests = _write(tmp_path, "ghcr.io/vllm:v1", replicas=9)
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "llm", "labels": {"gitops.dev/tier": "serving"}},
    }
    manifests.write_text(manifests.read_text() + "---\n" + dump_yaml([namespace]))
    code = main(["check", "-f", str(manifests), "--policies", str(POLICIES)])
    out = capsys.readouterr().out
    assert code == 1
    assert "max-replicas/validations[0]: replicas must be at most 4, got 9" in out


def test_missing_path_is_an_error_exit_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "-f", str(tmp_path / "nope.yaml")])
    assert code == 2
    assert capsys.readouterr().err.startswith("gitops check: error: ")


def test_broken_policy_is_an_error_exit_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = (POLICIES / "max-replicas.yaml").read_text().replace('<= 4"', '<="', 1)
    (tmp_path / "broken.yaml").write_text(broken)
    code = main(["check", "-f", str(_write(tmp_path, "ghcr.io/vllm:v1")), "--policies",
                 str(tmp_path / "broken.yaml")])  # fmt: skip
    assert code == 2
    assert "ValidatingAdmissionPolicy 'max-replicas'" in capsys.readouterr().err


def test_embedded_example_renders_and_passes(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "check",
            "--blueprints",
            str(project_root / "blueprints"),
            "--environments",
            str(project_root / "environments"),
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.strip().startswith("check passed: 0 violation(s) in dev")


def _kyverno_policy(tmp_path: Path, name: str, deny_name: str) -> Path:
    policy = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": name},
        "spec": {
            "validationFailureAction": "Enforce",
            "rules": [{
                "name": "no-" + deny_name,
                "match": {"any": [{"resources": {"kinds": ["Deployment"]}}]},
                "context": [{"name": "cfg", "configMap": {"name": "c", "namespace": "n"}}],
                "validate": {"message": "denied", "deny": {"conditions": {"any": [
                    {"key": "{{ request.object.metadata.name }}", "operator": "Equals",
                     "value": "{{ cfg.data.forbidden }}"}]}}},
            }],
        },
    }  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump_yaml([policy]))
    return path


def test_several_filenames_and_policies_are_all_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "one.yaml").write_text(dump_yaml([_deployment("ghcr.io/x:1")]))
    other = _deployment("ghcr.io/x:1")
    other["metadata"]["name"] = "other"
    (second / "two.yaml").write_text(dump_yaml([other]))
    values = tmp_path / "values.yaml"
    values.write_text("globalValues:\n  cfg.data.forbidden: other\n")
    code = main(["check", "-f", str(first), "-f", str(second),
                 "--policies", str(_kyverno_policy(tmp_path, "p1", "a")),
                 "--policies", str(_kyverno_policy(tmp_path, "p2", "b")),
                 "--values", str(values), "--report", "-o", "json"])  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert sorted((v["name"], v["policy"]) for v in document["violations"]) == [
        ("other", "p1"), ("other", "p2")]  # fmt: skip
    assert sorted((r["name"], r["policy"], r["result"]) for r in document["results"]) == [
        ("engine", "p1", "pass"), ("engine", "p2", "pass"),
        ("other", "p1", "fail"), ("other", "p2", "fail")]  # fmt: skip


def test_an_object_in_two_filenames_is_an_error_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(dump_yaml([_deployment("ghcr.io/x:1")]))
    code = main(["check", "-f", str(tmp_path / "a.yaml"), "-f", str(tmp_path / "b.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "b.yaml" in err and "already defined in" in err and "a.yaml" in err
    assert len(err.strip().splitlines()) == 1


def test_a_policy_needing_the_cluster_is_refused_without_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifests = tmp_path / "m.yaml"
    manifests.write_text(dump_yaml([_deployment("ghcr.io/x:1")]))
    code = main(["check", "-f", str(manifests), "--policies",
                 str(_kyverno_policy(tmp_path, "p1", "a"))])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "ClusterPolicy 'p1' rule 'no-a': context entry 'cfg' (configMap)" in err


def test_report_lists_passes_in_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifests = tmp_path / "m.yaml"
    manifests.write_text(dump_yaml([_deployment("ghcr.io/x:1")]))
    values = tmp_path / "values.yaml"
    values.write_text("globalValues:\n  cfg.data.forbidden: other\n")
    code = main(["check", "-f", str(manifests), "--values", str(values), "--report",
                 "--policies", str(_kyverno_policy(tmp_path, "p1", "a"))])  # fmt: skip
    assert code == 0
    assert "pass Deployment llm/engine: p1/no-a" in capsys.readouterr().out


def test_a_malformed_values_file_is_an_error_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifests = tmp_path / "m.yaml"
    manifests.write_text(dump_yaml([_deployment("ghcr.io/x:1")]))
    values = tmp_path / "values.yaml"
    values.write_text("policies: {name: x}\n")
    code = main(["check", "-f", str(manifests), "--values", str(values)])
    assert code == 2
    assert "values.yaml: policies: expected a list, got dict" in capsys.readouterr().err


FLEET = """\
name: edge
namespaces: [apps]
guardrails: {engine: vap, action: Deny, allowed_registries: [registry.example.com/]}
network: {internet_egress: true}
quotas: {gpu: 8}
clusters:
  - {name: c1, server: "https://c1.example.com"}
  - {name: c2, server: "https://c2.example.com"}
  - {name: c3, server: "https://c3.example.com", overrides: {chat: {replicas: 9}}}
"""
CHAT = """\
kind: InferenceStack
name: chat
model: org/chat-8B
image: registry.example.com/vllm/vllm-openai:v0.8.5
gpus: 1
cpu: '4'
memory: 32Gi
"""


def test_each_cluster_of_a_fleet_gets_its_own_outcome_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "blueprints").mkdir()
    (tmp_path / "blueprints" / "chat.yaml").write_text(CHAT)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "edge.yaml").write_text(FLEET)
    args = ["check", "--blueprints", str(tmp_path / "blueprints"),
            "--environments", str(tmp_path / "environments"), "-o", "json"]  # fmt: skip
    assert main(args) == 1  # c3's 9 GPUs exceed the quota of 8
    document = json.loads(capsys.readouterr().out)
    found = sorted((v["environment"], v["rule"], v["action"]) for v in document["violations"])
    egress = "internet-egress-in-strict-environment"
    assert found == [
        ("edge/c1", egress, "Warn"),
        ("edge/c2", egress, "Warn"),
        ("edge/c3", "gpu-quota-at-max-replicas", "Warn"),
        ("edge/c3", "gpu-quota-at-min-replicas", "Deny"),
        ("edge/c3", egress, "Warn"),
    ]
