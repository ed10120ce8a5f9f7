"""Tests for the Git writer: one commit per change, ownership, CAS under concurrency, push."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pygit2
import pytest

from gitops.core.errors import RepositoryError
from gitops.repo import CommitResult, commit_tree, identity, push, read_files

SIG = identity("Test <test@example.com>", when=1_700_000_000)
FILES = {
    "envs/dev/workloads/apps/configmap-web.yaml": b"kind: ConfigMap\n",
    "envs/prod/workloads/apps/configmap-web.yaml": b"kind: ConfigMap # prod\n",
}


def write(repo: Path, files: dict[str, bytes], **kwargs: object) -> CommitResult:
    return commit_tree(repo, files, signature=SIG, **kwargs)  # type: ignore[arg-type]


def head(repo: Path, branch: str = "main") -> str:
    return str(pygit2.Repository(str(repo)).references[f"refs/heads/{branch}"].target)


def commit_count(repo: Path, branch: str = "main") -> int:
    r = pygit2.Repository(str(repo))
    return sum(1 for _ in r.walk(r.references[f"refs/heads/{branch}"].target))


def add_foreign_commit(repo: Path, path: str, data: bytes) -> None:
    """Commit a file by hand, as a person would, on top of main."""
    r = pygit2.Repository(str(repo))
    parent = r.references["refs/heads/main"].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(parent.tree)
    index.add(pygit2.IndexEntry(path, r.create_blob(data), pygit2.enums.FileMode.BLOB))
    tree = index.write_tree(r)
    r.create_commit("refs/heads/main", SIG, SIG, "by hand", tree, [parent.id])


def test_first_commit_creates_a_non_bare_repository_with_the_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = write(repo, FILES)
    assert result.created and result.commit == head(repo)
    assert not pygit2.Repository(str(repo)).is_bare
    files = read_files(repo, "main")
    assert {p: files[p] for p in FILES} == FILES
    assert json.loads(files[".gitops/generated.json"])["paths"] == sorted(FILES)


def test_clean_worktree_is_brought_to_the_new_head(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    write(repo, {"envs/dev/workloads/apps/configmap-web.yaml": b"v2\n"})
    assert (repo / "envs/dev/workloads/apps/configmap-web.yaml").read_bytes() == b"v2\n"
    assert not (repo / "envs/prod").exists()
    assert pygit2.Repository(str(repo)).status() == {}


def test_dirty_worktree_is_left_alone(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    edited = repo / "envs/dev/workloads/apps/configmap-web.yaml"
    edited.write_bytes(b"hand edit\n")
    result = write(repo, {**FILES, "envs/dev/workloads/apps/configmap-web.yaml": b"v2\n"})
    assert result.created and not result.worktree_updated
    assert edited.read_bytes() == b"hand edit\n"


def test_staged_work_keeps_the_worktree_and_index_untouched(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    (repo / "mine.txt").write_text("staged\n")
    r = pygit2.Repository(str(repo))
    r.index.add("mine.txt")
    r.index.write()
    result = write(repo, {**FILES, "envs/dev/workloads/apps/configmap-web.yaml": b"v2\n"})
    assert result.created and not result.worktree_updated
    r.index.read()
    assert "mine.txt" in r.index
    assert (
        repo / "envs/dev/workloads/apps/configmap-web.yaml"
    ).read_bytes() == b"kind: ConfigMap\n"


def test_untracked_file_in_the_way_keeps_the_worktree_untouched(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    (repo / "envs/dev/workloads/apps/service-web.yaml").write_text("scratch\n")
    result = write(repo, {**FILES, "envs/dev/workloads/apps/service-web.yaml": b"svc\n"})
    assert result.created and not result.worktree_updated
    assert (repo / "envs/dev/workloads/apps/service-web.yaml").read_text() == "scratch\n"


def test_a_held_index_lock_is_refused_before_the_branch_moves(tmp_path: Path) -> None:
    """Committing anyway left a stale tree whose old content then showed as staged."""
    repo = tmp_path / "repo"
    before = write(repo, FILES)
    (repo / ".git" / "index.lock").write_text("")
    with pytest.raises(RepositoryError, match=r"index\.lock exists: a git command is running"):
        write(repo, {**FILES, "envs/dev/workloads/apps/configmap-web.yaml": b"v2\n"})
    assert head(repo) == before.commit
    assert (repo / "envs/dev/workloads/apps/configmap-web.yaml").read_bytes() == FILES[
        "envs/dev/workloads/apps/configmap-web.yaml"
    ]


def test_bare_repository_is_written_without_a_worktree(tmp_path: Path) -> None:
    repo = tmp_path / "bare.git"
    pygit2.init_repository(str(repo), bare=True)
    result = write(repo, FILES)
    assert result.created and not result.worktree_updated
    assert read_files(repo, "main", "envs/dev") == {
        "envs/dev/workloads/apps/configmap-web.yaml": b"kind: ConfigMap\n"
    }


def test_corrupt_generated_index_is_an_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    add_foreign_commit(repo, ".gitops/generated.json", b"[not json")
    before = head(repo)
    with pytest.raises(RepositoryError, match=r"\.gitops/generated\.json: not a generated-paths"):
        write(repo, FILES)
    assert head(repo) == before


def test_same_files_make_no_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = write(repo, FILES)
    second = write(repo, FILES)
    assert not second.created
    assert second.commit == first.commit == head(repo)
    assert commit_count(repo) == 1


def test_removed_paths_are_deleted_in_the_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    result = write(
        repo,
        {
            "envs/dev/workloads/apps/configmap-web.yaml": FILES[
                "envs/dev/workloads/apps/configmap-web.yaml"
            ]
        },
    )
    assert result.removed == ("envs/prod/workloads/apps/configmap-web.yaml",)
    assert "envs/prod/workloads/apps/configmap-web.yaml" not in read_files(repo, "main")


def test_commit_message_summarizes_changes_per_environment(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    changed = {**FILES, "envs/prod/workloads/apps/configmap-web.yaml": b"v2\n"}
    result = write(repo, changed, message="Bump prod", notes=["prod: Warn something"])
    message = pygit2.Repository(str(repo))[head(repo)].message
    assert message == result.message
    assert message.startswith("Bump prod\n\nprod: 0 added, 1 changed, 0 removed\n")
    assert "  ~ envs/prod/workloads/apps/configmap-web.yaml" in message
    assert "prod: Warn something" in message


def test_foreign_files_are_never_touched(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    add_foreign_commit(repo, "envs/dev/workloads/apps/notes.md", b"mine\n")
    add_foreign_commit(repo, "README.md", b"hello\n")
    write(repo, {})  # every generated path removed
    files = read_files(repo, "main")
    assert files["envs/dev/workloads/apps/notes.md"] == b"mine\n"
    assert files["README.md"] == b"hello\n"
    assert not any(p.endswith("configmap-web.yaml") for p in files)


def test_generated_path_colliding_with_a_foreign_file_is_an_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    add_foreign_commit(repo, "envs/dev/workloads/apps/service-web.yaml", b"mine\n")
    before = head(repo)
    collide = {**FILES, "envs/dev/workloads/apps/service-web.yaml": b"generated\n"}
    with pytest.raises(RepositoryError, match=r"collides with envs/dev/workloads/apps/service-web"):
        write(repo, collide)
    assert head(repo) == before


def test_foreign_file_in_place_of_a_generated_directory_is_an_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.yaml": b"x\n"})
    add_foreign_commit(repo, "envs", b"a file\n")
    before = head(repo)
    with pytest.raises(RepositoryError, match=r"collides with envs, which the tool did not"):
        write(repo, FILES)
    assert head(repo) == before


@pytest.mark.parametrize(
    "path", ["../outside.yaml", "/etc/passwd", "a/.git/config", ".GIT/hooks/x", "a//b", "a/./b"]
)
def test_paths_escaping_the_repository_are_refused(tmp_path: Path, path: str) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    before = head(repo)
    with pytest.raises(RepositoryError, match=r"refusing to write .*not a relative path"):
        write(repo, {**FILES, path: b"x\n"})
    assert head(repo) == before


def test_same_files_give_the_same_tree_and_commit_ids(tmp_path: Path) -> None:
    one = write(tmp_path / "one", FILES)
    two = write(tmp_path / "two", dict(reversed(list(FILES.items()))))
    assert one.tree == two.tree
    assert one.commit == two.commit


def test_source_date_epoch_fixes_the_commit_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    monkeypatch.setenv("GITOPS_AUTHOR_NAME", "Bot")
    monkeypatch.setenv("GITOPS_AUTHOR_EMAIL", "bot@example.com")
    sig = identity()
    assert (sig.name, sig.email, sig.time) == ("Bot", "bot@example.com", 1234567890)


def test_default_identity_is_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_AUTHOR_NAME", raising=False)
    monkeypatch.delenv("GITOPS_AUTHOR_EMAIL", raising=False)
    sig = identity()
    assert (sig.name, sig.email) == ("gitops", "gitops@localhost")


def test_malformed_author_is_an_error() -> None:
    with pytest.raises(RepositoryError, match=r"expected 'Name <email>', got 'nobody'"):
        identity("nobody")


def test_pull_request_branch_starts_from_base(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base = write(repo, FILES)
    changed = {**FILES, "envs/dev/workloads/apps/configmap-web.yaml": b"v2\n"}
    pr = write(repo, changed, branch="update-dev", base="main")
    r = pygit2.Repository(str(repo))
    assert [str(p) for p in r[pr.commit].parent_ids] == [base.commit]
    assert head(repo) == base.commit  # main untouched
    assert pr.changed == ("envs/dev/workloads/apps/configmap-web.yaml",)


def test_unknown_base_is_an_error_and_creates_no_branch(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    with pytest.raises(RepositoryError, match=r"ref 'nope' does not name a commit"):
        write(repo, FILES, branch="pr", base="nope")
    assert "refs/heads/pr" not in pygit2.Repository(str(repo)).references


def test_invalid_branch_name_is_an_error_and_creates_no_repository(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match=r"'bad\.\.name' is not a valid branch name"):
        write(tmp_path / "repo", FILES, branch="bad..name")
    assert not (tmp_path / "repo").exists()


def test_base_in_a_missing_repository_creates_no_repository(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match=r"base 'main' does not name a commit: no repo"):
        write(tmp_path / "repo", FILES, branch="pr", base="main")
    assert not (tmp_path / "repo").exists()


def test_push_to_a_bare_repository_by_path(tmp_path: Path) -> None:
    repo, remote = tmp_path / "repo", tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True)
    result = write(repo, FILES, branch="pr")
    push(repo, str(remote), "pr")
    assert head(remote, "pr") == result.commit


def test_push_to_a_configured_remote_name(tmp_path: Path) -> None:
    repo, remote = tmp_path / "repo", tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True)
    result = write(repo, FILES)
    pygit2.Repository(str(repo)).remotes.create("origin", str(remote))
    push(repo, "origin", "main")
    assert head(remote) == result.commit


def test_rejected_push_is_an_error(tmp_path: Path) -> None:
    repo, remote = tmp_path / "repo", tmp_path / "remote.git"
    write(tmp_path / "other", {"x.yaml": b"x\n"})
    pygit2.init_repository(str(remote), bare=True)
    push(tmp_path / "other", str(remote), "main")
    write(repo, FILES)
    with pytest.raises(RepositoryError, match=r"push main to .*remote\.git"):
        push(repo, str(remote), "main")


def test_read_files_under_a_prefix(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    assert read_files(repo, "main", "envs/prod") == {
        "envs/prod/workloads/apps/configmap-web.yaml": b"kind: ConfigMap # prod\n"
    }
    assert read_files(repo, "main", "envs/missing") == {}


def test_read_files_of_unknown_ref_is_an_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    with pytest.raises(RepositoryError, match=r"ref 'v9' does not name a commit"):
        read_files(repo, "v9")


def test_read_files_of_missing_repository_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match=r"missing: not a Git repository"):
        read_files(tmp_path / "missing", "main")


def test_repository_path_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "repo"
    path.write_text("not a repo\n")
    with pytest.raises(RepositoryError, match=r"repo: repository path exists and is not a dir"):
        write(path, FILES)
    assert path.read_text() == "not a repo\n"


def test_non_empty_directory_is_not_turned_into_a_repository(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(RepositoryError, match=r"not a Git repository and not empty"):
        write(tmp_path, FILES)
    assert not (tmp_path / ".git").exists()


def test_moved_branch_is_rebuilt_on_the_new_head(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, FILES)
    r = pygit2.Repository(str(repo))
    stale = r.references["refs/heads/main"]
    add_foreign_commit(repo, "docs/x.md", b"x\n")
    # A writer holding the stale reference cannot move the branch: libgit2 checks it.
    with pytest.raises(pygit2.GitError, match="old reference value does not match"):
        stale.set_target(stale.target)
    result = write(repo, {**FILES, "envs/dev/workloads/apps/configmap-web.yaml": b"v2\n"})
    assert result.created
    assert read_files(repo, "main")["docs/x.md"] == b"x\n"


ENVS = ("a", "b", "c", "d")


def _writer(repo: str, env: str, seed: str, rounds: int) -> None:
    for round_ in range(rounds):
        files = {f"envs/{e}/workloads/apps/configmap-web.yaml": b"seed\n" for e in ENVS}
        # Each writer renders inputs where only its own environment changed since `seed`.
        files[f"envs/{env}/workloads/apps/configmap-web.yaml"] = f"{env} {round_}\n".encode()
        commit_tree(Path(repo), files, signature=SIG, rendered_from=seed)


def test_concurrent_writers_keep_every_change_in_a_linear_history(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    seed = write(repo, {f"envs/{e}/workloads/apps/configmap-web.yaml": b"seed\n" for e in ENVS})
    assert seed.commit is not None
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(str(repo), env, seed.commit, 3)) for env in ENVS
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * len(ENVS)
    files = read_files(repo, "main")
    for env in ENVS:
        assert files[f"envs/{env}/workloads/apps/configmap-web.yaml"] == f"{env} 2\n".encode()
    r = pygit2.Repository(str(repo))
    commits = list(r.walk(r.references["refs/heads/main"].target))
    assert all(len(c.parent_ids) <= 1 for c in commits)
    assert len(commits) == 1 + len(ENVS) * 3
    assert r.status() == {}  # the working tree followed the last head


def test_the_listing_kept_for_each_new_tree_is_its_files_and_the_checkout_matches(
    tmp_path: Path,
) -> None:
    """commit_tree keeps the new tree's listing for the refresh (and the next render):
    it must be exactly what walking the tree gives, through adds, changes and removals."""
    from gitops.repo.objects import tree_entries, walk_tree

    repo_path = tmp_path / "repo"
    steps = [
        {"a/x.yaml": b"1\n", "a/y.yaml": b"1\n", "b/z.yaml": b"1\n"},
        {"a/x.yaml": b"2\n", "b/z.yaml": b"1\n", "c/new.yaml": b"1\n"},
        {"c/new.yaml": b"2\n"},
    ]
    for files in steps:
        result = commit_tree(repo_path, files, signature=identity("T <t@e>"))
        repo = pygit2.Repository(str(repo_path))
        tree = repo[pygit2.Oid(hex=result.tree)]
        assert dict(tree_entries(tree)[1]) == dict(walk_tree(tree, ""))
        on_disk = {
            str(p.relative_to(repo_path)): p.read_bytes()
            for p in repo_path.rglob("*.yaml")
            if ".git" not in p.parts
        }
        assert on_disk == files
