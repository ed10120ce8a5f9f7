"""Fleet render + commit against its floor and cdk8s: ``python -m benchmarks.fleet``.

One run, side by side (the machines are shared and noisy, so only ratios measured in the
same run are compared):

- ``gitops render``: :func:`gitops.workflows.render.render_to_repo` of a generated fleet of
  ``--stacks`` x ``--envs`` into a new repository (read inputs, render, guardrail check,
  lay out, commit, refresh the working tree); best of ``--repeat``.
- floor: the same manifest dicts, dumped with PyYAML's C dumper (``CSafeDumper``) to the
  same paths and committed with pygit2 by a minimal loop (blobs, index, tree, commit).
- cdk8s: the same objects built as ``cdk8s.ApiObject``s in one Chart and synthesized with
  ``App.synth()`` (one file per resource). At ~ms per object this runs on a sample of
  ``--cdk8s-sample`` objects; its per-object cost is extrapolated to the whole fleet.

Prints a table, then the ratio lines last. With ``--clusters N`` it runs the fleet mode
instead (one environment on N clusters: see :mod:`benchmarks.fleet_clusters`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pygit2
import yaml

from benchmarks._common import Fleet, Ratios, best_of, make_fleet, table
from gitops.core.keys import Manifest
from gitops.inputs.environments import load_environments
from gitops.render import layout
from gitops.render.pipeline import check_policies, render_environments, render_tree
from gitops.workflows.render import render_to_repo


def fleet_files(rendered: dict[str, list[Manifest]]) -> list[tuple[str, Manifest]]:
    """Every object as the repository holds it: ``(path, manifest with its sync wave)``."""
    out = []
    for env, objects in sorted(rendered.items()):
        for layer, members in layout.layered(env, objects).items():
            for obj in members:
                out.append((layout.object_path(env, layer, obj), layout.with_sync_wave(obj, layer)))
    return out


def floor_commit(repo_path: Path, files: Sequence[tuple[str, Manifest]]) -> str:
    """The minimal script: CSafeDumper to bytes, blobs, one tree, one commit."""
    repo = pygit2.init_repository(str(repo_path), initial_head="main")
    index = pygit2.Index()
    for path, obj in files:
        text = yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False)
        index.add(
            pygit2.IndexEntry(path, repo.create_blob(text.encode()), pygit2.GIT_FILEMODE_BLOB)
        )
    tree = index.write_tree(repo)
    signature = pygit2.Signature("floor", "floor@localhost", 0, 0)
    return str(repo.create_commit("refs/heads/main", signature, signature, "floor", tree, []))


def cdk8s_synth(objects: Sequence[Manifest], outdir: Path) -> int:
    """Build ``objects`` as cdk8s ApiObjects in one Chart and synthesize them to files."""
    from gitops.constructs.node_runtime import import_cdk8s

    cdk8s: Any = import_cdk8s()
    app = cdk8s.App(outdir=str(outdir), yaml_output_type=cdk8s.YamlOutputType.FILE_PER_RESOURCE)
    chart = cdk8s.Chart(app, "fleet", disable_resource_name_hashes=True)
    for index, obj in enumerate(objects):
        metadata = obj["metadata"]
        api_object = cdk8s.ApiObject(
            chart,
            f"o{index}",
            api_version=obj["apiVersion"],
            kind=obj["kind"],
            metadata=cdk8s.ApiObjectMetadata(
                name=metadata["name"],
                namespace=metadata.get("namespace"),
                labels=metadata.get("labels"),
                annotations=metadata.get("annotations"),
            ),
        )
        for key, value in obj.items():  # spec, data, rules...: how raw objects get their body
            if key not in ("apiVersion", "kind", "metadata"):
                api_object.add_json_patch(cdk8s.JsonPatch.add(f"/{key}", value))
    app.synth()
    return sum(1 for _ in outdir.iterdir())


def stages(fleet: Fleet, work: Path) -> list[tuple[str, float]]:
    """One timed run of each step of ``gitops render`` (for the breakdown rows)."""
    out = []
    start = time.perf_counter()
    rendered = render_environments(fleet.blueprints, fleet.environments)
    out.append(("  read inputs + constructs", time.perf_counter() - start))
    start = time.perf_counter()
    check_policies(rendered)
    out.append(("  guardrail check (gitops.policy)", time.perf_counter() - start))
    start = time.perf_counter()
    files = render_tree(rendered, load_environments(fleet.environments))
    out.append(("  layout + YAML (render_tree)", time.perf_counter() - start))
    from gitops.repo import commit_tree

    start = time.perf_counter()
    commit_tree(work / "stages-repo", files, update_worktree=False)
    out.append(("  commit (blobs, tree, commit)", time.perf_counter() - start))
    start = time.perf_counter()
    commit_tree(work / "stages-repo-wt", files)
    out.append(("  commit + working tree (non-bare repository)", time.perf_counter() - start))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fleet benchmark; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--stacks", type=int, default=300, help="stacks (default 300)")
    parser.add_argument("--envs", type=int, default=3, help="environments (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="runs, best kept (default 3)")
    parser.add_argument(
        "--cdk8s-sample", type=int, default=400, help="objects synthesized by cdk8s (default 400)"
    )
    parser.add_argument("--no-cdk8s", action="store_true", help="skip the cdk8s comparison")
    parser.add_argument(
        "--clusters",
        type=int,
        default=0,
        help="fleet mode: one environment on this many clusters (see benchmarks.fleet_clusters)",
    )
    parser.add_argument(
        "--differing",
        type=int,
        default=5,
        help="fleet mode: clusters with values of their own (default 5)",
    )
    args = parser.parse_args(argv)
    if args.clusters > 0:
        from benchmarks.fleet_clusters import run as run_clusters

        return run_clusters(args)
    with tempfile.TemporaryDirectory(prefix="gitops-bench-fleet-") as tmp:
        work = Path(tmp)
        return run(make_fleet(work, args.stacks, args.envs), work, args)


def run(fleet: Fleet, work: Path, args: argparse.Namespace) -> int:
    """Measure, print the table, then the ratios."""
    rendered = render_environments(fleet.blueprints, fleet.environments)
    files = fleet_files(rendered)
    objects = len(files)
    # Rounds alternate the floor and gitops render, each into a new directory (deleting
    # thousands of files between runs would tax the next run), keeping each one's best.
    ours = floor = float("inf")
    for round_ in range(max(args.repeat, 1)):
        start = time.perf_counter()
        floor_commit(work / f"floor-{round_}", files)
        floor = min(floor, time.perf_counter() - start)
        # A bare repository: the same work as the floor (objects and a ref, no checkout),
        # as a CI job that renders and pushes does. The working-tree refresh a non-bare
        # repository gets is a row of its own below.
        pygit2.init_repository(str(work / f"repo-{round_}"), bare=True, initial_head="main")
        start = time.perf_counter()
        result = render_to_repo(fleet.blueprints, fleet.environments, work / f"repo-{round_}")
        ours = min(ours, time.perf_counter() - start)
    breakdown = stages(fleet, work)

    rows: list[tuple[str, ...]] = [("path", "seconds", "ms/object", "x floor")]
    rows.append((f"gitops render, bare repository ({len(result.added)} files)", f"{ours:.3f}",
                 f"{ours / objects * 1e3:.3f}", f"{ours / floor:.2f}"))  # fmt: skip
    rows.extend((name, f"{sec:.3f}", f"{sec / objects * 1e3:.3f}", f"{sec / floor:.2f}")
                for name, sec in breakdown)  # fmt: skip
    rows.append(("floor: CSafeDumper + pygit2 commit", f"{floor:.3f}",
                 f"{floor / objects * 1e3:.3f}", "1.00"))  # fmt: skip
    cdk8s_total = None
    if not args.no_cdk8s:
        sample = sampled(files, args.cdk8s_sample)
        start = time.perf_counter()
        from gitops.constructs.node_runtime import import_cdk8s

        import_cdk8s()
        node_start = time.perf_counter() - start
        cdk8s_time, written = best_of(
            1, lambda: cdk8s_synth(sample, work / f"dist-{time.monotonic_ns()}")
        )
        per_object = cdk8s_time / len(sample)
        cdk8s_total = per_object * objects
        rows.append((f"cdk8s ApiObject + synth ({written} of {objects} objects, extrapolated)",
                     f"{cdk8s_total:.3f}", f"{per_object * 1e3:.3f}",
                     f"{cdk8s_total / floor:.2f}"))  # fmt: skip
        rows.append(("  cdk8s import + Node.js start (once, not counted)", f"{node_start:.3f}",
                     "", ""))  # fmt: skip
    print(f"fleet: {fleet.stacks} stacks x {fleet.envs} environments = {objects} objects, "
          f"best of {args.repeat}")  # fmt: skip
    table(rows)

    ratios = Ratios()
    # Every object is a file of the commit, plus the kustomizations, Argo CD and Flux files.
    ratios.check("objects_committed", len(result.added) > objects,
                 f"{objects} objects in {len(result.added)} files")  # fmt: skip
    ratios.at_most("render_vs_floor", ours / floor, 1.5)
    if cdk8s_total is not None:
        ratios.at_least("cdk8s_vs_render", cdk8s_total / ours, 5.0)
    return ratios.finish()


def sampled(files: Sequence[tuple[str, Manifest]], count: int) -> list[Manifest]:
    """``count`` objects spread evenly over the fleet (every kind is represented)."""
    step = max(len(files) // max(count, 1), 1)
    return [obj for _, obj in files[::step][:count]]


if __name__ == "__main__":
    raise SystemExit(main())
