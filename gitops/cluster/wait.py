"""Bounded polling until objects are ready: new CRDs Established, workloads serving.

I/O through :class:`gitops.cluster.client.ClusterClient` (GETs only); what "ready" means is the
pure :mod:`gitops.cluster.readiness`. The clock and sleep are injectable so tests never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitops.cluster.readiness import crd_established, readiness
from gitops.core.keys import ResourceKey

if TYPE_CHECKING:
    from gitops.cluster.client import ClusterClient

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
    """Poll CRDs until each is Established and its kind is served; return those still not.

    A real API server serves a CRD's kind moments after it reports Established (discovery
    is rebuilt asynchronously): a custom resource dry-run in between is refused as a kind
    the cluster does not serve.
    """
    deadline = timing.clock() + timing.crd_timeout
    pending = list(keys)
    while pending:
        crds = {key: client.get(key) or {} for key in pending}
        if any(crd_established(crd) for crd in crds.values()):
            client.forget_discovery()  # kinds of new CRDs: the cached discovery predates them
        pending = [key for key in pending if not _serving(client, crds[key])]
        if not pending:
            break
        if timing.clock() >= deadline:
            return [(key, _why_not(crds[key], timing)) for key in pending]
        progress(f"waiting for {len(pending)} CustomResourceDefinition(s) to be Established")
        # CRDs establish in well under a second; poll faster than for workloads.
        timing.sleep(min(timing.poll_interval, 0.5))
    return []


def _serving(client: ClusterClient, crd: Mapping[str, Any]) -> bool:
    """Whether the CRD is Established and the cluster serves its kind (first served version)."""
    if not crd_established(crd):
        return False
    spec = crd.get("spec") or {}
    kind = (spec.get("names") or {}).get("kind")
    versions = [v.get("name") for v in spec.get("versions") or [] if v.get("served")]
    if not (isinstance(spec.get("group"), str) and isinstance(kind, str) and versions):
        return True  # nothing to look up: Established is all there is to wait for
    return client.is_served(spec["group"], str(versions[0]), kind)


def _why_not(crd: Mapping[str, Any], timing: Timing) -> str:
    if crd_established(crd):
        return f"Established but its kind not served after {timing.crd_timeout:g}s"
    return f"not Established after {timing.crd_timeout:g}s"


def wait_ready(
    client: ClusterClient,
    keys: Sequence[ResourceKey],
    timing: Timing | None = None,
    progress: Progress | None = None,
) -> list[tuple[ResourceKey, str]]:
    """Poll ``keys`` until each is ready (see :mod:`gitops.cluster.readiness`), bounded.

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
