"""The result of policy evaluation: one :class:`Violation` per object, policy and rule.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops.core.keys import ResourceKey, sort_key

#: Actions from strongest to weakest.
ACTIONS = ("Deny", "Warn", "Audit")


@dataclass(frozen=True)
class Violation:
    """One object failing one rule of one policy.

    Attributes:
        key: the object that fails.
        policy: the ValidatingAdmissionPolicy or ClusterPolicy name.
        rule: the validation (``validations[0]``, or a ``matchConditions``/``variables``
            entry when it failed to evaluate) or the Kyverno rule name.
        action: ``Deny`` (the API server would reject the object), ``Warn`` or ``Audit``.
        message: what is wrong, one line.
        provenance: where the object came from (blueprint, environment, construct).
    """

    key: ResourceKey
    policy: str
    rule: str
    action: str
    message: str
    provenance: str

    def __str__(self) -> str:
        return (
            f"{self.action} {self.key}: {self.policy}/{self.rule}: {self.message} "
            f"({self.provenance})"
        )


def strongest(actions: list[str] | tuple[str, ...]) -> str:
    """The strongest of a binding's validation actions (``Deny`` > ``Warn`` > ``Audit``)."""
    for action in ACTIONS:
        if action in actions:
            return action
    return "Audit"


def ordered(violations: list[Violation]) -> list[Violation]:
    """Violations in a deterministic order: canonical object order, then policy and rule."""
    unique = {(v.key, v.policy, v.rule, v.action, v.message, v.provenance): v for v in violations}
    return sorted(
        unique.values(),
        key=lambda v: (sort_key(v.key), v.policy, v.rule, ACTIONS.index(v.action), v.message),
    )


#: Kyverno's rule outcomes (a PolicyReport's ``result``).
RESULTS = ("pass", "fail", "skip", "error")


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule of one policy on one object, as a PolicyReport lists it.

    Attributes:
        key: the object checked.
        policy: the policy name.
        rule: the rule name (``autogen-<rule>`` for a pod controller, as Kyverno names it).
        result: ``pass``, ``fail``, ``skip`` (a precondition or conditional anchor did not
            hold) or ``error`` (the rule could not be evaluated on this object).
        action: what a ``fail`` or ``error`` means: ``Deny``, ``Warn`` or ``Audit``.
        message: why, one line ("" for a pass).
        provenance: where the object came from.
    """

    key: ResourceKey
    policy: str
    rule: str
    result: str
    action: str
    message: str
    provenance: str

    def violation(self) -> Violation:
        """The violation a ``fail`` or ``error`` result reports."""
        message = self.message if self.result == "fail" else f"rule error: {self.message}"
        return Violation(self.key, self.policy, self.rule, self.action, message, self.provenance)
