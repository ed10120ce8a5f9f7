"""A tiny run of the policy benchmark: it runs, both CEL libraries are correct, ratios print."""

from __future__ import annotations

import pytest

from benchmarks.bench_policy import main


def test_tiny_benchmark_reports_correctness_and_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--objects", "2", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    table = lines[1 : lines.index("")]
    assert len(table) == 14
    assert all(" | ok" in line and "WRONG" not in line for line in table)
    assert [line.split(":")[0] for line in lines[-4:]] == [
        "celpy_over_cel_rule_loop_ratio",
        "celpy_over_cel_expression_ratio",
        "vap_us_per_object_rule",
        "kyverno_us_per_object_rule",
    ]
