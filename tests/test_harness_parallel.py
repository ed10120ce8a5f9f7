"""The suite's own harness in parallel runs (pytest-xdist, ``-n auto`` in pyproject).

Each worker starts its own control plane; a cluster given from outside is shared, so then the
run has no workers. Without Go, the one line saying why the real-cluster tests were skipped
must still reach the terminal when a worker, not the controller, skipped them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_TEST = "tests/test_controlplane.py::test_the_server_is_a_real_kube_apiserver"
PLAIN_TEST = "tests/test_quantity.py::test_equal_forms_compare_equal"
SKIP_LINE = "real-cluster tests skipped: Go is not installed"


def run_pytest(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m pytest args`` at the root, with no Go on PATH and only ``env`` of ours."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITOPS_", "PYTEST_"))
    }
    bare = tmp_path / "bin"  # PATH without go (python is run by its full path)
    bare.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env={**clean, "PATH": str(bare), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("workers", ["0", "2"])
def test_without_go_the_cluster_tests_skip_with_one_line_saying_why(
    tmp_path: Path, workers: str
) -> None:
    done = run_pytest(tmp_path, "-n", workers, "-rs", CLUSTER_TEST, PLAIN_TEST)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(SKIP_LINE)]
    assert len(lines) == 1, done.stdout[-3000:]
    assert "1 passed, 1 skipped" in done.stdout


def test_ci_fails_instead_of_skipping_in_a_worker_too(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "-n", "2", CLUSTER_TEST, GITOPS_REQUIRE_CONTROL_PLANE="1")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "the real control plane is required (GITOPS_REQUIRE_CONTROL_PLANE=1)" in done.stdout
    assert "1 failed" in done.stdout or "1 error" in done.stdout


def test_a_given_cluster_is_shared_so_the_run_has_no_workers(tmp_path: Path) -> None:
    alone = run_pytest(tmp_path, PLAIN_TEST)
    given = run_pytest(tmp_path, PLAIN_TEST, GITOPS_TEST_KUBECONFIG=str(tmp_path / "none"))
    assert alone.returncode == 0 and given.returncode == 0, alone.stdout + given.stdout
    # -n auto starts workers on its own machine, none on a cluster every test shares.
    assert "bringing up nodes" in alone.stdout
    assert "bringing up nodes" not in given.stdout
    assert "1 passed" in given.stdout


def test_a_start_whose_port_was_taken_is_tried_again_in_a_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from controlplane import ControlPlane, start_control_plane

    started: list[Path] = []

    def start(self: ControlPlane) -> ControlPlane:
        started.append(self.workdir)
        if len(started) == 1:
            raise RuntimeError("etcd exited with 1:\nlisten tcp: bind: address already in use")
        return self

    monkeypatch.setattr(ControlPlane, "start", start)
    folders = iter(tmp_path / str(n) for n in range(5))
    plane = start_control_plane(lambda: next(folders), tmp_path / "bin", [])
    assert started == [tmp_path / "0", tmp_path / "1"] and plane.workdir == tmp_path / "1"


def test_a_start_that_failed_otherwise_is_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from controlplane import ControlPlane, start_control_plane

    started: list[Path] = []

    def start(self: ControlPlane) -> ControlPlane:
        started.append(self.workdir)
        raise RuntimeError("kube-apiserver not ready after 60 s")

    monkeypatch.setattr(ControlPlane, "start", start)
    folders = iter(tmp_path / str(n) for n in range(5))
    with pytest.raises(RuntimeError, match="not ready after 60 s"):
        start_control_plane(lambda: next(folders), tmp_path / "bin", [])
    assert started == [tmp_path / "0"]


def test_a_wait_fails_when_another_component_died(tmp_path: Path) -> None:
    """etcd lost its port to another worker's start and exited, while its health probe was
    answered by the other worker's etcd: the wait must fail on the dead one, with its log,
    not go on with a stranger's store."""
    from controlplane.processes import Supervisor

    binaries = tmp_path / "bin"
    binaries.mkdir()
    for name, body in {
        "etcd": "echo 'listen tcp 127.0.0.1:2379: bind: address already in use'; exit 1",
        "kube-apiserver": "sleep 30",
    }.items():
        script = binaries / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    processes = Supervisor(binaries, tmp_path)
    processes.spawn("etcd", ["etcd"])
    processes.procs["etcd"].wait()
    processes.spawn("kube-apiserver", ["kube-apiserver"])
    try:
        with pytest.raises(RuntimeError, match=r"(?s)etcd exited with 1:.*address already in use"):
            processes.wait("kube-apiserver", lambda: False, timeout=5)
    finally:
        processes.stop()
