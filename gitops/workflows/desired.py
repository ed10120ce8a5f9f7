"""Read manifests: desired from Git at a ref or from files; live from a captured file.

:func:`manifests_from_files` is pure (it parses given bytes); the ``read_*`` functions do
the I/O: :func:`read_ref` reads the committed tree through :mod:`gitops.repo` (never the
working directory), :func:`read_path` a file or directory, :func:`read_live_file` a
``kubectl get -o yaml`` List or multi-document YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from gitops.core.errors import InputError
from gitops.core.keys import Manifest, ResourceKey, key_of
from gitops.core.yaml_input import iter_documents
from gitops.core.yaml_io import (
    MAX_TOTAL_BYTES,
    flatten_lists,
    is_list_kind,
    load_yaml_all,
    open_regular,
    read_capped,
    yaml_caps,
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
        from gitops.render.layout import environment_dir

        prefix = environment_dir(name)
    files = repo.read_files(repo_path, ref, prefix)
    if environment is not None and not files and not missing_ok:
        raise InputError(f"{repo_path}@{ref}: environment {environment!r} has no {prefix}/")
    if cluster:  # one cluster of a fleet: its base and overlay, as kustomize builds them
        from gitops.render.fleet import cluster_manifests

        return cluster_manifests(files, prefix, cluster)
    return manifests_from_files(files)


#: kubectl's copy of the last applied object: as large as the object, never compared.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

#: Decides what of a captured object to keep: the object, a smaller copy, or None (drop).
Keep = Callable[[ResourceKey, Manifest], "Manifest | None"]


def read_live_file(path: Path, keep: Keep | None = None) -> list[Manifest]:
    """Live objects captured with ``kubectl get -o yaml|json`` (a List) or as multi-document
    YAML, streamed: the items of a List are parsed and judged one at a time.

    A capture of a whole cluster is hundreds of MB; the caps apply to each object (nodes,
    nesting, bytes) and each scalar, not to the file, and ``keep`` decides what stays in
    memory (:func:`keep_for_diff`), so memory follows what is kept, not the file.

    Args:
        path: the capture.
        keep: what to keep of each object (default: all of it).

    Raises:
        InputError: the file is missing or malformed, or holds one object twice.
    """
    if not path.exists():
        raise InputError(f"{path}: no such file")
    objects: list[Manifest] = []
    # Each key's hash and position only (not the key): a capture may hold 200,000 objects.
    seen: dict[int, int] = {}
    for position, (source, manifest) in enumerate(_captured(path)):
        key = key_of(manifest)
        first = seen.setdefault(hash(key), position)
        if first != position and (before := _source_of(path, key, first)) is not None:
            # One object captured twice: which one is live? Keeping the last would
            # silently compare against whichever came later.
            raise InputError(f"{source}: {key} is captured twice (first at {before})")
        kept = manifest if keep is None else keep(key, manifest)
        if kept is not None:
            objects.append(kept)
    return objects


def _source_of(path: Path, key: ResourceKey, position: int) -> str | None:
    """Where the object at ``position`` of a capture is, if its key is ``key`` (else the
    hashes merely collided)."""
    for index, (source, manifest) in enumerate(_captured(path)):
        if index == position:
            return source if key_of(manifest) == key else None
    return None


def _captured(path: Path) -> Iterator[tuple[str, Manifest]]:
    """Every object of a capture with where it is, a List's items as they are parsed."""
    streamed_in: set[int] = set()
    try:
        with open_regular(path, str(path)) as handle:
            for parsed in iter_documents(handle, str(path), yaml_caps(), stream_items=True):
                where = f"{path}#{parsed.document}"
                if parsed.item is not None:
                    streamed_in.add(parsed.document)
                    where += f" items[{parsed.item}]"
                elif parsed.document in streamed_in and not is_list_kind(parsed.value):
                    raise InputError(
                        f"{where}: {parsed.value.get('kind')!r} has top-level items: a capture "
                        "holds objects and *List documents only"
                    )
                nested = (
                    parsed.item is None
                    and isinstance(parsed.value, Mapping)
                    and "items" in parsed.value
                )
                for number, manifest in enumerate(_flatten(parsed.value, where)):
                    yield (f"{where} items[{number}]" if nested else where), manifest
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from err


def keep_for_diff(
    desired: Iterable[ResourceKey], candidate: Callable[[Manifest], bool] | None
) -> Keep:
    """What a diff needs of a capture: whole objects for the desired keys (any namespace
    and version), a copy of the metadata for possible orphans (``candidate``), else nothing.
    """
    wanted = {(key.group, key.kind, key.name) for key in desired}

    def keep(key: ResourceKey, obj: Manifest) -> Manifest | None:
        if (key.group, key.kind, key.name) in wanted:
            return obj
        if candidate is None or not candidate(obj):
            return None
        metadata = obj["metadata"]
        slim = {
            field: metadata[field]
            for field in ("name", "namespace", "labels", "annotations", "ownerReferences")
            if field in metadata
        }
        annotations = slim.get("annotations")
        if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
            slim["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": slim}

    return keep


def _read(path: Path) -> bytes:
    # Capped: a huge file is refused after reading one byte more than the YAML cap.
    return read_capped(path)
