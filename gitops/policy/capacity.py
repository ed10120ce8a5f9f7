"""Capacity checks admission policies cannot make: what a namespace's workloads ask together.

An admission policy sees one object; a GPU quota is exceeded by the sum of several, and
only at some replica counts. :func:`check_capacity` reads a rendered set of objects:

- ``gpu-quota-at-min-replicas`` (Deny): the GPUs every workload of a namespace requests at
  its minimum replicas exceed the namespace's ``requests.<gpu>`` quota, so some of those
  pods can never be created.
- ``gpu-quota-at-max-replicas`` (Warn): at the autoscalers' maximum they exceed it, so
  scaling stops short of the maximum (the pods beyond the quota are refused).
- ``shm-within-memory`` (Deny): a memory-backed ``emptyDir`` (``/dev/shm``) as large as the
  pod's memory limit; its pages count toward that limit, so filling it kills the pod.

Violations come as :class:`gitops.policy.Violation` (policy ``gitops-capacity``) so
``gitops check`` and ``gitops render`` report them like admission verdicts.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from gitops.core.keys import Manifest, key_of
from gitops.core.labels import provenance
from gitops.core.workloads import Workload, memory_limit, quantity, workloads
from gitops.policy.violation import Violation

#: The policy name capacity violations carry.
POLICY = "gitops-capacity"


def check_capacity(manifests: Sequence[Manifest]) -> list[Violation]:
    """GPU quota at minimum and maximum replicas per namespace; shm within memory limits."""
    loads = workloads(manifests)
    return [*_gpu_quotas(manifests, loads), *_shm(loads)]


def _gpu_quotas(manifests: Sequence[Manifest], loads: Sequence[Workload]) -> list[Violation]:
    out: list[Violation] = []
    for quota in manifests:
        if quota.get("kind") != "ResourceQuota" or quota.get("apiVersion") != "v1":
            continue
        namespace = str(quota["metadata"].get("namespace") or "default")
        hard = (quota.get("spec") or {}).get("hard") or {}
        for key in sorted(hard):
            resource = key.removeprefix("requests.")
            # Only extended resources (GPUs): cpu and memory quotas also bound what the
            # cluster's own pods use, which a rendered set cannot see.
            if not key.startswith("requests.") or "/" not in resource:
                continue
            limit = quantity(hard[key])
            if limit is None:
                continue
            needs = [(w, w.per_replica(resource)) for w in loads if w.namespace == namespace]
            users = [(w, need) for w, need in needs if need > 0]
            for rule, action, bound in (
                ("gpu-quota-at-min-replicas", "Deny", "min"),
                ("gpu-quota-at-max-replicas", "Warn", "max"),
            ):
                total = sum(
                    (
                        need * (w.min_replicas if bound == "min" else w.max_replicas)
                        for w, need in users
                    ),
                    Fraction(0),
                )
                if total <= limit:
                    continue
                parts = ", ".join(
                    f"{w.name} {w.min_replicas if bound == 'min' else w.max_replicas} x "
                    f"{_num(need)}"
                    for w, need in users
                )
                consequence = (
                    "the pods beyond the quota are refused and never start"
                    if bound == "min"
                    else "autoscaling stops where the quota is reached"
                )
                message = (
                    f"namespace {namespace} requests {_num(total)} {resource} at {bound} "
                    f"replicas ({parts}), above its quota {key}={hard[key]}: {consequence}"
                )
                out.append(
                    Violation(key_of(quota), POLICY, rule, action, message, provenance(quota))
                )
    return out


def _shm(loads: Sequence[Workload]) -> list[Violation]:
    out: list[Violation] = []
    for load in loads:
        for group in load.groups:
            shm = Fraction(0)
            for volume in group.spec.get("volumes") or []:
                empty = (volume or {}).get("emptyDir") or {}
                size = quantity(empty.get("sizeLimit"))
                if empty.get("medium") == "Memory" and size is not None:
                    shm += size
            limit = memory_limit(group.spec)
            if shm == 0 or limit is None or shm < limit:
                continue
            message = (
                f"{group.role} pods of {load.name}: memory-backed emptyDir (/dev/shm) of "
                f"{_num(shm / 2**30)}Gi is not below the pod's memory limit of "
                f"{_num(limit / 2**30)}Gi; its pages count toward the limit, so filling it "
                "kills the pod: raise memory or lower shm_size"
            )
            manifest = load.manifest
            out.append(
                Violation(
                    key_of(manifest),
                    POLICY,
                    "shm-within-memory",
                    "Deny",
                    message,
                    provenance(manifest),
                )
            )
    return out


def _num(value: Fraction) -> str:
    """An exact number as people write it (``16``, ``1.5``)."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):g}"
