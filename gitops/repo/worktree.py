"""The working tree of a non-bare output repository: refreshed only when clean, file by
file atomically (never through a symbolic or hard link), and a refresh that cannot be done
or does not complete is reported with the state it left."""

from __future__ import annotations

import fcntl
import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileStatus

from gitops.core.errors import RepositoryError
from gitops.repo.objects import (
    blob_data,
    tree_entries,
)

_DIRTY = (
    FileStatus.WT_MODIFIED
    | FileStatus.WT_DELETED
    | FileStatus.WT_TYPECHANGE
    | FileStatus.WT_RENAMED
)


def follows_branch(repo: pygit2.Repository, ref_name: str) -> bool:
    """Whether the working tree follows ``ref_name`` (non-bare, HEAD is that branch)."""
    if repo.is_bare or repo.workdir is None:
        return False
    return bool(repo.references["HEAD"].target == ref_name)


def _symlink_on(workdir: Path, path: str, checked: dict[str, str | None]) -> str | None:
    """The first component of ``path`` that is a symbolic link in the working tree, if any."""
    parts = path.split("/")
    root = str(workdir)
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        if prefix not in checked:
            # os.path, not pathlib: one lstat per prefix, without building Path objects
            checked[prefix] = prefix if os.path.islink(os.path.join(root, prefix)) else None
        if checked[prefix] is not None:
            return prefix
    return None


def check_no_symlinks(workdir: Path, paths: Sequence[str]) -> None:
    """Refuse to write through a symbolic link: any component of ``paths`` in ``workdir``."""
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


@dataclass(frozen=True)
class WorktreeOutcome:
    """What refreshing the working tree did.

    Attributes:
        updated: the working tree and index now show the branch head.
        note: why it was deliberately left as it was (edited, staged or untracked files
            in the way); a warning, not a failure.
        failure: a refresh that could not be done or did not complete (a held
            ``index.lock``, a full disk), naming the state the working tree is in.
    """

    updated: bool
    note: str = ""
    failure: str = ""


def index_lock(repo: pygit2.Repository, *, locked: bool = False) -> str:
    """A refusal naming ``.git/index.lock`` if a git process holds it (else empty).

    gitops processes write the index only under ``gitops-worktree.lock``; taking it first
    (unless ``locked``: the caller holds it) means a lock file seen is some other git's.
    """
    lock = Path(repo.path) / "index.lock"
    if not locked:
        with (Path(repo.path) / "gitops-worktree.lock").open("a") as ours:
            fcntl.flock(ours, fcntl.LOCK_EX)
            return index_lock(repo, locked=True)
    if not lock.exists():
        return ""
    return (
        f"{lock} exists: a git command is running in {repo.workdir}, or one was killed; "
        "remove the lock if none runs"
    )


def sync_worktree(
    repo: pygit2.Repository, ref_name: str, contents: Mapping[pygit2.Oid, bytes] | None = None
) -> WorktreeOutcome:
    """Bring a clean working tree and index to ``ref_name`` (see the module docstring).

    ``contents`` holds blobs just written, by id: those files are written from memory
    instead of being read back out of the object database.
    """
    if not follows_branch(repo, ref_name):
        return WorktreeOutcome(False)
    lock_path = Path(repo.path) / "gitops-worktree.lock"
    try:
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            held = index_lock(repo, locked=True)
            if held:
                return WorktreeOutcome(False, failure=f"the working tree was not refreshed: {held}")
            return _sync_locked(repo, ref_name, contents or {})
    except (pygit2.GitError, OSError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        return WorktreeOutcome(False, failure=f"the working tree was not refreshed: {reason}")


def _sync_locked(
    repo: pygit2.Repository, ref_name: str, contents: Mapping[pygit2.Oid, bytes]
) -> WorktreeOutcome:
    head = repo.references[ref_name].peel(pygit2.Commit)
    index = repo.index
    index.read(force=True)
    current = repo[index.write_tree()] if len(index) else None
    if current is not None and current.id == head.tree_id:
        return WorktreeOutcome(True)  # already there (an earlier refresh, or git itself)
    if current is not None and not _on_branch(head, current.id):
        return WorktreeOutcome(False, note="the index holds staged changes")
    status = repo.status(untracked_files="no")
    edited = sorted(path for path, flags in status.items() if flags & _DIRTY)
    if edited:
        return WorktreeOutcome(False, note=f"{edited[0]} is edited ({len(edited)} files)")
    workdir = Path(str(repo.workdir))
    target_tree = head.tree
    old = tree_entries(current if isinstance(current, pygit2.Tree) else None)[1]
    new = tree_entries(target_tree)[1]
    in_the_way = sorted(p for p in new if p not in old and (workdir / p).exists())
    if in_the_way:
        return WorktreeOutcome(False, note=f"untracked {in_the_way[0]} is in the way")
    writes = [(path, oid) for path, oid in sorted(new.items()) if old.get(path) != oid]
    written = [path for path, _oid in writes]
    removed = sorted(old.keys() - new.keys())
    checked: dict[str, str | None] = {}
    if any(_symlink_on(workdir, p, checked) for p in [*written, *removed]):
        # A symlink appeared since commit_tree checked: never write (or remove) through it.
        return WorktreeOutcome(False, failure="a symbolic link appeared on a generated path")
    done: list[str] = []
    made: set[Path] = set()
    try:
        for path, oid in writes:
            dest = workdir / path
            if dest.parent not in made:
                dest.parent.mkdir(parents=True, exist_ok=True)
                made.add(dest.parent)
            data = contents.get(oid)  # content-addressed: the id names these very bytes
            write_atomic(dest, data if data is not None else blob_data(repo, oid))
            done.append(path)
    except OSError as err:
        return WorktreeOutcome(False, failure=_roll_back(repo, workdir, old, done, err))
    for path in removed:
        (workdir / path).unlink(missing_ok=True)
        _prune_empty(workdir, Path(path).parent)
    # The index last: libgit2 writes it through index.lock and a rename, so it moves in
    # one step once every file is in place.
    _index_to(repo, index, target_tree, written, removed)
    index.write()
    return WorktreeOutcome(True)


def _index_to(
    repo: pygit2.Repository,
    index: pygit2.Index,
    tree: pygit2.Tree,
    written: Sequence[str],
    removed: Sequence[str],
) -> None:
    """Bring ``index`` to ``tree``, keeping what it knows of the files that did not change.

    Updated entry by entry (each written file stat'ed and hashed as ``git add`` does), so
    the next ``git status`` (ours, or the user's) compares sizes and times instead of
    reading and hashing every file again: reading the whole tree in would drop every
    entry's stat data. If the entries do not make ``tree`` (a clean or smudge filter of
    the user's changed a file's bytes), the tree is read in whole instead.
    """
    for path in removed:
        index.remove(path)
    for path in written:
        index.add(path)
    if index.write_tree(repo) != tree.id:
        index.read_tree(tree)


def _roll_back(
    repo: pygit2.Repository,
    workdir: Path,
    old: Mapping[str, pygit2.Oid],
    done: list[str],
    err: OSError,
) -> str:
    """Put back the files a failed refresh wrote; describe the state left."""
    reason = err.strerror or str(err)
    restored = 0
    for path in done:
        try:
            if path in old:
                write_atomic(workdir / path, blob_data(repo, old[path]))
            else:
                (workdir / path).unlink(missing_ok=True)
                _prune_empty(workdir, Path(path).parent)
            restored += 1
        except OSError:
            break
    if restored == len(done):
        return (
            f"the working tree refresh failed ({reason}) after {len(done)} files and was "
            "rolled back: the working tree and index still show the previous commit; the "
            "next render refreshes them"
        )
    return (
        f"the working tree refresh failed ({reason}): it is partly refreshed ({len(done)} "
        f"files written, {restored} put back); run 'git checkout -f' in {workdir} once "
        "the cause is fixed"
    )


_TEMPORARY = itertools.count()


def write_atomic(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` as a new file renamed into place.

    Readers see the old file or the new one, never a torn or empty one (a full disk fails
    before the rename), and a hard link at ``dest`` (a ``cp -al`` copy of the repository)
    keeps its content: the rename replaces the name, not the file behind it. A symbolic
    link is never followed (the temporary name is created with ``O_EXCL|O_NOFOLLOW``).

    Raises:
        OSError: the file could not be written (the temporary file is removed).
    """
    temporary = dest.parent / f".gitops-{os.getpid()}-{next(_TEMPORARY)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(temporary, flags, 0o666)  # the umask applies, as for git checkout
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, dest)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
