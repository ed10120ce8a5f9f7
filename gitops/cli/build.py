"""``gitops build``: one environment's manifests to stdout or a directory, no Git.

The local loop's ``kustomize build`` / ``cdk8s synth``: the exact objects ``gitops render``
would commit for the environment (sync waves included), without a repository.
"""

from __future__ import annotations

import argparse

from gitops.cli.common import add_input_arguments, input_paths


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``build`` subcommand and its arguments."""
    parser = subparsers.add_parser(
        "build",
        help="print one environment's manifests (or write its files), without Git",
        description="Render the blueprints for one environment and print its manifests, "
        "exactly as gitops render would commit them, as a YAML stream (-o yaml) or a "
        "kubectl List (-o json); or write the environment's repository files (envs/, "
        "argocd/, flux/) under --output-dir. No Git repository is read or written. The "
        "guardrails are not evaluated (gitops check does that). Exit 0, or 2 on error.",
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--env",
        action="append",
        required=True,
        metavar="NAME",
        help="the environment to build (repeatable)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("yaml", "json"),
        default="yaml",
        help="format on stdout (default: %(default)s)",
    )
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        default=None,
        help="write the environment's files under DIR (as laid out in the repository) "
        "instead of printing; files an earlier build wrote there and no longer produced "
        "are removed, nothing else is touched",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Build and print (or write). Returns 0."""
    import sys
    from pathlib import Path

    from gitops.inputs.blueprints import load_blueprints
    from gitops.inputs.environments import load_environments, select_environments
    from gitops.render.build import build_documents, write_tree
    from gitops.render.pipeline import render_environment

    blueprints, environments = input_paths(args)
    envs = select_environments(load_environments(environments), args.env)
    loaded = load_blueprints(blueprints)
    rendered = {env.name: render_environment(env, loaded) for env in envs}
    if args.output_dir is not None:
        written = write_tree(Path(args.output_dir), rendered, envs)
        print(f"wrote {written} files to {args.output_dir}")
        return 0
    sys.stdout.write(build_documents(rendered, args.output))
    return 0
