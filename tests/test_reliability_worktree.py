"""Reliability: the working tree never lies, and branch names are checked as Git checks them.

Files are written atomically (a new file renamed into place), never through a hard or
symbolic link; a refresh that cannot be done (a held ``index.lock``) or does not complete
(a full disk, injected at the write call: the tests cannot mount a small tmpfs) is exit 2
naming the state left, and the next render converges. A branch Git cannot create is
refused by name, and a failed ref write is not reported as "branch kept moving".
"""

from __future__ import annotations

import errno
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pygit2
import pytest

import gitops.repo.worktree as worktree
from gitops.cli.main import main
from gitops.core.errors import RepositoryError
from gitops.repo import commit_tree, identity
from gitops.repo.commit import _move

TINY = Path(__file__).parent / "fixtures" / "tiny"
SIG = identity("test <test@example.com>", when=1_700_000_000)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    shutil.copytree(TINY, tmp_path / "in")
    return tmp_path / "in"


def _render(tiny: Path, repo: Path, *extra: str) -> int:
    return main(
        ["render", "--blueprints", str(tiny / "blueprints"),
         "--environments", str(tiny / "environments"), "--repo", str(repo), *extra]
    )  # fmt: skip


def _change(tiny: Path, value: str) -> None:
    web = tiny / "blueprints" / "web.py"
    web.write_text(web.read_text().replace('"environment": env.name', f'"environment": "{value}"'))


def _git_status(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip


def _tree_files(repo: Path) -> dict[str, bytes]:
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }


def _committed(repo: Path) -> dict[str, bytes]:
    git = pygit2.Repository(str(repo))
    out: dict[str, bytes] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            path = f"{prefix}{entry.name}"
            if isinstance(entry, pygit2.Tree):
                walk(entry, path + "/")
            else:
                out[path] = entry.data  # type: ignore[attr-defined]

    walk(git.head.peel(pygit2.Commit).tree, "")
    return out


class _DiskFull:
    """``write_atomic`` failing with ENOSPC from its ``after``-th call, ``times`` times."""

    def __init__(self, after: int, times: int) -> None:
        self.calls, self.after, self.times = 0, after, times
        self.real = worktree.write_atomic

    def __call__(self, dest: Path, data: bytes) -> None:
        self.calls += 1
        if self.after <= self.calls < self.after + self.times:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real(dest, data)


def test_disk_full_mid_refresh_is_exit_2_rolled_back_and_the_next_render_converges(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    assert _render(tiny, repo) == 0
    before = _tree_files(repo)
    _change(tiny, "changed")
    monkeypatch.setattr(worktree, "write_atomic", _DiskFull(after=2, times=1))
    capsys.readouterr()
    assert _render(tiny, repo) == 2
    err = capsys.readouterr().err
    assert "error: main is at " in err
    assert "refresh failed (No space left on device) after 1 files and was rolled back" in err
    assert _tree_files(repo) == before  # every file whole: the previous commit's
    monkeypatch.undo()
    assert _render(tiny, repo) == 0  # nothing to commit; the working tree catches up
    assert _tree_files(repo) == _committed(repo)
    assert _git_status(repo) == ""


def test_disk_full_with_no_room_to_roll_back_names_the_partly_refreshed_state(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    assert _render(tiny, repo) == 0
    _change(tiny, "changed")
    monkeypatch.setattr(worktree, "write_atomic", _DiskFull(after=2, times=100))
    capsys.readouterr()
    assert _render(tiny, repo) == 2
    err = capsys.readouterr().err
    assert "partly refreshed (1 files written, 0 put back); run 'git checkout -f'" in err
    committed = _committed(repo)
    for path, data in _tree_files(repo).items():
        assert data, f"{path} is empty"  # atomic writes: whole old or whole new, never torn
        assert path in committed or path.startswith(".")


def test_a_held_index_lock_fails_the_render_and_moves_nothing(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert _render(tiny, repo) == 0
    head = pygit2.Repository(str(repo)).head.target
    (repo / ".git" / "index.lock").write_text("")
    _change(tiny, "changed")
    capsys.readouterr()
    assert _render(tiny, repo) == 2
    assert "index.lock exists: a git command is running" in capsys.readouterr().err
    assert pygit2.Repository(str(repo)).head.target == head
    (repo / ".git" / "index.lock").unlink()
    assert _git_status(repo) == ""


def test_a_hard_linked_copy_of_the_repository_is_never_written_through(
    tiny: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    assert _render(tiny, repo) == 0
    original = _tree_files(repo)
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy, copy_function=lambda src, dst: Path(dst).hardlink_to(src))
    _change(tiny, "changed")
    assert _render(tiny, copy) == 0
    assert _tree_files(repo) == original
    assert _tree_files(copy) == _committed(copy) != original


def test_write_atomic_never_leaves_a_torn_file_or_a_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "f.yaml"
    dest.write_bytes(b"old\n")

    class Full:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            self.handle.write(data[:1])
            raise OSError(errno.ENOSPC, "No space left on device")

    real_fdopen = worktree.os.fdopen
    monkeypatch.setattr(worktree.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        worktree.write_atomic(dest, b"new content\n")
    assert dest.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.yaml"]


@pytest.mark.parametrize("branch", ["HEAD", "-x", "@", "a..b", "x.lock", "a b", ""])
def test_branch_names_git_refuses_are_refused(tmp_path: Path, branch: str) -> None:
    with pytest.raises(RepositoryError, match=r"--branch: .* is not a valid branch name"):
        commit_tree(tmp_path / "repo", {"a.yaml": b"a: 1\n"}, branch=branch, signature=SIG)
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(("existing", "branch"), [("main", "main/x"), ("a/b", "a")])
def test_a_branch_that_cannot_exist_beside_another_is_refused_by_name(
    tmp_path: Path, existing: str, branch: str
) -> None:
    repo = tmp_path / "repo"
    commit_tree(repo, {"a.yaml": b"a: 1\n"}, branch=existing, signature=SIG)
    with pytest.raises(
        RepositoryError, match=rf"'{branch}' cannot exist beside 'refs/heads/{existing}'"
    ):
        commit_tree(repo, {"a.yaml": b"a: 2\n"}, branch=branch, signature=SIG)


class _Reference:
    """A reference whose write fails as a full disk makes it fail."""

    def __init__(self, name: str, target: pygit2.Oid) -> None:
        self.name, self.target = name, target

    def set_target(self, target: pygit2.Oid, message: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_ref_write_is_reported_not_retried_as_a_moving_branch(tmp_path: Path) -> None:
    repo_path = tmp_path / "repo"
    first = commit_tree(repo_path, {"a.yaml": b"a: 1\n"}, signature=SIG)
    repo = pygit2.Repository(str(repo_path))
    reference = _Reference("refs/heads/main", pygit2.Oid(hex=first.commit))
    with pytest.raises(RepositoryError, match=r"cannot move branch refs/heads/main: No space left"):
        _move(repo, reference, repo.head.target)  # type: ignore[arg-type]
    (repo_path / ".git" / "refs" / "heads" / "main.lock").write_text("")
    assert _move(repo, reference, repo.head.target) is False  # another writer: retry  # type: ignore[arg-type]


def _index_stats(repo: Path) -> dict[str, tuple[int, int]]:
    """``path: (size, mtime seconds)`` of every index entry, as ``git ls-files --debug``
    shows them (pygit2 does not expose an entry's stat data)."""
    listing = subprocess.run(["git", "-C", str(repo), "ls-files", "--debug"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    stats: dict[str, tuple[int, int]] = {}
    path = ""
    for line in listing.splitlines():
        if not line.startswith(" "):
            path = line
        elif line.strip().startswith("mtime:"):
            mtime = int(line.split("mtime:")[1].split(":")[0])
            stats[path] = (0, mtime)
        elif line.strip().startswith("size:"):
            stats[path] = (int(line.split("size:")[1].split()[0]), stats[path][1])
    return stats


def test_a_refresh_leaves_the_index_knowing_each_files_size_and_time(tmp_path: Path) -> None:
    """So the next status compares stat data instead of hashing every file again."""
    repo = tmp_path / "repo"
    files = {f"envs/dev/f{n}.yaml": f"n: {n}\n".encode() for n in range(20)}
    commit_tree(repo, files, signature=identity("T <t@e>"))
    commit_tree(repo, {**files, "envs/dev/f3.yaml": b"n: changed\n", "envs/dev/new.yaml": b"x\n"},
                signature=identity("T <t@e>"))  # fmt: skip
    stats = _index_stats(repo)
    assert set(stats) >= set(files) | {"envs/dev/new.yaml"}
    for path, (size, mtime) in stats.items():
        on_disk = (repo / path).stat()
        assert (size, mtime) == (on_disk.st_size, int(on_disk.st_mtime)), path
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert status.stdout == ""


def test_an_index_whose_entries_do_not_make_the_tree_is_read_from_the_tree(
    tmp_path: Path,
) -> None:
    """A filter of the user's (``ident``, ``eol``) can make the bytes ``git add`` hashes
    differ from the blob committed: the index then holds the tree as committed."""
    repo_path = tmp_path / "repo"
    commit_tree(repo_path, {"a.yaml": b"a: 1\n", "b.yaml": b"b: 1\n"},
                signature=identity("T <t@e>"))  # fmt: skip
    repo = pygit2.Repository(str(repo_path))
    tree = repo.head.peel(pygit2.Commit).tree
    (repo_path / "b.yaml").write_bytes(b"b: what a filter made of it\n")
    index = repo.index
    worktree._index_to(repo, index, tree, ["b.yaml"], [])
    assert index.write_tree(repo) == tree.id
