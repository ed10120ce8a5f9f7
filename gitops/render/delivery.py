"""Delivery settings derived from what an environment deploys, for Argo CD and Flux.

A model takes minutes to load. A Flux Kustomization that waits 5 minutes for readiness
while the engine's startup probe allows 15 reports every model rollout as failed; an Argo
CD sync that gives up before the pods can be Ready does the same. So:

- the *startup budget* of an environment is the longest time any of its pods may take to
  become ready: the cache warm-up's ``timeout_seconds`` (``gitops.dev/warm-up-seconds``)
  plus the startup probe's ``initialDelaySeconds + periodSeconds x failureThreshold``,
  plus one readiness period (:func:`startup_budget`);
- Flux's ``spec.timeout`` of the workloads layer is that budget plus a margin
  (:func:`flux_timeout`), and its ``healthCheckExprs`` say when a LeaderWorkerSet, an
  InferenceService and a ScaledObject are ready (kstatus knows only built-in kinds);
- Argo CD's ``syncPolicy.retry`` backs off for at least the budget in total
  (:func:`argocd_retry`); the sync applies server-side (``ServerSideApply=true``, the model
  this tool diffs and applies with) and respects the environment's ``diff.ignore`` rules,
  exported as ``ignoreDifferences`` (:func:`ignore_differences`).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gitops.constructs.warmup import BUDGET_ANNOTATION
from gitops.core.keys import Manifest
from gitops.core.workloads import workloads

if TYPE_CHECKING:
    from gitops.inputs.ignore import IgnoreRule

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Added to the startup budget: image pulls, scheduling, the API server's own latency.
MARGIN_SECONDS = 300
#: Flux's default ``timeout`` (its ``interval``), the floor of the derived one.
FLUX_DEFAULT_SECONDS = 300
#: First Argo CD retry delay and growth factor.
BACKOFF_SECONDS = 30
BACKOFF_FACTOR = 2
#: Argo CD sync options every generated Application carries.
SYNC_OPTIONS = ("PruneLast=true", "ServerSideApply=true", "RespectIgnoreDifferences=true")
#: Readiness of custom resources kstatus cannot judge, as Flux CEL health checks.
HEALTH_CHECK_EXPRS: tuple[dict[str, str], ...] = (
    {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "current": "status.conditions.exists(c, c.type == 'Available' && c.status == 'True')",
    },
    {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "current": "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
    },
    {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "current": "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
        "failed": "status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')",
    },
)


def startup_budget(manifests: Sequence[Manifest]) -> int:
    """Seconds the slowest pod of ``manifests`` may take to become ready (0 without probes)."""
    budget = 0
    for load in workloads(manifests):
        for group in load.groups:
            warm_up = group.annotations.get(BUDGET_ANNOTATION, "0")
            before = int(warm_up) if str(warm_up).isdigit() else 0
            for container in group.spec.get("containers") or []:
                budget = max(budget, before + _container_budget(container))
    return budget


def _container_budget(container: Any) -> int:
    startup = container.get("startupProbe") or {}
    readiness = container.get("readinessProbe") or {}
    total = 0
    if startup:
        total += _int(startup, "initialDelaySeconds", 0)
        total += _int(startup, "periodSeconds", 10) * _int(startup, "failureThreshold", 3)
    if readiness:
        total += _int(readiness, "initialDelaySeconds", 0) if not startup else 0
        total += _int(readiness, "periodSeconds", 10)
    return total


def _int(probe: Any, key: str, default: int) -> int:
    value = probe.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def flux_timeout(budget: int) -> str:
    """Flux ``timeout``: the budget plus :data:`MARGIN_SECONDS`, in whole minutes, >= 5m."""
    seconds = max(FLUX_DEFAULT_SECONDS, budget + MARGIN_SECONDS)
    return f"{math.ceil(seconds / 60)}m"


def argocd_retry(budget: int) -> dict[str, Any]:
    """Argo CD ``syncPolicy.retry`` whose backoff delays add up to at least ``budget``.

    Delays start at 30 s and double, each capped at the budget (``maxDuration``); the limit
    is the fewest retries whose delays reach the budget (at least the 5 Argo CD uses).
    """
    cap = max(BACKOFF_SECONDS, budget)
    waited, delay, limit = 0, BACKOFF_SECONDS, 0
    while waited < budget:
        waited += min(delay, cap)
        delay *= BACKOFF_FACTOR
        limit += 1
    return {
        "limit": max(limit, 5),
        "backoff": {
            "duration": f"{BACKOFF_SECONDS}s",
            "factor": BACKOFF_FACTOR,
            "maxDuration": f"{math.ceil(cap / 60)}m",
        },
    }


def ignore_differences(rules: Iterable[IgnoreRule]) -> list[dict[str, Any]]:
    """The environment's ``diff.ignore`` rules as Argo CD ``ignoreDifferences`` entries.

    A rule without kinds applies to every kind (``group``/``kind`` ``*``); one with names or
    namespaces gives one entry per combination (Argo CD takes one of each). A pointer with a
    ``*`` segment becomes a JQ path expression (``[]?`` iterates a list); the others are
    JSON pointers as written.
    """
    out: list[dict[str, Any]] = []
    for rule in rules:
        fields: dict[str, Any] = {}
        if rule.pointer is not None:
            if "*" in rule.pointer.split("/"):
                fields["jqPathExpressions"] = [_jq(rule.pointer)]
            else:
                fields["jsonPointers"] = [rule.pointer]
        if rule.managers:
            fields["managedFieldsManagers"] = list(rule.managers)
        for kind in rule.kinds or ("*",):
            for namespace in rule.namespaces or (None,):
                for name in rule.names or (None,):
                    entry: dict[str, Any] = {"group": "*", "kind": kind}
                    if name is not None:
                        entry["name"] = name
                    if namespace is not None:
                        entry["namespace"] = namespace
                    out.append({**entry, **fields})
    return out


def _jq(pointer: str) -> str:
    """``/spec/containers/*/image`` -> ``.spec.containers[]?.image``."""
    out = ""
    for raw in pointer.split("/")[1:]:
        segment = raw.replace("~1", "/").replace("~0", "~")
        if segment == "*":
            out += "[]?"
        elif segment.isdigit():
            out += f"[{segment}]"
        elif _IDENTIFIER.match(segment):
            out += f".{segment}"
        else:
            out += '."' + segment.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return out if out.startswith(".") else f".{out}"


def tune_application(application: Manifest, budget: int, rules: Sequence[IgnoreRule]) -> Manifest:
    """``application`` with retry, sync options and ignoreDifferences set (a new dict)."""
    spec = dict(application["spec"])
    policy = dict(spec.get("syncPolicy") or {})
    options = list(policy.get("syncOptions") or [])
    options += [option for option in SYNC_OPTIONS if option not in options]
    policy["syncOptions"] = options
    policy["retry"] = argocd_retry(budget)
    spec["syncPolicy"] = policy
    differences = ignore_differences(rules)
    if differences:
        spec["ignoreDifferences"] = differences
    return {**application, "spec": spec}


def tune_kustomization(kustomization: Manifest, budget: int, workloads_layer: bool) -> Manifest:
    """A Flux Kustomization with its timeout (and, for workloads, health checks) derived."""
    spec = dict(kustomization["spec"])
    if workloads_layer:
        spec["timeout"] = flux_timeout(budget)
        spec["healthCheckExprs"] = [dict(expr) for expr in HEALTH_CHECK_EXPRS]
    return {**kustomization, "spec": spec}
