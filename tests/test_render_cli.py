"""Tests for ``gitops render``: the Quickstart, one commit per change, clean failures."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pygit2
import pytest

from gitops.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures" / "tiny"

ESCAPING = """\
from gitops.constructs.base import Construct


class Evil(Construct):
    def __init__(self, scope, id):
        super().__init__(scope, id)
        self._register()

    def _build(self):
        return [{"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "../../../etc", "namespace": self.namespace}}]


def blueprint(scope, env):
    Evil(scope, "evil")
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding a copy of the tiny blueprints and environments."""
    shutil.copytree(FIXTURES / "blueprints", tmp_path / "blueprints")
    shutil.copytree(FIXTURES / "environments", tmp_path / "environments")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refs(repo: Path) -> dict[str, str]:
    r = pygit2.Repository(str(repo))
    return {name: str(r.references[name].target) for name in r.references}


def commits(repo: Path, branch: str = "main") -> int:
    r = pygit2.Repository(str(repo))
    return sum(1 for _ in r.walk(r.references[f"refs/heads/{branch}"].target))


def test_quickstart_renders_the_example_once(
    project_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(project_root / "blueprints", tmp_path / "blueprints")
    shutil.copytree(project_root / "environments", tmp_path / "environments")
    monkeypatch.chdir(tmp_path)
    assert main(["render"]) == 0
    first = capsys.readouterr()
    assert main(["render"]) == 0
    second = capsys.readouterr()
    repo = tmp_path / "build" / "gitops-repo"
    assert commits(repo) == 1
    assert first.out.startswith("committed ")
    assert second.out.startswith("nothing changed: main")
    for env in ("dev", "staging", "prod"):
        assert f"rendering {env}" in first.err  # progress per environment
        assert (repo / "envs" / env / "kustomization.yaml").is_file()  # browsable worktree


def test_changed_input_makes_one_new_commit(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render"]) == 0
    env = work / "environments" / "beta.yaml"
    env.write_text(env.read_text().replace("gpu: 4", "gpu: 8"))
    assert main(["render", "--message", "More GPUs for beta"]) == 0
    repo = work / "build" / "gitops-repo"
    assert commits(repo) == 2
    message = pygit2.Repository(str(repo))[refs(repo)["refs/heads/main"]].message
    assert message.startswith("More GPUs for beta\n\nbeta: 0 added, 1 changed, 0 removed\n")
    assert "1 changed" in capsys.readouterr().out


def test_removed_blueprint_removes_its_files(work: Path) -> None:
    assert main(["render"]) == 0
    (work / "blueprints" / "web.py").rename(work / "blueprints" / "_off.py")
    (work / "blueprints" / "other.py").write_text("def blueprint(scope, env):\n    pass\n")
    assert main(["render"]) == 0
    repo = work / "build" / "gitops-repo"
    assert not (repo / "envs" / "alpha" / "workloads").exists()
    assert (repo / "envs" / "alpha" / "guardrails").is_dir()


def test_removed_environment_removes_its_directory_and_argo_flux_objects(work: Path) -> None:
    assert main(["render"]) == 0
    (work / "environments" / "beta.yaml").unlink()
    assert main(["render"]) == 0
    repo = work / "build" / "gitops-repo"
    paths = {str(p.relative_to(repo)) for p in repo.rglob("*.yaml") if ".git" not in p.parts}
    assert not any("beta" in p for p in paths)
    assert "argocd/application-alpha.yaml" in paths
    message = pygit2.Repository(str(repo))[refs(repo)["refs/heads/main"]].message
    assert "beta: 0 added, 0 changed, " in message


def test_pr_branch_from_base_is_pushed_to_a_bare_repository(work: Path) -> None:
    remote = work / "remote.git"
    pygit2.init_repository(str(remote), bare=True)
    assert main(["render"]) == 0
    env = work / "environments" / "alpha.yaml"
    env.write_text(env.read_text().replace("Audit", "Warn"))
    argv = ["render", "--branch", "pr-1", "--base", "main", "--push", str(remote)]
    assert main([*argv, "--author", "CI Bot <ci@example.com>"]) == 0
    repo = work / "build" / "gitops-repo"
    pushed = refs(remote)["refs/heads/pr-1"]
    assert pushed == refs(repo)["refs/heads/pr-1"]
    commit = pygit2.Repository(str(remote))[pushed]
    assert (commit.author.name, commit.author.email) == ("CI Bot", "ci@example.com")
    assert commits(repo, "pr-1") == 2 and commits(repo) == 1


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("environments/beta.yaml", "name: [beta\n", r"beta\.yaml: line \d+.*invalid YAML"),
        (
            "environments/beta.yaml",
            "name: beta\nflavour: x\n",
            r"beta\.yaml: unknown key 'flavour'",
        ),
        (
            "blueprints/boom.py",
            "def blueprint(scope, env):\n    raise RuntimeError('no GPUs left')\n",
            r"boom\.py: blueprint raised RuntimeError for environment alpha: no GPUs left",
        ),
        (
            "blueprints/web-copy.py",
            (FIXTURES / "blueprints" / "web.py").read_text(),
            r"duplicate object ConfigMap apps/web: rendered by blueprint web, .* web-copy",
        ),
        ("blueprints/evil.py", ESCAPING, r"metadata\.name '\.\./\.\./\.\./etc' is not a DNS"),
    ],
    ids=["invalid-yaml", "unknown-key", "raising-blueprint", "duplicate", "escaping-name"],
)
def test_bad_input_is_one_line_and_leaves_the_repository_as_it_was(
    work: Path, capsys: pytest.CaptureFixture[str], path: str, text: str, expected: str
) -> None:
    assert main(["render"]) == 0
    repo = work / "build" / "gitops-repo"
    before = refs(repo)
    worktree = sorted(p.relative_to(repo) for p in repo.rglob("*") if ".git" not in p.parts)
    capsys.readouterr()
    (work / path).write_text(text)
    assert main(["render"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("gitops render: error: ")
    assert re.search(expected, err[-1]), err[-1]
    assert refs(repo) == before
    after = sorted(p.relative_to(repo) for p in repo.rglob("*") if ".git" not in p.parts)
    assert after == worktree


def test_repository_path_that_is_a_file_is_an_error(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "repo").write_text("x")
    assert main(["render", "--repo", "repo"]) == 2
    assert "repo: repository path exists and is not a directory" in capsys.readouterr().err
    assert (work / "repo").read_text() == "x"


def test_missing_inputs_fail_before_creating_a_repository(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--environments", "nope"]) == 2
    assert "nope: environments directory not found" in capsys.readouterr().err
    assert not (work / "build").exists()
