"""Each benchmark runs at a tiny size: output format and correctness checks, never timing.

Timing targets may be missed at these sizes (fixed costs dominate), so the exit code is
not asserted; the correctness lines (``... (required) ok``) are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from controlplane import ControlPlane

from benchmarks import diff_scale, fleet, render_floor, rerender, startup
from benchmarks._common import make_fleet

RATIO = re.compile(r"^(?P<name>[a-z0-9_]+): (?P<value>.+) \((?P<target>[^()]+)\) (ok|MISSED)$")


def ratio_lines(
    main: Callable[[Sequence[str]], int],
    argv: Sequence[str],
    capsys: pytest.CaptureFixture[str],
    printed: list[str] | None = None,
) -> dict[str, str]:
    """Run a benchmark; return its trailing ratio lines by name (checking their format).

    ``printed``, if given, receives every line the benchmark printed.
    """
    main(argv)
    lines = capsys.readouterr().out.rstrip().splitlines()
    if printed is not None:
        printed.extend(lines)
    tail = lines[len(lines) - lines[::-1].index("") :]
    assert tail, "no ratio lines after the table"
    out = {}
    for line in tail:
        match = RATIO.match(line)
        assert match is not None, f"not a ratio line: {line!r}"
        out[match["name"]] = line
    return out


def test_fleet_reports_floor_and_cdk8s_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    lines = ratio_lines(
        fleet.main, ["--stacks", "4", "--envs", "2", "--repeat", "1", "--cdk8s-sample", "5"], capsys
    )
    assert list(lines) == ["objects_committed", "render_vs_floor", "cdk8s_vs_render"]
    assert lines["objects_committed"].endswith("(required) ok")
    assert "(<= 1.5x)" in lines["render_vs_floor"]
    assert "(>= 5x)" in lines["cdk8s_vs_render"]


def test_rerender_commits_nothing_then_only_the_changed_stack(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = ratio_lines(rerender.main, ["--stacks", "4", "--envs", "2", "--repeat", "1"], capsys)
    assert list(lines) == [
        "rerender_vs_cold",
        "one_tag_vs_cold",
        "rerender_commits",
        "one_stack_change_paths",
    ]
    assert "(<= 0.1x)" in lines["one_tag_vs_cold"]
    assert lines["rerender_commits"].endswith("0 commits (required) ok")
    assert "in 2 envs, 0 others (required) ok" in lines["one_stack_change_paths"]


def test_render_floor_writes_the_rendered_files_and_reports_the_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = ratio_lines(
        render_floor.main, ["--stacks", "2", "--envs", "2", "--rounds", "1"], capsys
    )
    assert list(lines) == ["working_tree_files", "render_vs_floor"]
    assert lines["working_tree_files"].endswith("(required) ok")
    assert "(<= 3x)" in lines["render_vs_floor"]


def test_startup_never_starts_node_for_version_or_diff(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A stand-in for kustomize (fast, so the ratio misses): the format is what is checked.
    lines = ratio_lines(startup.main, ["--repeat", "1", "--kustomize", "true"], capsys)
    assert list(lines) == [
        "render_vs_kustomize",
        "check_vs_kustomize",
        "version_seconds",
        "diff_help_seconds",
        "node_started_by",
    ]
    assert "(<= 2x)" in lines["render_vs_kustomize"] and "(<= 2x)" in lines["check_vs_kustomize"]
    assert lines["node_started_by"].endswith("(required) ok")


def test_diff_scale_reports_exactly_the_drifted_objects(
    control_plane: ControlPlane,
    cluster_kubeconfig: Path,  # resets the cluster afterwards
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "bench", context="bench")
    argv = ["--objects", "48", "--drift", "0.1", "--repeat", "1", "--baseline-sample", "12",
            "--capture-objects", "60", "--capture-desired", "24"]  # fmt: skip
    lines = ratio_lines(diff_scale.main, [*argv, "--kubeconfig", str(kubeconfig)], capsys)
    assert list(lines) == [
        "list_requests_per_kind",
        "cli_vs_floor",
        "baseline_vs_cli",
        "drifted_reported",
        "baseline_agrees",
        "server_side_agrees",
        "peak_rss_mb",
        "capture_cli_vs_floor",
        "capture_drifted_reported",
        "capture_peak_rss_mb",
    ]
    assert lines["list_requests_per_kind"].startswith("list_requests_per_kind: 1 (<= 2) ok")
    assert "(<= 2x)" in lines["cli_vs_floor"] and "(>= 5x)" in lines["baseline_vs_cli"]
    # What the CLI reported (its JSON output) is exactly what was drifted on the server.
    assert lines["drifted_reported"] == (
        "drifted_reported: 5 reported, 5 drifted, 0 mismatched (required) ok"
    )
    # Every 4th object is sampled: drifted objects 0 and 10 (of 48, every 10th) are among
    # them; the baseline's SSA-aware comparison finds those two and no other.
    assert lines["baseline_agrees"] == (
        "baseline_agrees: 2 of 12 sampled drifted by the baseline, 2 drifted among them "
        "(required) ok"
    )
    assert lines["server_side_agrees"].startswith(
        "server_side_agrees: 2 of 12 sampled modified by the server, 2 drifted among them;"
    )
    assert lines["capture_drifted_reported"] == (
        "capture_drifted_reported: 2 reported, 2 drifted (required) ok"
    )


def test_diff_scale_objects_cover_at_least_ten_kinds() -> None:
    kinds = {obj["kind"] for obj in diff_scale.desired_objects(24)}
    assert len(kinds) >= 10


def test_belongs_to_matches_a_stack_and_its_parts_only() -> None:
    assert rerender.belongs_to("envs/dev/workloads/inference/deployment-model-0002.yaml",
                               "model-0002")  # fmt: skip
    assert rerender.belongs_to("envs/dev/workloads/inference/service-model-0002-router.yaml",
                               "model-0002")  # fmt: skip
    assert not rerender.belongs_to("envs/dev/workloads/inference/deployment-model-00021.yaml",
                                   "model-0002")  # fmt: skip
    assert not rerender.belongs_to(".gitops/generated.json", "model-0002")


def test_fleet_has_one_blueprint_per_stack_and_one_file_per_environment(tmp_path: Path) -> None:
    generated = make_fleet(tmp_path, 5, 3)
    assert len(list(generated.blueprints.iterdir())) == 5
    assert sorted(p.stem for p in generated.environments.iterdir()) == ["dev", "prod", "staging"]


def test_fleet_refuses_more_environments_than_it_can_name(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--envs must be between 1 and 8, got 9"):
        make_fleet(tmp_path, 1, 9)


def test_fleet_mode_reports_floor_exponent_layout_growth_and_rss(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printed: list[str] = []
    lines = ratio_lines(
        fleet.main, ["--clusters", "8", "--stacks", "2", "--differing", "1"], capsys, printed
    )
    assert list(lines) == [
        "clusters_render_vs_floor",
        "clusters_render_exponent",
        "clusters_check_exponent",
        "clusters_layout_growth",
        "clusters_peak_rss_mb",
    ]
    assert "(<= 1.15)" in lines["clusters_render_exponent"]
    assert "(<= 600 MB)" in lines["clusters_peak_rss_mb"]
    # Correctness, not timing: with a fixed number of differing clusters, envs/ does not
    # grow from 1 to 8 clusters.
    assert lines["clusters_layout_growth"].startswith("clusters_layout_growth: 1.00x")
    out = "\n".join(printed)  # the fit's points, one per cluster count measured
    assert re.search(r"render CPU seconds by clusters: \(1, [\d.]+\), \(2, [\d.]+\), "
                     r"\(4, [\d.]+\), \(8, [\d.]+\); fitted exponent", out)  # fmt: skip
