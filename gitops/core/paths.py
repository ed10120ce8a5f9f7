"""Repository paths every Git checkout can hold: Linux, macOS and Windows file systems.

Kubernetes allows names that a checkout does not: a 253-character name makes a file name
over the 255 bytes ext4, APFS and NTFS allow per component, and then ``git clone`` fails
(Argo CD and Flux sync nothing). Windows refuses its device names (``con``, ``aux``,
``nul``, ``com1``... with any extension) and ``<>:"|?*``, and macOS and Windows fold
case, so two paths differing only in case are one file there.

:func:`safe_component` makes a generated name fit, deterministically (same input, same
output): too long, it keeps a readable prefix and a hash of the whole name; a Windows
device name gets a ``_`` suffix, which no DNS-1123 name can carry, so it cannot collide
with another object's name. :func:`check_paths` is the last check before anything is
written: every path of a tree, alone and against the others.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from gitops.core.errors import RepositoryError

#: Largest path component, in bytes (ext4, APFS and NTFS all allow 255).
MAX_COMPONENT_BYTES = 255
#: Largest repository-relative path, in bytes: leaves 256 bytes of the 1,024 macOS allows
#: (PATH_MAX) for the directory a repository is checked out into. Windows needs
#: ``core.longpaths`` for checkouts past 260 characters in any case.
MAX_PATH_BYTES = 768
#: Hex digits of the SHA-256 kept when a name is shortened.
HASH_LENGTH = 12

#: Windows device names: reserved as a file or directory name, with any extension.
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(10)}
    | {f"lpt{i}" for i in range(10)}
    | {"com¹", "com²", "com³", "lpt¹", "lpt²", "lpt³", "conin$", "conout$"}
)
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*\\\x00-\x1f]')


def is_windows_reserved(component: str) -> bool:
    """Whether Windows refuses ``component`` as a file or directory name."""
    stem = component.split(".", 1)[0].rstrip(" ").lower()
    return stem in WINDOWS_RESERVED


def safe_component(name: str, suffix: str = "", limit: int = MAX_COMPONENT_BYTES) -> str:
    """``name + suffix`` as a path component every file system accepts (deterministic).

    Args:
        name: the generated part (``configmap-<name>``, a namespace).
        suffix: kept as is at the end (``.yaml``).
        limit: the most bytes the component may take.

    Returns:
        ``name + suffix`` when it fits; otherwise the longest prefix of ``name`` that
        fits with ``-<12 hex digits of sha256(name)>`` before the suffix. A Windows
        device name gets ``_`` appended to ``name``.
    """
    if is_windows_reserved(name + suffix):
        name += "_"
    whole = name + suffix
    if len(whole.encode()) <= limit:
        return whole
    digest = hashlib.sha256(name.encode()).hexdigest()[:HASH_LENGTH]
    room = limit - len(suffix.encode()) - len(digest) - 1
    prefix = name.encode()[:room].decode(errors="ignore").rstrip("-.")
    return f"{prefix}-{digest}{suffix}"


def check_paths(paths: Iterable[str]) -> None:
    """Refuse a tree that some Git checkout (Linux, macOS, Windows) could not hold.

    Raises:
        RepositoryError: a component over :data:`MAX_COMPONENT_BYTES`, a path over
            :data:`MAX_PATH_BYTES`, a Windows device name or forbidden character, a
            component ending in a dot or space, or two paths equal but for case.
    """
    folded: dict[str, str] = {}
    problems: dict[str, str] = {}  # by component: most repeat (envs, dev, workloads, ...)
    for path in paths:
        if len(path.encode()) > MAX_PATH_BYTES:
            raise RepositoryError(
                f"refusing to write {path[:80]!r}...: {len(path.encode())} bytes exceeds the "
                f"{MAX_PATH_BYTES}-byte path limit checkouts need"
            )
        for part in path.split("/"):
            problem = problems.get(part)
            if problem is None:
                problem = problems[part] = _component_problem(part)
            if problem:
                raise RepositoryError(f"refusing to write {path!r}: {problem}")
        # Both a file and the directories above it collide when folded alike.
        prefix = ""
        for part in path.split("/"):
            prefix = f"{prefix}/{part}" if prefix else part
            other = folded.setdefault(prefix.casefold(), prefix)
            if other != prefix:
                raise RepositoryError(
                    f"refusing to write {path!r}: {prefix!r} and {other!r} differ only in "
                    "case, one file on macOS and Windows checkouts"
                )


def _component_problem(part: str) -> str:
    if len(part.encode()) > MAX_COMPONENT_BYTES:
        return (
            f"component of {len(part.encode())} bytes exceeds the {MAX_COMPONENT_BYTES}-byte "
            "limit of Linux, macOS and Windows file systems"
        )
    if is_windows_reserved(part):
        return f"{part!r} is a Windows device name"
    found = _WINDOWS_FORBIDDEN.search(part)
    if found:
        return f"{part!r} holds {found.group(0)!r}, which Windows file names cannot"
    if part.endswith((".", " ")):
        return f"{part!r} ends in a dot or space, which Windows drops"
    return ""


#: Index of the paths the tool generated, kept in the tree (see gitops.repo).
GENERATED_INDEX = ".gitops/generated.json"


#: Directory holding one directory per environment.
ENVS_DIR = "envs"


def environment_of(path: str) -> str | None:
    """The environment a generated path belongs to (``None`` for shared files)."""
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == ENVS_DIR:
        return parts[1]
    if len(parts) > 2 and parts[0] == "flux":
        return parts[1]
    if len(parts) == 2 and parts[0] == "argocd":
        stem = parts[1].removesuffix(".yaml")
        for prefix in ("appproject-", "applicationset-", "application-"):
            if stem.startswith(prefix):
                return stem[len(prefix) :]
    return None


def describe_changes(
    added: Iterable[str], changed: Iterable[str], removed: Iterable[str]
) -> list[str]:
    """Summarize changed paths per environment, for a commit message (pure)."""
    groups: dict[str, dict[str, list[str]]] = {}
    for verb, paths in (("added", added), ("changed", changed), ("removed", removed)):
        for path in paths:
            env = environment_of(path) or "(shared)"
            groups.setdefault(env, {"added": [], "changed": [], "removed": []})[verb].append(path)
    lines: list[str] = []
    for env in sorted(groups):
        verbs = groups[env]
        counts = ", ".join(f"{len(verbs[v])} {v}" for v in ("added", "changed", "removed"))
        lines.append(f"{env}: {counts}")
        for verb, mark in (("added", "+"), ("changed", "~"), ("removed", "-")):
            lines.extend(f"  {mark} {path}" for path in sorted(verbs[verb]))
    return lines
