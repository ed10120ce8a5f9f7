"""Safe prune: which live objects may be deleted, and deleting them one by one.

:func:`select_prune` is pure: given the live objects that carry our membership label and
the desired keys, it returns what to delete and what to leave (with the reason).
:func:`list_labelled` (LIST every served kind by label selector) and
:func:`delete_objects` do the I/O through a :class:`gitops.cluster.client.ClusterClient`.

An object is deleted only if it is labelled with the environment's ApplySet id, its
ownership hash encodes its own key *as created by this tool* (an adopted object, one that
existed before we applied it, is never deleted), our field manager applied the label, it
is not annotated to opt out, and it is not desired. An empty desired set prunes nothing
unless ``allow_empty``: an environment whose files vanished must not wipe the cluster.

Deleting a Namespace deletes everything in it. Given its contents, a Namespace holding
any object prune would not delete itself (another tool's, a kept or adopted one) is kept
unless ``delete_namespace_contents``; :attr:`PruneSet.takes` lists what each Namespace
deletion takes with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitops.core.errors import ClusterError
from gitops.core.keys import Manifest, ResourceKey, key_of, sort_key
from gitops.core.labels import PART_OF_LABEL
from gitops.ownership.identity import Identity, prune_opt_out

if TYPE_CHECKING:
    from gitops.cluster.client import ClusterClient

log = logging.getLogger(__name__)

#: Why prune did nothing for an empty desired set.
EMPTY_SET_NOTE = "the desired set is empty: nothing is pruned without --allow-empty"


@dataclass(frozen=True)
class Kept:
    """A labelled live object prune leaves alone, and why."""

    key: ResourceKey
    reason: str


@dataclass(frozen=True)
class PruneSet:
    """What prune would delete (in delete order: reverse canonical order) and what it keeps.

    Attributes:
        delete: objects to delete, last-applied kinds first.
        kept: labelled objects left alone (copied label, opted out), with the reason.
        note: why nothing is pruned at all (empty desired set), else "".
        takes: per deleted Namespace, every object in it (deleted with it).
    """

    delete: tuple[ResourceKey, ...] = ()
    kept: tuple[Kept, ...] = ()
    note: str = ""
    #: Per Namespace deleted: the objects in it (ours and not) the deletion takes along.
    takes: tuple[tuple[ResourceKey, tuple[ResourceKey, ...]], ...] = ()


def identity_of(key: ResourceKey) -> tuple[str, str, str, str]:
    """An object's identity across API versions: group, kind, namespace, name."""
    return (key.group, key.kind, key.namespace, key.name)


def select_prune(
    labelled: Iterable[Manifest],
    desired: Iterable[ResourceKey],
    identity: Identity,
    *,
    allow_empty: bool = False,
    check_managed_fields: bool = True,
    contents: Mapping[str, Sequence[ResourceKey]] | None = None,
    delete_namespace_contents: bool = False,
) -> PruneSet:
    """Choose which labelled live objects to delete. Pure.

    Args:
        labelled: live objects carrying (or claiming) our membership label.
        desired: keys of the desired objects (namespaces filled in).
        identity: the environment's identity.
        allow_empty: prune even when ``desired`` is empty.
        check_managed_fields: require our manager to own the label (off for captures
            without ``managedFields``).
        contents: every object in each Namespace that would be deleted (None: unknown,
            Namespaces are judged on their own, as before contents were listed).
        delete_namespace_contents: delete a Namespace even when it holds objects prune
            would not delete (they go with it).
    """
    wanted = {identity_of(k) for k in desired}
    objects = [o for o in labelled if _labelled(o, identity)]
    if not wanted and not allow_empty:
        return PruneSet(note=EMPTY_SET_NOTE if objects else "")
    delete: dict[tuple[str, str, str, str], ResourceKey] = {}
    kept: list[Kept] = []
    for obj in objects:
        key = key_of(obj, "live object")
        if identity_of(key) in wanted or identity_of(key) in delete:
            continue
        if not identity.claims(obj):
            kept.append(Kept(key, "not ours: the ownership hash is not this object's (copied?)"))
        elif check_managed_fields and not identity.applied_label(obj):
            manager = identity.field_manager
            kept.append(Kept(key, f"not ours: the label was not applied by {manager}"))
        elif (opt_out := prune_opt_out(obj)) is not None:
            kept.append(Kept(key, f"opted out of pruning ({opt_out})"))
        elif identity.adopted(obj):
            kept.append(Kept(key, ADOPTED_NOTE))
        else:
            delete[identity_of(key)] = key
    takes: list[tuple[ResourceKey, tuple[ResourceKey, ...]]] = []
    for ident, key in sorted(delete.items()):
        if (key.group, key.kind) != ("", "Namespace") or contents is None:
            continue
        inside = tuple(sorted(contents.get(key.name, ()), key=sort_key))
        foreign = [k for k in inside if identity_of(k) not in delete]
        if foreign and not delete_namespace_contents:
            del delete[ident]
            kept.append(Kept(key, _holds(foreign)))
        elif inside:
            takes.append((key, inside))
    order = sorted(delete.values(), key=sort_key, reverse=True)
    return PruneSet(
        tuple(order), tuple(sorted(kept, key=lambda k: sort_key(k.key))), takes=tuple(takes)
    )


#: Why an adopted object is kept.
ADOPTED_NOTE = (
    "adopted: it existed before gitops applied it, so gitops never deletes it "
    "(delete it by hand if it should go)"
)


def _holds(foreign: Sequence[ResourceKey]) -> str:
    shown = ", ".join(str(k) for k in foreign[:5])
    more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
    return (
        f"holds {len(foreign)} object(s) gitops would not delete ({shown}{more}): deleting "
        "the Namespace would delete them too; --prune-namespace-contents deletes it with them"
    )


def _labelled(obj: Manifest, identity: Identity) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(PART_OF_LABEL) == identity.id)


def prunable_kinds(client: ClusterClient) -> list[tuple[str, str, str]]:
    """Every served kind that can be listed and deleted, one version per group and kind."""
    seen: set[tuple[str, str]] = set()
    kinds: list[tuple[str, str, str]] = []
    for (group, version, kind), info in client.discover().items():
        if (group, kind) in seen or not {"list", "delete"} <= set(info.verbs):
            continue
        seen.add((group, kind))
        kinds.append((group, version, kind))
    return kinds


@dataclass(frozen=True)
class Listing:
    """Labelled live objects, and the kinds that could not be listed (with the error)."""

    objects: tuple[Manifest, ...]
    unlisted: tuple[str, ...] = ()


def list_labelled(
    client: ClusterClient,
    identity: Identity,
    kinds: Sequence[tuple[str, str, str]] | None = None,
) -> Listing:
    """LIST every kind (default: every served kind) by our membership label.

    A kind whose LIST fails is reported in :attr:`Listing.unlisted` and its objects are
    not pruned this run; the others still are.
    """
    objects: list[Manifest] = []
    unlisted: list[str] = []
    for group, version, kind in kinds if kinds is not None else prunable_kinds(client):
        try:
            objects.extend(client.list_objects(group, version, kind, identity.selector))
        except ClusterError as err:
            log.warning("cannot list %s for pruning: %s", kind, err)
            unlisted.append(f"{kind}: {err}")
    return Listing(tuple(objects), tuple(unlisted))


def namespace_contents(
    client: ClusterClient, namespaces: Iterable[str]
) -> tuple[dict[str, list[ResourceKey]], tuple[str, ...]]:
    """Every object in each of ``namespaces``: one LIST per listable namespaced kind each.

    Returns:
        ``{namespace: keys}``, and the kinds that could not be listed: a Namespace whose
        contents are not fully known is reported holding them (and kept).
    """
    names = sorted(set(namespaces))
    found: dict[str, list[ResourceKey]] = {name: [] for name in names}
    unlisted: list[str] = []
    if not names:
        return found, ()
    seen: set[tuple[str, str]] = set()
    for (group, version, kind), info in client.discover().items():
        if not info.namespaced or "list" not in info.verbs or "/" in info.plural:
            continue
        if (group, kind) in seen or group in _DERIVED_GROUPS or kind in _DERIVED_KINDS:
            continue
        seen.add((group, kind))
        for name in names:
            try:
                items = client.list_objects(group, version, kind, namespace=name)
            except ClusterError as err:
                unlisted.append(f"{kind} in {name}: {err}")
                found[name].append(ResourceKey(group, version, kind, name, "(not listed)"))
                continue
            found[name].extend(key_of(obj, "live object") for obj in items if is_content(obj))
    return found, tuple(unlisted)


#: Kinds and groups a Namespace holds without anyone putting them there: events, the
#: Endpoints mirroring Services, metrics (read-only views of Pods and Nodes).
_DERIVED_KINDS = frozenset({"Event", "Endpoints"})
_DERIVED_GROUPS = frozenset({"metrics.k8s.io"})
#: Objects the control plane creates in every Namespace (its ServiceAccount controller and
#: root-CA publisher): deleting the Namespace takes nothing anyone made.
_EVERY_NAMESPACE = frozenset(
    {("", "ServiceAccount", "default"), ("", "ConfigMap", "kube-root-ca.crt")}
)


def is_content(obj: Manifest) -> bool:
    """Whether ``obj`` counts as something a Namespace deletion would take from someone.

    Objects with ``ownerReferences`` are left out: they go with their owner (a Pod with its
    ReplicaSet, with its Deployment), which is counted itself. So are events and what the
    control plane puts in every Namespace. Pure.
    """
    key = key_of(obj, "live object")
    if key.kind in _DERIVED_KINDS or key.group in _DERIVED_GROUPS:
        return False
    if (key.group, key.kind, key.name) in _EVERY_NAMESPACE:
        return False
    return not (obj.get("metadata") or {}).get("ownerReferences")


@dataclass(frozen=True)
class DeleteFailure:
    """A delete the cluster refused; it is retried on the next run."""

    key: ResourceKey
    message: str


def delete_objects(
    client: ClusterClient,
    keys: Sequence[ResourceKey],
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[tuple[ResourceKey, ...], tuple[DeleteFailure, ...]]:
    """Delete ``keys`` in the given order; a refused delete does not stop the others.

    Returns:
        The keys deleted, and the deletes that failed (admission denial, 5xx...).
    """
    deleted: list[ResourceKey] = []
    failed: list[DeleteFailure] = []
    for key in keys:
        try:
            client.delete(key, dry_run=dry_run)
        except ClusterError as err:
            failed.append(DeleteFailure(key, str(err)))
            if progress is not None:
                progress(f"delete {key}: failed: {err}")
            continue
        deleted.append(key)
        if progress is not None:
            progress(f"{key}: deleted{' (dry run)' if dry_run else ''}")
    return tuple(deleted), tuple(failed)
