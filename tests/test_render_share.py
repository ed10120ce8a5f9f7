"""Blueprint renders shared by the clusters of a fleet (gitops.render.share).

Sharing is an optimisation only: every cluster must get exactly what rendering it alone
gives, whatever its overrides; blueprints that may read the cluster are never shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.constructs.base import Construct
from gitops.inputs.blueprints import load_blueprints
from gitops.inputs.environments import Environment, parse_environments
from gitops.render.pipeline import render_environment, render_environments
from gitops.render.share import SharedRenders

STACK = """\
kind: InferenceStack
name: {name}
model: org/{name}-8B
image: registry.example.com/vllm/vllm-openai:v0.8.5
gpus: 1
cpu: '4'
memory: 32Gi
{extra}"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: plain, namespace: apps}
data: {a: b}
"""


def write_blueprints(root: Path) -> Path:
    directory = root / "blueprints"
    directory.mkdir(exist_ok=True)
    (directory / "chat.yaml").write_text(STACK.format(name="chat", extra=""))
    hpa = "autoscaling: {kind: hpa, min_replicas: 1, max_replicas: 3}\n"
    (directory / "scaled.yaml").write_text(STACK.format(name="scaled", extra=hpa))
    (directory / "plain.yaml").write_text(CONFIGMAP)
    return directory


def fleet(overrides: list[dict[str, Any]]) -> list[Environment]:
    """A fleet with one cluster per entry of ``overrides`` (its own overrides)."""
    clusters = []
    for index, own in enumerate(overrides):
        entry: dict[str, Any] = {
            "name": f"c{index}",
            "server": f"https://c{index}.example.com",
            "labels": {"region": f"r{index}"},
        }
        if own:
            entry["overrides"] = own
        clusters.append(entry)
    document = {
        "name": "edge",
        "namespaces": ["apps"],
        "guardrails": {"engine": "vap", "action": "Warn"},
        "clusters": clusters,
    }
    return parse_environments(document, "environments/edge.yaml")


override = st.fixed_dictionaries(
    {},
    optional={
        "chat": st.fixed_dictionaries({"replicas": st.sampled_from([1, 2, 3])}),
        "scaled": st.fixed_dictionaries(
            {"autoscaling": st.fixed_dictionaries({"max_replicas": st.sampled_from([3, 4])})}
        ),
    },
)


@settings(max_examples=25, deadline=None)
@given(st.lists(override, min_size=1, max_size=5))
def test_a_shared_render_is_what_rendering_each_cluster_alone_gives(
    tmp_path_factory: Any, overrides: list[dict[str, Any]]
) -> None:
    loaded = load_blueprints(write_blueprints(tmp_path_factory.mktemp("share")))
    shared = SharedRenders()
    for env in fleet(overrides):
        alone = render_environment(env, loaded)
        assert render_environment(env, loaded, shared=shared) == alone
    distinct = len({yaml.safe_dump(o.get("chat")) for o in overrides})
    distinct += len({yaml.safe_dump(o.get("scaled")) for o in overrides})
    # plain.yaml once, each stack once per distinct override of it; the rest shared.
    assert shared.hits == 3 * len(overrides) - (1 + distinct)


def test_clusters_alike_hold_the_same_objects_and_one_that_differs_its_own(
    tmp_path: Path,
) -> None:
    loaded = load_blueprints(write_blueprints(tmp_path))
    shared = SharedRenders()
    a, b, c = fleet([{}, {}, {"chat": {"replicas": 2}}])
    first, second, third = (render_environment(e, loaded, shared=shared) for e in (a, b, c))

    def workload(objects: list[dict[str, Any]]) -> dict[str, Any]:
        found = [
            o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "chat"
        ]
        assert len(found) == 1
        return found[0]

    assert workload(first) is workload(second)  # rendered once
    assert workload(third)["spec"]["replicas"] == 2
    assert workload(first)["spec"]["replicas"] == 1  # the override did not leak back
    scaled = {id(o) for o in first if o["metadata"]["name"].startswith("scaled")}
    assert scaled and scaled <= {id(o) for o in third}  # the stack it does not override


class ClusterNote(Construct):
    """A custom kind reading the cluster from the scope's environment."""

    type_name = "ClusterNote"

    @classmethod
    def from_spec(cls, scope: Any, spec: dict[str, Any], source: str) -> ClusterNote:
        return cls(scope, spec["name"])

    def __init__(self, scope: Any, id: str) -> None:
        super().__init__(scope, id)
        self._register()

    def _build(self) -> list[dict[str, Any]]:
        env = self.root().context["environment"]
        return [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": self.id, "namespace": self.namespace},
                "data": {"cluster": env.cluster.name},
            }
        ]


def test_custom_kinds_and_python_blueprints_are_rendered_for_each_cluster(
    tmp_path: Path,
) -> None:
    blueprints = tmp_path / "blueprints"
    blueprints.mkdir()
    (blueprints / "note.yaml").write_text("kind: ClusterNote\nname: note\n")
    (blueprints / "label.py").write_text(
        "from gitops.constructs.raw import Manifest\n"
        "def blueprint(scope, env):\n"
        "    Manifest(scope, 'label', {'apiVersion': 'v1', 'kind': 'ConfigMap',\n"
        "             'metadata': {'name': 'label', 'namespace': 'apps'},\n"
        "             'data': {'region': env.cluster.labels['region']}})\n"
    )
    environments = tmp_path / "environments"
    environments.mkdir()
    clusters = [{"name": f"c{i}", "server": f"https://c{i}.example.com",
                 "labels": {"region": f"r{i}"}} for i in range(3)]  # fmt: skip
    (environments / "edge.yaml").write_text(
        yaml.safe_dump({"name": "edge", "namespaces": ["apps"], "clusters": clusters})
    )
    kinds = {"ClusterNote": ClusterNote}
    assert not any(b.shareable for b in load_blueprints(blueprints, kinds))
    rendered = render_environments(blueprints, environments, kinds=kinds)
    for index in range(3):
        objects = {o["metadata"]["name"]: o for o in rendered[f"edge/c{index}"]}
        assert objects["note"]["data"] == {"cluster": f"c{index}"}
        assert objects["label"]["data"] == {"region": f"r{index}"}


def test_only_builtin_kinds_and_plain_manifests_are_shareable(tmp_path: Path) -> None:
    directory = write_blueprints(tmp_path)
    assert all(b.shareable for b in load_blueprints(directory))
    stand_in = {"InferenceStack": ClusterNote}  # a platform's own class under the same kind
    assert not load_blueprints(directory, stand_in)[0].shareable


def test_clusters_rendering_the_same_set_are_guardrail_checked_once(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import functools

    import pygit2

    import gitops.policy
    from gitops.workflows.render import render_to_repo

    calls: list[int] = []
    original = gitops.policy.evaluate

    @functools.wraps(original)  # keeps __module__: still the shipped evaluator
    def counted(objects: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(objects))
        return original(objects, *args, **kwargs)

    monkeypatch.setattr(gitops.policy, "evaluate", counted)
    blueprints = write_blueprints(tmp_path)
    environments = tmp_path / "environments"
    environments.mkdir()
    clusters = [{"name": f"c{i}", "server": f"https://c{i}.example.com"} for i in range(4)]
    document = {"name": "edge", "namespaces": ["apps"], "clusters": clusters,
                "guardrails": {"engine": "vap", "action": "Warn"}}  # fmt: skip
    (environments / "edge.yaml").write_text(yaml.safe_dump(document))
    repo = tmp_path / "repo"
    pygit2.init_repository(str(repo), bare=True, initial_head="main")
    render_to_repo(blueprints, environments, repo)
    assert len(calls) == 1  # four clusters, one identical set: evaluated once
