"""Tests for ``gitops build``, ``--env`` selection, abbreviations and project discovery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pygit2
import pytest
import yaml

from gitops.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures" / "tiny"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project holding a copy of the tiny blueprints and environments (the cwd)."""
    shutil.copytree(FIXTURES / "blueprints", tmp_path / "blueprints")
    shutil.copytree(FIXTURES / "environments", tmp_path / "environments")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tree(repo: Path, ref: str = "main") -> dict[str, bytes]:
    r = pygit2.Repository(str(repo))
    out: dict[str, bytes] = {}

    def walk(t: pygit2.Tree, prefix: str) -> None:
        for entry in t:
            path = f"{prefix}{entry.name}"
            if isinstance(entry, pygit2.Tree):
                walk(entry, f"{path}/")
            else:
                out[path] = entry.data

    walk(r.revparse_single(ref).peel(pygit2.Commit).tree, "")
    return out


def test_build_prints_one_environment_as_committed_without_git(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--env", "alpha"]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert {d["metadata"]["annotations"]["gitops.dev/environment"] for d in documents} == {"alpha"}
    config = next(d for d in documents if d["kind"] == "ConfigMap")
    assert config["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "6"
    assert documents[0]["kind"] == "Namespace"  # canonical apply order
    assert not (work / "build").exists()
    # The same bytes render commits for the object.
    assert main(["render"]) == 0
    committed = tree(work / "build" / "gitops-repo")["envs/alpha/workloads/apps/configmap-web.yaml"]
    assert yaml.safe_load(committed) == config


def test_build_json_is_a_kubectl_list(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--env", "beta", "-o", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["apiVersion"], document["kind"]) == ("v1", "List")
    assert any(item["kind"] == "ResourceQuota" for item in document["items"])  # beta's gpu: 4
    assert all(
        i["metadata"]["annotations"]["gitops.dev/environment"] == "beta" for i in document["items"]
    )


def test_build_output_dir_writes_the_repository_files_and_replaces_its_own(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = work / "out"
    assert main(["build", "--env", "alpha", "--env", "beta", "--output-dir", str(out)]) == 0
    assert "files to" in capsys.readouterr().out
    assert main(["render"]) == 0
    committed = tree(work / "build" / "gitops-repo")
    written = {
        str(p.relative_to(out)): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and ".gitops" not in p.parts
    }
    assert written == {k: v for k, v in committed.items() if not k.startswith(".gitops")}
    # A later build of alpha alone removes beta's files it wrote, and nothing else.
    (out / "notes.txt").write_text("mine")
    assert main(["build", "--env", "alpha", "--output-dir", str(out)]) == 0
    assert not (out / "envs" / "beta").exists()
    assert (out / "envs" / "alpha" / "kustomization.yaml").is_file()
    assert (out / "notes.txt").read_text() == "mine"


def test_build_output_dir_refuses_a_foreign_file_in_the_way(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = work / "out"
    (out / "envs" / "alpha").mkdir(parents=True)
    (out / "envs" / "alpha" / "kustomization.yaml").write_text("mine\n")
    assert main(["build", "--env", "alpha", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "kustomization.yaml: a file no build wrote is in the way; nothing written" in err
    assert (out / "envs" / "alpha" / "kustomization.yaml").read_text() == "mine\n"
    assert not (out / "argocd").exists()


def test_unknown_environment_is_exit_2_with_a_suggestion(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--env", "alpah"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "gitops build: error: --env alpah: no such environment (did you mean 'alpha'?) "
        "(known: alpha, beta)"
    )


@pytest.mark.parametrize("command", ["render", "check", "build"])
def test_options_are_never_abbreviated(
    work: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # --environ once meant --environments; now it is an unknown option (usage error, 2).
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--env", "alpha", "--environ", "environments"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --environ" in capsys.readouterr().err


def test_render_env_renders_one_and_keeps_the_others_as_committed(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render"]) == 0
    repo = work / "build" / "gitops-repo"
    before = tree(repo)
    beta = work / "environments" / "beta.yaml"
    beta.write_text(beta.read_text().replace("gpu: 4", "gpu: 8"))
    alpha = work / "environments" / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("Audit", "Warn"))
    assert main(["render", "--env", "beta"]) == 0
    after = tree(repo)
    changed = {p for p in after if after[p] != before.get(p)} - {".gitops/generated.json"}
    assert changed == {"envs/beta/guardrails/apps/resourcequota-gitops-quota.yaml"}
    assert set(after) == set(before)  # alpha's files were carried over, not removed
    # Rendering everything afterwards equals a full render from scratch.
    assert main(["render"]) == 0
    incremental = tree(repo)
    shutil.rmtree(repo)
    assert main(["render"]) == 0
    assert tree(repo) == incremental


def test_check_env_checks_only_the_named_environment(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--env", "beta"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "check passed: 0 violation(s) in beta"


def test_commands_find_the_project_from_a_subdirectory(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = work / "blueprints" / "nested" / "deeper"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert main(["render", "--env", "alpha"]) == 0
    assert (work / "build" / "gitops-repo" / "envs" / "alpha").is_dir()
    assert not (deep / "build").exists()


def test_outside_a_project_the_error_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"gitops check: error: no environments/ directory in {tmp_path}")
    assert "gitops init" in err
