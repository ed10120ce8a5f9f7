"""Bounded polling until objects are ready: new CRDs Established, workloads serving.

I/O through :class:`gitops.cluster.ClusterClient` (GETs only); what "ready" means is the
pure :mod:`gitops.readiness`. The clock and sleep are injectable so tests never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitops.model import ResourceKey
from gitops.readiness import crd_established, readiness

if TYPE_CHECKING:
    from gitops.cluster import ClusterClient

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Timing:
    """Bounds and clock of the waits.

    Attributes:
        crd_timeout: seconds a new CRD may take to be Established.
        wait_timeout: seconds workloads may take to be ready (``--wait``).
        poll_interval: seconds between polls of workloads.
        clock: monotonic clock.
        sleep: sleep function.
    """

    crd_timeout: float = 60.0
    wait_timeout: float = 600.0
    poll_interval: float = 2.0
    clock: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)


def wait_established(
    client: ClusterClient, keys: Sequence[ResourceKey], timing: Timing, progress: Progress
) -> list[tuple[ResourceKey, str]]:
    """Poll CRDs until each is Established; return those still not, with why."""
    deadline = timing.clock() + timing.crd_timeout
    pending = list(keys)
    while pending:
        pending = [key for key in pending if not crd_established(client.get(key) or {})]
        if not pending:
            break
        if timing.clock() >= deadline:
            return [(key, f"not Established after {timing.crd_timeout:g}s") for key in pending]
        progress(f"waiting for {len(pending)} CustomResourceDefinition(s) to be Established")
        # CRDs establish in well under a second; poll faster than for workloads.
        timing.sleep(min(timing.poll_interval, 0.5))
    return []


def wait_ready(
    client: ClusterClient,
    keys: Sequence[ResourceKey],
    timing: Timing | None = None,
    progress: Progress | None = None,
) -> list[tuple[ResourceKey, str]]:
    """Poll ``keys`` until each is ready (see :mod:`gitops.readiness`), bounded.

    Returns:
        The objects still not ready at the deadline, each with how far it got.
    """
    report = progress or (lambda line: None)
    timing = timing or Timing()
    started = timing.clock()
    deadline = started + timing.wait_timeout
    pending = list(keys)
    while True:
        waiting: list[tuple[ResourceKey, str]] = []
        for key in pending:
            obj = client.get(key)
            ready, what = readiness(obj) if obj is not None else (False, "not found")
            if not ready:
                waiting.append((key, what))
        if not waiting:
            return []
        if timing.clock() >= deadline:
            limit = f"not ready after {timing.wait_timeout:g}s"
            return [(key, f"{limit}: {what}") for key, what in waiting]
        shown = "; ".join(f"{key} {what}" for key, what in waiting[:3])
        more = f" and {len(waiting) - 3} more" if len(waiting) > 3 else ""
        elapsed = timing.clock() - started
        report(f"waiting ({elapsed:.0f}s of {timing.wait_timeout:g}s): {shown}{more}")
        timing.sleep(timing.poll_interval)
        pending = [key for key, _ in waiting]
