"""Apply an environment's desired set: dry-run everything, apply in order, wait, prune.

Orchestration; the I/O goes through :class:`gitops.cluster.ClusterClient`.

1. **Check.** Every kind must be served, or defined by a CustomResourceDefinition of the
   set. Objects whose CRD or Namespace this run creates are *deferred*: the server cannot
   dry-run them yet.
2. **Dry-run** every other object (server-side apply with ``dryRun=All``). Any failure:
   nothing is applied; every failure is reported.
3. **Foundation.** CRDs (then wait until ``Established``) and Namespaces are applied for
   real, then the deferred objects are dry-run. A failure there stops the run with only
   CRDs and Namespaces written: definitions and empty namespaces, which are harmless.
4. **Apply** the rest in canonical order (cluster-scoped policy, then the rest). A failure
   stops at that object: nothing after it is applied and prune is skipped.
5. **Wait** (``wait=True``): Deployments, StatefulSets, InferenceServices until ready,
   bounded. Prune runs only once they are, so replaced stacks stay until new ones serve.
6. **Prune** (``prune=True``): owned orphans (see :mod:`gitops.prune`), reverse order.

With a change budget (:mod:`gitops.budgets`), the change is measured after step 1 (what
prune would delete, against the live objects; GPUs desired against GPUs live) and refused
before anything is dry-run or written when it exceeds a budget the applied commit does not
override.

Running it again converges: server-side apply is idempotent and a refused delete is
simply found again by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from gitops import diff, prune
from gitops.apply_result import ApplyResult, Failure, Outcome
from gitops.budgets import BudgetReport, ChangeBudget, assess
from gitops.cluster_errors import ConflictError
from gitops.errors import ClusterError, InputError
from gitops.gpu_demand import total_gpus
from gitops.model import (
    Manifest,
    ResourceKey,
    canonical_order,
    key_of,
    without_server_metadata,
)
from gitops.ownership import Identity, adopts, place
from gitops.readiness import WAITED_KINDS
from gitops.wait import Timing, wait_established, wait_ready

if TYPE_CHECKING:
    from gitops.cluster import ClusterClient

_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
_NAMESPACE = ("", "Namespace")
Progress = Callable[[str], None]
#: How many times an apply answered 409 without field-manager conflicts is retried.
CONFLICT_RETRIES = 3
__all__ = ["ApplyResult", "Failure", "Outcome", "Timing", "apply_environment"]


@dataclass
class _Item:
    key: ResourceKey
    body: Manifest
    live: Manifest | None
    deferred: str = ""


def _is(key: ResourceKey, group_kind: tuple[str, str]) -> bool:
    return (key.group, key.kind) == group_kind


def _crd_kinds(manifests: Sequence[Manifest]) -> dict[tuple[str, str, str], tuple[str, bool]]:
    """``(group, version, kind)`` served by the set's CRDs -> (CRD name, namespaced)."""
    kinds: dict[tuple[str, str, str], tuple[str, bool]] = {}
    for crd in manifests:
        if not _is(key_of(crd), _CRD):
            continue
        spec = crd.get("spec") or {}
        kind = str((spec.get("names") or {}).get("kind", ""))
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        for version in spec.get("versions") or []:
            if isinstance(version, dict) and version.get("served", True):
                gvk = (str(spec.get("group", "")), str(version.get("name", "")), kind)
                kinds[gvk] = (str(crd["metadata"]["name"]), namespaced)
    return kinds


def _prepare(
    client: ClusterClient, manifests: Sequence[Manifest], identity: Identity
) -> tuple[list[_Item], list[Failure]]:
    """Settle namespaces, stamp ownership, read live objects, find deferred objects."""
    crd_kinds = _crd_kinds(manifests)
    new_namespaces = {key_of(m).name for m in manifests if _is(key_of(m), _NAMESPACE)}
    namespace_exists: dict[str, bool] = {}
    items: list[_Item] = []
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
            _Item(key, identity.stamp(manifest, key, adopts(identity, live)), live, deferred)
        )
    return items, failures


def _send(
    client: ClusterClient, item: _Item, identity: Identity, force: bool, dry_run: bool = False
) -> tuple[Manifest, _Item]:
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


def _dry_run(
    client: ClusterClient, items: Sequence[_Item], identity: Identity, force: bool
) -> list[Failure]:
    failures: list[Failure] = []
    for item in items:
        try:
            _send(client, item, identity, force, dry_run=True)
        except ClusterError as err:
            failures.append(_failure(item.key, "dry-run", err))
    return failures


def _failure(key: ResourceKey, phase: str, err: ClusterError) -> Failure:
    return Failure(key, phase, str(err), tuple(getattr(err, "conflicts", ())))


def _predicted(item: _Item, identity: Identity) -> Outcome:
    status = diff.diff_object(item.body, item.live, field_manager=identity.field_manager).status
    if status is diff.Status.MISSING:
        return Outcome(item.key, "created")
    return Outcome(item.key, "unchanged" if status is diff.Status.IN_SYNC else "configured")


def _apply_one(
    client: ClusterClient, item: _Item, identity: Identity, force: bool
) -> Outcome | Failure:
    try:
        stored, item = _send(client, item, identity, force)
    except ClusterError as err:
        return _failure(item.key, "apply", err)
    if item.live is None:
        return Outcome(item.key, "created")
    return Outcome(item.key, "unchanged" if _same_object(item.live, stored) else "configured")


def _same_object(before: Manifest, after: Manifest) -> bool:
    """Whether an apply left the object as it was.

    A no-op apply keeps the resourceVersion; but a controller writing status between our read
    and our apply (a Deployment's, every few seconds while pods start) moves it too. So the
    object is also the same when all but its status and write bookkeeping are.
    """
    version = (before.get("metadata") or {}).get("resourceVersion")
    if version == (after.get("metadata") or {}).get("resourceVersion"):
        return True
    return _content(before) == _content(after)


def _content(obj: Manifest) -> Manifest:
    meta = {
        k: v
        for k, v in (obj.get("metadata") or {}).items()
        if k not in ("resourceVersion", "managedFields")
    }
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def apply_environment(
    client: ClusterClient,
    manifests: Sequence[Manifest],
    identity: Identity,
    *,
    dry_run: bool = False,
    prune_orphans: bool = False,
    allow_empty: bool = False,
    force_conflicts: bool = False,
    wait: bool = False,
    progress: Progress | None = None,
    timing: Timing | None = None,
    prune_kinds: Sequence[tuple[str, str, str]] | None = None,
    delete_namespace_contents: bool = False,
    budget: ChangeBudget | None = None,
    overrides: Mapping[str, str] | None = None,
) -> ApplyResult:
    """Apply ``manifests`` (one environment's desired set) to the cluster; see the module doc.

    Args:
        client: the cluster.
        manifests: the desired objects (any order; applied in canonical order).
        identity: the environment's ownership identity (ApplySet id, field manager).
        dry_run: only dry-run on the server; report what would happen.
        prune_orphans: delete owned objects that are no longer desired.
        allow_empty: prune even if ``manifests`` is empty.
        force_conflicts: take ownership of fields other managers own.
        wait: wait until Deployments, StatefulSets and InferenceServices are ready.
        progress: called with one line per step.
        timing: bounds and clock of the waits (default :class:`gitops.wait.Timing`).
        prune_kinds: kinds to look for orphans in (default: every served kind).
        delete_namespace_contents: prune a Namespace even when it holds objects prune
            would not delete (by default it is kept and the objects are named).
        budget: the environment's change budget; a change over it is refused (nothing is
            dry-run, applied or pruned) unless ``overrides`` names the budget.
        overrides: overrides recorded in the applied commit, ``{budget: reason}``.

    Raises:
        InputError: the set defines an object twice.
        ClusterError: the cluster could not be read (discovery, GET); refusals of single
            objects are reported in the result instead.
    """
    report = progress or (lambda line: None)
    timing = timing or Timing()
    result = ApplyResult(identity.id, dry_run)
    items, failures = _prepare(client, manifests, identity)
    selection = _Selection(allow_empty, prune_kinds, delete_namespace_contents)
    orphans: _Orphans | None = None
    if budget is not None and not failures:
        if prune_orphans:  # chosen once: what is measured is what is deleted
            orphans = _select(client, items, identity, selection)
        measured = _measure(budget, items, identity, orphans, overrides)
        result = _with(result, budgets=measured)
        if measured.refused:
            report(f"refused: {measured.refusal()}")
            return _with(result, refusal=measured.refusal())
        for use in measured.uses:
            if use.over:
                report(f"budget {use.name} overridden: {use.override}")
    ready_now = [item for item in items if not item.deferred]
    failures += _dry_run(client, ready_now, identity, force_conflicts)
    if failures:
        return _with(result, failures=tuple(failures))
    report(f"dry-run: {len(ready_now)} object(s) accepted by the server")
    if dry_run:
        applied = tuple(_predicted(item, identity) for item in items)
        unverified = tuple((item.key, item.deferred) for item in items if item.deferred)
        result = _with(result, applied=applied, unverified=unverified)
        if prune_orphans:
            result = _prune(
                client, result, report, orphans or _select(client, items, identity, selection)
            )
        return result

    outcomes: list[Outcome] = []
    foundation = [i for i in items if _is(i.key, _CRD) or _is(i.key, _NAMESPACE)]
    rest = [i for i in items if i not in foundation]
    for group in (foundation, rest):
        for item in group:
            done = _apply_one(client, item, identity, force_conflicts)
            if isinstance(done, Failure):
                report(str(done))
                return _with(
                    result,
                    applied=tuple(outcomes),
                    failures=(done,),
                    prune_note="skipped: the apply did not complete",
                )
            outcomes.append(done)
            report(f"{done.key}: {done.action}")
        if group is foundation:
            stop = _settle_foundation(client, items, identity, force_conflicts, timing, report)
            if stop:
                return _with(
                    result,
                    applied=tuple(outcomes),
                    failures=tuple(stop),
                    prune_note="skipped: the apply did not complete",
                )
    result = _with(result, applied=tuple(outcomes))
    if wait:
        waited = [item.key for item in items if item.key.kind in WAITED_KINDS]
        not_ready = [Failure(k, "wait", m) for k, m in wait_ready(client, waited, timing, report)]
        if not_ready:
            return _with(
                result, failures=tuple(not_ready), prune_note="skipped: objects are not ready"
            )
    if prune_orphans:
        result = _prune(
            client, result, report, orphans or _select(client, items, identity, selection)
        )
    return result


def _measure(
    budget: ChangeBudget,
    items: Sequence[_Item],
    identity: Identity,
    orphans: _Orphans | None,
    overrides: Mapping[str, str] | None,
) -> BudgetReport:
    """The change against the budget: prune's deletions (a Namespace's contents with it),
    GPUs desired against GPUs live."""
    live = [item.live for item in items if item.live is not None]
    deletes: tuple[ResourceKey, ...] = ()
    doomed: dict[ResourceKey, Manifest] = {}
    owned = sum(1 for obj in live if identity.claims(obj))
    if orphans is not None:
        listing, selected = orphans.listing, orphans.selected
        deletes = (*selected.delete, *(key for _, held in selected.takes for key in held))
        by_key = {key_of(obj): obj for obj in listing.objects}
        doomed = {key: by_key[key] for key in deletes if key in by_key}
        owned = sum(1 for obj in listing.objects if identity.claims(obj))
    before = total_gpus([*live, *doomed.values()])
    after = total_gpus([item.body for item in items])
    return assess(
        budget,
        deletes=deletes,
        deleted_objects=doomed,
        live_count=owned,
        gpus_before=before,
        gpus_after=after,
        overrides=overrides,
    )


def _settle_foundation(
    client: ClusterClient,
    items: Sequence[_Item],
    identity: Identity,
    force: bool,
    timing: Timing,
    report: Progress,
) -> list[Failure]:
    """Wait for new CRDs, then dry-run what had to wait for its CRD or Namespace."""
    crds = [item.key for item in items if _is(item.key, _CRD)]
    late = wait_established(client, crds, timing, report)
    if late:
        return [Failure(key, "establish", message) for key, message in late]
    deferred = [item for item in items if item.deferred]
    if deferred:  # kinds of the new CRDs are served now; the cached discovery predates them
        client.forget_discovery()
    failures = _dry_run(client, deferred, identity, force)
    if not failures and deferred:
        report(f"dry-run: {len(deferred)} deferred object(s) accepted by the server")
    return failures


@dataclass(frozen=True)
class _Selection:
    """How prune chooses (``allow_empty``, kinds, namespace contents)."""

    allow_empty: bool
    kinds: Sequence[tuple[str, str, str]] | None
    delete_namespace_contents: bool


@dataclass(frozen=True)
class _Orphans:
    """The labelled live objects, what prune would delete of them, and kinds not listed."""

    listing: prune.Listing
    selected: prune.PruneSet
    unlisted: tuple[str, ...]


def _select(
    client: ClusterClient, items: Sequence[_Item], identity: Identity, how: _Selection
) -> _Orphans:
    """List our labelled objects and choose what prune deletes (see :mod:`gitops.prune`)."""
    listing = prune.list_labelled(client, identity, how.kinds)
    desired = [item.key for item in items]
    selected = prune.select_prune(listing.objects, desired, identity, allow_empty=how.allow_empty)
    namespaces = [k.name for k in selected.delete if (k.group, k.kind) == ("", "Namespace")]
    unlisted = tuple(listing.unlisted)
    if namespaces:  # what deleting them would take along decides whether they go
        contents, missed = prune.namespace_contents(client, namespaces)
        unlisted += tuple(missed)
        selected = prune.select_prune(
            listing.objects,
            desired,
            identity,
            allow_empty=how.allow_empty,
            contents=contents,
            delete_namespace_contents=how.delete_namespace_contents,
        )
    return _Orphans(listing, selected, unlisted)


def _prune(
    client: ClusterClient, result: ApplyResult, report: Progress, orphans: _Orphans
) -> ApplyResult:
    selected, unlisted = orphans.selected, orphans.unlisted
    if selected.note:
        report(f"prune: {selected.note}")
    deleted, refused = prune.delete_objects(
        client, selected.delete, dry_run=result.dry_run, progress=report
    )
    notes = [selected.note] if selected.note else []
    notes.extend(f"not listed: {missing}" for missing in unlisted)
    note = "; ".join(notes)
    return _with(
        result,
        pruned=deleted,
        prune_failures=refused,
        prune_kept=selected.kept,
        prune_note=note,
        prune_takes=selected.takes,
    )


def _with(result: ApplyResult, **changes: Any) -> ApplyResult:
    return replace(result, **changes)
