"""``gitops apply``: server-side apply an environment's committed objects, then prune.

Exit 0 when everything was applied (and pruned), 2 when anything failed (the failures are
listed; running apply again converges).
"""

from __future__ import annotations

import argparse

from gitops.cli.common import (
    add_cluster_arguments,
    add_environments_argument,
    add_repository_arguments,
    cluster_client,
    default_repo,
    environment_binding,
)


# Over 60 lines as a flat list of add_argument calls: the command's whole interface, read
# in one place (shared options come from gitops.cli.common helpers).
def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``apply`` subcommand and its arguments."""
    parser = subparsers.add_parser(
        "apply",
        help="server-side apply an environment to its cluster (dry-run first), then prune",
        description="Apply the objects committed for an environment with server-side apply "
        "(field manager 'gitops'), labelled with the environment's ApplySet id. Every object "
        "is dry-run on the server first: if any is refused, nothing is applied. Order: CRDs "
        "(until Established), Namespaces, cluster-scoped policy, the rest; prune last. "
        "A change over the environment's change_budget (deletions, protected kinds, GPU "
        "delta) is refused before anything is written unless the applied commit records "
        "an override (gitops render --override BUDGET=REASON). "
        "Exit 0 done, 2 something failed or was refused.",
    )
    parser.add_argument("--env", required=True, metavar="NAME", help="environment to apply")
    add_repository_arguments(parser)
    parser.add_argument(
        "--ref", default="main", metavar="REF", help="commit, branch or tag (default: main)"
    )
    add_cluster_arguments(parser)
    add_environments_argument(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="only dry-run on the server; change nothing"
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete objects of this environment that are no longer committed",
    )
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="with --prune: prune even if the environment has no objects at REF",
    )
    parser.add_argument(
        "--prune-namespace-contents",
        action="store_true",
        help="with --prune: delete a Namespace of this environment even when it holds "
        "objects gitops would not delete (they are deleted with it). Default: keep such a "
        "Namespace and name what it holds",
    )
    parser.add_argument(
        "--force-conflicts",
        action="store_true",
        help="take ownership of fields other field managers own",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until Deployments, StatefulSets and InferenceServices are ready",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="with --wait: how long to wait (default: %(default)g)",
    )
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="output format"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Apply; print what was done. Returns 0 when everything succeeded, 2 otherwise."""
    import json
    import sys

    from gitops.cli.common import environment_settings
    from gitops.cluster.wait import Timing
    from gitops.policy.budgets import ChangeBudget
    from gitops.workflows.apply import apply_environment
    from gitops.workflows.desired import read_ref
    from gitops.workflows.sources import applied_overrides, identity_for

    repo = default_repo(args)
    binding = environment_binding(args, args.env, repo, args.ref, missing_ok=args.allow_empty)
    manifests = read_ref(repo, args.ref, args.env, missing_ok=args.allow_empty)
    identity = identity_for(repo, args.ref, args.env, args.repository_id)
    env = environment_settings(args.env, args.environments)
    # Without an environment file the default budget still protects Namespaces, PVCs, CRDs
    # and model caches from prune.
    budget = env.change_budget if env is not None else ChangeBudget()
    overrides = applied_overrides(repo, args.ref)
    client = cluster_client(args, binding)

    def progress(line: str) -> None:
        print(f"gitops apply: {line}", file=sys.stderr, flush=True)

    result = apply_environment(
        client,
        manifests,
        identity,
        dry_run=args.dry_run,
        prune_orphans=args.prune,
        allow_empty=args.allow_empty,
        force_conflicts=args.force_conflicts,
        wait=args.wait,
        progress=progress,
        timing=Timing(wait_timeout=args.timeout),
        delete_namespace_contents=args.prune_namespace_contents,
        budget=budget,
        overrides=overrides,
    )
    if args.output == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(result.to_text())
    return 0 if result.ok else 2
