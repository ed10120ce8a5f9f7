"""Read the live objects a plan compares with: desired objects' counterparts and ours.

I/O through :class:`gitops.cluster.client.ClusterClient`: one paginated LIST per desired kind
(:meth:`~gitops.cluster.client.ClusterClient.read_live`) plus the LISTs by our membership label
that find the prune candidates (:func:`gitops.ownership.prune.list_labelled`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitops.cluster.types import LiveState
from gitops.core.keys import CLUSTER_SCOPED_KINDS, Manifest, ResourceKey, key_of
from gitops.ownership import prune
from gitops.ownership.identity import Identity

if TYPE_CHECKING:
    from gitops.cluster.client import ClusterClient


def namespaced_heuristic(key: ResourceKey) -> bool:
    """Whether a kind is namespaced, without asking a cluster (for plans from captures)."""
    return key.kind not in CLUSTER_SCOPED_KINDS


def read_live(
    client: ClusterClient,
    manifests: Sequence[Manifest],
    identity: Identity,
    *,
    kinds: Sequence[tuple[str, str, str]] | None = None,
) -> LiveState:
    """Every live object of the desired kinds, plus every object labelled as ours.

    Args:
        client: the cluster.
        manifests: desired objects (base and head of a plan).
        identity: whose labelled objects to find.
        kinds: kinds to look for labelled objects in (default: every served kind).

    Raises:
        ClusterError: the cluster could not be read.
    """
    wanted: dict[tuple[str, str, str], str | None] = {}
    for manifest in manifests:
        key = key_of(manifest)
        wanted[(key.group, key.version, key.kind)] = None
    state = client.read_live(wanted)
    seen = {prune.identity_of(key_of(obj)) for obj in state.objects}
    for obj in prune.list_labelled(client, identity, kinds).objects:
        if prune.identity_of(key_of(obj)) not in seen:
            seen.add(prune.identity_of(key_of(obj)))
            state.objects.append(obj)
    return state
