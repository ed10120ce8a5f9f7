"""``gitops render`` through the CLI against the physical floor (``-m benchmarks.render_floor``).

Both sides write the same fleet (``--stacks`` x ``--envs``, about 5 objects per stack and
environment: 1,330 x 3 is 20,000 objects) into a new non-bare repository on disk, the
kind the CLI creates, with a working tree:

- ``gitops render``: the command as a user runs it, a new process (bytecode compiled, as an
  installed package has it);
- the floor: what no renderer can avoid. Serialising every object at C speed
  (``json.dumps``), one pack and commit of the same files by ``git fast-import`` in a new
  repository, and writing the files of the working tree (plain writes, no renames).

The two alternate for ``--rounds`` paired rounds (which goes first alternates too); the
ratio of each pair is taken and the median of those ratios is the result (the machines are
shared: a slow moment hits one pair, not the result). Prints a table, then the ratio lines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import Ratios, make_fleet, table
from gitops.inputs.environments import load_environments
from gitops.render.pipeline import render_environments, render_tree

#: Median CLI render / floor allowed (issue 18).
LIMIT = 3.0


def fast_import_stream(files: dict[str, bytes]) -> bytes:
    """A ``git fast-import`` stream committing ``files`` to ``refs/heads/main``."""
    parts = [b"commit refs/heads/main\n", b"committer floor <floor@localhost> 0 +0000\n",
             b"data 5\nfloor\n"]  # fmt: skip
    for path, data in files.items():
        parts.append(b"M 100644 inline " + path.encode() + b"\n")
        parts.append(b"data %d\n" % len(data))
        parts.append(data)
        parts.append(b"\n")
    return b"".join(parts)


def floor(objects: Sequence[object], files: dict[str, bytes], repo: Path) -> float:
    """Seconds for the physical floor (see the module docstring)."""
    start = time.perf_counter()
    encoded = [json.dumps(obj, separators=(",", ":")).encode() for obj in objects]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"],
                   input=fast_import_stream(files), check=True)  # fmt: skip
    made: set[Path] = set()
    for path, data in files.items():
        dest = repo / path
        if dest.parent not in made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.add(dest.parent)
        dest.write_bytes(data)
    assert len(encoded) == len(objects)
    return time.perf_counter() - start


def cli_render(blueprints: Path, environments: Path, repo: Path) -> float:
    """Seconds for ``gitops render`` as a new process into a new repository."""
    command = [sys.executable, "-m", "gitops", "render", "--blueprints", str(blueprints),
               "--environments", str(environments), "--repo", str(repo)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def compile_bytecode() -> None:
    """Compile the package's bytecode, as installing it does (this checkout may not have it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    package = Path(__file__).resolve().parent.parent / "gitops"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], env=env,
                   check=True, capture_output=True)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return 1 if the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--stacks", type=int, default=1330, help="stacks (default 1330)")
    parser.add_argument("--envs", type=int, default=3, help="environments (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (default 3)")
    args = parser.parse_args(argv)
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="gitops-bench-floor-") as tmp:
        work = Path(tmp)
        fleet = make_fleet(work, args.stacks, args.envs)
        rendered = render_environments(fleet.blueprints, fleet.environments)
        files = render_tree(rendered, load_environments(fleet.environments))
        objects = [obj for target in rendered.values() for obj in target]
        pairs: list[tuple[float, float]] = []
        for round_ in range(max(args.rounds, 1)):
            first_cli = round_ % 2 == 1
            cli_repo, floor_repo = work / f"cli-{round_}", work / f"floor-{round_}"
            if first_cli:
                cli = cli_render(fleet.blueprints, fleet.environments, cli_repo)
            base = floor(objects, files, floor_repo)
            if not first_cli:
                cli = cli_render(fleet.blueprints, fleet.environments, cli_repo)
            pairs.append((cli, base))
            print(f"round {round_ + 1}: render {cli:.2f} s, floor {base:.2f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
        same = all((cli_repo / path).read_bytes() == data for path, data in files.items())
    ratios_each = [cli / base for cli, base in pairs]
    print(f"fleet: {args.stacks} stacks x {args.envs} environments = {len(objects)} objects, "
          f"{len(files)} files, {sum(map(len, files.values())) / 1e6:.1f} MB")  # fmt: skip
    table(
        [("round", "gitops render (s)", "floor (s)", "ratio")]
        + [(str(i + 1), f"{c:.2f}", f"{b:.2f}", f"{c / b:.2f}") for i, (c, b) in enumerate(pairs)]
    )
    ratios = Ratios()
    ratios.check("working_tree_files", same, f"{len(files)} files as rendered")
    ratios.at_most("render_vs_floor", statistics.median(ratios_each), LIMIT)
    return ratios.finish()


if __name__ == "__main__":
    raise SystemExit(main())
