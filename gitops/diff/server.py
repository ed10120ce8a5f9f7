"""The server's verdict on drift: a dry-run server-side apply of each desired object.

``kubectl diff --server-side`` and Argo CD's server-side diff work this way: the API server
applies the desired object (``dryRun=All``, as our field manager, forcing conflicts as
``gitops apply`` would) and answers with the object it would store, after defaulting,
CRD pruning and defaulting, list-type merging and mutating admission. That *predicted*
object is compared with live; nothing is written.

The verdict is the server's: an object is in sync exactly when the predicted object equals
live, apart from what an apply always rewrites (``managedFields``, ``resourceVersion``,
``generation``), ``status`` (the controllers') and the fields ignore rules exclude. The
patch shows the fields our manager owns (after the apply, or before it: removals) from
live to predicted, in the server's canonical form. It costs one request per object,
where the local mode of :mod:`gitops.diff.engine` costs one LIST per kind; the agreement of
the two is tested in ``tests/test_server_diff_agreement.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitops.core import fieldsv1
from gitops.core.keys import Manifest, ResourceKey, key_of
from gitops.core.labels import FIELD_MANAGER
from gitops.core.pointer import parse_pointer
from gitops.diff.align import project_owned
from gitops.diff.engine import (
    DiffReport,
    ObjectDiff,
    Status,
    diff_object,
    prepare_desired,
    shown_change,
)
from gitops.diff.fields import json_equal
from gitops.inputs.ignore import IgnoreRule

if TYPE_CHECKING:
    from gitops.cluster.client import ClusterClient

#: Metadata every apply rewrites: never drift by itself (``kubectl diff`` hides it too).
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation")


def predict(
    client: ClusterClient, desired: Mapping[str, Any], field_manager: str = FIELD_MANAGER
) -> Manifest:
    """The object the server would store if ``desired`` were applied (nothing is written).

    Raises:
        ClusterError: the server refused the apply (validation, admission, not served).
    """
    return client.apply(prepare_desired(desired), field_manager, force=True, dry_run=True)


def server_diff_object(
    client: ClusterClient,
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    *,
    field_manager: str = FIELD_MANAGER,
    ignore: Sequence[IgnoreRule] = (),
) -> ObjectDiff:
    """Diff one desired manifest against live by the server's dry-run apply.

    A missing object is reported as missing without a request (there is nothing to
    compare; ``gitops apply`` dry-runs creations itself).
    """
    if live is None:
        return diff_object(desired, None, field_manager=field_manager)
    predicted = predict(client, desired, field_manager)
    return compare(desired, live, predicted, field_manager=field_manager, ignore=ignore)


def compare(
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    predicted: Mapping[str, Any],
    *,
    field_manager: str = FIELD_MANAGER,
    ignore: Sequence[IgnoreRule] = (),
) -> ObjectDiff:
    """The diff of ``live`` against the server's ``predicted`` object. Pure.

    Args:
        desired: the desired manifest (for its key and whether it is a Secret).
        live: the live object.
        predicted: what a dry-run apply of ``desired`` answered.
        field_manager: our field manager (whose fields the patch shows).
        ignore: ignore rules: pointers and the fields of ignored managers (as they are
            in live) are compared on neither side.
    """
    key = key_of(desired)
    rules = [r for r in ignore if r.applies_to(key)]
    managers = [m for r in rules for m in r.managers if m != field_manager]
    foreign = fieldsv1.merged_tree(live, managers)
    before, after = _comparable(live), _comparable(predicted)
    for doc in (before, after):
        for rule in rules:
            if rule.pointer:
                _drop_pointer(doc, parse_pointer(rule.pointer))
        if foreign is not None:
            _drop_owned(doc, foreign)
    if json_equal(before, after):  # Python's == calls true and 1 equal; the server does not
        return ObjectDiff(key, Status.IN_SYNC)
    owned_after = fieldsv1.merged_tree(predicted, [field_manager], operation="Apply") or {}
    owned_before = fieldsv1.merged_tree(live, [field_manager], operation="Apply") or {}
    shown = _union(owned_after, owned_before)
    shown_live = project_owned(before, shown) if shown else {}
    shown_predicted = project_owned(after, shown) if shown else {}
    if json_equal(shown_live, shown_predicted):
        # The change is in fields we do not own (a mutating webhook, another manager's
        # field the forced apply releases): show the whole objects, still a difference.
        shown_live, shown_predicted = before, after
    patch, text = shown_change(key, desired, shown_live, shown_predicted, "predicted")
    removed = tuple(_removed(owned_before, owned_after, ""))
    return ObjectDiff(key, Status.MODIFIED, tuple(patch), text, removed)


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    # status is the controllers' (an apply never writes it), and moves while we look.
    out = copy.deepcopy({k: v for k, v in obj.items() if k != "status"})
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        for name in VOLATILE_METADATA:
            metadata.pop(name, None)
    return out


def _union(a: fieldsv1.FieldsTree, b: fieldsv1.FieldsTree) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tree in (a, b):
        for name, sub in tree.items():
            if isinstance(sub, Mapping):
                out[name] = _union(out.get(name, {}), sub)
    return out


def _removed(before: fieldsv1.FieldsTree, after: fieldsv1.FieldsTree, path: str) -> list[str]:
    """Readable paths our manager owned before the apply and no longer owns after it."""
    out: list[str] = []
    for name, sub in before.items():
        if name == "." or not isinstance(sub, Mapping):
            continue
        label = name[2:] if name.startswith("f:") else f"[{name[2:]}]"
        here = f"{path}.{label}" if path and name.startswith("f:") else f"{path}{label}"
        if name not in after:
            out.append(here)
        elif not fieldsv1.is_leaf(sub):
            out.extend(_removed(sub, after[name], here))
    return out


def _drop_pointer(doc: Any, pointer: tuple[str, ...]) -> None:
    """Remove every value ``pointer`` names (``*``, an index or a merge-key value)."""
    if not pointer:
        return
    head, rest = pointer[0], pointer[1:]
    if isinstance(doc, dict):
        names = list(doc) if head == "*" else [head] if head in doc else []
        for name in names:
            if rest:
                _drop_pointer(doc[name], rest)
            else:
                del doc[name]
    elif isinstance(doc, list):
        parent_hits = [
            i for i, item in enumerate(doc) if head in ("*", str(i)) or _answers_to(item, head)
        ]
        for index in reversed(parent_hits):
            if rest:
                _drop_pointer(doc[index], rest)
            else:
                del doc[index]


def _answers_to(item: Any, name: str) -> bool:
    # A list item answers to its merge-key value (containers/vllm), as in local mode.
    return isinstance(item, Mapping) and any(
        str(item.get(k)) == name for k in ("name", "mountPath", "devicePath", "ip", "type")
    )


def _drop_owned(doc: Any, tree: fieldsv1.FieldsTree) -> None:
    """Remove from ``doc`` the leaves a FieldsV1 tree owns."""
    if isinstance(doc, dict):
        for name, sub in tree.items():
            if not name.startswith("f:") or name[2:] not in doc or not isinstance(sub, Mapping):
                continue
            if fieldsv1.is_leaf(sub):
                del doc[name[2:]]
            else:
                _drop_owned(doc[name[2:]], sub)
    elif isinstance(doc, list):
        index = fieldsv1.item_index(tree)
        for frozen, sub in index.items():
            for item in doc:
                if isinstance(item, dict) and all(item.get(f) == v for f, v in frozen):
                    _drop_owned(item, sub)


def judge(
    report: DiffReport,
    desired: Sequence[Mapping[str, Any]],
    live: Sequence[Mapping[str, Any]],
    client: ClusterClient,
    *,
    field_manager: str = FIELD_MANAGER,
    ignore: Sequence[IgnoreRule] = (),
    default_namespace: str = "default",
    everything: bool = True,
) -> DiffReport:
    """``report`` with the objects that exist live judged again by the server.

    Missing, orphaned and not-served objects keep the local verdict (there is nothing to
    dry-run against, or nothing desired). With ``everything`` every other object is dry-run
    applied (``--server-side``); without it only those the local mode cannot tell about
    (``ObjectDiff.cannot_tell``): the local mode's fallback.
    """
    by_id = {_identity(key_of(obj)): obj for obj in live}
    wanted: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}
    for manifest in desired:
        key = key_of(manifest)
        wanted[_identity(key)] = manifest
        if not key.namespace:
            wanted[_identity(key._replace(namespace=default_namespace))] = _in_namespace(
                manifest, default_namespace
            )
    judged: list[ObjectDiff] = []
    for result in report.objects:
        ident = _identity(result.key)
        want, current = wanted.get(ident), by_id.get(ident)
        asked = everything or bool(result.cannot_tell)
        if asked and result.status in (Status.IN_SYNC, Status.MODIFIED) and want and current:
            result = server_diff_object(
                client, want, current, field_manager=field_manager, ignore=ignore
            )
        judged.append(result)
    return DiffReport(tuple(judged))


def _identity(key: ResourceKey) -> tuple[str, str, str, str]:
    return (key.group, key.kind, key.namespace, key.name)


def _in_namespace(manifest: Mapping[str, Any], namespace: str) -> Manifest:
    return {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
