"""``gitops render``: blueprints x environments -> one commit in a GitOps repository."""

from __future__ import annotations

import argparse

from gitops.cli.common import add_env_selection, add_input_arguments, default_repo, input_paths


# Over 60 lines as a flat list of add_argument calls: the command's whole interface, read
# in one place (shared options come from gitops.cli.common helpers).
def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``render`` subcommand and its arguments."""
    parser = subparsers.add_parser(
        "render",
        help="render blueprints x environments into a Git repository (one commit per run)",
        description="Render every blueprint for every environment and commit the result as "
        "one commit on a branch of a Git repository (created if missing). Nothing changed: "
        "no commit, exit 0. Errors leave the repository exactly as it was.",
    )
    add_input_arguments(parser)
    add_env_selection(parser, "render (the other environments' files stay as committed)")
    parser.add_argument(
        "--repo",
        default=None,
        metavar="PATH",
        help="Git repository to commit to (default: build/gitops-repo of the project)",
    )
    parser.add_argument(
        "--branch",
        default="main",
        metavar="NAME",
        help="branch to commit to (default: %(default)s)",
    )
    parser.add_argument(
        "--base",
        default=None,
        metavar="REF",
        help="ref the branch starts from when it does not exist yet",
    )
    parser.add_argument(
        "--message",
        default=None,
        metavar="TEXT",
        help="commit title (a summary of changes per environment follows)",
    )
    parser.add_argument(
        "--push",
        default=None,
        metavar="REMOTE",
        help="push the branch to REMOTE (a remote name, a path or a URL)",
    )
    parser.add_argument(
        "--author",
        default=None,
        metavar="'NAME <EMAIL>'",
        help="author and committer (default: $GITOPS_AUTHOR_NAME "
        "<$GITOPS_AUTHOR_EMAIL>, else 'gitops <gitops@localhost>')",
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="BUDGET=REASON",
        help="record a deliberate change-budget override in the commit (a Gitops-Override "
        "trailer): plan and apply then let this change exceed BUDGET (max-deletions, "
        "max-deletion-percent, protected-kinds, max-gpu-delta), or promotion: render "
        "what the promotion.after environment has not rendered before; repeatable",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Render and commit; print the outcome.

    Returns 0 (committed or nothing to do), or 2 when the working tree that follows the
    branch could not be refreshed (the commit is in; the message names the state left).
    """
    import sys

    from gitops.cli.common import parse_override_arguments
    from gitops.workflows.render import render_to_repo

    def progress(line: str) -> None:
        print(f"gitops render: {line}", file=sys.stderr, flush=True)

    blueprints, environments = input_paths(args)
    repo = default_repo(args)
    result = render_to_repo(
        blueprints,
        environments,
        repo,
        branch=args.branch,
        base=args.base,
        message=args.message,
        push=args.push,
        author=args.author,
        progress=progress,
        only=args.env,
        overrides=parse_override_arguments(args.override),
    )
    if result.created:
        counts = f"{len(result.added)} added, {len(result.changed)} changed, "
        counts += f"{len(result.removed)} removed"
        print(f"committed {result.commit} on {result.branch} in {repo}: {counts}")
    else:
        print(f"nothing changed: {result.branch} in {repo} stays at {result.commit}")
    if result.worktree_note:
        print(
            f"gitops render: warning: the working tree of {repo} was left as it was, "
            f"not at {result.branch}: {result.worktree_note}",
            file=sys.stderr,
        )
    if result.worktree_failure:
        # The commit is in, but a checkout that silently lags it misleads whoever looks at
        # the directory: a failure, naming the state left.
        print(
            f"gitops render: error: {result.branch} is at {result.commit}, but "
            f"{result.worktree_failure}",
            file=sys.stderr,
        )
        return 2
    return 0
