"""Run the Kyverno policy library's CLI tests (``kyverno-test.yaml``) through ``gitops check``.

Each test lists policies, resources and the verdict Kyverno gives per policy, rule, kind
and resource (``pass``, ``fail``, ``skip``). :func:`run_test` runs ``gitops check -f
<resources...> --policies <policies...> [--values] -o json --report`` once per test and
compares every expected verdict with the rule result gitops reports (a rule on Pods
answers for controllers through ``autogen-<rule>`` / ``autogen-cronjob-<rule>``, as the
Kyverno CLI accepts). A test whose check exits 2 is *refused*, with gitops' one-line
reason; a test about mutate or generate rules is *not judged* (``gitops check`` answers
for validate rules only).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops.cli.main import main


@dataclass
class Outcome:
    """What one kyverno-test.yaml gave: agreed verdicts, wrong ones, or why none."""

    test: str
    agreed: int = 0
    wrong: list[str] = field(default_factory=list)
    refused: str | None = None
    not_judged: str | None = None

    @property
    def status(self) -> str:
        """``agrees``, ``WRONG``, ``refused`` or ``not judged``."""
        if self.refused is not None:
            return "refused"
        if self.not_judged is not None:
            return "not judged"
        return "WRONG" if self.wrong else "agrees"


def find_tests(root: Path) -> list[Path]:
    """Every kyverno-test.yaml under ``root``, sorted."""
    return sorted(root.rglob("kyverno-test.yaml"))


def _documents(paths: list[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict):
                yield document


def _non_validate_rules(policies: list[Path]) -> dict[tuple[str, str], str]:
    out = {}
    for policy in _documents(policies):
        name = str((policy.get("metadata") or {}).get("name"))
        for rule in (policy.get("spec") or {}).get("rules") or []:
            kinds = [k for k in ("mutate", "generate", "verifyImages") if k in rule]
            if kinds and "validate" not in rule:
                out[(name, str(rule.get("name")))] = kinds[0]
    return out


def run_check(arguments: list[str]) -> tuple[int, str, str]:
    """``gitops <arguments>`` in process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(arguments)
    return code, out.getvalue(), err.getvalue()


def run_test(test_file: Path, root: Path) -> Outcome:
    """Run one kyverno-test.yaml through ``gitops check`` and compare every verdict."""
    spec = yaml.safe_load(test_file.read_text())
    base = test_file.parent
    outcome = Outcome(str(test_file.parent.parent.relative_to(root)))
    policies = [base / p for p in spec.get("policies") or []]
    resources = [base / r for r in spec.get("resources") or []]
    expected = spec.get("results") or []
    others = _non_validate_rules(policies)
    about = sorted({others[(r["policy"], r["rule"])] for r in expected
                    if (r.get("policy"), r.get("rule")) in others})  # fmt: skip
    if about:
        outcome.not_judged = (
            f"its results are about {' and '.join(about)} rules, which "
            "change or create objects; gitops check answers for validate rules"
        )
        return outcome
    arguments = ["check", "-o", "json", "--report"]
    for resource in resources:
        arguments += ["-f", str(resource)]
    for policy in policies:
        arguments += ["--policies", str(policy)]
    if spec.get("variables"):
        arguments += ["--values", str(base / spec["variables"])]
    code, stdout, stderr = run_check(arguments)
    if code == 2:
        outcome.refused = stderr.strip()
        return outcome
    results = json.loads(stdout)["results"]
    for entry in expected:
        names = entry.get("resources") or [entry["resource"]]
        rule = entry["rule"]
        wanted = {rule, f"autogen-{rule}", f"autogen-cronjob-{rule}"}
        for name in names:
            got = [
                r["result"] for r in results
                if r["policy"] == entry["policy"] and r["rule"] in wanted
                and r["kind"] == entry["kind"] and r["name"] == name
                and (not entry.get("namespace") or r["namespace"] == entry["namespace"])
            ]  # fmt: skip
            if got == [entry["result"]]:
                outcome.agreed += 1
            else:
                outcome.wrong.append(
                    f"{entry['policy']}/{rule} on {entry['kind']} {name}: "
                    f"Kyverno {entry['result']}, gitops {got or 'no result'}"
                )
    return outcome


def table(outcomes: list[Outcome]) -> str:
    """The agreement table: one row per test, then the totals."""
    width = max(len(o.test) for o in outcomes)
    lines = [f"{'test':{width}}  {'status':10}  {'agree':>5}  {'wrong':>5}  reason"]
    for o in outcomes:
        reason = o.refused or o.not_judged or "; ".join(o.wrong)
        lines.append(f"{o.test:{width}}  {o.status:10}  {o.agreed:5}  {len(o.wrong):5}  {reason}")
    counts = {s: sum(o.status == s for o in outcomes)
              for s in ("agrees", "WRONG", "refused", "not judged")}  # fmt: skip
    verdicts = sum(o.agreed for o in outcomes), sum(len(o.wrong) for o in outcomes)
    lines.append(
        f"{len(outcomes)} tests: {counts['agrees']} agree, {counts['WRONG']} wrong, "
        f"{counts['refused']} refused, {counts['not judged']} not judged; "
        f"verdicts: {verdicts[0]} agree, {verdicts[1]} wrong"
    )
    return "\n".join(lines)
