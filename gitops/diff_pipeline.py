"""The diff pipeline: read desired and live state, then run the pure diff.

Does the I/O the pure :mod:`gitops.diff` does not: desired from Git (at a ref) or files,
live from the cluster (one paginated LIST per kind) or a captured file. ``kubernetes`` and
``pygit2`` are imported only when the chosen sources need them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitops import desired as desired_io
from gitops.diff import (
    FIELD_MANAGER,
    DiffReport,
    IgnoreRule,
    Ownership,
    diff_manifests,
    listing_plan,
)
from gitops.model import Manifest, ResourceKey

if TYPE_CHECKING:
    from gitops.cluster import ClusterClient

#: Kinds the tool renders, listed (label-selected) to find orphans of kinds Git no longer has.
ORPHAN_KINDS: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "ConfigMap"),
    ("", "v1", "Secret"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("", "v1", "PersistentVolumeClaim"),
    ("", "v1", "ResourceQuota"),
    ("", "v1", "LimitRange"),
    ("", "v1", "Namespace"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "v1", "Role"),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
)


@dataclass(frozen=True)
class DiffRequest:
    """What to diff: the sources of desired and live state and the comparison options."""

    environment: str | None = None
    repo: Path = Path("build/gitops-repo")
    ref: str = "main"
    #: Desired manifests from a file or directory instead of Git.
    filename: Path | None = None
    #: Live state from a captured file instead of a cluster.
    live_file: Path | None = None
    kubeconfig: str | None = None
    context: str | None = None
    field_manager: str = FIELD_MANAGER
    ignore_pointers: tuple[str, ...] = ()
    ignore_managers: tuple[str, ...] = ()
    #: Extra rules, e.g. from an environment's ``{"ignore": [...]}`` section.
    ignore: tuple[IgnoreRule, ...] = ()
    strict: bool = False
    default_namespace: str = "default"
    #: None: the default ownership of ``environment`` (no orphans without an environment).
    ownership: Ownership | None = None

    def rules(self) -> list[IgnoreRule]:
        """Every ignore rule of the request."""
        rules = list(self.ignore)
        rules.extend(IgnoreRule(pointer=p) for p in self.ignore_pointers)
        if self.ignore_managers:
            rules.append(IgnoreRule(managers=self.ignore_managers))
        return rules


def read_desired(request: DiffRequest) -> list[Manifest]:
    """Desired manifests: ``-f`` files, else the environment's directory in Git at ``ref``."""
    if request.filename is not None:
        return desired_io.read_path(request.filename)
    return desired_io.read_ref(request.repo, request.ref, request.environment)


def run_diff(request: DiffRequest, client: ClusterClient | None = None) -> DiffReport:
    """Read both sides and diff them.

    Args:
        request: sources and options.
        client: a connected :class:`gitops.cluster.ClusterClient` to use instead of
            connecting from ``kubeconfig``/``context``.

    Raises:
        GitOpsError: a source cannot be read (ClusterError for the cluster).
    """
    rules = request.rules()
    ownership = request.ownership
    if ownership is None and request.environment:
        ownership = Ownership.for_environment(request.environment)
    manifests = read_desired(request)
    if request.live_file is not None:
        live = desired_io.read_live_file(request.live_file)
        return diff_manifests(
            _as_applied(request, manifests, live, None),
            live,
            ownership=ownership,
            field_manager=request.field_manager,
            ignore=rules,
            strict=request.strict,
            default_namespace=request.default_namespace,
        )
    if client is None:
        from gitops.cluster import ClusterClient  # kubernetes only when a cluster is read

        client = ClusterClient.from_kubeconfig(request.kubeconfig, request.context)
    extra: Sequence[tuple[str, str, str]] = ORPHAN_KINDS if ownership is not None else ()
    state = client.read_live(listing_plan(manifests, ownership, extra))
    return diff_manifests(
        _as_applied(request, manifests, state.objects, state.is_namespaced),
        state.objects,
        ownership=ownership,
        not_served=state.not_served,
        field_manager=request.field_manager,
        ignore=rules,
        strict=request.strict,
        default_namespace=request.default_namespace,
        namespaced=state.is_namespaced,
    )


def _as_applied(
    request: DiffRequest,
    manifests: list[Manifest],
    live: Sequence[Manifest],
    namespaced: Callable[[ResourceKey], bool] | None,
) -> list[Manifest]:
    """Expect the ownership stamps ``gitops apply`` added, where it added them."""
    if request.filename is not None or not request.environment:
        return manifests
    from gitops.live import namespaced_heuristic
    from gitops.ownership import stamp_where_applied
    from gitops.sources import identity_for

    identity = identity_for(request.repo, request.ref, request.environment)
    return stamp_where_applied(
        identity, manifests, live, namespaced or namespaced_heuristic, request.default_namespace
    )
