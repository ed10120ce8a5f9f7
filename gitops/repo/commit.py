"""The Git writer: one commit per call, compare-and-swap on the branch.

Writing (:func:`commit_tree`): blobs and trees go straight into the object database
through an in-memory index; one commit per call; the branch moves by compare-and-swap.

- Ownership: the paths the tool generated are listed in the tree itself, in
  ``.gitops/generated.json``. A path is removed only if it was generated and is no longer
  produced; every other file is never touched; writing a path that holds a foreign file is
  a :class:`RepositoryError`.
- Compare-and-swap: the change is computed as a delta against the branch head seen first
  (paths to write, generated paths to remove), then applied onto the current head. The
  branch moves with libgit2's checked reference update (it takes ``refs/heads/<b>.lock``
  and fails if the branch no longer points at the head the commit was built on); on
  failure the delta is re-applied onto the new head, up to ``attempts`` times, so
  concurrent writers never lose each other's changes and history stays linear.
- Working tree: when the repository is not bare and ``HEAD`` is the branch, the working
  tree and index are brought to the new head only if they are clean (the index holds a
  commit of the branch and no tracked file is modified); otherwise they are left alone.
  A symbolic link in the working tree on a generated path (which could make a write land
  outside the repository) is refused before anything is written."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from gitops.core.errors import RepositoryError
from gitops.core.paths import GENERATED_INDEX, check_paths, describe_changes
from gitops.repo.objects import (
    blob_data,
    branch_head,
    branch_ref,
    check_beside,
    open_repository,
    remember_entries,
    resolve_commit,
    tree_entries,
    write_blobs,
)
from gitops.repo.worktree import (
    WorktreeOutcome,
    check_no_symlinks,
    follows_branch,
    index_lock,
    sync_worktree,
)

#: Identity used when neither ``--author`` nor GITOPS_AUTHOR_NAME/EMAIL is given.
DEFAULT_AUTHOR = ("gitops", "gitops@localhost")
#: Commit title used when no message is given.


#: Commit title used when no message is given.
DEFAULT_TITLE = "gitops render"


_IDENTITY = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>\s*$")


@dataclass(frozen=True)
class CommitResult:
    """What :func:`commit_tree` did.

    Attributes:
        branch: the branch written.
        commit: the branch head afterwards (hex), ``None`` if the branch does not exist.
        tree: the tree id of that head (hex).
        created: ``True`` if a new commit was written, ``False`` if nothing changed.
        added: paths added by this commit.
        changed: paths whose content changed.
        removed: generated paths removed.
        message: the commit message (empty if no commit).
        worktree_updated: the working tree was brought to the new head.
        worktree_note: why the working tree was deliberately left alone (edited,
            staged or untracked files), empty otherwise.
        worktree_failure: a working-tree refresh that could not be done or did not
            complete (a held ``index.lock``, a full disk), naming the state left.
    """

    branch: str
    commit: str | None
    tree: str
    created: bool
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    message: str = ""
    worktree_updated: bool = False
    worktree_note: str = ""
    worktree_failure: str = ""


#: Latest commit time accepted (2106-02-07T06:28:15Z): pygit2 writes the time through a
#: 32-bit unsigned field and silently wraps larger values (2**32 is committed as 0).
MAX_COMMIT_TIME = 2**32 - 1


def identity(author: str | None = None, *, when: int | None = None) -> pygit2.Signature:
    """The author/committer signature.

    Args:
        author: ``"Name <email>"``; default ``$GITOPS_AUTHOR_NAME <$GITOPS_AUTHOR_EMAIL>``,
            else ``gitops <gitops@localhost>``.
        when: seconds since the epoch; default ``$SOURCE_DATE_EPOCH``, else now (UTC).

    Raises:
        RepositoryError: ``author`` or ``$SOURCE_DATE_EPOCH`` is malformed.
    """
    if author is None:
        name = os.environ.get("GITOPS_AUTHOR_NAME") or DEFAULT_AUTHOR[0]
        email = os.environ.get("GITOPS_AUTHOR_EMAIL") or DEFAULT_AUTHOR[1]
    else:
        match = _IDENTITY.match(author)
        if match is None:
            raise RepositoryError(f"--author: expected 'Name <email>', got {author!r}")
        name, email = match["name"], match["email"]
    if when is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch is not None and (not epoch.isdigit() or int(epoch) > MAX_COMMIT_TIME):
            raise RepositoryError(
                f"SOURCE_DATE_EPOCH: expected an integer from 0 to {MAX_COMMIT_TIME} "
                f"(2106-02-07T06:28:15Z), got {epoch[:40]!r}"
            )
        when = int(epoch) if epoch is not None else int(time.time())
    return pygit2.Signature(name, email, when, 0)


def commit_tree(
    repo_path: Path,
    files: Mapping[str, bytes],
    *,
    branch: str = "main",
    base: str | None = None,
    message: str | None = None,
    notes: Sequence[str] = (),
    signature: pygit2.Signature | None = None,
    attempts: int = 20,
    update_worktree: bool = True,
    rendered_from: str | None = None,
    trailers: Sequence[str] = (),
) -> CommitResult:
    """Write ``files`` (``{path: bytes}``, every generated path) as one commit on ``branch``.

    Args:
        repo_path: the repository; created (non-bare) if missing.
        files: the complete generated content; generated paths absent here are removed.
        branch: branch to commit to.
        base: ref or commit the branch starts from if it does not exist (default: no parent).
        message: commit title; a per-environment summary of changes and ``notes`` follow.
        notes: extra lines for the message (for example guardrail warnings).
        signature: author and committer (default :func:`identity`).
        attempts: how many times to rebuild on a moved branch before giving up.
        update_worktree: bring a clean working tree to the new head (non-bare only).
        rendered_from: the commit the caller's view of the branch came from (default: the
            branch head now). Only paths that differ from it are written or removed, so
            changes others committed on the branch since then are kept.
        trailers: Git trailer lines ending the message (``Gitops-Override: ...``).

    Raises:
        RepositoryError: the repository cannot be opened or created, ``base`` is unknown, a
            generated path collides with a foreign file, or the branch kept moving.
    """
    ref_name = branch_ref(branch)
    _check_request(repo_path, files, base, rendered_from)
    text = _Text(message, notes, trailers, signature or identity())
    repo = open_repository(repo_path, create=True)
    check_beside(repo, ref_name)
    if update_worktree and follows_branch(repo, ref_name):
        # Checked before anything is written: the working tree is refreshed later, and a
        # symlink on a generated path would make that write land outside the repository.
        check_no_symlinks(Path(str(repo.workdir)), [*files, GENERATED_INDEX])
        held = index_lock(repo)
        if held:  # refused before anything moves, rather than leaving a stale checkout
            raise RepositoryError(f"{repo_path}: cannot refresh the working tree: {held}")
    if rendered_from is not None:
        start: pygit2.Commit | None = resolve_commit(repo, rendered_from)
    else:
        start = branch_head(repo, ref_name) or (resolve_commit(repo, base) if base else None)
    with _writing(repo_path):
        delta = _delta(repo, start, files)
        for attempt in range(attempts):
            result = _attempt(repo, branch, start, files, delta, text, update_worktree)
            if result is not None:
                return result
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
    raise _gave_up(repo, repo_path, branch, attempts)


def _gave_up(
    repo: pygit2.Repository, repo_path: Path, branch: str, attempts: int
) -> RepositoryError:
    """Why the branch could not be moved: a lock left behind, or writers kept winning."""
    lock = Path(repo.path) / f"{branch_ref(branch)}.lock"
    if lock.exists():
        return RepositoryError(
            f"{repo_path}: branch {branch} is locked by {lock}: another git or gitops process "
            "is writing it, or one was killed while it did; remove the lock file if none runs"
        )
    return RepositoryError(
        f"{repo_path}: branch {branch} kept moving; gave up after {attempts} attempts"
    )


def _check_request(
    repo_path: Path, files: Mapping[str, bytes], base: str | None, rendered_from: str | None
) -> None:
    """Refuse unsafe paths and refs naming nothing, before the repository is created."""
    for path in files:
        _check_path(path)
    check_paths([*files, GENERATED_INDEX])  # every checkout (Linux, macOS, Windows) holds them
    for what, ref in (("base", base), ("rendered_from", rendered_from)):
        # Checked before creating the repository, so a bad ref leaves no empty repository.
        if ref is not None and not Path(repo_path).exists():
            raise RepositoryError(
                f"{repo_path}: {what} {ref!r} does not name a commit: no repository there yet"
            )


@dataclass(frozen=True)
class _Text:
    """What the commit says and who signs it."""

    title: str | None
    notes: Sequence[str]
    trailers: Sequence[str]
    signature: pygit2.Signature


@dataclass(frozen=True)
class _Delta:
    """The change against the commit the caller rendered from, its blobs already stored.

    Attributes:
        writes: paths whose content differs from that commit, with their new blob ids.
        removals: generated paths there that ``files`` no longer holds.
        contents: the content of every written blob by id (the working tree's source).
    """

    writes: dict[str, pygit2.Oid]
    removals: set[str]
    contents: dict[pygit2.Oid, bytes]


def _delta(
    repo: pygit2.Repository, start: pygit2.Commit | None, files: Mapping[str, bytes]
) -> _Delta:
    start_entries = tree_entries(start.tree if start is not None else None)[1]
    oids = {path: pygit2.hash(data) for path, data in sorted(files.items())}
    writes = {path: oid for path, oid in oids.items() if start_entries.get(path) != oid}
    contents = write_blobs(repo, {path: files[path] for path in writes}, oids)
    removals = _generated(repo, start_entries) - files.keys()
    return _Delta(writes, removals, contents)


def _attempt(
    repo: pygit2.Repository,
    branch: str,
    start: pygit2.Commit | None,
    files: Mapping[str, bytes],
    delta: _Delta,
    text: _Text,
    update_worktree: bool,
) -> CommitResult | None:
    """Apply ``delta`` onto the branch head now and move the branch (``None``: it moved)."""
    ref_name = branch_ref(branch)
    reference = repo.references.get(ref_name)
    head = reference.peel(pygit2.Commit) if reference is not None else start
    index, entries = tree_entries(head.tree if head is not None else None)
    generated = _generated(repo, entries)
    _check_foreign(entries, files, generated)
    added: list[str] = []
    changed: list[str] = []
    for path, oid in delta.writes.items():
        old = entries.get(path)
        if old != oid:
            (added if old is None else changed).append(path)
            index.add(pygit2.IndexEntry(path, oid, FileMode.BLOB))
    removed = [path for path in sorted(delta.removals & generated) if path in entries]
    for path in removed:
        index.remove(path)
    owned = sorted((generated | files.keys()) - delta.removals)
    listing = (json.dumps({"generator": "gitops", "paths": owned}, indent=1) + "\n").encode()
    listing_id = repo.create_blob(listing)
    index.add(pygit2.IndexEntry(GENERATED_INDEX, listing_id, FileMode.BLOB))
    new_tree = index.write_tree(repo)
    # The new tree's listing is known: the refresh below need not walk it again.
    gone = set(removed)
    listed = {path: oid for path, oid in entries.items() if path not in gone}
    listed.update((path, delta.writes[path]) for path in (*added, *changed))
    listed[GENERATED_INDEX] = listing_id
    remember_entries(new_tree, listed)
    contents = {**delta.contents, listing_id: listing}
    if head is not None and new_tree == head.tree_id:
        if reference is None and _try_create(repo, ref_name, head.id) is None:
            return None  # a new branch at its base, created concurrently: rebuild
        # Nothing to commit; a working tree an earlier refresh left behind catches up.
        outcome = _refresh(repo, ref_name, update_worktree, contents)
        return CommitResult(branch, str(head.id), str(new_tree), created=False,
                            worktree_updated=outcome.updated, worktree_note=outcome.note,
                            worktree_failure=outcome.failure)  # fmt: skip
    body = _message(text.title, added, changed, removed, text.notes, text.trailers)
    parents = [head.id] if head is not None else []
    commit = repo.create_commit(None, text.signature, text.signature, body, new_tree, parents)
    if reference is None:
        moved = _try_create(repo, ref_name, commit) is not None
    else:
        moved = _move(repo, reference, commit)
    if not moved:
        return None
    outcome = _refresh(repo, ref_name, update_worktree, contents)
    return CommitResult(branch, str(commit), str(new_tree), created=True, added=tuple(added),
                        changed=tuple(changed), removed=tuple(removed), message=body,
                        worktree_updated=outcome.updated, worktree_note=outcome.note,
                        worktree_failure=outcome.failure)  # fmt: skip


def _generated(repo: pygit2.Repository, entries: Mapping[str, pygit2.Oid]) -> set[str]:
    oid = entries.get(GENERATED_INDEX)
    if oid is None:
        return set()
    try:
        paths = json.loads(blob_data(repo, oid))["paths"]
    except (ValueError, KeyError, TypeError) as err:
        raise RepositoryError(f"{GENERATED_INDEX}: not a generated-paths index: {err}") from err
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise RepositoryError(f"{GENERATED_INDEX}: 'paths' must be a list of strings")
    return set(paths)


def _check_foreign(
    entries: Mapping[str, pygit2.Oid], files: Mapping[str, bytes], generated: set[str]
) -> None:
    """Refuse to write a path holding a foreign file, under one, or over a directory."""
    directories = {d for path in entries for d in _parents(path)}
    for path in sorted(files):
        if path in generated:
            continue
        clash = path if path in entries or path in directories else None
        clash = clash or next((d for d in _parents(path) if d in entries), None)
        if clash is not None:
            raise RepositoryError(
                f"generated path {path} collides with {clash}, which the tool did not "
                "generate; move or delete it first"
            )


def _check_path(path: str) -> None:
    parts = path.split("/")
    unsafe = any(part in ("", ".", "..") or part.lower() == ".git" for part in parts)
    if unsafe or "\\" in path or "\0" in path or path == GENERATED_INDEX:
        raise RepositoryError(
            f"refusing to write {path!r}: not a relative path inside the repository "
            f"(no '..', '.git', empty parts or {GENERATED_INDEX})"
        )


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")
    for depth in range(1, len(parts)):
        yield "/".join(parts[:depth])


def _message(
    title: str | None,
    added: Sequence[str],
    changed: Sequence[str],
    removed: Sequence[str],
    notes: Sequence[str],
    trailers: Sequence[str] = (),
) -> str:
    lines = [title or DEFAULT_TITLE, ""]
    lines.extend(describe_changes(added, changed, removed))
    if notes:
        lines.extend(["", "Guardrail findings (Warn/Audit):"])
        lines.extend(f"  {note}" for note in notes)
    if trailers:  # the last paragraph, so `git interpret-trailers` finds them
        lines.extend(["", *trailers])
    return "\n".join(lines).rstrip() + "\n"


def _try_create(
    repo: pygit2.Repository, ref_name: str, target: pygit2.Oid
) -> pygit2.Reference | None:
    try:
        reference: pygit2.Reference = repo.references.create(ref_name, target, force=False)
    except pygit2.AlreadyExistsError:
        return None  # created concurrently: rebuild on it
    except (pygit2.GitError, OSError) as err:
        if "failed to lock" in str(err) or (Path(repo.path) / f"{ref_name}.lock").exists():
            return None  # another writer is creating it: retry
        reason = getattr(err, "strerror", None) or str(err)
        raise RepositoryError(f"cannot create branch {ref_name}: {reason}") from err
    return reference


class _MoveError(Exception):
    """The branch write failed other than by lock contention (the reason is the message)."""


def _try_move(reference: pygit2.Reference, target: pygit2.Oid) -> bool:
    # libgit2 checks, under refs/heads/<b>.lock, that the branch still points where this
    # Reference was read; a concurrent move (or a held lock) fails instead of clobbering.
    try:
        reference.set_target(target, "gitops render")
    except (pygit2.GitError, OSError) as err:
        if "failed to lock" in str(err) or "failed to create locked file" in str(err):
            return False  # another writer holds the lock: rebuild on the head and retry
        raise _MoveError(getattr(err, "strerror", None) or str(err)) from err
    return True


def _move(repo: pygit2.Repository, reference: pygit2.Reference, target: pygit2.Oid) -> bool:
    """Move ``reference`` to ``target``; False when another writer got there first.

    Raises:
        RepositoryError: the write failed while nobody else moved or locked the branch
            (a full disk, permissions): retrying cannot fix it, and it is no race.
    """
    expected, name = reference.target, reference.name
    try:
        return _try_move(reference, target)
    except _MoveError as err:
        now = repo.references.get(name)
        if (now is not None and now.target != expected) or (
            Path(repo.path) / f"{name}.lock"
        ).exists():
            return False
        raise RepositoryError(f"cannot move branch {name}: {err}") from err


def _refresh(
    repo: pygit2.Repository,
    ref_name: str,
    update_worktree: bool,
    contents: Mapping[pygit2.Oid, bytes],
) -> WorktreeOutcome:
    if not update_worktree:
        return WorktreeOutcome(False)
    return sync_worktree(repo, ref_name, contents)


@contextlib.contextmanager
def _writing(repo_path: Path) -> Iterator[None]:
    """Turn a failed write to the object database (a full disk) into one clear error."""
    try:
        yield
    except (pygit2.GitError, OSError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise RepositoryError(
            f"{repo_path}: writing the commit failed: {reason}; the branch did not move"
        ) from err
