"""A boolean is never a number: every place that asks "did this object change?" agrees.

Python's ``==`` calls ``True``, ``1`` and ``1.0`` equal at any depth of two documents.
JSON, YAML and the API server do not: a custom resource (or a field its schema leaves
open) stores ``true`` and ``1`` apart. Each comparison of whole documents - the plan
between two renders, the local and the server-side diff, an apply's "unchanged" - must
see such a change.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from helpers.json_text import json_text
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.diff.engine import Status, diff_object
from gitops.diff.fields import json_equal
from gitops.diff.server import compare
from gitops.workflows.apply_objects import _same_object
from gitops.workflows.plan import Change, manifest_changes

_scalars = st.sampled_from([True, False, 0, 1, 1.0, 0.0, 2, 2.5, "1", "true", "", None])
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("ab"), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None)
@given(_values, _values)
def test_property_json_equal_is_equality_of_the_json_texts(a: Any, b: Any) -> None:
    assert json_equal(a, b) is (json_text(a) == json_text(b))
    assert json_equal(a, copy.deepcopy(a))


#: Pairs Python calls equal and JSON does not, at the top and nested.
RETYPED = [(1, True), (0, False), (True, 1), (False, 0.0), ([1, "x"], [True, "x"]),
           ({"on": 1}, {"on": True})]  # fmt: skip


def _widget(value: Any, version: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "n", "resourceVersion": version},
        "spec": {"enabled": value},
    }


@pytest.mark.parametrize(("old", "new"), RETYPED)
def test_the_plan_shows_a_field_that_changes_type(old: Any, new: Any) -> None:
    changes = manifest_changes([_widget(old)], [_widget(new)])
    assert [c.change for c in changes] == [Change.CHANGED]
    assert changes[0].patch  # and the patch says how
    assert manifest_changes([_widget(old)], [_widget(copy.deepcopy(old))]) == []


@pytest.mark.parametrize(("desired", "live"), RETYPED)
def test_the_local_diff_shows_a_field_that_changes_type(desired: Any, live: Any) -> None:
    result = diff_object(_widget(desired), _widget(live))
    assert result.status is Status.MODIFIED
    assert {"op": "replace", "path": "/spec/enabled", "value": desired} in result.patch or any(
        op["path"].startswith("/spec/enabled/") for op in result.patch
    )
    assert diff_object(_widget(desired), _widget(copy.deepcopy(desired))).status is Status.IN_SYNC


@pytest.mark.parametrize(("before", "after"), RETYPED)
def test_the_server_side_diff_shows_a_field_that_changes_type(before: Any, after: Any) -> None:
    result = compare(_widget(after), _widget(before), _widget(after))
    assert result.status is Status.MODIFIED
    same = compare(_widget(after), _widget(before), _widget(copy.deepcopy(before)))
    assert same.status is Status.IN_SYNC


@pytest.mark.parametrize(("before", "after"), RETYPED)
def test_an_apply_that_changed_a_type_did_change_the_object(before: Any, after: Any) -> None:
    assert not _same_object(_widget(before, "1"), _widget(after, "2"))
    assert _same_object(_widget(before, "1"), _widget(copy.deepcopy(before), "2"))
