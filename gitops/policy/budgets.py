"""Change budgets: how much one change may delete and how many GPUs it may move (pure).

Guardrails on objects judge one object at a time; the incidents that take a platform down
come from *changes*: a generator edit that prunes most of a fleet, a broken build that
deletes what it should keep, a tag bump that asks for twice the GPUs. An environment's
``change_budget`` (see :mod:`gitops.inputs.environments`) bounds each change:

- ``max-deletions``: objects prune may delete in one change;
- ``max-deletion-percent``: the same, as a share of the environment's live objects;
- ``protected-kinds``: objects prune never deletes (Namespaces, PersistentVolumeClaims,
  CustomResourceDefinitions and the model caches by default): any is over budget;
- ``max-gpu-delta``: GPUs the change may add or release (see :mod:`gitops.core.gpu_demand`).

``gitops plan`` shows each budget and its use; ``gitops apply`` refuses a change over
any budget unless the applied commit records a deliberate override as a Git trailer,
``Gitops-Override: <budget>: <reason>`` (``gitops render --override``), so the history
shows who spent the budget and why.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops.core.errors import ValidationError
from gitops.core.keys import ResourceKey

#: The budgets, by the name plans, refusals and overrides use.
BUDGETS = ("max-deletions", "max-deletion-percent", "protected-kinds", "max-gpu-delta")
#: What a ``Gitops-Override`` trailer may name: a budget, or ``promotion`` (an environment
#: taking an image or model its upstream has not run, e.g. the first render of all).
OVERRIDES = (*BUDGETS, "promotion")
#: Kinds prune never deletes without an override (``group/Kind``; core kinds bare).
DEFAULT_PROTECTED_KINDS = (
    "Namespace",
    "PersistentVolumeClaim",
    "apiextensions.k8s.io/CustomResourceDefinition",
)
#: Objects with this label value (``app.kubernetes.io/component``) are model caches: the
#: inference constructs label their weight caches with it; re-downloading costs hours.
MODEL_CACHE_COMPONENT = "model-cache"
#: The Git trailer recording an override.
OVERRIDE_TRAILER = "Gitops-Override"
_TRAILER = re.compile(rf"^{OVERRIDE_TRAILER}:\s*([a-z-]+)\s*:\s*(\S.*?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ChangeBudget:
    """An environment's change budget; ``None`` leaves a limit unset.

    Attributes:
        max_deletions: most objects one change may prune.
        max_deletion_percent: most objects one change may prune, as a percentage of the
            environment's live objects.
        protected_kinds: kinds never pruned without an override (``group/Kind``, or
            ``Kind`` for the core group); model caches are always protected.
        max_gpu_delta: most GPUs one change may add or release (absolute value).
    """

    max_deletions: int | None = None
    max_deletion_percent: int | None = None
    protected_kinds: tuple[str, ...] = DEFAULT_PROTECTED_KINDS
    max_gpu_delta: int | None = None

    def protects(self, key: ResourceKey, obj: Mapping[str, Any] | None = None) -> bool:
        """Whether prune must not delete ``key`` (its live object ``obj``) without an override."""
        name = f"{key.group}/{key.kind}" if key.group else key.kind
        if name in self.protected_kinds:
            return True
        labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
        return labels.get("app.kubernetes.io/component") == MODEL_CACHE_COMPONENT


@dataclass(frozen=True)
class BudgetUse:
    """One budget and what a change uses of it.

    Attributes:
        name: one of :data:`BUDGETS`.
        limit: the limit as shown ("unlimited" when unset).
        used: what the change uses, as shown.
        over: whether the change exceeds the limit.
        override: the recorded reason the budget may be exceeded ("" when none).
        objects: for deletions and protected kinds, the objects concerned.
    """

    name: str
    limit: str
    used: str
    over: bool
    override: str = ""
    objects: tuple[ResourceKey, ...] = ()

    @property
    def refused(self) -> bool:
        """Over budget with no override: apply refuses the change."""
        return self.over and not self.override

    def __str__(self) -> str:
        state = "over budget" if self.over else "within budget"
        if self.over and self.override:
            state += f", overridden: {self.override}"
        return f"{self.name}: {self.used} of {self.limit} ({state})"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "budget": self.name,
            "limit": self.limit,
            "used": self.used,
            "over": self.over,
            "override": self.override,
            "objects": [str(k) for k in self.objects],
        }


@dataclass(frozen=True)
class BudgetReport:
    """Every budget of one change, and the GPUs before and after it."""

    uses: tuple[BudgetUse, ...] = ()
    gpus_before: int = 0
    gpus_after: int = 0
    unknown_overrides: tuple[str, ...] = field(default=())

    @property
    def gpu_delta(self) -> int:
        """GPUs the change adds (negative: releases)."""
        return self.gpus_after - self.gpus_before

    @property
    def refused(self) -> tuple[BudgetUse, ...]:
        """The budgets the change exceeds without an override."""
        return tuple(use for use in self.uses if use.refused)

    def refusal(self) -> str:
        """One line naming every exceeded budget ("" when none)."""
        refused = self.refused
        if not refused:
            return ""
        names = ", ".join(str(use) for use in refused)
        return (
            f"over the change budget: {names}; record a deliberate override in the applied "
            f"commit ({OVERRIDE_TRAILER}: <budget>: <reason>, gitops render --override)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "budgets": [use.to_dict() for use in self.uses],
            "gpus": {"before": self.gpus_before, "after": self.gpus_after, "delta": self.gpu_delta},
        }


def parse_overrides(message: str) -> dict[str, str]:
    """The overrides a commit message records: ``{budget: reason}`` (the last one wins)."""
    return {name: reason for name, reason in _TRAILER.findall(message)}


def override_trailers(overrides: Mapping[str, str]) -> list[str]:
    """Trailer lines recording ``overrides``; every name must be a budget.

    Raises:
        ValidationError: a name is not a budget, or a reason is empty or spans lines.
    """
    lines = []
    for name, reason in sorted(overrides.items()):
        if name not in OVERRIDES:
            raise ValidationError(
                f"override {name!r}: not a budget (expected one of {', '.join(OVERRIDES)})"
            )
        text = reason.strip()
        if not text or "\n" in text:
            raise ValidationError(f"override {name}: the reason must be one non-empty line")
        lines.append(f"{OVERRIDE_TRAILER}: {name}: {text}")
    return lines


def assess(
    budget: ChangeBudget,
    *,
    deletes: Sequence[ResourceKey],
    deleted_objects: Mapping[ResourceKey, Mapping[str, Any]] | None = None,
    live_count: int,
    gpus_before: int,
    gpus_after: int,
    overrides: Mapping[str, str] | None = None,
) -> BudgetReport:
    """Measure one change against ``budget``.

    Args:
        budget: the environment's budget.
        deletes: what prune would delete.
        deleted_objects: their live objects (for the model-cache label), by key.
        live_count: the environment's live objects before the change (for the percentage).
        gpus_before: GPUs the environment may hold before the change.
        gpus_after: GPUs it may hold after.
        overrides: recorded overrides, ``{budget: reason}``.
    """
    given = dict(overrides or {})
    uses = _deletion_uses(budget, tuple(deletes), deleted_objects or {}, live_count, given)
    delta = gpus_after - gpus_before
    if budget.max_gpu_delta is not None:
        uses.append(
            _use(
                "max-gpu-delta",
                f"±{budget.max_gpu_delta} GPUs",
                f"{delta:+d} GPUs",
                abs(delta) > budget.max_gpu_delta,
                given,
                (),
            )
        )
    unknown = tuple(sorted(set(given) - set(OVERRIDES)))
    return BudgetReport(tuple(uses), gpus_before, gpus_after, unknown)


def _deletion_uses(
    budget: ChangeBudget,
    deletes: tuple[ResourceKey, ...],
    found: Mapping[ResourceKey, Mapping[str, Any]],
    live_count: int,
    given: Mapping[str, str],
) -> list[BudgetUse]:
    """The deletion budgets: how many, what share of the live objects, which protected."""
    uses: list[BudgetUse] = []
    count = len(deletes)
    if budget.max_deletions is not None:
        over = count > budget.max_deletions
        limit = str(budget.max_deletions)
        uses.append(_use("max-deletions", limit, f"{count} deletions", over, given, deletes))
    if budget.max_deletion_percent is not None:
        share = 100 * count / live_count if live_count else 0.0
        uses.append(
            _use(
                "max-deletion-percent",
                f"{budget.max_deletion_percent}%",
                f"{share:.0f}% ({count} of {live_count})",
                share > budget.max_deletion_percent,
                given,
                deletes,
            )
        )
    protected = tuple(k for k in deletes if budget.protects(k, found.get(k)))
    kinds = ", ".join(budget.protected_kinds) + f", {MODEL_CACHE_COMPONENT}s"
    used = f"{len(protected)} protected deletions"
    uses.append(_use("protected-kinds", kinds, used, bool(protected), given, protected))
    return uses


def _use(
    name: str,
    limit: str,
    used: str,
    over: bool,
    overrides: Mapping[str, str],
    objects: tuple[ResourceKey, ...],
) -> BudgetUse:
    # An override only matters (and is only shown) where the change needs it.
    return BudgetUse(name, limit, used, over, overrides.get(name, "") if over else "", objects)


def parse_budget(source: str, data: Any) -> ChangeBudget:
    """Validate an environment's ``change_budget`` mapping.

    Raises:
        ValidationError: a key is unknown or a value is not what it must be.
    """
    allowed = {"max_deletions", "max_deletion_percent", "protected_kinds", "max_gpu_delta"}
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"{source}: change_budget must be a mapping, got {type(data).__name__}"
        )
    for key in data:
        if key not in allowed:
            raise ValidationError(
                f"{source}: unknown key {key!r} in change_budget (expected one of "
                f"{', '.join(sorted(allowed))})"
            )
    values: dict[str, Any] = {}
    for key in ("max_deletions", "max_deletion_percent", "max_gpu_delta"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(
                f"{source}: change_budget.{key} must be an integer >= 0, got {value!r}"
            )
        if key == "max_deletion_percent" and value > 100:
            raise ValidationError(
                f"{source}: change_budget.max_deletion_percent must be <= 100, got {value!r}"
            )
        values[key] = value
    if "protected_kinds" in data:
        kinds = data["protected_kinds"]
        if not isinstance(kinds, list) or not all(_kind_ref(k) for k in kinds):
            raise ValidationError(
                f"{source}: change_budget.protected_kinds must list kinds like 'Namespace' "
                f"or 'apiextensions.k8s.io/CustomResourceDefinition', got {kinds!r}"
            )
        values["protected_kinds"] = tuple(kinds)
    return ChangeBudget(**values)


def _kind_ref(value: object) -> bool:
    return (
        isinstance(value, str)
        and re.fullmatch(r"([a-z0-9.-]+/)?[A-Z][A-Za-z0-9]*", value) is not None
    )
