"""The namespace fence, and warnings about openings a strict environment should review."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitops.environments import load_environments
from gitops.errors import RenderError
from gitops.exposure import exposure_warnings
from gitops.render import render_environments, render_to_repo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    for name in ("blueprints", "environments"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def test_a_stack_outside_the_environments_namespaces_is_refused(
    example: Path, tmp_path: Path
) -> None:
    spec = example / "blueprints" / "embeddings.yaml"
    spec.write_text(spec.read_text() + "namespace: batch\n")
    repo = tmp_path / "repo"
    with pytest.raises(RenderError) as caught:
        render_to_repo(example / "blueprints", example / "environments", repo)
    message = str(caught.value)
    assert "embeddings.yaml: environment dev: " in message
    assert "InferenceService batch/bge-embed" in message or "batch/bge-embed" in message
    assert (
        "namespace must be one of the environment's namespaces (inference), got 'batch'" in message
    )
    assert "environments/dev.yaml so it gets its quota" in message
    assert not (repo / ".git").exists()


def test_listing_the_namespace_fences_it_like_the_others(example: Path) -> None:
    spec = example / "blueprints" / "embeddings.yaml"
    spec.write_text(spec.read_text() + "namespace: batch\n")
    for name in ("dev", "staging", "prod"):
        env = example / "environments" / f"{name}.yaml"
        env.write_text(
            env.read_text().replace("namespaces: [inference]", "namespaces: [inference, batch]")
        )
    rendered = render_environments(example / "blueprints", example / "environments")
    kinds = {
        (o["kind"], o["metadata"]["name"])
        for o in rendered["prod"]
        if o["metadata"].get("namespace") == "batch" or o["metadata"]["name"] == "batch"
    }
    assert {
        ("Namespace", "batch"),
        ("ResourceQuota", "gitops-quota"),
        ("NetworkPolicy", "gitops-default-deny"),
        ("InferenceService", "bge-embed"),
    } <= kinds


def test_internet_egress_is_a_warning_in_strict_environments_only(example: Path) -> None:
    for name in ("dev", "prod"):
        env = example / "environments" / f"{name}.yaml"
        text = env.read_text().replace("  internet_egress: true\n", "")
        env.write_text(text.replace("network:\n", "network:\n  internet_egress: true\n"))
    rendered = render_environments(example / "blueprints", example / "environments")
    envs = {env.name: env for env in load_environments(example / "environments")}
    assert exposure_warnings(envs["dev"], rendered["dev"]) == []  # Audit: not strict
    (warning,) = exposure_warnings(envs["prod"], rendered["prod"])
    assert warning.action == "Warn" and warning.key.name == "gitops-allow-internet-egress"
    assert warning.message.startswith(
        "every pod of namespace inference may reach any public address on 443"
    )
    assert exposure_warnings(envs["staging"], rendered["staging"]) == []  # no switch
