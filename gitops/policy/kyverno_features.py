"""What render time cannot know: Kyverno policy features ``gitops check`` refuses.

A rule that reads the cluster (a ``configMap``/``apiCall``/``imageRegistry``/
``globalReference`` context entry, ``validate.cel`` parameters), verifies signatures
(``verifyImages``, ``validate.manifests``), depends on who sends the request
(``request.userInfo``, ``serviceAccountName``, ``subjects``/``roles``/``clusterRoles``
filters) or on the moment of evaluation (``time_now``, ``random``) cannot be answered
before the object reaches a cluster. Such a policy is refused with one line naming the
policy, the rule and the feature — never passed silently. What ``--values`` supplies
(a context entry's name, ``request.userInfo``) is no longer unknown.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gitops.core.errors import PolicyError
from gitops.core.keys import Manifest
from gitops.policy.kyverno_conditions import check_operator
from gitops.policy.kyverno_match import USER_FIELDS, filters
from gitops.policy.kyverno_values import Values

_CLUSTER_CONTEXT = ("configMap", "apiCall", "imageRegistry", "globalReference")
_UNKNOWN_FUNCTIONS = re.compile(
    r"\b(time_now|time_now_utc|random|x509_decode|image_normalize)\s*\("
)
_USER_VARIABLES = re.compile(
    r"\b(request\.userInfo|request\.roles|request\.clusterRoles|serviceAccountName|"
    r"serviceAccountNamespace)\b"
)
_RULE_FIELDS = frozenset({"name", "match", "exclude", "context", "preconditions",
                          "celPreconditions", "validate", "skipBackgroundRequests",
                          "reportProperties"})  # fmt: skip
_VALIDATE_FORMS = ("pattern", "anyPattern", "deny", "foreach", "cel", "podSecurity")
_VALIDATE_FIELDS = frozenset({*_VALIDATE_FORMS, "message", "failureAction",
                              "failureActionOverrides", "allowExistingViolations"})  # fmt: skip


def refuse(policy: Manifest, rule: Any, feature: str) -> PolicyError:
    """The one-line refusal for ``feature`` in ``rule`` of ``policy``."""
    kind = policy.get("kind", "ClusterPolicy")
    name = (policy.get("metadata") or {}).get("name", "?")
    rule_name = rule.get("name") if isinstance(rule, Mapping) else rule
    return PolicyError(f"{kind} {name!r} rule {rule_name!r}: {feature}; gitops check refuses "
                       "the policy rather than guess its verdict")  # fmt: skip


def check_policy(policy: Manifest, values: Values) -> None:
    """Refuse a policy whose validate or verifyImages rules need what render time lacks.

    Raises:
        PolicyError: naming the policy, the rule and the feature.
    """
    supplied = values.names()
    for rule in (policy.get("spec") or {}).get("rules") or []:
        if not isinstance(rule, Mapping):
            raise refuse(policy, "?", "a rule must be a mapping")
        if rule.get("verifyImages"):
            raise refuse(policy, rule, "verifyImages checks image signatures and attestations "
                                       "in registries")  # fmt: skip
        if "validate" not in rule:
            continue  # mutate and generate rules change or create objects, never reject
        unknown = sorted(set(rule) - _RULE_FIELDS)
        if unknown:
            raise refuse(policy, rule, f"rule field {unknown[0]!r} is not supported by gitops "
                                       "check")  # fmt: skip
        _check_validate(policy, rule)
        _check_context(policy, rule, rule.get("context") or [], supplied)
        for block in ("match", "exclude"):
            for entry in filters(rule.get(block)):
                used = [f for f in USER_FIELDS if entry.get(f)]
                if used:
                    raise refuse(policy, rule, f"{block} by {used[0]} needs the requesting "
                                               "user (request.userInfo)")  # fmt: skip
        text = json.dumps({k: v for k, v in rule.items() if k not in ("match", "exclude")})
        user = _USER_VARIABLES.search(text)
        if user and not any(name.startswith(user.group(1)) for name in supplied):
            raise refuse(policy, rule, f"{user.group(1)} is the requesting user, unknown "
                                       "before the request (give it with --values)")  # fmt: skip
        moment = _UNKNOWN_FUNCTIONS.search(text)
        if moment:
            raise refuse(policy, rule, f"JMESPath function {moment.group(1)}() depends on "
                                       "the moment or the cluster it runs in")  # fmt: skip
        _check_conditions(policy, rule, rule.get("preconditions"))
        _check_conditions(policy, rule, (rule["validate"].get("deny") or {}).get("conditions"))
        for entry in rule["validate"].get("foreach") or []:
            _check_foreach(policy, rule, entry, supplied)


def _check_validate(policy: Manifest, rule: Mapping[str, Any]) -> None:
    validate = rule["validate"]
    if not isinstance(validate, Mapping):
        raise refuse(policy, rule, "validate must be a mapping")
    if validate.get("manifests"):
        raise refuse(policy, rule, "validate.manifests verifies signed manifests against keys")
    unknown = sorted(set(validate) - _VALIDATE_FIELDS)
    if unknown:
        raise refuse(policy, rule, f"validate.{unknown[0]} is not supported by gitops check "
                                   f"(supported: {', '.join(_VALIDATE_FORMS)})")  # fmt: skip
    if not any(form in validate for form in _VALIDATE_FORMS):
        raise refuse(policy, rule, f"validate has none of {', '.join(_VALIDATE_FORMS)}")
    cel = validate.get("cel") or {}
    if cel.get("paramKind") or cel.get("paramRef"):
        raise refuse(policy, rule, "validate.cel.paramKind reads parameter objects from the "
                                   "cluster")  # fmt: skip


def _check_context(policy: Manifest, rule: Mapping[str, Any], entries: Any,
                   supplied: set[str]) -> None:  # fmt: skip
    for entry in entries:
        name = str(entry.get("name"))
        source = next((s for s in _CLUSTER_CONTEXT if s in entry), None)
        if source is None:
            continue
        if not any(n == name or n.startswith(name + ".") for n in supplied):
            raise refuse(policy, rule, f"context entry {name!r} ({source}) reads the cluster "
                                       "or a registry (give it with --values)")  # fmt: skip


def _check_conditions(policy: Manifest, rule: Mapping[str, Any], conditions: Any) -> None:
    if conditions is None:
        return
    entries = conditions if isinstance(conditions, list) else [
        *(conditions.get("any") or []), *(conditions.get("all") or [])]  # fmt: skip
    for condition in entries:
        try:
            check_operator(condition.get("operator"), "condition")
        except PolicyError as err:
            raise refuse(policy, rule, str(err)) from err


def _check_foreach(policy: Manifest, rule: Mapping[str, Any], entry: Mapping[str, Any],
                   supplied: set[str]) -> None:  # fmt: skip
    _check_context(policy, rule, entry.get("context") or [], supplied)
    _check_conditions(policy, rule, entry.get("preconditions"))
    _check_conditions(policy, rule, (entry.get("deny") or {}).get("conditions"))
    for nested in entry.get("foreach") or []:
        _check_foreach(policy, rule, nested, supplied)
