"""The params of a ``paramKind`` ValidatingAdmissionPolicy, found as the API server finds them.

A policy with ``spec.paramKind`` is evaluated once per params object its binding's
``spec.paramRef`` selects among the objects checked (``gitops check`` sees the rendered set,
where the params ConfigMap or custom resource lives beside the policy):

- ``paramRef.name`` selects one object, ``paramRef.selector`` every object with matching
  labels (each evaluation independent, as in the API server);
- the namespace is ``paramRef.namespace``, else, for a namespaced params kind, the
  namespace of the object being admitted;
- none found: ``parameterNotFoundAction: Allow`` admits the object, ``Deny`` is the API
  server's configuration error (:data:`NOT_FOUND_DENY`), which ``failurePolicy`` then
  decides.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitops.core.keys import CLUSTER_SCOPED_KINDS, Manifest
from gitops.policy.selectors import selector_matches

#: The API server's error when a ``Deny`` binding finds no params.
NOT_FOUND_DENY = (
    "failed to configure binding: no params found for policy binding with `Deny` "
    "parameterNotFoundAction"
)
#: The API server's error when a policy has a paramKind and its binding no paramRef.
NO_PARAM_REF = "failed to configure binding: paramRef is required when paramKind is set"


class ParamsError(Exception):
    """The binding cannot be configured (the message is the API server's)."""


def resolve_params(
    policy_spec: Mapping[str, Any],
    binding_spec: Mapping[str, Any],
    namespace: str,
    objects: Sequence[Manifest],
) -> list[Manifest | None]:
    """The params objects to evaluate the policy with for an object in ``namespace``.

    Returns ``[None]`` for a policy without ``paramKind`` (one evaluation, ``params``
    null) and ``[]`` when none are found and the binding allows that (admitted).

    Raises:
        ParamsError: no ``paramRef``, or none found with ``parameterNotFoundAction: Deny``.
    """
    kind = policy_spec.get("paramKind")
    if not isinstance(kind, Mapping):
        return [None]
    ref = binding_spec.get("paramRef")
    if not isinstance(ref, Mapping):
        raise ParamsError(NO_PARAM_REF)
    api_version, kind_name = kind.get("apiVersion"), kind.get("kind")
    wanted_namespace = ref.get("namespace") or (
        namespace if kind_name not in CLUSTER_SCOPED_KINDS else ""
    )
    found = [
        obj
        for obj in objects
        if obj.get("apiVersion") == api_version
        and obj.get("kind") == kind_name
        and (obj.get("metadata", {}).get("namespace") or "") == wanted_namespace
        and _selected(obj, ref)
    ]
    if not found and ref.get("parameterNotFoundAction") == "Deny":
        raise ParamsError(NOT_FOUND_DENY)
    return list(found)


def _selected(obj: Manifest, ref: Mapping[str, Any]) -> bool:
    metadata = obj.get("metadata") or {}
    if ref.get("name"):
        return bool(metadata.get("name") == ref["name"])
    return selector_matches(ref.get("selector") or {}, metadata.get("labels") or {})
