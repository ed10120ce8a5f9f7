"""``gitops init [DIR]``: write a starter project (environments, a blueprint)."""

from __future__ import annotations

import argparse


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``init`` subcommand."""
    parser = subparsers.add_parser(
        "init",
        help="write a starter project that renders and checks clean",
        description="Write environments/ (an abstract base, a dev environment and a prod "
        "fleet of two clusters) and blueprints/ (an InferenceStack and a plain ConfigMap) "
        "into DIR. Existing files are never overwritten: if any would be, nothing is "
        "written (exit 2).",
    )
    parser.add_argument(
        "directory", nargs="?", default=".", metavar="DIR", help="where (default: .)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the starter; print the next steps. Returns 0."""
    from pathlib import Path

    from gitops.inputs.starter import write_starter

    directory = Path(args.directory)
    for path in write_starter(directory):
        print(f"wrote {path}")
    print(
        "next: gitops check && gitops build --env dev && gitops render "
        "(then gitops plan --env all --base main --head <branch> in a pull request)"
    )
    return 0
