"""Reliability: many writers committing to one branch at once lose nothing and never force.

Each writer renders from the same seed commit and adds one distinct file per commit
(``rendered_from=seed``, as ``gitops render`` runs started from the same checkout would).
The branch moves only by compare-and-swap, so at the end every change is present, the
history is linear (one parent per commit), and every commit a writer was told it made
is on the branch.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pygit2

from gitops.repo import commit_tree, identity, read_files

SIG = identity("test <test@example.com>", when=1_700_000_000)
SEED = {"argocd/kustomization.yaml": b"resources: []\n"}
WRITERS = 8
COMMITS = 25


def _path(writer: int, commit: int) -> str:
    return f"envs/w{writer}/workloads/apps/configmap-c{commit:02d}.yaml"


def _content(writer: int, commit: int) -> bytes:
    return f"writer {writer} commit {commit}\n".encode()


def _write(repo: str, writer: int, seed: str, commits: int, out: str) -> None:
    made: list[str] = []
    for commit in range(commits):
        files = dict(SEED)
        # Everything this writer rendered so far; the others' files are not in its view.
        files.update({_path(writer, j): _content(writer, j) for j in range(commit + 1)})
        result = commit_tree(Path(repo), files, signature=SIG, rendered_from=seed)
        assert result.created and result.added == (_path(writer, commit),)
        made.append(str(result.commit))
    Path(out).write_text("\n".join(made) + "\n")


def _history(repo: Path) -> list[pygit2.Commit]:
    r = pygit2.Repository(str(repo))
    return list(r.walk(r.references["refs/heads/main"].target))


def _check_outcome(repo: Path, seed: str, writers: int, commits: int, made: list[str]) -> None:
    files = read_files(repo, "main")
    expected = {_path(w, c): _content(w, c) for w in range(writers) for c in range(commits)}
    assert {p: files.get(p) for p in expected} == expected  # every change is present
    history = _history(repo)
    assert all(len(c.parent_ids) <= 1 for c in history)  # linear
    assert len(history) == 1 + writers * commits  # one commit per change, nothing squashed
    assert str(history[-1].id) == seed
    on_branch = {str(c.id) for c in history}
    assert set(made) <= on_branch  # no reported commit was dropped by a forced move
    r = pygit2.Repository(str(repo))
    for commit in history[:-1]:
        delta = r.diff(commit.parents[0], commit)
        paths = sorted(d.delta.new_file.path for d in delta)
        assert len(paths) == 2 and paths[0] == ".gitops/generated.json"  # one distinct change


def test_eight_processes_times_25_commits_keep_every_change_in_a_linear_history(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    seed = commit_tree(repo, SEED, signature=SIG).commit
    assert seed is not None
    context = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"writer-{w}.txt" for w in range(WRITERS)]
    workers = [
        context.Process(target=_write, args=(str(repo), w, seed, COMMITS, str(outs[w])))
        for w in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0] * WRITERS
    made = [line for out in outs for line in out.read_text().split()]
    assert len(made) == WRITERS * COMMITS
    _check_outcome(repo, seed, WRITERS, COMMITS, made)
    assert pygit2.Repository(str(repo)).status() == {}  # the working tree followed the head


def test_eight_threads_in_one_process_keep_every_change(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    seed = commit_tree(repo, SEED, signature=SIG).commit
    assert seed is not None
    commits = 5
    errors: list[BaseException] = []
    outs = [tmp_path / f"thread-{w}.txt" for w in range(WRITERS)]

    def run(writer: int) -> None:
        try:
            _write(str(repo), writer, seed, commits, str(outs[writer]))
        except BaseException as err:  # reported to the test thread below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    made = [line for out in outs for line in out.read_text().split()]
    _check_outcome(repo, seed, WRITERS, commits, made)
