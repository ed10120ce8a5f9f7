"""Variables supplied from outside, in the Kyverno CLI's ``Values`` format (``--values``).

What a policy would read from the cluster (a ConfigMap context entry, an API call,
``request.userInfo``) can be given the way ``kyverno apply --values-file`` and a
``kyverno-test.yaml``'s ``variables:`` take it::

    apiVersion: cli.kyverno.io/v1alpha1
    kind: Values
    globalValues: {request.operation: CREATE}
    policies:
    - name: my-policy
      rules: [{name: my-rule, values: {dictionary.data.allowed: "a,b"}}]
      resources: [{name: my-pod, values: {request.userInfo.username: alice}}]
    namespaceSelector: [{name: team-a, labels: {tier: gold}}]

Dotted names set nested variables. A resource's values win over its rule's, which win
over the global ones.

Purely data-manipulative: no I/O (:func:`gitops.policy.loader.load_values` reads files).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops.core.errors import InputError


@dataclass(frozen=True)
class Values:
    """Supplied variables: global, per policy rule, per policy resource; namespace labels."""

    global_values: Mapping[str, Any] = field(default_factory=dict)
    rules: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    resources: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Any, source: str) -> Values:
        """Read a ``Values`` document.

        Raises:
            InputError: a section has the wrong shape (``source`` and the field named).
        """
        if not isinstance(document, Mapping):
            raise InputError(f"{source}: expected a Values mapping, got {type(document).__name__}")
        global_values = _mapping(document.get("globalValues"), f"{source}: globalValues")
        rules: dict[tuple[str, str], Mapping[str, Any]] = {}
        resources: dict[tuple[str, str], Mapping[str, Any]] = {}
        for i, policy in enumerate(_list(document.get("policies"), f"{source}: policies")):
            where = f"{source}: policies[{i}]"
            name = str(_mapping(policy, where).get("name", ""))
            for j, rule in enumerate(_list(policy.get("rules"), f"{where}.rules")):
                entry = _mapping(rule, f"{where}.rules[{j}]")
                rules[(name, str(entry.get("name")))] = _mapping(
                    entry.get("values"), f"{where}.rules[{j}].values")  # fmt: skip
            for j, resource in enumerate(_list(policy.get("resources"), f"{where}.resources")):
                entry = _mapping(resource, f"{where}.resources[{j}]")
                resources[(name, str(entry.get("name")))] = _mapping(
                    entry.get("values"), f"{where}.resources[{j}].values")  # fmt: skip
        labels = {}
        for i, ns in enumerate(_list(document.get("namespaceSelector"),
                                     f"{source}: namespaceSelector")):  # fmt: skip
            entry = _mapping(ns, f"{source}: namespaceSelector[{i}]")
            labels[str(entry.get("name"))] = {
                str(k): str(v)
                for k, v in _mapping(entry.get("labels"),
                                     f"{source}: namespaceSelector[{i}].labels").items()
            }  # fmt: skip
        return cls(global_values, rules, resources, labels)

    @property
    def any(self) -> bool:
        """Whether any variable is supplied at all."""
        return bool(self.global_values or self.rules or self.resources)

    def supplied(self, policy: str, rule: str, resource: str) -> dict[str, Any]:
        """The dotted names and values that apply to one rule on one resource."""
        return {
            **self.global_values,
            **self.rules.get((policy, rule), {}),
            **self.resources.get((policy, resource), {}),
        }

    def names(self) -> set[str]:
        """Every dotted name supplied anywhere (to tell what a policy may rely on)."""
        found = set(self.global_values)
        for group in (self.rules, self.resources):
            for values in group.values():
                found.update(values)
        return found

    def apply(self, variables: dict[str, Any], policy: str, rule: str,
              resource: str) -> dict[str, Any]:  # fmt: skip
        """``variables`` with the supplied values set (copied where they change it)."""
        supplied = self.supplied(policy, rule, resource)
        if not supplied:
            return variables
        out = copy.deepcopy(variables)
        for dotted, value in supplied.items():
            node = out
            parts = str(dotted).split(".")
            for part in parts[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[parts[-1]] = value
        return out


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list, got {type(value).__name__}")
    return value
