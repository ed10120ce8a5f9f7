"""apply_environment against the test API server, through the real kubernetes client."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
from controlplane import ClusterUnderTest, Fault
from helpers.manifests import IDENTITY, NS, configmap, deployment, namespace, widget, widget_crd

from gitops.cluster.client import ClusterClient
from gitops.core.keys import Manifest, ResourceKey, key_of
from gitops.diff import engine as diff
from gitops.workflows.apply import ApplyResult, Timing, apply_environment


def applied_writes(server: ClusterUnderTest) -> int:
    """How many server-side applies were written for real (not dry-run)."""
    return server.count("apply", dry_run=False)


def written_by_us(client: ClusterClient, manifests: list[Manifest]) -> dict[str, Any]:
    """Per object: its generation and our field manager's managedFields entry (time included)."""
    out = {}
    for manifest in manifests:
        live = client.get(key_of(manifest))
        assert live is not None, key_of(manifest)
        ours = [m for m in live["metadata"]["managedFields"] if m["manager"] == "gitops"]
        out[str(key_of(manifest))] = (live["metadata"].get("generation"), ours)
    return out


def resource_versions(client: ClusterClient, manifests: list[Manifest]) -> dict[str, str]:
    """resourceVersion of every object of ``manifests``, keyed by its description."""
    out = {}
    for manifest in manifests:
        live = client.get(key_of(manifest))
        assert live is not None, key_of(manifest)
        out[str(key_of(manifest))] = live["metadata"]["resourceVersion"]
    return out


def test_apply_to_empty_cluster_then_diff_is_in_sync(client: ClusterClient) -> None:
    desired = [namespace(), configmap("a"), deployment()]
    result = apply_environment(client, desired, IDENTITY)
    assert result.ok, result.failures
    assert result.counts()["created"] == 3
    live = [client.get(key_of(m)) for m in desired]
    # The diff compares what apply sends: the manifests with the ownership stamps.
    stamped = [IDENTITY.stamp(m) for m in desired]
    report = diff.diff_manifests(stamped, [obj for obj in live if obj is not None])
    assert report.summary()["in-sync"] == 3
    assert not report.has_differences


def test_objects_carry_membership_label_and_ownership_hash(client: ClusterClient) -> None:
    apply_environment(client, [namespace(), configmap("a")], IDENTITY)
    live = client.get(ResourceKey("", "v1", "ConfigMap", NS, "a"))
    assert live is not None
    assert live["metadata"]["labels"]["applyset.kubernetes.io/part-of"] == IDENTITY.id
    assert IDENTITY.owns(live)


def test_second_apply_changes_nothing(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    desired = [namespace(), configmap("a"), deployment()]
    apply_environment(client, desired, IDENTITY)
    before = written_by_us(client, desired)
    result = apply_environment(client, desired, IDENTITY)
    assert result.counts()["unchanged"] == 3
    assert not result.changed
    # The Deployment controller keeps writing status (a new resourceVersion each time): what
    # must not change is what we wrote (generation, our managedFields entry and its time).
    assert written_by_us(client, desired) == before


def test_changed_object_is_reported_configured(client: ClusterClient) -> None:
    apply_environment(client, [namespace(), deployment()], IDENTITY)
    result = apply_environment(client, [namespace(), deployment(image="vllm:v0.6.4")], IDENTITY)
    actions = {str(o.key): o.action for o in result.applied}
    assert actions == {"Namespace ml": "unchanged", "Deployment ml/vllm": "configured"}


def test_missing_crd_fails_the_check_and_applies_nothing(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    result = apply_environment(client, [namespace(), configmap("a"), widget()], IDENTITY)
    assert not result.ok
    assert [(str(f.key), f.phase) for f in result.failures] == [("Widget ml/w", "check")]
    assert "no CustomResourceDefinition in the desired set defines it" in result.failures[0].message
    assert applied_writes(cluster) == 0
    assert cluster.get_object("v1", "Namespace", None, NS) is None


def test_dry_run_refusal_applies_nothing_and_reports_every_refusal(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    cluster.seed(namespace())
    cluster.deny("create", "ConfigMap", NS, "b", "b is not allowed")
    cluster.deny("create", "ConfigMap", NS, "c", "c is not allowed")
    desired = [namespace(), configmap("a"), configmap("b"), configmap("c")]
    result = apply_environment(client, desired, IDENTITY)
    assert [(str(f.key), f.phase) for f in result.failures] == [
        ("ConfigMap ml/b", "dry-run"),
        ("ConfigMap ml/c", "dry-run"),
    ]
    assert "b is not allowed" in result.failures[0].message
    assert applied_writes(cluster) == 0
    assert cluster.get_object("v1", "ConfigMap", NS, "a") is None


def test_crd_in_the_set_is_applied_and_established_before_its_resources(
    kubeconfig: Path, cluster: ClusterUnderTest
) -> None:
    client = ClusterClient.from_kubeconfig(str(kubeconfig), "test")
    timing = Timing(poll_interval=0.05)
    result = apply_environment(
        client, [widget(), namespace(), widget_crd()], IDENTITY, timing=timing
    )
    assert result.ok, result.failures
    kinds = [o.key.kind for o in result.applied]
    assert kinds == ["CustomResourceDefinition", "Namespace", "Widget"]
    writes = [r.kind for r in cluster.requests if r.is_apply and not r.dry_run]
    assert writes == ["CustomResourceDefinition", "Namespace", "Widget"]
    assert cluster.get_object("example.com/v1", "Widget", NS, "w") is not None


def test_dry_run_mode_writes_nothing_and_names_unverifiable_objects(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    result = apply_environment(
        client, [widget_crd(), namespace(), configmap("a")], IDENTITY, dry_run=True
    )
    assert result.ok
    assert result.counts()["created"] == 3
    assert [(str(k), why) for k, why in result.unverified] == [
        ("ConfigMap ml/a", "its Namespace ml is created by this run")
    ]
    assert applied_writes(cluster) == 0


def _fail_on(cluster: ClusterUnderTest, kind: str, name: str) -> Any:
    """A progress callback arming a 422 on one object once real applies have begun."""
    armed: list[Fault] = []

    def progress(line: str) -> None:
        if not armed and line.endswith((": created", ": configured", ": unchanged")):
            fault = Fault(
                verb="apply", kind=kind, path=f"/{name}$", status=422, message=f"{name} is broken"
            )
            armed.append(cluster.inject(fault))

    return progress


def test_failure_at_object_n_stops_there_and_skips_prune(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    apply_environment(client, [namespace(), configmap("old")], IDENTITY)
    desired = [namespace(), configmap("a"), configmap("b"), configmap("c"), deployment()]
    result = apply_environment(
        client,
        desired,
        IDENTITY,
        prune_orphans=True,
        progress=_fail_on(cluster, "ConfigMap", "b"),
    )
    assert [(str(f.key), f.phase) for f in result.failures] == [("ConfigMap ml/b", "apply")]
    assert "b is broken" in str(result.failures[0])
    assert [str(o.key) for o in result.applied] == ["Namespace ml", "ConfigMap ml/a"]
    assert cluster.get_object("v1", "ConfigMap", NS, "c") is None
    assert cluster.get_object("apps/v1", "Deployment", NS, "vllm") is None
    assert cluster.get_object("v1", "ConfigMap", NS, "old") is not None
    assert result.prune_note == "skipped: the apply did not complete"


def test_apply_after_a_failure_converges(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    apply_environment(client, [namespace(), configmap("old")], IDENTITY)
    desired = [namespace(), configmap("a"), configmap("b"), configmap("c")]
    apply_environment(
        client,
        desired,
        IDENTITY,
        prune_orphans=True,
        progress=_fail_on(cluster, "ConfigMap", "b"),
    )
    result = apply_environment(client, desired, IDENTITY, prune_orphans=True)
    assert result.ok
    assert result.counts() == {
        "created": 2,
        "configured": 0,
        "unchanged": 2,
        "deleted": 1,
        "failed": 0,
    }
    assert cluster.get_object("v1", "ConfigMap", NS, "old") is None


def _seed_foreign_replicas(cluster: ClusterUnderTest) -> None:
    cluster.seed(namespace())
    foreign = deployment(replicas=5)
    cluster.seed(foreign, manager="kubectl-scale", operation="Apply")


def test_conflict_is_reported_with_manager_and_field(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    _seed_foreign_replicas(cluster)
    result = apply_environment(client, [namespace(), deployment(replicas=2)], IDENTITY)
    assert [f.phase for f in result.failures] == ["dry-run"]
    conflicts = result.failures[0].conflicts
    assert [c.manager for c in conflicts] == ["kubectl-scale"]
    assert ".spec.replicas" in conflicts[0].field
    assert "kubectl-scale owns" in str(result.failures[0])
    assert "--force-conflicts" in str(result.failures[0])
    assert applied_writes(cluster) == 0


def test_force_conflicts_takes_ownership(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    _seed_foreign_replicas(cluster)
    result = apply_environment(
        client, [namespace(), deployment(replicas=2)], IDENTITY, force_conflicts=True
    )
    assert result.ok, result.failures
    live = cluster.get_object("apps/v1", "Deployment", NS, "vllm")
    assert live is not None
    assert live["spec"]["replicas"] == 2


class FakeTime:
    """A clock that advances only when slept; runs ``on_sleep`` at each sleep.

    ``real_pause`` seconds of real time pass at each sleep, so the real cluster's controllers
    make progress between two polls while the clock under test jumps ahead.
    """

    def __init__(self, on_sleep: Any = None, real_pause: float = 0.0) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep
        self.real_pause = real_pause

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if self.real_pause:
            time.sleep(self.real_pause)
        if self.on_sleep is not None:
            self.on_sleep(self.sleeps)


def _needs_a_bigger_node(manifest: Manifest) -> Manifest:
    """The Deployment asking 16 GPUs a pod: more than any node of the test cluster has."""
    out = copy.deepcopy(manifest)
    out["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"nvidia.com/gpu": "16"}
    }
    return out


def test_wait_returns_once_the_deployment_becomes_ready(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    # Pods stay Pending until a node big enough joins (as a cluster autoscaler would add one);
    # the real scheduler then binds them and kwok runs them. The node joins once the wait
    # has reported the Deployment observed and not ready (on a busy machine the controller
    # may take longer than the first polls to observe it), and not before the second sleep.
    added: list[int] = []

    def add_node(sleeps: int) -> None:
        reported = any("Deployment ml/vllm 0/2 replicas ready" in line for line in lines)
        if not added and sleeps >= 2 and reported:
            cluster.add_gpu_node("gpu-node-big", gpus=32)
            added.append(sleeps)

    fake = FakeTime(add_node, real_pause=0.05)
    lines: list[str] = []
    result = apply_environment(
        client,
        [namespace(), _needs_a_bigger_node(deployment())],
        IDENTITY,
        wait=True,
        progress=lines.append,
        timing=Timing(wait_timeout=3600, clock=fake.clock, sleep=fake.sleep),
    )
    assert result.ok, result.failures
    assert fake.sleeps >= 2  # not ready before the node joined at the second sleep
    assert any("Deployment ml/vllm 0/2 replicas ready" in line for line in lines)


def test_wait_times_out_reports_not_ready_and_skips_prune(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    apply_environment(client, [namespace(), configmap("old")], IDENTITY)
    fake = FakeTime(real_pause=0.5)  # the Deployment controller observes it meanwhile
    result = apply_environment(
        client,
        [namespace(), _needs_a_bigger_node(deployment())],
        IDENTITY,
        wait=True,
        prune_orphans=True,
        timing=Timing(wait_timeout=10, poll_interval=2, clock=fake.clock, sleep=fake.sleep),
    )
    assert cluster.get_object("v1", "ConfigMap", NS, "old") is not None
    assert [(str(f.key), f.phase) for f in result.failures] == [("Deployment ml/vllm", "wait")]
    assert "not ready after 10s: 0/2 replicas ready" in result.failures[0].message
    assert result.prune_note == "skipped: objects are not ready"


def test_result_counts_are_zero_for_an_empty_set(client: ClusterClient) -> None:
    result = apply_environment(client, [], IDENTITY)
    assert isinstance(result, ApplyResult)
    assert result.ok
    assert result.counts() == dict.fromkeys(
        ("created", "configured", "unchanged", "deleted", "failed"), 0
    )


def test_desired_set_defining_an_object_twice_is_an_input_error(client: ClusterClient) -> None:
    from gitops.core.errors import InputError

    twice = copy.deepcopy(configmap("a"))
    with pytest.raises(InputError, match="ConfigMap ml/a is defined twice"):
        apply_environment(client, [namespace(), configmap("a"), twice], IDENTITY)


def test_crd_never_established_stops_before_its_resources(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    # Another CRD of the group already serves the kind Widget: the server never accepts the
    # names of ours, so it is never Established.
    squatter = widget_crd()
    squatter["metadata"]["name"] = "gizmos.example.com"
    squatter["spec"]["names"] = {"kind": "Widget", "plural": "gizmos", "singular": "gizmo"}
    cluster.seed(squatter)
    fake = FakeTime(real_pause=0.05)
    timing = Timing(crd_timeout=5, clock=fake.clock, sleep=fake.sleep)
    result = apply_environment(
        client, [widget_crd(), namespace(), widget()], IDENTITY, timing=timing
    )
    assert cluster.get_object("v1", "Namespace", None, NS) is not None
    assert [(str(f.key), f.phase) for f in result.failures] == [
        ("CustomResourceDefinition widgets.example.com", "establish")
    ]
    assert "not Established after 5s" in result.failures[0].message
    assert [o.key.kind for o in result.applied] == ["CustomResourceDefinition", "Namespace"]


def test_custom_resource_refused_after_its_crd_applies_only_the_foundation(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    cluster.deny("create", "Widget", NS, "w", "widgets are frozen", api_version="example.com/v1")
    result = apply_environment(
        client, [widget_crd(), namespace(), configmap("a"), widget()], IDENTITY
    )
    assert [(str(f.key), f.phase) for f in result.failures] == [("Widget ml/w", "dry-run")]
    assert [o.key.kind for o in result.applied] == ["CustomResourceDefinition", "Namespace"]
    assert cluster.get_object("v1", "ConfigMap", NS, "a") is None


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 1},
             "status": {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1,
                        "availableReplicas": 1}},
            (False, "waiting for the controller to observe the new generation"),
        ),
        (
            {"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 2},
             "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2,
                        "availableReplicas": 2}},
            (True, "2/2 replicas ready"),
        ),
        (
            {"kind": "InferenceService", "status": {"conditions": [
                {"type": "Ready", "status": "False", "reason": "PredictorNotReady"}]}},
            (False, "not Ready (PredictorNotReady)"),
        ),
        (
            {"kind": "InferenceService", "status": {"conditions": [
                {"type": "Ready", "status": "True"}]}},
            (True, "Ready"),
        ),
        ({"kind": "InferenceService"}, (False, "no Ready condition yet")),
    ],
)  # fmt: skip
def test_readiness(obj: dict[str, Any], expected: tuple[bool, str]) -> None:
    from gitops.cluster.readiness import readiness

    assert readiness(obj) == expected


def test_wait_covers_inference_services(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    # KServe's own CRD is installed in the test cluster; no KServe controller runs there.
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "bge", "namespace": NS},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "huggingface"}}}},
    }

    def become_ready(sleeps: int) -> None:
        if sleeps == 1:
            cluster.set_ready(NS, "bge", False, "InferenceService", "serving.kserve.io/v1beta1")
        if sleeps == 3:
            cluster.set_ready(NS, "bge", True, "InferenceService", "serving.kserve.io/v1beta1")

    fake = FakeTime(become_ready)
    lines: list[str] = []
    result = apply_environment(
        client,
        [namespace(), isvc],
        IDENTITY,
        wait=True,
        progress=lines.append,
        timing=Timing(clock=fake.clock, sleep=fake.sleep),
    )
    assert result.ok, result.failures
    assert any("InferenceService ml/bge not Ready" in line for line in lines)


def test_a_write_by_another_manager_during_our_apply_is_not_our_change(
    client: ClusterClient, cluster: ClusterUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between apply's read of each object and its server-side apply, another writer adds an
    # annotation we do not set (as the Deployment controller does right after a create).
    desired = [namespace(), configmap("a"), deployment()]
    apply_environment(client, desired, IDENTITY)
    real_apply = client.apply

    def apply_after_a_foreign_write(body: Manifest, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("dry_run"):
            current = client.get(key_of(body))
            assert current is not None
            current["metadata"].setdefault("annotations", {})["other.example/touched"] = "yes"
            current["metadata"].pop("managedFields", None)
            cluster.seed(current, manager="other-writer")
        return real_apply(body, *args, **kwargs)

    monkeypatch.setattr(client, "apply", apply_after_a_foreign_write)
    result = apply_environment(client, desired, IDENTITY)
    assert result.counts()["unchanged"] == 3, result.applied
    # A change of ours in the same situation is still reported as ours.
    changed = [namespace(), configmap("a", value="2"), deployment()]
    result = apply_environment(client, changed, IDENTITY)
    counts = result.counts()
    assert (counts["configured"], counts["unchanged"]) == (1, 2), result.applied
