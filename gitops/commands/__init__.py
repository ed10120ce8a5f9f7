"""Thin CLI commands: each module registers its arguments and calls one library function.

Modules here import only argparse at the top, so ``gitops --help`` starts fast and never
starts Node.js; the work happens in the library, imported inside ``run``.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--blueprints DIR`` and ``--environments DIR`` (the inputs of a render)."""
    parser.add_argument(
        "--blueprints",
        default="blueprints",
        metavar="DIR",
        help="blueprints directory (default: %(default)s)",
    )
    parser.add_argument(
        "--environments",
        default="environments",
        metavar="DIR",
        help="environments directory (default: %(default)s)",
    )


def add_repository_arguments(parser: argparse.ArgumentParser) -> None:
    """``--repo`` and ``--repository-id``, shared by apply and plan."""
    parser.add_argument(
        "--repo",
        default="build/gitops-repo",
        metavar="PATH",
        help="the rendered GitOps repository (default: %(default)s)",
    )
    parser.add_argument(
        "--repository-id",
        default=None,
        metavar="NAME",
        help="name of the repository in the ownership identity (default: the Git URL "
        "argocd/application-<env>.yaml syncs from, else the repository's directory name)",
    )


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--context``."""
    parser.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context")


def add_environments_argument(parser: argparse.ArgumentParser) -> None:
    """``--environments DIR``: where an environment's ``diff.ignore`` rules are read."""
    parser.add_argument(
        "--environments",
        metavar="DIR",
        default=None,
        help="where <env>.yaml is read for its diff.ignore rules (default: environments, "
        "when the file exists)",
    )


def environment_ignore_rules(environment: str | None, directory: str | None) -> tuple[Any, ...]:
    """The ``diff.ignore`` rules of ``<directory>/<environment>.yaml``.

    With no ``directory`` the default ``environments/`` is read if it holds the file; a
    directory named explicitly must hold it.
    """
    if not environment:
        return ()
    from pathlib import Path

    from gitops.environments import load_environment

    path = Path(directory or "environments") / f"{environment}.yaml"
    if directory is None and not path.is_file():
        return ()
    return load_environment(path).diff_ignore
