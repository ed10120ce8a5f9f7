"""How Kubernetes compares one field: merge keys, set lists, quantities, int-or-string, zeros.

Purely data-manipulative: no I/O. :mod:`gitops.diff.align` applies these rules while it
walks desired and live together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitops.core.quantity import is_quantity, parse_quantity

#: Merge keys of lists that merge by key in strategic merge / server-side apply.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "resourceClaims": ("name",),
    "readinessGates": ("conditionType",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "ownerReferences": ("uid",),
    "conditions": ("type",),
    "secrets": ("name",),
}


#: API groups the API server serves itself (Go types); every other group is a custom
#: resource, stored as sent (the Gateway API and Inference Extension groups included).
BUILTIN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)


#: IntOrString fields: a number and its decimal string denote the same value.
INT_OR_STRING_FIELDS = frozenset(
    {"targetPort", "port", "maxSurge", "maxUnavailable", "minAvailable"}
)


#: Lists of scalars with set semantics: live elements desired does not name are not drift.
SET_LISTS = frozenset({"finalizers"})


#: Parents of a key whose values are resource quantities.
_QUANTITY_PARENTS = frozenset({"requests", "limits", "hard", "capacity", "allocatable", "overhead"})


_LIMIT_RANGE_PARENTS = frozenset(
    {"default", "defaultRequest", "max", "min", "maxLimitRequestRatio"}
)


#: Annotation prefixes the tooling writes itself; never drift, even in strict mode.
SYSTEM_ANNOTATIONS = (
    "kubectl.kubernetes.io/",
    "deployment.kubernetes.io/",
    "autoscaling.alpha.kubernetes.io/",
)


#: A path segment: a mapping key, or the names a list item answers to (index, key values).
Segment = str | tuple[str, ...]


def item_key(field_name: str, item: Any) -> dict[str, Any] | None:
    """Merge-key fields of a list item (with API defaults filled in), or None if not keyed."""
    if not isinstance(item, Mapping):
        return None
    if field_name == "ports":
        # Container ports key on containerPort+protocol, Service ports on port+protocol.
        for port_field in ("containerPort", "port"):
            if port_field in item:
                return {port_field: item[port_field], "protocol": item.get("protocol") or "TCP"}
        return None
    keys = MERGE_KEYS.get(field_name)
    if keys is None or any(k not in item for k in keys):
        return None
    return {k: item[k] for k in keys}


def is_quantity_path(path: Sequence[Segment]) -> bool:
    """Whether the value at ``path`` (mapping keys and list items) is a resource quantity."""
    keys = [s for s in path if isinstance(s, str)]
    if not keys:
        return False
    if keys[-1] in ("sizeLimit", "averageValue"):
        return True
    if keys[-1] == "value" and len(keys) >= 2 and keys[-2] == "target":
        return True  # autoscaling/v2 MetricTarget.value
    parent = keys[-2] if len(keys) >= 2 else ""
    grandparent = keys[-3] if len(keys) >= 3 else ""
    if parent in _QUANTITY_PARENTS:
        return parent in ("hard", "capacity", "allocatable", "overhead") or grandparent in (
            "resources",
            "limits",
        )
    return parent in _LIMIT_RANGE_PARENTS and grandparent == "limits"


def json_equal(a: Any, b: Any) -> bool:
    """Whether two JSON values are equal as JSON (and so to the API server).

    Python's ``==`` calls ``True``, ``1`` and ``1.0`` equal, at any depth of two documents;
    JSON, YAML and the server hold a boolean apart from every number. Numbers compare by
    value (``1`` and ``1.0`` are one JSON number).
    """
    if a is b:
        return True  # also two equal booleans: True and False are singletons
    if isinstance(a, Mapping):
        if not isinstance(b, Mapping) or len(a) != len(b):
            return False
        for key, value in a.items():
            other = b.get(key, _ABSENT)
            if other is _ABSENT or not json_equal(value, other):
                return False
        return True
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(map(json_equal, a, b))
    if type(a) is bool or type(b) is bool:
        return False  # not the same boolean, or a boolean and something else
    return bool(a == b)


_ABSENT = object()


def strip_nulls(value: Any) -> Any:
    """Copy of ``value`` without null mapping values (null and absent mean the same)."""
    if type(value) is dict or isinstance(value, Mapping):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def is_empty(value: Any) -> bool:
    # The API server omits zero values of omitempty fields ({}, [], "", false, 0): a desired
    # zero value and an absent live field are the same.
    if value is None or value is False or value == "":
        return True
    if isinstance(value, (dict, list)):
        return not value
    return type(value) is int and value == 0


def int_or_string_equal(a: Any, b: Any, path: Sequence[Segment]) -> bool:
    """``8000`` and ``"8000"`` in an int-or-string field (targetPort, probe port, maxSurge...)."""
    key = next((s for s in reversed(path) if isinstance(s, str)), "")
    if key not in INT_OR_STRING_FIELDS:
        return False
    number, text = (a, b) if isinstance(a, int) else (b, a)
    return isinstance(number, int) and isinstance(text, str) and text == str(number)


def scalar_equal(desired: Any, live: Any, path: Sequence[Segment], builtin: bool = True) -> bool:
    if type(desired) is type(live) and desired == live:
        return True  # the common case first (two equal bools are the same object too)
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return desired == live
    if not builtin:
        return False  # a custom resource keeps the spelling it was sent
    if int_or_string_equal(desired, live, path):
        return True
    if is_quantity_path(path) and is_quantity(desired) and is_quantity(live):
        return parse_quantity(desired) == parse_quantity(live)
    return False


def readable_path(path: Sequence[Segment]) -> str:
    parts: list[str] = []
    for seg in path:
        if isinstance(seg, tuple):
            parts.append(f"[{seg[-1]}]" if len(seg) > 1 else f"[{seg[0]}]")
        else:
            parts.append(("." if parts else "") + seg)
    return "".join(parts)
