"""``gitops check``: evaluate admission policies on rendered (or given) manifests.

Exit 0 when nothing would be denied (warnings and audits are printed), 1 when any object
would be denied, 2 on error.
"""

from __future__ import annotations

import argparse

from gitops.commands import add_env_selection, add_input_arguments, input_paths


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``check`` subcommand and its arguments."""
    parser = subparsers.add_parser(
        "check",
        help="check manifests against the guardrail admission policies",
        description="Render blueprints x environments (or read manifests with -f) and "
        "evaluate every ValidatingAdmissionPolicy and Kyverno ClusterPolicy among them, plus "
        "those in --policies, as the API server would on create; then the capacity checks "
        "(GPU quota at min/max replicas, shm within memory). Exit 0 when nothing is "
        "denied, 1 when an object would be denied, 2 on error.",
    )
    add_input_arguments(parser)
    add_env_selection(parser, "check")
    parser.add_argument(
        "-f",
        "--filename",
        dest="filename",
        metavar="PATH",
        help="check the manifests in a file or directory instead of rendering",
    )
    parser.add_argument(
        "--policies",
        metavar="PATH",
        help="extra policies (a YAML file or a directory of them)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default: %(default)s)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Check, print one line per violation (or a JSON document), return the exit code."""
    import json
    from pathlib import Path

    from gitops.capacity import check_capacity
    from gitops.model import Manifest
    from gitops.policy import Violation, evaluate, load_policies
    from gitops.policy.violation import ordered

    extra = load_policies(Path(args.policies)) if args.policies else []
    sets: dict[str, list[Manifest]]
    warnings: dict[str, list[Violation]] = {}
    if args.filename:
        from gitops.desired import read_path

        sets = {"": read_path(Path(args.filename))}
    else:
        from gitops.environments import load_environments
        from gitops.exposure import exposure_warnings
        from gitops.render import render_environments

        blueprints, environments = input_paths(args)
        sets = render_environments(blueprints, environments, only=args.env)
        for env in load_environments(environments):
            if env.name in sets:
                warnings[env.name] = exposure_warnings(env, sets[env.name])
    found: dict[str, list[Violation]] = {
        name: ordered(
            [*evaluate(manifests, extra), *check_capacity(manifests), *warnings.get(name, [])]
        )
        for name, manifests in sorted(sets.items())
    }
    denied = any(v.action == "Deny" for violations in found.values() for v in violations)
    if args.output == "json":
        document = [
            {
                "environment": name or None,
                "kind": v.key.kind,
                "apiVersion": v.key.api_version,
                "namespace": v.key.namespace or None,
                "name": v.key.name,
                "policy": v.policy,
                "rule": v.rule,
                "action": v.action,
                "message": v.message,
                "provenance": v.provenance,
            }
            for name, violations in found.items()
            for v in violations
        ]
        print(json.dumps({"violations": document, "denied": denied}, indent=2))
    else:
        for name, violations in found.items():
            for violation in violations:
                print(f"{name}: {violation}" if name else str(violation))
        total = sum(len(v) for v in found.values())
        checked = ", ".join(f"{name}" for name in found if name) or "given manifests"
        verdict = "denied" if denied else "passed"
        print(f"check {verdict}: {total} violation(s) in {checked}")
    return 1 if denied else 0
