"""Shared helpers of the benchmarks: a generated fleet, best-of timing, ratio lines.

A fleet is N stacks x E environments written as input files into a directory: one YAML
blueprint per stack (a mix of vLLM stacks autoscaled by an HPA or KEDA, unscaled ones and
KServe ones), and one environment file per environment with the guardrail engines of the
shipped example (VAP for the first environments, Kyverno for the last one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

REGISTRY = "registry.example.com/"
ENV_NAMES = ("dev", "staging", "prod", "canary", "eu", "us", "ap", "edge")


def stack_name(index: int) -> str:
    """The id of generated stack ``index``."""
    return f"model-{index:04d}"


def blueprint_text(index: int, image_tag: str = "v0.8.5") -> str:
    """The YAML blueprint of generated stack ``index`` (one InferenceStack)."""
    name = stack_name(index)
    team = f"team-{index % 7}"
    flavour = index % 4
    if flavour == 3:
        return (
            f"kind: InferenceStack\nname: {name}\nmode: kserve\n"
            f"model: hf://org/embed-{index}\n"
            f"image: {REGISTRY}kserve/huggingfaceserver:{image_tag}\n"
            f"gpus: 1\ncpu: '4'\nmemory: 16Gi\nshm_size: 2Gi\n"
            f"labels: {{team: {team}, cost-center: ml-platform}}\nstrict: true\n"
        )
    autoscaling = {
        0: "autoscaling: {kind: hpa, min_replicas: 1, max_replicas: 4}\n",
        1: "autoscaling: {kind: keda, min_replicas: 1, max_replicas: 3, "
        "metric: 'vllm:num_requests_waiting', threshold: 10}\n",
        2: "",
    }[flavour]
    gpus = 1 + index % 2
    return (
        f"kind: InferenceStack\nname: {name}\nmodel: org/model-{index}-8B\n"
        f"image: {REGISTRY}vllm/vllm-openai:{image_tag}\n"
        f"gpus: {gpus}\nmax_model_len: 16384\ncpu: '8'\nmemory: 64Gi\n"
        "hf_token_secret: {name: hf-token, key: token}\n"
        f"{autoscaling}labels: {{team: {team}, cost-center: ml-platform}}\nstrict: true\n"
    )


def environment_text(name: str, last: bool) -> str:
    """An environment file: VAP guardrails that warn, or Kyverno ones that deny (the last)."""
    engine, action = ("kyverno", "Deny") if last else ("vap", "Warn")
    return (
        f"name: {name}\ncluster: {{name: {name}-gpu, server: https://{name}.k8s.example.com}}\n"
        "namespaces: [inference]\n"
        f"guardrails: {{engine: {engine}, action: {action}, allowed_registries: [{REGISTRY}]}}\n"
        "quotas: {cpu: '100000', memory: 1000Ti}\n"
    )


@dataclass(frozen=True)
class Fleet:
    """Input directories of a generated fleet.

    Attributes:
        blueprints: the blueprints directory (one file per stack).
        environments: the environments directory.
        stacks: number of stacks.
        envs: number of environments.
    """

    blueprints: Path
    environments: Path
    stacks: int
    envs: int

    def set_image_tag(self, index: int, tag: str) -> None:
        """Change the image tag of stack ``index`` (its blueprint file only)."""
        path = self.blueprints / f"{stack_name(index)}.yaml"
        path.write_text(blueprint_text(index, tag))


def make_fleet(root: Path, stacks: int, envs: int) -> Fleet:
    """Write a fleet of ``stacks`` x ``envs`` into ``root`` (which must exist)."""
    if not 1 <= envs <= len(ENV_NAMES):
        raise SystemExit(f"--envs must be between 1 and {len(ENV_NAMES)}, got {envs}")
    blueprints, environments = root / "blueprints", root / "environments"
    blueprints.mkdir()
    environments.mkdir()
    for index in range(stacks):
        (blueprints / f"{stack_name(index)}.yaml").write_text(blueprint_text(index))
    for position, name in enumerate(ENV_NAMES[:envs]):
        text = environment_text(name, last=envs > 1 and position == envs - 1)
        (environments / f"{name}.yaml").write_text(text)
    return Fleet(blueprints, environments, stacks, envs)


def best_of(
    repeat: int, run: Callable[[], T], setup: Callable[[], None] | None = None
) -> tuple[float, T]:
    """Best wall time of ``repeat`` runs of ``run`` (``setup`` untimed before each run)."""
    timings: list[float] = []
    results: list[T] = []
    for _ in range(max(repeat, 1)):
        if setup is not None:
            setup()
        start = time.perf_counter()
        results.append(run())
        timings.append(time.perf_counter() - start)
    return min(timings), results[-1]


@dataclass
class Ratios:
    """Ratio lines, printed last as ``name: value (target) ok|MISSED``."""

    lines: list[str]
    missed: int = 0

    def __init__(self) -> None:
        self.lines = []
        self.missed = 0

    def at_most(self, name: str, value: float, limit: float, unit: str = "x") -> None:
        """Record ``value <= limit``."""
        self._add(name, value, f"<= {limit:g}{unit}", value <= limit, unit)

    def at_least(self, name: str, value: float, limit: float, unit: str = "x") -> None:
        """Record ``value >= limit``."""
        self._add(name, value, f">= {limit:g}{unit}", value >= limit, unit)

    def check(self, name: str, ok: bool, detail: str) -> None:
        """Record a correctness check (``detail`` says what was found)."""
        self.lines.append(f"{name}: {detail} (required) {'ok' if ok else 'MISSED'}")
        self.missed += not ok

    def _add(self, name: str, value: float, target: str, ok: bool, unit: str) -> None:
        number = f"{value:.2f}" if unit == "x" else f"{value:.3g}"
        self.lines.append(f"{name}: {number}{unit} ({target}) {'ok' if ok else 'MISSED'}")
        self.missed += not ok

    def finish(self) -> int:
        """Print the ratio lines; return the exit code (1 if any target was missed)."""
        print()
        for line in self.lines:
            print(line)
        return 1 if self.missed else 0


def table(rows: Sequence[tuple[str, ...]]) -> None:
    """Print rows as a left-aligned first column and right-aligned others."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells.extend(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        print(" | ".join(cells))


def fleet_environment_text(clusters: int, differing: int) -> str:
    """One environment on ``clusters`` clusters; the first ``differing`` have their own values.

    A differing cluster has a smaller GPU quota (still above what the stacks need) and two
    replicas of stack 2 (a plain Deployment), so it needs an overlay with two patches; the
    others share the base.
    """
    lines = [
        "name: fleet",
        "namespaces: [inference]",
        f"guardrails: {{engine: vap, action: Warn, allowed_registries: [{REGISTRY}]}}",
        "quotas: {gpu: 4096, cpu: '100000', memory: 1000Ti}",
        "clusters:",
    ]
    for index in range(clusters):
        lines += [
            f"  - name: gpu-{index:04d}",
            f"    server: https://gpu-{index:04d}.k8s.example.com",
            f"    labels: {{region: r{index % 5}}}",
        ]
        if index < differing:
            lines += [
                "    quotas: {gpu: 2048}",
                f"    overrides: {{{stack_name(2)}: {{replicas: 2}}}}",
            ]
    return "\n".join(lines) + "\n"


def make_cluster_fleet(root: Path, stacks: int, clusters: int, differing: int) -> Fleet:
    """Write ``stacks`` blueprints and one fleet environment of ``clusters`` clusters."""
    blueprints, environments = root / "blueprints", root / "environments"
    blueprints.mkdir(parents=True)
    environments.mkdir()
    for index in range(stacks):
        (blueprints / f"{stack_name(index)}.yaml").write_text(blueprint_text(index))
    (environments / "fleet.yaml").write_text(fleet_environment_text(clusters, differing))
    return Fleet(blueprints, environments, stacks, clusters)
