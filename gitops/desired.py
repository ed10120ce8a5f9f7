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
    MAX_TOTAL_BYTES,
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
        _check_metadata(item, key_of(item, source), source)
        yield dict(item)


def _check_metadata(item: Mapping[str, Any], key: ResourceKey, source: str) -> None:
    """Refuse labels, annotations and finalizers of another shape than the API's."""
    metadata = item["metadata"]
    for field in ("labels", "annotations"):
        values = metadata.get(field) or {}
        if not isinstance(values, Mapping):
            raise InputError(
                f"{source}: {key}: metadata.{field} must be a mapping of strings, got "
                f"{type(values).__name__}"
            )
        for name, value in values.items():
            if not isinstance(value, str):
                raise InputError(
                    f"{source}: {key}: metadata.{field}[{str(name)!r}] must be a string, got "
                    f"{type(value).__name__}"
                )
    finalizers = metadata.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        raise InputError(f"{source}: {key}: metadata.finalizers must be a list of strings")


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
    if path.is_dir():
        files: dict[str, bytes] = {}
        total = 0
        for file in sorted(path.rglob("*")):
            name = file.relative_to(path).as_posix()
            if file.is_dir() or not _is_manifest_file(name):
                continue
            files[name] = _read(file)  # a FIFO or device is refused, never opened
            total += len(files[name])
            if total > MAX_TOTAL_BYTES:
                raise InputError(
                    f"{path}: files total more than {MAX_TOTAL_BYTES} bytes (the cap on "
                    f"everything read at once; {name} passes it)"
                )
    elif path.exists():
        files = {path.name: _read(path)}
    else:
        raise InputError(f"{path}: no such file or directory")
    return manifests_from_files(files)


def read_ref(
    repo_path: Path, ref: str, environment: str | None = None, *, missing_ok: bool = False
) -> list[Manifest]:
    """Manifests committed at ``ref`` (commit, branch or tag), under one environment's directory.

    The one reader of an environment from Git: ``diff``, ``plan`` and ``apply`` all read
    through it.

    Args:
        repo_path: the rendered GitOps repository.
        ref: what to read; the working directory is never looked at.
        environment: restrict to ``envs/<environment>`` (``<env>/<cluster>``: one cluster
            of a fleet, its base and overlay as kustomize builds them); None reads the
            whole tree.
        missing_ok: an environment with no directory at ``ref`` reads as no objects (a plan
            of a new or removed environment, ``apply --allow-empty``); otherwise an error.

    Raises:
        RepositoryError: the repository or ref does not exist.
        InputError: the environment has no directory at ``ref`` (unless ``missing_ok``),
            or a file is malformed.
    """
    from gitops import repo  # pygit2 is loaded only by commands that read Git

    prefix = ""
    name, _, cluster = (environment or "").partition("/")
    if environment is not None:
        from gitops.layout import environment_dir

        prefix = environment_dir(name)
    files = repo.read_files(repo_path, ref, prefix)
    if environment is not None and not files and not missing_ok:
        raise InputError(f"{repo_path}@{ref}: environment {environment!r} has no {prefix}/")
    if cluster:  # one cluster of a fleet: its base and overlay, as kustomize builds them
        from gitops.fleet import cluster_manifests

        return cluster_manifests(files, prefix, cluster)
    return manifests_from_files(files)


def read_live_file(path: Path) -> list[Manifest]:
    """Live objects captured with ``kubectl get -o yaml`` (a List) or as multi-document YAML.

    Raises:
        InputError: the file is missing or malformed.
    """
    if not path.exists():
        raise InputError(f"{path}: no such file")
    objects: list[Manifest] = []
    seen: dict[ResourceKey, str] = {}
    for index, document in enumerate(load_yaml_all(_read(path), str(path))):
        for number, manifest in enumerate(_flatten(document, f"{path}#{index + 1}")):
            key = key_of(manifest)
            source = f"{path}#{index + 1}" + (f" items[{number}]" if "items" in document else "")
            if key in seen:
                # One object captured twice: which one is live? Keeping the last would
                # silently compare against whichever came later.
                raise InputError(f"{source}: {key} is captured twice (first at {seen[key]})")
            seen[key] = source
            objects.append(manifest)
    return objects


def _read(path: Path) -> bytes:
    # Capped: a huge file is refused after reading one byte more than the YAML cap.
    return read_capped(path)
