"""Re-rendering an unchanged or slightly changed fleet: ``python -m benchmarks.rerender``.

In one run, on a generated fleet of ``--stacks`` x ``--envs``:

1. cold: ``gitops render`` (:func:`gitops.render.render_to_repo`) into a new repository;
2. again with no change: must write no commit, in at most a quarter of the cold time;
3. after changing one stack's image tag: one commit whose diff against its parent (read
   with pygit2) touches only that stack's files, at least one per environment.

Cold and no-change runs alternate for ``--repeat`` rounds (best of each is kept). Prints a
table, then the ratio lines last.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pygit2

from benchmarks._common import ENV_NAMES, Ratios, make_fleet, stack_name, table
from gitops import layout
from gitops.render import render_to_repo


def changed_paths(repo_path: Path, commit: str) -> list[str]:
    """Paths the commit's diff against its first parent touches (both sides of renames)."""
    repo = pygit2.Repository(str(repo_path))
    new = repo[commit].peel(pygit2.Commit)
    diff = repo.diff(new.parents[0], new)
    paths = {p for patch in diff for p in (patch.delta.old_file.path, patch.delta.new_file.path)}
    return sorted(paths)


def belongs_to(path: str, stack: str) -> bool:
    """Whether an object file is one of ``stack``'s (``<kind>-<stack>[-...].yaml``)."""
    if not path.startswith(layout.ENVS_DIR + "/"):
        return False
    name = path.rsplit("/", 1)[-1].removesuffix(".yaml").split("-", 1)[-1]
    return name == stack or name.startswith(stack + "-")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the re-render benchmark; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--stacks", type=int, default=300, help="stacks (default 300)")
    parser.add_argument("--envs", type=int, default=3, help="environments (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, best kept (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gitops-bench-rerender-") as tmp:
        work = Path(tmp)
        fleet = make_fleet(work, args.stacks, args.envs)

        def render(repo: Path) -> tuple[float, bool, str | None]:
            start = time.perf_counter()
            result = render_to_repo(fleet.blueprints, fleet.environments, repo)
            return time.perf_counter() - start, result.created, result.commit

        cold = again = float("inf")
        commits_again = 0
        for round_ in range(max(args.repeat, 1)):
            repo = work / f"repo-{round_}"
            seconds, _, _ = render(repo)
            cold = min(cold, seconds)
            seconds, created, _ = render(repo)
            again = min(again, seconds)
            commits_again += created
        stack = stack_name(args.stacks // 2)
        fleet.set_image_tag(args.stacks // 2, "v9.9.9")
        changed, created, commit = render(repo)
        paths = changed_paths(repo, commit) if created and commit else []
        foreign = [p for p in paths if not belongs_to(p, stack)]
        envs = {p.split("/")[1] for p in paths}

    print(f"fleet: {args.stacks} stacks x {args.envs} environments, best of {args.repeat}")
    table(
        [
            ("render", "seconds", "x cold", "commit"),
            ("cold (new repository)", f"{cold:.3f}", "1.00", "yes"),
            ("again, nothing changed", f"{again:.3f}", f"{again / cold:.2f}",
             f"{commits_again} of {max(args.repeat, 1)}"),
            (f"again, image tag of {stack} changed", f"{changed:.3f}", f"{changed / cold:.2f}",
             f"{len(paths)} files" if created else "none"),
        ]
    )  # fmt: skip
    for path in paths:
        print(f"  ~ {path}")
    ratios = Ratios()
    ratios.at_most("rerender_vs_cold", again / cold, 0.25)
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
