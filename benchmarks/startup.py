"""Cold start of the command line: ``python -m benchmarks.startup``.

Each command runs ``--repeat`` times as a new process (best kept), side by side with the
baseline ``python -c pass`` of the same interpreter:

- ``gitops --version`` and ``gitops diff --help``: target <= 0.3 s, and neither may start
  Node.js (cdk8s' jsii runtime);
- ``gitops render --help``, and a whole ``gitops render`` of a one-stack fleet, reported
  with whether Node.js started and, if it did, how long after the process began;
- against ``kustomize build`` of one environment of the example (the repository's
  ``blueprints/`` and ``environments/``, rendered once first): a no-op ``gitops render`` of
  the whole example and ``gitops check`` of it, target <= 2x, in ``--repeat`` paired rounds
  (the median of the per-round ratios). kustomize is ``--kustomize``, else the one on
  ``PATH``, else built once with ``go install`` (sigs.k8s.io/kustomize/kustomize/v5, pinned)
  into ``~/.cache/gitops-kustomize``; without Go or network the ratio line says so and
  fails.

The package's bytecode is compiled first, as installing it does.

Node.js is detected in the process itself: a probe runs the CLI in-process and then
reports whether ``jsii`` was imported (importing cdk8s is what starts Node.js).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import Ratios, make_fleet, table
from benchmarks.render_floor import compile_bytecode

#: kustomize built when none is on PATH (the last release this Go toolchain builds).
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5@v5.7.1"
KUSTOMIZE_CACHE = Path.home() / ".cache" / "gitops-kustomize" / "bin"
#: The example: the project's own inputs.
PROJECT = Path(__file__).resolve().parent.parent

#: Runs the CLI in-process, then prints whether jsii (Node.js) was imported.
PROBE = """
import sys
from gitops.cli.main import main
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


def find_kustomize(given: str | None) -> tuple[str | None, str]:
    """The kustomize binary (``--kustomize``, PATH, or built once), else why there is none."""
    if given:
        return given, ""
    found = shutil.which("kustomize") or shutil.which("kustomize", path=str(KUSTOMIZE_CACHE))
    if found:
        return found, ""
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        return None, "kustomize not on PATH and no Go toolchain to build it"
    env = {**os.environ, "GOBIN": str(KUSTOMIZE_CACHE)}
    done = subprocess.run([go, "install", KUSTOMIZE_MODULE], env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        return None, f"building {KUSTOMIZE_MODULE} failed: {done.stderr.strip()[-200:]}"
    return str(KUSTOMIZE_CACHE / "kustomize"), ""


def against_kustomize(
    gitops: list[str], kustomize: str, work: Path, rounds: int
) -> dict[str, list[float]]:
    """Paired rounds: kustomize build of one environment, no-op render, check (seconds)."""
    inputs = ["--blueprints", str(PROJECT / "blueprints"),
              "--environments", str(PROJECT / "environments")]  # fmt: skip
    repo = work / "example"
    subprocess.run([*gitops, "render", *inputs, "--repo", str(repo)], check=True,
                   capture_output=True)  # fmt: skip
    commands = {
        "kustomize": [kustomize, "build", str(repo / "envs" / "dev")],
        "render": [*gitops, "render", *inputs, "--repo", str(repo)],
        "check": [*gitops, "check", *inputs],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(max(rounds, 1)):
        order = list(commands) if round_ % 2 == 0 else list(commands)[::-1]
        for name in order:
            times[name].append(timed(commands[name], 1))
    return times


def gitops_command() -> list[str]:
    """The installed ``gitops`` entry point next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).parent / "gitops"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gitops.cli.main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the start-up benchmark; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--repeat", type=int, default=10, help="runs, best kept (default 10)")
    parser.add_argument("--limit", type=float, default=0.3, help="seconds allowed (default 0.3)")
    parser.add_argument("--kustomize", help="kustomize binary (default: PATH, else built)")
    args = parser.parse_args(argv)
    compile_bytecode()
    gitops = gitops_command()
    kustomize, missing = find_kustomize(args.kustomize)
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
        paired = against_kustomize(gitops, kustomize, work, args.repeat) if kustomize else {}

    table(
        [("command", "seconds", "x baseline", "Node.js started")]
        + [(name, f"{sec:.3f}", f"{sec / baseline:.1f}", "yes" if node else "no")
           for name, sec, node in rows]
    )  # fmt: skip
    if paired:
        print()
        table(
            [("example (paired rounds)", "median seconds", "median x kustomize")]
            + [(name, f"{statistics.median(paired[name]):.3f}",
                f"{statistics.median(_per_round(paired, name)):.2f}") for name in paired]
        )  # fmt: skip
    ratios = Ratios()
    for name in ("render", "check"):
        if paired:
            value = statistics.median(_per_round(paired, name))
            ratios.at_most(f"{name}_vs_kustomize", value, 2.0)
        else:
            ratios.check(f"{name}_vs_kustomize", False, missing)
    for label in ("gitops --version", "gitops diff --help"):
        key = label.replace("gitops ", "").replace("--", "").replace(" ", "_")
        ratios.at_most(f"{key}_seconds", measured[label], args.limit, unit="s")
    nodes = [name for name, _sec, node in rows if node]
    ratios.check("node_started_by", not any(not n.startswith("gitops render") for n in nodes),
                 ", ".join(nodes) or "no command")  # fmt: skip
    return ratios.finish()


def _per_round(times: dict[str, list[float]], name: str) -> list[float]:
    return [mine / base for mine, base in zip(times[name], times["kustomize"], strict=True)]


if __name__ == "__main__":
    raise SystemExit(main())
