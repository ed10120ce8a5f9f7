"""The render-time guardrail check, object by object, reusing what earlier renders found.

What the admission policies say about one object depends on that object and on the
environment's *context*: its ValidatingAdmissionPolicies and bindings, its Kyverno
policies and its Namespaces (their labels feed namespace selectors). So a violation list
is kept per (context digest, object digest) in the :class:`~gitops.render.cache.RenderCache`,
and a re-render evaluates only the objects that changed (with the context objects, which
are checked too, as the API server admits them as well). Changing one stack's image tag
re-checks that stack's objects; changing a policy or a Namespace re-checks everything.

Two checks look at the set as a whole and always run on all of it (both are cheap):
the set rules (:mod:`gitops.policy.set_rules`) and the capacity checks
(:mod:`gitops.policy.capacity`). A ValidatingAdmissionPolicy with ``paramKind`` reads its params
from the other objects, so an environment holding one is checked whole, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from gitops.core.errors import PolicyError
from gitops.core.keys import Manifest, ResourceKey, key_of
from gitops.render.cache import RenderCache, combined, digest

if TYPE_CHECKING:
    from gitops.policy import Violation

#: (apiVersion group prefix, kind) of the objects every other object's verdict depends on.
_CONTEXT = (
    ("admissionregistration.k8s.io/", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io/", "ValidatingAdmissionPolicyBinding"),
    ("kyverno.io/", "ClusterPolicy"),
    ("kyverno.io/", "Policy"),
    ("policies.kyverno.io/", None),
)


def is_context(obj: Manifest) -> bool:
    """Whether ``obj`` is a policy, binding or Namespace (see the module docstring)."""
    api, kind = str(obj.get("apiVersion", "")), obj.get("kind")
    if api == "v1" and kind == "Namespace":
        return True
    return any(api.startswith(group) and (want is None or kind == want) for group, want in _CONTEXT)


def checked_notes(rendered: Mapping[str, Sequence[Manifest]], cache: RenderCache) -> list[str]:
    """The Warn/Audit lines of every environment, each object checked once per content.

    Raises:
        PolicyError: at least one Deny violation (all of them listed); nothing is committed.
    """
    return split_by_action(
        (name, _violations(list(rendered[name]), cache)) for name in sorted(rendered)
    )


def split_by_action(per_environment: Iterable[tuple[str, Iterable[Violation]]]) -> list[str]:
    """The Warn/Audit lines of every environment, prefixed with its name.

    Raises:
        PolicyError: at least one Deny violation (all of them listed); nothing is committed.
    """
    denied: list[str] = []
    notes: list[str] = []
    for name, violations in per_environment:
        for violation in violations:
            line = f"{name}: {violation}"
            (denied if violation.action == "Deny" else notes).append(line)
    if denied:
        raise PolicyError(
            f"{len(denied)} Deny guardrail violation(s), nothing committed: " + "; ".join(denied)
        )
    return notes


def _violations(objects: list[Manifest], cache: RenderCache) -> list[Violation]:
    """What :func:`gitops.policy.evaluate` plus the capacity checks give for ``objects``."""
    from gitops.policy import evaluate
    from gitops.policy.capacity import check_capacity
    from gitops.policy.set_rules import REPLICAS_RULE, evaluate_set_rules
    from gitops.policy.violation import ordered

    keys = [digest(obj) for obj in objects]
    whole = combined(keys)
    context: list[Manifest] = []
    context_keys: list[str | None] = []
    subjects: list[tuple[Manifest, str | None]] = []
    for obj, key in zip(objects, keys, strict=True):
        if is_context(obj):
            context.append(obj)
            context_keys.append(key)
        else:
            subjects.append((obj, key))
    context_key = None if _has_params(context) else combined(context_keys)
    if context_key is None:  # no per-object entries (params, or an undigestable context)
        subjects = [(obj, None) for obj, _key in subjects]
    recorded = cache.object_check("environment", whole)
    if recorded is not None:  # nothing changed: the outcome as recorded
        # Each object's own entry is kept too (looking it up marks it used): the next
        # render that changes one object looks every other one up by itself.
        for _obj, key in subjects:
            cache.object_check(context_key, key)
        return [_violation(fields) for fields in recorded]
    found: list[Violation] = []
    fresh: list[tuple[Manifest, str | None]] = []
    for obj, key in subjects:
        recorded = cache.object_check(context_key, key)
        if recorded is None:
            fresh.append((obj, key))
        else:
            found.extend(_violation(fields) for fields in recorded)
    checked = evaluate([*context, *(obj for obj, _key in fresh)])
    # The set rules need the whole set: taken from a run over all of it instead.
    checked = [v for v in checked if v.policy != REPLICAS_RULE]
    by_object: dict[ResourceKey, list[Violation]] = {}
    for violation in checked:
        by_object.setdefault(violation.key, []).append(violation)
    for obj, key in fresh:
        mine = by_object.get(key_of(obj), [])
        cache.record_object_check(context_key, key, [_fields(v) for v in mine])
    found.extend(checked)
    result = [*ordered([*found, *evaluate_set_rules(objects)]), *check_capacity(objects)]
    cache.record_object_check("environment", whole, [_fields(v) for v in result])
    return result


def _has_params(context: Sequence[Manifest]) -> bool:
    return any(
        isinstance(obj.get("spec"), dict) and "paramKind" in obj["spec"]
        for obj in context
        if obj.get("kind") == "ValidatingAdmissionPolicy"
    )


def _fields(violation: Violation) -> list[str]:
    return [*violation.key, violation.policy, violation.rule, violation.action,
            violation.message, violation.provenance]  # fmt: skip


def _violation(fields: Sequence[str]) -> Violation:
    from gitops.policy import Violation

    return Violation(ResourceKey(*fields[:5]), *fields[5:])
