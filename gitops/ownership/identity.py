"""Which live objects are ours: the ApplySet-style identity of one environment of one repository.

Purely data-manipulative: no I/O.

Design (after the Kubernetes ApplySet conventions of KEP-3659):

- The identity of an environment is an ApplySet id, ``applyset-<b64url(sha256(...))>-v1``,
  computed as the KEP computes a parent's id from ``<name>.<namespace>.<kind>.<group>``,
  with a virtual parent: name = the environment, namespace = the repository identity,
  kind ``Environment``, group ``gitops.dev``. Another environment, or the same
  environment rendered from another repository, gets another id; another tool's ids are
  computed from its own parent objects, so they never collide with ours.
- Every applied object carries the label ``applyset.kubernetes.io/part-of=<id>`` (listable
  with a label selector) and the annotation ``gitops.dev/owner``: a hash of the id *and the
  object's own group, kind, namespace and name*. A label (or both) copied onto another
  object therefore does not make that object ours: its key does not hash to the value.
- On a live cluster, our field manager must also own the label through a server-side
  apply (``managedFields``): a label added by ``kubectl label`` or another controller is
  owned by that manager, not by us.
- Objects annotated ``gitops.dev/prune: disabled`` (or Argo CD's
  ``argocd.argoproj.io/sync-options`` containing ``Prune=false``) are never pruned.
- *Adopted* objects are never pruned: an object that existed before ``gitops apply`` first
  applied it (a Namespace listed in ``namespaces:`` that a platform team created, a
  ConfigMap someone made by hand) is stamped with the *adopted* ownership hash (the same
  hash computed with the word ``adopted``, plus ``gitops.dev/adopted: "true"`` for
  readers). Only objects this tool created carry the *created* hash, so only they can be
  pruned; the hash, not the readable annotation, is what prune trusts.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops.core import fieldsv1
from gitops.core.keys import Manifest, ResourceKey, key_of
from gitops.core.labels import (
    ADOPTED_ANNOTATION,
    ARGOCD_SYNC_OPTIONS,
    FIELD_MANAGER,
    OWNER_ANNOTATION,
    PART_OF_LABEL,
    PRUNE_ANNOTATION,
)

#: Kind and group of the virtual ApplySet parent the id is computed from.
PARENT_KIND = "Environment"
PARENT_GROUP = "gitops.dev"


def _b64_sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def applyset_id(environment: str, repository: str) -> str:
    """The ApplySet id of ``environment`` rendered from ``repository`` (KEP-3659 format)."""
    parent = ".".join((environment, repository, PARENT_KIND, PARENT_GROUP))
    return f"applyset-{_b64_sha256(parent)}-v1"


@dataclass(frozen=True)
class Identity:
    """The ownership identity of one environment of one repository.

    Attributes:
        environment: environment name.
        repository: a stable name of the rendered repository (its Git URL by default).
        field_manager: server-side apply field manager.
    """

    environment: str
    repository: str
    field_manager: str = FIELD_MANAGER

    @property
    def id(self) -> str:
        """The ApplySet id (the value of :data:`PART_OF_LABEL`)."""
        return applyset_id(self.environment, self.repository)

    @property
    def selector(self) -> str:
        """Label selector listing every object labelled as ours."""
        return f"{PART_OF_LABEL}={self.id}"

    def object_hash(self, key: ResourceKey, adopted: bool = False) -> str:
        """The :data:`OWNER_ANNOTATION` value for the object ``key`` (version-independent).

        ``adopted``: the hash of an object that existed before we applied it.
        """
        parts = (self.id, key.group, key.kind, key.namespace, key.name)
        return _b64_sha256("/".join(parts + (("adopted",) if adopted else ())))[:32]

    def stamp(
        self, manifest: Mapping[str, Any], key: ResourceKey | None = None, adopted: bool = False
    ) -> Manifest:
        """A copy of ``manifest`` carrying the membership label and the ownership hash.

        Args:
            manifest: the desired object.
            key: its key as applied (namespace filled in), default ``key_of(manifest)``.
            adopted: the object existed before we applied it (see :func:`adopts`).
        """
        out: Manifest = copy.deepcopy(dict(manifest))
        metadata = out.setdefault("metadata", {})
        metadata["labels"] = {**(metadata.get("labels") or {}), PART_OF_LABEL: self.id}
        annotations = dict(metadata.get("annotations") or {})
        annotations[OWNER_ANNOTATION] = self.object_hash(key or key_of(out), adopted)
        if adopted:
            annotations[ADOPTED_ANNOTATION] = "true"
        metadata["annotations"] = annotations
        return out

    def _owner_hash(self, obj: Mapping[str, Any]) -> Any:
        metadata = obj.get("metadata") or {}
        if ((metadata.get("labels") or {}).get(PART_OF_LABEL)) != self.id:
            return None
        return (metadata.get("annotations") or {}).get(OWNER_ANNOTATION)

    def claims(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` carries our label and an ownership hash of its own key."""
        value = self._owner_hash(obj)
        if value is None:
            return False
        key = key_of(obj)
        return value in (self.object_hash(key), self.object_hash(key, adopted=True))

    def adopted(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` is ours by adoption: it existed before we first applied it."""
        value = self._owner_hash(obj)
        return value is not None and value == self.object_hash(key_of(obj), adopted=True)

    def applied_label(self, obj: Mapping[str, Any]) -> bool:
        """Whether our field manager owns the membership label through server-side apply."""
        tree = fieldsv1.merged_tree(obj, [self.field_manager], operation="Apply")
        labels = fieldsv1.child(fieldsv1.child(tree, "metadata"), "labels")
        return fieldsv1.child(labels, PART_OF_LABEL) is not None

    def owns(self, obj: Mapping[str, Any], *, check_managed_fields: bool = True) -> bool:
        """Whether ``obj`` is ours: labelled, hashed for its own key, label applied by us.

        Args:
            obj: a live object.
            check_managed_fields: also require our manager to own the label. Turn off only
                for captures that dropped ``managedFields`` (``kubectl get -o yaml``).
        """
        if not self.claims(obj):
            return False
        return not check_managed_fields or self.applied_label(obj)


def adopts(
    identity: Identity, live: Mapping[str, Any] | None, *, check_managed_fields: bool = True
) -> bool:
    """Whether applying over ``live`` adopts it (or keeps it adopted) rather than owning it.

    An object nobody created through us (no live object: we create it) is ours outright;
    a live object that is not ours yet, or that we adopted before, stays adopted.
    """
    if live is None:
        return False
    if identity.adopted(live):
        return True
    return not identity.owns(live, check_managed_fields=check_managed_fields)


def prune_opt_out(obj: Mapping[str, Any]) -> str | None:
    """Why ``obj`` must never be pruned (an annotation naming the opt-out), or None."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(PRUNE_ANNOTATION, "")).strip().lower() == "disabled":
        return f"{PRUNE_ANNOTATION}: disabled"
    options = str(annotations.get(ARGOCD_SYNC_OPTIONS, ""))
    if any(o.strip().replace(" ", "") == "Prune=false" for o in options.split(",")):
        return f"{ARGOCD_SYNC_OPTIONS}: Prune=false"
    return None


def place(
    manifest: Mapping[str, Any], namespaced: bool, default_namespace: str = "default"
) -> tuple[ResourceKey, Manifest]:
    """The key an object is applied under, and the manifest with its namespace settled.

    A namespaced object naming no namespace goes to ``default_namespace`` (as kubectl does);
    a cluster-scoped object loses any namespace it names.
    """
    key = key_of(manifest)
    if namespaced == bool(key.namespace):
        return key, dict(manifest)
    namespace = default_namespace if namespaced else ""
    metadata = {k: v for k, v in manifest["metadata"].items() if k != "namespace"}
    if namespace:
        metadata["namespace"] = namespace
    return key._replace(namespace=namespace), {**manifest, "metadata": metadata}


def _by_identity(live: Iterable[Mapping[str, Any]]) -> dict[tuple[str, ...], Mapping[str, Any]]:
    out: dict[tuple[str, ...], Mapping[str, Any]] = {}
    for obj in live:
        key = key_of(obj)
        out[(key.group, key.kind, key.namespace, key.name)] = obj
    return out


def stamp_all(
    identity: Identity,
    manifests: Iterable[Mapping[str, Any]],
    namespaced: Callable[[ResourceKey], bool],
    default_namespace: str = "default",
    live: Iterable[Mapping[str, Any]] = (),
    *,
    check_managed_fields: bool = True,
) -> list[Manifest]:
    """Every manifest as apply sends it: namespace settled, ownership stamped.

    Args:
        identity: the environment's identity.
        manifests: desired manifests.
        namespaced: whether a key's kind is namespaced (discovery, or the built-in table).
        default_namespace: namespace of namespaced manifests that name none.
        live: the live objects, so objects apply would adopt get the adopted stamp.
        check_managed_fields: see :meth:`Identity.owns` (off for captures).
    """
    by_id = _by_identity(live)
    out: list[Manifest] = []
    for manifest in manifests:
        key, placed = place(manifest, namespaced(key_of(manifest)), default_namespace)
        current = by_id.get((key.group, key.kind, key.namespace, key.name))
        adopted = adopts(identity, current, check_managed_fields=check_managed_fields)
        out.append(identity.stamp(placed, key, adopted))
    return out


def stamp_where_applied(
    identity: Identity,
    manifests: Iterable[Mapping[str, Any]],
    live: Iterable[Mapping[str, Any]],
    namespaced: Callable[[ResourceKey], bool],
    default_namespace: str = "default",
) -> list[Manifest]:
    """Stamp the manifests whose live object carries an ApplySet label; keep the others.

    For a diff: the stamps ``gitops apply`` added are then expected, not "to remove",
    while objects another tool applied (Argo CD, kubectl) are compared unstamped and show
    no drift for labels they never had.
    """
    labelled = {
        ident: obj
        for ident, obj in _by_identity(live).items()
        if PART_OF_LABEL in ((obj.get("metadata") or {}).get("labels") or {})
    }
    out: list[Manifest] = []
    for manifest in manifests:
        key, placed = place(manifest, namespaced(key_of(manifest)), default_namespace)
        current = labelled.get((key.group, key.kind, key.namespace, key.name))
        if current is not None:
            placed = identity.stamp(placed, key, identity.adopted(current))
        out.append(placed)
    return out
