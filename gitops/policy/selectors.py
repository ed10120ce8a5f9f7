"""What an admission check knows about an object: identity, resource, labels, namespace.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops.core.keys import Manifest, ResourceKey, key_of

#: The label the API server sets on every Namespace to its name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

_IRREGULAR_PLURALS = {"Endpoints": "endpoints", "Ingress": "ingresses"}


def resource_of(kind: str) -> str:
    """The plural resource name of a kind (``NetworkPolicy`` -> ``networkpolicies``)."""
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector matches ``labels`` (no selector matches all)."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def namespace_labels(name: str, namespaces: Mapping[str, Manifest]) -> dict[str, str]:
    """Labels of namespace ``name``: from its manifest if known, plus the name label."""
    manifest = namespaces.get(name) or {}
    labels = dict((manifest.get("metadata") or {}).get("labels") or {})
    labels[NAMESPACE_NAME_LABEL] = name
    return labels


@dataclass(frozen=True)
class ObjectContext:
    """An object under admission with the facts matching needs."""

    obj: Manifest
    key: ResourceKey
    resource: str
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str]
    namespace_object: Manifest | None

    @classmethod
    def of(cls, obj: Manifest, namespaces: Mapping[str, Manifest]) -> ObjectContext:
        """Build the context of ``obj``, looking its namespace up in ``namespaces``."""
        key = key_of(obj)
        labels = dict((obj.get("metadata") or {}).get("labels") or {})
        ns_object: Manifest | None = None
        if key.kind == "Namespace" and not key.group:
            # A Namespace is matched by namespaceSelector on its own labels.
            ns_labels = {**labels, NAMESPACE_NAME_LABEL: key.name}
        elif key.namespace:
            ns_labels = namespace_labels(key.namespace, namespaces)
            ns_object = namespaces.get(key.namespace) or {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": key.namespace, "labels": ns_labels},
            }
        else:
            ns_labels = {}
        return cls(obj, key, resource_of(key.kind), labels, ns_labels, ns_object)

    @property
    def cluster_scoped(self) -> bool:
        """Whether the object has no namespace."""
        return not self.key.namespace

    def activation(self) -> dict[str, Any]:
        """CEL variables of an admission request creating this object."""
        key = self.key
        return {
            "object": self.obj,
            "oldObject": None,
            "params": None,
            "namespaceObject": self.namespace_object,
            "request": {
                "operation": "CREATE",
                "kind": {"group": key.group, "version": key.version, "kind": key.kind},
                "resource": {"group": key.group, "version": key.version, "resource": self.resource},
                "name": key.name,
                "namespace": key.namespace,
                "userInfo": {"username": "gitops-check"},
                "dryRun": True,
            },
        }
