"""Many new blobs go into one pack that Git and libgit2 read; the working tree is the same."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from gitops.repo import commit_tree, read_files
from gitops.repo.pack import PACK_MIN_OBJECTS, pack_bytes


def _files(count: int, salt: str = "") -> dict[str, bytes]:
    # Sizes from 0 to ~70 KB, so pack headers of one to four size bytes all occur.
    return {
        f"envs/dev/object-{i:05d}.yaml": (f"kind: X\nname: o{i}{salt}\n" + "x" * (i * 37 % 70000))
        .encode()
        for i in range(count)
    }  # fmt: skip


def _loose_objects(repo: Path) -> int:
    objects = repo / ".git" / "objects"
    return sum(len(os.listdir(d)) for d in objects.iterdir() if len(d.name) == 2)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_many_new_files_are_one_pack_git_verifies(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    files = _files(PACK_MIN_OBJECTS + 44)
    files["envs/dev/same-as-0.yaml"] = files["envs/dev/object-00000.yaml"]  # one blob, two paths
    result = commit_tree(repo, files)
    packs = sorted((repo / ".git" / "objects" / "pack").glob("pack-*.pack"))
    assert len(packs) == 1 and packs[0].with_suffix(".idx").is_file()
    assert not list((repo / ".git" / "objects" / "pack").glob("tmp_*"))
    # Only the trees, the generated-paths index and the commit are loose: no blob is.
    assert _loose_objects(repo) < 20
    assert _git(repo, "fsck", "--strict", "--no-dangling") == ""
    verified = _git(repo, "verify-pack", "-v", str(packs[0].with_suffix(".idx")))
    assert verified.count(" blob ") == len(files) - 1
    committed = read_files(repo, "main", max_bytes=None)
    assert {p: committed[p] for p in files} == files
    for path, data in files.items():  # the working tree, written from memory
        assert (repo / path).read_bytes() == data
    assert _git(repo, "status", "--porcelain") == ""
    assert result.created and len(result.added) == len(files)


def test_few_new_files_stay_loose_and_a_pack_never_repeats_stored_blobs(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    files = _files(PACK_MIN_OBJECTS + 10)
    commit_tree(repo, files)
    changed = dict(files)
    changed["envs/dev/object-00003.yaml"] = b"kind: X\nname: changed\n"
    loose = _loose_objects(repo)
    commit_tree(repo, changed)
    assert len(list((repo / ".git" / "objects" / "pack").glob("pack-*.pack"))) == 1
    assert _loose_objects(repo) > loose  # the one new blob (and trees) written loose
    assert (repo / "envs/dev/object-00003.yaml").read_bytes() == b"kind: X\nname: changed\n"
    assert _git(repo, "fsck", "--strict", "--no-dangling") == ""


@pytest.mark.parametrize("size", [0, 15, 16, 2047, 2048, 2**20 + 3])
def test_a_pack_holds_each_blob_at_any_size_and_libgit2_reads_it(tmp_path: Path, size: int) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    sized = bytes(65 + i % 26 for i in range(size))
    blobs = {pygit2.hash(data): data for data in (sized, b"other")}
    built = pack_bytes(blobs)
    assert built is not None
    pack, index = built
    name = f"pack-{pack[-20:].hex()}"
    (tmp_path / "r" / "objects" / "pack" / f"{name}.pack").write_bytes(pack)
    (tmp_path / "r" / "objects" / "pack" / f"{name}.idx").write_bytes(index)
    reopened = pygit2.Repository(str(tmp_path / "r"))
    for oid, data in blobs.items():
        blob = reopened[oid]
        assert isinstance(blob, pygit2.Blob) and blob.data == data
    del repo
