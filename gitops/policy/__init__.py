"""Render-time evaluation of admission policies: what the API server would reject or warn.

:func:`evaluate` checks rendered manifests against the ValidatingAdmissionPolicies (with
their bindings) and Kyverno ClusterPolicies found among them or given as extra policies,
as the API server and Kyverno would on CREATE. Evaluation is pure (no I/O);
:func:`load_policies` reads policy files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gitops.core.errors import PolicyError
from gitops.core.keys import Manifest, ResourceKey, key_of, sort_key
from gitops.core.redact import MASK, is_secret, scrub_text
from gitops.policy.violation import RuleResult, Violation, ordered

if TYPE_CHECKING:
    from gitops.policy.kyverno_values import Values
    from gitops.policy.loader import load_policies, load_values

# The engines (CEL, JMESPath, RE2) load when something is evaluated: importing
# gitops.policy.violation (the capacity and exposure checks, a fully cached render)
# runs this file, and must not pay for them.
_LAZY = {
    "Values": "gitops.policy.kyverno_values",
    "load_policies": "gitops.policy.loader",
    "load_values": "gitops.policy.loader",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["RuleResult", "Values", "Violation", "evaluate", "load_policies", "load_values",
           "report"]  # fmt: skip

_VAP_GROUP = "admissionregistration.k8s.io/"
_SECRET_FIELDS = ("data", "stringData")
#: Shown instead of the message of a rule that fails a Secret only because of its values.
WITHHELD = "message withheld: it depends on the Secret's values"


def evaluate(
    manifests: Sequence[Manifest],
    extra_policies: Sequence[Manifest] = (),
    values: Values | None = None,
) -> list[Violation]:
    """Check every object against every admission policy, in a deterministic order.

    Policies are the ValidatingAdmissionPolicy/-Binding and Kyverno ClusterPolicy/Policy
    objects in ``manifests`` plus ``extra_policies``; every object of ``manifests`` is
    checked (policies included, as the API server would admit them too). Namespace
    selectors see the labels of the Namespace objects in ``manifests``. ``values`` supplies
    what Kyverno policies would read from the cluster (:class:`Values`).

    Raises:
        PolicyError: a policy cannot be compiled (its name and the expression named), or
            needs what render time cannot know (policy, rule and feature named).
    """
    found, results = _evaluate(manifests, extra_policies, values, passes=False)
    found.extend(r.violation() for r in results if r.result in ("fail", "error"))
    return ordered(_masked_messages(found, manifests, extra_policies, values))


def report(
    manifests: Sequence[Manifest],
    extra_policies: Sequence[Manifest] = (),
    values: Values | None = None,
) -> tuple[list[Violation], list[RuleResult]]:
    """Violations (as :func:`evaluate`) and every Kyverno rule result, passes and skips too.

    The results are what a Kyverno PolicyReport lists for the objects: one per object and
    validate rule that matched it, in a deterministic order.

    Raises:
        PolicyError: as :func:`evaluate`.
    """
    found, results = _evaluate(manifests, extra_policies, values, passes=True)
    found.extend(r.violation() for r in results if r.result in ("fail", "error"))
    scrubbed = _masked_messages(results, manifests, extra_policies, values)
    scrubbed.sort(key=lambda r: (sort_key(r.key), r.policy, r.rule, r.result, r.message))
    return ordered(_masked_messages(found, manifests, extra_policies, values)), scrubbed


def _evaluate(
    manifests: Sequence[Manifest],
    extra_policies: Sequence[Manifest],
    values: Values | None,
    passes: bool,
) -> tuple[list[Violation], list[RuleResult]]:
    from gitops.policy.kyverno import evaluate_kyverno
    from gitops.policy.set_rules import evaluate_set_rules
    from gitops.policy.vap import checked_spec, evaluate_policies

    everything = [*manifests, *extra_policies]
    policies = [m for m in everything if _is(m, _VAP_GROUP, "ValidatingAdmissionPolicy")]
    bindings = [m for m in everything if _is(m, _VAP_GROUP, "ValidatingAdmissionPolicyBinding")]
    kyverno = [
        m for m in everything
        if _is(m, "kyverno.io/", "ClusterPolicy") or _is(m, "kyverno.io/", "Policy")
    ]  # fmt: skip
    for manifest in everything:
        _refuse_unsupported(manifest)
    namespaces = {
        str(m["metadata"]["name"]): m
        for m in manifests
        if m.get("apiVersion") == "v1" and m.get("kind") == "Namespace"
    }
    if values is not None and values.namespace_labels:
        namespaces = {**_labelled(values), **namespaces}
    for policy in kyverno:
        owner = f"{policy['kind']} {policy['metadata'].get('name')!r}"
        checked_spec(policy, owner, ("rules",))
    found = evaluate_policies(policies, bindings, manifests, namespaces)
    found.extend(evaluate_set_rules(manifests))
    return found, evaluate_kyverno(kyverno, manifests, namespaces, values, passes)


#: Admission-relevant Kyverno kinds the engine does not evaluate: their verdicts (or the
#: exemptions they grant) would be missing, so they are refused rather than ignored.
_UNSUPPORTED_KYVERNO = {
    "policies.kyverno.io/": ("ValidatingPolicy", "ImageValidatingPolicy", "MutatingPolicy",
                             "NamespacedValidatingPolicy", "PolicyException"),
    "kyverno.io/": ("PolicyException",),
}  # fmt: skip


def _refuse_unsupported(manifest: Manifest) -> None:
    for group, kinds in _UNSUPPORTED_KYVERNO.items():
        for kind in kinds:
            if _is(manifest, group, kind):
                name = (manifest.get("metadata") or {}).get("name")
                raise PolicyError(
                    f"{manifest.get('apiVersion')} {kind} {name!r}: gitops check does not "
                    f"evaluate {kind} objects; it refuses them rather than ignore them"
                )


def _labelled(values: Values) -> dict[str, Manifest]:
    """Namespaces a values file describes (its namespaceSelector labels)."""
    return {
        name: {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "labels": dict(labels)}}
        for name, labels in values.namespace_labels.items()
    }  # fmt: skip


def _masked_messages(
    found: list[Any],
    manifests: Sequence[Manifest],
    extra_policies: Sequence[Manifest],
    values: Values | None,
) -> list[Any]:
    """Violations (or rule results) with the messages about a Secret computed without it.

    A message may be computed from what it checks (a messageExpression, a Kyverno
    ``{{...}}`` with any JMESPath function, an error quoting a value with its whitespace
    changed): no masking of the output can recognise every transformation of a value.
    The messages about a Secret are therefore those the same policies give for its
    *masked twin* (every value replaced by ``***``), or :data:`WITHHELD` when the twin
    passes the rule (only the values made it fail). Literal values are scrubbed as well.
    """
    secrets = {key_of(m): m for m in manifests if is_secret(m) and _has_values(m)}
    if not any(item.key in secrets for item in found):
        return found
    twins = [_masked(m) for m in secrets.values()]
    context = [m for m in manifests if not is_secret(m) and _is_context(m)]
    twin_found, twin_results = _evaluate([*context, *twins], extra_policies, values, passes=True)
    twin_found.extend(r.violation() for r in twin_results if r.result in ("fail", "error"))
    messages = {_slot(v): v.message for v in twin_found}
    messages.update({_slot(r): r.message for r in twin_results})
    out: list[Any] = []
    for item in found:
        if item.key in secrets:
            message = messages.get(_slot(item), WITHHELD)
            item = replace(item, message=scrub_text(message, secrets[item.key]))
        out.append(item)
    return out


def _slot(item: Any) -> tuple[ResourceKey, str, str, str, str]:
    """What identifies a violation or rule result apart from its message."""
    return (item.key, type(item).__name__, item.policy, item.rule, getattr(item, "result", ""))


def _has_values(manifest: Manifest) -> bool:
    return any(manifest.get(section) not in (None, "", [], {}) for section in _SECRET_FIELDS)


def _is_context(manifest: Manifest) -> bool:
    """Policies and Namespaces: what evaluating another object reads."""
    kind = manifest.get("kind")
    return kind == "Namespace" or str(manifest.get("apiVersion", "")).startswith(
        (_VAP_GROUP, "kyverno.io/")
    )


def _masked(manifest: Manifest) -> Manifest:
    """``manifest`` with every value of ``data``/``stringData`` replaced by the mask."""
    out = dict(manifest)
    for section in _SECRET_FIELDS:
        section_values = out.get(section)
        if isinstance(section_values, Mapping):
            out[section] = dict.fromkeys(section_values, MASK)
        elif section_values is not None:
            out[section] = MASK
    return out


def _is(manifest: Manifest, group: str, kind: str) -> bool:
    return manifest.get("kind") == kind and str(manifest.get("apiVersion", "")).startswith(group)
