"""Reliability: faults of the cluster during apply, and applies that stop half-way.

Already covered (referenced, not repeated): LIST answered 429 waits ``Retry-After``
(``test_cluster.py::test_429_honours_retry_after``), 5xx retried with exponential backoff
and given up after the budget (``test_cluster.py::test_500_is_retried_with_exponential_
backoff``, ``::test_persistent_500_gives_up_after_the_retry_budget``), a field-manager
conflict is reported with manager and field (``test_reconcile.py::test_conflict_is_
reported_with_manager_and_field``), an apply failing at object N stops there and the next
apply converges (``test_reconcile.py::test_failure_at_object_n_stops_there_and_skips_
prune``, ``::test_apply_after_a_failure_converges``), a delete denied by a webhook is
reported and retried next run (``test_prune.py::test_denied_delete_is_reported_others_
done_and_retried_next_run``). Added here: the same faults on the writes themselves
(apply and delete), timeouts, a retryable 409, a killed apply process, and invalid input
at the ref stopping apply and prune before any write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import Sleeps
from controlplane import ClusterUnderTest, Fault
from helpers.manifests import IDENTITY, NS, configmap, deployment, namespace

from gitops.cli.main import main
from gitops.cluster.client import ClusterClient, RetryPolicy, UnreachableError
from gitops.core.keys import Manifest, key_of
from gitops.core.yaml_io import dump_yaml
from gitops.repo import commit_tree
from gitops.workflows.apply import CONFLICT_RETRIES, apply_environment


@pytest.fixture(autouse=True)
def _outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a directory without environments/: the example's dev and prod would bind
    the test repositories' environments to the example's clusters."""
    monkeypatch.chdir(tmp_path)


DESIRED = [namespace(), configmap("a"), configmap("b"), configmap("c")]


def in_sync(client: ClusterClient, desired: list[Manifest]) -> bool:
    """Whether applying ``desired`` again would change nothing (the run converged)."""
    result = apply_environment(client, desired, IDENTITY, dry_run=True)
    return result.ok and {o.action for o in result.applied} == {"unchanged"}


# -- throttling and server errors on writes --------------------------------------------------


def test_429_on_apply_waits_retry_after_and_applies(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    cluster.inject(Fault(verb="apply", kind="ConfigMap", path="/b$", status=429, retry_after=7))
    result = apply_environment(client, DESIRED, IDENTITY)
    assert result.ok
    assert sleeps == [7.0]
    assert in_sync(client, DESIRED)


def test_429_retry_after_is_capped(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    # A server asking for an hour does not hold the run for an hour.
    cluster.inject(Fault(verb="apply", path="/a$", status=429, retry_after=3600))
    assert apply_environment(client, DESIRED, IDENTITY).ok
    assert sleeps == [30.0]


def test_500_on_apply_is_retried_then_applies(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    cluster.inject(Fault(verb="apply", path="/b$", status=500, times=2))
    assert apply_environment(client, DESIRED, IDENTITY).ok
    assert sleeps == [0.5, 1.0]


def test_persistent_500_on_apply_is_a_clear_failure_and_the_next_run_converges(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    fault = cluster.inject(
        Fault(verb="apply", path="/b$", status=503, times=100, message="etcd leader changed")
    )
    result = apply_environment(client, DESIRED, IDENTITY)
    assert [(str(f.key), f.phase) for f in result.failures] == [("ConfigMap ml/b", "dry-run")]
    assert "PATCH /api/v1/namespaces/ml/configmaps/b: 503 etcd leader changed" in str(
        result.failures[0]
    )
    assert len(sleeps) == 4  # bounded: five attempts
    assert cluster.get_object("v1", "ConfigMap", NS, "a") is None  # dry-run failed: no write
    fault.times = 0
    assert apply_environment(client, DESIRED, IDENTITY).ok
    assert in_sync(client, DESIRED)


def test_persistent_500_on_the_write_of_object_n_stops_there_and_the_next_run_converges(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    apply_environment(client, [namespace(), configmap("old")], IDENTITY)
    faults: list[Fault] = []

    def after_dry_run(line: str) -> None:
        if line.startswith("dry-run:"):  # every object passed; now the write of b fails
            faults.append(cluster.inject(Fault(verb="apply", path="/b$", status=500, times=99)))

    result = apply_environment(
        client, DESIRED, IDENTITY, prune_orphans=True, progress=after_dry_run
    )
    assert [(str(f.key), f.phase) for f in result.failures] == [("ConfigMap ml/b", "apply")]
    assert "500" in result.failures[0].message and "\n" not in result.failures[0].message
    assert len(sleeps) == 4
    assert cluster.get_object("v1", "ConfigMap", NS, "a") is not None
    assert cluster.get_object("v1", "ConfigMap", NS, "c") is None
    assert cluster.get_object("v1", "ConfigMap", NS, "old") is not None  # prune skipped
    faults[0].times = 0
    again = apply_environment(client, DESIRED, IDENTITY, prune_orphans=True)
    assert again.ok and [str(k) for k in again.pruned] == ["ConfigMap ml/old"]
    assert in_sync(client, DESIRED)


def test_500_on_delete_is_retried_then_deletes(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    apply_environment(client, DESIRED, IDENTITY)
    cluster.inject(Fault(verb="delete", path="/c$", status=500, times=1))
    result = apply_environment(client, DESIRED[:3], IDENTITY, prune_orphans=True)
    assert result.ok
    assert [str(k) for k in result.pruned] == ["ConfigMap ml/c"]
    assert sleeps == [0.5]


def test_429_on_delete_waits_retry_after(
    client: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    apply_environment(client, DESIRED, IDENTITY)
    cluster.inject(Fault(verb="delete", path="/c$", status=429, retry_after=2))
    result = apply_environment(client, DESIRED[:3], IDENTITY, prune_orphans=True)
    assert result.ok and [str(k) for k in result.pruned] == ["ConfigMap ml/c"]
    assert sleeps == [2.0]


# -- conflicts -------------------------------------------------------------------------------


def test_409_without_field_conflicts_is_reread_and_retried(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    # "the object has been modified": storage raced another writer; applying again works.
    apply_environment(client, DESIRED, IDENTITY)
    changed = [*DESIRED[:2], configmap("b", value="2"), DESIRED[3]]
    cluster.inject(
        Fault(
            verb="apply",
            path="/b$",
            status=409,
            times=2,
            message='Operation cannot be fulfilled on configmaps "b": the object has been '
            "modified; please apply your changes to the latest version and try again",
        )
    )
    result = apply_environment(client, changed, IDENTITY)
    assert result.ok
    assert {str(o.key): o.action for o in result.applied}["ConfigMap ml/b"] == "configured"
    assert in_sync(client, changed)


def test_persistent_409_gives_up_with_a_clear_failure(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    apply_environment(client, DESIRED, IDENTITY)
    changed = [*DESIRED[:2], configmap("b", value="2"), DESIRED[3]]
    cluster.inject(
        Fault(
            verb="apply", path="/b$", status=409, times=100, message="the object has been modified"
        )
    )
    result = apply_environment(client, changed, IDENTITY)
    assert [(str(f.key), f.phase) for f in result.failures] == [("ConfigMap ml/b", "dry-run")]
    assert "409 the object has been modified" in result.failures[0].message
    # The first run: dry-run and write; this one: the dry-run and its bounded retries.
    assert cluster.count("apply", name="b") == 2 + 1 + CONFLICT_RETRIES
    assert cluster.get_object("v1", "ConfigMap", NS, "a") is not None  # nothing else broke


# -- timeouts --------------------------------------------------------------------------------


@pytest.fixture
def impatient(kubeconfig: Path, sleeps: Sleeps) -> ClusterClient:
    """A client with a 0.3 s read timeout."""
    retry = RetryPolicy(sleep=sleeps)
    return ClusterClient.from_kubeconfig(str(kubeconfig), "test", retry=retry, timeout=(2.0, 0.3))


def test_a_timed_out_request_is_retried(
    impatient: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    cluster.inject(Fault(verb="list", status=0, delay=1.0, times=1))
    assert impatient.list_objects("", "v1", "ResourceQuota") == []
    assert len(sleeps) == 1


def test_a_timed_out_apply_is_retried_and_applies(
    impatient: ClusterClient, cluster: ClusterUnderTest
) -> None:
    cluster.inject(Fault(verb="apply", path="/b$", status=0, delay=1.0, times=1))
    assert apply_environment(impatient, DESIRED, IDENTITY).ok
    assert in_sync(impatient, DESIRED)


def test_persistent_timeouts_give_up_with_a_clear_error(
    impatient: ClusterClient, cluster: ClusterUnderTest, sleeps: Sleeps
) -> None:
    cluster.inject(Fault(verb="list", status=0, delay=1.0, times=100))
    with pytest.raises(UnreachableError, match=r"GET /api/v1/configmaps.*timed out") as caught:
        impatient.list_objects("", "v1", "ConfigMap")
    assert "\n" not in str(caught.value)
    assert len(sleeps) == 4  # the same bounded budget as 5xx


def test_manifest_copied_from_kubectl_get_applies_without_its_server_metadata(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    # A stale resourceVersion (and uid, managedFields) sent back would be a 409 every run.
    apply_environment(client, DESIRED, IDENTITY)
    copied = configmap("b", value="2")
    copied["metadata"].update(
        resourceVersion="1",
        uid="00000000-0000-0000-0000-000000000000",
        generation=7,
        creationTimestamp="2020-01-01T00:00:00Z",
        managedFields=[{"manager": "kubectl", "operation": "Update", "apiVersion": "v1"}],
    )
    desired = [*DESIRED[:2], copied, DESIRED[3]]
    result = apply_environment(client, desired, IDENTITY)
    assert result.ok
    assert {str(o.key): o.action for o in result.applied}["ConfigMap ml/b"] == "configured"
    stored = cluster.get_object("v1", "ConfigMap", NS, "b")
    assert stored is not None and stored["data"] == {"value": "2"}
    assert in_sync(client, desired)


# -- an apply killed half-way ----------------------------------------------------------------

CHILD_APPLY = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from gitops.cluster.client import ClusterClient, RetryPolicy, UnreachableError
    from gitops.core.yaml_io import load_yaml_all
    from gitops.ownership.identity import Identity
    from gitops.workflows.apply import CONFLICT_RETRIES, apply_environment

    kubeconfig, manifests, marker = sys.argv[1:4]
    desired = load_yaml_all(Path(manifests).read_bytes(), manifests)
    client = ClusterClient.from_kubeconfig(kubeconfig, "test")
    applied = []

    def progress(line):
        if line.endswith(": created"):
            applied.append(line)
        if len(applied) == 3:  # stall after the third object, until killed
            Path(marker).write_text(line)
            time.sleep(120)

    identity = Identity("dev", "https://git.example.com/platform/gitops.git")
    apply_environment(client, desired, identity, progress=progress)
    """
)


def test_apply_killed_half_way_converges_on_the_next_run(
    kubeconfig: Path, cluster: ClusterUnderTest, client: ClusterClient, tmp_path: Path
) -> None:
    apply_environment(client, [namespace(), configmap("old")], IDENTITY)
    desired = [namespace(), *(configmap(f"c{i}") for i in range(6)), deployment()]
    manifests = tmp_path / "desired.yaml"
    manifests.write_text(dump_yaml(desired))
    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_APPLY, str(kubeconfig), str(manifests), str(marker)],
        cwd=Path(__file__).resolve().parents[1],  # where `gitops` is importable from
    )
    try:
        for _ in range(600):
            if marker.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), "the child apply never got half-way"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert cluster.get_object("apps/v1", "Deployment", NS, "vllm") is None  # half-way
    result = apply_environment(client, desired, IDENTITY, prune_orphans=True)
    assert result.ok
    assert result.counts()["created"] >= 1 and result.counts()["deleted"] == 1
    assert in_sync(client, desired)
    assert cluster.get_object("v1", "ConfigMap", NS, "old") is None


# -- invalid input at the ref: nothing applied, nothing pruned -------------------------------


def test_invalid_file_at_the_ref_stops_apply_and_prune_before_any_write(
    kubeconfig: Path, cluster: ClusterUnderTest, client: ClusterClient, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    apply_environment(client, DESIRED, IDENTITY)
    repo = tmp_path / "repo"
    files = {
        f"envs/dev/workloads/{key_of(m).namespace or '_cluster'}/"
        f"{m['kind'].lower()}-{m['metadata']['name']}.yaml": dump_yaml([m]).encode()
        for m in DESIRED[:2]
    }
    files["envs/dev/workloads/ml/configmap-broken.yaml"] = b"apiVersion: v1\nkind: [ConfigMap\n"
    commit_tree(repo, files)
    cluster.reset_requests()
    args = ["apply", "--env", "dev", "--repo", str(repo), "--kubeconfig", str(kubeconfig)]
    code = main([*args, "--context", "test", "--prune"])
    assert code == 2
    assert "configmap-broken.yaml" in capsys.readouterr().err
    assert cluster.count("apply") == 0 and cluster.count("delete") == 0
    for name in ("a", "b", "c"):  # nothing pruned
        assert cluster.get_object("v1", "ConfigMap", NS, name) is not None


def test_delete_denied_by_a_webhook_fails_the_cli_run_and_the_next_run_deletes(
    kubeconfig: Path, cluster: ClusterUnderTest, client: ClusterClient, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    repo = tmp_path / "repo"
    files = {
        f"envs/dev/workloads/{key_of(m).namespace or '_cluster'}/"
        f"{m['kind'].lower()}-{m['metadata']['name']}.yaml": dump_yaml([m]).encode()
        for m in DESIRED
    }
    commit_tree(repo, files)
    args = ["apply", "--env", "dev", "--repo", str(repo), "--kubeconfig", str(kubeconfig)]
    assert main([*args, "--context", "test"]) == 0
    del files["envs/dev/workloads/ml/configmap-c.yaml"]
    commit_tree(repo, files)
    cluster.deny_delete("ConfigMap", NS, "c", "c is protected by policy")
    capsys.readouterr()
    assert main([*args, "--context", "test", "--prune"]) == 2
    out, err = capsys.readouterr()
    assert "ConfigMap ml/c" in out + err and "c is protected by policy" in out + err
    assert cluster.get_object("v1", "ConfigMap", NS, "c") is not None
    cluster.clear_denials()
    assert main([*args, "--context", "test", "--prune"]) == 0
    assert cluster.get_object("v1", "ConfigMap", NS, "c") is None
