"""Reading history: commit messages (for recorded overrides) and an environment's past files.

Change budgets read overrides from the messages of the commits a change consists of;
promotion order reads what another environment rendered at earlier commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pygit2

from gitops.core.errors import RepositoryError
from gitops.core.yaml_io import MAX_YAML_BYTES
from gitops.repo.objects import blob_data, open_repository, resolve_commit, walk_tree


def commit_message(repo_path: Path, ref: str) -> str:
    """The message of the commit ``ref`` names.

    Raises:
        RepositoryError: the repository is missing or ``ref`` names no commit.
    """
    repo = open_repository(repo_path, create=False)
    return str(resolve_commit(repo, ref).message)


def messages_between(repo_path: Path, base: str, head: str) -> list[str]:
    """Messages of the commits reachable from ``head`` but not from ``base``, newest first.

    Raises:
        RepositoryError: the repository is missing or a ref names no commit.
    """
    repo = open_repository(repo_path, create=False)
    head_id, base_id = resolve_commit(repo, head).id, resolve_commit(repo, base).id
    walker = repo.walk(head_id, pygit2.enums.SortMode.TOPOLOGICAL)
    walker.hide(base_id)
    return [str(commit.message) for commit in walker]


def past_files(repo_path: Path, ref: str, prefix: str) -> Iterator[dict[str, bytes]]:
    """The files under ``prefix`` at ``ref`` and at every commit before it.

    Each distinct version of the directory is yielded once (commits that did not change
    it are skipped by its tree id), newest first. A ``ref`` that does not exist yields
    nothing: a new branch has no history.

    Raises:
        RepositoryError: the repository is missing; InputError via size: a file over the
            YAML size cap is skipped instead of read (it could not be a rendered file).
    """
    try:
        repo = open_repository(repo_path, create=False)
    except RepositoryError:
        return
    try:
        start = resolve_commit(repo, ref)
    except RepositoryError:
        return
    seen: set[pygit2.Oid] = set()
    for commit in repo.walk(start.id, pygit2.enums.SortMode.TOPOLOGICAL):
        try:
            entry = commit.tree[prefix]
        except KeyError:
            continue
        if entry.id in seen or not isinstance(entry, pygit2.Tree):
            continue
        seen.add(entry.id)
        files: dict[str, bytes] = {}
        for path, oid in walk_tree(entry, prefix):
            if repo.odb.read_header(oid)[1] <= MAX_YAML_BYTES:
                files[path] = blob_data(repo, oid)
        yield files
