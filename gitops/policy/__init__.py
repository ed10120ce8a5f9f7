"""Render-time evaluation of admission policies: what the API server would reject or warn.

:func:`evaluate` checks rendered manifests against the ValidatingAdmissionPolicies (with
their bindings) and Kyverno ClusterPolicies found among them or given as extra policies,
as the API server and Kyverno would on CREATE. Evaluation is pure (no I/O);
:func:`load_policies` reads policy files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gitops.model import Manifest, key_of, sort_key
from gitops.policy.kyverno import evaluate_kyverno
from gitops.policy.kyverno_values import Values
from gitops.policy.loader import load_policies, load_values
from gitops.policy.vap import evaluate_policies
from gitops.policy.violation import RuleResult, Violation, ordered
from gitops.redact import is_secret, scrub_text

__all__ = ["RuleResult", "Values", "Violation", "evaluate", "load_policies", "load_values",
           "report"]  # fmt: skip

_VAP_GROUP = "admissionregistration.k8s.io/"


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
    found, results = _evaluate(manifests, extra_policies, values)
    found.extend(r.violation() for r in results if r.result in ("fail", "error"))
    return ordered(_scrubbed(found, manifests))


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
    found, results = _evaluate(manifests, extra_policies, values)
    found.extend(r.violation() for r in results if r.result in ("fail", "error"))
    secrets = {key_of(m): m for m in manifests if is_secret(m)}
    scrubbed = [
        replace(r, message=scrub_text(r.message, secrets[r.key])) if r.key in secrets else r
        for r in results
    ]
    scrubbed.sort(key=lambda r: (sort_key(r.key), r.policy, r.rule, r.result, r.message))
    return ordered(_scrubbed(found, manifests)), scrubbed


def _evaluate(
    manifests: Sequence[Manifest], extra_policies: Sequence[Manifest], values: Values | None
) -> tuple[list[Violation], list[RuleResult]]:
    everything = [*manifests, *extra_policies]
    policies = [m for m in everything if _is(m, _VAP_GROUP, "ValidatingAdmissionPolicy")]
    bindings = [m for m in everything if _is(m, _VAP_GROUP, "ValidatingAdmissionPolicyBinding")]
    kyverno = [
        m for m in everything
        if _is(m, "kyverno.io/", "ClusterPolicy") or _is(m, "kyverno.io/", "Policy")
    ]  # fmt: skip
    namespaces = {
        str(m["metadata"]["name"]): m
        for m in manifests
        if m.get("apiVersion") == "v1" and m.get("kind") == "Namespace"
    }
    if values is not None and values.namespace_labels:
        namespaces = {**_labelled(values), **namespaces}
    found = evaluate_policies(policies, bindings, manifests, namespaces)
    return found, evaluate_kyverno(kyverno, manifests, namespaces, values)


def _labelled(values: Values) -> dict[str, Manifest]:
    """Namespaces a values file describes (its namespaceSelector labels)."""
    return {
        name: {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "labels": dict(labels)}}
        for name, labels in values.namespace_labels.items()
    }  # fmt: skip


def _scrubbed(found: list[Violation], manifests: Sequence[Manifest]) -> list[Violation]:
    """Violations with any Secret value masked: a message may quote the object it checks."""
    secrets = {key_of(m): m for m in manifests if is_secret(m)}
    return [
        replace(v, message=scrub_text(v.message, secrets[v.key])) if v.key in secrets else v
        for v in found
    ]


def _is(manifest: Manifest, group: str, kind: str) -> bool:
    return manifest.get("kind") == kind and str(manifest.get("apiVersion", "")).startswith(group)
