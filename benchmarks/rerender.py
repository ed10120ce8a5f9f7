"""Re-rendering an unchanged or slightly changed fleet: ``python -m benchmarks.rerender``.

In each of ``--repeat`` rounds, on a generated fleet of ``--stacks`` x ``--envs``, into a
new non-bare repository (the kind the CLI creates, with a working tree):

1. cold: ``gitops render`` (:func:`gitops.workflows.render.render_to_repo`);
2. again with no change: must write no commit, in at most a quarter of the cold time;
3. after changing one stack's image tag: one commit whose diff against its parent (read
   with pygit2) touches only that stack's files, at least one per environment, in at most
   a tenth of the cold time (its objects alone are dumped and checked again).

Each ratio is taken within its round (paired), and the median over the rounds is the
result. Prints a table, then the ratio lines last.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pygit2

from benchmarks._common import ENV_NAMES, Ratios, make_fleet, stack_name, table
from gitops.core.paths import ENVS_DIR
from gitops.workflows.render import render_to_repo


def changed_paths(repo_path: Path, commit: str) -> list[str]:
    """Paths the commit's diff against its first parent touches (both sides of renames)."""
    repo = pygit2.Repository(str(repo_path))
    new = repo[commit].peel(pygit2.Commit)
    diff = repo.diff(new.parents[0], new)
    deltas = [patch.delta for patch in diff if patch is not None]
    paths = {p for delta in deltas for p in (delta.old_file.path, delta.new_file.path)}
    return sorted(paths)


def belongs_to(path: str, stack: str) -> bool:
    """Whether an object file is one of ``stack``'s (``<kind>-<stack>[-...].yaml``)."""
    if not path.startswith(ENVS_DIR + "/"):
        return False
    name = path.rsplit("/", 1)[-1].removesuffix(".yaml").split("-", 1)[-1]
    return name == stack or name.startswith(stack + "-")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the re-render benchmark; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--stacks", type=int, default=300, help="stacks (default 300)")
    parser.add_argument("--envs", type=int, default=3, help="environments (default 3)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="paired rounds, median kept (default 3)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gitops-bench-rerender-") as tmp:
        work = Path(tmp)
        fleet = make_fleet(work, args.stacks, args.envs)

        def render(repo: Path) -> tuple[float, bool, str | None]:
            start = time.perf_counter()
            result = render_to_repo(fleet.blueprints, fleet.environments, repo)
            return time.perf_counter() - start, result.created, result.commit

        stack = stack_name(args.stacks // 2)
        rounds: list[tuple[float, float, float]] = []
        commits_again = 0
        paths: list[str] = []
        created = False
        for round_ in range(max(args.repeat, 1)):
            repo = work / f"repo-{round_}"
            cold, _, _ = render(repo)
            again, made, _ = render(repo)
            commits_again += made
            fleet.set_image_tag(args.stacks // 2, f"v9.9.{round_}")
            changed, created, commit = render(repo)
            paths = changed_paths(repo, commit) if created and commit else []
            fleet.set_image_tag(args.stacks // 2, "v0.8.5")  # the next cold render as before
            rounds.append((cold, again, changed))
        foreign = [p for p in paths if not belongs_to(p, stack)]
        envs = {p.split("/")[1] for p in paths}

    again_ratio = statistics.median(a / c for c, a, _ in rounds)
    changed_ratio = statistics.median(x / c for c, _, x in rounds)
    print(f"fleet: {args.stacks} stacks x {args.envs} environments, best of {args.repeat}")
    table(
        [("round", "cold s", "no change s", "x cold", "one tag s", "x cold")]
        + [(str(i + 1), f"{c:.3f}", f"{a:.3f}", f"{a / c:.2f}", f"{x:.3f}", f"{x / c:.2f}")
           for i, (c, a, x) in enumerate(rounds)]
    )  # fmt: skip
    print(f"commits when nothing changed: {commits_again} of {len(rounds)}; "
          f"last one-tag commit: {len(paths)} files")  # fmt: skip
    for path in paths:
        print(f"  ~ {path}")
    ratios = Ratios()
    ratios.at_most("rerender_vs_cold", again_ratio, 0.25)
    ratios.at_most("one_tag_vs_cold", changed_ratio, 0.1)
    ratios.check("rerender_commits", commits_again == 0, f"{commits_again} commits")
    ratios.check(
        "one_stack_change_paths",
        created and bool(paths) and not foreign and envs == set(ENV_NAMES[: args.envs]),
        f"{len(paths)} paths of {stack} in {len(envs)} envs, {len(foreign)} others"
        + (f" ({foreign[0]})" if foreign else ""),
    )
    return ratios.finish()


if __name__ == "__main__":
    raise SystemExit(main())
