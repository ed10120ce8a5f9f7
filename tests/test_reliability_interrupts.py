"""Reliability: an interrupted render leaves the branch where it was, and the next run converges.

A commit is made of objects written to the object database, then one checked move of the
branch reference; until that move, nothing a reader or Argo CD/Flux sees has changed.
Tested by injecting an exception after the objects are written, by Ctrl-C, and by
SIGKILL of a separate process, both at a chosen point and at random times.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pygit2
import pytest

from gitops.cli.main import main
from gitops.core.errors import RepositoryError
from gitops.repo import commit as git
from gitops.repo import commit_tree, identity, read_files
from gitops.workflows.render import render_to_repo

TINY = Path(__file__).parent / "fixtures" / "tiny"
SIG = identity("test <test@example.com>", when=1_700_000_000)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    shutil.copytree(TINY, tmp_path / "in")
    return tmp_path / "in"


def head(repo: Path) -> str:
    return str(pygit2.Repository(str(repo)).references["refs/heads/main"].target)


def change_input(tiny: Path) -> None:
    beta = tiny / "environments" / "beta.yaml"
    beta.write_text(beta.read_text().replace("gpu: 4", "gpu: 8"))


def worktree(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }


def test_exception_after_objects_are_written_leaves_the_branch(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    first = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    files_before = worktree(repo)
    change_input(tiny)
    written: list[str] = []

    def crash(reference: pygit2.Reference, target: pygit2.Oid) -> bool:
        written.append(str(target))  # the new commit exists in the object database
        raise RuntimeError("injected: process dies before the branch moves")

    monkeypatch.setattr(git, "_try_move", crash)
    with pytest.raises(RuntimeError, match="injected"):
        render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    assert written and written[0] in pygit2.Repository(str(repo))  # written, unreferenced
    assert head(repo) == first.commit
    assert worktree(repo) == files_before
    monkeypatch.undo()
    again = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    assert again.created and again.changed  # the next run converges
    assert pygit2.Repository(str(repo)).status() == {}


def test_exception_while_creating_the_branch_leaves_no_branch(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object) -> None:
        raise RuntimeError("injected before the branch exists")

    monkeypatch.setattr(git, "_try_create", crash)
    with pytest.raises(RuntimeError, match="injected"):
        render_to_repo(tiny / "blueprints", tiny / "environments", tmp_path / "repo")
    assert "refs/heads/main" not in pygit2.Repository(str(tmp_path / "repo")).references
    monkeypatch.undo()
    assert render_to_repo(tiny / "blueprints", tiny / "environments", tmp_path / "repo").created


def test_ctrl_c_during_the_commit_is_one_line_and_leaves_the_branch(
    tiny: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = tmp_path / "repo"
    first = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    change_input(tiny)

    def interrupt(*args: object) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(git, "_try_move", interrupt)
    args = ["--blueprints", str(tiny / "blueprints"), "--environments", str(tiny / "environments")]
    code = main(["render", *args, "--repo", str(repo)])
    assert code == 2
    assert "gitops render: interrupted" in capsys.readouterr().err
    assert head(repo) == first.commit


CHILD_AT_MOVE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from gitops.repo import commit as git
    from gitops.workflows.render import render_to_repo

    blueprints, environments, repo, marker = map(Path, sys.argv[1:5])

    def stall(reference, target):
        marker.write_text(str(target))  # objects written; the branch has not moved
        time.sleep(120)
        return False

    git._try_move = stall
    render_to_repo(blueprints, environments, repo)
    """
)


def test_sigkill_between_objects_and_branch_move_leaves_the_branch(
    tiny: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    first = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    change_input(tiny)
    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD_AT_MOVE,
            str(tiny / "blueprints"),
            str(tiny / "environments"),
            str(repo),
            str(marker),
        ]
    )
    try:
        for _ in range(600):
            if marker.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), "the child never reached the branch move"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert head(repo) == first.commit
    again = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    assert again.created and again.commit != first.commit
    assert pygit2.Repository(str(repo)).status() == {}


CHILD_LOOP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gitops.repo import commit_tree

    repo = Path(sys.argv[1])
    round_ = 0
    while True:
        round_ += 1
        # Every file of one commit carries the same round: a torn commit would show.
        files = {f"envs/e{i}/workloads/apps/configmap-x.yaml": f"round {round_}\\n".encode()
                 for i in range(40)}
        commit_tree(repo, files)
    """
)


def test_sigkill_at_random_times_never_leaves_a_torn_or_broken_branch(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    seed = commit_tree(
        repo, {"envs/e0/workloads/apps/configmap-x.yaml": b"round 0\n"}, signature=SIG
    )
    rng = random.Random(8)
    heads = set()
    for _ in range(5):
        child = subprocess.Popen([sys.executable, "-c", CHILD_LOOP, str(repo)])
        time.sleep(rng.uniform(0.5, 1.5))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        files = read_files(repo, "main")  # the branch names a complete, readable commit
        rounds = {data for path, data in files.items() if path.startswith("envs/")}
        assert len(rounds) == 1, f"torn commit: {sorted(rounds)}"
        heads.add(head(repo))
    assert heads - {seed.commit}  # the kills did land while the writer was committing
    lock = repo / ".git" / "refs" / "heads" / "main.lock"
    try:
        result = commit_tree(repo, {"envs/final.yaml": b"final\n"}, signature=SIG, attempts=3)
    except RepositoryError as err:  # killed inside the reference update: the lock remains
        assert str(lock) in str(err)
        lock.unlink()
        result = commit_tree(repo, {"envs/final.yaml": b"final\n"}, signature=SIG)
    assert result.created
    assert read_files(repo, "main")["envs/final.yaml"] == b"final\n"


def test_stale_branch_lock_is_reported_by_name(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = commit_tree(repo, {"envs/a.yaml": b"a\n"}, signature=SIG)
    lock = repo / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")  # what a writer killed inside the reference update leaves behind
    with pytest.raises(RepositoryError, match=r"branch main is locked by .*main\.lock"):
        commit_tree(repo, {"envs/a.yaml": b"b\n"}, signature=SIG, attempts=2)
    assert head(repo) == first.commit
    lock.unlink()
    assert commit_tree(repo, {"envs/a.yaml": b"b\n"}, signature=SIG).created
