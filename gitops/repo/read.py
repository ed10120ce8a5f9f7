"""Reading a tree at a ref, and pushing a branch."""

from __future__ import annotations

from pathlib import Path

import pygit2

from gitops.core.errors import InputError, RepositoryError
from gitops.core.yaml_io import MAX_TOTAL_BYTES, MAX_YAML_BYTES
from gitops.repo.objects import (
    blob_data,
    branch_ref,
    open_repository,
    resolve_commit,
    walk_tree,
)


def read_files(
    repo_path: Path, ref: str, prefix: str = "", *, max_bytes: int | None = MAX_YAML_BYTES
) -> dict[str, bytes]:
    """The files of the tree at ``ref`` under ``prefix``, keyed by full repository path.

    Args:
        repo_path: the repository.
        ref: a commit, branch or tag.
        prefix: a directory (or file) of the tree; empty for the whole tree.
        max_bytes: refuse files larger than this, from their headers, before reading
            any (default: the YAML size cap, as every caller parses manifests); None: no cap.

    Raises:
        RepositoryError: the repository is missing or ``ref`` does not name a commit.
        InputError: a file is larger than ``max_bytes``.
    """
    repo = open_repository(repo_path, create=False)
    tree = resolve_commit(repo, ref).tree
    prefix = prefix.strip("/")
    if prefix:
        try:
            obj = tree[prefix]
        except KeyError:
            return {}
        if not isinstance(obj, pygit2.Tree):
            entries = [(prefix, obj.id)]
        else:
            entries = list(walk_tree(obj, prefix))
    else:
        entries = list(walk_tree(tree, prefix))
    if max_bytes is not None:
        total = 0
        for path, oid in entries:
            size = repo.odb.read_header(oid)[1]
            if size > max_bytes:
                raise InputError(f"{ref}:{path}: {size} bytes exceeds the size cap of {max_bytes}")
            total += size
            if total > MAX_TOTAL_BYTES:
                # Each file under the cap, together too much: 60 files of 8 MiB took 1 GB.
                raise InputError(
                    f"{ref}:{prefix or '/'}: files total more than {MAX_TOTAL_BYTES} bytes "
                    f"(the cap on everything read at once; {path} passes it)"
                )
    return {path: blob_data(repo, oid) for path, oid in entries}


def push(repo_path: Path, remote: str, branch: str) -> None:
    """Push ``branch`` to ``remote`` (a configured remote name, a path or a URL).

    Credentials in a URL (``https://user:token@host/...``) are used, never shown: every
    message names the remote with them masked, and the URL is never stored (an anonymous
    remote, not one written to ``.git/config``).

    Raises:
        RepositoryError: the remote rejected the push or cannot be reached.
    """
    from gitops.core.redact import redact_url, scrub_url

    shown = redact_url(remote)
    repo = open_repository(repo_path, create=False)
    ref_name = branch_ref(branch)
    if remote in repo.remotes.names():
        target = repo.remotes[remote]
    else:
        url = str(Path(remote).resolve()) if Path(remote).exists() else remote
        target = repo.remotes.create_anonymous(url)
    callbacks = _PushCallbacks()
    try:
        target.push([f"{ref_name}:{ref_name}"], callbacks=callbacks)
    except pygit2.GitError as err:
        # libgit2 may quote the URL it was given; the cause is dropped for the same reason.
        message = scrub_url(str(err), remote)
        raise RepositoryError(f"push {branch} to {shown}: {message}") from None
    if callbacks.rejected:
        rejected = scrub_url(callbacks.rejected, remote)
        raise RepositoryError(f"push {branch} to {shown} rejected: {rejected}")


class _PushCallbacks(pygit2.RemoteCallbacks):
    def __init__(self) -> None:
        super().__init__()
        self.rejected = ""

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected = f"{refname}: {message}"


def subdirectories(repo_path: Path, ref: str, prefix: str) -> list[str]:
    """Names of the directories directly under ``prefix`` in the tree at ``ref`` (sorted).

    Raises:
        RepositoryError: the repository is missing or ``ref`` does not name a commit.
    """
    repo = open_repository(repo_path, create=False)
    tree = resolve_commit(repo, ref).tree
    try:
        obj = tree[prefix.strip("/")]
    except KeyError:
        return []
    if not isinstance(obj, pygit2.Tree):
        return []
    return sorted(entry.name for entry in obj if isinstance(entry, pygit2.Tree) and entry.name)
