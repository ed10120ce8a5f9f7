"""Tests for ``gitops plan`` over several environments: one report, caps, exit codes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from gitops.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures" / "tiny"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny project rendered on main, and a ``pr`` branch changing alpha only."""
    shutil.copytree(FIXTURES / "blueprints", tmp_path / "blueprints")
    shutil.copytree(FIXTURES / "environments", tmp_path / "environments")
    monkeypatch.chdir(tmp_path)
    assert main(["render"]) == 0
    alpha = tmp_path / "environments" / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("[apps]", "[apps, batch]"))
    assert main(["render", "--branch", "pr", "--base", "main"]) == 0
    return tmp_path


def plan(*extra: str) -> list[str]:
    return ["plan", "--base", "main", "--head", "pr", *extra]


def test_plan_all_is_one_markdown_report_with_a_row_per_environment(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(plan("--env", "all", "-o", "markdown")) == 0
    text = capsys.readouterr().out
    assert text.startswith("### gitops plan: 2 environments (1 with changes)\n")
    assert "| environment | added | changed | removed | drift |" in text
    alpha = re.search(
        r"^\| `alpha` \| (\d+) \| (\d+) \| 0 \| — \| — \| — \| — \| 0 \|$", text, re.M
    )
    assert alpha is not None, text
    assert "| `beta` | 0 | 0 | 0 | — | — | — | — | 0 |" in text
    assert "Drift and apply were not computed where the table shows —" in text
    assert "### `alpha` (changes)" in text and "### `beta` (nothing to do)" in text
    # One section per object alpha's new batch namespace adds or changes.
    assert text.count("<details>") == int(alpha[1]) + int(alpha[2])


def test_several_env_flags_are_the_same_report_as_all(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(plan("--env", "all", "-o", "markdown")) == 0
    everything = capsys.readouterr().out
    assert main(plan("--env", "alpha", "--env", "beta", "-o", "markdown")) == 0
    assert capsys.readouterr().out == everything


def test_exit_code_is_opt_in_like_git_diff(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(plan("--env", "all")) == 0  # changes, but a CI job under set -e goes on
    assert main(plan("--env", "all", "--exit-code")) == 1
    assert main(plan("--env", "beta", "--exit-code")) == 0  # nothing to do
    out = capsys.readouterr().out
    assert re.search(r"summary:\n  alpha: added \d+, changed \d+, removed 0, drift —", out)


def test_the_caps_hold_across_environments(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(plan("--env", "all", "-o", "markdown", "--max-objects", "1")) == 0
    text = capsys.readouterr().out
    assert text.count("<details>") == 1
    assert re.search(r"_\d+ more objects not shown \(size limit\)\._", text)
    assert "| `beta` |" in text  # the table always fits


def test_json_of_several_environments_lists_each_plan(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(plan("--env", "all", "-o", "json")) == 0
    document = json.loads(capsys.readouterr().out)
    assert [p["environment"] for p in document["environments"]] == ["alpha", "beta"]
    assert document["has_changes"] is True
    assert document["environments"][0]["drift"] is None


def test_one_cluster_for_several_environments_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = work / "live.yaml"
    capture.write_text("apiVersion: v1\nkind: List\nitems: []\n")
    capsys.readouterr()
    assert main(plan("--env", "all", "--live", str(capture))) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        "gitops plan: error: plan: --live/--kubeconfig/--context name one cluster, but 2 "
        "environments were asked for (alpha, beta): plan them one at a time"
    )
