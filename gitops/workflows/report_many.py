"""One report for the plans of several environments: a pull request touching many.

A per-environment summary table first (always shown: it is what a reviewer reads), then
each environment's parts as in :mod:`gitops.workflows.report`, all sharing one ``max_objects`` and
``max_bytes`` budget, so a change to 200 clusters still fits in one comment; or, with
:func:`to_markdown_parts`, every environment in full over numbered comments. Each
environment's section opens with its change risk.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from gitops.workflows import report
from gitops.workflows.plan import Plan
from gitops.workflows.report_risk import COMMENT_LIMIT, risk_markdown, split_parts

#: Columns of the summary table: (heading, summary key, needs live objects).
_COLUMNS = (
    ("added", "added", False),
    ("changed", "changed", False),
    ("removed", "removed", False),
    ("drift", "drifted", True),
    ("create", "create", True),
    ("update", "update", True),
    ("delete", "delete", True),
    ("new violations", "violations", False),
)


#: Shown under the table when some environment has no drift and apply parts.
NOT_COMPUTED = (
    "Drift and apply were not computed where the table shows —: no cluster or --live "
    "capture given for that environment."
)


def _cells(plan: Plan) -> list[str]:
    s = plan.summary()
    return ["—" if live and not plan.has_live else str(s[key]) for _, key, live in _COLUMNS]


def summary_table(plans: Sequence[Plan]) -> list[str]:
    """The Markdown table: one row per environment, ``—`` where a part was not computed."""
    head = "| environment | " + " | ".join(name for name, _, _ in _COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(_COLUMNS)
    rows = [f"| `{p.environment}` | " + " | ".join(_cells(p)) + " |" for p in plans]
    return [head, rule, *rows]


def to_markdown(
    plans: Sequence[Plan],
    *,
    max_objects: int = report.MAX_OBJECTS,
    max_bytes: int = report.MAX_BYTES,
) -> str:
    """The plans of several environments as one pull-request comment."""
    if len(plans) == 1:
        return report.to_markdown(plans[0], max_objects=max_objects, max_bytes=max_bytes)
    return _markdown(plans, max_objects, max_bytes).finish()


def to_markdown_parts(plans: Sequence[Plan], *, max_chars: int = COMMENT_LIMIT) -> list[str]:
    """Every plan in full, split into numbered comments of at most ``max_chars`` characters."""
    if len(plans) == 1:
        return report.to_markdown_parts(plans[0], max_chars=max_chars)
    out = _markdown(plans, 1 << 62, 1 << 62)
    return split_parts(out.lines, f"gitops plan: {len(plans)} environments", max_chars)


def _markdown(plans: Sequence[Plan], max_objects: int, max_bytes: int) -> report.Output:
    changed = sum(1 for p in plans if p.has_changes)
    base, head = plans[0].base, plans[0].head
    lines = [
        f"### gitops plan: {len(plans)} environments ({changed} with changes)",
        "",
        f"Base `{base}` → head `{head}`",
        "",
        *summary_table(plans),
        "",
    ]
    if not all(p.has_live for p in plans):
        lines += [f"_{NOT_COMPUTED}_", ""]
    out = report.Output(lines, max_objects, max_bytes - len("\n".join(lines).encode()) - 200)
    for plan in plans:
        verdict = "changes" if plan.has_changes else "nothing to do"
        source = f"; live objects from {plan.live_source}" if plan.live_source else ""
        out.line(f"### `{plan.environment}` ({verdict}{report.escape(source)})")
        out.line("")
        for line in risk_markdown(plan, level=4):
            out.line(line)
        if plan.has_changes or plan.violations or plan.drift:
            report.markdown_sections(plan, out, level=4)
        else:
            out.line("Nothing to do.\n")
    return out


def to_text(plans: Sequence[Plan]) -> str:
    """The plans one after the other, then a summary line per environment."""
    if len(plans) == 1:
        return report.to_text(plans[0])
    parts = [report.to_text(plan) for plan in plans]
    lines = ["summary:"]
    for plan in plans:
        cells = ", ".join(
            f"{name} {cell}" for (name, _, _), cell in zip(_COLUMNS, _cells(plan), strict=True)
        )
        lines.append(f"  {plan.environment}: {cells}")
    return "\n".join(parts) + "\n" + "\n".join(lines) + "\n"


def to_json(plans: Sequence[Plan]) -> str:
    """One environment: its plan as before; several: ``{"environments": [plan, ...]}``."""
    if len(plans) == 1:
        return report.to_json(plans[0])
    document = {
        "environments": [plan.to_dict() for plan in plans],
        "has_changes": any(plan.has_changes for plan in plans),
    }
    return json.dumps(document, indent=2) + "\n"
