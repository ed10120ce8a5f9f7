"""Repository, ref and object helpers shared by the writer, the reader and the working tree."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import pygit2
from pygit2.enums import FileMode, RepositoryOpenFlag

from gitops.core.errors import RepositoryError


def open_repository(repo_path: Path, *, create: bool) -> pygit2.Repository:
    """Open the repository at ``repo_path`` itself (no parent search); create it if asked."""
    path = Path(repo_path)
    if path.exists() and not path.is_dir():
        raise RepositoryError(f"{path}: repository path exists and is not a directory")
    try:
        # NO_SEARCH: never fall back to a repository in a parent directory.
        return pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError as err:
        if not create:
            raise RepositoryError(f"{path}: not a Git repository") from err
    if path.exists() and any(path.iterdir()):
        raise RepositoryError(f"{path}: not a Git repository and not empty; refusing to create one")
    try:
        return pygit2.init_repository(str(path), bare=False, initial_head="main")
    except (pygit2.GitError, OSError) as err:
        raise RepositoryError(f"{path}: cannot create a Git repository: {err}") from err


def branch_ref(branch: str) -> str:
    """``refs/heads/<branch>``, refusing a name Git itself would refuse as a branch."""
    ref_name = f"refs/heads/{branch}"
    # Besides the ref format, what git itself refuses as a branch name (git
    # check-ref-format --branch): HEAD, a leading dash (read as an option), a lone "@".
    refused = branch == "HEAD" or branch.startswith("-") or branch == "@"
    if not branch or refused or not pygit2.reference_is_valid_name(ref_name):
        raise RepositoryError(f"--branch: {branch!r} is not a valid branch name")
    return ref_name


def check_beside(repo: pygit2.Repository, ref_name: str) -> None:
    """Refuse a branch Git cannot create beside the existing ones (``a`` and ``a/b``).

    Refs are files: ``refs/heads/main`` and ``refs/heads/main/x`` cannot both exist.
    """
    for existing in repo.references:
        if existing.startswith(ref_name + "/") or ref_name.startswith(existing + "/"):
            branch, other = ref_name.removeprefix("refs/heads/"), existing
            raise RepositoryError(
                f"--branch: {branch!r} cannot exist beside {other!r} (Git stores refs as "
                "files: one name cannot be both a branch and a directory of branches)"
            )


def branch_head(repo: pygit2.Repository, ref_name: str) -> pygit2.Commit | None:
    """The commit ``ref_name`` points at, or None while the branch does not exist."""
    reference = repo.references.get(ref_name)
    return reference.peel(pygit2.Commit) if reference is not None else None


def resolve_commit(repo: pygit2.Repository, ref: str) -> pygit2.Commit:
    """The commit a ref, branch, tag or id names; RepositoryError if it names none."""
    try:
        obj = repo.revparse_single(ref)
        commit: pygit2.Commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError) as err:
        raise RepositoryError(f"{repo.path}: ref {ref!r} does not name a commit") from err
    return commit


#: ``{path: id}`` of the trees listed last (a tree id names its content, in any repository).
_FILES: OrderedDict[pygit2.Oid, Mapping[str, pygit2.Oid]] = OrderedDict()
_FILES_KEPT = 4


def tree_entries(tree: pygit2.Tree | None) -> tuple[pygit2.Index, Mapping[str, pygit2.Oid]]:
    """An in-memory index of ``tree`` and its ``{path: id}`` (read-only).

    Listing a tree's files walks every index entry in Python (0.08 s at 5,000 files), and
    one commit and refresh look at the same two trees several times: the last few
    listings are kept by tree id (:func:`remember_entries` adds one the caller made).
    """
    index = pygit2.Index()
    if tree is None:
        return index, MappingProxyType({})
    index.read_tree(tree)
    files = _FILES.get(tree.id)
    if files is None:
        files = remember_entries(tree.id, {entry.path: entry.id for entry in index})
    _FILES.move_to_end(tree.id)
    return index, files


def remember_entries(
    tree_id: pygit2.Oid, files: Mapping[str, pygit2.Oid]
) -> Mapping[str, pygit2.Oid]:
    """Keep ``files`` as the listing of tree ``tree_id`` (which must be exactly its files)."""
    kept = MappingProxyType(dict(files))
    _FILES[tree_id] = kept
    while len(_FILES) > _FILES_KEPT:
        _FILES.popitem(last=False)
    return kept


def write_blobs(
    repo: pygit2.Repository, blobs: Mapping[str, bytes], oids: Mapping[str, pygit2.Oid]
) -> dict[pygit2.Oid, bytes]:
    """Store the blobs ``{path: content}`` (ids in ``oids``) the database lacks.

    Many go into one pack (:mod:`gitops.repo.pack`), a few as loose objects; either way
    they stay unreferenced until the ref moves. Returns the content of every blob by id,
    for the working tree (written from memory, not read back out of Git).
    """
    from gitops.repo.pack import PACK_MIN_OBJECTS, write_pack

    contents = {oids[path]: data for path, data in blobs.items()}
    odb = repo.odb
    new = {oid: data for oid, data in contents.items() if not odb.exists(oid)}
    if len(new) < PACK_MIN_OBJECTS or not write_pack(repo, new):
        for data in new.values():
            repo.create_blob(data)
    return contents


def blob_data(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    """The bytes of the blob ``oid``; RepositoryError if it is not a file."""
    blob = repo[oid]
    if not isinstance(blob, pygit2.Blob):
        raise RepositoryError(f"{repo.path}: {oid} is not a file")
    return blob.data


def walk_tree(tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, pygit2.Oid]]:
    """Every file below ``tree`` as ``(prefix/path, blob id)``; submodules are skipped."""
    for entry in tree:
        path = f"{prefix}/{entry.name}" if prefix else str(entry.name)
        if isinstance(entry, pygit2.Tree):
            yield from walk_tree(entry, path)
        elif entry.filemode != FileMode.COMMIT:  # submodules have no content here
            yield path, entry.id
