"""Packs built for the Git writer are valid Git packs that libgit2 and git both read."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pygit2
import pytest

from gitops import packfile, repo

BLOBS = [b"", b"a: 1\n", b"x" * 5000, bytes(range(256)) * 40, b"a: 1\n"]


def test_blob_names_are_git_object_names() -> None:
    for data in BLOBS:
        assert packfile.blob_name(data) == str(pygit2.hash(data))


def test_a_pack_holds_each_blob_once_and_libgit2_reads_it(tmp_path: Path) -> None:
    built = packfile.build(BLOBS)
    assert len(built.objects) == 4
    git = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    pack_dir = tmp_path / "r" / "objects" / "pack"
    (pack_dir / f"pack-{built.name}.pack").write_bytes(built.pack)
    (pack_dir / f"pack-{built.name}.idx").write_bytes(built.index)
    for data in BLOBS:
        assert git[pygit2.hash(data)].data == data


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_git_verify_pack_accepts_the_pack(tmp_path: Path) -> None:
    built = packfile.build(BLOBS)
    (tmp_path / "p.pack").write_bytes(built.pack)
    (tmp_path / "p.idx").write_bytes(built.index)
    done = subprocess.run(
        ["git", "verify-pack", "-v", str(tmp_path / "p.idx")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "non delta: 4 objects" in done.stdout


def test_a_large_commit_is_written_as_one_pack(tmp_path: Path) -> None:
    files = {f"d/f{i}.yaml": f"i: {i}\n".encode() for i in range(repo.PACK_THRESHOLD)}
    result = repo.commit_tree(tmp_path / "r", files)
    objects = tmp_path / "r" / ".git" / "objects"
    assert len(list((objects / "pack").glob("pack-*.idx"))) == 1
    assert repo.read_files(tmp_path / "r", "main", "d") == files
    assert result.created and len(result.added) == repo.PACK_THRESHOLD


def test_writers_in_threads_packing_the_same_blobs_both_succeed(tmp_path: Path) -> None:
    files = {f"d/f{i}.yaml": f"i: {i}\n".encode() for i in range(repo.PACK_THRESHOLD)}
    repo.commit_tree(tmp_path / "r", {"seed.yaml": b"a: 1\n"})
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda b: repo.commit_tree(tmp_path / "r", files, branch=b), "abcd")
        )
    assert all(r.created for r in results)
    for branch in "abcd":
        assert repo.read_files(tmp_path / "r", branch, "d") == files
    assert not list((tmp_path / "r" / ".git" / "objects" / "pack").glob("tmp_*"))


def test_a_small_commit_stays_loose(tmp_path: Path) -> None:
    repo.commit_tree(tmp_path / "r", {"a.yaml": b"a: 1\n"})
    assert not list((tmp_path / "r" / ".git" / "objects" / "pack").glob("*.idx"))


def test_an_oversized_pack_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packfile, "MAX_PACK_BYTES", 20)
    with pytest.raises(ValueError, match="pack would exceed 20 bytes"):
        packfile.build([b"some data that compresses to more than a few bytes" * 3])


def test_a_commit_falls_back_to_loose_objects_when_packing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packfile, "MAX_PACK_BYTES", 20)
    files = {f"f{i}.yaml": f"i: {i}\n".encode() for i in range(repo.PACK_THRESHOLD)}
    repo.commit_tree(tmp_path / "r", files)
    assert not list((tmp_path / "r" / ".git" / "objects" / "pack").glob("*.idx"))
    read = repo.read_files(tmp_path / "r", "main")
    read.pop(".gitops/generated.json")
    assert read == files
