"""Manifests as plain dicts: identity (resource keys), canonical apply order, server metadata.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from gitops.core.errors import InputError

Manifest = dict[str, Any]


#: Kinds served cluster-wide (no namespace), for manifests read without discovery.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "ClusterPolicy",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterServingRuntime",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
    }
)


# Apply order: CRDs, Namespaces, cluster-scoped policy, namespace policy, config, workloads,
# then what points at workloads. Unknown kinds go with the workloads.
_KIND_RANK: dict[str, int] = {
    "CustomResourceDefinition": 0,
    "Namespace": 1,
    "PriorityClass": 2,
    "RuntimeClass": 2,
    "StorageClass": 2,
    "ClusterRole": 2,
    "ClusterRoleBinding": 2,
    "ValidatingAdmissionPolicy": 2,
    "ValidatingAdmissionPolicyBinding": 3,
    "ClusterPolicy": 2,
    "ValidatingWebhookConfiguration": 2,
    "MutatingWebhookConfiguration": 2,
    "ResourceQuota": 4,
    "LimitRange": 4,
    "NetworkPolicy": 4,
    "ServiceAccount": 5,
    "Role": 5,
    "RoleBinding": 5,
    "Secret": 6,
    "ConfigMap": 6,
    "PersistentVolumeClaim": 6,
    "ServingRuntime": 7,
    "ClusterServingRuntime": 2,
    "Service": 8,
    "Deployment": 9,
    "StatefulSet": 9,
    "DaemonSet": 9,
    "Job": 9,
    "CronJob": 9,
    "InferenceService": 9,
    "HorizontalPodAutoscaler": 10,
    "ScaledObject": 10,
    "PodDisruptionBudget": 10,
    "ServiceMonitor": 10,
    "PodMonitor": 10,
    "HTTPRoute": 10,
    "Ingress": 10,
}


_DEFAULT_RANK = 9


class ResourceKey(NamedTuple):
    """The identity of an object: group, version, kind, namespace ("" if cluster-scoped), name."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` string (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def split_api_version(api_version: str) -> tuple[str, str]:
    """Split ``apps/v1`` into ``("apps", "v1")`` and ``v1`` into ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def key_of(manifest: Mapping[str, Any], source: str = "manifest") -> ResourceKey:
    """Return the identity of a manifest, or raise InputError naming what is missing."""
    if not isinstance(manifest, Mapping):
        raise InputError(
            f"{source}: expected a mapping (a Kubernetes object), got {type_name(manifest)}"
        )
    api_version = manifest.get("apiVersion")
    kind = manifest.get("kind")
    metadata = manifest.get("metadata")
    for field, value in (("apiVersion", api_version), ("kind", kind)):
        if not isinstance(value, str) or not value:
            raise InputError(f"{source}: key {field!r} missing or not a string")
    if not isinstance(metadata, Mapping):
        raise InputError(f"{source}: {kind}: key 'metadata' missing or not a mapping")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{source}: {kind}: key 'metadata.name' missing or not a string")
    namespace = metadata.get("namespace") or ""
    if not isinstance(namespace, str):
        raise InputError(f"{source}: {kind} {name}: 'metadata.namespace' must be a string")
    group, version = split_api_version(str(api_version))
    return ResourceKey(group, version, str(kind), namespace, name)


#: Metadata the API server sets; a manifest copied from ``kubectl get -o yaml`` carries them.
SERVER_METADATA = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


def without_server_metadata(manifest: Mapping[str, Any]) -> Manifest:
    """Copy of ``manifest`` without the metadata the API server sets (input untouched).

    Sent back, they are preconditions (a stale ``resourceVersion`` or ``uid`` is a 409 on
    every apply) or refused outright (``managedFields`` in an apply body).
    """
    out = dict(manifest)
    metadata = out.get("metadata")
    if isinstance(metadata, Mapping) and SERVER_METADATA & metadata.keys():
        out["metadata"] = {k: v for k, v in metadata.items() if k not in SERVER_METADATA}
    return out


def kind_rank(kind: str) -> int:
    """Apply-order rank of a kind: lower ranks are applied first, pruned last."""
    return _KIND_RANK.get(kind, _DEFAULT_RANK)


def sort_key(key: ResourceKey) -> tuple[int, str, str, str, str]:
    """Sort key giving the canonical (apply) order of objects."""
    return (kind_rank(key.kind), key.group, key.kind, key.namespace, key.name)


def canonical_order(manifests: Iterable[Manifest]) -> list[Manifest]:
    """Return manifests in canonical order: CRDs, Namespaces, cluster policy, then the rest."""
    return sorted(manifests, key=lambda m: sort_key(key_of(m)))


def type_name(value: object) -> str:
    """The Python type of a value, as messages name what was found instead."""
    return type(value).__name__
