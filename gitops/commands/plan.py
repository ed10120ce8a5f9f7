"""``gitops plan``: what a pull request changes, for a comment on it.

Exit 0 nothing to do, 1 changes, 2 error.
"""

from __future__ import annotations

import argparse
from typing import Any

from gitops.commands import (
    add_cluster_arguments,
    add_environments_argument,
    add_repository_arguments,
    default_repo,
    environment_ignore_rules,
)


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``plan`` subcommand and its arguments."""
    parser = subparsers.add_parser(
        "plan",
        help="report what a change (base..head) does: manifests, drift, what apply would do",
        description="One report with three parts: (1) what the change does to the rendered "
        "objects of an environment between base and head, (2) drift of the cluster against "
        "base, (3) what applying head would create, update and delete (prune). Parts 2 and "
        "3 need --live or a cluster (--kubeconfig/--context). Secrets are masked. "
        "Exit 0 nothing to do, 1 changes, 2 error.",
    )
    parser.add_argument("--env", required=True, metavar="NAME", help="environment to plan")
    parser.add_argument("--base", required=True, metavar="REF", help="the base ref (target)")
    parser.add_argument("--head", required=True, metavar="REF", help="the head ref (the change)")
    add_repository_arguments(parser)
    add_environments_argument(parser)
    parser.add_argument(
        "--live",
        metavar="FILE",
        help="live objects from a capture (kubectl get -o yaml) instead of a cluster",
    )
    add_cluster_arguments(parser)
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="plan prune as apply --prune --allow-empty would (head has no objects)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "markdown", "json"),
        default="text",
        help="output format (default: %(default)s)",
    )
    parser.add_argument(
        "--max-objects",
        type=int,
        default=50,
        metavar="N",
        help="markdown: most objects shown in detail (default: %(default)s)",
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=60_000,
        metavar="N",
        help="markdown: size limit of the report (default: %(default)s)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Build and print the plan. Returns 0 nothing to do, 1 changes."""
    import sys
    from pathlib import Path

    from gitops import report
    from gitops.errors import InputError
    from gitops.plan import build_plan
    from gitops.policy import evaluate
    from gitops.sources import environment_at, identity_for

    if args.live and (args.kubeconfig or args.context):
        raise InputError("plan: pass either --live FILE or --kubeconfig/--context, not both")
    repo = default_repo(args)
    base = environment_at(repo, args.base, args.env)
    head = environment_at(repo, args.head, args.env)
    identity = identity_for(repo, args.head, args.env, args.repository_id)
    violations = (evaluate(base), evaluate(head))
    ignore = environment_ignore_rules(args.env, args.environments)
    # Parts 2 and 3 need live state: from a capture, from a cluster, or not at all.
    live: dict[str, Any] = {}
    if args.live:
        from gitops.desired import read_live_file

        live = {
            "live": read_live_file(Path(args.live)),
            "live_source": f"capture {args.live}",
            # kubectl get -o yaml leaves managedFields out; the ownership hash still holds.
            "check_managed_fields": False,
        }
    elif args.kubeconfig or args.context:
        from gitops.cluster import ClusterClient
        from gitops.live import read_live

        client = ClusterClient.from_kubeconfig(args.kubeconfig, args.context)
        state = read_live(client, [*base, *head], identity)
        live = {
            "live": state.objects,
            "live_source": f"context {args.context}" if args.context else "the cluster",
            "not_served": state.not_served,
            "namespaced": state.is_namespaced,
        }
    plan = build_plan(
        args.env,
        args.base,
        args.head,
        base,
        head,
        identity=identity,
        allow_empty=args.allow_empty,
        ignore=ignore,
        violations=violations,
        **live,
    )
    if args.output == "json":
        sys.stdout.write(report.to_json(plan))
    elif args.output == "markdown":
        sys.stdout.write(
            report.to_markdown(plan, max_objects=args.max_objects, max_bytes=args.max_bytes)
        )
    else:
        sys.stdout.write(report.to_text(plan))
    return 1 if plan.has_changes else 0
