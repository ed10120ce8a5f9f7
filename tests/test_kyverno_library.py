"""Kyverno's own CLI tests for the policy library, run through ``gitops check``.

Every ``kyverno-test.yaml`` under ``../shared/kyverno-library`` (the judge: the verdicts
Kyverno itself gives) is run with all its resources and policies at once; every expected
pass, fail and skip must be gitops' too. A test may instead be refused with one line
naming the policy, the rule and the feature, or be about mutate/generate rules (which
never reject an object). The agreement table is printed (``pytest -s`` or ``-rA``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.kyverno_library import Outcome, find_tests, run_test, table

LIBRARY = Path(__file__).resolve().parents[2] / "shared" / "kyverno-library"


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    """Every library test's outcome (run once for the module)."""
    if not LIBRARY.is_dir():
        pytest.skip(f"{LIBRARY} is not there")
    return [run_test(test, LIBRARY) for test in find_tests(LIBRARY)]


def test_every_library_verdict_equals_kyverno(
    outcomes: list[Outcome], capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print("\n" + table(outcomes))
    wrong = [f"{o.test}: {w}" for o in outcomes for w in o.wrong]
    assert wrong == []
    assert sum(o.agreed for o in outcomes) >= 2000  # the library was found and read


def test_refused_tests_name_policy_rule_and_feature(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        if outcome.refused is not None:
            assert "\n" not in outcome.refused
            assert " rule '" in outcome.refused, outcome.refused


def test_only_mutate_and_generate_tests_are_not_judged(outcomes: list[Outcome]) -> None:
    not_judged = [o for o in outcomes if o.not_judged is not None]
    assert all("mutate" in o.not_judged or "generate" in o.not_judged for o in not_judged)
    assert len(not_judged) <= 3
