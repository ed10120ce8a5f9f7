"""The working tree of a non-bare output repository: refreshed only when clean, never
through a symbolic link."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

import pygit2
from pygit2.enums import FileStatus

from gitops.errors import RepositoryError
from gitops.repo.objects import (
    _blob_data,
    _entries,
)

_DIRTY = (
    FileStatus.WT_MODIFIED
    | FileStatus.WT_DELETED
    | FileStatus.WT_TYPECHANGE
    | FileStatus.WT_RENAMED
)


def _follows(repo: pygit2.Repository, ref_name: str) -> bool:
    """Whether the working tree follows ``ref_name`` (non-bare, HEAD is that branch)."""
    if repo.is_bare or repo.workdir is None:
        return False
    return bool(repo.references["HEAD"].target == ref_name)


def _symlink_on(workdir: Path, path: str, checked: dict[str, str | None]) -> str | None:
    """The first component of ``path`` that is a symbolic link in the working tree, if any."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        if prefix not in checked:
            checked[prefix] = prefix if (workdir / prefix).is_symlink() else None
        if checked[prefix] is not None:
            return prefix
    return None


def _check_no_symlinks(workdir: Path, paths: Sequence[str]) -> None:
    checked: dict[str, str | None] = {}
    for path in sorted(paths):
        link = _symlink_on(workdir, path, checked)
        if link is not None:
            target = os.readlink(workdir / link)
            raise RepositoryError(
                f"refusing to write {path}: {link} in the working tree {workdir} is a "
                f"symbolic link (to {target}), which could lead outside the repository; "
                "remove it first"
            )


def _sync_worktree(repo: pygit2.Repository, ref_name: str) -> bool:
    if not _follows(repo, ref_name):
        return False
    lock_path = Path(repo.path) / "gitops-worktree.lock"
    try:
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return _sync_locked(repo, ref_name)
    except (pygit2.GitError, OSError):
        # The commit is in and the branch moved; a busy index (someone running git) only
        # means the working tree is not refreshed this time.
        return False


def _sync_locked(repo: pygit2.Repository, ref_name: str) -> bool:
    head = repo.references[ref_name].peel(pygit2.Commit)
    index = repo.index
    index.read(force=True)
    current = repo[index.write_tree()] if len(index) else None
    if current is not None and not _on_branch(head, current.id):
        return False  # the index holds someone's staged work
    status = repo.status(untracked_files="no")
    if any(flags & _DIRTY for flags in status.values()):
        return False  # a tracked file was edited by hand
    workdir = Path(str(repo.workdir))
    target_tree = head.tree
    old = _entries(current if isinstance(current, pygit2.Tree) else None)[1]
    new = _entries(target_tree)[1]
    if any(p not in old and (workdir / p).exists() for p in new):
        return False  # an untracked file sits where a generated one would go
    checked: dict[str, str | None] = {}
    if any(_symlink_on(workdir, p, checked) for p in old.keys() | new.keys()):
        return False  # a symlink appeared since commit_tree checked: never write through it
    # Index first: if it is locked (someone running git), the working tree stays untouched.
    index.read_tree(target_tree)
    index.write()
    for path in sorted(old.keys() - new.keys()):
        (workdir / path).unlink(missing_ok=True)
        _prune_empty(workdir, Path(path).parent)
    for path, oid in new.items():
        if old.get(path) != oid:
            dest = workdir / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(_blob_data(repo, oid))
    return True


def _on_branch(head: pygit2.Commit, tree_id: pygit2.Oid, limit: int = 1000) -> bool:
    commit: pygit2.Commit | None = head
    for _ in range(limit):
        if commit is None:
            return False
        if commit.tree_id == tree_id:
            return True
        commit = commit.parents[0] if commit.parents else None
    return False


def _prune_empty(workdir: Path, directory: Path) -> None:
    while str(directory) not in ("", "."):
        try:
            (workdir / directory).rmdir()
        except OSError:
            return
        directory = directory.parent
