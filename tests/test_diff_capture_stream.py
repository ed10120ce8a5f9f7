"""``gitops diff --live CAPTURE`` streams the capture: a capture far over the 8 MiB file cap
diffs in memory that follows what is kept (desired counterparts and possible orphans),
not the size of the file; the caps apply to each captured object.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from gitops.core.errors import InputError
from gitops.core.keys import ResourceKey
from gitops.core.yaml_io import MAX_YAML_BYTES
from gitops.ownership.identity import Identity
from gitops.workflows.diff import DiffRequest, run_diff

OBJECTS = 12_000
PAYLOAD = "x" * 600


def _config_map(index: int, value: str = "v1", **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{index:05d}", "namespace": "apps", **metadata},
        "data": {"version": value, "payload": PAYLOAD},
    }


def _identity() -> Identity:
    return Identity("dev", "")


def _orphan() -> dict[str, Any]:
    """A ConfigMap we created and no longer want: labelled ours, hashed for its own key."""
    key = ResourceKey("", "v1", "ConfigMap", "apps", "cm-orphan")
    metadata = {"name": "cm-orphan", "namespace": "apps"}
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"a": PAYLOAD}}
    return _identity().stamp(obj, key)


def _capture(path: Path, as_json: bool) -> Path:
    """A capture of OBJECTS ConfigMaps plus our orphan: cm-00001 drifted, no cm-99999."""
    items = [_config_map(i, "v2" if i == 1 else "v1") for i in range(OBJECTS)]
    items.insert(OBJECTS // 2, _orphan())
    if as_json:  # kubectl get -o json: items before kind
        path.write_text(json.dumps({"apiVersion": "v1", "items": items, "kind": "List"}))
    else:  # kubectl get -o yaml, block style
        lines = ["apiVersion: v1", "kind: List", "items:"]
        lines += [f"- {json.dumps(item)}" for item in items]
        path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > MAX_YAML_BYTES  # refused whole before it was streamed
    return path


@pytest.mark.parametrize("as_json", [False, True], ids=["yaml", "json"])
def test_a_capture_over_the_file_cap_diffs_in_bounded_memory(tmp_path: Path, as_json: bool) -> None:
    desired = tmp_path / "desired.yaml"
    documents = [_config_map(i) for i in (0, 1, OBJECTS - 1)] + [_config_map(99_999)]
    desired.write_text("\n---\n".join(json.dumps(d) for d in documents))
    capture = _capture(tmp_path / "live.yaml", as_json)
    # No rendered repository (the default build/gitops-repo may exist in the checkout): the
    # identity is the environment's alone, as _identity() stamps the orphan.
    request = DiffRequest(
        environment="dev", filename=desired, live_file=capture, repo=tmp_path / "no-repo"
    )
    tracemalloc.start()
    try:
        report = run_diff(request)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    statuses = {d.key.name: str(d.status) for d in report.objects}
    assert statuses == {
        "cm-00000": "in-sync",
        "cm-00001": "modified",
        "cm-11999": "in-sync",
        "cm-99999": "missing",
        "cm-orphan": "orphaned",
    }
    # The capture is over 8 MiB of text and 12,001 objects (about 25 MB as Python dicts);
    # what is kept is 4 objects and one orphan's metadata.
    assert peak < 6 * 1024 * 1024, peak


def test_caps_apply_to_each_captured_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitops.core import yaml_io as model

    monkeypatch.setattr(model, "MAX_YAML_NODES", 20)
    capture = tmp_path / "live.yaml"
    small = [_config_map(i) for i in range(50)]  # 13 nodes each, 650 in the List
    capture.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": small}))
    request = DiffRequest(filename=_write(tmp_path, _config_map(1)), live_file=capture)
    assert [str(d.status) for d in run_diff(request).objects] == ["in-sync"]
    big = _config_map(7) | {"data": {f"k{i}": "v" for i in range(10)}}
    capture.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [*small, big]}))
    with pytest.raises(InputError, match=r"live\.yaml: line 1: an item has more than 20 nodes"):
        run_diff(request)


def test_top_level_items_outside_a_list_are_refused(tmp_path: Path) -> None:
    capture = tmp_path / "live.yaml"
    capture.write_text(json.dumps({"apiVersion": "v1", "items": [_config_map(1)], "kind": "Foo"}))
    request = DiffRequest(filename=_write(tmp_path, _config_map(1)), live_file=capture)
    with pytest.raises(InputError, match=r"live\.yaml#1: 'Foo' has top-level items"):
        run_diff(request)


def _write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "desired.yaml"
    path.write_text(json.dumps(document))
    return path
