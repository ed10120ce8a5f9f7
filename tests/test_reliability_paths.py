"""Reliability: nothing is written outside the output repository, nor into its ``.git``.

Hostile object names and namespaces are refused by the layout (before the repository is
created or touched); paths given straight to the Git writer are refused by it too
(``test_repo.py::test_paths_escaping_the_repository_are_refused``). Symbolic links in
the output repository's working tree on a generated path are refused before any write,
so the working-tree refresh can never follow one outside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from helpers.blueprints import RAW_CONSTRUCT
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.core.errors import GitOpsError, RenderError, RepositoryError
from gitops.core.paths import MAX_COMPONENT_BYTES, WINDOWS_RESERVED, check_paths
from gitops.render.layout import object_path
from gitops.repo import commit_tree, identity, read_files
from gitops.workflows.render import render_to_repo

TINY = Path(__file__).parent / "fixtures" / "tiny"
SIG = identity("test <test@example.com>", when=1_700_000_000)

RAW_BLUEPRINT = (
    RAW_CONSTRUCT
    + """

def blueprint(scope, env):
    Raw(scope, "raw", {obj!r})
"""
)

HOSTILE_NAMES: dict[str, tuple[str, str]] = {
    "name ../": ("apps", "../../../../escaped"),
    "name ..": ("apps", ".."),
    "name absolute": ("apps", "/etc/passwd"),
    "name .git": ("apps", ".git"),
    "name .git/hooks": ("apps", ".git/hooks/pre-commit"),
    "name with slash": ("apps", "a/b"),
    "name with backslash": ("apps", "a\\..\\b"),
    "name with NUL": ("apps", "a\0b"),
    "name over 253": ("apps", "a" * 254),
    "namespace ../": ("../../..", "web"),
    "namespace absolute": ("/tmp", "web"),
    "namespace .git": (".git", "web"),
    "namespace .git/objects": (".git/objects", "web"),
    "namespace ..": ("..", "web"),
}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    shutil.copytree(TINY, tmp_path / "in")
    return tmp_path / "in"


def with_object(tiny: Path, obj: dict[str, Any]) -> None:
    (tiny / "blueprints" / "raw.py").write_text(RAW_BLUEPRINT.format(obj=obj))


def config_map(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"k": "v"},
    }


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize("case", sorted(HOSTILE_NAMES))
def test_hostile_object_names_are_refused_before_any_write(
    tiny: Path, tmp_path: Path, case: str
) -> None:
    namespace, name = HOSTILE_NAMES[case]
    repo = tmp_path / "out" / "repo"
    first = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    with_object(tiny, config_map(namespace, name))
    before = _snapshot(tmp_path)
    # A hostile namespace is not among the environment's namespaces: the fence refuses it
    # first; the layout refuses the rest (and any namespace a guardrail could name).
    refused = r"cannot name a file in the repository|namespace must be one of the environment's"
    with pytest.raises(RenderError, match=refused):
        render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    assert _snapshot(tmp_path) == before  # no file anywhere changed, .git included
    head = pygit2.Repository(str(repo)).references["refs/heads/main"].target
    assert str(head) == first.commit


@pytest.mark.parametrize("kind", ["../Secret", "Config/Map", ".git", "A b", ""])
def test_hostile_kinds_are_refused(kind: str) -> None:
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "namespace": "apps"}}
    with pytest.raises(GitOpsError, match=r"kind"):
        object_path("dev", "workloads", obj)


def test_hostile_name_on_the_first_render_creates_no_repository(tiny: Path, tmp_path: Path) -> None:
    with_object(tiny, config_map("apps", "../../escaped"))
    with pytest.raises(RenderError, match=r"ConfigMap apps/\.\./\.\./escaped \(blueprint raw"):
        render_to_repo(tiny / "blueprints", tiny / "environments", tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
    assert not (tmp_path / "escaped").exists()


# -- symbolic links in the output repository -------------------------------------------------

FILES = {
    "envs/dev/kustomization.yaml": b"resources: [workloads]\n",
    "envs/dev/workloads/apps/configmap-web.yaml": b"a: 1\n",
}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "keep.txt").write_text("untouched\n")
    return directory


def test_symlinked_directory_on_a_generated_path_is_refused(tmp_path: Path, outside: Path) -> None:
    repo = tmp_path / "repo"
    first = commit_tree(repo, {"argocd/a.yaml": b"a\n"}, signature=SIG)
    os.symlink(outside, repo / "envs")
    with pytest.raises(RepositoryError, match=r"envs in the working tree .* is a symbolic link"):
        commit_tree(repo, {"argocd/a.yaml": b"a\n", **FILES}, signature=SIG)
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert str(pygit2.Repository(str(repo)).references["refs/heads/main"].target) == first.commit


def test_dangling_symlink_at_a_generated_file_is_refused(tmp_path: Path, outside: Path) -> None:
    repo = tmp_path / "repo"
    commit_tree(repo, {"argocd/a.yaml": b"a\n"}, signature=SIG)
    (repo / "envs" / "dev").mkdir(parents=True)
    os.symlink(outside / "created.yaml", repo / "envs" / "dev" / "kustomization.yaml")
    with pytest.raises(RepositoryError, match=r"kustomization\.yaml .* is a symbolic link"):
        commit_tree(repo, {"argocd/a.yaml": b"a\n", **FILES}, signature=SIG)
    assert not (outside / "created.yaml").exists()


def test_symlinked_generated_index_directory_is_refused(tmp_path: Path, outside: Path) -> None:
    repo = tmp_path / "repo"
    pygit2.init_repository(str(repo), initial_head="main")
    os.symlink(outside, repo / ".gitops")
    with pytest.raises(RepositoryError, match=r"\.gitops in the working tree"):
        commit_tree(repo, FILES, signature=SIG)
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


def test_generated_directory_replaced_by_a_symlink_is_never_written_through(
    tmp_path: Path, outside: Path
) -> None:
    repo = tmp_path / "repo"
    commit_tree(repo, FILES, signature=SIG)
    shutil.rmtree(repo / "envs")
    (outside / "dev" / "workloads" / "apps").mkdir(parents=True)
    (outside / "dev" / "workloads" / "apps" / "configmap-web.yaml").write_text("theirs\n")
    os.symlink(outside, repo / "envs")
    with pytest.raises(RepositoryError, match=r"symbolic link"):
        commit_tree(repo, {"envs/dev/kustomization.yaml": b"changed\n"}, signature=SIG)
    # Removing the stale configmap path would have deleted the outside file.
    assert (outside / "dev" / "workloads" / "apps" / "configmap-web.yaml").read_text() == "theirs\n"


def test_render_refuses_a_symlinked_output_directory(
    tiny: Path, tmp_path: Path, outside: Path
) -> None:
    repo = tmp_path / "repo"
    render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    shutil.rmtree(repo / "flux")
    os.symlink(outside, repo / "flux")
    (tiny / "environments" / "beta.yaml").write_text(
        (tiny / "environments" / "beta.yaml").read_text().replace("gpu: 4", "gpu: 8")
    )
    with pytest.raises(RepositoryError, match=r"flux in the working tree"):
        render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


def test_symlinks_elsewhere_in_the_working_tree_are_left_alone(
    tmp_path: Path, outside: Path
) -> None:
    repo = tmp_path / "repo"
    commit_tree(repo, FILES, signature=SIG)
    os.symlink(outside, repo / "docs")  # not on a generated path: none of the tool's business
    result = commit_tree(
        repo, {**FILES, "envs/dev/workloads/apps/configmap-web.yaml": b"a: 2\n"}, signature=SIG
    )
    assert result.worktree_updated
    assert (repo / "envs/dev/workloads/apps/configmap-web.yaml").read_bytes() == b"a: 2\n"
    assert (repo / "docs").is_symlink()


def test_bare_repository_has_no_working_tree_to_check(tmp_path: Path, outside: Path) -> None:
    repo = tmp_path / "repo.git"
    pygit2.init_repository(str(repo), bare=True, initial_head="main")
    os.symlink(outside, repo / "envs")  # inside a bare repository this is no working tree
    result = commit_tree(repo, FILES, signature=SIG)
    assert result.created
    assert read_files(repo, "main").keys() >= FILES.keys()
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


def test_worktree_of_another_branch_is_not_checked(tmp_path: Path, outside: Path) -> None:
    repo = tmp_path / "repo"
    commit_tree(repo, {"argocd/a.yaml": b"a\n"}, signature=SIG)
    os.symlink(outside, repo / "envs")
    # Only `main` is checked out: a pull-request branch never touches the working tree.
    result = commit_tree(repo, FILES, branch="pr-1", base="main", signature=SIG)
    assert result.created and not result.worktree_updated
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


# -- every generated path checks out on Linux, macOS and Windows ------------------------------

_LABEL = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_SUBDOMAIN = st.lists(_LABEL, min_size=1, max_size=8).map(".".join).filter(lambda n: len(n) <= 253)
_KINDS = st.from_regex(r"\A[A-Z][A-Za-z0-9]{0,300}\Z")


@settings(max_examples=300, deadline=None)
@given(
    kind=_KINDS,
    name=_SUBDOMAIN,
    namespace=st.one_of(
        st.just(""),
        _LABEL,
        st.sampled_from(sorted(n for n in WINDOWS_RESERVED if n.isalnum() and n.isascii())),
    ),
)
def test_every_object_path_fits_every_checkout_and_is_deterministic(
    kind: str, name: str, namespace: str
) -> None:
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    if namespace:
        obj["metadata"]["namespace"] = namespace  # type: ignore[index]
    path = object_path("dev", "workloads", obj)
    check_paths([path])  # component and total lengths, device names, characters
    assert path == object_path("dev", "workloads", obj)
    file_name = path.rsplit("/", 1)[1]
    if len(f"{kind.lower()}-{name}.yaml".encode()) <= MAX_COMPONENT_BYTES:
        assert file_name == f"{kind.lower()}-{name}.yaml"  # shortened only when needed
    else:
        assert len(file_name.encode()) == MAX_COMPONENT_BYTES or file_name.endswith(".yaml")


@settings(max_examples=100, deadline=None)
@given(tails=st.lists(st.from_regex(r"\A[a-z0-9]{1,22}\Z"), min_size=2, max_size=6, unique=True))
def test_shortened_names_stay_distinct(tails: list[str]) -> None:
    """Names sharing their first 230 characters: only the hash tells them apart."""
    names = [f"{'x' * 230}.{tail}" for tail in tails]
    paths = {object_path("dev", "workloads", config_map("apps", n)) for n in names}
    assert len(paths) == len(names)
    check_paths(paths)


@pytest.mark.parametrize(
    ("paths", "problem"),
    [
        (["envs/a/" + "x" * 256 + ".yaml"], r"component of 261 bytes exceeds the 255-byte"),
        (["/".join(["d" * 200] * 4)], r"exceeds the 768-byte path limit"),
        (["envs/con/a.yaml"], r"'con' is a Windows device name"),
        (["envs/a/Aux.txt.yaml"], r"'Aux.txt.yaml' is a Windows device name"),
        (["envs/a/b:c.yaml"], r"holds ':'"),
        (["envs/a/b."], r"ends in a dot or space"),
        (
            ["envs/a/x.yaml", "envs/a/X.yaml"],
            r"'envs/a/X.yaml' and 'envs/a/x.yaml' differ only in case",
        ),
        (["envs/A/x.yaml", "envs/a/y.yaml"], r"'envs/a' and 'envs/A' differ only in case"),
    ],
)
def test_the_git_writer_refuses_paths_some_checkout_cannot_hold(
    tmp_path: Path, paths: list[str], problem: str
) -> None:
    with pytest.raises(RepositoryError, match=problem):
        commit_tree(tmp_path / "repo", dict.fromkeys(paths, b"a: 1\n"), signature=SIG)
    assert not (tmp_path / "repo").exists()


def test_a_250_character_name_renders_a_repository_git_can_clone(
    tiny: Path, tmp_path: Path
) -> None:
    """It gave a 255+ byte file name: half a working tree, and ``git clone`` failed."""
    name = ("a" * 62 + ".") * 3 + "b" * 61  # 250 characters, a valid DNS-1123 subdomain
    with_object(tiny, config_map("con", name))  # and a namespace Windows reserves
    for env in (tiny / "environments").iterdir():
        env.write_text(env.read_text().replace("namespaces: [apps]", "namespaces: [apps, con]"))
    repo = tmp_path / "repo"
    render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    clone = tmp_path / "clone"
    result = subprocess.run(
        ["git", "clone", "-q", str(repo), str(clone)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    files = sorted((clone / "envs" / "alpha" / "workloads" / "con_").iterdir())
    (found,) = files
    assert len(found.name.encode()) == MAX_COMPONENT_BYTES
    assert found.name.startswith("configmap-" + "a" * 62) and found.name.endswith(".yaml")
    assert yaml.safe_load(found.read_text())["metadata"]["name"] == name
    kustomization = yaml.safe_load((found.parent.parent / "kustomization.yaml").read_text())
    assert f"con_/{found.name}" in kustomization["resources"]
    assert pygit2.Repository(str(repo)).status() == {}  # the working tree holds it all
