"""Building and supervising the control plane's processes.

The binaries come from ``build.sh`` (or ``$GITOPS_CONTROLPLANE_BIN``); each component runs
as a child process in its own session, logging to ``<workdir>/<name>.log``, and gets SIGTERM
when the test process dies, however it dies, so no run leaves orphans behind.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
_PR_SET_PDEATHSIG = 1


class ControlPlaneUnavailable(RuntimeError):
    """The control plane cannot run on this machine (no Go, a failed build); says why."""


def build_binaries() -> Path:
    """The folder of control-plane binaries: ``$GITOPS_CONTROLPLANE_BIN``, else ``build.sh``."""
    given = os.environ.get("GITOPS_CONTROLPLANE_BIN")
    if given:
        return Path(given)
    if shutil.which("go") is None:
        raise ControlPlaneUnavailable(
            "Go is not installed, so the real control plane (kube-apiserver, etcd) cannot be "
            "built; install Go >= 1.26 or set GITOPS_TEST_KUBECONFIG to an existing cluster"
        )
    done = subprocess.run(
        ["bash", str(HERE / "build.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise ControlPlaneUnavailable(f"building the control plane failed:\n{tail}")
    return Path(done.stdout.strip().splitlines()[-1])


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the test process dies, however it dies (no orphans).

    The signal follows the *thread* that spawned the child: start components from a thread
    that lives as long as they should (the mutation runner's starter threads do).

    Not SIGTERM: kube-apiserver answers it with a graceful shutdown that waits on etcd, and
    etcd gets the same signal at the same moment, so the API server was left running with
    parent 1 (seen twice on this machine after killed test runs).
    """
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Supervisor:
    """The components' processes: started from ``binaries``, logging into ``workdir``."""

    binaries: Path
    workdir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """Start binary ``args[0]`` as component ``name``."""
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [str(self.binaries / args[0]), *args[1:]],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.procs[name] = proc
        return proc

    def check_alive(self, name: str) -> None:
        """Raise RuntimeError with the end of its log if component ``name`` has exited."""
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is not None:
            tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def wait(self, name: str, ok: Callable[[], bool], timeout: float = 60) -> None:
        """Poll ``ok`` until it holds; fail early if any component dies, or after ``timeout``.

        Any, not only ``name``: a component that lost its port to another worker's start
        exits, while a probe of that port may be answered by the other worker's component
        (etcd's plain-HTTP health check is). The start then fails with the dead one's log
        (``address already in use``) and is tried again, instead of running on a stranger.
        """
        deadline = time.monotonic() + timeout
        while True:
            for started in self.procs:
                self.check_alive(started)
            try:
                if ok():
                    return
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                log = self.workdir / f"{name}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise RuntimeError(f"{name} not ready after {timeout:.0f} s:\n{tail}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every component, the last started first."""
        for name in reversed(list(self.procs)):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
