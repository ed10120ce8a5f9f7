"""Tests for gitops.diff.align: aligning live onto desired without false drift."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
from helpers.json_text import json_text
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.core.pointer import parse_pointer
from gitops.diff.align import align
from gitops.diff.fields import is_quantity_path, item_key, scalar_equal, strip_nulls


def _pod(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"spec": {"containers": containers, **spec}}


def test_quantity_forms_that_are_equal_are_in_sync() -> None:
    desired = _pod([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}])
    live = _pod([{"name": "a", "resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}}}])
    assert align(desired, live).in_sync


def test_quantity_that_differs_is_drift() -> None:
    desired = _pod([{"name": "a", "resources": {"limits": {"cpu": "1"}}}])
    live = _pod([{"name": "a", "resources": {"limits": {"cpu": "1500m"}}}])
    assert not align(desired, live).in_sync


def test_quantity_normalization_only_applies_to_quantity_fields() -> None:
    desired = {"data": {"limits": "1"}, "metadata": {"labels": {"cpu": "1"}}}
    live = {"data": {"limits": "1000m"}, "metadata": {"labels": {"cpu": "1000m"}}}
    assert not align(desired, live).in_sync


@pytest.mark.parametrize(
    ("desired", "live", "equal"),
    [(True, 1, False), (False, 0, False), (1, True, False), (0, False, False),
     (True, True, True), (2, 2.0, True), ("a", "a", True), ("1", 1, False)],
)  # fmt: skip
def test_scalars_are_equal_as_json_values_not_as_python_ones(
    desired: Any, live: Any, equal: bool
) -> None:
    """``True == 1`` in Python; a bool is never a number in JSON (a number equals the
    same number written as a float)."""
    assert scalar_equal(desired, live, ["spec", "paused"]) is equal


def test_quantity_paths_cover_quota_limitrange_and_size_limit() -> None:
    assert is_quantity_path(["spec", "hard", "requests.nvidia.com/gpu"])
    assert is_quantity_path(["spec", "limits", ("0",), "max", "cpu"])
    assert is_quantity_path(["spec", "volumes", ("0", "shm"), "emptyDir", "sizeLimit"])
    assert not is_quantity_path(["spec", "template", "metadata", "labels", "cpu"])


def test_autoscaler_metric_targets_are_quantities() -> None:
    desired = {"spec": {"metrics": [{"pods": {"target": {"averageValue": 5, "value": "1k"}}}]}}
    live = {"spec": {"metrics": [{"pods": {"target": {"averageValue": "5", "value": "1000"}}}]}}
    assert align(desired, live).in_sync


def test_empty_values_match_absent_ones() -> None:
    desired = {"spec": {"args": [], "nodeSelector": {}, "hostname": None}}
    assert align(desired, {"spec": {}}).in_sync


def test_zero_values_the_server_omits_match_absent_ones() -> None:
    desired = {"spec": {"hostNetwork": False, "subdomain": "", "priority": 0}}
    assert align(desired, {"spec": {}}).in_sync
    assert not align({"spec": {"hostNetwork": True}}, {"spec": {}}).in_sync


def test_server_added_list_entries_are_not_drift_but_another_order_is() -> None:
    desired = _pod(
        [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]
    )
    live = _pod(
        [
            {"name": "injected-sidecar", "image": "proxy"},
            {"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
        ]
    )
    assert align(desired, live).in_sync
    # The API server puts applied items in the applied order (a dry-run apply of a
    # reordered env changes the object), so an order other than live's is drift.
    live["spec"]["containers"][1]["env"].reverse()
    assert not align(desired, live).in_sync


def test_ports_merge_on_container_port_and_default_protocol() -> None:
    assert item_key("ports", {"containerPort": 8000}) == {"containerPort": 8000, "protocol": "TCP"}
    assert item_key("ports", {"port": 53, "protocol": "UDP"}) == {"port": 53, "protocol": "UDP"}


def test_atomic_list_order_change_is_drift() -> None:
    a = {"key": "a", "operator": "Exists"}
    b = {"key": "b", "operator": "Exists"}
    assert not align({"spec": {"tolerations": [a, b]}}, {"spec": {"tolerations": [b, a]}}).in_sync


def test_atomic_list_items_ignore_server_defaults_inside() -> None:
    desired = {"spec": {"rules": [{"verbs": ["get"]}]}}
    live = {"spec": {"rules": [{"verbs": ["get"], "defaulted": True}]}}
    assert align(desired, live).in_sync


def test_finalizers_are_a_set() -> None:
    desired = {"metadata": {"finalizers": ["a"]}}
    assert align(desired, {"metadata": {"finalizers": ["b", "a"]}}).in_sync


def test_owned_field_absent_from_desired_is_removed() -> None:
    owned = {"f:spec": {"f:paused": {}, "f:replicas": {}}}
    result = align(
        {"spec": {"replicas": 1}}, {"spec": {"replicas": 1, "paused": True}}, owned=owned
    )
    assert result.removed == ["spec.paused"]
    assert jsonpatch.make_patch(result.projection, result.desired).patch == [
        {"op": "remove", "path": "/spec/paused"}
    ]


def test_unowned_live_field_absent_from_desired_is_not_compared() -> None:
    assert align({"spec": {"replicas": 1}}, {"spec": {"replicas": 1, "paused": True}}).in_sync


def test_foreign_owned_field_is_not_compared() -> None:
    foreign = {"f:spec": {"f:replicas": {}}}
    assert align({"spec": {"replicas": 1}}, {"spec": {"replicas": 7}}, foreign=foreign).in_sync


def test_ignore_pointer_matches_list_item_by_merge_key_value() -> None:
    desired = _pod([{"name": "vllm", "image": "a"}])
    live = _pod([{"name": "vllm", "image": "b"}])
    pointer = parse_pointer("/spec/containers/vllm/image")
    assert align(desired, live, ignore_pointers=[pointer]).in_sync
    assert not align(
        desired, live, ignore_pointers=[parse_pointer("/spec/containers/x/image")]
    ).in_sync


def test_strict_mode_reports_labels_added_live() -> None:
    desired = {"metadata": {"labels": {"a": "1"}}}
    live = {"metadata": {"labels": {"a": "1", "team": "x"}}}
    assert align(desired, live).in_sync
    assert not align(desired, live, strict=True).in_sync


def test_pointer_must_start_with_slash() -> None:
    assert parse_pointer("/a~1b/c~0d") == ("a/b", "c~d")
    try:
        parse_pointer("spec")
    except ValueError as err:
        assert "must start with '/'" in str(err)
    else:  # pragma: no cover
        raise AssertionError("no error")


# Manifest-like JSON: maps with short keys, lists of keyed items, scalars.
_scalars = st.one_of(
    st.integers(-5, 5), st.booleans(), st.text("ab", max_size=2), st.sampled_from(["1", "1000m"])
)
_keys = st.sampled_from(["name", "env", "cpu", "limits", "requests", "value", "x", "args"])
_json: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=12,
)
_docs = st.dictionaries(_keys, _json, max_size=4)


@settings(max_examples=200, deadline=None)
@given(_docs)
def test_property_an_object_is_in_sync_with_itself(doc: dict[str, Any]) -> None:
    result = align(doc, doc)
    assert result.in_sync
    assert result.projection == result.desired


@settings(max_examples=300, deadline=None)
@given(_docs, _docs)
def test_property_an_applied_object_is_in_sync(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    result = align(desired, live)
    assert result.desired == strip_nulls(desired)
    assert result.in_sync == (json_text(result.projection) == json_text(result.desired))
    # Once an apply has written desired's fields over live, nothing is drift.
    assert align(desired, _applied(live, desired)).in_sync


def _applied(live: Any, desired: Any) -> Any:
    """``live`` with every field of ``desired`` written over it (maps merged, the rest replaced)."""
    if not (isinstance(live, dict) and isinstance(desired, dict)):
        return copy.deepcopy(desired)
    merged = dict(live)
    for key, value in desired.items():
        merged[key] = _applied(live.get(key), value)
    return merged


def test_int_or_string_port_forms_are_equal() -> None:
    desired = {"spec": {"ports": [{"port": 80, "targetPort": 8000}]}}
    live = {"spec": {"ports": [{"port": 80, "targetPort": "8000", "protocol": "TCP"}]}}
    assert align(desired, live).in_sync


def test_named_target_port_differs_from_number() -> None:
    desired = {"spec": {"ports": [{"port": 80, "targetPort": "http"}]}}
    live = {"spec": {"ports": [{"port": 80, "targetPort": 8000}]}}
    assert not align(desired, live).in_sync


def test_digit_string_outside_int_or_string_fields_is_drift() -> None:
    assert not align({"spec": {"replicas": 2}}, {"spec": {"replicas": "2"}}).in_sync


# JSON documents whose scalars include the values Python confuses: True == 1 == 1.0.
_confusable = st.sampled_from([True, False, 0, 1, 1.0, 0.0, 2, "1", "true", ""])
_keys = st.sampled_from(["a", "finalizers"])
_documents = st.recursive(
    _confusable,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3, unique_by=json_text),
        st.dictionaries(_keys, inner, min_size=1, max_size=3),
    ),
    max_leaves=8,
).filter(lambda v: isinstance(v, dict))


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


@settings(max_examples=300, deadline=None)
@given(_documents, st.data(), st.booleans())
def test_property_one_changed_scalar_is_drift_exactly_when_json_differs(
    spec: dict[str, Any], data: st.DataObject, builtin: bool
) -> None:
    """Live is desired with one scalar replaced; drift exactly when JSON tells them apart.

    ``true`` and ``1`` compare equal in Python, at any depth, in maps, in lists the server
    replaces whole and in set-like lists (``finalizers``); the server stores them apart.
    """
    path = data.draw(st.sampled_from(_leaves(spec)))
    new = data.draw(_confusable)
    live = copy.deepcopy(spec)
    parent = live
    for step in path[:-1]:
        parent = parent[step]
    old, parent[path[-1]] = parent[path[-1]], new
    siblings = parent if isinstance(parent, list) else []
    if any(json_text(v) == json_text(new) for i, v in enumerate(siblings) if i != path[-1]):
        return  # a set-like list would then hold the value twice: not a list the server keeps
    aligned = align({"spec": spec}, {"spec": live}, builtin=builtin)
    same = json_text(old) == json_text(new)
    assert aligned.in_sync is same, (old, new, aligned.projection)
    patch = jsonpatch.make_patch(aligned.projection, aligned.desired)
    assert (not patch.patch) is same
    assert json_text(patch.apply(aligned.projection)) == json_text(aligned.desired)


@pytest.mark.parametrize(
    ("desired", "live", "in_sync"),
    [(["x", True], ["x", 1], False), ([0], [False], False), ([1.0, "a"], [1, "a"], True),
     ([False, "1"], [False, "1"], True), (["true"], [True], False)],
)  # fmt: skip
def test_set_like_lists_hold_booleans_apart_from_numbers(
    desired: list[Any], live: list[Any], in_sync: bool
) -> None:
    aligned = align({"metadata": {"finalizers": desired}}, {"metadata": {"finalizers": live}})
    assert aligned.in_sync is in_sync, aligned.projection
