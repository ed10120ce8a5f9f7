"""The render cache: exact digests, the same bytes as a dump, reuse across renders."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pygit2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from benchmarks._common import make_fleet
from gitops.core.errors import InputError
from gitops.core.yaml_io import dump_one
from gitops.render import cache as render_cache
from gitops.render.cache import CACHE_FILE, RenderCache, digest, git_dir
from gitops.workflows.render import render_to_repo

BLUEPRINT = """
from gitops.constructs.inference import InferenceStack


def blueprint(scope, env):
    InferenceStack(scope, "outside", model="org/m-1B", gpus=1,
                   image="docker.io/vllm/vllm-openai:v0.8.5")
"""


def fleet(tmp_path: Path, stacks: int = 2) -> tuple[Path, Path]:
    generated = make_fleet(tmp_path, stacks, 2)
    return generated.blueprints, generated.environments


def test_equal_objects_have_equal_digests() -> None:
    assert digest({"a": [1, {"b": "c"}]}) == digest({"a": [1, {"b": "c"}]})


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"a": 1}, {"a": "1"}),
        ({"a": 1}, {"a": True}),
        ({"a": 1}, {"a": 1.0}),
        ({1: "a"}, {"1": "a"}),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
    ],
)
def test_digests_tell_types_and_key_order_apart(left: Any, right: Any) -> None:
    assert digest(left) != digest(right)
    assert dump_one(left) != dump_one(right)


def test_a_shared_container_changes_neither_the_yaml_nor_the_digest() -> None:
    shared = [{"podSelector": {}}]
    aliased = {"from": shared, "to": shared}
    copied = {"from": [{"podSelector": {}}], "to": [{"podSelector": {}}]}
    assert dump_one(aliased) == dump_one(copied)
    assert digest(aliased) == digest(copied)


class Text(str):
    """A str subclass (PyYAML's safe dumper refuses it)."""


@pytest.mark.parametrize("value", [OrderedDict(a=1), {"a": Text("x")}, {"a": object()}])
def test_subclasses_and_other_values_are_never_cached(value: Any) -> None:
    assert digest(value) is None


def test_dump_gives_the_bytes_of_dump_one_then_reuses_them(tmp_path: Path) -> None:
    pygit2.init_repository(str(tmp_path / "repo"))
    shared = {"k": "v"}
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "data": shared, "other": shared}
    first = RenderCache(tmp_path / "repo", dump_one)
    assert first.dump(obj) == dump_one(obj).encode()
    first.save()
    second = RenderCache(tmp_path / "repo", dump_one)
    assert second.dump(obj) == dump_one(obj).encode()
    assert second.hits == 1


def test_a_damaged_cache_file_is_ignored(tmp_path: Path) -> None:
    pygit2.init_repository(str(tmp_path / "repo"))
    (tmp_path / "repo" / ".git" / CACHE_FILE).write_text("{not json")
    cache = RenderCache(tmp_path / "repo", dump_one)
    assert cache.dump({"a": 1}) == b"a: 1\n"
    assert cache.hits == 0


def test_a_changed_fingerprint_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pygit2.init_repository(str(tmp_path / "repo"))
    cache = RenderCache(tmp_path / "repo", dump_one)
    cache.dump({"a": 1})
    cache.save()
    monkeypatch.setattr(render_cache, "CACHE_VERSION", render_cache.CACHE_VERSION + 1)
    later = RenderCache(tmp_path / "repo", dump_one)
    later.dump({"a": 1})
    assert later.hits == 0


def test_git_dir_of_bare_and_non_bare_repositories(tmp_path: Path) -> None:
    pygit2.init_repository(str(tmp_path / "work"))
    pygit2.init_repository(str(tmp_path / "bare"), bare=True)
    assert git_dir(tmp_path / "work") == tmp_path / "work" / ".git"
    assert git_dir(tmp_path / "bare") == tmp_path / "bare"
    assert git_dir(tmp_path / "missing") is None


def _count_checked(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the names of the objects each guardrail evaluation is given."""
    import gitops.policy

    checked: list[list[str]] = []
    real = gitops.policy.evaluate

    def counting(manifests: Any, *args: Any, **kwargs: Any) -> Any:
        checked.append([m["metadata"]["name"] for m in manifests])
        return real(manifests, *args, **kwargs)

    counting.__module__ = real.__module__  # still the shipped evaluator, so per object
    monkeypatch.setattr(gitops.policy, "evaluate", counting)
    return checked


def test_rerender_reuses_every_file_and_skips_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blueprints, environments = fleet(tmp_path)
    repo = tmp_path / "repo"
    first = render_to_repo(blueprints, environments, repo)
    checked = _count_checked(monkeypatch)
    lines: list[str] = []
    again = render_to_repo(blueprints, environments, repo, progress=lines.append)
    assert not again.created and again.commit == first.commit
    assert checked == []
    files = len(first.added)
    assert any(line.endswith(f"({files} from cache)") for line in lines), lines


@pytest.mark.parametrize("unchanged_renders", [0, 2])
def test_one_changed_stack_is_the_only_object_set_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unchanged_renders: int
) -> None:
    """Also after renders that changed nothing (whose environments were found whole in the
    cache): they must keep each object's own entry for the render that changes one."""
    generated = make_fleet(tmp_path, 3, 2)
    repo = tmp_path / "repo"
    cold: list[str] = []
    render_to_repo(generated.blueprints, generated.environments, repo, progress=cold.append)
    for _ in range(unchanged_renders):
        render_to_repo(generated.blueprints, generated.environments, repo)
    generated.set_image_tag(1, "v9.9.9")
    checked = _count_checked(monkeypatch)
    lines: list[str] = []
    render_to_repo(generated.blueprints, generated.environments, repo, progress=lines.append)
    assert len(checked) == 2  # one evaluation per environment
    for names in checked:
        subjects = [n for n in names if "model-" in n]
        assert subjects and all("model-0001" in n for n in subjects), names
        assert not any("model-0000" in n or "model-0002" in n for n in names)
    # The findings are those of a render from scratch of the same inputs.
    fresh: list[str] = []
    render_to_repo(generated.blueprints, generated.environments, tmp_path / "fresh",
                   progress=fresh.append)  # fmt: skip
    findings = [line for line in lines if line.startswith("guardrail:")]
    assert findings == [line for line in fresh if line.startswith("guardrail:")]
    assert findings == [line for line in cold if line.startswith("guardrail:")]


def test_only_the_changed_environment_is_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blueprints, environments = fleet(tmp_path)
    repo = tmp_path / "repo"
    render_to_repo(blueprints, environments, repo)
    staging = environments / "staging.yaml"
    staging.write_text(staging.read_text().replace("'100000'", "'90000'"))
    checked = _count_checked(monkeypatch)
    result = render_to_repo(blueprints, environments, repo)
    # The quota is no policy: only the changed ResourceQuota is evaluated (with the
    # policies and Namespaces every verdict depends on).
    assert len(checked) == 1 and "gitops-quota" in checked[0]
    assert not any("model-" in name for name in checked[0])
    assert result.changed == ("envs/staging/guardrails/inference/resourcequota-gitops-quota.yaml",)


def test_a_changed_policy_checks_every_object_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blueprints, environments = fleet(tmp_path)
    repo = tmp_path / "repo"
    render_to_repo(blueprints, environments, repo)
    dev = environments / "dev.yaml"
    dev.write_text(
        dev.read_text().replace("allowed_registries: [", "allowed_registries: [quay.io/, ")
    )
    checked = _count_checked(monkeypatch)
    render_to_repo(blueprints, environments, repo)
    assert len(checked) == 1
    assert any("model-0000" in name for name in checked[0])
    assert any("model-0001" in name for name in checked[0])


def test_cached_guardrail_warnings_are_reported_again(tmp_path: Path) -> None:
    blueprints, environments = fleet(tmp_path, stacks=1)
    (blueprints / "outside.py").write_text(BLUEPRINT)
    (environments / "staging.yaml").unlink()  # keep dev, whose VAP guardrails only warn
    repo = tmp_path / "repo"
    first: list[str] = []
    render_to_repo(blueprints, environments, repo, progress=first.append)
    again: list[str] = []
    render_to_repo(blueprints, environments, repo, progress=again.append)
    warnings = [line for line in first if line.startswith("guardrail: dev:")]
    assert warnings and "restrict-image-registries" in " ".join(warnings)
    assert [line for line in again if line.startswith("guardrail:")] == warnings


def test_the_cache_keeps_only_what_the_last_render_used(tmp_path: Path) -> None:
    blueprints, environments = fleet(tmp_path, stacks=3)
    repo = tmp_path / "repo"
    render_to_repo(blueprints, environments, repo)
    size = len(json.loads((repo / ".git" / CACHE_FILE).read_text())["yaml"])
    (blueprints / "model-0002.yaml").unlink()
    render_to_repo(blueprints, environments, repo)
    assert len(json.loads((repo / ".git" / CACHE_FILE).read_text())["yaml"]) < size


def test_warnings_of_unchanged_objects_survive_another_objects_change(tmp_path: Path) -> None:
    generated = make_fleet(tmp_path, 2, 1)  # dev only: its VAP guardrails warn
    (generated.blueprints / "outside.py").write_text(BLUEPRINT)
    repo = tmp_path / "repo"
    first: list[str] = []
    render_to_repo(generated.blueprints, generated.environments, repo, progress=first.append)
    generated.set_image_tag(0, "v9.9.9")
    again: list[str] = []
    render_to_repo(generated.blueprints, generated.environments, repo, progress=again.append)
    warnings = [line for line in first if line.startswith("guardrail: dev:")]
    assert any("outside" in line and "restrict-image-registries" in line for line in warnings)
    assert [line for line in again if line.startswith("guardrail:")] == warnings


def test_a_render_with_nothing_new_never_loads_the_policy_engines(tmp_path: Path) -> None:
    import subprocess
    import sys

    blueprints, environments = fleet(tmp_path)
    repo = tmp_path / "repo"
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gitops.workflows.render import render_to_repo\n"
        f"result = render_to_repo(Path({str(blueprints)!r}), Path({str(environments)!r}), "
        f"Path({str(repo)!r}))\n"
        "print(result.created, sorted(m for m in ('gitops.policy.kyverno', 'gitops.policy.vap',"
        " 'gitops.policy.cel', 'jmespath') if m in sys.modules))\n"
    )
    run = [sys.executable, "-c", probe]
    first = subprocess.run(run, capture_output=True, text=True, check=True).stdout.split("[")
    again = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    assert first[0].strip() == "True" and "gitops.policy.vap" in first[1]
    assert again == "False []"


# -- blueprint renders kept across renders (gitops.render.share with the cache as store) ---


def test_a_digest_does_not_depend_on_how_its_strings_were_made() -> None:
    """Constructed objects hold interned literals; objects read back from the cache file
    do not: both must name the same YAML and guardrail entries."""
    made = "".join(["va", "lue"])  # built at run time: not interned
    literal = {"kind": "ConfigMap", "data": {"key": "value"}}
    built = {"kind": "ConfigMap", "data": {"key": made}}
    loaded = json.loads(json.dumps(literal))
    assert digest(built) == digest(loaded) == digest(literal)


def _count_stack_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every InferenceStack built from a YAML spec."""
    from gitops.constructs.inference import InferenceStack

    built: list[str] = []
    real = InferenceStack.from_spec.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, scope: Any, spec: Any, source: str) -> Any:
        built.append(spec["name"])
        return real(cls, scope, spec, source)

    monkeypatch.setattr(InferenceStack, "from_spec", classmethod(counting))
    return built


def test_only_the_changed_stack_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = make_fleet(tmp_path, 4, 2)
    repo = tmp_path / "repo"
    built = _count_stack_builds(monkeypatch)
    render_to_repo(generated.blueprints, generated.environments, repo)
    assert len(built) == 8  # every stack in both environments
    built.clear()
    lines: list[str] = []
    render_to_repo(generated.blueprints, generated.environments, repo, progress=lines.append)
    assert built == []
    assert "8 blueprint renders unchanged since an earlier render" in lines
    generated.set_image_tag(2, "v9.9.9")
    result = render_to_repo(generated.blueprints, generated.environments, repo)
    assert built == ["model-0002", "model-0002"]
    assert result.created and all("model-0002" in path for path in result.changed)


def _tree_of_a_fresh_render(tmp_path: Path, blueprints: Path, environments: Path) -> str:
    fresh = tmp_path / f"fresh-{len(list(tmp_path.iterdir()))}"
    return render_to_repo(blueprints, environments, fresh).tree


@settings(max_examples=8, deadline=None)
@example([("override", 1, "v1.0.0"), ("override", 1, "v2.0.0"), ("tag", 1, "v2.0.0")])
@example([("namespace", 0, "v1.0.0"), ("remove", 2, "v1.0.0")])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["tag", "override", "namespace", "remove"]),
            st.integers(0, 2),
            st.sampled_from(["v1.0.0", "v2.0.0"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_renders_taken_from_earlier_renders_give_what_a_fresh_render_gives(
    tmp_path_factory: pytest.TempPathFactory, changes: list[tuple[str, int, str]]
) -> None:
    """Whatever changes between renders (a blueprint's file, an environment's overrides
    of a stack, its namespaces), the repository holds what rendering from scratch holds."""
    tmp_path = tmp_path_factory.mktemp("kept")
    generated = make_fleet(tmp_path, 3, 2)
    repo = tmp_path / "repo"
    render_to_repo(generated.blueprints, generated.environments, repo)
    dev = generated.environments / "dev.yaml"
    for change, index, value in changes:
        name = f"model-{index:04d}"
        if change == "tag":
            generated.set_image_tag(index, value)
        elif change == "override" and (generated.blueprints / f"{name}.yaml").exists():
            length = 8192 if value == "v1.0.0" else 4096
            base = dev.read_text().split("overrides:")[0]
            dev.write_text(base + f"overrides:\n  {name}: {{max_model_len: {length}}}\n")
        elif change == "namespace":
            dev.write_text(dev.read_text().replace("namespaces: [inference]",
                                                   "namespaces: [inference, extra]"))  # fmt: skip
        elif (
            change == "remove"
            and (generated.blueprints / f"{name}.yaml").exists()
            and len(list(generated.blueprints.iterdir())) > 1
        ):
            (generated.blueprints / f"{name}.yaml").unlink()
            if f"  {name}:" in dev.read_text():  # an override of it would be refused
                dev.write_text(dev.read_text().split("overrides:")[0])
        kept = render_to_repo(generated.blueprints, generated.environments, repo)
        assert kept.tree == _tree_of_a_fresh_render(
            tmp_path, generated.blueprints, generated.environments
        )


WARNING_STACK = """\
kind: InferenceStack
name: warned
model: org/warned-8B
image: registry.example.com/vllm/vllm-openai:v0.8.5
gpus: 3
tensor_parallel_size: 3
cpu: '4'
memory: 32Gi
"""


def test_a_render_that_warned_is_built_and_warns_again(tmp_path: Path) -> None:
    from gitops import StackWarning

    generated = make_fleet(tmp_path, 1, 1)
    (generated.blueprints / "warned.yaml").write_text(WARNING_STACK)
    repo = tmp_path / "repo"
    for _ in range(2):
        with pytest.warns(StackWarning, match="tensor_parallel_size 3 divides none"):
            render_to_repo(generated.blueprints, generated.environments, repo)
    kept = json.loads((repo / ".git" / CACHE_FILE).read_text())["renders"]
    assert len(kept) == 1 and "model-0000" in next(iter(kept))


def test_damaged_kept_renders_are_built_again(tmp_path: Path) -> None:
    generated = make_fleet(tmp_path, 2, 1)
    repo = tmp_path / "repo"
    first = render_to_repo(generated.blueprints, generated.environments, repo)
    path = repo / ".git" / CACHE_FILE
    data = json.loads(path.read_text())
    damaged = [[1, [], []], ["{}", "not a list", []], ["{}", [], ["not an object"]], "x"]
    data["renders"] = {key: damaged for key in data["renders"]}
    path.write_text(json.dumps(data))
    again = render_to_repo(generated.blueprints, generated.environments, repo)
    assert not again.created and again.tree == first.tree
    assert all(len(v) == 1 for v in json.loads(path.read_text())["renders"].values())


def test_a_kept_render_is_fenced_again_when_its_namespace_is_no_longer_listed(
    tmp_path: Path,
) -> None:
    from gitops.core.errors import RenderError

    generated = make_fleet(tmp_path, 1, 1)
    (generated.blueprints / "extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: extra}\n"
    )
    dev = generated.environments / "dev.yaml"
    listed = dev.read_text().replace("namespaces: [inference]", "namespaces: [inference, extra]")
    dev.write_text(listed)
    repo = tmp_path / "repo"
    first = render_to_repo(generated.blueprints, generated.environments, repo)
    dev.write_text(listed.replace("namespaces: [inference, extra]", "namespaces: [inference]"))
    with pytest.raises(RenderError, match=r"extra\.yaml: environment dev: .*namespace must be one"):
        render_to_repo(generated.blueprints, generated.environments, repo)
    assert pygit2.Repository(str(repo)).head.target == pygit2.Oid(hex=first.commit)


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(value=_VALUES)
@example(value={"replicas": 2**70, "big": -(2**64)})  # past orjson's 64 bits
@example(value={"ratio": -0.0, "tiny": 5e-324, "text": "é\u2028\x00"})
def test_a_kept_render_reads_back_with_the_same_digest(tmp_path_factory: Any, value: Any) -> None:
    """Whatever a kept render holds comes back equal, with the same types: the digest
    that keys cached YAML and checks is the one a fresh render computes."""
    repo = tmp_path_factory.mktemp("repo")
    pygit2.init_repository(str(repo))
    first = RenderCache(repo, dump_one)
    first.keep_render("k", [value])
    first.save()
    (kept,) = RenderCache(repo, dump_one).stored_renders("k")
    assert kept == [value]
    assert digest(kept[0]) == digest(value)


def test_a_value_json_cannot_hold_leaves_the_cache_unwritten(tmp_path: Path) -> None:
    pygit2.init_repository(str(tmp_path / "repo"))
    cache = RenderCache(tmp_path / "repo", dump_one)
    cache.dump({"a": 1})
    cache.keep_render("k", [{"n": 2**70, "x": float("nan")}])
    cache.save()
    assert not (tmp_path / "repo" / ".git" / CACHE_FILE).exists()
    assert list((tmp_path / "repo" / ".git").glob(f"{CACHE_FILE}*")) == []


def test_the_collector_is_paused_for_a_render_and_restored_after(tmp_path: Path) -> None:
    """Full collections would walk the cache read back from the last render, again and
    again; the render pauses the collector and gives it back as it found it."""
    import gc

    blueprints, environments = fleet(tmp_path)
    during: list[bool] = []
    assert gc.isenabled()
    render_to_repo(blueprints, environments, tmp_path / "repo",
                   progress=lambda _line: during.append(gc.isenabled()))  # fmt: skip
    assert during and not any(during)
    assert gc.isenabled()
    # An input error ends the render early: the collector comes back all the same.
    (environments / "broken.yaml").write_text("name: [unclosed\n")
    with pytest.raises(InputError, match=r"broken\.yaml"):
        render_to_repo(blueprints, environments, tmp_path / "repo")
    assert gc.isenabled()
    (environments / "broken.yaml").unlink()
    # A caller that turned it off keeps it off.
    gc.disable()
    try:
        render_to_repo(blueprints, environments, tmp_path / "repo")
        assert not gc.isenabled()
    finally:
        gc.enable()
