"""What the server-judged diff corpora share: the prod example applied, and one judge.

``tests/test_server_diff_agreement.py`` (edits of the desired side) and
``tests/test_server_diff_managers.py`` (fields other managers own) both apply the rendered
prod environment to the real control plane and judge each case twice: by the local
comparison (:func:`gitops.diff.engine.diff_object`) and by the server's dry-run apply
(:func:`gitops.diff.server.predict` and :func:`~gitops.diff.server.compare`, the two halves of
:func:`~gitops.diff.server.server_diff_object`). Verdicts must agree, and so must the
fields the two patches touch; a case the local mode "cannot tell" falls back to the server.
"""

from __future__ import annotations

import copy
import functools
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane import ClusterUnderTest

from gitops.cli.main import main
from gitops.cluster.client import ClusterClient
from gitops.core.errors import ClusterError
from gitops.core.keys import canonical_order, key_of, split_api_version
from gitops.diff.engine import ObjectDiff, diff_object
from gitops.diff.server import compare, predict
from gitops.inputs.ignore import IgnoreRule
from gitops.workflows.desired import read_ref


@functools.cache
def prod_example(project_root: Path) -> tuple[dict[str, Any], ...]:
    """The example's prod environment as rendered, in apply order (rendered once per run:
    every test that applies it reads the same manifests)."""
    with tempfile.TemporaryDirectory(prefix="gitops-example-") as tmp:
        repo = Path(tmp) / "rendered"
        render = ["render", "--repo", str(repo), "--blueprints", str(project_root / "blueprints")]
        assert main([*render, "--environments", str(project_root / "environments")]) == 0
        return tuple(canonical_order(read_ref(repo, "main", "prod")))


def apply_example(
    cluster: ClusterUnderTest, tmp_path: Path, project_root: Path
) -> tuple[ClusterClient, list[dict[str, Any]]]:
    """The rendered prod environment applied as ``gitops``; the client and what was applied.

    The client's kubeconfig is ``tmp_path / "kubeconfig"`` (context ``test``).
    """
    kubeconfig = cluster.plane.write_kubeconfig(tmp_path / "kubeconfig", context="test")
    client = ClusterClient.from_kubeconfig(str(kubeconfig), "test")
    applied = []
    for manifest in copy.deepcopy(prod_example(project_root)):
        group, version = split_api_version(manifest["apiVersion"])
        if client.is_served(group, version, manifest["kind"]):
            client.apply(manifest, force=True)
            applied.append(manifest)
    return client, applied


def patch_paths(result: ObjectDiff) -> set[tuple[str, ...]]:
    """The fields a patch touches, list positions generalized (orders may differ)."""
    return {
        tuple("*" if p.isdigit() else p for p in op["path"].split("/")[1:]) for op in result.patch
    }


def same_fields(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> bool:
    """Whether two patches touch the same fields: each path of one is, contains or is
    contained in a path of the other (one may replace a list item whole, the other the
    field in it)."""

    def related(x: tuple[str, ...], y: tuple[str, ...]) -> bool:
        n = min(len(x), len(y))
        return x[:n] == y[:n]

    return all(any(related(x, y) for y in b) for x in a) and all(
        any(related(y, x) for x in a) for y in b
    )


def fields(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) of a document, containers after their contents."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from fields(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from fields(sub, (*path, index))
    yield path, value


def get_in(doc: Any, path: tuple[Any, ...]) -> Any:
    """The value at ``path`` (keys and list indexes)."""
    for step in path:
        doc = doc[step]
    return doc


def set_in(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set the value at ``path``."""
    get_in(doc, path[:-1])[path[-1]] = value


@dataclass
class Judge:
    """Judges cases both ways and keeps the counts and the disagreements."""

    client: ClusterClient
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("modified", "in-sync", "refused", "cannot-tell"), 0)
    )
    disagreements: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self,
        what: str,
        desired: dict[str, Any],
        current: dict[str, Any],
        ignore: Sequence[IgnoreRule] = (),
    ) -> tuple[ObjectDiff, ObjectDiff] | None:
        """Judge ``desired`` against the object as stored now; the local and the server's
        verdicts, or None when the server refuses the apply (an invalid edit)."""
        for _attempt in range(10):
            current = self.client.get(key_of(current)) or current  # controllers move it along
            try:
                local = diff_object(desired, current, ignore=ignore)
                predicted = predict(self.client, desired)
            except ClusterError:
                with self._lock:
                    self.counts["refused"] += 1
                return None
            # The dry run answers from the object as stored then: a controller that wrote it
            # after our read (a Deployment's revision annotation) would show as drift.
            if predicted["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]:
                break
        else:
            raise AssertionError(f"{what}: {key_of(current)} kept changing under the dry run")
        server = compare(desired, current, predicted, ignore=ignore)
        with self._lock:  # cases may be judged from several threads
            self._count(what, local, server)
        return local, server

    def _count(self, what: str, local: ObjectDiff, server: ObjectDiff) -> None:
        self.counts[str(server.status)] += 1
        if local.cannot_tell:
            self.counts["cannot-tell"] += 1  # local mode asks the server: its verdict stands
        elif local.status is not server.status:
            self.disagreements.append(
                f"{what}: local {local.status} {list(local.patch)}, "
                f"server {server.status} {list(server.patch)}"
            )
        elif not same_fields(patch_paths(local), patch_paths(server)):
            self.disagreements.append(
                f"{what}: patches {patch_paths(local)} != {patch_paths(server)}"
            )
