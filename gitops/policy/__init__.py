"""Render-time evaluation of admission policies: what the API server would reject or warn.

:func:`evaluate` checks rendered manifests against the ValidatingAdmissionPolicies (with
their bindings) and Kyverno ClusterPolicies found among them or given as extra policies,
as the API server and Kyverno would on CREATE. Evaluation is pure (no I/O);
:func:`load_policies` reads policy files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gitops.model import Manifest, key_of
from gitops.policy.kyverno import evaluate_cluster_policies
from gitops.policy.loader import load_policies
from gitops.policy.vap import evaluate_policies
from gitops.policy.violation import Violation, ordered
from gitops.redact import is_secret, scrub_text

__all__ = ["Violation", "evaluate", "load_policies"]

_VAP_GROUP = "admissionregistration.k8s.io/"


def evaluate(
    manifests: Sequence[Manifest], extra_policies: Sequence[Manifest] = ()
) -> list[Violation]:
    """Check every object against every admission policy, in a deterministic order.

    Policies are the ValidatingAdmissionPolicy/-Binding and Kyverno ClusterPolicy objects
    in ``manifests`` plus ``extra_policies``; every object of ``manifests`` is checked
    (policies included, as the API server would admit them too). Namespace selectors see
    the labels of the Namespace objects in ``manifests``.

    Raises:
        PolicyError: a policy cannot be compiled (its name and the expression named).
    """
    everything = [*manifests, *extra_policies]
    policies = [m for m in everything if _is(m, _VAP_GROUP, "ValidatingAdmissionPolicy")]
    bindings = [m for m in everything if _is(m, _VAP_GROUP, "ValidatingAdmissionPolicyBinding")]
    kyverno = [m for m in everything if _is(m, "kyverno.io/", "ClusterPolicy")]
    namespaces = {
        str(m["metadata"]["name"]): m
        for m in manifests
        if m.get("apiVersion") == "v1" and m.get("kind") == "Namespace"
    }
    found = evaluate_policies(policies, bindings, manifests, namespaces)
    found.extend(evaluate_cluster_policies(kyverno, manifests, namespaces))
    return ordered(_scrubbed(found, manifests))


def _scrubbed(found: list[Violation], manifests: Sequence[Manifest]) -> list[Violation]:
    """Violations with any Secret value masked: a message may quote the object it checks."""
    secrets = {key_of(m): m for m in manifests if is_secret(m)}
    return [
        replace(v, message=scrub_text(v.message, secrets[v.key])) if v.key in secrets else v
        for v in found
    ]


def _is(manifest: Manifest, group: str, kind: str) -> bool:
    return manifest.get("kind") == kind and str(manifest.get("apiVersion", "")).startswith(group)
