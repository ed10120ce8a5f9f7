"""Cold start of the command line: ``python -m benchmarks.startup``.

Each command runs ``--repeat`` times as a new process (best kept), side by side with the
baseline ``python -c pass`` of the same interpreter:

- ``gitops --version`` and ``gitops diff --help``: target <= 0.3 s, and neither may start
  Node.js (cdk8s' jsii runtime);
- ``gitops render --help``, and a whole ``gitops render`` of a one-stack fleet, reported
  with whether Node.js started and, if it did, how long after the process began.

Node.js is detected in the process itself: a probe runs the CLI in-process and then
reports whether ``jsii`` was imported (importing cdk8s is what starts Node.js).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import Ratios, make_fleet, table

#: Runs the CLI in-process, then prints whether jsii (Node.js) was imported.
PROBE = """
import sys
from gitops.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("NODE", "jsii" in sys.modules, file=sys.stderr)
"""


def timed(command: Sequence[str], repeat: int, cwd: Path | None = None) -> float:
    """Best wall time of ``repeat`` runs of ``command`` as a new process."""
    best = float("inf")
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def starts_node(args: Sequence[str], cwd: Path | None = None) -> bool:
    """Whether running ``gitops <args>`` imports jsii (and so starts Node.js)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    return "NODE True" in done.stderr


def gitops_command() -> list[str]:
    """The installed ``gitops`` entry point next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).parent / "gitops"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gitops.cli"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the start-up benchmark; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--repeat", type=int, default=10, help="runs, best kept (default 10)")
    parser.add_argument("--limit", type=float, default=0.3, help="seconds allowed (default 0.3)")
    args = parser.parse_args(argv)
    gitops = gitops_command()
    with tempfile.TemporaryDirectory(prefix="gitops-bench-startup-") as tmp:
        work = Path(tmp)
        fleet = make_fleet(work, 1, 1)
        render_args = ["render", "--blueprints", str(fleet.blueprints), "--environments",
                       str(fleet.environments), "--repo", str(work / "repo")]  # fmt: skip
        rows = []
        baseline = timed([sys.executable, "-c", "pass"], args.repeat)
        rows.append(("python -c pass (baseline)", baseline, False))
        measured: dict[str, float] = {}
        for label, cli_args in (
            ("gitops --version", ["--version"]),
            ("gitops diff --help", ["diff", "--help"]),
            ("gitops render --help", ["render", "--help"]),
        ):
            measured[label] = timed([*gitops, *cli_args], args.repeat)
            rows.append((label, measured[label], starts_node(cli_args)))
        render_time = timed([*gitops, *render_args], max(args.repeat // 3, 1))
        rows.append(("gitops render (1 stack x 1 environment)", render_time,
                     starts_node(render_args)))  # fmt: skip

    table(
        [("command", "seconds", "x baseline", "Node.js started")]
        + [(name, f"{sec:.3f}", f"{sec / baseline:.1f}", "yes" if node else "no")
           for name, sec, node in rows]
    )  # fmt: skip
    ratios = Ratios()
    for label in ("gitops --version", "gitops diff --help"):
        key = label.replace("gitops ", "").replace("--", "").replace(" ", "_")
        ratios.at_most(f"{key}_seconds", measured[label], args.limit, unit="s")
    nodes = [name for name, _sec, node in rows if node]
    ratios.check("node_started_by", not any(not n.startswith("gitops render") for n in nodes),
                 ", ".join(nodes) or "no command")  # fmt: skip
    return ratios.finish()


if __name__ == "__main__":
    raise SystemExit(main())
