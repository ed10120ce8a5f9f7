"""What one ``gitops apply`` did: per-object outcomes, failures, prune and budget results.

Purely data: no I/O. :mod:`gitops.workflows.apply` builds an :class:`ApplyResult`; the CLI prints
its text or JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitops.core.keys import ResourceKey
from gitops.ownership import prune
from gitops.policy.budgets import BudgetReport

if TYPE_CHECKING:
    from gitops.cluster.client import Conflict


@dataclass(frozen=True)
class Failure:
    """One object the run could not check, dry-run, apply or see ready.

    Attributes:
        key: the object.
        phase: ``check``, ``dry-run``, ``apply``, ``establish`` or ``wait``.
        message: what the cluster answered (one line).
        conflicts: for a 409, the field managers and fields in the way.
    """

    key: ResourceKey
    phase: str
    message: str
    conflicts: tuple[Conflict, ...] = ()

    def __str__(self) -> str:
        text = f"{self.key}: {self.phase} failed: {self.message}"
        if self.conflicts:
            owners = ", ".join(f"{c.manager} owns {c.field}" for c in self.conflicts)
            text += f" (conflicts: {owners}; --force-conflicts takes ownership)"
        return text


@dataclass(frozen=True)
class Outcome:
    """What happened to one applied object: ``created``, ``configured`` or ``unchanged``."""

    key: ResourceKey
    action: str


@dataclass(frozen=True)
class ApplyResult:
    """Everything one apply did (or, with ``dry_run``, would do).

    Attributes:
        applyset: the ApplySet id the objects are labelled with.
        dry_run: nothing was written.
        applied: applied objects in apply order (dry-run: what would happen).
        failures: what stopped the run (empty when it went through).
        unverified: dry-run only: objects that could not be dry-run, and why.
        pruned: objects deleted (dry-run: that would be), in delete order.
        prune_failures: deletes the cluster refused (retried on the next run).
        prune_kept: labelled objects prune left alone, with the reason.
        prune_note: why prune did not run or did nothing ("" if it ran normally).
        prune_takes: per deleted Namespace, the objects deleted with it.
        budgets: the change measured against the environment's budget (None: no budget).
        refusal: why the change was refused before anything was written ("" if it was not).
    """

    applyset: str
    dry_run: bool
    applied: tuple[Outcome, ...] = ()
    failures: tuple[Failure, ...] = ()
    unverified: tuple[tuple[ResourceKey, str], ...] = ()
    pruned: tuple[ResourceKey, ...] = ()
    prune_failures: tuple[prune.DeleteFailure, ...] = ()
    prune_kept: tuple[prune.Kept, ...] = ()
    prune_note: str = ""
    prune_takes: tuple[tuple[ResourceKey, tuple[ResourceKey, ...]], ...] = ()
    budgets: BudgetReport | None = None
    refusal: str = ""

    @property
    def ok(self) -> bool:
        """Whether everything asked for was done."""
        return not self.failures and not self.prune_failures and not self.refusal

    def counts(self) -> dict[str, int]:
        """Objects per action: created, configured, unchanged, deleted, failed."""
        out = {"created": 0, "configured": 0, "unchanged": 0}
        for outcome in self.applied:
            out[outcome.action] += 1
        out["deleted"] = len(self.pruned)
        out["failed"] = len(self.failures) + len(self.prune_failures)
        return out

    @property
    def changed(self) -> bool:
        """Whether anything was (or would be) created, configured or deleted."""
        counts = self.counts()
        return bool(counts["created"] or counts["configured"] or counts["deleted"])

    def to_dict(self) -> dict[str, Any]:
        """Deterministic JSON form."""
        return {
            "applyset": self.applyset,
            "dryRun": self.dry_run,
            "summary": self.counts(),
            "applied": [{"object": str(o.key), "action": o.action} for o in self.applied],
            "unverified": [{"object": str(k), "reason": why} for k, why in self.unverified],
            "failures": [
                {
                    "object": str(f.key),
                    "phase": f.phase,
                    "message": f.message,
                    "conflicts": [{"manager": c.manager, "field": c.field} for c in f.conflicts],
                }
                for f in self.failures
            ],
            "pruned": [str(k) for k in self.pruned],
            "pruneFailures": [
                {"object": str(f.key), "message": f.message} for f in self.prune_failures
            ],
            "pruneKept": [{"object": str(k.key), "reason": k.reason} for k in self.prune_kept],
            "pruneNote": self.prune_note,
            "pruneTakes": [
                {"object": str(ns), "contents": [str(k) for k in inside]}
                for ns, inside in self.prune_takes
            ],
            "budgets": self.budgets.to_dict() if self.budgets else None,
            "refusal": self.refusal,
        }

    def to_text(self) -> str:
        """One line per change, failure and kept object, then the counts."""
        suffix = " (dry run: nothing was changed)" if self.dry_run else ""
        lines = [f"applyset {self.applyset}{suffix}"]
        if self.refusal:
            lines.append(f"REFUSED {self.refusal}; nothing was applied or pruned")
        for use in self.budgets.uses if self.budgets else ():
            if use.over and use.override:
                lines.append(
                    f"budget {use.name} overridden ({use.used} of {use.limit}): {use.override}"
                )
        lines.extend(f"{o.action} {o.key}" for o in self.applied if o.action != "unchanged")
        lines.extend(f"not verified {key}: {why}" for key, why in self.unverified)
        takes = dict(self.prune_takes)
        for key in self.pruned:
            inside = takes.get(key, ())
            lines.append(
                f"deleted {key}" + (f" with {len(inside)} object(s) in it" if inside else "")
            )
        lines.extend(f"kept {k.key}: {k.reason}" for k in self.prune_kept)
        lines.extend(f"FAILED {failure}" for failure in self.failures)
        lines.extend(f"FAILED delete {f.key}: {f.message}" for f in self.prune_failures)
        if self.prune_note:
            lines.append(f"prune: {self.prune_note}")
        lines.append(", ".join(f"{count} {what}" for what, count in self.counts().items()))
        return "\n".join(lines) + "\n"
