"""Environment inheritance: ``extends:`` resolved into one mapping per environment file.

An environment file may name another of the same directory in ``extends``; the parent's
mapping is merged under the child's (recursively), so a fleet of production
environments can share one base and state only what differs. Merge rules (those of Helm
values and kustomize patches, so nothing surprises a reviewer):

- mappings merge key by key, recursively; the child's value wins;
- lists and scalars are replaced whole (``namespaces: [a]`` does not append to the base);
- ``name``, ``extends`` and ``abstract`` are never inherited;
- ``cluster`` and ``clusters`` replace each other: a fleet may extend a single-cluster
  environment (and the reverse) without inheriting the other form.

A parent may be ``abstract: true``: it is only extended, never rendered, and may leave out
required keys (``cluster``, ``namespaces``) its children give.

Reading files happens in :func:`resolve_directory`; :func:`merge` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops.core.errors import ValidationError
from gitops.core.suggest import did_you_mean
from gitops.core.yaml_io import load_yaml, read_capped

#: Keys that belong to one file and are never inherited.
OWN_KEYS = frozenset({"name", "extends", "abstract"})
#: Longest ``extends`` chain (a longer one is almost surely a mistake).
MAX_DEPTH = 16


def merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``: mappings merge recursively, everything else is replaced (pure)."""
    out: dict[str, Any] = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def resolve(raw: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """Resolve ``extends`` for every file (pure).

    Args:
        raw: ``{file stem: (source, loaded document)}``.

    Returns:
        ``{file stem: merged document}``; documents that are not mappings are returned
        as they are (:func:`gitops.inputs.environments.parse_environment` reports them).

    Raises:
        ValidationError: ``extends`` names no environment of the directory (the closest is
            suggested), is not a string, forms a cycle, or is deeper than :data:`MAX_DEPTH`.
    """
    resolved: dict[str, Any] = {}

    def walk(stem: str, chain: tuple[str, ...]) -> Any:
        if stem in resolved:
            return resolved[stem]
        source, document = raw[stem]
        if not isinstance(document, Mapping) or "extends" not in document:
            resolved[stem] = document
            return document
        parent = document["extends"]
        if not isinstance(parent, str) or not parent:
            raise ValidationError(
                f"{source}: extends must name another environment file, got {parent!r}"
            )
        if parent in chain or parent == stem:
            cycle = " -> ".join([*chain, stem, parent])
            raise ValidationError(f"{source}: extends forms a cycle: {cycle}")
        if parent not in raw:
            raise ValidationError(
                f"{source}: extends {parent!r}: no such environment in the directory"
                f"{did_you_mean(parent, raw)} (known: {', '.join(sorted(raw))})"
            )
        if len(chain) >= MAX_DEPTH:
            raise ValidationError(f"{source}: extends chain deeper than {MAX_DEPTH}")
        base = walk(parent, (*chain, stem))
        if not isinstance(base, Mapping):
            raise ValidationError(f"{source}: extends {parent!r}, which is not a mapping")
        skip = set(OWN_KEYS)
        if {"cluster", "clusters"} & set(document):  # the child's form wins
            skip |= {"cluster", "clusters"}
        inherited = {k: v for k, v in base.items() if k not in skip}
        merged = merge(inherited, {k: v for k, v in document.items() if k != "extends"})
        resolved[stem] = merged
        return merged

    for stem in sorted(raw):
        walk(stem, ())
    return resolved


def resolve_directory(directory: Path) -> dict[str, tuple[str, Any]]:
    """Load every environment file of ``directory`` and resolve ``extends``.

    Returns:
        ``{file stem: (source file, merged document)}``, parents before the files
        extending them, then by stem.

    Raises:
        InputError: a file cannot be read or is not valid YAML.
        ValidationError: see :func:`resolve`.
    """
    paths = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    raw = {path.stem: (str(path), load_yaml(read_capped(path), str(path))) for path in paths}
    merged = resolve(raw)
    # Parents first: a bad value a file inherits is reported in the file that wrote it.
    return {
        stem: (raw[stem][0], merged[stem])
        for stem in sorted(raw, key=lambda s: (_depth(raw, s), s))
    }


def _depth(raw: Mapping[str, tuple[str, Any]], stem: str) -> int:
    depth = 0
    document = raw[stem][1]
    while isinstance(document, Mapping) and document.get("extends") in raw and depth < MAX_DEPTH:
        depth += 1
        document = raw[document["extends"]][1]
    return depth
