"""The namespace fence, and warnings about openings a strict environment should review."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitops.core.errors import RenderError
from gitops.inputs.environments import load_environments
from gitops.render.exposure import exposure_warnings
from gitops.render.pipeline import render_environments
from gitops.workflows.render import render_to_repo

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


def test_an_endpoint_picker_without_api_server_egress_is_a_warning(example: Path) -> None:
    staging = example / "environments" / "staging.yaml"
    text = staging.read_text()
    staging.write_text("\n".join(x for x in text.splitlines() if "api_server:" not in x) + "\n")
    rendered = render_environments(example / "blueprints", example / "environments")
    envs = {env.name: env for env in load_environments(example / "environments")}
    warnings = exposure_warnings(envs["staging"], rendered["staging"])
    assert sorted(w.key.name for w in warnings) == ["qwen-coder-epp", "qwen-coder-next-epp"]
    assert all(w.rule == "api-server-egress-missing" and w.action == "Warn" for w in warnings)
    assert "sets no network.api_server" in warnings[0].message
    assert exposure_warnings(envs["prod"], rendered["prod"]) == []  # prod allows it


def test_check_prints_the_warnings_and_still_passes(example: Path) -> None:
    import subprocess
    import sys

    prod = example / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("network:\n", "network:\n  internet_egress: true\n"))
    code = "import sys; from gitops.cli.main import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "check", "--blueprints", str(example / "blueprints"),
         "--environments", str(example / "environments")],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "prod: Warn NetworkPolicy inference/gitops-allow-internet-egress: "
        "gitops-network/internet-egress-in-strict-environment: every pod of namespace inference"
    ) in result.stdout
