"""Fleets: one environment on many clusters, laid out as a kustomize base and overlays.

The objects every cluster of a fleet renders identically are written once, in
``envs/<env>/base/<layer>/``; a cluster whose objects differ gets an overlay,
``envs/<env>/clusters/<cluster>/<layer>/``, holding only what differs: an RFC 6902 patch
per changed object (``patches/``, applied by kustomize's ``patches`` with a target) and
the whole object for one the base does not hold. The layout grows with what differs
between clusters, not with their number; a cluster that differs in nothing has no overlay
and its Argo CD and Flux objects point at the base.

The base version of an object is the one most clusters render (ties: the first cluster by
name), so a fleet where one cluster differs patches that one cluster only.

:func:`split` and :func:`assemble` are inverse (``assemble(split(x)) == x`` per cluster,
property-tested); :func:`cluster_manifests` reads a cluster back from committed files as
``kubectl kustomize`` would. Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch

from gitops.core.errors import InputError
from gitops.core.keys import Manifest, ResourceKey, canonical_order, key_of
from gitops.core.yaml_io import load_yaml, load_yaml_all

#: Directory of the objects shared by every cluster of a fleet.
BASE_DIR = "base"
#: Directory holding one overlay directory per cluster that differs.
CLUSTERS_DIR = "clusters"
#: Directory, inside an overlay layer, of the RFC 6902 patches.
PATCHES_DIR = "patches"


@dataclass(frozen=True)
class Patch:
    """An RFC 6902 patch turning the base version of ``key`` into a cluster's."""

    key: ResourceKey
    ops: tuple[Mapping[str, Any], ...]


@dataclass
class Split:
    """A fleet's objects: shared once, and per cluster what differs.

    Attributes:
        base: objects every cluster renders (their most common version), canonical order.
        extra: per cluster, objects the base does not hold (whole), canonical order.
        patches: per cluster, patches over base objects, in base order.
    """

    base: list[Manifest] = field(default_factory=list)
    extra: dict[str, list[Manifest]] = field(default_factory=dict)
    patches: dict[str, list[Patch]] = field(default_factory=dict)

    def differs(self, cluster: str) -> bool:
        """Whether ``cluster`` needs an overlay."""
        return bool(self.extra.get(cluster) or self.patches.get(cluster))


def _fingerprint(obj: Manifest) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def split(clusters: Mapping[str, Sequence[Manifest]]) -> Split:
    """Split each cluster's objects into a shared base and per-cluster differences (pure).

    Clusters usually hold the same dict for an object they render alike
    (:mod:`gitops.render.share`): each distinct dict is keyed and fingerprinted once, so
    the work per cluster is a lookup per object.
    """
    names = sorted(clusters)
    # By id(): every object stays referenced by ``clusters`` for the whole call.
    keys: dict[int, ResourceKey] = {}
    prints_of: dict[int, str] = {}

    def key(obj: Manifest) -> ResourceKey:
        found = keys.get(id(obj))
        if found is None:
            found = keys[id(obj)] = key_of(obj)
        return found

    def fingerprint(obj: Manifest) -> str:
        found = prints_of.get(id(obj))
        if found is None:
            found = prints_of[id(obj)] = _fingerprint(obj)
        return found

    keyed = {name: {key(obj): obj for obj in clusters[name]} for name in names}
    everywhere = set.intersection(*(set(objs) for objs in keyed.values())) if names else set()
    out = Split(extra={n: [] for n in names}, patches={n: [] for n in names})
    base_by_key: dict[ResourceKey, Manifest] = {}
    for key_ in everywhere:
        prints = {name: fingerprint(keyed[name][key_]) for name in names}
        counts = Counter(prints.values())
        best = max(counts.values())
        winner = next(name for name in names if counts[prints[name]] == best)
        base_by_key[key_] = keyed[winner][key_]
        for name in names:
            if prints[name] != prints[winner]:
                ops = jsonpatch.make_patch(keyed[winner][key_], keyed[name][key_]).patch
                out.patches[name].append(Patch(key_, tuple(ops)))
    out.base = canonical_order(base_by_key.values())
    order = {key(obj): index for index, obj in enumerate(out.base)}
    for name in names:
        out.patches[name].sort(key=lambda patch: order[patch.key])
        out.extra[name] = canonical_order(
            obj for k, obj in keyed[name].items() if k not in everywhere
        )
    return out


def assemble(
    base: Sequence[Manifest], extra: Sequence[Manifest], patches: Sequence[Patch]
) -> list[Manifest]:
    """One cluster's objects: the base with its patches applied, plus its own (pure).

    Raises:
        InputError: a patch targets an object the base lacks, or does not apply.
    """
    by_key = {key_of(obj): obj for obj in base}
    for patch in patches:
        if patch.key not in by_key:
            raise InputError(f"patch for {patch.key}: no such object in the fleet's base")
        try:
            by_key[patch.key] = jsonpatch.apply_patch(by_key[patch.key], list(patch.ops))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
            raise InputError(f"patch for {patch.key} does not apply: {err}") from err
    return canonical_order([*by_key.values(), *extra])


def patch_target(key: ResourceKey) -> dict[str, str]:
    """kustomize's ``patches[].target`` selecting exactly ``key``."""
    target = {"group": key.group, "version": key.version, "kind": key.kind, "name": key.name}
    if key.namespace:
        target["namespace"] = key.namespace
    return target


def patch_file(key: ResourceKey) -> str:
    """The file name of ``key``'s patch inside an overlay layer's ``patches/``."""
    where = key.namespace or "_cluster"
    return f"{PATCHES_DIR}/{key.kind.lower()}-{where}-{key.name}.yaml"


def cluster_manifests(files: Mapping[str, bytes], env_dir: str, cluster: str) -> list[Manifest]:
    """A fleet cluster's objects from committed files, as ``kubectl kustomize`` builds them.

    Args:
        files: committed files under ``env_dir`` (``envs/<env>``), keyed by full path.
        env_dir: the fleet's directory.
        cluster: the cluster's name.

    Raises:
        InputError: a file is malformed or a patch does not apply.
    """
    base_prefix = f"{env_dir}/{BASE_DIR}/"
    overlay_prefix = f"{env_dir}/{CLUSTERS_DIR}/{cluster}/"
    base: list[Manifest] = []
    extra: list[Manifest] = []
    patches: list[Patch] = []
    for path in sorted(files):
        name = path.rsplit("/", 1)[-1]
        if path.startswith(overlay_prefix) and name == "kustomization.yaml":
            patches.extend(_overlay_patches(files, path))
            continue
        if name == "kustomization.yaml" or f"/{PATCHES_DIR}/" in path:
            continue
        if path.startswith(base_prefix):
            base.extend(_objects(files[path], path))
        elif path.startswith(overlay_prefix):
            extra.extend(_objects(files[path], path))
    return assemble(base, extra, patches)


def _objects(data: bytes, source: str) -> list[Manifest]:
    out = []
    for document in load_yaml_all(data, source):
        key_of(document, source)
        out.append(document)
    return out


def _overlay_patches(files: Mapping[str, bytes], kustomization: str) -> list[Patch]:
    directory = kustomization.rsplit("/", 1)[0]
    document = load_yaml(files[kustomization], kustomization)
    entries = document.get("patches", []) if isinstance(document, Mapping) else []
    out: list[Patch] = []
    for index, entry in enumerate(entries or []):
        where = f"{kustomization}: patches[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("target"), Mapping):
            raise InputError(f"{where}: expected a mapping with path and target")
        target = entry["target"]
        path = f"{directory}/{entry.get('path')}"
        if path not in files:
            raise InputError(f"{where}: {path} is not in the repository")
        ops = load_yaml(files[path], path)
        if not isinstance(ops, list):
            raise InputError(f"{path}: expected a list of RFC 6902 operations")
        group = str(target.get("group", ""))
        version = str(target.get("version", ""))
        key = ResourceKey(
            group=group,
            version=version,
            kind=str(target.get("kind", "")),
            namespace=str(target.get("namespace", "")),
            name=str(target.get("name", "")),
        )
        out.append(Patch(key, tuple(ops)))
    return out
