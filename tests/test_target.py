"""Which cluster: every command refuses a server that is not the environment's (issue 12).

Run against the cluster under test (``cluster_kubeconfig``): the kubeconfig is copied and
given a second context, ``elsewhere``, as the current one, the way a laptop's kubeconfig
points at the dev cluster while someone types ``--env prod``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gitops.cli.main import main
from gitops.core.errors import InputError
from gitops.core.yaml_io import dump_yaml
from gitops.repo import commit_tree
from gitops.workflows.target import (
    Binding,
    WrongClusterError,
    check_server,
    environment_binding,
    same_server,
)

ELSEWHERE = "https://elsewhere.example.com:6443"


@pytest.fixture(autouse=True)
def _outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the example's environments/ must not bind these tests


def _kubeconfig(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def current(kubeconfig: Path) -> tuple[str, str]:
    """``(context, server)`` the kubeconfig's current context points at."""
    config = _kubeconfig(kubeconfig)
    name = config["current-context"]
    context = next(c["context"] for c in config["contexts"] if c["name"] == name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    return name, str(cluster["server"])


@pytest.fixture
def laptop(cluster_kubeconfig: Path, tmp_path: Path) -> Path:
    """The cluster under test's kubeconfig whose *current* context is another server."""
    config = _kubeconfig(cluster_kubeconfig)
    name, _server = current(cluster_kubeconfig)
    context = next(c["context"] for c in config["contexts"] if c["name"] == name)
    config["clusters"].append({"name": "elsewhere", "cluster": {"server": ELSEWHERE}})
    config["contexts"].append({"name": "elsewhere", "context": {**context, "cluster": "elsewhere"}})
    config["current-context"] = "elsewhere"
    path = tmp_path / "laptop-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def configmap(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace},
        "data": {"mode": "prod"},
    }


def environment_file(directory: Path, name: str, server: str, context: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    cluster: dict[str, Any] = {"name": name, "server": server}
    if context is not None:
        cluster["context"] = context
    document = {"name": name, "cluster": cluster, "namespaces": ["apps"]}
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(document))
    return directory


def committed(repo: Path, namespace: str, server: str | None, env: str = "prod") -> Path:
    """A rendered-repository ``main`` with one ConfigMap for ``env``, deployed to ``server``."""
    application: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": env, "namespace": "argocd"},
        "spec": {"source": {"repoURL": "https://git.example.com/gitops.git"}},
    }
    if server is not None:
        application["spec"]["destination"] = {"server": server, "namespace": namespace}
    files = {
        f"envs/{env}/workloads/{namespace}/configmap-settings.yaml": dump_yaml(
            [configmap(namespace)]
        ).encode(),
        f"argocd/application-{env}.yaml": dump_yaml([application]).encode(),
    }
    commit_tree(repo, files, branch="main", message="render")
    commit_tree(repo, files, branch="pr", base="main", message="same")
    return repo


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


def exists(kubeconfig: Path, namespace: str) -> bool:
    from gitops.cluster.client import ClusterClient
    from gitops.core.keys import ResourceKey

    context, _ = current(kubeconfig)
    client = ClusterClient.from_kubeconfig(str(kubeconfig), context)
    return client.get(ResourceKey("", "v1", "ConfigMap", namespace, "settings")) is not None


# -- the wrong cluster is refused before any request -------------------------------------------

COMMANDS = {
    "apply": ["apply", "--env", "prod", "--repo", "{repo}"],
    "apply --dry-run": ["apply", "--env", "prod", "--repo", "{repo}", "--dry-run"],
    "apply --prune": ["apply", "--env", "prod", "--repo", "{repo}", "--prune"],
    "diff": ["diff", "--env", "prod", "--repo", "{repo}"],
    "plan": ["plan", "--env", "prod", "--base", "main", "--head", "pr", "--repo", "{repo}"],
}


def argv_for(command: str, repo: Path, *extra: str | Path) -> list[str | Path]:
    return [str(repo) if a == "{repo}" else a for a in COMMANDS[command]] + list(extra)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_current_context_of_another_cluster_is_refused_naming_both_servers(
    command: str,
    laptop: Path,
    cluster_kubeconfig: Path,
    cluster_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The environment is bound to a production server; KUBECONFIG's current context is
    # the cluster under test, which is not it.
    _, actual = current(cluster_kubeconfig)
    repo = committed(tmp_path / "repo", cluster_namespace, "https://prod.example.com:6443")
    config = _kubeconfig(laptop)
    config["current-context"] = current(cluster_kubeconfig)[0]
    laptop.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(laptop))
    extra: list[str | Path] = ["--kubeconfig", laptop] if command == "plan" else []
    assert run(*argv_for(command, repo, *extra)) == 2
    err = capsys.readouterr().err
    assert "https://prod.example.com:6443" in err and actual in err
    assert "refusing before any request" in err
    assert len(err.strip().splitlines()) == 1
    assert not exists(cluster_kubeconfig, cluster_namespace)


def test_the_environment_file_binds_the_context_and_the_server(
    laptop: Path,
    cluster_kubeconfig: Path,
    cluster_namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context, actual = current(cluster_kubeconfig)
    repo = committed(tmp_path / "repo", cluster_namespace, None)
    environments = environment_file(tmp_path / "environments", "prod", actual, context)
    argv = ["apply", "--env", "prod", "--repo", repo, "--kubeconfig", laptop]
    assert run(*argv, "--environments", environments) == 0, capsys.readouterr()
    assert exists(cluster_kubeconfig, cluster_namespace)


def test_the_environment_file_wins_over_a_context_pointing_elsewhere(
    laptop: Path, cluster_namespace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = committed(tmp_path / "repo", cluster_namespace, None)
    environments = environment_file(tmp_path / "environments", "prod", "https://prod.x:6443")
    argv = ["apply", "--env", "prod", "--repo", repo, "--kubeconfig", laptop]
    assert run(*argv, "--environments", environments, "--dry-run") == 2
    err = capsys.readouterr().err
    assert "https://prod.x:6443" in err and ELSEWHERE in err
    assert str(environments / "prod.yaml") in err


def test_the_committed_application_binds_the_server_without_an_environment_file(
    cluster_kubeconfig: Path,
    cluster_namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context, actual = current(cluster_kubeconfig)
    repo = committed(tmp_path / "repo", cluster_namespace, actual)
    argv = ["apply", "--env", "prod", "--repo", repo, "--kubeconfig", cluster_kubeconfig]
    assert run(*argv, "--context", context) == 0, capsys.readouterr()
    assert exists(cluster_kubeconfig, cluster_namespace)


def test_an_override_naming_the_server_talks_to_it_loudly(
    cluster_kubeconfig: Path,
    cluster_namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context, actual = current(cluster_kubeconfig)
    repo = committed(tmp_path / "repo", cluster_namespace, "https://prod.example.com:6443")
    argv = ["apply", "--env", "prod", "--repo", repo, "--kubeconfig", cluster_kubeconfig]
    argv += ["--context", context]
    assert run(*argv, "--override-cluster", actual) == 0
    err = capsys.readouterr().err
    assert "WARNING: environment prod is bound to https://prod.example.com:6443" in err
    assert f"talking to {actual}" in err
    assert exists(cluster_kubeconfig, cluster_namespace)


def test_an_override_naming_another_server_is_refused(
    cluster_kubeconfig: Path,
    cluster_namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context, _ = current(cluster_kubeconfig)
    repo = committed(tmp_path / "repo", cluster_namespace, "https://prod.example.com:6443")
    argv = ["apply", "--env", "prod", "--repo", repo, "--kubeconfig", cluster_kubeconfig]
    argv += ["--context", context, "--override-cluster", "https://prod.example.com:6443"]
    assert run(*argv) == 2
    assert "--override-cluster https://prod.example.com:6443 is not the server" in (
        capsys.readouterr().err
    )
    assert not exists(cluster_kubeconfig, cluster_namespace)


# -- an environment that does not exist is exit 2 everywhere ----------------------------------

TYPO_COMMANDS = {
    "apply": ["apply", "--env", "prd", "--repo", "{repo}"],
    "apply --dry-run": ["apply", "--env", "prd", "--repo", "{repo}", "--dry-run"],
    "plan": ["plan", "--env", "prd", "--base", "main", "--head", "pr", "--repo", "{repo}"],
    "diff": ["diff", "--env", "prd", "--repo", "{repo}"],
    "diff --live": ["diff", "--env", "prd", "--repo", "{repo}", "--live", "{live}"],
}


@pytest.mark.parametrize("command", sorted(TYPO_COMMANDS))
def test_an_environment_that_does_not_exist_is_exit_2(
    command: str,
    cluster_kubeconfig: Path,
    cluster_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, actual = current(cluster_kubeconfig)
    repo = committed(tmp_path / "repo", cluster_namespace, actual)
    live = tmp_path / "live.yaml"
    live.write_text(dump_yaml([configmap(cluster_namespace)]))
    monkeypatch.setenv("KUBECONFIG", str(cluster_kubeconfig))
    paths = {"{repo}": str(repo), "{live}": str(live)}
    assert run(*(paths.get(a, a) for a in TYPO_COMMANDS[command])) == 2
    out, err = capsys.readouterr()
    assert "--env prd: no such environment (did you mean 'prod'?)" in err
    assert "known: prod" in err and out == ""
    assert not exists(cluster_kubeconfig, cluster_namespace)


@pytest.mark.parametrize("command", ["render", "check"])
def test_render_and_check_refuse_an_unknown_environment(
    command: str, project_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, "--env", "prd", "--blueprints", project_root / "blueprints"]
    argv += ["--environments", project_root / "environments"]
    if command == "render":
        argv += ["--repo", tmp_path / "repo"]
    assert run(*argv) == 2
    assert "prd" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()


def test_binding_lookup_reads_every_ref_given(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit_tree(repo, {"README.md": b"x\n"}, branch="main", message="empty")
    committed_repo = tmp_path / "other"
    committed(committed_repo, "apps", "https://a.example.com")
    binding = environment_binding("prod", repo=committed_repo, refs=["missing", "pr"])
    assert binding.server == "https://a.example.com"
    with pytest.raises(InputError, match=r"no envs/prod/ in .* at main"):
        environment_binding("prod", repo=repo, refs=["main"])


# -- the comparison ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://Prod.Example.com:443", "https://prod.example.com"),
        ("https://prod.example.com/", "https://prod.example.com"),
        ("HTTPS://10.0.0.1:6443", "https://10.0.0.1:6443"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
    ],
)
def test_one_server_spelled_two_ways_is_the_same_server(a: str, b: str) -> None:
    assert same_server(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://prod.example.com:6443", "https://prod.example.com:6444"),
        ("https://prod.example.com", "http://prod.example.com"),
        ("https://prod.example.com", "https://prod.example.com.evil.io"),
        ("https://10.0.0.1:6443", "https://10.0.0.2:6443"),
        ("https://lb.example.com/a", "https://lb.example.com/b"),
    ],
)
def test_different_servers_are_different(a: str, b: str) -> None:
    assert not same_server(a, b)


@given(
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True),
    port=st.integers(1, 65535),
    other=st.integers(1, 65535),
)
def test_a_server_differs_from_any_other_port(host: str, port: int, other: int) -> None:
    url = f"https://{host}:{port}"
    assert same_server(url, url.upper().replace("HTTPS", "https"))
    assert same_server(url, f"https://{host}:{other}") == (port == other)


def test_an_unbound_environment_is_warned_about_not_refused() -> None:
    warnings: list[str] = []
    binding = Binding("dev", None, None, "repo@main:argocd/application-dev.yaml")
    check_server(binding, "https://x:6443", "context 'x'", warn=warnings.append)
    assert warnings and "names no cluster server" in warnings[0]
    with pytest.raises(WrongClusterError, match="is bound to https://y:6443"):
        check_server(Binding("dev", "https://y:6443", None, "f"), "https://x:6443", "c", warn=print)
