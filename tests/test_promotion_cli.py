"""Promotion order end to end: ``gitops render`` refuses, ``gitops plan`` says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.cli.main import main
from gitops.repo.history import commit_message
from gitops.workflows.promotion import artefacts, check_promotion

STACK = {
    "kind": "InferenceStack",
    "name": "chat",
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "image": "registry.example.com/vllm/vllm-openai:v1",
    "gpus": 1,
    "labels": {"team": "a"},
}


class Workspace:
    """Blueprints, staging and prod (prod after staging), and the rendered repository."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "repo"
        (root / "blueprints").mkdir()
        (root / "blueprints" / "chat.yaml").write_text(yaml.safe_dump(STACK))
        (root / "environments").mkdir()
        self.tags("v1", "v1")

    def tags(self, staging: str, prod: str, *, model: str | None = None) -> None:
        for name, tag in (("staging", staging), ("prod", prod)):
            env: dict[str, Any] = {
                "name": name,
                "cluster": {"name": name, "server": f"https://{name}.example.com"},
                "namespaces": ["inference"],
                "overrides": {"chat": {"image_tag": tag}},
            }
            if name == "prod":
                env["promotion"] = {"after": "staging"}
            (self.root / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(env))
        if model is not None:
            (self.root / "blueprints" / "chat.yaml").write_text(
                yaml.safe_dump({**STACK, "model": model})
            )

    def render(self, *extra: str) -> int:
        return main(
            [
                "render",
                "--blueprints",
                str(self.root / "blueprints"),
                "--environments",
                str(self.root / "environments"),
                "--repo",
                str(self.repo),
                *extra,
            ]
        )

    def head(self, branch: str = "main") -> str:
        return commit_message(self.repo, branch)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A workspace rendered once, with the first render's promotion overridden."""
    space = Workspace(tmp_path)
    assert space.render("--override", "promotion=first render of both environments") == 0
    return space


def test_the_first_render_is_refused_without_a_recorded_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = Workspace(tmp_path)
    assert space.render() == 2
    err = capsys.readouterr().err
    assert (
        "not yet rendered by staging: --model meta-llama/Llama-3.1-8B-Instruct, image "
        "registry.example.com/vllm/vllm-openai:v1" in err
    )
    assert not space.repo.exists()


def test_the_override_is_recorded_in_the_commit(ws: Workspace) -> None:
    assert "Gitops-Override: promotion: first render of both environments" in ws.head()


def test_prod_cannot_take_a_tag_staging_never_rendered(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ws.head()
    ws.tags("v1", "v2")
    assert ws.render() == 2
    err = capsys.readouterr().err
    assert "prod takes only what staging rendered at an earlier commit" in err
    assert "image registry.example.com/vllm/vllm-openai:v2" in err
    assert "prod.yaml" in err
    assert ws.head() == before  # nothing committed


def test_prod_takes_a_tag_staging_rendered_at_an_earlier_commit(ws: Workspace) -> None:
    ws.tags("v2", "v1")
    assert ws.render() == 0
    ws.tags("v3", "v2")  # staging moved on: v2 is still in its history
    assert ws.render() == 0


def test_rendering_both_at_once_is_not_promotion(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.tags("v2", "v2")
    assert ws.render() == 2
    assert "vllm-openai:v2" in capsys.readouterr().err


def test_a_new_model_is_an_artefact_too(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    ws.tags("v1", "v1", model="meta-llama/Llama-3.3-70B-Instruct")
    assert ws.render() == 2
    assert "--model meta-llama/Llama-3.3-70B-Instruct" in capsys.readouterr().err


def test_plan_says_when_prod_changes_ahead_of_staging(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    # A pull request made of one commit moving both (as a hand-made commit would).
    ws.tags("v2", "v2")
    assert ws.render("--branch", "pr", "--base", "main", "--override", "promotion=x") == 0
    capsys.readouterr()
    args = [
        "plan",
        "--env",
        "prod",
        "--repo",
        str(ws.repo),
        "--base",
        "main",
        "--head",
        "pr",
        "--environments",
        str(ws.root / "environments"),
        "--exit-code",
    ]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "promotion: prod takes only what staging rendered at an earlier commit" in out
    assert "vllm-openai:v2 (overridden: x)" in out


def test_plan_reports_promotion_ok_when_staging_went_first(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.tags("v2", "v1")
    assert ws.render("--branch", "pr", "--base", "main") == 0
    ws.tags("v2", "v2")
    assert ws.render("--branch", "pr") == 0
    capsys.readouterr()
    args = [
        "plan",
        "--env",
        "prod",
        "--repo",
        str(ws.repo),
        "--base",
        "main",
        "--head",
        "pr",
        "--environments",
        str(ws.root / "environments"),
        "--exit-code",
        "-o",
        "json",
    ]
    assert main(args) == 1
    promotion = json.loads(capsys.readouterr().out)["risk"]["promotion"]
    assert promotion["ok"] is True
    assert promotion["introduced"] == ["image registry.example.com/vllm/vllm-openai:v2"]


def test_an_unknown_upstream_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = Workspace(tmp_path)
    env = yaml.safe_load((tmp_path / "environments" / "prod.yaml").read_text())
    env["promotion"] = {"after": "stagin"}
    (tmp_path / "environments" / "prod.yaml").write_text(yaml.safe_dump(env))
    assert space.render() == 2
    err = capsys.readouterr().err.strip()
    assert "prod.yaml: promotion.after: no environment named 'stagin'" in err
    assert len(err.splitlines()) == 1


def test_artefacts_read_flags_in_both_forms_and_inside_a_shell_command() -> None:
    pod = {
        "spec": {
            "containers": [
                {"name": "a", "image": "img:1", "args": ["--model=org/m", "--revision", "abc"]},
                {
                    "name": "b",
                    "image": "img:2",
                    "command": ["sh", "-c", "vllm serve --model org/n"],
                },
            ]
        }
    }
    assert artefacts([pod]) == {
        "image img:1",
        "image img:2",
        "--model org/m",
        "--revision abc",
        "--model org/n",
    }


def test_only_what_the_change_introduces_is_judged() -> None:
    old = {"spec": {"containers": [{"name": "a", "image": "img:old"}]}}
    new = {
        "spec": {
            "containers": [{"name": "a", "image": "img:old"}, {"name": "b", "image": "img:new"}]
        }
    }
    status = check_promotion("prod", "staging", [old], [new], [[old]])
    assert status.introduced == ("image img:new",) and status.missing == ("image img:new",)
    assert check_promotion("prod", "staging", [old], [new], [[new]]).ok
    assert check_promotion("prod", "staging", [new], [new], []).ok


def test_an_override_of_no_budget_is_refused_naming_the_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = Workspace(tmp_path)
    assert space.render("--override", "max-deletes=typo") == 2
    err = capsys.readouterr().err.strip()
    assert "override 'max-deletes': not a budget (expected one of max-deletions," in err
    assert not space.repo.exists()
