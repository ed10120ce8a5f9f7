"""The policy benchmark at a tiny size: its correctness table and ratio lines (no timing)."""

from __future__ import annotations

import pytest

from benchmarks.bench_policy import main


def test_tiny_benchmark_reports_correctness_and_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--objects", "2", "--repeat", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    table = lines[1 : lines.index("")]
    assert len(table) == 14
    assert all(" | ok" in line and "WRONG" not in line for line in table)
    ratios = lines[len(lines) - lines[::-1].index("") :]
    assert [line.split(":")[0] for line in ratios] == [
        "cel_correct",
        "celpy_over_cel_rule_loop_ratio",
        "celpy_over_cel_expression_ratio",
        "vap_us_per_object_rule",
        "kyverno_us_per_object_rule",
    ]
    assert ratios[0] == "cel_correct: 14 of 14 checks ok for cel (required) ok"
    assert all(line.endswith((" ok", " MISSED")) for line in ratios)
    # Timing targets may be missed on a loaded machine; the exit code says whether any was.
    assert code == (1 if any(line.endswith("MISSED") for line in ratios) else 0)


def test_a_wrong_verdict_of_cel_is_missed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import benchmarks.bench_policy as bench

    features = [*bench.FEATURES]
    features[0] = (features[0][0], features[0][1], False)  # the expected value is wrong
    monkeypatch.setattr(bench, "FEATURES", features)
    assert main(["--objects", "2", "--repeat", "1"]) == 1
    out = capsys.readouterr().out
    assert "cel_correct: 13 of 14 checks ok for cel: wrong on startsWith" in out
    assert out.rstrip().splitlines()[-5].endswith("MISSED")
