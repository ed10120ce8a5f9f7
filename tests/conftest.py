"""Shared fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from controlplane import (
    ClusterUnderTest,
    ControlPlane,
    ControlPlaneUnavailable,
    build_binaries,
    start_control_plane,
)
from k8s_schemas import schemas_dir

from gitops.cluster.client import ClusterClient, RetryPolicy

ROOT = Path(__file__).resolve().parents[1]


class Sleeps(list[float]):
    """Records the delays a ClusterClient asked to sleep, without sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    """The retry delays the ``client`` fixture asked for."""
    return Sleeps()


@pytest.fixture
def client(kubeconfig: Path, sleeps: Sleeps) -> ClusterClient:
    """A ClusterClient for the test server whose retries record their delays, not sleep."""
    return ClusterClient.from_kubeconfig(str(kubeconfig), "test", retry=RetryPolicy(sleep=sleeps))


@pytest.fixture
def project_root() -> Path:
    """The repository root (where the embedded example lives)."""
    return ROOT


# -- the real control plane (tests/controlplane) ----------------------------------------------
# Cluster-facing tests run against a real kube-apiserver + etcd (+ controller-manager, scheduler,
# kwok GPU nodes) built from Go modules and started once per test run. GITOPS_TEST_KUBECONFIG
# points the plain cluster tests at an existing cluster instead (kind, k3s); tests that seed
# objects as other managers or inject faults need the local control plane and skip there.
# Without Go they skip with one line saying why; CI sets GITOPS_REQUIRE_CONTROL_PLANE=1 so a
# missing control plane fails the run instead.
REAL_KUBECONFIG = os.environ.get("GITOPS_TEST_KUBECONFIG")
REQUIRE_CONTROL_PLANE = os.environ.get("GITOPS_REQUIRE_CONTROL_PLANE") == "1"
# A control plane another process started and keeps (ControlPlane.save): the mutation runner
# starts one and hands it to every pytest run it makes, instead of each starting its own.
SHARED_CONTROL_PLANE = os.environ.get("GITOPS_TEST_CONTROL_PLANE")
_unavailable: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_only`` marker (tests needing the local control plane's extras)."""
    config.addinivalue_line(
        "markers",
        "fake_only: needs the local control plane (seeding, faults); skipped on an "
        "external cluster",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip ``fake_only`` tests on an external cluster."""
    if REAL_KUBECONFIG and item.get_closest_marker("fake_only") is not None:
        pytest.skip("needs the local control plane; GITOPS_TEST_KUBECONFIG selects a cluster")


# -- parallel runs (pytest-xdist; ``-n auto`` in pyproject's addopts) --------------------------
# Each worker process starts its own control plane (the session fixture below), so the tests
# of two workers never see each other's objects or resets. A cluster given from outside is
# one cluster for every test: then the tests run in one process, one at a time.
#: Workers at most: each one's control plane holds about a gigabyte and wants a core.
MAX_WORKERS = 4
_UNAVAILABLE_KEY = "gitops_real_cluster_unavailable"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per usable core (at most MAX_WORKERS), none on a given cluster."""
    if REAL_KUBECONFIG or SHARED_CONTROL_PLANE:
        return 0
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a worker, hand the reason real-cluster tests were skipped to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and _unavailable:
        workeroutput[_UNAVAILABLE_KEY] = _unavailable[0]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """In the controller, collect what a finished worker skipped and why."""
    reason = getattr(node, "workeroutput", {}).get(_UNAVAILABLE_KEY)
    if reason and reason not in _unavailable:
        _unavailable.append(reason)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line saying why the real-cluster tests were skipped, if they were."""
    if _unavailable:
        terminalreporter.write_line(f"real-cluster tests skipped: {_unavailable[0]}")


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + controllers + kwok GPU nodes, once per test run (per worker)."""
    if REAL_KUBECONFIG:
        pytest.skip("needs the local control plane; GITOPS_TEST_KUBECONFIG selects a cluster")
    if SHARED_CONTROL_PLANE:
        yield ControlPlane.attach(Path(SHARED_CONTROL_PLANE))  # stays running: not ours
        return
    if _unavailable:
        _skip_or_fail(_unavailable[0])
    try:
        binaries = build_binaries()
    except ControlPlaneUnavailable as err:
        _unavailable.append(str(err).splitlines()[0])
        _skip_or_fail(str(err))
    crds = sorted(p for p in schemas_dir().glob("*.yaml"))
    plane = start_control_plane(lambda: tmp_path_factory.mktemp("control-plane"), binaries, crds)
    try:
        yield plane
    finally:
        plane.stop()


def _skip_or_fail(reason: str) -> None:
    if REQUIRE_CONTROL_PLANE:
        pytest.fail(
            f"the real control plane is required (GITOPS_REQUIRE_CONTROL_PLANE=1): {reason}",
            pytrace=False,
        )
    pytest.skip(reason)


@pytest.fixture
def fake_only() -> None:
    """Skip the test on an external cluster (fixture form of the ``fake_only`` marker)."""
    if REAL_KUBECONFIG:
        pytest.skip("needs the local control plane; GITOPS_TEST_KUBECONFIG selects a cluster")


@pytest.fixture
def cluster(control_plane: ControlPlane) -> Iterator[ClusterUnderTest]:
    """The real cluster through a fault-injecting proxy; reset to its start state afterwards."""
    handle = ClusterUnderTest(control_plane)
    try:
        yield handle
    finally:
        handle.close()
        control_plane.reset()


@pytest.fixture
def kubeconfig(cluster: ClusterUnderTest, tmp_path: Path) -> Path:
    """A kubeconfig (context ``test``) reaching the real cluster through the ``cluster`` proxy."""
    return cluster.write_kubeconfig(tmp_path / "kubeconfig", context="test")


@pytest.fixture
def cluster_kubeconfig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """The cluster for integration tests: GITOPS_TEST_KUBECONFIG, else the real control plane
    (direct, admin), reset to its start state afterwards."""
    if REAL_KUBECONFIG:
        yield Path(REAL_KUBECONFIG)
        return
    plane: ControlPlane = request.getfixturevalue("control_plane")
    try:
        yield plane.write_kubeconfig(tmp_path / "cluster-kubeconfig", context="test")
    finally:
        plane.reset()


@pytest.fixture
def cluster_namespace(cluster_kubeconfig: Path) -> Iterator[str]:
    """A fresh Namespace (with its default ServiceAccount) on the cluster under test."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    name = f"gitops-test-{uuid.uuid4().hex[:8]}"
    with config.new_client_from_config(str(cluster_kubeconfig)) as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": name}})
        try:
            core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
        except ApiException as err:
            if err.status != 409:  # the controller-manager was first
                raise
        try:
            yield name
        finally:
            try:
                core.delete_namespace(name)
            except ApiException as err:
                if err.status != 404:  # the test may have deleted it itself
                    raise
