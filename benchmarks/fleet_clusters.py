"""Fleet mode of ``benchmarks.fleet``: one environment on many clusters.

``python -m benchmarks.fleet --clusters 200 --stacks 50`` renders, checks and commits a
generated fleet at 1/8, 1/4, 1/2 and all of ``--clusters`` (each ``gitops render`` in its
own process, so its peak RSS is its own), then prints:

- per size: objects (what per-cluster copies would hold), files committed, bytes under
  ``envs/``, seconds, peak RSS;
- the floor at full size: every cluster's objects dumped with ``CSafeDumper`` as
  per-cluster copies and committed by a minimal pygit2 loop (what a tool without overlays
  would at least pay), and render's ratio to it;
- the exponent of render time in the number of clusters (least squares on log-log; 1.0
  is linear);
- the growth of ``envs/`` (the manifests) from the smallest to the full size, with a
  fixed number of differing clusters (``--differing``): overlays make it 1.0.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2

from benchmarks._common import Ratios, make_cluster_fleet, table


def _render(root: Path, repo: Path) -> tuple[float, float]:
    """``gitops render`` in a child process: (seconds, peak RSS in MB)."""
    pygit2.init_repository(str(repo), bare=True, initial_head="main")
    argv = [sys.executable, "-m", "gitops", "render", "--repo", str(repo),
            "--blueprints", str(root / "blueprints"), "--environments",
            str(root / "environments")]  # fmt: skip
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        error = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"gitops render failed ({child.returncode}): {error[-2000:]}")
    # ru_maxrss is in kilobytes on Linux.
    return seconds, usage.ru_maxrss / 1024


def _tree_bytes(repo: Path, prefix: str) -> tuple[int, int]:
    """(files, bytes) under ``prefix`` at the branch head."""
    r = pygit2.Repository(str(repo))
    tree = r.revparse_single("main").peel(pygit2.Commit).tree
    files = size = 0
    stack = [tree] if not prefix else [tree[prefix]] if prefix in tree else []
    while stack:
        node = stack.pop()
        for entry in node:
            if isinstance(entry, pygit2.Tree):
                stack.append(entry)
            else:
                files += 1
                size += entry.size
    return files, size


def exponent(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of log(seconds) against log(clusters)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(s) for _, s in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    den = sum((x - mx) ** 2 for x in xs)
    return num / den if den else 1.0


def run(args: argparse.Namespace) -> int:
    """Measure the fleet at growing sizes; print the table and the ratio lines."""
    from benchmarks.fleet import fleet_files, floor_commit
    from gitops.render import render_environments

    sizes = sorted({max(args.clusters // d, 1) for d in (8, 4, 2, 1)})
    # Fewer differing clusters than the smallest size, so that every size has a majority.
    differing = min(args.differing, max(sizes[0] // 2 - 1, 0))
    rows: list[tuple[str, ...]] = [
        ("clusters", "objects", "files", "envs/ KB", "seconds", "peak RSS MB")
    ]
    points: list[tuple[int, float]] = []
    envs_size: dict[int, int] = {}
    peak = 0.0
    with tempfile.TemporaryDirectory(prefix="gitops-bench-clusters-") as tmp:
        work = Path(tmp)
        for size in sizes:
            fleet = make_cluster_fleet(work / f"in-{size}", args.stacks, size, differing)
            seconds, rss = _render(work / f"in-{size}", work / f"repo-{size}")
            files, _ = _tree_bytes(work / f"repo-{size}", "")
            _, envs_bytes = _tree_bytes(work / f"repo-{size}", "envs")
            rendered = render_environments(fleet.blueprints, fleet.environments)
            objects = sum(len(objs) for objs in rendered.values())
            points.append((size, seconds))
            envs_size[size] = envs_bytes
            peak = max(peak, rss)
            rows.append((str(size), str(objects), str(files), f"{envs_bytes / 1024:.0f}",
                         f"{seconds:.2f}", f"{rss:.0f}"))  # fmt: skip
        copies = fleet_files(rendered)  # the full size: every cluster's own copy
        start = time.perf_counter()
        floor_commit(work / "floor", copies)
        floor = time.perf_counter() - start
    rows.append((f"floor: {len(copies)} per-cluster files, CSafeDumper + pygit2 commit",
                 str(len(copies)), str(len(copies)), "", f"{floor:.2f}", ""))  # fmt: skip
    print(f"fleet mode: {args.stacks} stacks on up to {args.clusters} clusters, "
          f"{differing} of them with their own values")  # fmt: skip
    table(rows)
    full = points[-1][1]
    ratios = Ratios()
    ratios.at_most("clusters_render_vs_floor", full / floor, 1.5)
    ratios.at_most("clusters_time_exponent", exponent(points), 1.15, unit="")
    growth = envs_size[sizes[-1]] / envs_size[sizes[0]]
    ratios.at_most("clusters_layout_growth", growth, 1.05)
    ratios.at_most("clusters_peak_rss_mb", peak, 4000, unit=" MB")
    return ratios.finish()
