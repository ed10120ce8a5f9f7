"""Evaluate Kyverno policies' validate rules as Kyverno's admission webhook does on CREATE.

Each ``ClusterPolicy`` (and namespaced ``Policy``, for objects of its namespace) is
checked for what render time cannot know (:mod:`gitops.policy.kyverno_features`); then
every validate rule gives one :class:`RuleResult` per object it matches
(:mod:`gitops.policy.kyverno_match`, with Pod controller autogen):

- ``context`` variables (``variable`` entries, or values supplied with ``--values``), then
  ``preconditions`` (unmet: ``skip``);
- ``pattern`` / ``anyPattern`` (:mod:`gitops.policy.kyverno_pattern`), ``deny``
  conditions, ``foreach`` (nested, with ``element``/``elementIndex``), ``cel``
  (:mod:`gitops.policy.kyverno_cel`) and ``podSecurity``
  (:mod:`gitops.policy.pod_security`), with Kyverno's pass/fail/skip/error outcomes.

``validationFailureAction`` (or the rule's ``failureAction``, and their per-namespace
overrides) ``Enforce`` gives ``Deny``; ``Audit`` gives ``Warn`` with ``emitWarning`` and
``Audit`` otherwise.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gitops.core.keys import CLUSTER_SCOPED_KINDS, Manifest, key_of
from gitops.core.labels import provenance
from gitops.policy.kyverno_cel import cel_preconditions_hold, validate_cel
from gitops.policy.kyverno_conditions import conditions_hold
from gitops.policy.kyverno_features import check_policy
from gitops.policy.kyverno_images import images_of
from gitops.policy.kyverno_match import (
    AUTOGEN_ANNOTATION,
    autogen_applies,
    block_matches,
    own_view,
    pod_view,
)
from gitops.policy.kyverno_pattern import match
from gitops.policy.kyverno_values import Values
from gitops.policy.kyverno_vars import (
    VariableError,
    has_variables,
    query,
    substitute,
    to_text,
)
from gitops.policy.pod_security import validate_pod_security
from gitops.policy.selectors import ObjectContext, selector_matches
from gitops.policy.violation import RuleResult

#: (result, message): ``pass``/``fail``/``skip``/``error`` and why.
Outcome = tuple[str, str]


def evaluate_kyverno(
    policies: Sequence[Manifest],
    objects: Sequence[Manifest],
    namespaces: Mapping[str, Manifest],
    values: Values | None = None,
    passes: bool = True,
) -> list[RuleResult]:
    """Every validate rule's result on every object it applies to (unordered).

    With ``passes`` false only ``fail`` and ``error`` results are returned (what
    violations need), which saves building one result per passing object and rule.

    Raises:
        PolicyError: a policy needs what render time cannot know, or is malformed.
    """
    values = values or Values()
    for policy in policies:
        check_policy(policy, values)
    states = [_ObjectState(obj, namespaces) for obj in objects]
    out: list[RuleResult] = []
    for policy in policies:
        metadata = policy.get("metadata") or {}
        own_namespace = metadata.get("namespace") if policy.get("kind") == "Policy" else None
        for rule in (policy.get("spec") or {}).get("rules") or []:
            if "validate" not in rule:
                continue  # mutate/generate rules do not reject objects
            plan = _Plan(policy, rule)
            for state in states:
                if own_namespace is not None and state.context.key.namespace != own_namespace:
                    continue
                result = _evaluate_rule(plan, state, values, passes)
                if result is not None:
                    out.append(result)
    return out


_IMAGES = re.compile(r"\{\{[^}]*\bimages\b")


class _Plan:
    """What a rule needs, worked out once for all objects."""

    __slots__ = ("autogen", "controllers", "policy", "rule", "rule_name", "spec", "variables")

    def __init__(self, policy: Manifest, rule: Mapping[str, Any]) -> None:
        metadata = policy.get("metadata") or {}
        self.policy, self.rule, self.spec = (
            str(metadata.get("name", "?")),
            rule,
            policy.get("spec") or {},
        )
        self.rule_name = str(rule.get("name"))
        self.autogen = autogen_applies(rule)
        self.controllers = str((metadata.get("annotations") or {}).get(AUTOGEN_ANNOTATION, "all"))
        # The images variable is parsed only for rules that read it.
        self.variables = _IMAGES.search(json.dumps(rule, default=str)) is not None


class _ObjectState:
    """An object under admission, with what every rule shares computed once."""

    __slots__ = ("_images", "_obj", "_provenance", "_requests", "_views", "context", "key")

    def __init__(self, obj: Manifest, namespaces: Mapping[str, Manifest]) -> None:
        placed = _placed(obj)
        self.context = ObjectContext.of(placed, namespaces)
        # Results name the object as given (no namespace added).
        self.key = self.context.key if placed is obj else key_of(obj)
        self._obj = obj
        self._provenance: str | None = None
        self._views: dict[str, Any] = {}
        self._images: dict[int, Any] = {}
        self._requests: dict[int, dict[str, Any]] = {}

    def view(self, plan: _Plan) -> Any:
        """The object as the rule sees it (a controller's pod template for autogen)."""
        if not plan.autogen or self.context.key.kind == "Pod":
            return self._cached("", lambda: own_view(self.context))
        return self._cached(
            plan.controllers,
            lambda: (
                pod_view(self.context, {AUTOGEN_ANNOTATION: plan.controllers})
                or own_view(self.context)
            ),
        )

    def _cached(self, key: str, make: Any) -> Any:
        if key not in self._views:
            self._views[key] = make()
        return self._views[key]

    @property
    def provenance(self) -> str:
        """Where the object came from (worked out only for reported results)."""
        if self._provenance is None:
            self._provenance = provenance(self._obj)
        return self._provenance

    def request(self, view: Any) -> dict[str, Any]:
        """The ``request`` variable of a CREATE of this object, as ``view`` sees it."""
        made = self._requests.get(id(view))
        if made is None:
            key = self.context.key
            made = self._requests[id(view)] = {
                "operation": "CREATE",
                "object": view.target,
                "oldObject": None,
                "namespace": key.namespace,
                "name": key.name,
                "kind": {"group": key.group, "version": key.version, "kind": key.kind},
                "dryRun": False,
            }
        return made

    def images(self, target: Manifest) -> Any:
        """The images variable of ``target`` (parsed once)."""
        if id(target) not in self._images:
            self._images[id(target)] = images_of(target)
        return self._images[id(target)]


#: Cluster-scoped kinds besides gitops.core.yaml_io's (which lists those gitops renders).
_MORE_CLUSTER_KINDS = frozenset({
    "FlowSchema", "PriorityLevelConfiguration", "PodSecurityPolicy", "CSIDriver", "CSINode",
    "VolumeAttachment", "CertificateSigningRequest", "ClusterIssuer", "ClusterPolicyReport",
    "ClusterCleanupPolicy", "ClusterTrustBundle", "ValidatingPolicy", "ImageValidatingPolicy",
})  # fmt: skip


def _placed(obj: Manifest) -> Manifest:
    """A namespaced object without a namespace, as admitted: in ``default``.

    kubectl (with no namespace in its context) and the Kyverno CLI put it there, so
    Kyverno's rules see ``metadata.namespace: default``.
    """
    metadata = obj.get("metadata") or {}
    kind = obj.get("kind")
    if metadata.get("namespace") or kind in CLUSTER_SCOPED_KINDS or kind in _MORE_CLUSTER_KINDS:
        return obj
    return {**obj, "metadata": {**metadata, "namespace": "default"}}


def _evaluate_rule(
    plan: _Plan, state: _ObjectState, values: Values, passes: bool
) -> RuleResult | None:
    context, rule = state.context, plan.rule
    view = state.view(plan)
    if not block_matches(rule.get("match"), context, view):
        return None
    if rule.get("exclude") and block_matches(rule["exclude"], context, view):
        return None
    variables: dict[str, Any] = {"request": state.request(view)}
    if plan.variables:
        variables["images"] = state.images(view.target)
    if values.any:
        variables = values.apply(variables, plan.policy, plan.rule_name, context.key.name)
    result, message = _validate(rule, view.target, context, variables, view.base)
    if not passes and result in ("pass", "skip"):
        return None
    action = _action(plan.spec, rule["validate"], context)
    return RuleResult(state.key, plan.policy, view.prefix + plan.rule_name, result, action,
                      message, state.provenance)  # fmt: skip


def _validate(rule: Mapping[str, Any], target: Manifest, context: ObjectContext,
              variables: dict[str, Any], base: str) -> Outcome:  # fmt: skip
    try:
        _load_context(rule.get("context") or [], variables)
    except VariableError as err:
        return "error", f"failed to load context: {err}"
    if not conditions_hold(rule.get("preconditions"), variables, lenient=True):
        return "skip", "preconditions not met"
    if rule.get("celPreconditions"):
        held = cel_preconditions_hold(rule["celPreconditions"], target, context)
        if held is not True:
            return ("skip", "cel preconditions not met") if held is False else ("error", held)
    validate = rule["validate"]
    if "cel" in validate:
        return validate_cel(validate["cel"], target, context)
    if "podSecurity" in validate:
        return validate_pod_security(validate["podSecurity"], target)
    if "foreach" in validate:
        return _foreach(validate, validate["foreach"], variables, 0, base)
    return _check(validate, target, variables, base)


def _load_context(entries: list[Mapping[str, Any]], variables: dict[str, Any]) -> None:
    """Add ``variable`` context entries (others were refused or supplied by values)."""
    for entry in entries:
        name = str(entry.get("name"))
        variable = entry.get("variable")
        if variable is None or _has_path(variables, name):
            continue  # supplied by --values (check_policy refused it otherwise)
        value: Any = None
        if "value" in variable:
            value = substitute(variable["value"], variables)
            if variable.get("jmesPath"):
                value = query(str(substitute(variable["jmesPath"], variables)), value)
        elif variable.get("jmesPath"):
            value = query(str(substitute(variable["jmesPath"], variables)), variables)
        if value is None and "default" in variable:
            value = substitute(variable["default"], variables)
        if value is None:
            raise VariableError(f"context entry {name!r} resolved to nothing")
        _set_path(variables, name, value)


def _has_path(variables: Mapping[str, Any], dotted: str) -> bool:
    node: Any = variables
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _set_path(variables: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = variables
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _message(validate: Mapping[str, Any], variables: Mapping[str, Any]) -> str:
    raw = validate.get("message", "")
    try:
        text = substitute(raw, variables) if has_variables(raw) else raw
    except VariableError:
        text = raw  # Kyverno keeps the raw message when it cannot substitute it
    return " ".join(to_text(text).split())


def _check(validate: Mapping[str, Any], target: Any, variables: dict[str, Any],
           base: str, prefix: str = "/") -> Outcome:  # fmt: skip
    """One pattern / anyPattern / deny check (rule level or one foreach element)."""
    if "deny" in validate:
        try:
            denied = conditions_hold((validate["deny"] or {}).get("conditions"), variables)
        except VariableError as err:
            return "error", f"failed to check deny conditions: {err}"
        return ("fail", _message(validate, variables)) if denied else ("pass", "")
    if "pattern" in validate or "anyPattern" in validate:
        try:
            pattern = validate.get("pattern")
            patterns = [pattern] if "pattern" in validate else validate["anyPattern"] or []
            if has_variables(pattern if "pattern" in validate else validate["anyPattern"]):
                patterns = substitute(patterns, variables)
        except VariableError as err:
            return "error", f"variable substitution failed: {err}"
        outcomes = [match(target, p, prefix) for p in patterns]
        if any(o is None for o in outcomes):
            return "pass", ""
        if all(o is not None and o[0] in ("skip", "global") for o in outcomes):
            return "skip", "conditional anchor did not hold"
        failed = next(o for o in outcomes if o is not None and o[0] == "fail")
        return "fail", f"{_message(validate, variables)} (rule failed at path {base}{failed[1]})"
    return "pass", ""


def _foreach(validate: Mapping[str, Any], entries: list[Mapping[str, Any]],
             variables: dict[str, Any], nesting: int, base: str) -> Outcome:  # fmt: skip
    """Kyverno's validateForEach: any failing element fails; none applied is a skip."""
    applied = 0
    for entry in entries:
        try:
            elements = query(str(entry.get("list", "")), variables)
        except VariableError:
            continue  # upstream logs "failed to evaluate list" and moves on
        if not isinstance(elements, list):
            elements = [elements]
        for index, element in enumerate(elements):
            if element is None:
                continue
            scope = {**variables, "element": element, f"element{nesting}": element,
                     "elementIndex": index, f"elementIndex{nesting}": index}  # fmt: skip
            result, message = _element(validate, entry, element, scope, nesting, base)
            if result in ("skip",):
                continue
            if result == "error" and index < len(elements) - 1:
                continue
            if result != "pass":
                return result, f"validation failure: {message}"
            applied += 1
    return ("pass", "") if applied else ("skip", "no element of the foreach lists applied")


def _element(validate: Mapping[str, Any], entry: Mapping[str, Any], element: Any,
             scope: dict[str, Any], nesting: int, base: str) -> Outcome:  # fmt: skip
    try:
        _load_context(entry.get("context") or [], scope)
    except VariableError as err:
        return "error", f"failed to load context: {err}"
    if not conditions_hold(entry.get("preconditions"), scope, lenient=True):
        return "skip", "preconditions not met"
    if "foreach" in entry:
        return _foreach(validate, entry["foreach"], scope, nesting + 1, base)
    check = {**entry, "message": validate.get("message", "")}
    scoped = entry.get("elementScope", "deny" not in entry)
    target = element if scoped else scope["request"]["object"]
    return _check(check, target, scope, base)


def _action(spec: Mapping[str, Any], validate: Mapping[str, Any], context: ObjectContext) -> str:
    mode = str(validate.get("failureAction") or spec.get("validationFailureAction") or "Audit")
    overrides = validate.get("failureActionOverrides")
    if overrides is None:
        overrides = spec.get("validationFailureActionOverrides") or []
    for override in overrides:
        names = override.get("namespaces") or []
        selector = override.get("namespaceSelector")
        in_names = not names or any(
            str(n) == context.key.namespace or _wild(str(n), context.key.namespace) for n in names
        )
        selected = selector is None or selector_matches(selector, context.namespace_labels)
        if in_names and selected and (names or selector is not None):
            mode = str(override.get("action", mode))
            break
    if mode.lower() == "enforce":
        return "Deny"
    return "Warn" if spec.get("emitWarning") else "Audit"


def _wild(pattern: str, text: str) -> bool:
    from gitops.policy.kyverno_functions import wildcard_match

    return wildcard_match(pattern, text)
