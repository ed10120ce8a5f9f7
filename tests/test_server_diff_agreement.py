"""The server judges our diff: local verdicts and patches agree with a dry-run apply's.

Against the real control plane (``tests/controlplane``): the rendered example (every kind we
render) is applied as ``gitops``, then a seeded corpus of random edits of the desired side
(values changed, fields removed or added, lists reordered, quantities and int-or-strings in
another spelling, labels, zero values, defaults spelled out) and of the live side (fields
owned by other managers, atomic lists of custom resources) is judged twice: by the local
comparison (:func:`gitops.diff.diff_object`) and by the server
(:func:`gitops.server_diff.server_diff_object`). Verdicts must agree, and so must the fields
the two patches touch.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from controlplane import ClusterUnderTest

from gitops.cli import main
from gitops.cluster import ClusterClient
from gitops.desired import read_ref
from gitops.diff import ObjectDiff, diff_object
from gitops.errors import ClusterError
from gitops.model import canonical_order, key_of, split_api_version
from gitops.server_diff import server_diff_object

pytestmark = pytest.mark.fake_only

#: Random edits of the desired side judged by both modes.
EDITS = 520
SEED = 20261201
_QUANTITY = re.compile(r"^(\d+)(m|Ki|Mi|Gi)?$")


def _verdicts(
    client: ClusterClient, desired: dict[str, Any], live: dict[str, Any]
) -> tuple[ObjectDiff, ObjectDiff]:
    return diff_object(desired, live), server_diff_object(client, desired, live)


def _paths(result: ObjectDiff) -> set[tuple[str, ...]]:
    """The fields a patch touches, list positions generalized (orders may differ)."""
    return {
        tuple("*" if p.isdigit() else p for p in op["path"].split("/")[1:]) for op in result.patch
    }


def _same_fields(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> bool:
    """Whether two patches touch the same fields: each path of one is, contains or is
    contained in a path of the other (one may replace a list item whole, the other the
    field in it)."""

    def related(x: tuple[str, ...], y: tuple[str, ...]) -> bool:
        n = min(len(x), len(y))
        return x[:n] == y[:n]

    return all(any(related(x, y) for y in b) for x in a) and all(
        any(related(y, x) for x in a) for y in b
    )


def _fields(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _fields(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _fields(sub, (*path, index))
    yield path, value


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def _other_spelling(value: str) -> str | None:
    """The same quantity spelled differently (4 -> 4000m, 16Gi -> 16384Mi)."""
    match = _QUANTITY.match(value)
    if not match:
        return None
    number, suffix = int(match.group(1)), match.group(2) or ""
    return {"": f"{number * 1000}m", "Gi": f"{number * 1024}Mi", "Mi": f"{number * 1024}Ki"}.get(
        suffix
    )


_FIXED = {"apiVersion", "kind", "name", "namespace", "selector", "matchLabels", "group"}


def _edit(rng: random.Random, desired: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """One random edit of ``desired`` (its name and the edited copy), or None if none fits."""
    out = copy.deepcopy(desired)
    leaves = [
        (p, v)
        for p, v in _fields(out)
        if p
        and not isinstance(v, (dict, list))
        and not _FIXED & {s for s in p if isinstance(s, str)}
    ]
    lists = [(p, v) for p, v in _fields(out) if isinstance(v, list) and len(v) >= 2 and p]
    quantities = [(p, v) for p, v in leaves if isinstance(v, str) and _other_spelling(v)]
    ints = [(p, v) for p, v in leaves if type(v) is int and p[-1] in ("port", "targetPort")]
    builtin = "." not in str(desired["apiVersion"]).split("/")[0] or str(
        desired["apiVersion"]
    ).startswith(("apps/", "networking.k8s.io/", "policy/", "rbac.authorization.k8s.io/"))
    choice = rng.choice(
        ["value", "remove", "label", "unlabel", "annotate", "reorder", "quantity", "port", "zero"]
    )
    metadata = out["metadata"]
    if choice == "value" and leaves:
        path, value = rng.choice(leaves)
        if isinstance(value, bool):
            _set(out, path, not value)
        elif isinstance(value, int):
            _set(out, path, value + 1)
        elif isinstance(value, str) and not _QUANTITY.match(value):
            _set(out, path, value + "-x")
        else:
            return None
        return f"value {path}", out
    if choice == "remove" and leaves:
        path, _value = rng.choice(leaves)
        parent = _get(out, path[:-1])
        if isinstance(parent, list):
            return None
        del parent[path[-1]]
        return f"remove {path}", out
    if choice == "label":
        metadata.setdefault("labels", {})[f"edit-{rng.randrange(99)}"] = "yes"
        return "label", out
    if choice == "unlabel" and metadata.get("labels"):
        name = rng.choice(sorted(metadata["labels"]))
        del metadata["labels"][name]
        return f"unlabel {name}", out
    if choice == "annotate":
        metadata.setdefault("annotations", {})["example.com/note"] = str(rng.randrange(99))
        return "annotate", out
    if choice == "reorder" and lists:
        path, value = rng.choice(lists)
        _set(out, path, list(reversed(value)))
        return f"reorder {path}", out
    if choice == "quantity" and quantities:
        path, value = rng.choice(quantities)
        _set(out, path, _other_spelling(value))
        return f"quantity {path}", out
    if choice == "port" and ints:
        path, value = rng.choice(ints)
        _set(out, path, str(value))
        return f"int-or-string {path}", out
    if choice == "zero" and builtin and out["kind"] in ("Deployment", "StatefulSet"):
        spec = out["spec"]["template"]["spec"]
        field, zero = rng.choice([("hostNetwork", False), ("hostname", ""), ("volumes", [])])
        if field in spec:
            return None
        spec[field] = zero
        return f"zero {field}", out
    return None


@pytest.fixture
def applied(
    cluster: ClusterUnderTest, tmp_path: Path, project_root: Path
) -> tuple[ClusterClient, list[dict[str, Any]]]:
    """The rendered prod environment applied as ``gitops``; the client and what was applied."""
    repo = tmp_path / "rendered"
    render = ["render", "--repo", str(repo), "--blueprints", str(project_root / "blueprints")]
    assert main([*render, "--environments", str(project_root / "environments")]) == 0
    kubeconfig = cluster.plane.write_kubeconfig(tmp_path / "kubeconfig", context="test")
    client = ClusterClient.from_kubeconfig(str(kubeconfig), "test")
    applied = []
    for manifest in canonical_order(read_ref(repo, "main", "prod")):
        group, version = split_api_version(manifest["apiVersion"])
        if client.is_served(group, version, manifest["kind"]):
            client.apply(manifest, force=True)
            applied.append(manifest)
    return client, applied


def corpus(
    client: ClusterClient, manifests: list[dict[str, Any]], edits: int = EDITS
) -> tuple[dict[str, int], list[str]]:
    """Judge every applied manifest and ``edits`` random edits both ways: counts, disagreements."""
    live = {key_of(m): client.get(key_of(m)) for m in manifests}
    disagreements: list[str] = []
    counts = dict.fromkeys(("objects", "edits", "modified", "in-sync", "refused", "cannot-tell"), 0)

    def judge(what: str, desired: dict[str, Any], current: dict[str, Any]) -> None:
        current = client.get(key_of(current)) or current  # controllers move status along
        try:
            local, server = _verdicts(client, desired, current)
        except ClusterError:
            counts["refused"] += 1  # the server refuses the edit (invalid): nothing to compare
            return
        counts[str(server.status)] += 1
        if local.cannot_tell:
            counts["cannot-tell"] += 1  # local mode asks the server: its verdict stands
        elif local.status is not server.status:
            disagreements.append(f"{what}: local {local.status}, server {server.status}")
        elif not _same_fields(_paths(local), _paths(server)):
            disagreements.append(f"{what}: patches {_paths(local)} != {_paths(server)}")

    for manifest in manifests:
        current = live[key_of(manifest)]
        assert current is not None
        counts["objects"] += 1
        judge(f"{key_of(manifest)} as rendered", manifest, current)
    rng = random.Random(SEED)
    while counts["edits"] < edits:
        manifest = rng.choice(manifests)
        edit = _edit(rng, manifest)
        if edit is None:
            continue
        counts["edits"] += 1
        what, desired = edit
        judge(f"{key_of(manifest)} {what}", desired, live[key_of(manifest)])  # type: ignore[arg-type]
    return counts, disagreements


def test_local_and_server_diffs_agree_over_the_example_and_random_edits(
    applied: tuple[ClusterClient, list[dict[str, Any]]],
) -> None:
    client, manifests = applied
    kinds = {(m["apiVersion"], m["kind"]) for m in manifests}
    counts, disagreements = corpus(client, manifests)
    print(f"agreement: {len(kinds)} kinds, {counts}, {len(disagreements)} disagreements")
    assert disagreements == [], "\n".join(disagreements[:40])
    assert len(kinds) >= 15
    assert counts["edits"] >= 500 and counts["modified"] > 200 and counts["in-sync"] > 60


def test_diff_cli_server_side_mode(
    applied: tuple[ClusterClient, list[dict[str, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import yaml

    client, manifests = applied
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    kubeconfig = tmp_path / "kubeconfig"  # written by the fixture
    path = tmp_path / "desired.yaml"
    path.write_text(yaml.safe_dump(deployment))
    argv = ["diff", "-f", str(path), "--kubeconfig", str(kubeconfig), "--context", "test"]
    assert main([*argv, "--server-side"]) == 0
    edited = copy.deepcopy(deployment)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] += "-next"
    path.write_text(yaml.safe_dump(edited))
    capsys.readouterr()
    assert main([*argv, "--server-side", "-o", "json"]) == 1
    (found,) = json.loads(capsys.readouterr().out)["objects"]
    assert found["status"] == "modified"
    assert [op["path"] for op in found["patch"]] == ["/spec/template/spec/containers/0/image"]
    live = tmp_path / "live.yaml"
    live.write_text(yaml.safe_dump(client.get(key_of(deployment))))
    assert main(["diff", "-f", str(path), "--live", str(live), "--server-side"]) == 2
    assert "--server-side" in capsys.readouterr().err
