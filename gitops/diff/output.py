"""Text and JSON renderings of a :class:`gitops.diff.engine.DiffReport`.

Purely data-manipulative: no I/O; the caller decides where the text goes. Everything shown
comes from the already-redacted patch and diff text.
"""

from __future__ import annotations

import json

from gitops.diff.engine import DiffReport, Status

_RESET = "\x1b[0m"
_COLORS = {"+": "\x1b[32m", "-": "\x1b[31m", "@": "\x1b[36m"}
_STATUS_COLORS = {
    Status.IN_SYNC: "\x1b[32m",
    Status.MODIFIED: "\x1b[33m",
    Status.MISSING: "\x1b[32m",
    Status.ORPHANED: "\x1b[31m",
    Status.KIND_NOT_SERVED: "\x1b[35m",
}
_LABELS = {
    Status.IN_SYNC: "in sync",
    Status.MODIFIED: "modified",
    Status.MISSING: "missing (will be created)",
    Status.ORPHANED: "orphaned (live, not in Git)",
    Status.KIND_NOT_SERVED: "kind not served by the cluster",
}


def format_json(report: DiffReport) -> str:
    """The report as deterministic JSON (see :meth:`DiffReport.to_dict`)."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def _paint(line: str, color: bool) -> str:
    if not color or line.startswith(("+++", "---")):
        return line
    code = _COLORS.get(line[:1])
    return f"{code}{line}{_RESET}" if code else line


def format_text(report: DiffReport, *, color: bool = False, show_in_sync: bool = False) -> str:
    """A readable report: one line per object not in sync, its unified diff, a summary.

    Args:
        report: the diff report.
        color: ANSI colors (for a terminal).
        show_in_sync: also list objects that are in sync.
    """
    lines: list[str] = []
    for obj in report.objects:
        if obj.status is Status.IN_SYNC and not show_in_sync:
            continue
        label = _LABELS[obj.status]
        if color:
            label = f"{_STATUS_COLORS[obj.status]}{label}{_RESET}"
        lines.append(f"{obj.key}: {label}")
        lines.extend(f"  will remove {path}" for path in obj.removed)
        lines.extend(_paint(line, color) for line in obj.text.splitlines())
    summary = report.summary()
    lines.append(", ".join(f"{count} {status}" for status, count in summary.items()))
    return "\n".join(lines) + "\n"
