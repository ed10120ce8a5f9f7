"""Apply an environment's desired set: dry-run everything, apply in order, wait, prune.

Orchestration; the I/O goes through :class:`gitops.cluster.client.ClusterClient`.

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
6. **Prune** (``prune=True``): owned orphans (see :mod:`gitops.ownership.prune`), reverse order.

With a change budget (:mod:`gitops.policy.budgets`), the change is measured after step 1 (what
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

from gitops.cluster.readiness import WAITED_KINDS
from gitops.cluster.wait import Timing, wait_established, wait_ready
from gitops.core.gpu_demand import total_gpus
from gitops.core.keys import Manifest, ResourceKey, key_of
from gitops.ownership import prune
from gitops.ownership.identity import Identity
from gitops.policy.budgets import BudgetReport, ChangeBudget, assess
from gitops.workflows.apply_objects import (
    CONFLICT_RETRIES,
    CRD,
    NAMESPACE,
    Item,
    apply_one,
    dry_run_all,
    is_kind,
    predicted,
    prepare,
)
from gitops.workflows.apply_result import ApplyResult, Failure, Outcome

if TYPE_CHECKING:
    from gitops.cluster.client import ClusterClient

Progress = Callable[[str], None]
__all__ = [
    "CONFLICT_RETRIES",
    "ApplyResult",
    "Failure",
    "Outcome",
    "Timing",
    "apply_environment",
]


# Over 60 lines by its signature and Args; the body is the module docstring's six steps,
# each a call (apply_objects, _apply_in_order, wait, _prune).
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
        timing: bounds and clock of the waits (default :class:`gitops.cluster.wait.Timing`).
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
    items, failures = prepare(client, manifests, identity)
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
    failures += dry_run_all(client, ready_now, identity, force_conflicts)
    if failures:
        return _with(result, failures=tuple(failures))
    report(f"dry-run: {len(ready_now)} object(s) accepted by the server")
    if dry_run:
        applied = tuple(predicted(item, identity) for item in items)
        unverified = tuple((item.key, item.deferred) for item in items if item.deferred)
        result = _with(result, applied=applied, unverified=unverified)
        if prune_orphans:
            result = _prune(
                client, result, report, orphans or _select(client, items, identity, selection)
            )
        return result

    outcomes, stop = _apply_in_order(client, items, identity, force_conflicts, timing, report)
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


def _apply_in_order(
    client: ClusterClient,
    items: Sequence[Item],
    identity: Identity,
    force_conflicts: bool,
    timing: Timing,
    report: Progress,
) -> tuple[list[Outcome], list[Failure]]:
    """Apply CRDs and Namespaces, wait until they are served, then everything else.

    Returns what was applied and, if the apply stopped early, why (the first refusal, or
    the foundation that did not settle); nothing after a failure is applied.
    """
    outcomes: list[Outcome] = []
    foundation = [i for i in items if is_kind(i.key, CRD) or is_kind(i.key, NAMESPACE)]
    rest = [i for i in items if i not in foundation]
    for group in (foundation, rest):
        for item in group:
            done = apply_one(client, item, identity, force_conflicts)
            if isinstance(done, Failure):
                report(str(done))
                return outcomes, [done]
            outcomes.append(done)
            report(f"{done.key}: {done.action}")
        if group is foundation:
            stop = _settle_foundation(client, items, identity, force_conflicts, timing, report)
            if stop:
                return outcomes, list(stop)
    return outcomes, []


def _measure(
    budget: ChangeBudget,
    items: Sequence[Item],
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
    items: Sequence[Item],
    identity: Identity,
    force: bool,
    timing: Timing,
    report: Progress,
) -> list[Failure]:
    """Wait for new CRDs, then dry-run what had to wait for its CRD or Namespace."""
    crds = [item.key for item in items if is_kind(item.key, CRD)]
    late = wait_established(client, crds, timing, report)
    if late:
        return [Failure(key, "establish", message) for key, message in late]
    deferred = [item for item in items if item.deferred]
    if deferred:  # kinds of the new CRDs are served now; the cached discovery predates them
        client.forget_discovery()
    failures = dry_run_all(client, deferred, identity, force)
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
    client: ClusterClient, items: Sequence[Item], identity: Identity, how: _Selection
) -> _Orphans:
    """List our labelled objects and choose what prune deletes (:mod:`gitops.ownership.prune`)."""
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
