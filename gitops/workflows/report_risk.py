"""The change risk of a plan, and splitting a long pull-request comment into numbered parts.

The change risk opens every plan report: deletions, protected kinds touched, the GPU delta,
the promotion status, new policy violations, then each change budget of the environment
and its use (see :mod:`gitops.policy.budgets`). A reviewer reads it before any diff.

GitHub stops a comment at 65,536 characters; :func:`split_parts` packs a report's blocks
(lines and whole object sections, never cut inside one) into numbered comments under that
limit, so nothing is left out.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitops.workflows.plan import Plan

#: GitHub's limit on one pull-request comment, in characters.
COMMENT_LIMIT = 65_536


def risk_rows(plan: Plan) -> list[tuple[str, str]]:
    """The change risk, one (what, value) row each."""
    s = plan.summary()
    deletes = f"{s['delete']}" if plan.has_live else f"{s['removed']} (removed from Git)"
    rows = [("Deletions", deletes)]
    if plan.budgets is not None:
        protected = next((u for u in plan.budgets.uses if u.name == "protected-kinds"), None)
        touched = ", ".join(str(k) for k in protected.objects) if protected else ""
        rows.append(("Protected kinds touched", touched or "none"))
        b = plan.budgets
        rows.append(("GPU delta", f"{b.gpu_delta:+d} ({b.gpus_before} → {b.gpus_after})"))
    if plan.promotion is not None:
        rows.append(("Promotion", str(plan.promotion).removeprefix("promotion: ")))
    rows.append(("New policy violations", str(s["violations"])))
    return rows


def risk_text(plan: Plan) -> list[str]:
    """The change risk for a terminal, one line per row and budget."""
    lines = ["change risk:"]
    lines.extend(f"  {name.lower()}: {value}" for name, value in risk_rows(plan))
    for use in plan.budgets.uses if plan.budgets else ():
        mark = "OVER BUDGET" if use.refused else "over budget, overridden" if use.over else "ok"
        lines.append(f"  budget {use.name}: {use.used} of {use.limit}: {mark}")
        if use.over and use.override:
            lines.append(f"    override: {use.override}")
    refused = plan.budgets.refused if plan.budgets else ()
    if refused:
        lines.append("  apply would refuse this change: " + ", ".join(u.name for u in refused))
    return lines


def risk_markdown(plan: Plan, *, level: int = 4) -> list[str]:
    """The change risk as a Markdown heading of ``level`` and two tables."""
    verdict = " — **over budget: apply will refuse it**" if plan.over_budget else ""
    lines = [f"{'#' * level} Change risk{verdict}", "", "| | |", "|---|---|"]
    lines.extend(f"| {name} | {_cell(value)} |" for name, value in risk_rows(plan))
    if plan.budgets and plan.budgets.uses:
        lines += ["", "| budget | limit | used | status |", "|---|---|---|---|"]
        for use in plan.budgets.uses:
            status = "**over budget**" if use.refused else "within budget"
            if use.over and use.override:
                status = f"over budget, overridden: {_cell(use.override)}"
            lines.append(f"| `{use.name}` | {_cell(use.limit)} | {_cell(use.used)} | {status} |")
    return [*lines, ""]


def _cell(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("|", "\\|")


def split_parts(blocks: Sequence[str], title: str, max_chars: int = COMMENT_LIMIT) -> list[str]:
    """Pack ``blocks`` (joined by newlines) into comments of at most ``max_chars`` characters.

    One comment when everything fits; otherwise each starts with ``_<title>, part n of
    N_``. A block longer than a comment on its own gets a part to itself (object sections
    are cut to a few kilobytes before they get here, so that never exceeds the limit).
    """
    whole = "\n".join(blocks) + "\n"
    if len(whole) <= max_chars:
        return [whole]
    room = max_chars - len(title) - 64  # the part line
    parts: list[list[str]] = [[]]
    size = 0
    for block in blocks:
        if parts[-1] and size + len(block) + 1 > room:
            parts.append([])
            size = 0
        parts[-1].append(block)
        size += len(block) + 1
    total = len(parts)
    return [
        "\n".join([f"_{title}, part {n} of {total}_", "", *part]) + "\n"
        for n, part in enumerate(parts, 1)
    ]
