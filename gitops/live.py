"""Read the live objects a plan compares with: desired objects' counterparts and ours.

I/O through :class:`gitops.cluster.ClusterClient` (discovery, GET, LIST by label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitops import prune
from gitops.model import CLUSTER_SCOPED_KINDS, Manifest, ResourceKey, key_of
from gitops.ownership import Identity, place

if TYPE_CHECKING:
    from gitops.cluster import ClusterClient


def namespaced_heuristic(key: ResourceKey) -> bool:
    """Whether a kind is namespaced, without asking a cluster (for plans from captures)."""
    return key.kind not in CLUSTER_SCOPED_KINDS


@dataclass(frozen=True)
class LiveState:
    """Live objects read for a plan: desired objects' counterparts and our labelled objects.

    Attributes:
        objects: the live objects, one per object identity.
        not_served: ``(group, version, kind)`` of desired objects the cluster does not serve.
        scopes: whether each served desired kind is namespaced, as discovered.
    """

    objects: tuple[Manifest, ...]
    not_served: frozenset[tuple[str, str, str]]
    scopes: Mapping[tuple[str, str, str], bool]

    def namespaced(self, key: ResourceKey) -> bool:
        """Whether ``key``'s kind is namespaced (as discovered, else by the built-in table)."""
        found = self.scopes.get((key.group, key.version, key.kind))
        return namespaced_heuristic(key) if found is None else found


def read_live(
    client: ClusterClient,
    manifests: Sequence[Manifest],
    identity: Identity,
    *,
    kinds: Sequence[tuple[str, str, str]] | None = None,
) -> LiveState:
    """Read what a plan compares with.

    That is each desired object's live counterpart (GET) and every object labelled with
    ``identity`` (LIST by label selector: the prune candidates).

    Raises:
        ClusterError: the cluster could not be read.
    """
    found: dict[tuple[str, str, str, str], Manifest] = {}
    not_served: set[tuple[str, str, str]] = set()
    scopes: dict[tuple[str, str, str], bool] = {}
    for manifest in manifests:
        key = key_of(manifest)
        gvk = (key.group, key.version, key.kind)
        if not client.is_served(*gvk):
            not_served.add(gvk)
            continue
        scopes[gvk] = client.resource_info(*gvk).namespaced
        key, _ = place(manifest, scopes[gvk])
        live = client.get(key)
        if live is not None:
            found[prune.identity_of(key)] = live
    for obj in prune.list_labelled(client, identity, kinds).objects:
        found.setdefault(prune.identity_of(key_of(obj)), obj)
    return LiveState(tuple(found.values()), frozenset(not_served), scopes)
