"""The plan of a pull request: what a change does to the manifests, drift, what apply would do.

Purely data-manipulative: no I/O. The caller reads base and head manifests (Git) and the
live objects (cluster or capture) and passes them in; :mod:`gitops.workflows.report` formats the
:class:`Plan`. Secret values are masked (see :mod:`gitops.core.redact`) before any text is made.

Three parts:

1. **Rendered changes** between base and head, per object: added, changed (with a
   redacted unified diff) or removed.
2. **Drift**: the live objects against base (what the cluster no longer matches).
3. **Apply**: what applying head would do: create, update (with the diff), delete (the
   prune set, with the same rules as :mod:`gitops.ownership.prune`).

Plus the policy violations head has that base did not, and the change risk: each change
budget and its use (:mod:`gitops.policy.budgets`), the GPU delta, and the promotion status
(:mod:`gitops.workflows.promotion`).
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jsonpatch

from gitops.core import redact
from gitops.core.gpu_demand import total_gpus
from gitops.core.keys import Manifest, ResourceKey, key_of, sort_key
from gitops.core.yaml_io import dump_one
from gitops.diff import engine as diff
from gitops.diff.fields import json_equal
from gitops.inputs.ignore import IgnoreRule
from gitops.ownership.identity import Identity, stamp_where_applied
from gitops.ownership.prune import Kept, identity_of, is_content, select_prune
from gitops.policy.budgets import BudgetReport, ChangeBudget, assess
from gitops.policy.violation import Violation
from gitops.workflows.live import namespaced_heuristic
from gitops.workflows.promotion import PromotionStatus


class Change(enum.StrEnum):
    """How an object changed between base and head."""

    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


@dataclass(frozen=True)
class ObjectChange:
    """One object's change between base and head. ``text`` and ``patch`` are redacted."""

    key: ResourceKey
    change: Change
    text: str = ""
    patch: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**_key_dict(self.key), "change": str(self.change), "patch": list(self.patch)}


@dataclass(frozen=True)
class Plan:
    """Everything ``gitops plan`` reports; see the module docstring for the three parts.

    Attributes:
        environment: the environment planned.
        base: the base ref as given.
        head: the head ref as given.
        changes: part 1, in canonical order.
        drift: part 2 (None when no live objects were given): objects not in sync with base.
        creates: part 3: objects applying head would create (or whose kind is not served).
        updates: part 3: objects it would change, with their diffs.
        deletes: part 3: objects prune would delete, in delete order.
        prune_kept: labelled live objects prune would leave alone, and why.
        prune_note: why prune would delete nothing at all ("" otherwise).
        violations: policy violations at head that base does not have.
        live_source: where the live objects came from ("" when none were given).
        delete_takes: per Namespace in ``deletes``, the objects deleted with it.
        budgets: each change budget and its use (None: no budget given).
        promotion: whether head follows the environment's upstream (None: no order).
    """

    environment: str
    base: str
    head: str
    changes: tuple[ObjectChange, ...] = ()
    drift: tuple[diff.ObjectDiff, ...] | None = None
    creates: tuple[diff.ObjectDiff, ...] = ()
    updates: tuple[diff.ObjectDiff, ...] = ()
    deletes: tuple[ResourceKey, ...] = ()
    prune_kept: tuple[Kept, ...] = ()
    prune_note: str = ""
    violations: tuple[Violation, ...] = ()
    live_source: str = ""
    delete_takes: tuple[tuple[ResourceKey, tuple[ResourceKey, ...]], ...] = ()
    budgets: BudgetReport | None = None
    promotion: PromotionStatus | None = None

    @property
    def over_budget(self) -> bool:
        """Whether apply would refuse the change (a budget exceeded with no override)."""
        return bool(self.budgets and self.budgets.refused)

    @property
    def has_live(self) -> bool:
        """Whether parts 2 and 3 were computed against live objects."""
        return self.drift is not None

    @property
    def has_changes(self) -> bool:
        """Whether the change renders differently or applying head would do anything."""
        return bool(self.changes or self.creates or self.updates or self.deletes)

    def summary(self) -> dict[str, int]:
        """Counts of every part (drift and apply counts are 0 without live objects)."""
        counts = {str(c): sum(1 for o in self.changes if o.change is c) for c in Change}
        return {
            **counts,
            "drifted": len(self.drift or ()),
            "create": len(self.creates),
            "update": len(self.updates),
            "delete": len(self.deletes),
            "violations": len(self.violations),
            "over_budget": len(self.budgets.refused) if self.budgets else 0,
        }

    def to_dict(self) -> dict[str, Any]:
        """Deterministic JSON form of the whole plan."""
        return {
            "environment": self.environment,
            "base": self.base,
            "head": self.head,
            "summary": self.summary(),
            "changes": [c.to_dict() for c in self.changes],
            "drift": None if self.drift is None else [d.to_dict() for d in self.drift],
            "apply": {
                "live": self.live_source,
                "create": [d.to_dict() for d in self.creates],
                "update": [d.to_dict() for d in self.updates],
                "delete": [
                    {
                        **_key_dict(k),
                        "takes": [_key_dict(t) for t in dict(self.delete_takes).get(k, ())],
                    }
                    for k in self.deletes
                ],
                "kept": [{**_key_dict(k.key), "reason": k.reason} for k in self.prune_kept],
                "note": self.prune_note,
            },
            "violations": [
                {
                    **_key_dict(v.key),
                    "policy": v.policy,
                    "rule": v.rule,
                    "action": v.action,
                    "message": v.message,
                }
                for v in self.violations
            ],
            "risk": {
                **(self.budgets.to_dict() if self.budgets else {"budgets": [], "gpus": None}),
                "promotion": self.promotion.to_dict() if self.promotion else None,
            },
        }


def _key_dict(key: ResourceKey) -> dict[str, str]:
    return {
        "apiVersion": key.api_version,
        "kind": key.kind,
        "namespace": key.namespace,
        "name": key.name,
    }


def _unified(key: ResourceKey, old: Any, new: Any) -> str:
    before = dump_one(old).splitlines(keepends=True) if old is not None else []
    after = dump_one(new).splitlines(keepends=True) if new is not None else []
    return "".join(difflib.unified_diff(before, after, f"base/{key}", f"head/{key}"))


def manifest_changes(
    base: Iterable[Mapping[str, Any]], head: Iterable[Mapping[str, Any]]
) -> list[ObjectChange]:
    """Per-object changes between two rendered sets (part 1), secrets masked."""
    before = {identity_of(key_of(m)): m for m in base}
    after = {identity_of(key_of(m)): m for m in head}
    changes: list[ObjectChange] = []
    for ident in sorted(before.keys() | after.keys()):
        old, new = before.get(ident), after.get(ident)
        if old is not None and new is not None:
            if json_equal(old, new):  # not ==: a field from 1 to true is a change
                continue
            shown_new, shown_old = redact.redact_pair(new, dict(new), dict(old))
            if redact.is_secret(old) and not redact.is_secret(new):
                shown_old = redact.redact_object(old)
            key = key_of(new)
            patch = tuple(jsonpatch.make_patch(shown_old, shown_new).patch)
            changes.append(
                ObjectChange(key, Change.CHANGED, _unified(key, shown_old, shown_new), patch)
            )
        elif new is not None:
            key = key_of(new)
            shown = redact.redact_object(new)
            changes.append(ObjectChange(key, Change.ADDED, _unified(key, None, shown)))
        elif old is not None:
            key = key_of(old)
            shown = redact.redact_object(old)
            changes.append(ObjectChange(key, Change.REMOVED, _unified(key, shown, None)))
    changes.sort(key=lambda c: sort_key(c.key))
    return changes


def introduced_violations(base: Sequence[Violation], head: Sequence[Violation]) -> list[Violation]:
    """Violations at head whose object, policy and rule fail nowhere at base."""
    seen = {(identity_of(v.key), v.policy, v.rule) for v in base}
    return [v for v in head if (identity_of(v.key), v.policy, v.rule) not in seen]


#: Judges a local diff report again given the manifests it compared (server-side mode).
_Judge = Callable[[diff.DiffReport, Sequence[Manifest]], diff.DiffReport]


# Over 60 lines only by its signature and Args (every input a plan reads); its body is
# the three parts, each in a helper below.
def build_plan(
    environment: str,
    base_ref: str,
    head_ref: str,
    base: Sequence[Manifest],
    head: Sequence[Manifest],
    *,
    live: Sequence[Manifest] | None = None,
    identity: Identity | None = None,
    live_source: str = "",
    not_served: Iterable[tuple[str, str, str]] = (),
    namespaced: Callable[[ResourceKey], bool] | None = None,
    check_managed_fields: bool = True,
    allow_empty: bool = False,
    ignore: Sequence[IgnoreRule] = (),
    violations: tuple[Sequence[Violation], Sequence[Violation]] | None = None,
    namespace_contents: Mapping[str, Sequence[ResourceKey]] | None = None,
    delete_namespace_contents: bool = False,
    judge: _Judge | None = None,
    budget: ChangeBudget | None = None,
    overrides: Mapping[str, str] | None = None,
    promotion: PromotionStatus | None = None,
) -> Plan:
    """Build the plan of a change. Pure.

    Args:
        environment: environment name.
        base_ref: base ref, as shown in the report.
        head_ref: head ref, as shown in the report.
        base: manifests at base.
        head: manifests at head.
        live: live objects (the desired objects' counterparts and every object carrying
            our membership label); None skips parts 2 and 3.
        identity: the environment's ownership identity (default: environment, repository
            unknown); manifests are stamped as apply would stamp them.
        live_source: where ``live`` came from, for the report.
        not_served: ``(group, version, kind)`` the cluster does not serve.
        namespaced: whether a kind is namespaced (default: by the built-in table).
        check_managed_fields: require our manager to own the label of prune candidates
            (turn off for captures without ``managedFields``).
        allow_empty: a head with no objects would prune (``apply --allow-empty``).
        ignore: diff ignore rules.
        violations: policy violations ``(at base, at head)``; None lists none.
        namespace_contents: every object in the Namespaces prune would delete (default:
            the objects of ``live`` in them, right for a capture of the whole cluster).
        delete_namespace_contents: plan as ``apply --prune-namespace-contents``.
        judge: judges a local report again given the manifests it compared (the
            server-side mode: :func:`gitops.diff.server.judge`); None keeps it local.
        budget: the environment's change budget; None measures none.
        overrides: budget overrides recorded in the change's commits ``{budget: reason}``.
        promotion: the promotion status of head (see :mod:`gitops.workflows.promotion`).

    Objects ``gitops apply`` never applied (delivered by Argo CD or Flux, or made by hand)
    are compared without the ownership stamps, in the drift and in what applying head
    would change, exactly as ``gitops diff`` compares them: plan and diff agree.
    """
    changes = manifest_changes(base, head)
    introduced = tuple(introduced_violations(*violations)) if violations else ()
    gpus = (total_gpus(base), total_gpus(head))
    removed = {key_of(m): m for m in base}
    plan = Plan(
        environment, base_ref, head_ref, tuple(changes), violations=introduced, promotion=promotion
    )
    if live is None:
        # Without the cluster, what the change removes from Git is what prune would delete.
        gone = [c.key for c in changes if c.change is Change.REMOVED]
        report = _budgets(budget, gone, removed, len(base), gpus, overrides)
        return replace(plan, budgets=report)
    who = identity or Identity(environment, "")
    is_namespaced = namespaced or namespaced_heuristic
    options: dict[str, Any] = {
        "not_served": tuple(not_served),
        "field_manager": who.field_manager,
        "ignore": ignore,
        "namespaced": is_namespaced,
    }
    # The stamps apply adds are expected only where apply added them (see the docstring).
    stamped_base = stamp_where_applied(who, base, live, is_namespaced)
    stamped_head = stamp_where_applied(who, head, live, is_namespaced)
    drifted = _drift(stamped_base, live, options, judge, who, check_managed_fields)
    creates, updates = _head_changes(stamped_head, live, options, judge)
    if namespace_contents is None:
        namespace_contents = _contents_by_namespace(live)
    pruned = select_prune(
        live,
        [key_of(m) for m in stamped_head],
        who,
        allow_empty=allow_empty,
        check_managed_fields=check_managed_fields,
        contents=namespace_contents,
        delete_namespace_contents=delete_namespace_contents,
    )
    live_objects = {key_of(m): m for m in live}
    owned = sum(1 for m in live if who.claims(m))
    # A Namespace deleted takes its contents with it: they count against the budget too.
    doomed = [*pruned.delete, *(key for _, held in pruned.takes for key in held)]
    report = _budgets(budget, doomed, live_objects, owned, gpus, overrides)
    return replace(
        plan,
        budgets=report,
        drift=tuple(drifted),
        creates=tuple(creates),
        updates=tuple(updates),
        deletes=pruned.delete,
        prune_kept=pruned.kept,
        prune_note=pruned.note,
        delete_takes=pruned.takes,
        live_source=live_source,
    )


def _drift(
    stamped_base: Sequence[Manifest],
    live: Sequence[Manifest],
    options: Mapping[str, Any],
    judge: _Judge | None,
    who: Identity,
    check_managed_fields: bool,
) -> list[diff.ObjectDiff]:
    """Part 2: base against the cluster, and what is ours there that base no longer holds."""
    drift_report = diff.diff_manifests(stamped_base, live, **options)
    if judge is not None:
        drift_report = judge(drift_report, stamped_base)
    drifted = [d for d in drift_report.objects if d.status is not diff.Status.IN_SYNC]
    base_keys = [key_of(m) for m in stamped_base]
    orphans = select_prune(live, base_keys, who, check_managed_fields=check_managed_fields)
    drifted.extend(diff.ObjectDiff(k, diff.Status.ORPHANED) for k in orphans.delete)
    drifted.sort(key=lambda d: sort_key(d.key))
    return drifted


def _head_changes(
    stamped_head: Sequence[Manifest],
    live: Sequence[Manifest],
    options: Mapping[str, Any],
    judge: _Judge | None,
) -> tuple[list[diff.ObjectDiff], list[diff.ObjectDiff]]:
    """Part 3: what applying head would create and what it would update."""
    head_report = diff.diff_manifests(stamped_head, live, **options)
    if judge is not None:
        head_report = judge(head_report, stamped_head)
    creating = (diff.Status.MISSING, diff.Status.KIND_NOT_SERVED)
    creates = [d for d in head_report.objects if d.status in creating]
    updates = [d for d in head_report.objects if d.status is diff.Status.MODIFIED]
    return creates, updates


def _contents_by_namespace(live: Sequence[Manifest]) -> dict[str, list[ResourceKey]]:
    """The objects of ``live`` in each namespace (right for a capture of the whole cluster)."""
    held: dict[str, list[ResourceKey]] = {}
    for obj in live:
        if is_content(obj) and key_of(obj).namespace:
            held.setdefault(key_of(obj).namespace, []).append(key_of(obj))
    return held


def _budgets(
    budget: ChangeBudget | None,
    deletes: Sequence[ResourceKey],
    objects: Mapping[ResourceKey, Mapping[str, Any]],
    count: int,
    gpus: tuple[int, int],
    overrides: Mapping[str, str] | None,
) -> BudgetReport | None:
    if budget is None:
        return None
    return assess(
        budget,
        deletes=deletes,
        deleted_objects=objects,
        live_count=count,
        gpus_before=gpus[0],
        gpus_after=gpus[1],
        overrides=overrides,
    )
