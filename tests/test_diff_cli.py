"""Tests for ``gitops diff`` (exit codes, sources, output) and gitops.workflows.desired."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from controlplane import ClusterUnderTest

from gitops.cli.main import main
from gitops.core.errors import InputError
from gitops.workflows.desired import manifests_from_files, read_live_file, read_ref


@pytest.fixture(autouse=True)
def _outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a directory without environments/: the example's dev and prod would bind
    the test repositories' environments to the example's clusters."""
    monkeypatch.chdir(tmp_path)


FIXTURES = Path(__file__).parent / "fixtures" / "diff"
SECRET_VALUE = "cli-secret-value-42"


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((FIXTURES / name).read_text())
    return doc


def _write(path: Path, *docs: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def _live_list(tmp_path: Path, *items: dict[str, Any]) -> Path:
    # The shape `kubectl get -o yaml` prints.
    doc = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}
    return _write(tmp_path / "live.yaml", doc)


def _commit(repo: pygit2.Repository, files: dict[str, bytes], message: str) -> str:
    """Commit ``files`` (the whole tree) on main; return the commit id."""
    builder = pygit2.IndexEntry
    index = pygit2.Index()
    for path, data in files.items():
        index.add(builder(path, repo.create_blob(data), pygit2.GIT_FILEMODE_BLOB))
    tree = index.write_tree(repo)
    signature = pygit2.Signature("test", "test@example.com", 1_700_000_000, 0)
    parents = [] if repo.head_is_unborn else [repo.head.target]
    oid = repo.create_commit("refs/heads/main", signature, signature, message, tree, parents)
    return str(oid)


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A GitOps repository: envs/prod holds the Deployment; a second commit changes the image."""
    path = tmp_path / "repo"
    repo = pygit2.init_repository(str(path), initial_head="main")
    desired = (FIXTURES / "deployment-desired.yaml").read_bytes()
    kustomization = b"resources: [workloads/inference/deployment-llama.yaml]\n"
    first = {
        "envs/prod/kustomization.yaml": kustomization,
        "envs/prod/workloads/inference/deployment-llama.yaml": desired,
        "argocd/application-prod.yaml": b"apiVersion: argoproj.io/v1alpha1\nkind: Application\n",
    }
    commit = _commit(repo, first, "first")
    repo.create_reference("refs/tags/v1", commit)
    second = dict(first)
    second["envs/prod/workloads/inference/deployment-llama.yaml"] = desired.replace(
        b"v0.6.3", b"v0.7.0"
    )
    _commit(repo, second, "second")
    return path


def test_file_against_matching_capture_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    desired = _write(tmp_path / "d.yaml", _load("deployment-desired.yaml"))
    live = _live_list(tmp_path, _load("deployment-live.yaml"))
    assert main(["diff", "-f", str(desired), "--live", str(live)]) == 0
    assert "1 in-sync, 0 modified" in capsys.readouterr().out


def test_drift_exits_1_with_a_unified_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live_doc = _load("deployment-live.yaml")
    live_doc["spec"]["template"]["spec"]["containers"][0]["image"] = "old:1"
    desired = _write(tmp_path / "d.yaml", _load("deployment-desired.yaml"))
    code = main(["diff", "-f", str(desired), "--live", str(_live_list(tmp_path, live_doc))])
    out = capsys.readouterr().out
    assert code == 1
    assert "Deployment inference/llama: modified" in out
    assert "-        image: old:1" in out and "\x1b[" not in out


def test_terminal_output_is_colored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live_doc = _load("deployment-live.yaml")
    live_doc["spec"]["replicas"] = 5
    desired = _write(tmp_path / "d.yaml", _load("deployment-desired.yaml"))
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    main(["diff", "-f", str(desired), "--live", str(_live_list(tmp_path, live_doc))])
    assert "\x1b[31m-  replicas: 5" in capsys.readouterr().out


def test_json_output_and_ignore_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live_doc = _load("deployment-live.yaml")
    live_doc["spec"]["replicas"] = 5
    desired = _write(tmp_path / "d.yaml", _load("deployment-desired.yaml"))
    live = _live_list(tmp_path, live_doc)
    assert main(["diff", "-f", str(desired), "--live", str(live), "-o", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["objects"][0]["patch"] == [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    assert data["summary"]["modified"] == 1
    argv = ["diff", "-f", str(desired), "--live", str(live), "--ignore", "/spec/replicas"]
    assert main(argv) == 0


def test_secret_value_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hf", "namespace": "inference"},
        "stringData": {"token": SECRET_VALUE},
    }
    live_secret = {**secret, "stringData": None, "data": {"token": "b2xk"}}
    desired = _write(tmp_path / "d.yaml", secret)
    live = _live_list(tmp_path, live_secret)
    for output in ("text", "json"):
        assert main(["diff", "-f", str(desired), "--live", str(live), "-o", output]) == 1
        captured = capsys.readouterr()
        assert SECRET_VALUE not in captured.out + captured.err
        assert "*** (changed)" in captured.out


def test_env_reads_git_at_the_ref_not_the_worktree(
    git_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = _live_list(tmp_path, _load("deployment-live.yaml"))
    # An uncommitted edit in the working directory must not be read.
    stray = git_repo / "envs/prod/workloads/inference/deployment-llama.yaml"
    stray.parent.mkdir(parents=True)
    stray.write_text("garbage: [")
    base = ["diff", "--env", "prod", "--repo", str(git_repo), "--live", str(live)]
    assert main([*base, "--ref", "v1"]) == 0
    assert main(base) == 1  # main has the v0.7.0 image
    assert "+        image: vllm/vllm-openai:v0.7.0" in capsys.readouterr().out


def test_unknown_environment_exits_2(
    git_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = _live_list(tmp_path)
    argv = ["diff", "--env", "nope", "--repo", str(git_repo), "--live", str(live)]
    assert main(argv) == 2
    assert "--env nope: no such environment" in capsys.readouterr().err


def test_missing_env_and_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--live", "x.yaml"]) == 2
    assert "pass --env NAME" in capsys.readouterr().err


def test_cluster_mode_in_sync_then_drift(
    cluster: ClusterUnderTest, kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inference"}}
    desired_doc = _load("deployment-desired.yaml")
    cluster.seed(namespace)
    cluster.seed(desired_doc, manager="gitops", operation="Apply")
    desired = _write(tmp_path / "d.yaml", desired_doc)
    base = ["diff", "-f", str(desired), "--kubeconfig", str(kubeconfig), "--context", "test"]
    assert main(base) == 0
    changed = dict(desired_doc, spec={**desired_doc["spec"], "replicas": 3})
    _write(desired, changed)
    assert main(base) == 1
    assert "+  replicas: 3" in capsys.readouterr().out


def test_unreachable_cluster_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "test",
            }
        )
    )
    desired = _write(tmp_path / "d.yaml", _load("deployment-desired.yaml"))
    assert main(["diff", "-f", str(desired), "--kubeconfig", str(kubeconfig)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unreachable" in err


# -- gitops.workflows.desired ----------------------------------------------------------------------


def test_files_skip_kustomizations_and_hidden_files() -> None:
    files = {
        "envs/p/kustomization.yaml": b"resources: []\n",
        "envs/p/.gitops/generated.json": b"{}",
        "envs/p/README.md": b"# hi",
        "envs/p/a.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    }
    assert [m["metadata"]["name"] for m in manifests_from_files(files)] == ["a"]


def test_duplicate_objects_are_refused() -> None:
    doc = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    with pytest.raises(InputError, match=r"b.yaml: ConfigMap a is already defined in a.yaml"):
        manifests_from_files({"a.yaml": doc, "b.yaml": doc})


def test_non_object_document_is_refused() -> None:
    with pytest.raises(InputError, match=r"a.yaml: expected a mapping"):
        manifests_from_files({"a.yaml": b"- 1\n- 2\n"})


def test_live_capture_may_be_multi_document(tmp_path: Path) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    path = _write(tmp_path / "live.yaml", cm, {**cm, "metadata": {"name": "b"}})
    assert [o["metadata"]["name"] for o in read_live_file(path)] == ["a", "b"]


def test_read_ref_reads_only_the_environment_directory(git_repo: Path) -> None:
    manifests = read_ref(git_repo, "v1", "prod")
    assert [(m["kind"], m["metadata"]["name"]) for m in manifests] == [("Deployment", "llama")]


def test_an_environment_missing_at_the_ref_is_an_error_unless_missing_is_allowed(
    git_repo: Path,
) -> None:
    # diff reads a typo as an error; plan (a new or removed environment) and
    # apply --allow-empty ask for no objects instead, through the same reader.
    with pytest.raises(InputError, match=r"@v1: environment 'staging' has no envs/staging/"):
        read_ref(git_repo, "v1", "staging")
    assert read_ref(git_repo, "v1", "staging", missing_ok=True) == []
    assert read_ref(git_repo, "v1", "prod", missing_ok=True) == read_ref(git_repo, "v1", "prod")


def test_rendered_environment_applied_to_the_server_has_no_false_drift(
    cluster: ClusterUnderTest,
    kubeconfig: Path,
    tmp_path: Path,
    project_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gitops.cluster.client import ClusterClient
    from gitops.core.keys import canonical_order, split_api_version

    repo = tmp_path / "rendered"
    render = ["render", "--repo", str(repo)]
    render += ["--blueprints", str(project_root / "blueprints")]
    render += ["--environments", str(project_root / "environments")]
    assert main(render) == 0
    client = ClusterClient.from_kubeconfig(str(kubeconfig), "test")
    for manifest in canonical_order(read_ref(repo, "main", "prod")):
        group, version = split_api_version(manifest["apiVersion"])
        if client.is_served(group, version, manifest["kind"]):
            client.apply(manifest)
    capsys.readouterr()
    argv = ["diff", "--env", "prod", "--repo", str(repo), "--kubeconfig", str(kubeconfig)]
    main([*argv, "--override-cluster", cluster.url, "-o", "json"])
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["in-sync"] > 5
    assert summary["modified"] == summary["missing"] == summary["orphaned"] == 0


def test_environment_file_ignore_rules_apply(
    git_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = _live_list(tmp_path, _load("deployment-live.yaml"))
    envs = tmp_path / "envs"
    envs.mkdir()
    (envs / "prod.yaml").write_text(
        "name: prod\n"
        "cluster: {name: prod, server: 'https://prod.example.com:6443'}\n"
        "namespaces: [inference]\n"
        "diff:\n"
        "  ignore:\n"
        "    - {pointer: /spec/template/spec/containers/vllm/image, kinds: [Deployment]}\n"
    )
    base = ["diff", "--env", "prod", "--repo", str(git_repo), "--live", str(live)]
    assert main(base) == 1  # main has the v0.7.0 image: drift without the environment's rule
    capsys.readouterr()
    assert main([*base, "--environments", str(envs)]) == 0
    assert "1 in-sync, 0 modified" in capsys.readouterr().out


def test_missing_environment_file_named_explicitly_exits_2(
    git_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = _live_list(tmp_path)
    argv = ["diff", "--env", "prod", "--repo", str(git_repo), "--live", str(live)]
    assert main([*argv, "--environments", str(tmp_path / "none")]) == 2
    assert "none/prod.yaml" in capsys.readouterr().err
