"""Evaluate Kyverno ClusterPolicy validate rules as Kyverno's admission webhook does on CREATE.

Supported: ``match``/``exclude`` (``any``/``all`` of resource filters: kinds, names,
namespaces, selectors, namespaceSelector), ``preconditions``, and ``validate`` with
``pattern``, ``anyPattern``, ``deny.conditions`` and ``foreach`` (``list``, ``pattern``,
``deny``, ``preconditions``). Rules that match only Pods are extended to the pod templates
of the pod controllers as Kyverno's auto-generation does (``autogen-<rule>`` and
``autogen-cronjob-<rule>``). A validate rule using anything else (CEL, podSecurity,
manifests) is a :class:`PolicyError`, never skipped. ``Enforce`` gives ``Deny``;
``Audit`` gives ``Warn`` with ``emitWarning`` and ``Audit`` otherwise.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from gitops.constructs.base import provenance
from gitops.errors import PolicyError
from gitops.model import Manifest
from gitops.policy.kyverno_pattern import conditions_hold, match, query, substitute
from gitops.policy.selectors import ObjectContext, selector_matches
from gitops.policy.violation import Violation

_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet",
                   "ReplicationController")  # fmt: skip
_AUTOGEN_ANNOTATION = "pod-policies.kyverno.io/autogen-controllers"
_SUPPORTED = ("message", "pattern", "anyPattern", "deny", "foreach", "failureAction",
              "failureActionOverrides", "allowExistingViolations")  # fmt: skip


def evaluate_cluster_policies(
    policies: Sequence[Manifest], objects: Sequence[Manifest], namespaces: Mapping[str, Manifest]
) -> list[Violation]:
    """Evaluate Kyverno ClusterPolicies against ``objects`` (unordered result).

    Raises:
        PolicyError: a rule uses a validation form this evaluator does not implement.
    """
    contexts = [ObjectContext.of(obj, namespaces) for obj in objects]
    out: list[Violation] = []
    for policy in policies:
        name = str(policy.get("metadata", {}).get("name", "?"))
        spec = policy.get("spec") or {}
        for rule in spec.get("rules") or []:
            if "validate" not in rule:
                continue  # mutate/generate/verifyImages rules do not reject objects
            _check_supported(name, rule)
            for context in contexts:
                out.extend(_evaluate_rule(policy, rule, context))
    return out


def _check_supported(policy: str, rule: Mapping[str, Any]) -> None:
    unknown = sorted(set(rule["validate"]) - set(_SUPPORTED))
    if unknown:
        raise PolicyError(
            f"ClusterPolicy {policy!r} rule {rule.get('name')!r}: validate.{unknown[0]} is not "
            "supported by gitops check (supported: pattern, anyPattern, deny, foreach)"
        )


def _action(spec: Mapping[str, Any], validate: Mapping[str, Any]) -> str:
    mode = str(validate.get("failureAction") or spec.get("validationFailureAction") or "Audit")
    if mode.lower() == "enforce":
        return "Deny"
    return "Warn" if spec.get("emitWarning") else "Audit"


def _pod_view(
    context: ObjectContext, rule: Mapping[str, Any], annotations: Mapping[str, Any]
) -> tuple[str, Manifest] | None:
    """The (rule name prefix, pod-like object) Kyverno auto-generation would check, or None."""
    kinds = [
        kind
        for block in ("any", "all")
        for entry in (rule.get("match") or {}).get(block) or []
        for kind in (entry.get("resources") or {}).get("kinds") or []
    ]
    if not kinds or any(kind.split("/")[-1] != "Pod" for kind in kinds):
        return None
    controllers = str(annotations.get(_AUTOGEN_ANNOTATION, "all"))
    kind = context.key.kind
    if controllers == "none" or (controllers != "all" and kind not in controllers.split(",")):
        return None
    spec = context.obj.get("spec") or {}
    if kind in _TEMPLATE_KINDS:
        template, prefix = spec.get("template"), "autogen-"
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        template, prefix = job.get("template"), "autogen-cronjob-"
    else:
        return None
    if not isinstance(template, Mapping):
        return None
    metadata = dict(template.get("metadata") or {})
    metadata.setdefault("namespace", context.key.namespace)
    view = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec")}
    return prefix, view


def _filter_matches(entry: Mapping[str, Any], context: ObjectContext, kind: str) -> bool:
    resources = entry.get("resources") or {}
    kinds = resources.get("kinds")
    if kinds and not any(k.split("/")[-1] in (kind, "*") for k in kinds):
        return False
    names = resources.get("names") or ([resources["name"]] if resources.get("name") else [])
    if names and not any(fnmatch.fnmatchcase(context.key.name, n) for n in names):
        return False
    namespaces = resources.get("namespaces")
    if namespaces and not any(fnmatch.fnmatchcase(context.key.namespace, n) for n in namespaces):
        return False
    if "selector" in resources and not selector_matches(resources["selector"], context.labels):
        return False
    ns_selector = resources.get("namespaceSelector")
    return ns_selector is None or selector_matches(ns_selector, context.namespace_labels)


def _block_matches(block: Any, context: ObjectContext, kind: str, empty: bool) -> bool:
    if not block:
        return empty
    any_of, all_of = block.get("any"), block.get("all")
    if any_of is None and all_of is None:
        return _filter_matches(block, context, kind)
    if any_of is not None and not any(_filter_matches(e, context, kind) for e in any_of):
        return False
    return all_of is None or all(_filter_matches(e, context, kind) for e in all_of)


def _evaluate_rule(
    policy: Manifest, rule: Mapping[str, Any], context: ObjectContext
) -> list[Violation]:
    metadata = policy.get("metadata") or {}
    name, spec = str(metadata.get("name", "?")), policy.get("spec") or {}
    annotations = metadata.get("annotations") or {}
    rule_name, target, kind = str(rule.get("name")), context.obj, context.key.kind
    base = ""
    view = _pod_view(context, rule, annotations)
    if view is not None:
        prefix, target = view
        rule_name, kind = prefix + rule_name, "Pod"
        # Report paths in the controller, as Kyverno's generated rules do.
        base = "/spec/jobTemplate/spec/template" if "cronjob" in prefix else "/spec/template"
    if not _block_matches(rule.get("match"), context, kind, empty=False):
        return []
    if _block_matches(rule.get("exclude"), context, kind, empty=False):
        return []
    request = {
        "object": target,
        "operation": "CREATE",
        "namespace": context.key.namespace,
        "name": context.key.name,
    }
    variables: dict[str, Any] = {"request": request}
    if not conditions_hold(rule.get("preconditions"), variables):
        return []
    validate = rule["validate"]
    failure = _failure(validate, target, variables)
    if failure is None:
        return []
    message = " ".join(str(substitute(validate.get("message", ""), variables)).split())
    text = f"{message} (rule failed at path {base}{failure})" if failure else message
    return [
        Violation(context.key, name, rule_name, _action(spec, validate), text,
                  provenance(context.obj))
    ]  # fmt: skip


def _failure(validate: Mapping[str, Any], target: Any, variables: dict[str, Any]) -> str | None:
    """The path (or "" when none) where ``target`` fails ``validate``, or None if it passes."""
    if "pattern" in validate:
        outcome = match(target, validate["pattern"])
        return outcome[1] if outcome is not None and outcome[0] == "fail" else None
    if "anyPattern" in validate:
        outcomes = [match(target, p) for p in validate["anyPattern"]]
        if any(o is None or o[0] == "skip" for o in outcomes):
            return None
        return outcomes[0][1] if outcomes and outcomes[0] else ""
    if "deny" in validate:
        return (
            "" if conditions_hold((validate["deny"] or {}).get("conditions"), variables) else None
        )
    for entry in validate.get("foreach") or []:
        elements = query(str(entry.get("list", "")), variables) or []
        if not isinstance(elements, list):
            raise PolicyError(f"foreach list {entry.get('list')!r} is not a list")
        for index, element in enumerate(elements):
            scope = {**variables, "element": element, "elementIndex": index}
            if not conditions_hold(entry.get("preconditions"), scope):
                continue
            if "pattern" in entry:
                outcome = match(element, entry["pattern"], f"/{index}/")
                if outcome is not None and outcome[0] == "fail":
                    return outcome[1]
            elif "deny" in entry and conditions_hold(
                (entry["deny"] or {}).get("conditions"), scope
            ):
                return ""
    return None
