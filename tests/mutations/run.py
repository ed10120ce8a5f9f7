"""Apply one-line mutations to the code and report the ones no test notices (survivors).

Each entry of ``mutations.yaml`` names a file, a line of it (matched exactly, once, after
stripping indentation), what to put instead, and the tests that cover it. For every entry
the line is replaced, the named tests run in a subprocess, and the file is restored,
whatever happens. A mutation *survives* when its tests still pass: the logic of that line is
not really tested. The mutations run in ``--lanes`` parallel lanes (one per core, at most
2): each lane is a copy of the checkout (beside a link to ``../shared``) with its own real
control plane (``tests/controlplane``), started once and handed to every pytest run of the
lane through ``GITOPS_TEST_CONTROL_PLANE``, so a mutation costs its tests, not a cluster
start-up each. First the listed tests run unmutated, shared out over the lanes: a lane whose
copy or control plane fails them would "kill" the mutations those tests cover, so then the
run stops. Exit status: 0 when every mutation was killed, 1 when any survived, 2 when the
list no longer fits the code (a line not found, or found twice: update the list with the
code) or a lane is broken.

Usage: ``python tests/mutations/run.py [--only ID ...] [--lanes N] [--list]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

import yaml

ROOT = Path(__file__).resolve().parents[2]
LIST = Path(__file__).with_name("mutations.yaml")


@dataclass(frozen=True)
class Mutation:
    """One line of one file, replaced by something subtly wrong."""

    id: str
    file: str
    line: str
    replace: str
    tests: tuple[str, ...]
    why: str


def load(path: Path = LIST) -> list[Mutation]:
    """The mutations listed in ``path``."""
    out = []
    for entry in yaml.safe_load(path.read_text()):
        out.append(
            Mutation(
                id=entry["id"],
                file=entry["file"],
                line=entry["line"],
                replace=entry["replace"],
                tests=tuple(entry["tests"]),
                why=entry["why"],
            )
        )
    return out


def mutate(text: str, mutation: Mutation) -> str:
    """``text`` with the mutation's line replaced (indentation kept); raises ValueError
    unless the line occurs exactly once."""
    lines = text.split("\n")
    hits = [i for i, line in enumerate(lines) if line.strip() == mutation.line.strip()]
    if len(hits) != 1:
        raise ValueError(
            f"{mutation.id}: {mutation.file}: the line {mutation.line.strip()!r} occurs "
            f"{len(hits)} times, expected once (update tests/mutations/mutations.yaml)"
        )
    i = hits[0]
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    lines[i] = indent + mutation.replace.strip()
    return "\n".join(lines)


@dataclass
class Lane:
    """A copy of the checkout to mutate, and the environment of its pytest runs."""

    root: Path
    env: dict[str, str]


@contextmanager
def lanes(count: int) -> Iterator[list[Lane]]:
    """``count`` copies of the checkout, each with its own control plane (none when it
    cannot run here: each run then skips or fails as plain pytest would)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from controlplane import (
        ControlPlane,
        ControlPlaneUnavailable,
        build_binaries,
        start_control_plane,
    )
    from k8s_schemas import schemas_dir

    given = bool(
        os.environ.get("GITOPS_TEST_KUBECONFIG") or os.environ.get("GITOPS_TEST_CONTROL_PLANE")
    )
    binaries: Path | None = None
    if not given:  # else the runs are pointed at one cluster already: one lane
        with contextlib.suppress(ControlPlaneUnavailable):
            binaries = build_binaries()
    count = 1 if given else count
    with tempfile.TemporaryDirectory(prefix="mutations-") as tmp:
        roots = [_copy_checkout(Path(tmp) / f"lane-{n}") for n in range(count)]
        crds = sorted(schemas_dir().glob("*.yaml"))
        planes: list[ControlPlane] = []
        # The lanes' planes start together, each in a thread of its own that lives until
        # they stop: a component gets SIGKILL when the thread that started it ends (the
        # parent-death signal is per thread), and a dead plane would "kill" every mutation.
        starters = ThreadPoolExecutor(count)
        try:
            if binaries is not None:

                def start(_lane: int) -> ControlPlane:
                    assert binaries is not None
                    return start_control_plane(
                        lambda: Path(tempfile.mkdtemp(dir=tmp)), binaries, crds
                    )

                planes = list(starters.map(start, range(count)))
            envs = [
                {"GITOPS_TEST_CONTROL_PLANE": str(plane.save(Path(tmp) / f"plane-{n}.json"))}
                for n, plane in enumerate(planes)
            ] or [{} for _ in roots]
            yield [Lane(root, env) for root, env in zip(roots, envs, strict=True)]
        finally:
            for plane in planes:
                plane.stop()
            starters.shutdown()


def _copy_checkout(lane: Path) -> Path:
    """The files git tracks (as they are now) under ``lane/<name>``, ``lane/shared`` a link
    to the checkout's ``../shared`` (the CRDs and policy library the tests read)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")  # fmt: skip
    root = lane / ROOT.name
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    if (ROOT.parent / "shared").exists():
        (lane / "shared").symlink_to(ROOT.parent / "shared")
    return root


def run(mutation: Mutation | None, lane: Lane, tests: Sequence[str] = ()) -> tuple[bool, float]:
    """Apply, test, restore in ``lane``. Returns (the tests passed, seconds). Without a
    mutation, ``tests`` run on the unmutated copy."""
    path = lane.root / (mutation.file if mutation else "pyproject.toml")
    original = path.read_text()
    mutated = mutate(original, mutation) if mutation else original
    started = time.monotonic()
    try:
        path.write_text(mutated)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                # One process: every run shares the one control plane started above.
                "-n",
                "0",
                *(mutation.tests if mutation else tests),
            ],
            cwd=lane.root,
            env={**os.environ, **lane.env},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        path.write_text(original)
    return done.returncode == 0, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    """Run the listed mutations and print one line each, survivors last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--only", nargs="*", default=None, help="run only these ids")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--lanes", type=int, default=min(2, len(os.sched_getaffinity(0))),
                        help="mutations run at once, each lane with its own copy and "
                        "control plane (default: one per core, at most 2)")  # fmt: skip
    args = parser.parse_args(argv)
    # A stopped run must still restore the file it mutated (the finally in run()).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    mutations = load()
    if args.only:
        mutations = [m for m in mutations if m.id in set(args.only)]
    try:
        for m in mutations:  # check the whole list fits the code before changing anything
            mutate((ROOT / m.file).read_text(), m)
    except ValueError as err:
        print(f"mutations: {err}", file=sys.stderr)
        return 2
    if args.list:
        for m in mutations:
            print(f"{m.id}: {m.file}: {m.why}")
        return 0
    started = time.monotonic()
    with lanes(max(1, min(args.lanes, len(mutations)))) as ready:
        print(f"mutations: {len(ready)} lanes ready in {time.monotonic() - started:.0f} s",
              flush=True)  # fmt: skip
        with ThreadPoolExecutor(len(ready)) as pool:
            # A mutation is killed only by tests that pass without it: the listed tests run
            # unmutated first, shared out over the lanes (a broken copy or a dead control
            # plane would otherwise "kill" every mutation whose tests it breaks).
            listed = sorted({test for m in mutations for test in m.tests})
            shares = [listed[n :: len(ready)] for n in range(len(ready))]
            sane = list(pool.map(lambda lane, share: run(None, lane, share)[0], ready, shares))
            if not all(sane):
                print("mutations: a lane fails the listed tests unmutated; its copy of the "
                      "checkout or its control plane is broken", file=sys.stderr)  # fmt: skip
                return 2
            free: Queue[Lane] = Queue()
            for lane in ready:
                free.put(lane)
            survivors = [m for m in pool.map(lambda m: _in_a_lane(m, free), mutations) if m]
    print(f"mutations: {len(mutations) - len(survivors)} killed, {len(survivors)} survived")
    return 1 if survivors else 0


def _in_a_lane(mutation: Mutation, free: Queue[Lane]) -> Mutation | None:
    """Run ``mutation`` in the next free lane; print its line; the mutation if it survived."""
    lane = free.get()
    try:
        survived, seconds = run(mutation, lane)
    finally:
        free.put(lane)
    verdict = "SURVIVED" if survived else "killed  "
    print(f"{verdict} {mutation.id} ({seconds:.0f} s): {mutation.why}", flush=True)
    return mutation if survived else None


if __name__ == "__main__":
    sys.exit(main())
