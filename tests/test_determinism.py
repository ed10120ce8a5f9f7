"""Determinism across processes: the same inputs render byte-identical files and one Git tree.

Inside one process the string hash seed never changes, so a result that depends on set or
dict-of-hash iteration order looks stable there. Each render here runs in its own process
under a different ``PYTHONHASHSEED`` (0 turns hash randomization off).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from gitops.repo import read_files

ROOT = Path(__file__).resolve().parents[1]
TINY = Path(__file__).parent / "fixtures" / "tiny"
SEEDS = ("0", "1", "2718281828")

#: Objects that differ per cluster, so a fleet has a base and overlays to lay out.
REGION_BLUEPRINT = """\
from gitops.constructs.raw import Manifest


def blueprint(scope, env):
    region = env.cluster.labels.get("region", "none")
    Manifest(scope, "region", {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "region", "namespace": env.namespace},
             "data": {"region": region, "zones": ",".join(sorted({region, "b", "a"}))}})
"""

#: A fleet inheriting from beta: three clusters, two regions.
FLEET = """\
name: edge
extends: beta
clusters:
  - {name: eu1, server: "https://eu1.example.com:6443", labels: {region: eu-west}}
  - {name: eu2, server: "https://eu2.example.com:6443", labels: {region: eu-west}}
  - {name: us1, server: "https://us1.example.com:6443", labels: {region: us-east}}
"""


def example_project(tmp_path: Path) -> Path:
    """The embedded example: five blueprints, three environments."""
    shutil.copytree(ROOT / "blueprints", tmp_path / "blueprints")
    shutil.copytree(ROOT / "environments", tmp_path / "environments")
    return tmp_path


def fleet_project(tmp_path: Path) -> Path:
    """The tiny project plus a fleet that extends one of its environments."""
    shutil.copytree(TINY / "blueprints", tmp_path / "blueprints")
    shutil.copytree(TINY / "environments", tmp_path / "environments")
    (tmp_path / "blueprints" / "region.py").write_text(REGION_BLUEPRINT)
    (tmp_path / "environments" / "edge.yaml").write_text(FLEET)
    return tmp_path


def render_in_process(project: Path, repo: Path, seed: str) -> None:
    """``gitops render`` in a fresh interpreter with ``PYTHONHASHSEED=seed``."""
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "gitops", "render", "--repo", str(repo)),
            *("--blueprints", str(project / "blueprints")),
            *("--environments", str(project / "environments")),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("make_project", [example_project, fleet_project])
def test_renders_under_different_hash_seeds_are_byte_identical(
    make_project: Callable[[Path], Path], tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project")
    trees: dict[str, str] = {}
    files: dict[str, dict[str, bytes]] = {}
    for seed in SEEDS:
        repo = tmp_path / f"repo-{seed}"
        render_in_process(project, repo, seed)
        trees[seed] = str(pygit2.Repository(str(repo)).revparse_single("main").peel(pygit2.Tree).id)
        files[seed] = read_files(repo, "main", "")
    assert len(files[SEEDS[0]]) > 10
    for seed in SEEDS[1:]:
        assert sorted(files[seed]) == sorted(files[SEEDS[0]])
        changed = [path for path in files[seed] if files[seed][path] != files[SEEDS[0]][path]]
        assert changed == [], f"PYTHONHASHSEED={seed} rendered other bytes"
        assert trees[seed] == trees[SEEDS[0]]
