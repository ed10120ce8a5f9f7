"""What earlier renders into a repository computed, so an unchanged re-render redoes little.

Dumping YAML and evaluating the guardrails are most of a render's cost, and both are pure
functions of the rendered objects. The cache keys them by a digest of the exact object:
its content with types (``marshal`` format 2, which refuses subclasses and non-builtin
values, and unlike formats 3 and later records neither whether a string is interned nor
which objects are shared, so an object read back from JSON has the digest of the one
constructed and the dumper, which never writes aliases, gives shared containers the same
bytes). An object that cannot be digested is simply never cached.

- :meth:`RenderCache.dump`: the YAML bytes of an object, from the cache when its digest
  was dumped before;
- :meth:`RenderCache.object_check` / :meth:`RenderCache.record_object_check`: the guardrail
  violations of one object under one set of policies and Namespaces (see
  :mod:`gitops.render.check`);
- :meth:`RenderCache.stored_renders` / :meth:`RenderCache.keep_render`: what a shareable
  blueprint rendered to, for :class:`gitops.render.share.SharedRenders` (the constructs
  of an unchanged stack are not built again).

Entries are tied to :data:`CACHE_VERSION`, the Python, PyYAML and gitops versions, and
the size and mtime of every file of the package and of the CEL library, so an upgrade or
an edited checkout starts afresh. The cache is a file inside the repository's Git directory
(``.git/gitops-render-cache.json``): never committed, lost with the clone, rebuilt by the
next render. Only entries used by the last render are kept, so it does not grow.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import marshal
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

#: Bumped when the format or meaning of cached entries changes.
CACHE_VERSION = 4
#: File name inside the Git directory.
CACHE_FILE = "gitops-render-cache.json"


def _encode(data: dict[str, Any]) -> bytes:
    """``data`` as JSON bytes: orjson, 14 times faster than ``json.dumps`` on a 13 MB
    cache (a tenth of a one-tag re-render went to writing it).

    orjson writes NaN and infinities as null; none reach here: a blueprint's objects pass
    the render's JSON check (:func:`gitops.core.yaml_io.non_json_path`) before they are
    kept. An integer past 64 bits, which orjson refuses, is written by the standard
    library."""
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()


def git_dir(repo: Path) -> Path | None:
    """The Git directory of a repository at ``repo`` (``None`` if there is none yet).

    ``repo/.git`` for a non-bare repository, ``repo`` itself for a bare one; a ``.git``
    file (a linked worktree) is not followed: such repositories are just not cached.
    """
    dot_git = repo / ".git"
    if dot_git.is_dir():
        return dot_git
    if (repo / "HEAD").is_file() and (repo / "objects").is_dir():
        return repo
    return None


def digest(obj: Any) -> str | None:
    """A digest naming ``obj``'s exact YAML rendering, or ``None`` if it cannot be made."""
    try:
        content = marshal.dumps(obj, 2)
    except ValueError:  # a subclass or a non-builtin value: never cached
        return None
    return hashlib.sha1(content, usedforsecurity=False).hexdigest()


def combined(keys: Sequence[str | None]) -> str | None:
    """A digest of a list of object digests, in order (``None`` if any is ``None``)."""
    parts: list[str] = []
    for key in keys:
        if key is None:
            return None
        parts.append(key)
    return hashlib.sha1("\n".join(parts).encode(), usedforsecurity=False).hexdigest()


def _fingerprint() -> str:
    """What cached entries depend on besides the objects themselves."""
    # The package's own files (an edited checkout keeps its version; gitops' version is in
    # its __init__.py, one of them) and the CEL library.
    files = sorted(Path(__file__).resolve().parents[1].rglob("*.py"))
    spec = importlib.util.find_spec("cel")
    if spec is not None and spec.origin:
        files.append(Path(spec.origin))
    stats = []
    for path in files:
        info = path.stat()
        stats.append((str(path), info.st_size, info.st_mtime_ns))
    parts = (CACHE_VERSION, sys.version, yaml.__version__, stats)
    return hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()


class RenderCache:
    """YAML texts and guardrail outcomes by object digest (see the module docstring).

    Args:
        repo: the repository the render commits to (it may not exist yet).
        dumper: turns an object into YAML text (:func:`gitops.core.yaml_io.dump_one`).
    """

    def __init__(self, repo: Path, dumper: Callable[[Any], str]) -> None:
        self._repo = repo
        self._dumper = dumper
        self._fingerprint = _fingerprint()
        self._yaml: dict[str, str] = {}
        self._checks: dict[str, list[list[str]]] = {}
        self._used_yaml: dict[str, str] = {}
        self._used_checks: dict[str, list[list[str]]] = {}
        self._renders: dict[str, list[Any]] = {}
        self._used_renders: dict[str, list[Any]] = {}
        self.hits = 0
        self._load()

    def _load(self) -> None:
        directory = git_dir(self._repo)
        if directory is None:
            return
        try:
            data = json.loads((directory / CACHE_FILE).read_bytes())
        except (OSError, ValueError):
            return  # absent or damaged: render without it, and rewrite it
        if not isinstance(data, dict) or data.get("fingerprint") != self._fingerprint:
            return
        yaml_entries, checks = data.get("yaml"), data.get("checks")
        renders = data.get("renders")
        if isinstance(yaml_entries, dict) and isinstance(checks, dict):
            self._yaml, self._checks = yaml_entries, checks
        if isinstance(renders, dict):
            self._renders = renders

    def dump(self, obj: Any) -> bytes:
        """The YAML bytes of ``obj``, from the cache when an identical object was dumped."""
        key = digest(obj)
        text = self._yaml.get(key) if key is not None else None
        if text is None:
            text = self._dumper(obj)
        else:
            self.hits += 1
        if key is not None:
            self._used_yaml[key] = text
        return text.encode()

    def object_check(self, context: str | None, key: str | None) -> list[list[str]] | None:
        """The violations (as fields) of object ``key`` under ``context``, else ``None``."""
        if context is None or key is None:
            return None
        entry = f"{context}:{key}"
        found = self._checks.get(entry)
        if found is not None:
            self._used_checks[entry] = found
            return found
        # Recorded earlier in this render: the clusters of a fleet repeat whole object sets.
        return self._used_checks.get(entry)

    def record_object_check(
        self, context: str | None, key: str | None, violations: Sequence[list[str]]
    ) -> None:
        """Remember the violations (as fields) of object ``key`` under ``context``."""
        if context is not None and key is not None:
            self._used_checks[f"{context}:{key}"] = list(violations)

    def stored_renders(self, key: str) -> Sequence[Any]:
        """The blueprint renders kept under ``key`` (checked by their user)."""
        found = self._renders.get(key)
        return found if isinstance(found, list) else ()

    def keep_render(self, key: str, entry: list[Any]) -> None:
        """Keep a blueprint render under ``key`` for the next render."""
        kept = self._used_renders.setdefault(key, [])
        if not any(other is entry for other in kept):
            kept.append(entry)

    def save(self) -> None:
        """Write the entries this render used into the repository's Git directory."""
        if (self._used_yaml == self._yaml and self._used_checks == self._checks
                and self._used_renders == self._renders):  # fmt: skip
            return  # nothing new: spare the write
        directory = git_dir(self._repo)
        if directory is None:
            return
        data = {"fingerprint": self._fingerprint, "yaml": self._used_yaml,
                "checks": self._used_checks, "renders": self._used_renders}  # fmt: skip
        target = directory / CACHE_FILE
        temporary = target.with_name(f"{CACHE_FILE}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(_encode(data))
            temporary.replace(target)  # atomic: a concurrent render reads old or new
        except (OSError, ValueError):  # ValueError: a value JSON cannot hold
            temporary.unlink(missing_ok=True)  # a cache that cannot be written is no error
