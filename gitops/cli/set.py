"""``gitops set image|model STACK=VALUE --env X``: bump one stack in one environment.

Like ``kustomize edit set image``: one value of the environment file is changed in place
(comments and order kept), after the edited environment was validated and rendered.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gitops.cli.common import add_input_arguments, input_paths

#: What each ``set`` subject edits: subject -> (override key, what VALUE is).
SUBJECTS = {
    "image": ("image_tag", "the engine image's tag"),
    "model": ("model_revision", "the Hugging Face revision (commit hash, branch or tag)"),
}


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``set`` subcommand and its arguments."""
    parser = subparsers.add_parser(
        "set",
        help="set a stack's image tag or model revision in an environment file",
        description="Edit overrides.<STACK>.image_tag (set image) or "
        "overrides.<STACK>.model_revision (set model) in environments/<env>.yaml, in place: "
        "comments, key order and formatting are kept. With --env <env>/<cluster>, the "
        "cluster's own overrides in a fleet. The environment is validated and rendered "
        "first; on any error the file is left as it was (exit 2).",
    )
    parser.add_argument("subject", choices=sorted(SUBJECTS), help="what to set")
    parser.add_argument(
        "assignment", metavar="STACK=VALUE", help="the stack id and its new tag or revision"
    )
    parser.add_argument(
        "--env", required=True, metavar="NAME", help="environment (or <env>/<cluster>)"
    )
    add_input_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Edit the file; print what changed. Returns 0."""
    from gitops.core.errors import InputError
    from gitops.core.suggest import did_you_mean
    from gitops.inputs.edit import set_override

    stack, sep, value = args.assignment.partition("=")
    if not sep or not stack or not value:
        raise InputError(f"set {args.subject}: expected STACK=VALUE, got {args.assignment!r}")
    blueprints, environments = input_paths(args)
    name = args.env.partition("/")[0]
    path = environments / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in environments.glob("*.yaml"))
        raise InputError(
            f"--env {args.env}: no file {path}{did_you_mean(name, known)} "
            f"(known: {', '.join(known)})"
        )
    key = SUBJECTS[args.subject][0]

    def validate(edited: Path, text: str) -> None:
        _validate(environments, blueprints, edited, text, args.env)

    edit = set_override(path, args.env, stack, key, value, validate=validate)
    if edit.changed:
        print(f"{path}: {edit.where}: {edit.old!r} -> {edit.new!r}")
    else:
        print(f"{path}: {edit.where} is already {edit.new!r}: unchanged")
    return 0


def _validate(environments: Path, blueprints: Path, path: Path, text: str, env: str) -> None:
    """Load the edited file as the loader would and render its environment(s) in memory."""
    from gitops.core.yaml_io import load_yaml, read_capped
    from gitops.inputs.blueprints import load_blueprints
    from gitops.inputs.environments import parse_environments
    from gitops.inputs.inherit import resolve
    from gitops.render.pipeline import render_environment

    raw = {
        p.stem: (str(p), load_yaml(read_capped(p), str(p)))
        for p in sorted(environments.iterdir())
        if p.suffix in (".yaml", ".yml")
    }
    raw[path.stem] = (str(path), load_yaml(text, str(path)))
    merged = resolve(raw)
    loaded = load_blueprints(blueprints)
    for target in parse_environments(merged[path.stem], str(path)):
        if target.target == env or target.name == env or not target.fleet:
            render_environment(target, loaded)
