"""``gitops diff``: desired state (Git at a ref, or files) against the live cluster.

Exit 0 in sync, 1 differences, 2 error (as ``kubectl diff``).
"""

from __future__ import annotations

import argparse

from gitops.cli.common import (
    add_environments_argument,
    add_override_argument,
    add_server_side_argument,
    cluster_client,
    environment_binding,
    environment_ignore_rules,
    use_color,
)


# Over 60 lines as a flat list of add_argument calls: the command's whole interface, read
# in one place (shared options come from gitops.cli.common helpers).
def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``diff`` subcommand and its arguments."""
    parser = subparsers.add_parser(
        "diff",
        help="diff desired state (Git or files) against the live cluster",
        description="Compare the manifests committed for an environment (or given with -f) "
        "with the live cluster, server-side-apply style: only fields the manifests set are "
        "compared, fields the API server defaults are not drift, Secret values are masked. "
        "Exit 0 in sync, 1 differences, 2 error.",
    )
    parser.add_argument("--env", metavar="NAME", help="environment to diff (not needed with -f)")
    parser.add_argument(
        "--repo",
        default="build/gitops-repo",
        metavar="PATH",
        help="GitOps repository (default: %(default)s)",
    )
    parser.add_argument(
        "--ref", default="main", metavar="REF", help="commit, branch or tag (default: main)"
    )
    parser.add_argument(
        "-f",
        "--filename",
        dest="filename",
        metavar="PATH",
        help="read desired manifests from a file or directory instead of Git",
    )
    live = parser.add_mutually_exclusive_group()
    live.add_argument(
        "--live",
        metavar="FILE",
        help="read live state from a capture (kubectl get -o yaml) instead of a cluster",
    )
    live.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context")
    parser.add_argument(
        "--field-manager",
        default="gitops",
        metavar="NAME",
        help="server-side apply field manager (default: %(default)s)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="POINTER",
        help="JSON pointer never compared, e.g. /spec/replicas (repeatable)",
    )
    parser.add_argument(
        "--ignore-manager",
        action="append",
        default=[],
        metavar="NAME",
        help="ignore fields owned by this field manager, e.g. kube-controller-manager",
    )
    add_override_argument(parser)
    add_environments_argument(parser)
    parser.add_argument(
        "--strict", action="store_true", help="labels/annotations added live are drift too"
    )
    add_server_side_argument(parser)
    parser.add_argument(
        "--namespace",
        default="default",
        metavar="NAME",
        help="namespace of manifests that name none (default: %(default)s)",
    )
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="output format"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``gitops diff``; return 0 in sync, 1 differences (errors raise GitOpsError)."""
    import sys
    from pathlib import Path

    from gitops.core.errors import InputError
    from gitops.diff.output import format_json, format_text
    from gitops.workflows.diff import DiffRequest, run_diff

    if args.filename is None and not args.env:
        raise InputError("diff: pass --env NAME (to read Git) or -f PATH")
    request = DiffRequest(
        environment=args.env,
        repo=Path(args.repo),
        ref=args.ref,
        filename=Path(args.filename) if args.filename else None,
        live_file=Path(args.live) if args.live else None,
        kubeconfig=args.kubeconfig,
        context=args.context,
        field_manager=args.field_manager,
        ignore_pointers=tuple(args.ignore),
        ignore_managers=tuple(args.ignore_manager),
        ignore=environment_ignore_rules(args.env, args.environments),
        strict=args.strict,
        default_namespace=args.namespace,
        server_side=args.server_side,
    )
    # The environment must exist, and its cluster be the one talked to, before any request.
    binding = None
    if args.env:
        repo = None if args.filename else request.repo
        binding = environment_binding(args, args.env, repo, args.ref)
    client = None if args.live else cluster_client(args, binding)
    report = run_diff(request, client)
    if args.output == "json":
        sys.stdout.write(format_json(report))
    else:
        sys.stdout.write(format_text(report, color=use_color(args, sys.stdout)))
    return 1 if report.has_differences else 0
