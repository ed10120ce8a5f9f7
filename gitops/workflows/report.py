"""Plan reports as text (terminal), JSON (machines) and Markdown (pull-request comments).

Purely data-manipulative: no I/O. Everything shown comes from the plan's already-redacted
texts. Every format opens with the change risk (:mod:`gitops.workflows.report_risk`). Markdown is
either bounded (:func:`to_markdown`: at most ``max_objects`` per-object sections and about
``max_bytes`` bytes, what does not fit counted in an "N more objects not shown" line) or
complete and split into numbered comments of at most 65,536 characters, GitHub's limit
(:func:`to_markdown_parts`).
"""

from __future__ import annotations

import json
import re

from gitops.diff.engine import ObjectDiff, Status
from gitops.workflows.plan import Change, ObjectChange, Plan
from gitops.workflows.report_risk import COMMENT_LIMIT, risk_markdown, risk_text, split_parts

#: Default cap on per-object sections in Markdown.
MAX_OBJECTS = 50
#: Default cap on the Markdown size, in bytes (below GitHub's comment limit).
MAX_BYTES = 60_000
#: Cap on one object's diff, in bytes, before it is cut.
MAX_OBJECT_BYTES = 8_000

_MARKS = {Change.ADDED: "+", Change.CHANGED: "~", Change.REMOVED: "-"}
_DRIFT_LABELS = {
    Status.MODIFIED: "modified",
    Status.MISSING: "missing",
    Status.ORPHANED: "orphaned (live, not in base)",
    Status.KIND_NOT_SERVED: "kind not served",
}


def to_json(plan: Plan) -> str:
    """The plan as deterministic JSON."""
    return json.dumps(plan.to_dict(), indent=2) + "\n"


def _apply_line(plan: Plan) -> str:
    s = plan.summary()
    return f"apply: {s['create']} to create, {s['update']} to update, {s['delete']} to delete"


def to_text(plan: Plan) -> str:
    """The plan for a terminal: one line per object, diffs indented, counts at the end."""
    lines = [f"plan for {plan.environment}: {plan.base} -> {plan.head}", ""]
    lines += [*risk_text(plan), "", "rendered changes:"]
    if not plan.changes:
        lines.append("  none")
    for change in plan.changes:
        lines.append(f"  {_MARKS[change.change]} {change.key} ({change.change})")
        if change.change is Change.CHANGED:
            lines.extend(f"      {line}" for line in change.text.splitlines())
    if plan.drift is None:
        lines += ["", "drift and apply: not computed (no cluster or --live capture given)"]
    else:
        lines += ["", f"drift against base ({plan.live_source}):"]
        lines.extend(f"  {d.key}: {_DRIFT_LABELS[d.status]}" for d in plan.drift)
        if not plan.drift:
            lines.append("  none")
        lines += ["", "applying head would:"]
        lines.extend(f"  create {d.key}{_not_served(d)}" for d in plan.creates)
        for update in plan.updates:
            lines.append(f"  update {update.key}")
            lines.extend(f"      {line}" for line in update.text.splitlines())
        takes = dict(plan.delete_takes)
        for key in plan.deletes:
            lines.append(f"  delete {key}")
            lines.extend(f"    with it: {inside}" for inside in takes.get(key, ()))
        lines.extend(f"  keep {k.key}: {k.reason}" for k in plan.prune_kept)
        if plan.prune_note:
            lines.append(f"  note: {plan.prune_note}")
    if plan.violations:
        lines += ["", "policy violations introduced:"]
        lines.extend(f"  {v}" for v in plan.violations)
    s = plan.summary()
    lines += [
        "",
        f"rendered: {s['added']} added, {s['changed']} changed, {s['removed']} removed",
    ]
    if plan.has_live:
        lines.append(f"drift: {s['drifted']}; {_apply_line(plan)}")
    lines.append(f"new policy violations: {s['violations']}")
    return "\n".join(lines) + "\n"


def _not_served(created: ObjectDiff) -> str:
    if created.status is Status.KIND_NOT_SERVED:
        return " (kind not served: its CRD must be in the set or installed first)"
    return ""


def _fence(text: str, language: str = "diff") -> str:
    """A code block whose fence is longer than any backtick run in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _cut(text: str) -> str:
    data = text.encode()
    if len(data) <= MAX_OBJECT_BYTES:
        return text
    kept = data[:MAX_OBJECT_BYTES].decode(errors="ignore").rsplit("\n", 1)[0]
    return f"{kept}\n... ({len(data) - len(kept.encode())} more bytes not shown)\n"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>\n"


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def escape(text: str) -> str:
    """``text`` with HTML's special characters escaped (Markdown passes HTML through)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _change_section(change: ObjectChange) -> str:
    summary = f"{_MARKS[change.change]} {change.change} {_code(str(change.key))}"
    return _details(summary, _fence(_cut(change.text)))


def _update_section(update: ObjectDiff) -> str:
    body = _fence(_cut(update.text)) if update.text else "(no textual diff)"
    if update.removed:
        body = "Fields removed: " + ", ".join(f"`{p}`" for p in update.removed) + "\n\n" + body
    return _details(f"~ update {_code(str(update.key))}", body)


def _summary_table(plan: Plan) -> list[str]:
    s = plan.summary()
    rows = [
        ("Rendered objects added", s["added"]),
        ("Rendered objects changed", s["changed"]),
        ("Rendered objects removed", s["removed"]),
    ]
    if plan.has_live:
        rows += [
            ("Drift against base", s["drifted"]),
            ("Apply would create", s["create"]),
            ("Apply would update", s["update"]),
            ("Apply would delete (prune)", s["delete"]),
        ]
    rows.append(("New policy violations", s["violations"]))
    return ["| | objects |", "|---|---:|", *(f"| {name} | {count} |" for name, count in rows)]


def to_markdown(plan: Plan, *, max_objects: int = MAX_OBJECTS, max_bytes: int = MAX_BYTES) -> str:
    """The plan as a pull-request comment: change risk, summary table, collapsible sections.

    Args:
        plan: the plan.
        max_objects: most object entries (sections and list lines) shown, all parts together.
        max_bytes: approximate size limit of the whole comment.
    """
    return _markdown(plan, max_objects, max_bytes).finish()


def to_markdown_parts(plan: Plan, *, max_chars: int = COMMENT_LIMIT) -> list[str]:
    """The whole plan as comments of at most ``max_chars`` characters: split, never cut."""
    out = _markdown(plan, 1 << 62, 1 << 62)
    return split_parts(out.lines, f"gitops plan `{plan.environment}`", max_chars)


def _markdown(plan: Plan, max_objects: int, max_bytes: int) -> Output:
    verdict = "changes" if plan.has_changes else "nothing to do"
    source = f"; live objects from {escape(plan.live_source)}" if plan.live_source else ""
    head = [
        f"### gitops plan: `{plan.environment}` ({verdict})",
        "",
        f"Base `{plan.base}` → head `{plan.head}`{source}",
        "",
        *risk_markdown(plan),
        *_summary_table(plan),
        "",
    ]
    out = Output(head, max_objects, max_bytes - len("\n".join(head).encode()) - 200)
    markdown_sections(plan, out, level=4)
    return out


#: Shown where parts 2 and 3 would be when no live objects were given.
NOT_COMPUTED = "Drift and apply were not computed: no cluster or --live capture given."


def markdown_sections(plan: Plan, out: Output, *, level: int) -> None:
    """Append the plan's parts to ``out`` as Markdown headings of ``level`` and entries."""
    heading = "#" * level
    out.line(f"{heading} 1. Rendered changes")
    out.line("")
    for change in plan.changes:
        out.entry(_change_section(change))
    if not plan.changes:
        out.line("No rendered object changes.\n")
    if plan.has_live:
        out.line(f"{heading} 2. Drift against base")
        out.line("")
        for d in plan.drift or ():
            out.entry(f"- {_code(str(d.key))}: {_DRIFT_LABELS[d.status]}")
        out.line("" if plan.drift else "The cluster matches base.\n")
        out.line(f"{heading} 3. What applying head would do")
        out.line("")
        for created in plan.creates:
            out.entry(f"- create {_code(str(created.key))}{_not_served(created)}")
        for update in plan.updates:
            out.entry(_update_section(update))
        takes = dict(plan.delete_takes)
        for key in plan.deletes:
            inside = takes.get(key, ())
            with_it = f" with {len(inside)} object(s) in it: " if inside else ""
            with_it += ", ".join(_code(str(k)) for k in inside)
            out.entry(f"- delete {_code(str(key))}{with_it}")
        for kept in plan.prune_kept:
            out.entry(f"- keep {_code(str(kept.key))}: {escape(kept.reason)}")
        if plan.prune_note:
            out.line(f"- note: {escape(plan.prune_note)}")
        if not (plan.creates or plan.updates or plan.deletes):
            out.line("Nothing to apply.")
        out.line("")
    else:
        out.line(f"_{NOT_COMPUTED}_")
        out.line("")
    if plan.violations:
        out.line(f"{heading} Policy violations introduced")
        out.line("")
        for violation in plan.violations:
            out.entry(f"- {escape(str(violation))}")
        out.line("")


class Output:
    """Collects lines; object entries are admitted while the object and byte caps allow."""

    def __init__(self, lines: list[str], max_objects: int, max_bytes: int) -> None:
        self.lines = list(lines)
        self.objects = max_objects
        self.bytes = max_bytes
        self.hidden = 0

    def line(self, text: str) -> None:
        self.lines.append(text)

    def entry(self, text: str) -> None:
        size = len(text.encode()) + 1
        if self.objects <= 0 or size > self.bytes:
            self.hidden += 1
            return
        self.objects -= 1
        self.bytes -= size
        self.lines.append(text)

    def finish(self) -> str:
        """The collected Markdown, with the count of entries the caps left out."""
        if self.hidden:
            self.lines.append(f"_{self.hidden} more objects not shown (size limit)._")
        return "\n".join(self.lines) + "\n"
