"""The test harness itself: the real control plane, its reset, and the fault proxy."""

from __future__ import annotations

import threading
import time
import urllib.error
from pathlib import Path
from unittest import mock

import pytest
from controlplane import ClusterUnderTest, ControlPlane, Fault
from controlplane.cluster import GPU_NODES
from controlplane.pki import Pki
from controlplane.processes import free_port
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from gitops.cluster.client import ClusterClient, RetryPolicy
from gitops.cluster.errors import ForbiddenError, ServerError, UnreachableError


def test_the_server_is_a_real_kube_apiserver(control_plane: ControlPlane) -> None:
    version = control_plane.api("GET", "/version")
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    groups = {g["name"] for g in control_plane.api("GET", "/apis")["groups"]}
    # Served by the real server, never by the stand-in: admission policies, CRDs, leases.
    assert {"admissionregistration.k8s.io", "apiextensions.k8s.io", "coordination.k8s.io"} <= groups


def test_shared_crds_are_installed_and_established(control_plane: ControlPlane) -> None:
    crds = control_plane.api("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    names = {c["metadata"]["name"] for c in crds["items"]}
    assert {
        "inferenceservices.serving.kserve.io",
        "leaderworkersets.leaderworkerset.x-k8s.io",
        "inferencepools.inference.networking.k8s.io",
        "applications.argoproj.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
    } <= names


def test_gpu_nodes_are_ready_with_gpu_capacity(control_plane: ControlPlane) -> None:
    nodes = control_plane.api("GET", "/api/v1/nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(GPU_NODES)
    for node in nodes:
        assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True"


def test_a_deployment_becomes_available_on_kwok_gpu_nodes(
    cluster_kubeconfig: Path, cluster_namespace: str
) -> None:
    with config.new_client_from_config(str(cluster_kubeconfig)) as api:
        apps = client.AppsV1Api(api)
        labels = {"app": "gpu"}
        apps.create_namespaced_deployment(
            cluster_namespace,
            {
                "metadata": {"name": "gpu"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "image": "vllm/vllm-openai:v0.11.0",
                                    "resources": {"limits": {"nvidia.com/gpu": "4"}},
                                }
                            ]
                        },
                    },
                },
            },
        )
        deadline = time.monotonic() + 60
        status = apps.read_namespaced_deployment("gpu", cluster_namespace).status
        while status.available_replicas != 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            status = apps.read_namespaced_deployment("gpu", cluster_namespace).status
        assert status.available_replicas == 2
        pods = client.CoreV1Api(api).list_namespaced_pod(cluster_namespace).items
        assert {p.spec.node_name for p in pods} <= set(GPU_NODES)


def test_reset_removes_what_a_test_created(control_plane: ControlPlane) -> None:
    control_plane.api("POST", "/api/v1/namespaces", {"metadata": {"name": "left-over"}})
    control_plane.reset()
    with pytest.raises(urllib.error.HTTPError) as info:
        control_plane.api("GET", "/api/v1/namespaces/left-over")
    assert info.value.code == 404
    assert control_plane.api("GET", "/api/v1/namespaces/default")["metadata"]["name"] == "default"


def test_denial_is_a_real_admission_policy(cluster: ClusterUnderTest, tmp_path: Path) -> None:
    cluster.ensure_namespace("inference")
    cluster.deny("create", "ConfigMap", "inference", "blocked", "blocked is not allowed")
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kc")
    with config.new_client_from_config(str(kubeconfig)) as api:
        core = client.CoreV1Api(api)
        with pytest.raises(ApiException) as info:
            core.create_namespaced_config_map("inference", {"metadata": {"name": "blocked"}})
        assert info.value.status == 403
        assert "ValidatingAdmissionPolicy" in info.value.body
        assert "blocked is not allowed" in info.value.body
        core.create_namespaced_config_map("inference", {"metadata": {"name": "fine"}})
    cluster.clear_denials()
    with config.new_client_from_config(str(kubeconfig)) as api:
        client.CoreV1Api(api).create_namespaced_config_map(
            "inference", {"metadata": {"name": "blocked"}}
        )
    assert cluster.get_object("v1", "ConfigMap", "inference", "blocked") is not None


def test_seed_as_another_manager_records_its_ownership(cluster: ClusterUnderTest) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "inference"},
        "data": {"k": "v"},
    }
    stored = cluster.seed(cm, manager="kubectl-edit")
    assert [m["manager"] for m in stored["metadata"]["managedFields"]] == ["kubectl-edit"]
    applied = cluster.seed(cm, manager="other", operation="Apply")
    managers = {m["manager"]: m["operation"] for m in applied["metadata"]["managedFields"]}
    assert managers["other"] == "Apply"


def _client(kubeconfig: Path, sleeps: list[float]) -> ClusterClient:
    return ClusterClient.from_kubeconfig(
        str(kubeconfig), "test", retry=RetryPolicy(sleep=sleeps.append)
    )


def test_proxy_records_what_it_forwards(cluster: ClusterUnderTest, tmp_path: Path) -> None:
    kc = cluster.write_kubeconfig(tmp_path / "kc")
    sleeps: list[float] = []
    got = _client(kc, sleeps).list_objects("", "v1", "ConfigMap")
    assert isinstance(got, list)
    lists = [r for r in cluster.requests if r.verb == "list"]
    assert [(r.kind, r.code) for r in lists] == [("ConfigMap", 200)]
    assert cluster.count(verb="list", kind="ConfigMap") == 1 and sleeps == []


def test_proxy_429_carries_retry_after_then_forwards(
    cluster: ClusterUnderTest, tmp_path: Path
) -> None:
    cluster.inject(Fault(verb="list", status=429, retry_after=7, times=1))
    sleeps: list[float] = []
    assert _client(cluster.write_kubeconfig(tmp_path / "kc"), sleeps).list_objects(
        "", "v1", "Namespace"
    )
    assert sleeps == [7.0]
    assert [r.code for r in cluster.requests if r.verb == "list"] == [429, 200]


def test_proxy_5xx_and_resets_are_bounded_failures(
    cluster: ClusterUnderTest, tmp_path: Path
) -> None:
    c = _client(cluster.write_kubeconfig(tmp_path / "kc"), [])
    cluster.inject(Fault(verb="list", status=503, times=100, message="etcd is sad"))
    with pytest.raises(ServerError, match="503 etcd is sad"):
        c.list_objects("", "v1", "ConfigMap")
    cluster.reset_requests()
    cluster.proxy.log._faults.clear()
    cluster.inject(Fault(verb="list", reset=True, times=100))
    with pytest.raises(UnreachableError):
        c.list_objects("", "v1", "ConfigMap")
    assert cluster.count(verb="list", code=0) >= 2


def test_proxy_fault_matches_only_its_kind(cluster: ClusterUnderTest, tmp_path: Path) -> None:
    c = _client(cluster.write_kubeconfig(tmp_path / "kc"), [])
    cluster.inject(Fault(verb="list", kind="Secret", status=403, message="no secrets"))
    assert isinstance(c.list_objects("", "v1", "ConfigMap"), list)
    with pytest.raises(ForbiddenError, match="no secrets"):
        c.list_objects("", "v1", "Secret")


def test_admin_access_follows_a_changed_pki_and_port(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A first start on a machine runs a snapshot API server (its own CA, its own port) and,
    when another worker's snapshot won the race, serves with that one's PKI on a new port.
    Nothing of the first server's access may carry over: a TLS context trusting the old CA
    failed every readiness probe of the new server until the 600 s deadline."""
    assert control_plane.pki is not None
    access = ControlPlane(control_plane.binaries, tmp_path / "access")
    access.pki = Pki(tmp_path / "old-pki").create()
    access.api_port = free_port()  # nothing listens: the snapshot server has stopped
    with pytest.raises(ConnectionRefusedError):
        access.raw("GET", "/readyz")
    access.pki, access.api_port = control_plane.pki, control_plane.api_port
    assert access.raw("GET", "/readyz") == b"ok"
    # A keep-alive connection to the old port is not reused once the port changed.
    access.api_port = free_port()
    with pytest.raises(ConnectionRefusedError):
        access.raw("GET", "/readyz")


def test_one_worker_makes_the_snapshot_while_another_waits_for_it(tmp_path: Path) -> None:
    """The machine's snapshot is made by one start at a time; the others take it when made."""
    made: list[str] = []
    lock = threading.Lock()
    overlapping: list[bool] = []

    def make(self: ControlPlane, snapshot: Path) -> None:
        with lock:
            overlapping.append(bool(made) and made[-1] == "started")
            made.append("started")
        time.sleep(0.3)  # another start tries meanwhile
        (snapshot / "etcd").mkdir(parents=True)
        made.append("done")

    planes = [ControlPlane(tmp_path / "bin", tmp_path / f"w{i}") for i in range(3)]
    snapshot = tmp_path / "snapshots" / "abc"
    with mock.patch.object(ControlPlane, "_make_snapshot", make):
        workers = [threading.Thread(target=p._ensure_snapshot, args=(snapshot,)) for p in planes]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert made == ["started", "done"]
    assert overlapping == [False]
    assert (snapshot / "etcd").is_dir()
