"""Which objects a Kyverno rule applies to: ``match``/``exclude`` and Pod controller autogen.

Resource filters follow Kyverno: ``kinds`` as ``Kind``, ``Version/Kind``,
``Group/Version/Kind`` or with a ``/subresource`` (wildcards in each part; a subresource
never matches the object itself), ``names``/``name`` and ``namespaces`` with wildcards (a
Namespace matches ``namespaces`` by its own name), ``selector``, ``namespaceSelector``,
``annotations`` and ``operations`` (the check is a CREATE). ``any`` needs one filter to
match, ``all`` every filter.

Autogen: a rule whose filters name only ``Pod`` (and no names, selector or annotations)
also applies to the pod templates of Pod controllers, as rule ``autogen-<rule>``
(``autogen-cronjob-<rule>`` for CronJobs), unless the policy's
``pod-policies.kyverno.io/autogen-controllers`` annotation leaves the controller out.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from gitops.core.keys import Manifest
from gitops.policy.kyverno_functions import wildcard_match
from gitops.policy.selectors import ObjectContext, selector_matches

TEMPLATE_KINDS = ("DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet",
                  "ReplicationController")  # fmt: skip
AUTOGEN_ANNOTATION = "pod-policies.kyverno.io/autogen-controllers"
#: Filter fields that need the requesting user, which render time does not know.
USER_FIELDS = ("subjects", "roles", "clusterRoles")


@lru_cache(maxsize=1024)
def parse_kind(selector: str) -> tuple[str, str, str, str]:
    """(group, version, kind, subresource) of a Kyverno kind selector."""
    parts = selector.split("/")
    if len(parts) == 1:
        return "*", "*", parts[0], ""
    if len(parts) == 2:
        if parts[0][:1].isupper():  # Kind/subresource
            return "*", "*", parts[0], parts[1]
        return "*", parts[0], parts[1], ""  # Version/Kind
    if len(parts) == 3:
        if parts[1][:1].isupper():  # Version/Kind/subresource
            return "*", parts[0], parts[1], parts[2]
        return parts[0], parts[1], parts[2], ""
    return parts[0], parts[1], parts[2], "/".join(parts[3:])


def kind_matches(selectors: list[str], group: str, version: str, kind: str) -> bool:
    """Whether any kind selector names the object's group, version and kind."""
    for selector in selectors:
        s_group, s_version, s_kind, subresource = parse_kind(str(selector))
        if subresource:
            continue
        if (wildcard_match(s_kind, kind) and wildcard_match(s_version, version)
                and wildcard_match(s_group, group)):  # fmt: skip
            return True
    return False


def _filter_matches(entry: Mapping[str, Any], context: ObjectContext, view: _View) -> bool:
    resources = entry.get("resources") or {}
    kinds = resources.get("kinds")
    if kinds and not kind_matches(kinds, view.group, view.version, view.kind):
        return False
    operations = resources.get("operations")
    if operations and "CREATE" not in operations:
        return False
    name = context.key.name
    names = resources.get("names") or ([resources["name"]] if resources.get("name") else [])
    if names and not any(wildcard_match(str(n), name) for n in names):
        return False
    namespaces = resources.get("namespaces")
    if namespaces:
        own = context.key.name if context.key.kind == "Namespace" else context.key.namespace
        if not any(wildcard_match(str(n), own) for n in namespaces):
            return False
    annotations = resources.get("annotations")
    if annotations:
        present = (context.obj.get("metadata") or {}).get("annotations") or {}
        for key, value in annotations.items():
            if not any(wildcard_match(key, k) and wildcard_match(str(value), str(v))
                       for k, v in present.items()):  # fmt: skip
                return False
    if "selector" in resources and not selector_matches(resources["selector"], context.labels):
        return False
    ns_selector = resources.get("namespaceSelector")
    return ns_selector is None or selector_matches(ns_selector, context.namespace_labels)


def block_matches(block: Any, context: ObjectContext, view: _View) -> bool:
    """Whether a ``match`` or ``exclude`` block selects the object (an empty block does not)."""
    if not block:
        return False
    any_of, all_of = block.get("any"), block.get("all")
    if any_of is None and all_of is None:
        return _filter_matches(block, context, view)
    if any_of and not any(_filter_matches(e, context, view) for e in any_of):
        return False
    return not all_of or all(_filter_matches(e, context, view) for e in all_of)


def filters(block: Any) -> list[Mapping[str, Any]]:
    """Every resource filter entry of a match/exclude block."""
    if not block:
        return []
    if block.get("any") is None and block.get("all") is None:
        return [block]
    return [*(block.get("any") or []), *(block.get("all") or [])]


def autogen_applies(rule: Mapping[str, Any]) -> bool:
    """Kyverno's ``CanAutoGen``: every filter names only Pod, without names/selectors."""
    entries = [*filters(rule.get("match")), *filters(rule.get("exclude"))]
    matched_pod = False
    for entry in entries:
        resources = entry.get("resources") or {}
        if resources.get("name") or resources.get("names") or resources.get("selector") \
                or resources.get("annotations"):  # fmt: skip
            return False
        kinds = resources.get("kinds") or []
        if len(kinds) > 1 or (kinds and str(kinds[0]).split("/")[-1] != "Pod"):
            return False
        matched_pod = matched_pod or bool(kinds)
    return matched_pod


class _View:
    """What a rule sees of an object: itself, or the pod template of a controller."""

    __slots__ = ("base", "group", "kind", "prefix", "target", "version")

    def __init__(self, group: str, version: str, kind: str, target: Manifest,
                 prefix: str = "", base: str = "") -> None:  # fmt: skip
        self.group, self.version, self.kind = group, version, kind
        self.target, self.prefix, self.base = target, prefix, base


def own_view(context: ObjectContext) -> _View:
    """The object as itself."""
    key = context.key
    return _View(key.group, key.version, key.kind, context.obj)


def pod_view(context: ObjectContext, annotations: Mapping[str, Any]) -> _View | None:
    """The pod template a controller's autogen rule checks, or None for other kinds."""
    kind = context.key.kind
    controllers = str(annotations.get(AUTOGEN_ANNOTATION, "all")).replace(" ", "")
    if controllers == "none" or (controllers != "all" and kind not in controllers.split(",")):
        return None
    spec = context.obj.get("spec") or {}
    if kind in TEMPLATE_KINDS:
        template, prefix, base = spec.get("template"), "autogen-", "/spec/template"
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        template, prefix = job.get("template"), "autogen-cronjob-"
        base = "/spec/jobTemplate/spec/template"
    else:
        return None
    if not isinstance(template, Mapping):
        return None
    # The generated rule reads the template through request.object.spec.template; the
    # object's own apiVersion and kind stay those of the controller.
    target = {
        "apiVersion": context.obj.get("apiVersion"),
        "kind": kind,
        "metadata": dict(template.get("metadata") or {}),
        "spec": template.get("spec"),
    }
    return _View("", "v1", "Pod", target, prefix, base)
