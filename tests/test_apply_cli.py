"""``gitops apply`` and ``gitops plan`` end to end: a Git repository and the test API server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from controlplane import ClusterUnderTest
from helpers.manifests import NS, base_set, configmap, head_set, namespace, secret, widget

from gitops.cli.main import main
from gitops.core.keys import Manifest, key_of
from gitops.core.labels import PART_OF_LABEL
from gitops.core.yaml_io import dump_yaml
from gitops.ownership.identity import applyset_id
from gitops.repo import commit_tree


@pytest.fixture(autouse=True)
def _outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a directory without environments/: the example's dev and prod would bind
    the test repositories' environments to the example's clusters."""
    monkeypatch.chdir(tmp_path)


REPO_URL = "https://git.example.com/platform/gitops.git"


def files_for(manifests: list[Manifest], env: str = "dev") -> dict[str, bytes]:
    """The rendered-repository files of one environment (one object per file)."""
    files = {}
    for manifest in manifests:
        key = key_of(manifest)
        where = key.namespace or "_cluster"
        path = f"envs/{env}/workloads/{where}/{key.kind.lower()}-{key.name}.yaml"
        files[path] = dump_yaml([manifest]).encode()
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": env, "namespace": "argocd"},
        "spec": {"source": {"repoURL": REPO_URL, "path": f"envs/{env}"}},
    }
    files[f"argocd/application-{env}.yaml"] = dump_yaml([application]).encode()
    return files


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose ``main`` holds the base set and ``pr`` the head set."""
    path = tmp_path / "gitops-repo"
    commit_tree(path, files_for(base_set()), branch="main", message="base")
    commit_tree(path, files_for(head_set()), branch="pr", base="main", message="head")
    return path


def cli(*args: str | Path) -> int:
    """Run the CLI with ``args``."""
    return main([str(a) for a in args])


def apply_args(repo: Path, kubeconfig: Path, ref: str = "main") -> list[str | Path]:
    """``gitops apply`` arguments for environment dev at ``ref``."""
    return [
        "apply",
        "--env",
        "dev",
        "--repo",
        repo,
        "--ref",
        ref,
        "--kubeconfig",
        kubeconfig,
        "--context",
        "test",
    ]


def test_apply_creates_the_environment_and_labels_it_with_its_applyset(
    repo: Path, kubeconfig: Path, cluster: ClusterUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(*apply_args(repo, kubeconfig)) == 0
    out = capsys.readouterr().out
    assert "created Deployment ml/llama" in out
    assert out.endswith("6 created, 0 configured, 0 unchanged, 0 deleted, 0 failed\n")
    live = cluster.get_object("apps/v1", "Deployment", NS, "llama")
    assert live is not None
    assert live["metadata"]["labels"][PART_OF_LABEL] == applyset_id("dev", REPO_URL)


def test_apply_twice_reports_everything_unchanged(
    repo: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(*apply_args(repo, kubeconfig))
    capsys.readouterr()
    assert cli(*apply_args(repo, kubeconfig)) == 0
    assert capsys.readouterr().out.endswith(
        "0 created, 0 configured, 6 unchanged, 0 deleted, 0 failed\n"
    )


def test_apply_dry_run_writes_nothing(
    repo: Path, kubeconfig: Path, cluster: ClusterUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(*apply_args(repo, kubeconfig), "--dry-run") == 0
    assert "(dry run: nothing was changed)" in capsys.readouterr().out
    assert cluster.get_object("v1", "Namespace", None, NS) is None


def test_apply_with_prune_deletes_what_the_head_removed(
    repo: Path, kubeconfig: Path, cluster: ClusterUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(*apply_args(repo, kubeconfig))
    assert cli(*apply_args(repo, kubeconfig, "pr"), "--prune") == 0
    out = capsys.readouterr().out
    assert "deleted Deployment ml/old" in out
    assert "deleted Service ml/old" in out
    assert cluster.get_object("apps/v1", "Deployment", NS, "old") is None


def test_apply_prune_of_an_empty_environment_needs_allow_empty(
    repo: Path, kubeconfig: Path, cluster: ClusterUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(*apply_args(repo, kubeconfig))
    # Emptying an environment deletes its Namespace: a protected kind, so recorded.
    override = "Gitops-Override: protected-kinds: retiring dev"
    commit_tree(repo, {"README.md": b"nothing\n"}, branch="empty", base="main", trailers=[override])
    args = [
        "apply",
        "--env",
        "dev",
        "--repo",
        repo,
        "--ref",
        "empty",
        "--kubeconfig",
        kubeconfig,
        "--context",
        "test",
        "--repository-id",
        REPO_URL,
        "--prune",
    ]
    # An environment the ref does not hold is a typo until --allow-empty says otherwise.
    assert cli(*args) == 2
    assert "--env dev: no such environment" in capsys.readouterr().err
    assert cluster.get_object("v1", "Namespace", None, NS) is not None
    assert cli(*args, "--allow-empty") == 0
    assert "budget protected-kinds overridden (" in capsys.readouterr().out
    assert cluster.deleted("v1", "Namespace", None, NS)


def test_apply_failure_exits_2_and_names_the_object(
    tmp_path: Path, kubeconfig: Path, cluster: ClusterUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "repo"
    commit_tree(path, files_for([namespace(), widget()]), branch="main")
    assert cli(*apply_args(path, kubeconfig)) == 2
    out = capsys.readouterr().out
    assert "FAILED Widget ml/w: check failed: kind Widget (example.com/v1) is not served" in out
    assert cluster.get_object("v1", "Namespace", None, NS) is None


def test_apply_json_output(
    repo: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(*apply_args(repo, kubeconfig), "-o", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["summary"]["created"] == 6
    assert document["applyset"] == applyset_id("dev", REPO_URL)


def test_apply_unknown_ref_is_a_one_line_error(
    repo: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(*apply_args(repo, kubeconfig, "no-such-ref")) == 2
    err = capsys.readouterr().err
    assert err.startswith("gitops apply: error: ")
    assert "no-such-ref" in err
    assert len(err.strip().splitlines()) == 1


def plan_args(repo: Path, *extra: str | Path) -> list[str | Path]:
    """``gitops plan`` arguments for dev, main..pr."""
    return ["plan", "--env", "dev", "--base", "main", "--head", "pr", "--repo", repo, *extra]


def test_plan_markdown_against_the_cluster_exits_1_with_all_three_parts(
    repo: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(*apply_args(repo, kubeconfig))
    capsys.readouterr()
    args = plan_args(repo, "--kubeconfig", kubeconfig, "--context", "test", "-o", "markdown")
    assert cli(*args, "--exit-code") == 1
    text = capsys.readouterr().out
    assert "| Apply would delete (prune) | 2 |" in text
    assert "#### 2. Drift against base" in text
    assert "- delete <code>Deployment ml/old</code>" in text
    assert secret("hf_new_secret_value_5678")["data"]["token"] not in text


def test_plan_without_a_cluster_has_only_the_rendered_part(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(*plan_args(repo, "-o", "json", "--exit-code")) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["drift"] is None
    assert document["summary"]["added"] == 2


def test_plan_of_no_change_against_an_applied_cluster_exits_0(
    repo: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(*apply_args(repo, kubeconfig))
    args = [
        "plan",
        "--env",
        "dev",
        "--base",
        "main",
        "--head",
        "main",
        "--repo",
        repo,
        "--kubeconfig",
        kubeconfig,
        "--context",
        "test",
    ]
    assert cli(*args) == 0
    assert "apply: 0 to create, 0 to update, 0 to delete" in capsys.readouterr().out


def test_plan_from_a_live_capture(
    repo: Path,
    kubeconfig: Path,
    cluster: ClusterUnderTest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli(*apply_args(repo, kubeconfig))
    items = []
    for api_version, kind in (
        ("v1", "Namespace"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
    ):
        for obj in cluster.objects(api_version, kind):
            obj["metadata"].pop("managedFields", None)  # as kubectl get -o yaml shows it
            items.append(obj)
    capture = tmp_path / "live.yaml"
    capture.write_text(dump_yaml([{"apiVersion": "v1", "kind": "List", "items": items}]))
    capsys.readouterr()
    assert cli(*plan_args(repo, "--live", capture, "--exit-code")) == 1
    out = capsys.readouterr().out
    assert "  delete Deployment ml/old" in out
    assert "  create Deployment ml/new" in out


def test_plan_refuses_live_and_cluster_together(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(*plan_args(repo, "--live", tmp_path / "x.yaml", "--context", "test")) == 2
    assert "either --live FILE or --kubeconfig/--context" in capsys.readouterr().err


def test_plan_stray_configmap_is_not_in_the_prune_set(
    repo: Path, kubeconfig: Path, cluster: ClusterUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(*apply_args(repo, kubeconfig))
    cluster.seed(configmap("stray"))
    capsys.readouterr()
    cli(*plan_args(repo, "--kubeconfig", kubeconfig, "--context", "test"))
    assert "stray" not in capsys.readouterr().out


def _crd_for(group: str, version: str, kind: str) -> Manifest:
    """A minimal CRD serving ``group/version`` ``kind`` (any fields allowed)."""
    plural = f"{kind.lower()}s"
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": schema,
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def test_rendered_example_applies_waits_converges_and_plans_nothing(
    cluster: ClusterUnderTest,
    kubeconfig: Path,
    tmp_path: Path,
    project_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gitops.cluster.client import ClusterClient
    from gitops.diff.engine import diff_manifests
    from gitops.ownership.identity import stamp_all
    from gitops.workflows.desired import read_ref
    from gitops.workflows.sources import identity_for

    repo = tmp_path / "rendered"
    assert (
        cli(
            "render",
            "--repo",
            repo,
            "--blueprints",
            project_root / "blueprints",
            "--environments",
            project_root / "environments",
        )
        == 0
    )
    manifests = read_ref(repo, "main", "dev")
    client = ClusterClient.from_kubeconfig(str(kubeconfig), "test")
    for gvk in sorted({(key_of(m).group, key_of(m).version, key_of(m).kind) for m in manifests}):
        if not client.is_served(*gvk):
            cluster.seed(_crd_for(*gvk))
    client.forget_discovery()
    for manifest in manifests:  # no KServe controller here: the test server reports Ready
        if manifest["kind"] == "InferenceService":
            key = key_of(manifest)
            cluster.set_ready(key.namespace, key.name, True, key.kind, key.api_version)
    argv = [
        "apply",
        "--env",
        "dev",
        "--repo",
        repo,
        "--kubeconfig",
        kubeconfig,
        "--context",
        "test",
        "--prune",
        "--wait",
        "--timeout",
        "30",
        # The example's dev is bound to its own cluster: this server is not it.
        "--override-cluster",
        cluster.url,
    ]
    assert cli(*argv) == 0, capsys.readouterr()
    assert cli(*argv) == 0
    assert f"0 created, 0 configured, {len(manifests)} unchanged" in capsys.readouterr().out
    plan = [
        "plan",
        "--env",
        "dev",
        "--base",
        "main",
        "--head",
        "main",
        "--repo",
        repo,
        "--kubeconfig",
        kubeconfig,
        "--context",
        "test",
        "--override-cluster",
        cluster.url,
    ]
    assert cli(*plan) == 0
    identity = identity_for(repo, "main", "dev")
    desired = stamp_all(identity, manifests, lambda k: client.resource_info(*k[:3]).namespaced)
    live = [client.get(key_of(m)) for m in desired]
    report = diff_manifests(desired, [obj for obj in live if obj is not None])
    assert report.summary()["in-sync"] == len(manifests)


def test_diff_after_apply_is_in_sync(
    repo: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(*apply_args(repo, kubeconfig)) == 0
    capsys.readouterr()
    diff = ["diff", "--env", "dev", "--repo", repo, "--kubeconfig", kubeconfig, "--context", "test"]
    assert cli(*diff, "-o", "json") == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["in-sync"] == len(base_set())


def test_diff_after_apply_shows_a_changed_image(
    repo: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(*apply_args(repo, kubeconfig)) == 0
    capsys.readouterr()
    diff = [
        "diff",
        "--env",
        "dev",
        "--repo",
        repo,
        "--ref",
        "pr",
        "--kubeconfig",
        kubeconfig,
        "--context",
        "test",
        "-o",
        "json",
    ]
    assert cli(*diff) == 1
    objects = json.loads(capsys.readouterr().out)["objects"]
    modified = sorted(o["name"] for o in objects if o["status"] == "modified")
    assert modified == ["hf-token", "llama"]


def test_plan_of_an_emptied_environment_prunes_only_with_allow_empty(
    repo: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(*apply_args(repo, kubeconfig))
    # Emptying an environment deletes its Namespace: a protected kind, so recorded.
    override = "Gitops-Override: protected-kinds: retiring dev"
    commit_tree(repo, {"README.md": b"nothing\n"}, branch="empty", base="main", trailers=[override])
    args = [
        "plan",
        "--env",
        "dev",
        "--base",
        "main",
        "--head",
        "empty",
        "--repo",
        repo,
        "--repository-id",
        REPO_URL,
        "--kubeconfig",
        kubeconfig,
        "--context",
        "test",
        "-o",
        "json",
    ]
    capsys.readouterr()
    cli(*args)
    assert json.loads(capsys.readouterr().out)["summary"]["delete"] == 0
    cli(*args, "--allow-empty")
    assert json.loads(capsys.readouterr().out)["summary"]["delete"] == len(base_set())


def test_plan_honours_the_environment_diff_ignore_rules(
    repo: Path,
    kubeconfig: Path,
    cluster: ClusterUnderTest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli(*apply_args(repo, kubeconfig))
    items = []
    kinds = (("v1", "Namespace"), ("v1", "Secret"), ("v1", "Service"), ("apps/v1", "Deployment"))
    for api_version, kind in kinds:
        items.extend(cluster.objects(api_version, kind))
    for obj in items:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "llama":
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = "vllm:hotfix"
    capture = tmp_path / "live.yaml"
    capture.write_text(dump_yaml([{"apiVersion": "v1", "kind": "List", "items": items}]))
    envs = tmp_path / "envs"
    envs.mkdir()
    (envs / "dev.yaml").write_text(
        "name: dev\n"
        "cluster: {name: dev, server: 'https://dev.example.com:6443'}\n"
        "namespaces: [ml]\n"
        "diff:\n"
        "  ignore:\n"
        "    - {pointer: '/spec/template/spec/containers/*/image', kinds: [Deployment]}\n"
    )
    capsys.readouterr()
    cli(*plan_args(repo, "--live", capture, "-o", "json"))
    drifted = json.loads(capsys.readouterr().out)["summary"]["drifted"]
    cli(*plan_args(repo, "--live", capture, "-o", "json", "--environments", envs))
    ignored = json.loads(capsys.readouterr().out)["summary"]["drifted"]
    assert (drifted, ignored) == (1, 0)
