"""Apply one-line mutations to the code and report the ones no test notices (survivors).

Each entry of ``mutations.yaml`` names a file, a line of it (matched exactly, once, after
stripping indentation), what to put instead, and the tests that cover it. For every entry the
line is replaced, the named tests run in a subprocess, and the file is restored, whatever
happens. A mutation *survives* when its tests still pass: the logic of that line is not really
tested. One real control plane (``tests/controlplane``) is started for the whole run and
handed to every pytest run through ``GITOPS_TEST_CONTROL_PLANE``, so a mutation costs its
tests, not a cluster start-up each. Exit status: 0 when every mutation was killed, 1 when
any survived, 2 when the list no longer fits the code (a line not found, or found twice:
update the list with the code).

Usage: ``python tests/mutations/run.py [--only ID ...] [--list]``
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


@contextmanager
def shared_control_plane() -> Iterator[dict[str, str]]:
    """Start the test control plane once; the environment handing it to child pytest runs
    (empty when it cannot run here: each run then skips or fails as plain pytest would)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from controlplane import ControlPlaneUnavailable, build_binaries, start_control_plane
    from k8s_schemas import schemas_dir

    if os.environ.get("GITOPS_TEST_KUBECONFIG") or os.environ.get("GITOPS_TEST_CONTROL_PLANE"):
        yield {}  # the runs are pointed at a cluster already
        return
    try:
        binaries = build_binaries()
    except ControlPlaneUnavailable:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="mutations-") as tmp:
        crds = sorted(schemas_dir().glob("*.yaml"))
        plane = start_control_plane(lambda: Path(tempfile.mkdtemp(dir=tmp)), binaries, crds)
        try:
            yield {"GITOPS_TEST_CONTROL_PLANE": str(plane.save(Path(tmp) / "plane.json"))}
        finally:
            plane.stop()


def run(mutation: Mutation, env: dict[str, str] | None = None) -> tuple[bool, float]:
    """Apply, test, restore. Returns (survived, seconds)."""
    path = ROOT / mutation.file
    original = path.read_text()
    mutated = mutate(original, mutation)
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
                *mutation.tests,
            ],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
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
    survivors = []
    started = time.monotonic()
    with shared_control_plane() as env:
        print(f"mutations: control plane ready in {time.monotonic() - started:.0f} s", flush=True)
        for m in mutations:
            survived, seconds = run(m, env)
            print(
                f"{'SURVIVED' if survived else 'killed  '} {m.id} ({seconds:.0f} s): {m.why}",
                flush=True,
            )
            if survived:
                survivors.append(m)
    print(f"mutations: {len(mutations) - len(survivors)} killed, {len(survivors)} survived")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
