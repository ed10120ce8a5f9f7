"""``gitops set``: edit one value of an environment file in place, comments and order kept.

The file is read and written with ruamel.yaml's round-trip mode (comments, key order,
quoting and flow style survive; only the edited value changes). Before anything is
written the edited file is validated as the loader validates it (``extends`` resolved)
and its environment is rendered with the project's blueprints, so an unknown stack or a
value the stack's constructor refuses is one error line and the file is left as it was.
The new text is written to a temporary file and renamed over the old one.
"""

from __future__ import annotations

import difflib
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops.core.errors import InputError, ValidationError
from gitops.core.suggest import did_you_mean

#: (mapping, sequence, offset) indentations tried, the one that reproduces the file wins.
_INDENTS = ((2, 2, 0), (2, 4, 2), (4, 4, 2), (4, 6, 4))


@dataclass(frozen=True)
class Edit:
    """One edited value.

    Attributes:
        path: the environment file.
        where: the dotted key edited (``overrides.llama.image_tag``, or under
            ``clusters[us-east-1]`` for one cluster of a fleet).
        old: the value before (``None`` if it was not set).
        new: the value after.
    """

    path: Path
    where: str
    old: Any
    new: Any

    @property
    def changed(self) -> bool:
        """Whether the file changes."""
        return bool(self.old != self.new)


def _yaml(indent: tuple[int, int, int]) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    yaml.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return yaml


def _dump(yaml: Any, document: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def _load_round_trip(path: Path, text: str) -> tuple[Any, Any]:
    """The document and the YAML instance whose output reproduces ``text`` best."""
    from ruamel.yaml.error import YAMLError

    best: tuple[int, Any, Any] | None = None
    for indent in _INDENTS:
        yaml = _yaml(indent)
        try:
            document = yaml.load(text)
        except YAMLError as err:
            raise InputError(f"{path}: invalid YAML: {err}".splitlines()[0]) from None
        if text == _dump(yaml, document):
            return yaml, document
        diff = sum(
            1 for _ in difflib.unified_diff(text.splitlines(), _dump(yaml, document).splitlines())
        )
        if best is None or diff < best[0]:
            best = (diff, yaml, document)
    assert best is not None
    return best[1], best[2]


def set_override(
    path: Path,
    target: str,
    stack: str,
    key: str,
    value: Any,
    *,
    validate: Callable[[Path, str], None],
) -> Edit:
    """Set ``overrides.<stack>.<key>`` of ``target``'s file to ``value``, in place.

    Args:
        path: the environment file of ``target``.
        target: ``<env>`` or ``<env>/<cluster>`` (a fleet cluster's own overrides).
        stack: the stack id.
        key: the override key (``image_tag``, ``model_revision``...).
        value: the new value.
        validate: called with ``(path, new text)`` before writing; raises to refuse.

    Raises:
        InputError: the file is not valid YAML or not an environment mapping, or the
            cluster is not in the fleet.
        GitOpsError: whatever ``validate`` raises; the file is left as it was.
    """
    text = path.read_text()
    yaml, document = _load_round_trip(path, text)
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected an environment mapping")
    entry, where = _override_entry(path, document, target, stack)
    old = entry.get(key)
    entry[key] = value
    edit = Edit(path, f"{where}overrides.{stack}.{key}", old, value)
    if not edit.changed:
        return edit
    new_text = _dump(yaml, document)
    validate(path, new_text)
    _replace_atomically(path, new_text)
    return edit


def _override_entry(
    path: Path, document: dict[str, Any], target: str, stack: str
) -> tuple[dict[str, Any], str]:
    """``overrides.<stack>`` of the environment or of its cluster (made if missing), and
    where it is (``""`` or ``clusters[<name>].``) for messages."""
    from ruamel.yaml.comments import CommentedMap

    _, _, cluster = target.partition("/")
    holder = document
    where = ""
    if cluster:
        entries = document.get("clusters")
        names = [str(e.get("name")) for e in entries or [] if isinstance(e, dict)]
        if not isinstance(entries, list) or cluster not in names:
            raise InputError(
                f"{path}: cluster {cluster!r} is not in clusters{did_you_mean(cluster, names)}"
            )
        holder = entries[names.index(cluster)]
        where = f"clusters[{cluster}]."
    overrides = holder.get("overrides")
    if overrides is None:
        overrides = holder["overrides"] = CommentedMap()
    if not isinstance(overrides, dict):
        raise ValidationError(f"{path}: {where}overrides must be a mapping")
    entry = overrides.get(stack)
    if entry is None:
        entry = overrides[stack] = CommentedMap()
    if not isinstance(entry, dict):
        raise ValidationError(f"{path}: {where}overrides.{stack} must be a mapping")
    return entry, where


def _replace_atomically(path: Path, text: str) -> None:
    # Atomic: a reader (or a crash) sees the old file or the new one, never half of it.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
