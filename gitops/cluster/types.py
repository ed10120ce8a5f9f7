"""Plain data of the live cluster: how kinds are served, retry policy, live state.

Purely data: no I/O, no ``kubernetes`` import (see :mod:`gitops.cluster.client`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gitops.core.keys import CLUSTER_SCOPED_KINDS, Manifest, ResourceKey


@dataclass(frozen=True)
class ResourceInfo:
    """How a kind is served: its plural resource name, scope and verbs."""

    plural: str
    namespaced: bool
    verbs: tuple[str, ...]


@dataclass
class RetryPolicy:
    """Bounded retries of 429 and 5xx answers; ``sleep`` is injectable for tests."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based) of a 5xx answer."""
        return float(min(self.max_delay, self.base_delay * 2**attempt))


#: Page size when reading live state: 10,000 objects of a kind cost two LIST requests.
LIVE_PAGE_SIZE = 5000


@dataclass
class LiveState:
    """Live objects of the listed kinds, and what the cluster does not serve."""

    objects: list[Manifest] = field(default_factory=list)
    #: ``(group, version, kind)`` not served (CRD not installed).
    not_served: set[tuple[str, str, str]] = field(default_factory=set)
    #: Scope of each served ``(group, kind)``: True when namespaced.
    namespaced: dict[tuple[str, str], bool] = field(default_factory=dict)

    def is_namespaced(self, key: ResourceKey) -> bool:
        """Whether ``key``'s kind is namespaced (kinds not served: by the built-in table)."""
        known = self.namespaced.get((key.group, key.kind))
        return key.kind not in CLUSTER_SCOPED_KINDS if known is None else known
