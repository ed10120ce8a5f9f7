"""What ``apply`` and ``plan`` read from the rendered repository besides an environment's
objects at a ref (:func:`gitops.workflows.desired.read_ref`): its objects at earlier commits, for
promotion order, the repository's identity for the environment's ApplySet id, and the
budget overrides recorded in commit messages.

Reads Git through :mod:`gitops.repo` (never the working directory).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitops.core.keys import Manifest
from gitops.core.yaml_io import load_yaml
from gitops.ownership.identity import Identity
from gitops.render import fleet
from gitops.render.layout import environment_dir
from gitops.workflows.desired import manifests_from_files

if TYPE_CHECKING:
    from gitops.workflows.promotion import PromotionStatus


def targets_at(repo_path: Path, refs: Sequence[str], names: Sequence[str]) -> list[str]:
    """What ``--env`` names mean at ``refs``: ``all``, an environment, a fleet, or a cluster.

    A fleet (``envs/<env>/base`` exists) stands for each of its clusters
    (``<env>/<cluster>``, one per ``flux/<env>/<cluster>/``); ``all`` for every
    environment under ``envs/`` at any of ``refs``.
    """
    from gitops.core.paths import ENVS_DIR
    from gitops.repo import subdirectories

    wanted = list(dict.fromkeys(names))
    if "all" in wanted:
        wanted = sorted({d for ref in refs for d in subdirectories(repo_path, ref, ENVS_DIR)})
    out: list[str] = []
    for name in wanted:
        if "/" in name:
            out.append(name)
            continue
        is_fleet = any(
            fleet.BASE_DIR in subdirectories(repo_path, ref, environment_dir(name)) for ref in refs
        )
        if not is_fleet:
            out.append(name)
            continue
        clusters = {c for ref in refs for c in subdirectories(repo_path, ref, f"flux/{name}")}
        out.extend(f"{name}/{cluster}" for cluster in sorted(clusters))
    return list(dict.fromkeys(out))


def repository_name(repo_path: Path, ref: str, environment: str) -> str:
    """A stable name of the repository for ``environment``'s identity.

    The Git URL Argo CD syncs the environment from (``argocd/application-<env>.yaml``,
    the environment's ``repo_url``) is the same in every clone; a repository without it
    is named by its directory. A different name only makes prune find nothing of ours:
    it never makes other objects ours.
    """
    from gitops.repo import read_files

    name, _, cluster = environment.partition("/")
    path = f"argocd/application-{name}.yaml"
    if cluster:
        path = f"argocd/applicationset-{name}.yaml"
    files = read_files(repo_path, ref, path)
    if path in files:
        document = load_yaml(files[path], f"{ref}:{path}")
        spec = document.get("spec") if isinstance(document, dict) else None
        if cluster and isinstance(spec, dict):
            spec = (spec.get("template") or {}).get("spec")
        source = spec.get("source") if isinstance(spec, dict) else None
        url = source.get("repoURL") if isinstance(source, dict) else None
        if isinstance(url, str) and url:
            return url
    return repo_path.resolve().name


def identity_for(
    repo_path: Path, ref: str, environment: str, repository: str | None = None
) -> Identity:
    """The ownership identity of ``environment``; ``repository`` overrides the name.

    A fleet's clusters share their environment's identity: each is a separate cluster,
    and the objects carry the environment's name.
    """
    name = environment.partition("/")[0]
    return Identity(name, repository or repository_name(repo_path, ref, environment))


def environment_history(repo_path: Path, ref: str, environment: str) -> Iterator[list[Manifest]]:
    """``environment``'s objects at ``ref`` and at every commit before it, newest first.

    Each distinct version of its directory is read once; a missing repository or ref
    yields nothing.
    """
    from gitops.repo.history import past_files

    for files in past_files(repo_path, ref, environment_dir(environment)):
        yield manifests_from_files(files)


def promotion_status(
    repo_path: Path,
    environment: str,
    after: str,
    before: Sequence[Manifest],
    head: Sequence[Manifest],
    upstream_ref: str,
) -> PromotionStatus:
    """Judge a change of ``environment`` against what ``after`` rendered up to ``upstream_ref``."""
    from gitops.workflows.promotion import check_promotion

    history = environment_history(repo_path, upstream_ref, after)
    return check_promotion(environment, after, before, head, history)


def recorded_overrides(repo_path: Path, base: str | None, head: str) -> dict[str, str]:
    """Budget overrides recorded in the commits of a change (``base..head``, or ``head``).

    Older commits first, so the newest recording of a budget wins.
    """
    from gitops.policy.budgets import parse_overrides
    from gitops.repo.history import commit_message, messages_between

    messages = (
        messages_between(repo_path, base, head) if base else [commit_message(repo_path, head)]
    )
    found: dict[str, str] = {}
    for message in reversed(messages):
        found.update(parse_overrides(message))
    return found


def applied_overrides(repo_path: Path, ref: str) -> dict[str, str]:
    """Budget overrides recorded by the commit ``ref`` brings: ``ref`` itself, or for a
    merge commit every commit it merges (``ref^1..ref``)."""
    from gitops.core.errors import RepositoryError

    try:
        return recorded_overrides(repo_path, f"{ref}^1", ref)
    except RepositoryError:  # a root commit has no first parent
        return recorded_overrides(repo_path, None, ref)
