"""The pull-request plan: rendered changes, drift, what apply would do, and its reports."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

from controlplane import ClusterUnderTest
from helpers.manifests import (
    IDENTITY,
    NEW_TOKEN,
    NS,
    OLD_TOKEN,
    base_set,
    configmap,
    deployment,
    head_set,
    namespace,
    secret,
)

from gitops.cluster.client import ClusterClient
from gitops.core.keys import Manifest, ResourceKey
from gitops.diff.engine import Status
from gitops.policy.violation import Violation
from gitops.workflows import report
from gitops.workflows.apply import apply_environment
from gitops.workflows.live import read_live
from gitops.workflows.plan import Change, Plan, build_plan, introduced_violations, manifest_changes


def changes_of(plan: Plan) -> list[tuple[str, str]]:
    """``(change, object)`` pairs of part 1."""
    return [(str(c.change), str(c.key)) for c in plan.changes]


# -- part 1 (pure) ----------------------------------------------------------------------------


def test_rendered_changes_are_exactly_the_image_bump_the_new_and_old_stacks_and_secret() -> None:
    plan = build_plan("dev", "main", "pr", base_set(), head_set())
    assert sorted(changes_of(plan)) == sorted(
        [
            ("changed", "Secret ml/hf-token"),
            ("added", "Service ml/new"),
            ("removed", "Service ml/old"),
            ("changed", "Deployment ml/llama"),
            ("added", "Deployment ml/new"),
            ("removed", "Deployment ml/old"),
        ]
    )


def test_changed_deployment_diff_shows_only_the_image_tag() -> None:
    plan = build_plan("dev", "main", "pr", base_set(), head_set())
    (change,) = [c for c in plan.changes if str(c.key) == "Deployment ml/llama"]
    changed_lines = [
        line
        for line in change.text.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert [line.replace(" ", "") for line in changed_lines] == [
        "-image:vllm:v0.6.0",
        "+image:vllm:v0.6.4",
    ]


def test_changed_secret_is_redacted_but_shows_that_it_changed() -> None:
    plan = build_plan("dev", "main", "pr", base_set(), head_set())
    (change,) = [c for c in plan.changes if c.key.kind == "Secret"]
    everything = change.text + json.dumps(plan.to_dict())
    for value in (OLD_TOKEN, NEW_TOKEN):
        assert value not in everything
        assert base64.b64encode(value.encode()).decode() not in everything
    assert "*** (changed)" in change.text


def test_added_and_removed_secrets_are_redacted() -> None:
    changes = manifest_changes([secret(OLD_TOKEN)], [])
    changes += manifest_changes([], [secret(NEW_TOKEN)])
    text = "".join(c.text for c in changes)
    assert [c.change for c in changes] == [Change.REMOVED, Change.ADDED]
    assert base64.b64encode(OLD_TOKEN.encode()).decode() not in text
    assert base64.b64encode(NEW_TOKEN.encode()).decode() not in text


def test_no_change_means_nothing_to_do() -> None:
    plan = build_plan("dev", "main", "main", base_set(), base_set())
    assert plan.changes == ()
    assert not plan.has_changes


def test_introduced_violations_are_those_only_head_has() -> None:
    key = ResourceKey("apps", "v1", "Deployment", NS, "new")
    old = Violation(key._replace(name="llama"), "no-latest", "tag", "Deny", "latest", "x")
    new = Violation(key, "no-latest", "tag", "Deny", "latest", "x")
    assert introduced_violations([old], [old, new]) == [new]


# -- parts 2 and 3 against the test API server ------------------------------------------------


def live_plan(client: ClusterClient, base: list[Manifest], head: list[Manifest]) -> Plan:
    """Build the plan with live state read from ``client``."""
    state = read_live(client, [*base, *head], IDENTITY)
    return build_plan(
        "dev",
        "main",
        "pr",
        base,
        head,
        live=state.objects,
        identity=IDENTITY,
        not_served=state.not_served,
        namespaced=state.is_namespaced,
        live_source="context test",
    )


def test_plan_against_the_applied_base_shows_no_drift_and_what_apply_would_do(
    client: ClusterClient,
) -> None:
    assert apply_environment(client, base_set(), IDENTITY).ok
    plan = live_plan(client, base_set(), head_set())
    assert plan.drift == ()
    assert [str(d.key) for d in plan.creates] == ["Service ml/new", "Deployment ml/new"]
    assert [str(d.key) for d in plan.updates] == ["Secret ml/hf-token", "Deployment ml/llama"]
    assert [str(k) for k in plan.deletes] == ["Deployment ml/old", "Service ml/old"]
    assert plan.summary()["delete"] == 2


def test_plan_update_diffs_redact_the_secret(client: ClusterClient) -> None:
    apply_environment(client, base_set(), IDENTITY)
    plan = live_plan(client, base_set(), head_set())
    text = report.to_markdown(plan) + report.to_text(plan) + report.to_json(plan)
    for value in (OLD_TOKEN, NEW_TOKEN):
        assert base64.b64encode(value.encode()).decode() not in text


def test_plan_reports_drift_against_base(client: ClusterClient, cluster: ClusterUnderTest) -> None:
    apply_environment(client, base_set(), IDENTITY)
    edited = copy.deepcopy(configmap("stray"))
    cluster.seed(edited)
    scaled = deployment("llama", replicas=7, image="vllm:v0.6.0")
    cluster.seed(scaled, manager="kubectl-edit", operation="Update")
    plan = live_plan(client, base_set(), base_set())
    assert [(str(d.key), d.status) for d in plan.drift or ()] == [
        ("Deployment ml/llama", Status.MODIFIED)
    ]
    assert [str(d.key) for d in plan.updates] == ["Deployment ml/llama"]


def test_plan_with_an_empty_head_deletes_nothing(client: ClusterClient) -> None:
    apply_environment(client, base_set(), IDENTITY)
    plan = live_plan(client, base_set(), [])
    assert plan.deletes == ()
    assert "empty" in plan.prune_note


def test_plan_from_a_capture_without_managed_fields(client: ClusterClient) -> None:
    apply_environment(client, base_set(), IDENTITY)
    state = read_live(client, base_set(), IDENTITY)
    captured = copy.deepcopy(list(state.objects))
    for obj in captured:
        obj["metadata"].pop("managedFields", None)
    plan = build_plan(
        "dev",
        "main",
        "pr",
        base_set(),
        head_set(),
        live=captured,
        identity=IDENTITY,
        check_managed_fields=False,
    )
    assert [str(k) for k in plan.deletes] == ["Deployment ml/old", "Service ml/old"]


# -- reports ----------------------------------------------------------------------------------


def test_markdown_has_a_summary_table_and_collapsible_sections() -> None:
    plan = build_plan("dev", "main", "pr", base_set(), head_set())
    text = report.to_markdown(plan)
    assert "| Rendered objects changed | 2 |" in text
    assert text.count("<details><summary>") == 6
    assert "```diff" in text


def test_markdown_is_bounded_by_object_count() -> None:
    base = [configmap(f"cm-{i:03d}") for i in range(120)]
    head = [configmap(f"cm-{i:03d}", value="2") for i in range(120)]
    text = report.to_markdown(build_plan("dev", "a", "b", base, head), max_objects=10)
    assert text.count("<details>") == 10
    assert "_110 more objects not shown (size limit)._" in text


def test_markdown_is_bounded_by_size() -> None:
    base = [configmap(f"cm-{i:03d}", value="x" * 2000) for i in range(100)]
    head = [configmap(f"cm-{i:03d}", value="y" * 2000) for i in range(100)]
    text = report.to_markdown(build_plan("dev", "a", "b", base, head), max_bytes=20_000)
    assert len(text.encode()) <= 20_000
    assert "more objects not shown" in text


def test_markdown_parts_split_a_large_plan_into_numbered_comments_without_losing_any() -> None:
    from gitops.policy.budgets import ChangeBudget

    base = [configmap(f"cm-{i:03d}", value="x" * 2000) for i in range(100)]
    head = [configmap(f"cm-{i:03d}", value="y" * 2000) for i in range(100)]
    plan = build_plan("dev", "a", "b", base, head, budget=ChangeBudget(max_deletions=1))
    parts = report.to_markdown_parts(plan, max_chars=65_536)
    assert len(parts) > 1
    assert all(len(part) <= 65_536 for part in parts)
    assert [p.splitlines()[0] for p in parts] == [
        f"_gitops plan `dev`, part {n} of {len(parts)}_" for n in range(1, len(parts) + 1)
    ]
    assert "#### Change risk" in parts[0]  # the risk opens the first comment
    joined = "".join(parts)
    assert all(f"ConfigMap ml/cm-{i:03d}" in joined for i in range(100))
    assert "not shown" not in joined


def test_markdown_parts_is_one_unnumbered_comment_when_it_fits() -> None:
    parts = report.to_markdown_parts(build_plan("dev", "main", "pr", base_set(), head_set()))
    assert len(parts) == 1 and parts[0].startswith("### gitops plan: `dev`")


def test_markdown_fence_survives_backticks_in_values() -> None:
    head = [configmap("a", value="```\nbreakout")]
    text = report.to_markdown(build_plan("dev", "a", "b", [configmap("a")], head))
    assert "````diff" in text


def test_reports_are_deterministic() -> None:
    first = build_plan("dev", "main", "pr", base_set(), head_set())
    second = build_plan("dev", "main", "pr", base_set(), head_set())
    for render in (report.to_markdown, report.to_text, report.to_json):
        assert render(first) == render(second)


def test_text_report_without_live_state_says_so() -> None:
    text = report.to_text(build_plan("dev", "main", "pr", base_set(), head_set()))
    assert "drift and apply: not computed (no cluster or --live capture given)" in text
    assert text.endswith("new policy violations: 0\n")


def test_markdown_without_live_state_says_drift_and_apply_were_not_computed() -> None:
    text = report.to_markdown(build_plan("dev", "main", "pr", base_set(), head_set()))
    assert "_Drift and apply were not computed: no cluster or --live capture given._" in text
    assert "2. Drift against base" not in text


def test_plan_marks_creates_whose_kind_is_not_served(client: ClusterClient) -> None:
    from helpers.manifests import widget

    plan = live_plan(client, [], [namespace(), widget()])
    assert [(str(d.key), d.status) for d in plan.creates] == [
        ("Namespace ml", Status.MISSING),
        ("Widget ml/w", Status.KIND_NOT_SERVED),
    ]
    assert "create Widget ml/w (kind not served" in report.to_text(plan)


def _no_latest_policy() -> list[Manifest]:
    """A ValidatingAdmissionPolicy (and binding) denying ``:latest`` images."""
    rule = {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["deployments"],
    }
    expression = "object.spec.template.spec.containers.all(c, !c.image.endsWith(':latest'))"
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "no-latest"},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [rule]},
                "validations": [{"expression": expression, "message": "no latest tags"}],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "no-latest"},
            "spec": {"policyName": "no-latest", "validationActions": ["Deny"]},
        },
    ]


def test_plan_lists_only_the_violations_the_change_introduces() -> None:
    from gitops.policy import evaluate

    base = [*base_set(), *_no_latest_policy()]
    head = [*head_set(), *_no_latest_policy()]
    head[4] = deployment("new", image="vllm:latest")
    plan = build_plan("dev", "main", "pr", base, head, violations=(evaluate(base), evaluate(head)))
    assert [f"{v.key}: {v.policy}" for v in plan.violations] == ["Deployment ml/new: no-latest"]
    text = report.to_markdown(plan)
    assert "| New policy violations | 1 |" in text
    assert "Deny Deployment ml/new: no-latest/validations[0]: no latest tags" in text


def test_markdown_matches_the_golden_file() -> None:
    """The PR comment for the example change; regenerate by writing to_markdown's output."""
    from gitops.policy.budgets import ChangeBudget

    golden = Path(__file__).parent / "fixtures" / "plan" / "pr.md"
    budget = ChangeBudget(max_deletions=5, max_deletion_percent=50, max_gpu_delta=4)
    plan = build_plan("dev", "main", "pr", base_set(), head_set(), budget=budget)
    assert report.to_markdown(plan) == golden.read_text()
