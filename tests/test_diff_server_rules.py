"""Local diff rules the server taught us (see tests/test_server_diff_agreement.py)."""

from __future__ import annotations

from typing import Any

from gitops.diff.engine import Status, diff_object

_ENTRY = {"manager": "gitops", "operation": "Apply", "fieldsType": "FieldsV1"}


def _live(obj: dict[str, Any], *entries: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "managedFields": list(entries)}}


def _cm(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
            "data": data}  # fmt: skip


def test_a_reordered_keyed_list_is_a_change() -> None:
    pod = {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"},
                                                {"name": "Y", "value": "2"}]}]}  # fmt: skip
    desired = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"},
               "spec": pod}  # fmt: skip
    live = {**desired, "spec": {"containers": [{**pod["containers"][0]}]}}
    assert diff_object(desired, live).status is Status.IN_SYNC
    reordered = {**pod["containers"][0], "env": pod["containers"][0]["env"][::-1]}
    live = {**desired, "spec": {"containers": [reordered]}}
    assert diff_object(desired, live).status is Status.MODIFIED


def test_a_custom_resource_keeps_the_spelling_it_was_sent() -> None:
    desired = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
               "metadata": {"name": "m", "namespace": "n"},
               "spec": {"predictor": {"minReplicas": 0, "model": {"resources": {
                   "requests": {"cpu": "4"}}}}}}  # fmt: skip
    live = {**desired, "spec": {"predictor": {"model": {"resources": {
        "requests": {"cpu": "4000m"}}}}}}  # fmt: skip
    result = diff_object(desired, live)
    assert result.status is Status.MODIFIED
    paths = {op["path"] for op in result.patch}
    assert paths == {"/spec/predictor/minReplicas", "/spec/predictor/model/resources/requests/cpu"}
    builtin = {**desired, "apiVersion": "v1", "kind": "Pod"}
    assert (
        diff_object(builtin, {**live, "apiVersion": "v1", "kind": "Pod"}).patch
        == ({"op": "add", "path": "/spec/predictor/minReplicas", "value": 0},)[:0]
    )


def test_a_custom_resource_list_is_atomic_unless_managed_fields_key_it() -> None:
    containers = [{"name": "a", "image": "x"}]
    desired = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
               "metadata": {"name": "m", "namespace": "n"},
               "spec": {"predictor": {"containers": containers}}}  # fmt: skip
    two = [*containers, {"name": "b", "image": "y"}]
    both = {**desired, "spec": {"predictor": {"containers": two}}}
    assert diff_object(desired, both).status is Status.MODIFIED  # no managedFields: atomic
    atomic = {"f:spec": {"f:predictor": {"f:containers": {}}}}
    result = diff_object(desired, _live(both, {**_ENTRY, "fieldsV1": atomic}))
    assert result.status is Status.MODIFIED  # apply replaces the list: b goes
    keyed = {"f:spec": {"f:predictor": {"f:containers": {'k:{"name":"a"}': {".": {}}}}}}
    other = {"manager": "other", "operation": "Apply", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:predictor": {"f:containers": {
                 'k:{"name":"b"}': {".": {}}}}}}}  # fmt: skip
    result = diff_object(desired, _live(both, {**_ENTRY, "fieldsV1": keyed}, other))
    assert result.status is Status.IN_SYNC  # a map list: b is another manager's


def test_a_field_another_manager_owns_too_stays() -> None:
    ours = {**_ENTRY, "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}}}
    theirs = {"manager": "other", "operation": "Update", "fieldsV1": {"f:data": {"f:b": {}}}}
    live = _live(_cm(a="1", b="2"), ours, theirs)
    result = diff_object(_cm(a="1"), live)
    assert result.status is Status.IN_SYNC and not result.cannot_tell
    alone = diff_object(_cm(a="1"), _live(_cm(a="1", b="2"), ours))
    assert alone.status is Status.MODIFIED and alone.removed == ("data.b",)
    assert alone.cannot_tell == ("data.b",)  # removed, or defaulted back: the server knows
