"""Evaluate ValidatingAdmissionPolicies and their bindings as the API server does on CREATE.

Matching follows the API server: the policy's ``matchConstraints`` (resource rules,
exclusions, namespace and object selectors), then each binding's ``matchResources``, then
``matchConditions``. ``variables`` are evaluated lazily (a failing variable only matters to
the validations that use it). An expression that fails on an object follows
``failurePolicy``: ``Fail`` reports a violation carrying the error, ``Ignore`` drops it.
``paramKind`` policies are evaluated once per params object their binding's ``paramRef``
selects among the objects checked (:mod:`gitops.policy.vap_params`).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gitops.core.errors import PolicyError
from gitops.core.keys import Manifest
from gitops.core.labels import provenance
from gitops.core.redact import is_secret
from gitops.policy.cel import (
    Activation,
    Budget,
    BudgetExceeded,
    CelError,
    Program,
    compile_expression,
)
from gitops.policy.selectors import ObjectContext, selector_matches
from gitops.policy.vap_params import ParamsError, resolve_params
from gitops.policy.violation import Violation, strongest

#: ``RuntimeCELCostBudgetMatchConditions`` of k8s.io/apiserver/pkg/apis/cel/config.go.
RUNTIME_COST_BUDGET_MATCH_CONDITIONS = 2_500_000

_VARIABLE_USE = re.compile(r"\bvariables\.([A-Za-z_]\w*)")


@dataclass(frozen=True)
class _Validation:
    program: Program
    message: str | None
    message_expression: Program | None


#: A policy's variable values by name, and the variables that failed (with their error).
_Variables = tuple[dict[str, Any], dict[str, tuple[Program, CelError]]]


@dataclass(frozen=True)
class CompiledPolicy:
    """A ValidatingAdmissionPolicy with every expression compiled."""

    name: str
    spec: Mapping[str, Any]
    failure_policy: str
    match_conditions: tuple[tuple[str, Program], ...]
    variables: tuple[tuple[str, Program], ...]
    validations: tuple[_Validation, ...]


def compile_policy(policy: Manifest) -> CompiledPolicy:
    """Compile every expression of a ValidatingAdmissionPolicy.

    Raises:
        PolicyError: an expression does not compile (policy and expression named).
    """
    name = str(policy.get("metadata", {}).get("name", "?"))
    owner = f"ValidatingAdmissionPolicy {name!r}"
    spec = checked_spec(policy, owner, ("matchConditions", "variables", "validations"))

    def compiled(field: str, entry: Mapping[str, Any], key: str = "expression") -> Program:
        return compile_expression(entry.get(key), f"{owner}: {field}")

    conditions = tuple(
        (str(c.get("name", i)), compiled(f"matchConditions[{i}]", c))
        for i, c in enumerate(spec.get("matchConditions") or [])
    )
    variables = tuple(
        (str(v.get("name")), compiled(f"variables[{i}]", v))
        for i, v in enumerate(spec.get("variables") or [])
    )
    validations = tuple(
        _Validation(
            compiled(f"validations[{i}]", v),
            v.get("message"),
            compiled(f"validations[{i}].messageExpression", v, "messageExpression")
            if v.get("messageExpression")
            else None,
        )
        for i, v in enumerate(spec.get("validations") or [])
    )
    failure_policy = spec.get("failurePolicy", "Fail")
    if failure_policy not in ("Fail", "Ignore"):
        raise PolicyError(f"{owner}: failurePolicy must be Fail or Ignore, got {failure_policy!r}")
    return CompiledPolicy(name, spec, failure_policy, conditions, variables, validations)


def checked_spec(policy: Manifest, owner: str, lists: Sequence[str]) -> Mapping[str, Any]:
    """``policy``'s spec, checked to be a mapping whose ``lists`` are lists of mappings.

    The API server's schema refuses anything else when the policy is created; here it
    is one error naming the field instead of a crash deep in evaluation.

    Raises:
        PolicyError: the spec or one of its lists has another shape.
    """
    spec = policy.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise PolicyError(f"{owner}: spec must be a mapping, got {type(spec).__name__}")
    for field in lists:
        entries = spec.get(field) or []
        if not isinstance(entries, list):
            raise PolicyError(f"{owner}: spec.{field} must be a list, got {type(entries).__name__}")
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise PolicyError(
                    f"{owner}: spec.{field}[{index}] must be a mapping, got {type(entry).__name__}"
                )
    return spec


def evaluate_policies(
    policies: Sequence[Manifest],
    bindings: Sequence[Manifest],
    objects: Sequence[Manifest],
    namespaces: Mapping[str, Manifest],
) -> list[Violation]:
    """Evaluate ``policies`` through ``bindings`` against ``objects`` (unordered result).

    Args:
        policies: ValidatingAdmissionPolicy manifests.
        bindings: ValidatingAdmissionPolicyBinding manifests (a policy without one is
            not enforced, as in a cluster).
        objects: the objects to admit.
        namespaces: Namespace manifests by name, for namespace selectors.
    """
    compiled = {p.name: p for p in (compile_policy(policy) for policy in policies)}
    active: list[tuple[CompiledPolicy, Mapping[str, Any], str]] = []
    param_refs: dict[int, Mapping[str, Any]] = {}
    for binding in bindings:
        owner = f"ValidatingAdmissionPolicyBinding {binding['metadata'].get('name')!r}"
        spec = checked_spec(binding, owner, ())
        policy = compiled.get(str(spec.get("policyName")))
        if policy is not None:
            action = strongest(tuple(spec.get("validationActions") or ()))
            active.append((policy, spec.get("matchResources") or {}, action))
            param_refs[len(active) - 1] = spec
    out: list[Violation] = []
    for obj in objects:
        context = ObjectContext.of(obj, namespaces)
        state: _ObjectState | None = None
        for index, (policy, match_resources, action) in enumerate(active):
            if not _matches(policy.spec.get("matchConstraints") or {}, context):
                continue
            if not _matches(match_resources, context):
                continue
            state = state or _ObjectState(context)
            try:
                params = resolve_params(
                    policy.spec, param_refs[index], context.key.namespace, objects
                )
            except ParamsError as err:
                if policy.failure_policy == "Fail":
                    origin = provenance(obj)
                    out.append(
                        Violation(context.key, policy.name, "paramRef", action, str(err), origin)
                    )
                continue
            for param in params:  # each params object is its own evaluation and budget
                state.use_params(param)
                out.extend(_admit(policy, state, action))
    return out


class _ObjectState:
    """One object's CEL activation, and its variables memoized across policies.

    Policies that declare the same variables (every guardrail policy does) share their
    values: the expressions are pure, so evaluating them once per object is exact.
    """

    def __init__(self, context: ObjectContext) -> None:
        self.context = context
        self.activation = Activation(context.activation())
        self._memo: dict[tuple[int, tuple[tuple[str, str], ...]], _Variables] = {}
        self._bound: tuple[int, tuple[tuple[str, str], ...]] | None = None
        self._params: Manifest | None = None

    def use_params(self, params: Manifest | None) -> None:
        """Bind ``params`` for the evaluations that follow (variables memoized per params)."""
        if params is not self._params:
            self.activation.bind("params", params)
            self._params = params

    def variables(self, policy: CompiledPolicy, budget: Budget) -> _Variables:
        """Evaluate (or recall) ``policy``'s variables and bind them as ``variables``.

        A variable's cost is charged to the first policy that evaluates it.

        Raises:
            BudgetExceeded: evaluating them spent ``budget``.
        """
        key = (
            id(self._params),
            tuple((name, program.source) for name, program in policy.variables),
        )
        found = self._memo.get(key)
        if found is None:
            values: dict[str, Any] = {}
            errors: dict[str, tuple[Program, CelError]] = {}
            # Binding converts every value into CEL again, costing more than most
            # expressions: rebind only when a variable uses one not bound yet.
            bound: set[str] = set()
            self.activation.bind("variables", {})
            for name, program in policy.variables:
                if not _uses(program.source) <= bound:
                    self.activation.bind("variables", values)
                    bound = set(values)
                try:
                    values[name] = program.run(self.activation, budget)
                except CelError as err:
                    errors[name] = (program, err)
            if bound != set(values):
                self.activation.bind("variables", values)
            found = self._memo[key] = (values, errors)
            self._bound = key
        if self._bound != key:
            self.activation.bind("variables", found[0])
            self._bound = key
        return found


@lru_cache(maxsize=1024)
def _uses(source: str) -> frozenset[str]:
    """Names of the ``variables.<name>`` an expression reads."""
    return frozenset(_VARIABLE_USE.findall(source))


def _matches(constraints: Mapping[str, Any], context: ObjectContext) -> bool:
    rules = constraints.get("resourceRules")
    if rules is not None and not any(_rule_matches(rule, context) for rule in rules):
        return False
    if any(_rule_matches(rule, context) for rule in constraints.get("excludeResourceRules") or []):
        return False
    # namespaceSelector does not apply to cluster-scoped objects other than Namespaces.
    applies = not context.cluster_scoped or context.key.kind == "Namespace"
    if applies and not selector_matches(
        constraints.get("namespaceSelector"), context.namespace_labels
    ):
        return False
    return selector_matches(constraints.get("objectSelector"), context.labels)


def _rule_matches(rule: Mapping[str, Any], context: ObjectContext) -> bool:
    key = context.key

    def has(field: str, value: str) -> bool:
        values = rule.get(field) or []
        return "*" in values or value in values

    resources = rule.get("resources") or []
    names = rule.get("resourceNames") or []
    scope = rule.get("scope", "*")
    return (
        has("apiGroups", key.group)
        and has("apiVersions", key.version)
        and has("operations", "CREATE")
        and ("*" in resources or "*/*" in resources or context.resource in resources)
        and (not names or key.name in names)
        and (scope == "*" or (scope == "Namespaced") == bool(key.namespace))
    )


def _admit(policy: CompiledPolicy, state: _ObjectState, action: str) -> list[Violation]:
    activation = state.activation
    key, origin = state.context.key, provenance(state.context.obj)

    def failure(rule: str, program: Program, err: CelError, raw: bool = False) -> list[Violation]:
        if policy.failure_policy == "Ignore":
            return []
        message = str(err) if raw else f"expression '{program.source}' resulted in error: {err}"
        return [Violation(key, policy.name, rule, action, message, origin)]

    # The API server's budgets: one for the match conditions, one for the rest, per
    # policy, binding and object.
    conditions_budget = Budget(RUNTIME_COST_BUDGET_MATCH_CONDITIONS)
    for name, program in policy.match_conditions:
        try:
            if program.run(activation, conditions_budget) is not True:
                return []
        except CelError as err:
            return failure(f"matchConditions[{name}]", program, err)
        except BudgetExceeded as err:
            return failure(f"matchConditions[{name}]", program, CelError(str(err)), raw=True)
    budget = Budget()
    try:
        return _validate(policy, state, action, budget, failure)
    except BudgetExceeded as err:
        # Nothing more is evaluated; failurePolicy decides, as for any evaluation error.
        if policy.failure_policy == "Ignore":
            return []
        return [Violation(key, policy.name, "validations", action, str(err), origin)]


_Failure = Callable[..., list[Violation]]


def _validate(
    policy: CompiledPolicy, state: _ObjectState, action: str, budget: Budget, failure: _Failure
) -> list[Violation]:
    activation = state.activation
    key, origin = state.context.key, provenance(state.context.obj)
    _values, errors = state.variables(policy, budget)
    out: list[Violation] = []
    for index, validation in enumerate(policy.validations):
        rule = f"validations[{index}]"
        failed = [n for n in _VARIABLE_USE.findall(validation.program.source) if n in errors]
        if failed:
            out.extend(failure(f"variables[{failed[0]}]", *errors[failed[0]]))
            continue
        try:
            result = validation.program.run(activation, budget)
        except CelError as err:
            out.extend(failure(rule, validation.program, err))
            continue
        if not isinstance(result, bool):
            wrong = CelError(f"expression must evaluate to a bool, got {result!r}")
            out.extend(failure(rule, validation.program, wrong))
            continue
        if not result:
            message = _message(validation, activation, budget, is_secret(state.context.obj))
            out.append(Violation(key, policy.name, rule, action, message, origin))
    return out


def _message(
    validation: _Validation, activation: Activation, budget: Budget, secret: bool = False
) -> str:
    # A message computed from a Secret could carry its values: the static message instead.
    if validation.message_expression is not None and not secret:
        try:
            text = validation.message_expression.run(activation, budget)
        except CelError:
            text = None  # the API server falls back to the static message
        if isinstance(text, str) and text.strip() and "\n" not in text:
            return text
    if validation.message:
        return " ".join(str(validation.message).split())
    return f"failed expression: {validation.program.source}"
