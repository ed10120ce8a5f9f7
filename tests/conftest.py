"""Shared fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from apiserver import ApiServer

from gitops.cluster import ClusterClient, RetryPolicy

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


# -- test API server (tests/apiserver) and real-cluster mode ---------------------------------
# GITOPS_TEST_KUBECONFIG names a real cluster's kubeconfig: integration tests written against
# `cluster_kubeconfig` then run there, and tests needing the fake's extras skip.
REAL_KUBECONFIG = os.environ.get("GITOPS_TEST_KUBECONFIG")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_only`` marker."""
    config.addinivalue_line(
        "markers", "fake_only: needs the test API server (seeding, faults); skipped on a cluster"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip ``fake_only`` tests in real-cluster mode."""
    if REAL_KUBECONFIG and item.get_closest_marker("fake_only") is not None:
        pytest.skip("needs the test API server; GITOPS_TEST_KUBECONFIG selects a real cluster")


@pytest.fixture
def fake_only() -> None:
    """Skip the test in real-cluster mode (fixture form of the ``fake_only`` marker)."""
    if REAL_KUBECONFIG:
        pytest.skip("needs the test API server; GITOPS_TEST_KUBECONFIG selects a real cluster")


@pytest.fixture
def apiserver(fake_only: None) -> Iterator[ApiServer]:
    """A started test API server on 127.0.0.1, stopped at teardown (fake-only)."""
    server = ApiServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubeconfig(apiserver: ApiServer, tmp_path: Path) -> Path:
    """A kubeconfig (context ``test``) pointing at the ``apiserver`` fixture."""
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig", context="test")


@pytest.fixture
def cluster_kubeconfig(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The cluster to run integration tests against: GITOPS_TEST_KUBECONFIG, else the fake.

    In fake mode this is the same server as the ``apiserver`` fixture.
    """
    if REAL_KUBECONFIG:
        return Path(REAL_KUBECONFIG)
    server: ApiServer = request.getfixturevalue("apiserver")
    return server.write_kubeconfig(tmp_path / "kubeconfig", context="test")


@pytest.fixture
def cluster_namespace(cluster_kubeconfig: Path) -> Iterator[str]:
    """A fresh Namespace on the cluster under test (fake or real), deleted at teardown."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    name = f"gitops-test-{uuid.uuid4().hex[:8]}"
    with config.new_client_from_config(str(cluster_kubeconfig)) as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": name}})
        try:
            yield name
        finally:
            try:
                core.delete_namespace(name)
            except ApiException as err:
                if err.status != 404:  # the test may have deleted it itself
                    raise
