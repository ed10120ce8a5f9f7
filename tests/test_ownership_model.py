"""Whose objects: one ownership model for diff, plan and apply (issues 11 and 12).

On the cluster under test (``cluster_kubeconfig``/``cluster_namespace``): prune deletes
only what gitops created, never an adopted object; a Namespace holding objects gitops
would not delete is kept unless asked, and the plan names what a deletion takes with it;
``gitops diff`` reports as orphaned exactly what ``apply --prune`` would delete. From a
capture: when Argo CD or Flux delivers the rendered repository (no ownership stamps),
``plan`` and ``diff`` say the same thing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.cli.main import main
from gitops.cluster.client import ClusterClient
from gitops.core.keys import Manifest, ResourceKey, key_of
from gitops.core.yaml_io import dump_yaml
from gitops.ownership.identity import Identity
from gitops.repo import commit_tree

REPO_URL = "https://git.example.com/platform/gitops.git"


@pytest.fixture(autouse=True)
def _outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the example's environments/ must not bind these tests


def _current(kubeconfig: Path) -> tuple[str, str]:
    config = yaml.safe_load(kubeconfig.read_text())
    name = config["current-context"]
    context = next(c["context"] for c in config["contexts"] if c["name"] == name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    return name, str(cluster["server"])


@pytest.fixture
def client(cluster_kubeconfig: Path) -> ClusterClient:
    return ClusterClient.from_kubeconfig(str(cluster_kubeconfig), _current(cluster_kubeconfig)[0])


def namespace(name: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(ns: str, name: str, **annotations: str) -> Manifest:
    metadata: dict[str, Any] = {"name": name, "namespace": ns}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": name}}


def commit(
    repo: Path, ref: str, server: str, objects: list[Manifest], trailers: tuple[str, ...] = ()
) -> None:
    """Commit ``objects`` as environment ``dev`` on branch ``ref``, deployed to ``server``."""
    files: dict[str, bytes] = {}
    for obj in objects:
        key = key_of(obj)
        path = f"envs/dev/workloads/{key.namespace or '_cluster'}/{key.kind.lower()}-{key.name}"
        files[f"{path}.yaml"] = dump_yaml([obj]).encode()
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "dev", "namespace": "argocd"},
        "spec": {
            "source": {"repoURL": REPO_URL, "path": "envs/dev"},
            "destination": {"server": server},
        },
    }
    files["argocd/application-dev.yaml"] = dump_yaml([application]).encode()
    base = None if not (repo / ".git").exists() else "main"
    commit_tree(repo, files, branch=ref, base=base, message=ref, trailers=trailers)


def cli(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


def apply(repo: Path, kubeconfig: Path, ref: str, *extra: str) -> int:
    context, _ = _current(kubeconfig)
    argv = ["apply", "--env", "dev", "--repo", repo, "--ref", ref]
    return cli(*argv, "--kubeconfig", kubeconfig, "--context", context, *extra)


def alive(client: ClusterClient, key: ResourceKey) -> bool:
    """The object exists and is not being deleted (a real Namespace terminates first)."""
    obj = client.get(key)
    return obj is not None and not (obj.get("metadata") or {}).get("deletionTimestamp")


def ns_key(name: str) -> ResourceKey:
    return ResourceKey("", "v1", "Namespace", "", name)


def cm_key(ns: str, name: str) -> ResourceKey:
    return ResourceKey("", "v1", "ConfigMap", ns, name)


# -- an adopted object is never pruned --------------------------------------------------------


def test_a_namespace_that_existed_before_is_adopted_and_never_pruned(
    cluster_kubeconfig: Path,
    cluster_namespace: str,
    client: ClusterClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, server = _current(cluster_kubeconfig)
    repo = tmp_path / "repo"
    ns = cluster_namespace  # created before gitops ever ran: a platform team's Namespace
    commit(repo, "main", server, [namespace(ns), configmap(ns, "app"), configmap(ns, "keep")])
    commit(repo, "removed", server, [configmap(ns, "keep")])  # `namespaces:` no longer has it
    assert apply(repo, cluster_kubeconfig, "main") == 0
    identity = Identity("dev", REPO_URL)
    live_ns = client.get(ns_key(ns))
    assert live_ns is not None and identity.adopted(live_ns) and identity.owns(live_ns)
    app = client.get(cm_key(ns, "app"))
    assert app is not None and identity.owns(app) and not identity.adopted(app)
    capsys.readouterr()

    plan = ["plan", "--env", "dev", "--base", "main", "--head", "removed", "--repo", repo]
    assert cli(*plan, "--kubeconfig", cluster_kubeconfig, "-o", "json") == 0
    document = json.loads(capsys.readouterr().out)
    deletes = [(d["kind"], d["name"]) for d in document["apply"]["delete"]]
    assert deletes == [("ConfigMap", "app")]
    kept = {k["kind"]: k["reason"] for k in document["apply"]["kept"]}
    assert kept["Namespace"].startswith("adopted: it existed before gitops applied it")

    assert apply(repo, cluster_kubeconfig, "removed", "--prune") == 0
    out = capsys.readouterr().out
    assert f"kept Namespace {ns}: adopted" in out and f"deleted ConfigMap {ns}/app" in out
    assert alive(client, ns_key(ns)) and alive(client, cm_key(ns, "keep"))
    assert client.get(cm_key(ns, "app")) is None


def test_an_adopted_object_stays_adopted_across_applies(
    cluster_kubeconfig: Path, cluster_namespace: str, client: ClusterClient, tmp_path: Path
) -> None:
    _, server = _current(cluster_kubeconfig)
    ns = cluster_namespace
    client.apply(configmap(ns, "handmade"), "kubectl")  # made by hand, before gitops
    repo = tmp_path / "repo"
    commit(repo, "main", server, [configmap(ns, "handmade")])
    commit(repo, "gone", server, [configmap(ns, "other")])
    identity = Identity("dev", REPO_URL)
    for _ in range(2):  # the second apply sees its own stamps and must keep "adopted"
        assert apply(repo, cluster_kubeconfig, "main") == 0
        live = client.get(cm_key(ns, "handmade"))
        assert live is not None and identity.adopted(live)
    assert apply(repo, cluster_kubeconfig, "gone", "--prune") == 0
    assert alive(client, cm_key(ns, "handmade"))


# -- a Namespace holding objects gitops would not delete ---------------------------------------


@pytest.fixture
def second_namespace(cluster_kubeconfig: Path, cluster_namespace: str) -> Iterator[str]:
    """A Namespace name gitops creates in the test (deleted at teardown if still there)."""
    from kubernetes import client as k8s
    from kubernetes import config
    from kubernetes.client.exceptions import ApiException

    name = f"{cluster_namespace}-b"
    yield name
    with config.new_client_from_config(str(cluster_kubeconfig)) as api:
        try:
            k8s.CoreV1Api(api).delete_namespace(name)
        except ApiException as err:
            if err.status != 404:
                raise


def test_a_namespace_holding_foreign_objects_is_kept_unless_asked(
    cluster_kubeconfig: Path,
    cluster_namespace: str,
    second_namespace: str,
    client: ClusterClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, server = _current(cluster_kubeconfig)
    ns, keep = second_namespace, cluster_namespace
    repo = tmp_path / "repo"
    commit(repo, "main", server, [namespace(ns), configmap(ns, "ours"), configmap(keep, "k")])
    # Deleting a Namespace spends the protected-kinds change budget: recorded in the commit.
    override = ("Gitops-Override: protected-kinds: retire the team namespace",)
    commit(repo, "removed", server, [configmap(keep, "k")], trailers=override)
    assert apply(repo, cluster_kubeconfig, "main") == 0
    assert not Identity("dev", REPO_URL).adopted(client.get(ns_key(ns)) or {})
    client.apply(configmap(ns, "theirs"), "another-team")  # not ours: deleted with the Namespace
    capsys.readouterr()

    plan = ["plan", "--env", "dev", "--base", "main", "--head", "removed", "--repo", repo]
    plan += ["--kubeconfig", cluster_kubeconfig]
    assert cli(*plan) == 0
    text = capsys.readouterr().out
    assert f"keep Namespace {ns}: holds 1 object(s) gitops would not delete" in text
    assert f"ConfigMap {ns}/theirs" in text
    assert cli(*plan, "--prune-namespace-contents") == 0
    text = capsys.readouterr().out
    assert f"  delete Namespace {ns}\n" in text
    assert (
        f"    with it: ConfigMap {ns}/ours" in text
        and f"    with it: ConfigMap {ns}/theirs" in text
    )

    assert apply(repo, cluster_kubeconfig, "removed", "--prune") == 0
    out = capsys.readouterr().out
    assert f"kept Namespace {ns}: holds 1 object(s)" in out
    assert alive(client, ns_key(ns)) and alive(client, cm_key(ns, "theirs"))
    assert client.get(cm_key(ns, "ours")) is None  # our own contents still go

    assert apply(repo, cluster_kubeconfig, "removed", "--prune", "--prune-namespace-contents") == 0
    assert f"deleted Namespace {ns} with 1 object(s) in it" in capsys.readouterr().out
    assert not alive(client, ns_key(ns))


# -- diff's orphans are prune's deletes -------------------------------------------------------


def test_diff_reports_as_orphaned_exactly_what_prune_would_delete(
    cluster_kubeconfig: Path,
    cluster_namespace: str,
    client: ClusterClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context, server = _current(cluster_kubeconfig)
    ns = cluster_namespace
    client.apply(configmap(ns, "adopted"), "kubectl")
    # Labelled the old way (managed-by + environment annotation) but never applied by
    # gitops apply: the old diff called it an orphan, prune never deletes it.
    stray = configmap(ns, "stray", **{"gitops.dev/environment": "dev"})
    stray["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "gitops"}
    client.apply(stray, "kubectl")
    repo = tmp_path / "repo"
    opted = configmap(ns, "opted", **{"gitops.dev/prune": "disabled"})
    everything = [configmap(ns, "kept"), configmap(ns, "created"), configmap(ns, "adopted"), opted]
    commit(repo, "main", server, everything)
    commit(repo, "next", server, [configmap(ns, "kept")])
    assert apply(repo, cluster_kubeconfig, "main") == 0
    capsys.readouterr()

    diff = ["diff", "--env", "dev", "--repo", repo, "--ref", "next", "-o", "json"]
    assert cli(*diff, "--kubeconfig", cluster_kubeconfig, "--context", context) == 1
    objects = json.loads(capsys.readouterr().out)["objects"]
    orphaned = sorted(o["name"] for o in objects if o["status"] == "orphaned")
    assert orphaned == ["created"]

    assert apply(repo, cluster_kubeconfig, "next", "--prune", "-o", "json") == 0
    pruned = json.loads(capsys.readouterr().out)["pruned"]
    assert pruned == [str(cm_key(ns, "created"))]


# -- Argo CD / Flux deliver the repository: plan and diff agree -------------------------------


def _as_delivered(manifests: list[Manifest], manager: str) -> list[Manifest]:
    """What Argo CD (or Flux) leaves on a cluster: Git's objects, no gitops stamps."""
    out = []
    for index, manifest in enumerate(manifests):
        obj = copy.deepcopy(manifest)
        metadata = obj["metadata"]
        annotations = metadata.setdefault("annotations", {})
        key = key_of(obj)
        if manager == "argocd":
            annotations["argocd.argoproj.io/tracking-id"] = f"dev:{key.group}/{key.kind}:x"
        else:
            metadata.setdefault("labels", {})["kustomize.toolkit.fluxcd.io/name"] = "dev"
        metadata.update(
            {"uid": f"uid-{index}", "resourceVersion": str(100 + index), "generation": 1}
        )
        out.append(obj)
    return out


@pytest.mark.parametrize("manager", ["argocd", "flux"])
def test_plan_and_diff_agree_on_a_cluster_another_tool_delivered(
    manager: str, project_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops.core.keys import CLUSTER_SCOPED_KINDS
    from gitops.workflows.desired import read_ref

    repo = tmp_path / "rendered"
    render = ["render", "--repo", repo, "--blueprints", project_root / "blueprints"]
    assert cli(*render, "--environments", project_root / "environments") == 0
    manifests = read_ref(repo, "main", "dev")
    for manifest in manifests:
        if not manifest["metadata"].get("namespace") and manifest["kind"] not in (
            CLUSTER_SCOPED_KINDS
        ):
            manifest["metadata"]["namespace"] = "default"
    live = _as_delivered(manifests, manager)
    tampered = next(o for o in live if o["kind"] == "Service")
    tampered.setdefault("spec", {})["sessionAffinity"] = "ClientIP"  # drift, on one object
    tampered["spec"]["type"] = "NodePort"
    capture = tmp_path / "live.yaml"
    capture.write_text(dump_yaml([{"apiVersion": "v1", "kind": "List", "items": live}]))
    capsys.readouterr()

    diff = ["diff", "--env", "dev", "--repo", repo, "--live", capture, "-o", "json"]
    assert cli(*diff) == 1
    statuses = {
        (o["kind"], o["namespace"], o["name"]): o["status"]
        for o in json.loads(capsys.readouterr().out)["objects"]
    }
    plan = ["plan", "--env", "dev", "--base", "main", "--head", "main", "--repo", repo]
    cli(*plan, "--live", capture, "-o", "json")
    document = json.loads(capsys.readouterr().out)
    drifted = {(d["kind"], d["namespace"], d["name"]) for d in document["drift"]}
    updates = {(d["kind"], d["namespace"], d["name"]) for d in document["apply"]["update"]}
    not_in_sync = {k for k, status in statuses.items() if status != "in-sync"}
    service = ("Service", tampered["metadata"]["namespace"], tampered["metadata"]["name"])
    assert not_in_sync == drifted == updates == {service}
    assert sum(1 for s in statuses.values() if s == "in-sync") == len(manifests) - 1
    assert document["apply"]["delete"] == [] and document["apply"]["create"] == []
