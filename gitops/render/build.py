"""``gitops build``: rendered environments as a stream or as files on disk, never Git.

:func:`build_documents` is pure; :func:`write_tree` writes the same files ``gitops render``
commits for the environments into a plain directory, and removes only the files an
earlier build recorded there (``.gitops/generated.json``) and no longer produces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitops.core.errors import InputError
from gitops.core.keys import Manifest
from gitops.core.paths import GENERATED_INDEX
from gitops.core.yaml_io import dump_yaml
from gitops.inputs.environments import Environment
from gitops.render import layout

#: Formats of :func:`build_documents`.
FORMATS = ("yaml", "json")


def committed_form(manifests: Sequence[Manifest]) -> list[Manifest]:
    """The objects as the repository holds them: each with its Argo CD sync wave (pure)."""
    return [layout.with_sync_wave(obj, layout.layer_of(obj)) for obj in manifests]


def build_documents(rendered: Mapping[str, Sequence[Manifest]], output: str = "yaml") -> str:
    """Every environment's objects as one YAML stream, or one ``kind: List`` in JSON (pure).

    Environments come in name order, each in canonical (apply) order.
    """
    objects = [obj for name in sorted(rendered) for obj in committed_form(rendered[name])]
    if output == "json":
        document = {"apiVersion": "v1", "kind": "List", "items": objects}
        return json.dumps(document, indent=2, sort_keys=False) + "\n"
    return dump_yaml(objects)


def write_tree(
    directory: Path,
    rendered: Mapping[str, Sequence[Manifest]],
    environments: Sequence[Environment],
) -> int:
    """Write the repository files of ``rendered`` under ``directory``; return how many.

    Files a previous build listed in ``directory/.gitops/generated.json`` that are no
    longer produced are removed; any other file is left alone, and a file in the way that
    no build wrote is an error (nothing is written then).

    Raises:
        InputError: ``directory`` is a file, a path crosses a symbolic link, or a foreign
            file is in the way.
    """
    from gitops.render.pipeline import render_tree

    files = render_tree(rendered, environments)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--output-dir {directory}: exists and is not a directory")
    index = directory / GENERATED_INDEX
    previous: set[str] = set()
    if index.is_file():
        try:
            previous = set(json.loads(index.read_text())["paths"])
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{index}: not a generated-paths index: {err}") from err
    for path in sorted(files):
        target = directory / path
        for parent in [target, *target.parents]:
            if parent == directory:
                break
            if parent.is_symlink():
                raise InputError(f"{target}: {parent} is a symbolic link; nothing written")
        if target.exists() and path not in previous:
            raise InputError(f"{target}: a file no build wrote is in the way; nothing written")
    for path in sorted(previous - files.keys()):
        stale = directory / path
        if stale.is_file() and not stale.is_symlink():
            stale.unlink()
            # Directories the build created and emptied go too (never ``directory``).
            for parent in stale.parents:
                if parent == directory or any(parent.iterdir()):
                    break
                parent.rmdir()
    for path, data in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    index.parent.mkdir(parents=True, exist_ok=True)
    listing = {"generator": "gitops build", "paths": sorted(files)}
    index.write_text(json.dumps(listing, indent=1) + "\n")
    return len(files)
