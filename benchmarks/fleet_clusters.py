"""Fleet mode of ``benchmarks.fleet``: one environment on many clusters.

``python -m benchmarks.fleet --clusters 200 --stacks 50`` renders, checks and commits a
generated fleet at 1/8, 1/4, 1/2 and all of ``--clusters`` (at least four sizes), each
``gitops render`` and ``gitops check`` in its own process so that its CPU time and peak RSS
are its own, then prints:

- per size: objects (what per-cluster copies would hold), files committed, bytes under
  ``envs/``, then for render and check: CPU seconds, wall seconds, peak RSS;
- the floor at full size: every cluster's objects dumped with ``CSafeDumper`` as
  per-cluster copies and committed by a minimal pygit2 loop (what a tool without overlays
  would at least pay), and render's ratio to it;
- the exponent of render and check time in the number of clusters (least squares on
  log-log over the sizes printed; 1.0 is linear, start-up pulls it below);
- the growth of ``envs/`` (the manifests) from the smallest to the full size, with a
  fixed number of differing clusters (``--differing``): overlays make it 1.0.

Times are CPU seconds (user + system, from ``wait4`` for the children and
``time.process_time`` for the floor): the machines are shared, and CPU time is what a
loaded machine distorts least. Wall seconds are printed beside them.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pygit2

from benchmarks._common import Ratios, make_cluster_fleet, table

#: Targets: linear in clusters (with room for noise), and a bounded peak RSS.
MAX_EXPONENT = 1.15
MAX_RSS_MB = 600
MAX_LAYOUT_GROWTH = 1.05
MAX_RENDER_VS_FLOOR = 1.5
_RENDERED = re.compile(r"rendered \S+: (\d+) objects")


@dataclass(frozen=True)
class Run:
    """One child process: CPU and wall seconds, peak RSS (MB), exit code, stderr."""

    cpu: float
    wall: float
    rss: float
    code: int
    stderr: str


def _child(argv: list[str], work: Path) -> Run:
    """Run ``python -m gitops ARGV`` and measure it (stderr kept in a file, not a pipe)."""
    with tempfile.TemporaryFile(dir=work) as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "gitops", *argv],
                                 stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    # ru_maxrss is in kilobytes on Linux.
    return Run(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, child.returncode,
               text)  # fmt: skip


def _inputs(root: Path) -> list[str]:
    return ["--blueprints", str(root / "blueprints"), "--environments", str(root / "environments")]


def _render(root: Path, repo: Path) -> tuple[Run, int]:
    """``gitops render`` into a new bare repository: the run and the objects rendered."""
    pygit2.init_repository(str(repo), bare=True, initial_head="main")
    run = _child(["render", "--repo", str(repo), *_inputs(root)], root)
    if run.code != 0:
        raise SystemExit(f"gitops render failed ({run.code}): {run.stderr[-2000:]}")
    return run, sum(int(count) for count in _RENDERED.findall(run.stderr))


def _check(root: Path) -> Run:
    run = _child(["check", *_inputs(root)], root)
    if run.code != 0:  # the generated fleet passes: a denial is a broken benchmark
        raise SystemExit(f"gitops check failed ({run.code}): {run.stderr[-2000:]}")
    return run


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


def sizes_for(clusters: int) -> list[int]:
    """The cluster counts measured: 1/8, 1/4, 1/2 and all of ``clusters`` (four at least)."""
    sizes = {max(clusters // d, 1) for d in (8, 4, 2, 1)}
    more = iter(range(1, clusters + 1))
    while len(sizes) < min(4, clusters):  # a small --clusters: the smallest counts fill in
        sizes.add(next(more))
    return sorted(sizes)


def run(args: argparse.Namespace) -> int:
    """Measure the fleet at growing sizes; print the table and the ratio lines."""
    from benchmarks.fleet import fleet_files, floor_commit
    from gitops.render.pipeline import render_environments

    sizes = sizes_for(args.clusters)
    # Fewer differing clusters than the smallest size, so that every size has a majority.
    differing = min(args.differing, max(sizes[0] // 2 - 1, 0))
    rows: list[tuple[str, ...]] = [
        ("clusters", "objects", "files", "envs/ KB", "render CPU s", "wall s", "RSS MB",
         "check CPU s", "wall s", "RSS MB"),
    ]  # fmt: skip
    renders: list[tuple[int, float]] = []
    checks: list[tuple[int, float]] = []
    envs_size: dict[int, int] = {}
    peak = 0.0
    with tempfile.TemporaryDirectory(prefix="gitops-bench-clusters-") as tmp:
        work = Path(tmp)
        for size in sizes:
            fleet = make_cluster_fleet(work / f"in-{size}", args.stacks, size, differing)
            render, objects = _render(work / f"in-{size}", work / f"repo-{size}")
            check = _check(work / f"in-{size}")
            files, _ = _tree_bytes(work / f"repo-{size}", "")
            _, envs_bytes = _tree_bytes(work / f"repo-{size}", "envs")
            renders.append((size, render.cpu))
            checks.append((size, check.cpu))
            envs_size[size] = envs_bytes
            peak = max(peak, render.rss, check.rss)
            rows.append((str(size), str(objects), str(files), f"{envs_bytes / 1024:.0f}",
                         f"{render.cpu:.2f}", f"{render.wall:.2f}", f"{render.rss:.0f}",
                         f"{check.cpu:.2f}", f"{check.wall:.2f}", f"{check.rss:.0f}"))  # fmt: skip
        # The floor at full size: every cluster's objects as its own copies.
        copies = fleet_files(render_environments(fleet.blueprints, fleet.environments))
        cpu, wall = time.process_time(), time.perf_counter()
        floor_commit(work / "floor", copies)
        floor_cpu, floor_wall = time.process_time() - cpu, time.perf_counter() - wall
    rows.append((f"floor: per-cluster copies, CSafeDumper + pygit2 commit ({sizes[-1]})",
                 str(len(copies)), str(len(copies)), "", f"{floor_cpu:.2f}", f"{floor_wall:.2f}",
                 "", "", "", ""))  # fmt: skip
    print(f"fleet mode: {args.stacks} stacks on up to {args.clusters} clusters, "
          f"{differing} of them with their own values")  # fmt: skip
    table(rows)
    render_k, check_k = exponent(renders), exponent(checks)
    points = ", ".join(f"({n}, {s:.2f})" for n, s in renders)
    print(f"\nrender CPU seconds by clusters: {points}; fitted exponent {render_k:.3f}")
    points = ", ".join(f"({n}, {s:.2f})" for n, s in checks)
    print(f"check CPU seconds by clusters: {points}; fitted exponent {check_k:.3f}")
    marginal = ", ".join(
        f"{(s1 - s0) / (n1 - n0) * 1e3:.1f}" for (n0, s0), (n1, s1) in itertools.pairwise(renders)
    )
    print(f"render CPU ms per added cluster, between consecutive sizes: {marginal}")
    ratios = Ratios()
    ratios.at_most("clusters_render_vs_floor", renders[-1][1] / floor_cpu, MAX_RENDER_VS_FLOOR)
    ratios.at_most("clusters_render_exponent", render_k, MAX_EXPONENT, unit="")
    ratios.at_most("clusters_check_exponent", check_k, MAX_EXPONENT, unit="")
    growth = envs_size[sizes[-1]] / envs_size[sizes[0]]
    ratios.at_most("clusters_layout_growth", growth, MAX_LAYOUT_GROWTH)
    ratios.at_most("clusters_peak_rss_mb", peak, MAX_RSS_MB, unit=" MB")
    return ratios.finish()
