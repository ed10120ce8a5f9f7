"""Read manifests: desired from Git at a ref or from files; live from a captured file.

:func:`manifests_from_files` is pure (it parses given bytes); the ``read_*`` functions do
the I/O: :func:`read_ref` reads the committed tree through :mod:`gitops.repo` (never the
working directory), :func:`read_path` a file or directory, :func:`read_live_file` a
``kubectl get -o yaml`` List or multi-document YAML.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitops.errors import InputError
from gitops.model import (
    Manifest,
    ResourceKey,
    flatten_lists,
    key_of,
    load_yaml_all,
    read_capped,
)

#: File names that are kustomize configuration, not manifests.
KUSTOMIZE_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
#: apiVersion prefixes of kustomize configuration documents.
_KUSTOMIZE_GROUPS = ("kustomize.config.k8s.io/",)


def _is_manifest_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    hidden = any(part.startswith(".") for part in path.split("/"))
    return not hidden and name not in KUSTOMIZE_FILES and name.endswith(_MANIFEST_SUFFIXES)


def _flatten(document: Any, source: str) -> Iterable[Manifest]:
    for item in flatten_lists([document], source):
        if not isinstance(item, Mapping):
            raise InputError(
                f"{source}: expected a mapping (a Kubernetes object), got {type(item).__name__}"
            )
        if str(item.get("apiVersion", "")).startswith(_KUSTOMIZE_GROUPS):
            continue
        key_of(item, source)
        yield dict(item)


def manifests_from_files(files: Mapping[str, bytes]) -> list[Manifest]:
    """Parse every manifest in ``{path: bytes}`` (kustomization and hidden files skipped).

    Pure: no I/O. Documents of kind ``*List`` are flattened into their items.

    Raises:
        InputError: a document is not a Kubernetes object, or two files define one object.
    """
    manifests: list[Manifest] = []
    seen: dict[ResourceKey, str] = {}
    for path in sorted(files):
        if not _is_manifest_file(path):
            continue
        for index, document in enumerate(load_yaml_all(files[path], path)):
            source = f"{path}#{index + 1}" if index else path
            for manifest in _flatten(document, source):
                key = key_of(manifest, source)
                if key in seen:
                    raise InputError(f"{source}: {key} is already defined in {seen[key]}")
                seen[key] = source
                manifests.append(manifest)
    return manifests


def read_path(path: Path) -> list[Manifest]:
    """Manifests of a file, or of every ``*.yaml|*.yml|*.json`` under a directory.

    Raises:
        InputError: the path does not exist or a file is malformed.
    """
    if path.is_file():
        files = {path.name: _read(path)}
    elif path.is_dir():
        files = {
            p.relative_to(path).as_posix(): _read(p) for p in sorted(path.rglob("*")) if p.is_file()
        }
    else:
        raise InputError(f"{path}: no such file or directory")
    return manifests_from_files(files)


def read_ref(repo_path: Path, ref: str, environment: str | None = None) -> list[Manifest]:
    """Manifests committed at ``ref`` (commit, branch or tag), under one environment's directory.

    Args:
        repo_path: the rendered GitOps repository.
        ref: what to read; the working directory is never looked at.
        environment: restrict to ``envs/<environment>``; None reads the whole tree.

    Raises:
        RepositoryError: the repository or ref does not exist.
        InputError: the environment has no directory at ``ref``, or a file is malformed.
    """
    from gitops import repo  # pygit2 is loaded only by commands that read Git

    prefix = ""
    if environment is not None:
        from gitops.layout import environment_dir

        prefix = environment_dir(environment)
    files = repo.read_files(repo_path, ref, prefix)
    if environment is not None and not files:
        raise InputError(f"{repo_path}@{ref}: environment {environment!r} has no {prefix}/")
    return manifests_from_files(files)


def read_live_file(path: Path) -> list[Manifest]:
    """Live objects captured with ``kubectl get -o yaml`` (a List) or as multi-document YAML.

    Raises:
        InputError: the file is missing or malformed.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    objects: list[Manifest] = []
    for index, document in enumerate(load_yaml_all(_read(path), str(path))):
        objects.extend(_flatten(document, f"{path}#{index + 1}"))
    return objects


def _read(path: Path) -> bytes:
    # Capped: a huge file is refused after reading one byte more than the YAML cap.
    return read_capped(path)
