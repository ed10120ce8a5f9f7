"""Ownership identity and safe prune: only owned orphans go, never copies or opted-out objects."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from controlplane import ClusterUnderTest, Fault
from helpers.manifests import IDENTITY, NS, configmap, deployment, namespace

from gitops.cluster.client import ClusterClient, RetryPolicy
from gitops.core.keys import Manifest, ResourceKey
from gitops.core.labels import OWNER_ANNOTATION, PART_OF_LABEL
from gitops.ownership.identity import Identity, adopts, applyset_id, place, prune_opt_out
from gitops.ownership.prune import (
    EMPTY_SET_NOTE,
    is_content,
    list_labelled,
    prunable_kinds,
    select_prune,
)
from gitops.workflows.apply import apply_environment

# -- identity (pure) --------------------------------------------------------------------------


def test_applyset_id_has_the_kep_format() -> None:
    assert re.fullmatch(r"applyset-[A-Za-z0-9_-]{43}-v1", applyset_id("dev", "repo"))


def test_applyset_id_differs_per_environment_and_repository() -> None:
    ids = {applyset_id("dev", "a"), applyset_id("prod", "a"), applyset_id("dev", "b")}
    assert len(ids) == 3


def test_stamp_is_deterministic_and_leaves_the_input_alone() -> None:
    manifest = configmap("a")
    original = copy.deepcopy(manifest)
    assert IDENTITY.stamp(manifest) == IDENTITY.stamp(manifest)
    assert manifest == original


def test_stamp_keeps_existing_labels_and_annotations() -> None:
    manifest = deployment()
    manifest["metadata"]["annotations"] = {"team": "ml"}
    stamped = IDENTITY.stamp(manifest)
    assert stamped["metadata"]["labels"] == {"app": "vllm", PART_OF_LABEL: IDENTITY.id}
    assert set(stamped["metadata"]["annotations"]) == {"team", OWNER_ANNOTATION}


def test_a_stamp_copied_onto_another_object_does_not_claim_it() -> None:
    stamped = IDENTITY.stamp(configmap("a"))
    copied = configmap("b")
    copied["metadata"]["labels"] = dict(stamped["metadata"]["labels"])
    copied["metadata"]["annotations"] = dict(stamped["metadata"]["annotations"])
    assert IDENTITY.claims(stamped)
    assert not IDENTITY.claims(copied)


def test_another_environment_does_not_claim_our_objects() -> None:
    stamped = IDENTITY.stamp(configmap("a"))
    assert not Identity("prod", IDENTITY.repository).claims(stamped)


def test_owns_requires_our_manager_to_have_applied_the_label() -> None:
    stamped = IDENTITY.stamp(configmap("a"))
    stamped["metadata"]["managedFields"] = [
        {
            "manager": "kubectl-label",
            "operation": "Update",
            "fieldsV1": {"f:metadata": {"f:labels": {f"f:{PART_OF_LABEL}": {}}}},
        }
    ]
    assert not IDENTITY.owns(stamped)
    assert IDENTITY.owns(stamped, check_managed_fields=False)


@pytest.mark.parametrize(
    ("annotations", "reason"),
    [
        ({"gitops.dev/prune": "disabled"}, "gitops.dev/prune: disabled"),
        (
            {"argocd.argoproj.io/sync-options": "ServerSideApply=true, Prune=false"},
            "argocd.argoproj.io/sync-options: Prune=false",
        ),
        ({"gitops.dev/prune": "enabled"}, None),
        ({}, None),
    ],
)
def test_prune_opt_out_annotations(annotations: dict[str, str], reason: str | None) -> None:
    obj = configmap("a")
    obj["metadata"]["annotations"] = annotations
    assert prune_opt_out(obj) == reason


def test_place_fills_the_default_namespace_and_strips_it_from_cluster_kinds() -> None:
    key, manifest = place({**configmap("a"), "metadata": {"name": "a"}}, namespaced=True)
    assert key.namespace == "default"
    assert manifest["metadata"]["namespace"] == "default"
    key, manifest = place({**namespace(), "metadata": {"name": "x", "namespace": "y"}}, False)
    assert key.namespace == ""
    assert "namespace" not in manifest["metadata"]


# -- select_prune (pure) ----------------------------------------------------------------------


def _owned(manifest: Manifest) -> Manifest:
    stamped = IDENTITY.stamp(manifest)
    stamped["metadata"]["managedFields"] = [
        {
            "manager": "gitops",
            "operation": "Apply",
            "fieldsV1": {"f:metadata": {"f:labels": {f"f:{PART_OF_LABEL}": {}}}},
        }
    ]
    return stamped


def _key(name: str) -> ResourceKey:
    return ResourceKey("", "v1", "ConfigMap", NS, name)


def test_select_prune_deletes_undesired_owned_objects_in_reverse_order() -> None:
    live = [_owned(namespace()), _owned(configmap("a")), _owned(configmap("b"))]
    selected = select_prune(live, [_key("a")], IDENTITY)
    assert [str(k) for k in selected.delete] == ["ConfigMap ml/b", "Namespace ml"]


def test_select_prune_keeps_everything_when_the_desired_set_is_empty() -> None:
    selected = select_prune([_owned(configmap("a"))], [], IDENTITY)
    assert selected.delete == ()
    assert selected.note == EMPTY_SET_NOTE


def test_select_prune_with_allow_empty_deletes_every_owned_object() -> None:
    selected = select_prune([_owned(configmap("a"))], [], IDENTITY, allow_empty=True)
    assert [str(k) for k in selected.delete] == ["ConfigMap ml/a"]


def test_select_prune_matches_desired_objects_across_api_versions() -> None:
    live = _owned(deployment())
    live["apiVersion"] = "apps/v1beta2"
    desired = ResourceKey("apps", "v1", "Deployment", NS, "vllm")
    assert select_prune([live], [desired], IDENTITY).delete == ()


def test_select_prune_reports_why_it_keeps_labelled_objects() -> None:
    opted = _owned(configmap("opted"))
    opted["metadata"]["annotations"]["gitops.dev/prune"] = "disabled"
    copied = _owned(configmap("copied"))
    copied["metadata"]["name"] = "copy"
    selected = select_prune([opted, copied], [_key("a")], IDENTITY)
    assert selected.delete == ()
    reasons = {str(k.key): k.reason for k in selected.kept}
    assert reasons["ConfigMap ml/opted"] == "opted out of pruning (gitops.dev/prune: disabled)"
    assert reasons["ConfigMap ml/copy"].startswith("not ours: the ownership hash")


def test_an_adopted_object_is_claimed_but_never_pruned() -> None:
    adopted = IDENTITY.stamp(configmap("handmade"), adopted=True)
    adopted["metadata"]["managedFields"] = _owned(configmap("x"))["metadata"]["managedFields"]
    assert IDENTITY.claims(adopted) and IDENTITY.adopted(adopted)
    assert adopted["metadata"]["annotations"]["gitops.dev/adopted"] == "true"
    selected = select_prune([adopted, _owned(configmap("made"))], [_key("a")], IDENTITY)
    assert [str(k) for k in selected.delete] == ["ConfigMap ml/made"]
    assert [k.reason.split(":")[0] for k in selected.kept] == ["adopted"]


def test_the_readable_adopted_annotation_is_not_what_prune_trusts() -> None:
    created = _owned(configmap("made"))
    created["metadata"]["annotations"]["gitops.dev/adopted"] = "true"  # copied or typed
    assert not IDENTITY.adopted(created)
    adopted = IDENTITY.stamp(configmap("handmade"), adopted=True)
    del adopted["metadata"]["annotations"]["gitops.dev/adopted"]  # removed by hand
    assert IDENTITY.adopted(adopted)


def test_adoption_is_decided_by_the_live_object() -> None:
    assert not adopts(IDENTITY, None)  # nothing there: we create it
    assert adopts(IDENTITY, configmap("handmade"))  # someone else's: adopted
    assert not adopts(IDENTITY, _owned(configmap("made")))  # ours: stays created
    assert adopts(IDENTITY, IDENTITY.stamp(configmap("x"), adopted=True))  # stays adopted


def _contents(*keys: ResourceKey) -> dict[str, list[ResourceKey]]:
    return {NS: list(keys)}


def test_a_namespace_holding_objects_prune_keeps_is_kept_unless_asked() -> None:
    live = [_owned(namespace()), _owned(configmap("ours"))]
    theirs = _key("theirs")
    contents = _contents(_key("ours"), theirs)
    selected = select_prune(live, [_key("a")], IDENTITY, allow_empty=True, contents=contents)
    assert [str(k) for k in selected.delete] == ["ConfigMap ml/ours"]
    (kept,) = selected.kept
    assert str(kept.key) == "Namespace ml" and "ConfigMap ml/theirs" in kept.reason
    asked = select_prune(
        live, [], IDENTITY, allow_empty=True, contents=contents, delete_namespace_contents=True
    )
    assert [str(k) for k in asked.delete] == ["ConfigMap ml/ours", "Namespace ml"]
    assert asked.takes == ((ResourceKey("", "v1", "Namespace", "", NS), (_key("ours"), theirs)),)


def test_a_namespace_holding_only_what_prune_deletes_goes_with_it() -> None:
    live = [_owned(namespace()), _owned(configmap("ours"))]
    selected = select_prune(live, [], IDENTITY, allow_empty=True, contents=_contents(_key("ours")))
    assert [str(k) for k in selected.delete] == ["ConfigMap ml/ours", "Namespace ml"]


@pytest.mark.parametrize(
    ("obj", "counts"),
    [
        (configmap("theirs"), True),
        ({**configmap("kube-root-ca.crt")}, False),
        ({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}, False),
        ({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}, True),
        ({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"}}, False),
        ({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "svc"}}, False),
        (
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "ownerReferences": [{"kind": "ReplicaSet"}]},
            },
            False,
        ),
    ],
)
def test_what_a_namespace_deletion_counts_as_taking(obj: Manifest, counts: bool) -> None:
    assert is_content(obj) is counts


# -- prune against the test API server --------------------------------------------------------


def _cm(cluster: ClusterUnderTest, name: str) -> Manifest | None:
    found: Manifest | None = cluster.get_object("v1", "ConfigMap", NS, name)
    return found


def test_prunable_kinds_are_the_ones_the_server_both_lists_and_deletes(
    client: ClusterClient,
) -> None:
    kinds = {kind for _, _, kind in prunable_kinds(client)}
    assert {"ConfigMap", "Deployment", "Namespace"} <= kinds
    served = client.discover()
    list_only = {k for (_, _, k), info in served.items()
                 if "list" in info.verbs and "delete" not in info.verbs}  # fmt: skip
    # The real server lists some kinds it never deletes (ComponentStatus: get, list).
    assert list_only and not list_only & kinds


def test_a_kind_that_cannot_be_listed_is_reported_not_skipped(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    cluster.inject(Fault(verb="list", kind="ConfigMap", status=403, message="no lists here"))
    listing = list_labelled(
        client, IDENTITY, [("", "v1", "ConfigMap"), ("apps", "v1", "Deployment")]
    )
    assert len(listing.unlisted) == 1
    assert listing.unlisted[0].startswith("ConfigMap: ") and "no lists here" in listing.unlisted[0]


def test_prune_removes_only_owned_orphans(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    apply_environment(client, [namespace(), configmap("a"), configmap("b")], IDENTITY)
    cluster.seed(configmap("unmanaged"))
    other_env = Identity("prod", IDENTITY.repository)
    apply_environment(client, [namespace(), configmap("prod-only")], other_env)
    result = apply_environment(client, [namespace(), configmap("a")], IDENTITY, prune_orphans=True)
    assert [str(k) for k in result.pruned] == ["ConfigMap ml/b"]
    assert _cm(cluster, "b") is None
    assert _cm(cluster, "unmanaged") is not None
    assert _cm(cluster, "prod-only") is not None


def test_prune_never_deletes_an_object_with_a_copied_label(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    apply_environment(client, [namespace(), configmap("a")], IDENTITY)
    original = _cm(cluster, "a")
    assert original is not None
    copy_of_a = configmap("copy")
    copy_of_a["metadata"]["labels"] = original["metadata"]["labels"]
    copy_of_a["metadata"]["annotations"] = original["metadata"]["annotations"]
    cluster.seed(copy_of_a, manager="kubectl-client-side-apply")
    result = apply_environment(client, [namespace(), configmap("a")], IDENTITY, prune_orphans=True)
    assert result.pruned == ()
    assert _cm(cluster, "copy") is not None
    assert [str(k.key) for k in result.prune_kept] == ["ConfigMap ml/copy"]


def test_prune_never_deletes_a_label_someone_else_applied(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    apply_environment(client, [namespace(), configmap("a")], IDENTITY)
    # Right label and right hash for its own key, but written by another manager.
    forged = IDENTITY.stamp(configmap("forged"))
    cluster.seed(forged, manager="kubectl-edit")
    result = apply_environment(client, [namespace(), configmap("a")], IDENTITY, prune_orphans=True)
    assert result.pruned == ()
    assert _cm(cluster, "forged") is not None
    assert "not applied by gitops" in result.prune_kept[0].reason


@pytest.mark.parametrize(
    "annotation",
    [("gitops.dev/prune", "disabled"), ("argocd.argoproj.io/sync-options", "Prune=false")],
)
def test_prune_never_deletes_an_opted_out_object(
    client: ClusterClient, cluster: ClusterUnderTest, annotation: tuple[str, str]
) -> None:
    kept = configmap("kept")
    kept["metadata"]["annotations"] = dict([annotation])
    apply_environment(client, [namespace(), configmap("a"), kept], IDENTITY)
    result = apply_environment(client, [namespace(), configmap("a")], IDENTITY, prune_orphans=True)
    assert result.pruned == ()
    assert _cm(cluster, "kept") is not None


def test_prune_never_deletes_everything_when_the_desired_set_is_empty(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    apply_environment(client, [namespace(), configmap("a")], IDENTITY)
    result = apply_environment(client, [], IDENTITY, prune_orphans=True)
    assert result.pruned == ()
    assert result.prune_note == EMPTY_SET_NOTE
    assert _cm(cluster, "a") is not None


def test_prune_with_allow_empty_deletes_every_owned_object(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    apply_environment(client, [namespace(), configmap("a")], IDENTITY)
    result = apply_environment(client, [], IDENTITY, prune_orphans=True, allow_empty=True)
    assert [str(k) for k in result.pruned] == ["ConfigMap ml/a", "Namespace ml"]


def test_dry_run_prune_deletes_nothing(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    apply_environment(client, [namespace(), configmap("a"), configmap("b")], IDENTITY)
    result = apply_environment(
        client, [namespace(), configmap("a")], IDENTITY, prune_orphans=True, dry_run=True
    )
    assert [str(k) for k in result.pruned] == ["ConfigMap ml/b"]
    assert _cm(cluster, "b") is not None


def test_denied_delete_is_reported_others_done_and_retried_next_run(
    client: ClusterClient, cluster: ClusterUnderTest
) -> None:
    desired = [namespace(), configmap("a"), configmap("b"), configmap("c")]
    apply_environment(client, desired, IDENTITY)
    cluster.deny_delete("ConfigMap", NS, "b", "b is protected")
    result = apply_environment(client, desired[:2], IDENTITY, prune_orphans=True)
    assert not result.ok
    assert [str(k) for k in result.pruned] == ["ConfigMap ml/c"]
    assert [str(f.key) for f in result.prune_failures] == ["ConfigMap ml/b"]
    assert "b is protected" in result.prune_failures[0].message
    assert _cm(cluster, "a") is not None
    cluster.clear_denials()
    again = apply_environment(client, desired[:2], IDENTITY, prune_orphans=True)
    assert again.ok
    assert [str(k) for k in again.pruned] == ["ConfigMap ml/b"]


def test_server_error_on_delete_does_not_stop_other_deletes(
    kubeconfig: Path, cluster: ClusterUnderTest
) -> None:
    no_wait = RetryPolicy(sleep=lambda seconds: None)
    client = ClusterClient.from_kubeconfig(str(kubeconfig), "test", retry=no_wait)
    desired = [namespace(), configmap("a"), configmap("b"), configmap("c")]
    apply_environment(client, desired, IDENTITY)
    cluster.inject(Fault(verb="delete", kind="ConfigMap", path="/c$", status=503, times=10))
    result = apply_environment(client, desired[:2], IDENTITY, prune_orphans=True)
    assert [str(k) for k in result.pruned] == ["ConfigMap ml/b"]
    assert [str(f.key) for f in result.prune_failures] == ["ConfigMap ml/c"]
    assert "503" in result.prune_failures[0].message


def test_stamp_where_applied_stamps_only_objects_live_carries_a_label_for() -> None:
    from gitops.ownership.identity import stamp_where_applied
    from gitops.workflows.live import namespaced_heuristic

    live = [_owned(configmap("ours")), configmap("theirs")]
    out = stamp_where_applied(
        IDENTITY, [configmap("ours"), configmap("theirs")], live, namespaced_heuristic
    )
    assert out[0] == IDENTITY.stamp(configmap("ours"))
    assert out[1] == configmap("theirs")
