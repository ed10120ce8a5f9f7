"""``gitops plan``: what a pull request changes, for a comment on it.

Exit 0 when the plan was made (changes or not), 2 on error; with ``--exit-code``, 0 nothing
to do, 1 changes, 2 error (``git diff --exit-code``; terraform's ``-detailed-exitcode`` has
the same idea with other numbers).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from gitops.cli.common import (
    add_cluster_arguments,
    add_environments_argument,
    add_repository_arguments,
    add_server_side_argument,
    cluster_client,
    default_repo,
    environment_binding,
    environment_settings,
)

if TYPE_CHECKING:
    from gitops.workflows.plan import Plan


# Over 60 lines as a flat list of add_argument calls: the command's whole interface, read
# in one place (shared options come from gitops.cli.common helpers).
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
        "3 need --live or a cluster (--kubeconfig/--context). Secrets are masked. Several "
        "--env (or --env all: every environment at base or head) give one report with a "
        "summary table per environment. Each environment opens with its change risk: "
        "deletions, protected kinds, GPU delta, promotion status, new violations and each "
        "change budget of its environment file. Markdown is split into numbered comments "
        "of at most --max-chars characters (nothing is cut) unless --max-objects or "
        "--max-bytes ask for one bounded comment. Exit 0 when the plan was made, 2 on "
        "error; with --exit-code, 1 when anything changes.",
    )
    parser.add_argument(
        "--env",
        required=True,
        action="append",
        metavar="NAME",
        help="environment to plan (repeatable; 'all': every environment at base or head)",
    )
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when any environment has changes (0 when none; 2 is always an error)",
    )
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
    add_server_side_argument(parser)
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="plan prune as apply --prune --allow-empty would (head has no objects)",
    )
    parser.add_argument(
        "--prune-namespace-contents",
        action="store_true",
        help="plan prune as apply --prune --prune-namespace-contents would (a Namespace "
        "holding objects gitops would not delete is deleted with them)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "markdown", "json"),
        default="text",
        help="output format (default: %(default)s)",
    )
    parser.add_argument(
        "--max-chars",
        type=int,
        default=65_536,
        metavar="N",
        help="markdown: most characters per pull-request comment; a longer plan is split "
        "into numbered parts (default: %(default)s, GitHub's limit)",
    )
    parser.add_argument(
        "--parts-dir",
        metavar="DIR",
        help="markdown: also write each comment to DIR/plan-<n>.md",
    )
    parser.add_argument(
        "--max-objects",
        type=int,
        default=None,
        metavar="N",
        help="markdown: one bounded comment showing at most N objects in detail "
        "(the rest counted, not shown)",
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=None,
        metavar="N",
        help="markdown: one bounded comment of about N bytes (the rest counted, not shown)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Build and print the plan(s). Returns 0, or 1 with ``--exit-code`` and changes."""
    import sys

    from gitops.core.errors import InputError
    from gitops.workflows import report_many

    envs = _environments(args)
    live_given = bool(args.live or args.kubeconfig or args.context)
    if args.live and (args.kubeconfig or args.context):
        raise InputError("plan: pass either --live FILE or --kubeconfig/--context, not both")
    if args.server_side and not (args.kubeconfig or args.context):
        raise InputError(
            "plan: --server-side asks a cluster to dry-run each object: pass "
            "--kubeconfig/--context (a --live capture cannot)"
        )
    if live_given and len(envs) > 1:
        raise InputError(
            f"plan: --live/--kubeconfig/--context name one cluster, but {len(envs)} "
            f"environments were asked for ({', '.join(envs)}): plan them one at a time"
        )
    plans = [_plan(args, env) for env in envs]
    if args.output == "json":
        sys.stdout.write(report_many.to_json(plans))
    elif args.output == "markdown" and (args.max_objects or args.max_bytes):
        bounds = {"max_objects": args.max_objects, "max_bytes": args.max_bytes}
        given = {name: value for name, value in bounds.items() if value is not None}
        sys.stdout.write(report_many.to_markdown(plans, **given))
    elif args.output == "markdown":
        if args.max_chars < 10_000:
            raise InputError(f"plan: --max-chars must be at least 10000, got {args.max_chars}")
        parts = report_many.to_markdown_parts(plans, max_chars=args.max_chars)
        if args.parts_dir:
            from pathlib import Path

            folder = Path(args.parts_dir)
            folder.mkdir(parents=True, exist_ok=True)
            for number, part in enumerate(parts, 1):
                (folder / f"plan-{number}.md").write_text(part, encoding="utf-8")
        sys.stdout.write("\n".join(parts))
    else:
        sys.stdout.write(report_many.to_text(plans))
    changed = any(plan.has_changes for plan in plans)
    return 1 if args.exit_code and changed else 0


def _environments(args: argparse.Namespace) -> list[str]:
    """The environments asked for: ``all``, and a fleet, stand for each of its clusters."""
    from gitops.core.errors import InputError
    from gitops.workflows.sources import targets_at

    repo = default_repo(args)
    found = targets_at(repo, [args.base, args.head], args.env)
    if not found:
        raise InputError(f"{repo}: no environments under envs/ at {args.base} or {args.head}")
    return found


def _plan(args: argparse.Namespace, env: str) -> Plan:
    """The plan of one environment (live parts only when a capture or cluster is given)."""
    from pathlib import Path

    from gitops.policy import evaluate
    from gitops.workflows.desired import read_ref
    from gitops.workflows.plan import build_plan
    from gitops.workflows.sources import identity_for

    repo = default_repo(args)
    binding = environment_binding(args, env, repo, args.head, args.base)
    # A new environment has nothing at base, a removed one nothing at head.
    base = read_ref(repo, args.base, env, missing_ok=True)
    head = read_ref(repo, args.head, env, missing_ok=True)
    identity = identity_for(repo, args.head, env, args.repository_id)
    violations = (evaluate(base), evaluate(head))
    risk = _risk(args, env, repo, base, head)
    # Parts 2 and 3 need live state: from a capture, from a cluster, or not at all.
    live: dict[str, Any] = {}
    if args.live:
        from gitops.workflows.desired import read_live_file

        live = {
            "live": read_live_file(Path(args.live)),
            "live_source": f"capture {args.live}",
            # kubectl get -o yaml leaves managedFields out; the ownership hash still holds.
            "check_managed_fields": False,
        }
    elif args.kubeconfig or args.context:
        live = _from_cluster(args, binding, identity, base, head, risk.get("ignore", ()))
    return build_plan(
        env,
        args.base,
        args.head,
        base,
        head,
        identity=identity,
        allow_empty=args.allow_empty,
        delete_namespace_contents=args.prune_namespace_contents,
        violations=violations,
        **risk,
        **live,
    )


def _risk(
    args: argparse.Namespace, env: str, repo: Any, base: list[Any], head: list[Any]
) -> dict[str, Any]:
    """Budget, recorded overrides, diff ignore rules and promotion status of the change."""
    from dataclasses import replace

    from gitops.policy.budgets import ChangeBudget
    from gitops.workflows.sources import promotion_status, recorded_overrides

    settings = environment_settings(env.partition("/")[0], args.environments)
    overrides = recorded_overrides(repo, args.base, args.head)
    # Without an environment file the default budget (protected kinds) still applies.
    risk: dict[str, Any] = {"budget": ChangeBudget(), "overrides": overrides}
    if settings is not None:
        risk.update(ignore=settings.diff_ignore, budget=settings.change_budget)
        if settings.promotion_after:
            # Only what the upstream rendered before head counts, never head itself.
            status = promotion_status(
                repo, env, settings.promotion_after, base, head, f"{args.head}~1"
            )
            if not status.ok and "promotion" in overrides:
                status = replace(status, override=overrides["promotion"])
            risk["promotion"] = status
    return risk


def _from_cluster(
    args: argparse.Namespace,
    binding: Any,
    identity: Any,
    base: list[Any],
    head: list[Any],
    ignore: Any,
) -> dict[str, Any]:
    """The live parts of the plan read from the cluster, with the server as judge."""
    from gitops.core.keys import key_of
    from gitops.ownership.prune import namespace_contents
    from gitops.workflows.live import read_live

    client = cluster_client(args, binding)
    state = read_live(client, [*base, *head], identity)
    # What deleting a Namespace would take with it: everything in it, not only ours.
    staying = {key_of(m).name for m in head if m.get("kind") == "Namespace"}
    doomed = [
        key_of(o).name
        for o in state.objects
        if (key_of(o).group, key_of(o).kind) == ("", "Namespace")
        and identity.claims(o)
        and key_of(o).name not in staying
    ]
    return {
        "live": state.objects,
        "live_source": f"{client.where} ({client.server})",
        "not_served": state.not_served,
        "namespaced": state.is_namespaced,
        "namespace_contents": namespace_contents(client, doomed)[0],
        # The server judges every object (--server-side) or what local mode cannot tell.
        "judge": _server_judge(
            client, state.objects, identity.field_manager, ignore, args.server_side
        ),
    }


def _server_judge(
    client: Any, objects: Any, field_manager: str, ignore: Any, everything: bool
) -> Any:
    """The server's judge of a local report (see :func:`gitops.diff.server.judge`)."""
    from gitops.diff.server import judge

    def run(report: Any, desired: Any) -> Any:
        return judge(
            report,
            desired,
            objects,
            client,
            field_manager=field_manager,
            ignore=ignore,
            everything=everything,
        )

    return run
