"""What every command shares: environment selection, cluster binding, common options.

Each command module registers its arguments and calls one workflow.

Modules here import only argparse at the top, so ``gitops --help`` starts fast and never
starts Node.js; the work happens in the library, imported inside ``run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: The directory that marks a project's root (walked up to from a subdirectory).
PROJECT_MARKER = "environments"


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--blueprints DIR`` and ``--environments DIR`` (the inputs of a render).

    Both default to the project's directories: the nearest directory, from the current
    one upwards, that holds ``environments/`` (see :func:`project_root`).
    """
    parser.add_argument(
        "--blueprints",
        default=None,
        metavar="DIR",
        help="blueprints directory (default: blueprints/ of the project)",
    )
    parser.add_argument(
        "--environments",
        default=None,
        metavar="DIR",
        help="environments directory (default: environments/ of the project, found from "
        "the current directory upwards)",
    )


def add_env_selection(parser: argparse.ArgumentParser, what: str) -> None:
    """``--env NAME`` (repeatable; ``all`` for every environment)."""
    parser.add_argument(
        "--env",
        action="append",
        default=None,
        metavar="NAME",
        help=f"{what} only this environment (repeatable; default or 'all': every one)",
    )


def use_color(args: argparse.Namespace, stream: Any) -> bool:
    """Whether to paint ``stream``: ``--color always|never``, else a terminal without $NO_COLOR.

    ``NO_COLOR`` (https://no-color.org) set to any non-empty value turns automatic color
    off; an explicit ``--color always`` still wins, as that convention asks.
    """
    import os

    choice = getattr(args, "color", "auto")
    if choice != "auto":
        return bool(choice == "always")
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def project_root(start: Path | None = None) -> Path | None:
    """The nearest directory from ``start`` (default: cwd) upwards that holds ``environments/``."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PROJECT_MARKER).is_dir():
            return directory
    return None


def input_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """``(blueprints, environments)``: given on the command line, else the project's.

    Raises:
        InputError: neither given nor found from the current directory upwards.
    """
    if args.blueprints is not None and args.environments is not None:
        return Path(args.blueprints), Path(args.environments)
    root = project_root()
    if root is None:
        from gitops.core.errors import InputError

        raise InputError(
            f"no environments/ directory in {Path.cwd()} or any parent: run this inside a "
            "project (gitops init creates one) or pass --environments DIR and --blueprints DIR"
        )
    blueprints = Path(args.blueprints) if args.blueprints is not None else root / "blueprints"
    environments = (
        Path(args.environments) if args.environments is not None else root / PROJECT_MARKER
    )
    return blueprints, environments


def default_repo(args: argparse.Namespace) -> Path:
    """``--repo`` as given, else ``build/gitops-repo`` of the project (or of the cwd)."""
    if args.repo is not None:
        return Path(args.repo)
    root = project_root() or Path.cwd()
    return root / "build" / "gitops-repo"


def add_repository_arguments(parser: argparse.ArgumentParser) -> None:
    """``--repo`` and ``--repository-id``, shared by apply and plan."""
    parser.add_argument(
        "--repo",
        default=None,
        metavar="PATH",
        help="the rendered GitOps repository (default: build/gitops-repo of the project)",
    )
    parser.add_argument(
        "--repository-id",
        default=None,
        metavar="NAME",
        help="name of the repository in the ownership identity (default: the Git URL "
        "argocd/application-<env>.yaml syncs from, else the repository's directory name)",
    )


def add_cluster_arguments(parser: argparse.ArgumentParser, *, kubeconfig: bool = True) -> None:
    """``--kubeconfig``, ``--context`` and ``--override-cluster``."""
    if kubeconfig:
        parser.add_argument(
            "--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG)"
        )
    parser.add_argument(
        "--context",
        metavar="NAME",
        help="kubeconfig context (default: the environment's cluster.context, else the "
        "kubeconfig's current context)",
    )
    add_override_argument(parser)


def add_server_side_argument(parser: argparse.ArgumentParser) -> None:
    """``--server-side``: the API server judges drift by a dry-run apply of each object."""
    parser.add_argument(
        "--server-side",
        action="store_true",
        help="let the API server judge each object that exists live: a dry-run server-side "
        "apply (forcing conflicts, as apply does) compared with live, as kubectl diff "
        "--server-side does; sees defaulting, CRD schemas and mutating admission. One "
        "request per object (default: the local comparison, one LIST per kind)",
    )


def add_override_argument(parser: argparse.ArgumentParser) -> None:
    """``--override-cluster URL``: the one way to talk to a server not the environment's."""
    parser.add_argument(
        "--override-cluster",
        metavar="URL",
        default=None,
        help="talk to URL although the environment is bound to another server (it must be "
        "the server the context points at; a warning is printed). Default: refuse any "
        "server but the environment's cluster.server",
    )


def environment_binding(
    args: argparse.Namespace, env: str, repo: Path | None, *refs: str, missing_ok: bool = False
) -> Any:
    """The :class:`gitops.workflows.target.Binding` of ``--env``; exit 2 if it exists nowhere.

    ``missing_ok`` (``apply --allow-empty``: an environment being removed) accepts an
    environment found nowhere, bound to no server.
    """
    from gitops.core.errors import InputError
    from gitops.workflows.target import Binding
    from gitops.workflows.target import environment_binding as find

    directory = args.environments
    if directory is None:
        directory = (project_root() or Path.cwd()) / PROJECT_MARKER
    try:
        return find(env, environments_dir=directory, repo=repo, refs=refs)
    except InputError as err:
        if not missing_ok:
            raise
        return Binding(env, None, None, f"{err} (--allow-empty)")


def cluster_client(args: argparse.Namespace, binding: Any) -> Any:
    """A :class:`gitops.cluster.client.ClusterClient` for ``binding``'s cluster (checked first)."""
    import sys

    from gitops.workflows.target import connect

    def warn(line: str) -> None:
        print(f"gitops {args.command}: {line}", file=sys.stderr, flush=True)

    return connect(
        binding,
        getattr(args, "kubeconfig", None),
        args.context,
        override=args.override_cluster,
        warn=warn,
    )


def add_environments_argument(parser: argparse.ArgumentParser) -> None:
    """``--environments DIR``: where an environment's file is read (cluster, budgets...)."""
    parser.add_argument(
        "--environments",
        metavar="DIR",
        default=None,
        help="where <env>.yaml is read for its cluster (server, context), diff.ignore "
        "rules, change_budget and promotion order (default: environments of the project, "
        "when the file exists; else the Argo CD Application committed for the environment "
        "names its server)",
    )


def environment_ignore_rules(environment: str | None, directory: str | None) -> tuple[Any, ...]:
    """The ``diff.ignore`` rules of ``<directory>/<environment>.yaml``.

    With no ``directory`` the default ``environments/`` is read if it holds the file; a
    directory named explicitly must hold it.
    """
    settings = environment_settings(environment, directory) if environment else None
    return settings.diff_ignore if settings is not None else ()


def parse_override_arguments(values: list[str]) -> dict[str, str]:
    """``--override BUDGET=REASON`` values as ``{budget: reason}``.

    Raises:
        InputError: a value has no ``=`` or an empty reason.
    """
    from gitops.core.errors import InputError

    out: dict[str, str] = {}
    for value in values:
        name, sep, reason = value.partition("=")
        if not sep or not name.strip() or not reason.strip():
            raise InputError(f"--override: expected BUDGET=REASON, got {value!r}")
        out[name.strip()] = reason.strip()
    return out


def environment_settings(environment: str, directory: str | None) -> Any:
    """The validated ``<directory>/<environment>.yaml`` (an Environment), or None.

    Its ``diff.ignore`` rules, ``change_budget`` and ``promotion`` are what diff, plan and
    apply read. With no ``directory`` the project's ``environments/`` is read if it holds
    the file; a directory named explicitly must hold it.
    """
    from gitops.inputs.environments import load_environment

    root = project_root() or Path.cwd()
    path = Path(directory or root / PROJECT_MARKER) / f"{environment}.yaml"
    if directory is None and not path.is_file():
        return None
    return load_environment(path)
