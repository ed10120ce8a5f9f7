"""What ``apply`` and ``plan`` read from the rendered repository: an environment's objects
at a ref, and the repository's identity for the environment's ApplySet id.

Reads Git through :mod:`gitops.repo` (never the working directory).
"""

from __future__ import annotations

from pathlib import Path

from gitops.desired import manifests_from_files
from gitops.layout import environment_dir
from gitops.model import Manifest, load_yaml
from gitops.ownership import Identity


def environment_at(repo_path: Path, ref: str, environment: str) -> list[Manifest]:
    """The objects committed for ``environment`` at ``ref`` (empty if it has no directory).

    Raises:
        RepositoryError: the repository or ref does not exist.
        InputError: a committed file is malformed.
    """
    from gitops.repo import read_files  # pygit2 only for commands that read Git

    return manifests_from_files(read_files(repo_path, ref, environment_dir(environment)))


def repository_name(repo_path: Path, ref: str, environment: str) -> str:
    """A stable name of the repository for ``environment``'s identity.

    The Git URL Argo CD syncs the environment from (``argocd/application-<env>.yaml``,
    the environment's ``repo_url``) is the same in every clone; a repository without it
    is named by its directory. A different name only makes prune find nothing of ours:
    it never makes other objects ours.
    """
    from gitops.repo import read_files

    path = f"argocd/application-{environment}.yaml"
    files = read_files(repo_path, ref, path)
    if path in files:
        document = load_yaml(files[path], f"{ref}:{path}")
        source = (document.get("spec") or {}).get("source") if isinstance(document, dict) else None
        url = source.get("repoURL") if isinstance(source, dict) else None
        if isinstance(url, str) and url:
            return url
    return repo_path.resolve().name


def identity_for(
    repo_path: Path, ref: str, environment: str, repository: str | None = None
) -> Identity:
    """The ownership identity of ``environment``; ``repository`` overrides the name."""
    return Identity(environment, repository or repository_name(repo_path, ref, environment))
