"""Tests for ``gitops set image|model``: in-place edits that keep the file, or refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops.cli.main import main

PROD = """\
# Production: guardrails deny.   (a comment that must survive)
name: prod
cluster:
  name: prod-gpu            # the cluster
  server: https://prod-gpu.k8s.example.com:6443
namespaces: [inference]
guardrails:
  engine: vap
  action: Deny
  allowed_registries: [registry.example.com/]
overrides:
  llama:
    replicas: 3             # three replicas
    autoscaling: {min_replicas: 3, max_replicas: 12}
"""

FLEET = """\
name: edge
extends: prod
clusters:
  - name: us-east-1
    server: https://us-east-1.example.com:6443
  # eu runs its own model revision
  - name: eu-west-1
    server: https://eu-west-1.example.com:6443
"""

BLUEPRINT = """\
kind: InferenceStack
name: llama
model: meta-llama/Llama-3.1-8B-Instruct
image: registry.example.com/vllm/vllm-openai:v0.6.3
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "blueprints").mkdir()
    (tmp_path / "blueprints" / "llama.yaml").write_text(BLUEPRINT)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "prod.yaml").write_text(PROD)
    (tmp_path / "environments" / "edge.yaml").write_text(FLEET)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def deployment(capsys: pytest.CaptureFixture[str], env: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["build", "--env", env]) == 0
    documents = yaml.safe_load_all(capsys.readouterr().out)
    return next(d for d in documents if d["kind"] in ("Deployment", "StatefulSet"))


def test_set_image_changes_one_line_and_keeps_comments_and_order(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["set", "image", "llama=v0.7.0", "--env", "prod"]) == 0
    out = capsys.readouterr().out
    assert (
        out.strip() == f"{work}/environments/prod.yaml: overrides.llama.image_tag: None -> 'v0.7.0'"
    )
    text = (work / "environments" / "prod.yaml").read_text()
    assert text == PROD + "    image_tag: v0.7.0\n"
    image = deployment(capsys, "prod")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/vllm/vllm-openai:v0.7.0"


def test_set_model_for_one_cluster_of_a_fleet_pins_only_that_cluster(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["set", "model", "llama=0e9e39f", "--env", "edge/eu-west-1"]) == 0
    text = (work / "environments" / "edge.yaml").read_text()
    assert text == FLEET + "    overrides:\n      llama:\n        model_revision: 0e9e39f\n"
    eu = deployment(capsys, "edge/eu-west-1")["spec"]["template"]["spec"]["containers"][0]
    us = deployment(capsys, "edge/us-east-1")["spec"]["template"]["spec"]["containers"][0]
    assert eu["args"][eu["args"].index("--revision") + 1] == "0e9e39f"
    assert "--revision" not in us["args"]


def test_setting_the_same_value_again_leaves_the_file_byte_for_byte(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["set", "image", "llama=v0.7.0", "--env", "prod"]) == 0
    before = (work / "environments" / "prod.yaml").read_bytes()
    assert main(["set", "image", "llama=v0.7.0", "--env", "prod"]) == 0
    assert "is already 'v0.7.0': unchanged" in capsys.readouterr().out
    assert (work / "environments" / "prod.yaml").read_bytes() == before


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["set", "image", "lama=v1", "--env", "prod"],
            "overrides.lama: no construct with this id in the blueprints (did you mean 'llama'?)",
        ),
        (
            ["set", "image", "llama=bad:tag", "--env", "prod"],
            "prod.yaml: overrides.llama: InferenceStack 'llama': image_tag must be",
        ),
        (
            ["set", "model", "llama=../etc", "--env", "prod"],
            "model_revision must be a commit hash, branch or tag",
        ),
        (["set", "image", "llama", "--env", "prod"], "expected STACK=VALUE, got 'llama'"),
        (["set", "image", "llama=v1", "--env", "prd"], "(did you mean 'prod'?)"),
        (
            ["set", "image", "llama=v1", "--env", "edge/eu-west-2"],
            "cluster 'eu-west-2' is not in clusters (did you mean 'eu-west-1'?)",
        ),
    ],
    ids=["unknown-stack", "bad-tag", "bad-revision", "no-equals", "env-typo", "cluster-typo"],
)
def test_refused_edits_are_one_line_and_leave_the_files_as_they_were(
    work: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    before = {p.name: p.read_bytes() for p in (work / "environments").iterdir()}
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("gitops set: error: ") and len(err.strip().splitlines()) == 1
    assert expected in err
    after = {p.name: p.read_bytes() for p in (work / "environments").iterdir()}
    assert after == before  # no temporary file left either


def test_set_works_from_a_subdirectory_of_the_project(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(work / "blueprints")
    assert main(["set", "image", "llama=v0.7.1", "--env", "prod"]) == 0
    assert "image_tag: v0.7.1" in (work / "environments" / "prod.yaml").read_text()
