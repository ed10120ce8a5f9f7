"""One object's way to the cluster during ``gitops apply``: checked, dry-run, applied.

:func:`prepare` checks every kind is served (or defined by a CRD of the set), stamps
ownership and reads the live object, deferring what waits for a CRD or Namespace this run
creates; :func:`dry_run_all` and :func:`apply_one` send server-side applies, retrying a 409
that names no field-manager conflict (a race, not a disagreement). The order and the steps
around them are :mod:`gitops.workflows.apply`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gitops.cluster.errors import ConflictError
from gitops.core.errors import ClusterError, InputError
from gitops.core.keys import Manifest, ResourceKey, canonical_order, key_of, without_server_metadata
from gitops.diff import engine as diff
from gitops.diff.fields import json_equal
from gitops.ownership import prune
from gitops.ownership.identity import Identity, adopts, place
from gitops.workflows.apply_result import Failure, Outcome

if TYPE_CHECKING:
    from gitops.cluster.client import ClusterClient

#: Group and kind of a CustomResourceDefinition.
CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
#: Group and kind of a Namespace.
NAMESPACE = ("", "Namespace")
#: How many times an apply answered 409 without field-manager conflicts is retried.
CONFLICT_RETRIES = 3


@dataclass
class Item:
    """One desired object: stamped body, live object (None: absent or deferred), and why
    it waits (empty: it can be dry-run now)."""

    key: ResourceKey
    body: Manifest
    live: Manifest | None
    deferred: str = ""


def is_kind(key: ResourceKey, group_kind: tuple[str, str]) -> bool:
    """Whether ``key`` is of ``(group, kind)``, any version."""
    return (key.group, key.kind) == group_kind


def _crd_kinds(manifests: Sequence[Manifest]) -> dict[tuple[str, str, str], tuple[str, bool]]:
    """``(group, version, kind)`` served by the set's CRDs -> (CRD name, namespaced)."""
    kinds: dict[tuple[str, str, str], tuple[str, bool]] = {}
    for crd in manifests:
        if not is_kind(key_of(crd), CRD):
            continue
        spec = crd.get("spec") or {}
        kind = str((spec.get("names") or {}).get("kind", ""))
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        for version in spec.get("versions") or []:
            if isinstance(version, dict) and version.get("served", True):
                gvk = (str(spec.get("group", "")), str(version.get("name", "")), kind)
                kinds[gvk] = (str(crd["metadata"]["name"]), namespaced)
    return kinds


def prepare(
    client: ClusterClient, manifests: Sequence[Manifest], identity: Identity
) -> tuple[list[Item], list[Failure]]:
    """Settle namespaces, stamp ownership, read live objects, find deferred objects."""
    crd_kinds = _crd_kinds(manifests)
    new_namespaces = {key_of(m).name for m in manifests if is_kind(key_of(m), NAMESPACE)}
    namespace_exists: dict[str, bool] = {}
    items: list[Item] = []
    failures: list[Failure] = []
    seen: set[tuple[str, str, str, str]] = set()
    for manifest in canonical_order(manifests):
        key = key_of(manifest)
        deferred = ""
        if client.is_served(key.group, key.version, key.kind):
            namespaced = client.resource_info(key.group, key.version, key.kind).namespaced
        elif (key.group, key.version, key.kind) in crd_kinds:
            crd_name, namespaced = crd_kinds[(key.group, key.version, key.kind)]
            deferred = f"its CustomResourceDefinition {crd_name} is created by this run"
        else:
            message = (
                f"kind {key.kind} ({key.api_version}) is not served by the cluster and no "
                "CustomResourceDefinition in the desired set defines it"
            )
            failures.append(Failure(key, "check", message))
            continue
        # Server metadata copied from `kubectl get` would be a precondition (a stale
        # resourceVersion: 409 on every run) or refused (managedFields).
        key, manifest = place(without_server_metadata(manifest), namespaced)
        if prune.identity_of(key) in seen:
            raise InputError(f"desired set: {key} is defined twice")
        seen.add(prune.identity_of(key))
        if not deferred and key.namespace in new_namespaces:
            if key.namespace not in namespace_exists:
                ns_key = ResourceKey("", "v1", "Namespace", "", key.namespace)
                namespace_exists[key.namespace] = client.get(ns_key) is not None
            if not namespace_exists[key.namespace]:
                deferred = f"its Namespace {key.namespace} is created by this run"
        live = None if deferred else client.get(key)
        # An object that exists and is not ours yet is adopted: prune never deletes it.
        items.append(
            Item(key, identity.stamp(manifest, key, adopts(identity, live)), live, deferred)
        )
    return items, failures


def _send(
    client: ClusterClient, item: Item, identity: Identity, force: bool, dry_run: bool = False
) -> tuple[Manifest, Item]:
    """Apply ``item``; a 409 naming no field-manager conflict is read again and retried.

    Such a 409 is a race, not a disagreement: the object changed or appeared meanwhile
    (a create racing ours, a storage conflict). The live object is read again (so the
    outcome is judged against it) and the apply, which carries no resourceVersion, is
    sent again, at most :data:`CONFLICT_RETRIES` times.
    """
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            stored = client.apply(item.body, identity.field_manager, force=force, dry_run=dry_run)
        except ConflictError as err:
            if err.conflicts or attempt == CONFLICT_RETRIES:
                raise
            item = replace(item, live=client.get(item.key))
        else:
            return stored, item
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def dry_run_all(
    client: ClusterClient, items: Sequence[Item], identity: Identity, force: bool
) -> list[Failure]:
    """Dry-run every item on the server; every refusal, none stopping the others."""
    failures: list[Failure] = []
    for item in items:
        try:
            _send(client, item, identity, force, dry_run=True)
        except ClusterError as err:
            failures.append(_failure(item.key, "dry-run", err))
    return failures


def _failure(key: ResourceKey, phase: str, err: ClusterError) -> Failure:
    return Failure(key, phase, str(err), tuple(getattr(err, "conflicts", ())))


def predicted(item: Item, identity: Identity) -> Outcome:
    """What applying ``item`` would do (created, configured, unchanged), from its live object."""
    status = diff.diff_object(item.body, item.live, field_manager=identity.field_manager).status
    if status is diff.Status.MISSING:
        return Outcome(item.key, "created")
    return Outcome(item.key, "unchanged" if status is diff.Status.IN_SYNC else "configured")


def apply_one(
    client: ClusterClient, item: Item, identity: Identity, force: bool
) -> Outcome | Failure:
    """Apply ``item`` for real: what it did, or the refusal."""
    try:
        stored, item = _send(client, item, identity, force)
    except ClusterError as err:
        return _failure(item.key, "apply", err)
    if item.live is None:
        return Outcome(item.key, "created")
    if _same_object(item.live, stored):
        return Outcome(item.key, "unchanged")
    # Another writer may change the object between our read and our apply (the Deployment
    # controller sets its revision annotation just after a create): the object then moved,
    # yet our apply changed none of our fields when what we read was already in sync.
    return predicted(item, identity)


def _same_object(before: Manifest, after: Manifest) -> bool:
    """Whether an apply left the object as it was.

    A no-op apply keeps the resourceVersion; but a controller writing status between our read
    and our apply (a Deployment's, every few seconds while pods start) moves it too. So the
    object is also the same when all but its status and write bookkeeping are.
    """
    version = (before.get("metadata") or {}).get("resourceVersion")
    if version == (after.get("metadata") or {}).get("resourceVersion"):
        return True
    return json_equal(_content(before), _content(after))  # not ==: true is not 1


def _content(obj: Manifest) -> Manifest:
    meta = {
        k: v
        for k, v in (obj.get("metadata") or {}).items()
        if k not in ("resourceVersion", "managedFields")
    }
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}
