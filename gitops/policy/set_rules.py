"""Rules on the rendered set as a whole, where admission cannot judge: evaluated at render
and in ``plan`` with the guardrails' action.

- ``no-replicas-under-autoscaler``: a workload that sets ``spec.replicas`` while a
  HorizontalPodAutoscaler or KEDA ScaledObject of the same set targets it. Git and the
  autoscaler then fight over the replica count: every sync resets it, GPU pods are
  stopped and started again and reload their weights for minutes (argo-cd#5105,
  keda#3052). Admission cannot see it: the API server defaults ``spec.replicas``, so every
  admitted Deployment has one; only the manifest shows whether Git sets it.

Enabled when the set holds the gitops failure-mode guardrails (the
``gitops-gpu-startup-probe`` policy, either engine), with that policy's action.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitops.core.keys import Manifest, key_of
from gitops.core.labels import provenance
from gitops.policy.violation import Violation, strongest

#: The policy name set-rule violations carry.
REPLICAS_RULE = "gitops-no-replicas-under-autoscaler"
_MARKER = "gitops-gpu-startup-probe"


def evaluate_set_rules(manifests: Sequence[Manifest]) -> list[Violation]:
    """Violations of the set rules (none unless the failure-mode guardrails are in the set)."""
    action = _action(manifests)
    if action is None:
        return []
    targets = autoscaled(manifests)
    if not targets:
        return []
    out: list[Violation] = []
    for obj in manifests:
        if "replicas" not in (obj.get("spec") or {}):
            continue  # the cheap test first: a key per object of the set is most of the cost
        key = key_of(obj)
        if (key.namespace, key.kind, key.name) in targets:
            message = (
                f"spec.replicas is set but an autoscaler in the same set targets this "
                f"{key.kind}: leave replicas to the autoscaler (Git would reset it on every "
                "sync, restarting GPU pods)"
            )
            out.append(Violation(key, REPLICAS_RULE, "set", action, message, provenance(obj)))
    return out


#: Autoscaler kinds, by (group, kind).
_AUTOSCALERS = frozenset({("autoscaling", "HorizontalPodAutoscaler"), ("keda.sh", "ScaledObject")})
_AUTOSCALER_KINDS = frozenset(kind for _group, kind in _AUTOSCALERS)


def autoscaled(manifests: Sequence[Manifest]) -> set[tuple[str, str, str]]:
    """``(namespace, kind, name)`` of every workload an autoscaler of the set targets."""
    out: set[tuple[str, str, str]] = set()
    for obj in manifests:
        if obj.get("kind") not in _AUTOSCALER_KINDS:
            continue
        key = key_of(obj)
        if (key.group, key.kind) not in _AUTOSCALERS:
            continue
        target = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        # A ScaledObject's target kind defaults to Deployment.
        kind = str(target.get("kind") or "Deployment")
        out.add((key.namespace, kind, str(target.get("name", ""))))
    return out


def _action(manifests: Sequence[Manifest]) -> str | None:
    for obj in manifests:
        metadata = obj.get("metadata") or {}
        if metadata.get("name") != _MARKER:
            continue
        spec = obj.get("spec") or {}
        if obj.get("kind") == "ValidatingAdmissionPolicyBinding":
            return strongest(tuple(spec.get("validationActions") or ()))
        if obj.get("kind") == "ClusterPolicy":  # Kyverno, as gitops.policy.kyverno maps it
            if str(spec.get("validationFailureAction", "Audit")).lower() == "enforce":
                return "Deny"
            return "Warn" if spec.get("emitWarning") else "Audit"
    return None
