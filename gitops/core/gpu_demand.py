"""How many GPUs a set of manifests may hold at once: the blast radius of a change (pure).

Each workload (:mod:`gitops.core.workloads`: Deployments, StatefulSets, Jobs, LeaderWorkerSet
groups, InferenceService predictors) counts its GPUs per replica times the most replicas it
may run: the ``maxReplicas`` of the HorizontalPodAutoscaler or ScaledObject that targets
it, else its own replicas. The autoscaler, not Git, decides how many run, so a change's
budget counts the most it may start. Used by :mod:`gitops.policy.budgets` for ``max-gpu-delta``.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from gitops.core.workloads import workloads

#: The GPU resource counted unless another is named.
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"


def total_gpus(manifests: Iterable[Mapping[str, Any]], resource: str = DEFAULT_GPU_RESOURCE) -> int:
    """GPUs a whole set may hold at once (autoscalers in the set taken into account)."""
    found = workloads([dict(m) for m in manifests])
    return sum(math.ceil(w.per_replica(resource) * w.max_replicas) for w in found)
