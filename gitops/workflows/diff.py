"""The diff pipeline: read desired and live state, then run the pure diff.

Does the I/O the pure :mod:`gitops.diff.engine` does not: desired from Git (at a ref) or files,
live from the cluster (one paginated LIST per kind) or a captured file. ``kubernetes`` and
``pygit2`` are imported only when the chosen sources need them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.core.errors import GitOpsError
from gitops.core.keys import Manifest, ResourceKey, key_of, sort_key
from gitops.core.labels import FIELD_MANAGER, PART_OF_LABEL
from gitops.diff.engine import (
    DiffReport,
    ObjectDiff,
    Ownership,
    Status,
    diff_manifests,
    listing_plan,
)
from gitops.inputs.ignore import IgnoreRule
from gitops.ownership import prune
from gitops.ownership.identity import Identity
from gitops.workflows import desired as desired_io

if TYPE_CHECKING:
    from gitops.cluster.client import ClusterClient


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
    #: A label/annotation rule reporting extra orphans among the objects listed (legacy;
    #: None: orphans are exactly what ``apply --prune`` would delete, see :func:`run_diff`).
    ownership: Ownership | None = None
    #: Let the server judge every object that exists live by a dry-run apply
    #: (:mod:`gitops.diff.server`) instead of the local comparison. Needs a cluster.
    server_side: bool = False

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

    Orphans are what ``gitops apply --prune`` would delete, by the same rule
    (:func:`gitops.ownership.prune.select_prune`: our ApplySet label, the ownership hash of an
    object we created, our manager's label, no opt-out), listed the same way (every
    served kind, by the label): one definition of "ours" for diff, plan and apply.

    Args:
        request: sources and options.
        client: a connected :class:`gitops.cluster.client.ClusterClient` to use instead of
            connecting from ``kubeconfig``/``context``.

    Raises:
        GitOpsError: a source cannot be read (ClusterError for the cluster).
    """
    manifests = read_desired(request)
    identity = _identity(request)
    if request.live_file is not None:
        return _diff_capture(request, request.live_file, manifests, identity)
    if client is None:
        from gitops.cluster.client import ClusterClient  # kubernetes only when a cluster is read

        client = ClusterClient.from_kubeconfig(request.kubeconfig, request.context)
    return _diff_cluster(request, client, manifests, identity)


def _options(request: DiffRequest) -> dict[str, Any]:
    """The keyword arguments of :func:`gitops.diff.engine.diff_manifests` the request sets."""
    return {
        "ownership": request.ownership,
        "field_manager": request.field_manager,
        "ignore": request.rules(),
        "strict": request.strict,
        "default_namespace": request.default_namespace,
    }


def _diff_capture(
    request: DiffRequest, capture: Path, manifests: list[Manifest], identity: Identity | None
) -> DiffReport:
    """Diff against a ``kubectl get -o yaml`` capture, streamed: only the counterparts of
    desired objects and possible orphans are kept (a capture may hold a whole cluster)."""
    if request.server_side:
        from gitops.core.errors import InputError

        raise InputError(
            f"diff: --server-side asks the cluster to dry-run each object; a capture "
            f"({capture}) cannot: drop --live or --server-side"
        )
    ownership = request.ownership

    def candidate(obj: Manifest) -> bool:
        """Whether ``obj`` may be reported orphaned: labelled ours (prune's rule) or owned
        by the request's legacy rule."""
        labels = obj["metadata"].get("labels") or {}
        if identity is not None and labels.get(PART_OF_LABEL) == identity.id:
            return True
        return ownership is not None and ownership.owns(obj)

    keep = desired_io.keep_for_diff(
        [key_of(m) for m in manifests], candidate if identity or ownership else None
    )
    live = desired_io.read_live_file(capture, keep)
    desired = _as_applied(request, identity, manifests, live, None)
    report = diff_manifests(desired, live, **_options(request))
    # A capture (kubectl get -o yaml) drops managedFields; the ownership hash still holds.
    return _with_orphans(report, desired, live, identity, check_managed_fields=False)


def _diff_cluster(
    request: DiffRequest,
    client: ClusterClient,
    manifests: list[Manifest],
    identity: Identity | None,
) -> DiffReport:
    """Diff against the cluster: one LIST per desired kind, plus our labelled objects."""
    options = _options(request)
    listing = Ownership.for_environment(request.environment) if request.environment else None
    state = client.read_live(listing_plan(manifests, listing))
    objects = list(state.objects)
    if identity is not None:
        seen = {prune.identity_of(key_of(obj)) for obj in objects}
        for obj in prune.list_labelled(client, identity).objects:
            if prune.identity_of(key_of(obj)) not in seen:
                objects.append(obj)
    desired = _as_applied(request, identity, manifests, objects, state.is_namespaced)
    report = diff_manifests(
        desired, objects, not_served=state.not_served, namespaced=state.is_namespaced, **options
    )
    report = _with_orphans(report, desired, objects, identity, check_managed_fields=True)
    if not request.server_side and not any(o.cannot_tell for o in report.objects):
        return report
    from gitops.diff.server import judge

    # --server-side: the server judges every object; else only what local cannot tell.
    return judge(
        report,
        desired,
        objects,
        client,
        field_manager=request.field_manager,
        ignore=options["ignore"],
        default_namespace=request.default_namespace,
        everything=request.server_side,
    )


def _identity(request: DiffRequest) -> Identity | None:
    """The environment's ApplySet identity (None for ``-f`` files without an environment)."""
    if not request.environment:
        return None
    from gitops.workflows.sources import identity_for

    if request.filename is not None:
        try:
            found = identity_for(request.repo, request.ref, request.environment)
        except GitOpsError:  # -f files need no repository; the name is then unknown
            return Identity(request.environment, "", request.field_manager)
    else:
        found = identity_for(request.repo, request.ref, request.environment)
    return Identity(found.environment, found.repository, request.field_manager)


def _with_orphans(
    report: DiffReport,
    desired: Sequence[Manifest],
    live: Sequence[Manifest],
    identity: Identity | None,
    *,
    check_managed_fields: bool,
) -> DiffReport:
    """``report`` plus what prune would delete, as orphaned objects."""
    if identity is None:
        return report
    keys = [key_of(m) for m in desired]
    orphans = prune.select_prune(live, keys, identity, check_managed_fields=check_managed_fields)
    shown = {prune.identity_of(d.key) for d in report.objects}
    extra = [
        ObjectDiff(k, Status.ORPHANED) for k in orphans.delete if prune.identity_of(k) not in shown
    ]
    if not extra:
        return report
    return DiffReport(tuple(sorted([*report.objects, *extra], key=lambda d: sort_key(d.key))))


def _as_applied(
    request: DiffRequest,
    identity: Identity | None,
    manifests: list[Manifest],
    live: Sequence[Manifest],
    namespaced: Callable[[ResourceKey], bool] | None,
) -> list[Manifest]:
    """Expect the ownership stamps ``gitops apply`` added, where it added them."""
    if identity is None:
        return manifests
    from gitops.ownership.identity import stamp_where_applied
    from gitops.workflows.live import namespaced_heuristic

    return stamp_where_applied(
        identity, manifests, live, namespaced or namespaced_heuristic, request.default_namespace
    )
