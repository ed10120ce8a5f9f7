"""The server judges our diff: local verdicts and patches agree with a dry-run apply's.

Against the real control plane (``tests/controlplane``): the rendered example (every kind we
render) is applied as ``gitops``, then a seeded corpus of random edits of the desired side
(values changed, fields removed or added, lists reordered, quantities and int-or-strings in
another spelling, labels, zero values, defaults spelled out) is judged twice: by the local
comparison (:func:`gitops.diff.engine.diff_object`) and by the server
(:func:`gitops.diff.server.server_diff_object`). Verdicts must agree, and so must the fields
the two patches touch. Live states other field managers made are the corpus of
``tests/test_server_diff_managers.py``.
"""

from __future__ import annotations

import copy
import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from controlplane import ClusterUnderTest
from diff_corpus import Judge, apply_example, fields, get_in, set_in

from gitops.cli.main import main
from gitops.cluster.client import ClusterClient
from gitops.core.keys import key_of

pytestmark = pytest.mark.fake_only

#: Random edits of the desired side judged by both modes.
EDITS = 520
SEED = 20261201
_QUANTITY = re.compile(r"^(\d+)(m|Ki|Mi|Gi)?$")


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


def edit_desired(rng: random.Random, desired: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """One random edit of ``desired`` (its name and the edited copy), or None if none fits."""
    out = copy.deepcopy(desired)
    leaves = [
        (p, v)
        for p, v in fields(out)
        if p
        and not isinstance(v, (dict, list))
        and not _FIXED & {s for s in p if isinstance(s, str)}
    ]
    lists = [(p, v) for p, v in fields(out) if isinstance(v, list) and len(v) >= 2 and p]
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
            set_in(out, path, not value)
        elif isinstance(value, int):
            set_in(out, path, value + 1)
        elif isinstance(value, str) and not _QUANTITY.match(value):
            set_in(out, path, value + "-x")
        else:
            return None
        return f"value {path}", out
    if choice == "remove" and leaves:
        path, _value = rng.choice(leaves)
        parent = get_in(out, path[:-1])
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
        set_in(out, path, list(reversed(value)))
        return f"reorder {path}", out
    if choice == "quantity" and quantities:
        path, value = rng.choice(quantities)
        set_in(out, path, _other_spelling(value))
        return f"quantity {path}", out
    if choice == "port" and ints:
        path, value = rng.choice(ints)
        set_in(out, path, str(value))
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
    return apply_example(cluster, tmp_path, project_root)


def corpus(
    client: ClusterClient, manifests: list[dict[str, Any]], edits: int = EDITS
) -> tuple[dict[str, int], list[str]]:
    """Judge every applied manifest and ``edits`` random edits both ways: counts, disagreements."""
    live = {key_of(m): client.get(key_of(m)) for m in manifests}
    judge = Judge(client)
    counts = judge.counts
    counts["objects"] = counts["edits"] = 0
    cases = []
    for manifest in manifests:
        current = live[key_of(manifest)]
        assert current is not None
        counts["objects"] += 1
        cases.append((f"{key_of(manifest)} as rendered", manifest, current))
    rng = random.Random(SEED)
    while counts["edits"] < edits:
        manifest = rng.choice(manifests)
        edit = edit_desired(rng, manifest)
        if edit is None:
            continue
        counts["edits"] += 1
        what, desired = edit
        cases.append((f"{key_of(manifest)} {what}", desired, live[key_of(manifest)]))
    # Nothing is written: the cases are independent, and the server's dry runs and the local
    # comparisons overlap on two cores.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda case: judge(*case), cases))
    judge.disagreements.sort()
    return counts, judge.disagreements


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
