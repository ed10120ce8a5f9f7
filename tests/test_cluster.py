"""Tests for gitops.cluster.client against a real API server (real HTTP, real kubernetes client)."""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Sleeps
from controlplane import ClusterUnderTest, ControlPlane, Fault
from helpers.manifests import widget_crd

from gitops.cluster.client import (
    ClusterClient,
    ConflictError,
    ForbiddenError,
    KindNotServedError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    UnauthorizedError,
    UnreachableError,
)
from gitops.cluster.wait import wait_established
from gitops.core.errors import ClusterError
from gitops.core.keys import ResourceKey
from gitops.core.yaml_io import load_yaml
from gitops.diff.engine import Ownership, Status, diff_manifests, listing_plan
from gitops.inputs.ignore import IgnoreRule
from gitops.workflows.apply import Timing

FIXTURES = Path(__file__).parent / "fixtures" / "diff"
SECRET_VALUE = "s3cr3t-token-value"
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inference"}}


@pytest.fixture
def deployment() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml((FIXTURES / "deployment-desired.yaml").read_text(), "d")
    return doc


def _config_map(name: str, namespace: str = "inference", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"k": "v"},
    }


OWNED = {"app.kubernetes.io/managed-by": "gitops"}
OWNED_SELECTOR = "app.kubernetes.io/managed-by=gitops"


# -- connection and discovery ------------------------------------------------------------


def test_unknown_context_is_a_cluster_error(kubeconfig: Path) -> None:
    with pytest.raises(ClusterError, match=r"cannot load context nope"):
        ClusterClient.from_kubeconfig(str(kubeconfig), "nope")


def test_no_kubeconfig_and_not_in_a_cluster_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match=r"no kubeconfig found and not running in a cluster"):
        ClusterClient.from_kubeconfig(None, None)


def test_discovery_lists_served_kinds_with_scope_and_verbs(client: ClusterClient) -> None:
    served = client.discover()
    deployments = served[("apps", "v1", "Deployment")]
    assert deployments.plural == "deployments" and deployments.namespaced
    assert "list" in deployments.verbs and "patch" in deployments.verbs
    assert not served[("", "v1", "Namespace")].namespaced


def test_kind_is_served_after_its_crd_is_installed_and_discovery_forgotten(
    client: ClusterClient,
) -> None:
    assert not client.is_served("example.com", "v1", "Widget")
    client.apply(widget_crd())
    assert not client.is_served("example.com", "v1", "Widget")  # cached
    crd = ResourceKey(
        "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "", "widgets.example.com"
    )
    # Waiting for the CRD refreshes discovery until the server serves its kind (moments
    # after Established on a real server).
    assert wait_established(client, [crd], Timing(crd_timeout=60), lambda line: None) == []
    assert client.is_served("example.com", "v1", "Widget")


def test_group_version_whose_discovery_keeps_failing_is_not_served(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    cluster.inject(Fault(path="^/apis/apps/v1$", status=503, times=100))
    state = client.read_live({("apps", "v1", "Deployment"): None, ("", "v1", "ConfigMap"): None})
    assert state.not_served == {("apps", "v1", "Deployment")}
    assert len(sleeps) == 4


def test_kind_without_crd_is_not_served(client: ClusterClient) -> None:
    assert not client.is_served("gadgets.example.com", "v1", "Gadget")
    with pytest.raises(KindNotServedError, match=r"kind Gadget \(gadgets.example.com"):
        client.list_objects("gadgets.example.com", "v1", "Gadget")


# -- objects -----------------------------------------------------------------------------


def test_apply_get_and_delete_round_trip(client: ClusterClient) -> None:
    client.apply(NAMESPACE)
    stored = client.apply(_config_map("a"))
    assert stored["metadata"]["managedFields"][0]["manager"] == "gitops"
    key = ResourceKey("", "v1", "ConfigMap", "inference", "a")
    assert client.get(key) is not None
    client.delete(key)
    assert client.get(key) is None
    client.delete(key)  # already gone: not an error


def test_dry_run_apply_stores_nothing(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    client.apply(NAMESPACE)
    client.apply(_config_map("dry"), dry_run=True)
    assert cluster.get_object("v1", "ConfigMap", "inference", "dry") is None
    assert cluster.count(verb="apply", dry_run=True) == 1


def test_apply_conflict_names_the_other_manager(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    client.apply(NAMESPACE)
    cluster.seed(_config_map("c"), manager="someone-else", operation="Apply")
    changed = _config_map("c")
    changed["data"]["k"] = "other"
    with pytest.raises(ConflictError) as info:
        client.apply(changed)
    assert info.value.conflicts[0].manager == "someone-else"
    assert "data" in info.value.conflicts[0].field
    assert client.apply(changed, force=True)["data"]["k"] == "other"


def test_refused_secret_apply_never_quotes_the_value(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    client.apply(NAMESPACE)
    cluster.deny("create", "Secret", "inference", "hf", f"token {SECRET_VALUE} is weak")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hf", "namespace": "inference"},
        "stringData": {"token": SECRET_VALUE},
    }
    with pytest.raises(ForbiddenError, match=r"denied request: token \*\*\* is weak") as info:
        client.apply(secret)
    assert SECRET_VALUE not in str(info.value)


def test_list_is_paginated_two_requests_for_two_pages(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    cluster.seed_many([_config_map(f"cm-{index:04d}", **OWNED) for index in range(2000)])
    cluster.reset_requests()
    objects = client.list_objects("", "v1", "ConfigMap", OWNED_SELECTOR, page_size=1000)
    assert len(objects) == 2000
    # One LIST a page; the real server may end a filtered listing with one empty page.
    assert cluster.count(verb="list", kind="ConfigMap") in (2, 3)
    assert objects[0]["apiVersion"] == "v1" and objects[0]["kind"] == "ConfigMap"


def test_expired_continue_token_restarts_the_listing_once(
    client: ClusterClient, cluster: ClusterUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(5):
        cluster.seed(_config_map(f"cm-{index}", **OWNED))
    pages = 0
    original = client.request

    def expire_after_first_page(*args: Any, **kwargs: Any) -> Any:
        nonlocal pages
        answer = original(*args, **kwargs)
        pages += 1
        if pages == 1:
            cluster.expire_continue_tokens()
        return answer

    client.resource_info("", "v1", "ConfigMap")  # discovery first: it is not a page
    monkeypatch.setattr(client, "request", expire_after_first_page)
    listed = client.list_objects("", "v1", "ConfigMap", OWNED_SELECTOR, page_size=2)
    names = [o["metadata"]["name"] for o in listed]
    assert names == [f"cm-{index}" for index in range(5)]
    assert [r.code for r in cluster.requests if r.verb == "list"].count(410) == 1


def test_read_live_reads_10000_objects_in_two_lists(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    cluster.seed_many([_config_map(f"cm-{index:05d}", **OWNED) for index in range(10_000)])
    cluster.reset_requests()
    state = client.read_live({("", "v1", "ConfigMap"): "app.kubernetes.io/managed-by=gitops"})
    assert len(state.objects) == 10_000
    # One LIST a page; the real server may end a filtered listing with one empty page.
    assert cluster.count(verb="list", kind="ConfigMap") in (2, 3)


def test_read_live_costs_one_list_per_kind_and_selects_owned(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    cluster.seed(_config_map("mine", **OWNED))
    cluster.seed(_config_map("theirs"))
    cluster.reset_requests()
    state = client.read_live(
        {("", "v1", "ConfigMap"): "app.kubernetes.io/managed-by=gitops", ("x.io", "v1", "X"): None}
    )
    assert [o["metadata"]["name"] for o in state.objects] == ["mine"]
    assert state.not_served == {("x.io", "v1", "X")}
    assert not state.is_namespaced(ResourceKey("kyverno.io", "v1", "ClusterPolicy", "", "p"))
    assert state.is_namespaced(ResourceKey("", "v1", "ConfigMap", "", "p"))
    lists = [r for r in cluster.requests if r.verb == "list"]
    assert [r.query.get("labelSelector") for r in lists] == ["app.kubernetes.io/managed-by=gitops"]


# -- failures ----------------------------------------------------------------------------


def test_429_honours_retry_after(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    cluster.inject(Fault(verb="list", status=429, retry_after=3, times=2))
    assert client.list_objects("", "v1", "ResourceQuota") == []
    assert sleeps == [3.0, 3.0]


def test_500_is_retried_with_exponential_backoff(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    cluster.inject(Fault(verb="list", status=500, times=3))
    assert client.list_objects("", "v1", "ResourceQuota") == []
    assert sleeps == [0.5, 1.0, 2.0]


def test_persistent_500_gives_up_after_the_retry_budget(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    cluster.inject(Fault(verb="list", status=503, times=100, message="etcd is sad"))
    with pytest.raises(ServerError, match=r"GET /api/v1/configmaps: 503 etcd is sad"):
        client.list_objects("", "v1", "ConfigMap")
    assert len(sleeps) == 4


def test_403_is_a_forbidden_error(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    cluster.inject(Fault(verb="list", status=403, message="no list for you"))
    with pytest.raises(ForbiddenError, match=r"403 no list for you"):
        client.list_objects("", "v1", "ConfigMap")


def test_404_on_get_of_a_served_kind_is_none(client: ClusterClient) -> None:
    assert client.get(ResourceKey("", "v1", "ConfigMap", "inference", "nope")) is None


def test_not_found_namespace_on_apply_raises(client: ClusterClient) -> None:
    with pytest.raises(NotFoundError, match=r"PATCH .*configmaps/x: 404"):
        client.apply(_config_map("x", namespace="does-not-exist"))


def test_wrong_token_is_unauthorized(tmp_path: Path, control_plane: ControlPlane) -> None:
    path = control_plane.write_kubeconfig(tmp_path / "kc")
    config = yaml.safe_load(path.read_text())
    config["users"][0]["user"] = {"token": "not-a-token-this-server-knows"}
    path.write_text(yaml.safe_dump(config))
    client = ClusterClient.from_kubeconfig(str(path), "test")
    with pytest.raises(UnauthorizedError, match=r"401"):
        client.list_objects("", "v1", "ConfigMap")


def test_connection_refused_is_unreachable(tmp_path: Path, cluster: ClusterUnderTest) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = cluster.write_kubeconfig(tmp_path / "kc")
    path.write_text(path.read_text().replace(cluster.url, f"http://127.0.0.1:{port}"))
    client = ClusterClient.from_kubeconfig(str(path), "test")
    with pytest.raises(
        UnreachableError, match=r"GET /api: unreachable: .*Connection refused"
    ) as info:
        client.discover()
    assert "\n" not in str(info.value)


def test_timeout_is_unreachable(kubeconfig: Path, cluster: ClusterUnderTest) -> None:
    no_wait = RetryPolicy(sleep=lambda seconds: None)
    client = ClusterClient.from_kubeconfig(
        str(kubeconfig), "test", timeout=(1.0, 0.2), retry=no_wait
    )
    # Timeouts are retried (test_reliability_cluster_faults.py); these outlast the budget.
    cluster.inject(Fault(verb="list", status=0, delay=1.0, times=10))
    with pytest.raises(UnreachableError, match=r"timed out"):
        client.list_objects("", "v1", "ConfigMap")


def test_connection_reset_is_unreachable(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    cluster.inject(Fault(verb="list", reset=True, times=10))  # resets outlast the retries
    with pytest.raises(UnreachableError, match=r"GET /api/v1/configmaps"):
        client.list_objects("", "v1", "ConfigMap")


# -- diff against the live server --------------------------------------------------------


def _live_report(
    client: ClusterClient, desired: list[dict[str, Any]], **options: Any
) -> list[tuple[str, Status]]:
    ownership = Ownership.for_environment("prod")
    plan = listing_plan(desired, ownership, [("", "v1", "ConfigMap")])
    state = client.read_live(plan)
    report = diff_manifests(
        desired,
        state.objects,
        ownership=ownership,
        not_served=state.not_served,
        namespaced=state.is_namespaced,
        **options,
    )
    return [(o.key.name, o.status) for o in report.objects]


def test_freshly_applied_environment_is_in_sync(
    client: ClusterClient, deployment: dict[str, Any]
) -> None:
    objects = [NAMESPACE, deployment]
    for obj in objects:
        client.apply(obj)
    assert _live_report(client, objects) == [
        ("inference", Status.IN_SYNC),
        ("llama", Status.IN_SYNC),
    ]


def test_quantities_the_server_canonicalizes_are_not_drift(
    client: ClusterClient, deployment: dict[str, Any]
) -> None:
    client.apply(NAMESPACE)
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    resources["requests"].update(cpu="1000m", memory="16384Mi")
    stored = client.apply(deployment)
    stored_requests = stored["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert stored_requests["requests"]["cpu"] == "1"  # the server rewrote the form
    assert _live_report(client, [deployment]) == [("llama", Status.IN_SYNC)]
    resources["requests"]["cpu"] = "1500m"
    assert _live_report(client, [deployment]) == [("llama", Status.MODIFIED)]


def test_label_added_live_by_someone_else_is_not_drift_unless_strict(
    client: ClusterClient, cluster: ClusterUnderTest, deployment: dict[str, Any]
) -> None:
    client.apply(NAMESPACE)
    stored = client.apply(deployment)
    stored["metadata"]["labels"]["team"] = "someone"
    cluster.seed(stored, manager="kubectl-label", operation="Update")
    assert _live_report(client, [deployment]) == [("llama", Status.IN_SYNC)]
    assert _live_report(client, [deployment], strict=True) == [("llama", Status.MODIFIED)]


def test_env_var_removed_from_git_is_drift(
    client: ClusterClient, deployment: dict[str, Any]
) -> None:
    client.apply(NAMESPACE)
    before = copy.deepcopy(deployment)
    before["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "DEBUG", "value": "1"}
    )
    client.apply(before)
    assert _live_report(client, [deployment]) == [("llama", Status.MODIFIED)]


def test_autoscaler_replicas_are_ignored_by_manager_rule(
    client: ClusterClient, cluster: ClusterUnderTest, deployment: dict[str, Any]
) -> None:
    client.apply(NAMESPACE)
    stored = client.apply(deployment)
    scaled = copy.deepcopy(stored)
    scaled["spec"]["replicas"] = 9
    cluster.seed(scaled, manager="kube-controller-manager", operation="Update")
    assert _live_report(client, [deployment]) == [("llama", Status.MODIFIED)]
    rule = IgnoreRule(managers=("kube-controller-manager",))
    assert _live_report(client, [deployment], ignore=[rule]) == [("llama", Status.IN_SYNC)]


def test_orphan_missing_and_unserved_kinds(
    client: ClusterClient, deployment: dict[str, Any]
) -> None:
    client.apply(NAMESPACE)
    orphan = _config_map("left-over", **OWNED)
    orphan["metadata"]["annotations"] = {"gitops.dev/environment": "prod"}
    client.apply(orphan)
    monitor = {
        "apiVersion": "gadgets.example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "llama", "namespace": "inference"},
        "spec": {},
    }
    assert sorted(_live_report(client, [deployment, monitor])) == [
        ("left-over", Status.ORPHANED),
        ("llama", Status.KIND_NOT_SERVED),
        ("llama", Status.MISSING),
    ]


def test_secret_change_never_shows_the_value(client: ClusterClient) -> None:
    client.apply(NAMESPACE)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hf", "namespace": "inference"},
        "stringData": {"token": "old-token-value"},
    }
    client.apply(secret)
    changed = {**secret, "stringData": {"token": SECRET_VALUE}}
    state = client.read_live({("", "v1", "Secret"): None})
    report = diff_manifests([changed], state.objects)
    assert report.objects[0].status is Status.MODIFIED
    shown = repr(report.to_dict()) + report.objects[0].text
    assert SECRET_VALUE not in shown and "old-token-value" not in shown
    assert "*** (changed)" in shown
