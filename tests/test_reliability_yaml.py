"""Reliability: hostile YAML through every input path, and invalid input aborting everything.

Every reader of YAML (environments, YAML blueprints, ``-f`` manifests, ``--live``
captures, ``--policies``, files read from the repository at a ref) goes through the one
bounded loader (:func:`gitops.core.yaml_io.load_yaml_all`, :func:`gitops.core.yaml_io.read_capped`);
each hostile input is refused with an :class:`InputError` naming the file. The loader's
own unit tests are in ``test_model.py``; duplicate objects across Python blueprints in
``test_render.py::test_duplicate_objects_across_blueprints_name_both_sources``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from helpers.typed import typed
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.cli.main import main
from gitops.core import yaml_io as model
from gitops.core.errors import GitOpsError, InputError, RenderError
from gitops.core.yaml_io import MAX_YAML_BYTES, MAX_YAML_NODES, load_yaml_all
from gitops.inputs.blueprints import load_blueprints
from gitops.inputs.environments import load_environments
from gitops.policy import load_policies
from gitops.render.pipeline import render_environments
from gitops.repo import commit_tree, identity
from gitops.workflows.desired import read_live_file, read_path, read_ref
from gitops.workflows.render import manifests_at_ref, render_to_repo

TINY = Path(__file__).parent / "fixtures" / "tiny"
SIG = identity("test <test@example.com>", when=1_700_000_000)


@pytest.fixture(autouse=True)
def _outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a directory without environments/: the example's dev and prod would bind
    the test repositories' environments to the example's clusters."""
    monkeypatch.chdir(tmp_path)


def billion_laughs() -> str:
    """Nine levels of ten aliases each: 10^9 nodes once expanded, under 1 KiB as text."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def merge_key_bomb() -> str:
    """The same expansion through ``<<`` merge keys instead of sequences."""
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    for level in range(1, 10):
        refs = ", ".join([f"*m{level - 1}"] * 10)
        lines.append(f"m{level}: &m{level}\n  <<: [{refs}]\n  k{level}: [{refs}]")
    return "\n".join(lines) + "\n"


HOSTILE: dict[str, tuple[Callable[[], str], str]] = {
    "billion-laughs": (billion_laughs, r"alias expansion bomb"),
    "merge-key-bomb": (merge_key_bomb, r"alias expansion bomb"),
    "nesting-10000-flow": (lambda: "a: " + "[" * 10_000 + "]" * 10_000 + "\n", r"nesting"),
    "nesting-10000-block": (
        lambda: "- " * 10_000 + "leaf\n",  # one block sequence per "- ", on one line
        r"nesting",
    ),
    "over-size-cap": (lambda: "a: " + "x" * (MAX_YAML_BYTES + 1) + "\n", r"size cap"),
    "too-many-nodes": (
        lambda: "[" + "0," * (MAX_YAML_NODES + 10) + "0]\n",
        rf"more than {MAX_YAML_NODES} nodes",
    ),
    "invalid": (
        lambda: "apiVersion: v1\nkind: [ConfigMap\n",
        r"line \d+, column \d+: invalid YAML",
    ),
    "value-not-fitting-its-tag": (lambda: "a: !!int hunter2\n", r"does not fit its type"),
    "huge-integer": (lambda: "a: " + "9" * 5000 + "\n", r"does not fit its type"),
    "set-tag": (lambda: "a: !!set {x, y}\n", r"/a is a set, not a JSON value"),
    "binary-tag": (lambda: "a: !!binary aGVsbG8=\n", r"/a is a bytes, not a JSON value"),
    "nan": (lambda: "a: [1, .nan]\n", r"/a/1 is a non-finite float"),
    "python-tag": (lambda: "!!python/object/apply:os.system ['true']\n", r"invalid YAML"),
    "duplicate-key": (
        lambda: "a: 1\nb:\n  c: {action: Deny}\n  c: {action: Audit}\n",
        r"line 4: duplicate mapping key 'c'",
    ),
}


def _env_dir(tmp_path: Path, text: str) -> Callable[[], Any]:
    directory = tmp_path / "environments"
    shutil.copytree(TINY / "environments", directory)
    (directory / "alpha.yaml").write_text(text)
    return lambda: load_environments(directory)


def _blueprint_yaml(tmp_path: Path, text: str) -> Callable[[], Any]:
    directory = tmp_path / "blueprints"
    directory.mkdir()
    (directory / "alpha.yaml").write_text(text)
    return lambda: load_blueprints(directory)


def _manifests_dir(tmp_path: Path, text: str) -> Callable[[], Any]:
    directory = tmp_path / "manifests"
    (directory / "sub").mkdir(parents=True)
    (directory / "ok.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (directory / "sub" / "alpha.yaml").write_text(text)
    return lambda: read_path(directory)


def _live_file(tmp_path: Path, text: str) -> Callable[[], Any]:
    (tmp_path / "alpha.yaml").write_text(text)
    return lambda: read_live_file(tmp_path / "alpha.yaml")


def _policies_dir(tmp_path: Path, text: str) -> Callable[[], Any]:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "alpha.yaml").write_text(text)
    return lambda: load_policies(tmp_path / "policies")


def _committed(tmp_path: Path, text: str) -> Path:
    repo = tmp_path / "repo"
    files = {
        "envs/dev/workloads/apps/configmap-ok.yaml": (
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: apps}\n"
        ),
        "envs/dev/workloads/apps/configmap-alpha.yaml": text.encode(),
    }
    commit_tree(repo, files, signature=SIG)
    return repo


def _at_ref_render(tmp_path: Path, text: str) -> Callable[[], Any]:
    repo = _committed(tmp_path, text)
    return lambda: manifests_at_ref(repo, "main", "dev")


def _at_ref_diff(tmp_path: Path, text: str) -> Callable[[], Any]:
    repo = _committed(tmp_path, text)
    return lambda: read_ref(repo, "main", "dev")


READERS: dict[str, Callable[[Path, str], Callable[[], Any]]] = {
    "environments": _env_dir,
    "blueprint-yaml": _blueprint_yaml,
    "-f manifests": _manifests_dir,
    "--live": _live_file,
    "--policies": _policies_dir,
    "repo at ref (render)": _at_ref_render,
    "repo at ref (diff)": _at_ref_diff,
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_hostile_yaml_is_refused_by_every_input_path(
    tmp_path: Path, reader: str, hostile: str
) -> None:
    make, expected = HOSTILE[hostile]
    read = READERS[reader](tmp_path, make())
    with pytest.raises(InputError, match=rf"alpha\.yaml.*{expected}"):
        read()


@pytest.mark.parametrize("hostile", ["billion-laughs", "too-many-nodes", "nesting-10000-flow"])
def test_hostile_yaml_is_refused_with_bounded_memory(hostile: str, tmp_path: Path) -> None:
    """Measured in a process of its own: its peak resident memory (``VmHWM``, C allocations
    included) over what it held before parsing. (tracemalloc made a million-node parse take
    20 s; this takes 2.)"""
    text, refusal = HOSTILE[hostile]
    (tmp_path / "hostile.yaml").write_text(text())
    script = (
        "import re, sys\n"
        "from gitops.core.errors import InputError\n"
        "from gitops.core.yaml_io import load_yaml_all\n"
        "text = open(sys.argv[1]).read()\n"
        "def kib(field):\n"
        "    status = open('/proc/self/status').read()\n"
        "    return int(re.search(field + r':\\s+(\\d+) kB', status).group(1))\n"
        "before = kib('VmRSS')\n"
        "try:\n"
        "    load_yaml_all(text, 'hostile.yaml')\n"
        "except InputError as err:\n"
        "    print(str(err).splitlines()[0])\n"
        "print((kib('VmHWM') - before) // 1024)\n"
    )
    # Run from the checkout, so gitops is found whether installed or not.
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "hostile.yaml")],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=TINY.parents[2])  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    message, grown_mib = done.stdout.splitlines()[-2:]
    assert re.search(refusal, message), message
    # Refused while counting parse events: nothing near the 10^9 (or 10^6) nodes is built.
    assert int(grown_mib) < 64


def test_oversized_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    directory = tmp_path / "environments"
    directory.mkdir()
    with (directory / "alpha.yaml").open("wb") as handle:
        handle.truncate(64 * MAX_YAML_BYTES)  # sparse: 512 MiB that read_bytes() would load
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"alpha\.yaml: more than \d+ bytes exceeds"):
            load_environments(directory)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_YAML_BYTES + 1024 * 1024


def test_the_node_pre_count_refuses_exactly_what_the_cap_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(model, "MAX_YAML_NODES", 1000)
    # 1,000 nodes (the sequence and 999 scalars) in 2 KB: pre-counted, and allowed.
    (document,) = load_yaml_all("[" + "0," * 998 + "0]\n", "wide.yaml")
    assert len(document) == 999
    with pytest.raises(InputError, match=r"wide\.yaml: line 1: document has more than 1000"):
        load_yaml_all("[" + "0," * 999 + "0]\n", "wide.yaml")


# -- invalid input anywhere aborts the whole operation ---------------------------------------


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    shutil.copytree(TINY, tmp_path / "in")
    return tmp_path / "in"


def _head(repo: Path) -> str:
    return str(pygit2.Repository(str(repo)).references["refs/heads/main"].target)


def _object_count(repo: Path) -> int:
    return sum(1 for p in (repo / ".git" / "objects").rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("environments/beta.yaml", "name: beta\ncluster: {name: beta\n"),
        ("blueprints/extra.yaml", "kind: InferenceStack\nid: [x\n"),
        ("environments/beta.yaml", billion_laughs()),
    ],
)
def test_one_invalid_input_aborts_the_render_and_commits_nothing(
    tiny: Path, tmp_path: Path, where: str, text: str
) -> None:
    repo = tmp_path / "repo"
    before = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    objects = _object_count(repo)
    (tiny / "blueprints" / "web.py").write_text(
        (tiny / "blueprints" / "web.py").read_text().replace('"action"', '"changed"')
    )
    (tiny / where).write_text(text)
    with pytest.raises(InputError, match=Path(where).name.replace(".", r"\.")):
        render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    assert _head(repo) == before.commit
    assert _object_count(repo) == objects  # nothing was even written to the object database


def test_invalid_input_before_the_first_render_creates_no_repository(
    tiny: Path, tmp_path: Path
) -> None:
    (tiny / "environments" / "beta.yaml").write_text("{")
    with pytest.raises(InputError, match=r"beta\.yaml"):
        render_to_repo(tiny / "blueprints", tiny / "environments", tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_invalid_file_in_the_repository_at_the_ref_aborts_the_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _committed(tmp_path, "apiVersion: v1\nkind: [ConfigMap\n")
    live = tmp_path / "live.yaml"
    live.write_text("apiVersion: v1\nkind: List\nitems: []\n")
    code = main(["diff", "--env", "dev", "--repo", str(repo), "--live", str(live)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # no partial diff of the files that did parse
    assert "configmap-alpha.yaml" in err and "invalid YAML" in err


def test_invalid_file_given_to_check_aborts_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _manifests_dir(tmp_path, "kind: [\n")  # ok.yaml parses, sub/alpha.yaml does not
    code = main(["check", "-f", str(tmp_path / "manifests")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "alpha.yaml" in err


# -- duplicates ------------------------------------------------------------------------------


def test_duplicate_stacks_across_yaml_blueprints_name_both_files(tiny: Path) -> None:
    stack = "kind: Settings\nid: web\n"
    (tiny / "blueprints" / "one.yaml").write_text(stack)
    (tiny / "blueprints" / "two.yaml").write_text(stack)
    kinds = {"Settings": _settings_class(tiny)}
    (tiny / "blueprints" / "web.py").unlink()
    with pytest.raises(RenderError, match=r"duplicate object ConfigMap apps/web: .*one.*two"):
        render_environments(tiny / "blueprints", tiny / "environments", kinds=kinds)


def test_duplicate_objects_in_given_manifests_name_both_files(tmp_path: Path) -> None:
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "first.yaml").write_text(doc)
    (tmp_path / "m" / "second.yaml").write_text(doc)
    with pytest.raises(GitOpsError, match=r"second\.yaml: ConfigMap x/a .*first\.yaml"):
        read_path(tmp_path / "m")


def _settings_class(tiny: Path) -> type[Any]:
    """The tiny fixture's Settings construct, given a ``from_spec`` for YAML blueprints."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tiny_web", tiny / "blueprints" / "web.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Settings(module.Settings):  # type: ignore[name-defined,misc]
        @classmethod
        def from_spec(cls, scope: Any, spec: dict[str, Any], source: str) -> Any:
            return cls(scope, spec["id"], data={"from": source.rsplit("/", 1)[-1]})

    return Settings


def test_a_value_not_fitting_its_tag_is_not_quoted_in_the_error() -> None:
    with pytest.raises(InputError, match=r"s\.yaml: invalid YAML: a value does not fit") as caught:
        load_yaml_all("password: !!int hunter2-canary\n", "s.yaml")
    assert "hunter2-canary" not in str(caught.value)


def test_oversized_file_at_a_ref_is_refused_from_its_header(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    big = b"a: " + b"x" * (4 * MAX_YAML_BYTES) + b"\n"
    commit_tree(repo, {"envs/dev/workloads/apps/configmap-big.yaml": big}, signature=SIG)
    del big
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"main:envs/dev/.*configmap-big\.yaml: \d+ bytes"):
            read_ref(repo, "main", "dev")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_YAML_BYTES  # the blob itself was never read


# -- what blueprints produce must be plain JSON ----------------------------------------------

RAW_BLUEPRINT = """
import datetime
import fractions

from gitops.constructs.base import Construct


class Raw(Construct):
    def __init__(self, scope, id, obj):
        super().__init__(scope, id)
        self.obj = obj
        self._register()

    def _build(self):
        return [self.obj]


def blueprint(scope, env):
    data = {{"ok": "yes", "field": {value}}}
    Raw(scope, "raw", {{"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {{"name": "x", "namespace": "apps"}}, "data": data}})
"""


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("{1, 2}", "set"),
        ("datetime.date(2024, 1, 1)", "date"),
        ("float('nan')", "non-finite float"),
        ("float('inf')", "non-finite float"),
        ("fractions.Fraction(1, 3)", "Fraction"),
        ("(1, 2)", "tuple"),
        ("b'bytes'", "bytes"),
        ("{1: 'int key'}", "int key"),
    ],
)
def test_blueprint_output_that_is_not_json_is_refused_naming_the_field(
    tiny: Path, tmp_path: Path, value: str, named: str
) -> None:
    (tiny / "blueprints" / "raw.py").write_text(RAW_BLUEPRINT.format(value=value))
    with pytest.raises(RenderError, match=r"ConfigMap apps/x \(blueprint raw.*/data/field"):
        render_to_repo(tiny / "blueprints", tiny / "environments", tmp_path / "repo")
    with pytest.raises(RenderError, match=rf"is a {named}, not a JSON value"):
        render_environments(tiny / "blueprints", tiny / "environments")
    assert not (tmp_path / "repo").exists()


def test_invalid_file_at_the_head_ref_aborts_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    good = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: apps}\n"
    commit_tree(repo, {"envs/dev/workloads/apps/configmap-ok.yaml": good}, signature=SIG)
    broken = {
        "envs/dev/workloads/apps/configmap-ok.yaml": good,
        "envs/dev/workloads/apps/configmap-alpha.yaml": b"kind: [\n",
    }
    commit_tree(repo, broken, branch="pr", base="main", signature=SIG)
    code = main(["plan", "--env", "dev", "--base", "main", "--head", "pr", "--repo", str(repo)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "envs/dev/workloads/apps/configmap-alpha.yaml" in err and "invalid YAML" in err


@pytest.mark.parametrize("reader", ["-f", "--live"])
def test_oversized_manifest_file_is_refused_without_reading_it_whole(
    tmp_path: Path, reader: str
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        if reader == "--live":  # streamed: the cap is per value, checked while reading
            handle.write(b"kind: List\nitems:\n- data: " + b"x" * (3 * MAX_YAML_BYTES))
        else:
            handle.truncate(64 * MAX_YAML_BYTES)  # sparse: 512 MiB
    read = read_path if reader == "-f" else read_live_file
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"huge\.yaml: more than \d+ bytes .*exceeds"):
            read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_YAML_BYTES + 1024 * 1024


_KEYS = st.text(alphabet="abcxyz-_.0123456789", min_size=1, max_size=8)
_SCALARS = st.one_of(
    st.integers(),
    st.booleans(),
    st.none(),
    st.text(st.characters(categories=("L", "N", "P")), max_size=9),
)


@settings(max_examples=150, deadline=None)
@given(
    keys=st.lists(_KEYS, min_size=1, max_size=8, unique=True),
    values=st.lists(_SCALARS, min_size=9, max_size=9),
    duplicate=st.data(),
    parents=st.lists(_KEYS, max_size=4),
    flow=st.booleans(),
)
def test_a_duplicate_key_anywhere_is_refused_naming_file_line_and_key(
    keys: list[str],
    values: list[Any],
    duplicate: st.DataObject,
    parents: list[str],
    flow: bool,
) -> None:
    """Random mappings, at random depth, block or flow style, with one key written twice."""
    import json

    again = duplicate.draw(st.sampled_from(keys))
    position = duplicate.draw(st.integers(min_value=keys.index(again) + 1, max_value=len(keys)))
    entries = [*keys[:position], again, *keys[position:]]
    pairs = [(k, json.dumps(v, ensure_ascii=False)) for k, v in zip(entries, values, strict=False)]
    indent = "  " * len(parents)
    lines = [f"{'  ' * depth}{json.dumps(parent)}:" for depth, parent in enumerate(parents)]
    if flow:
        body = ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs)
        lines.append(f"{indent}{{{body}}}")
        line = len(parents) + 1
    else:
        lines.extend(f"{indent}{json.dumps(k)}: {v}" for k, v in pairs)
        line = len(parents) + position + 1
    text = "\n".join(lines) + "\n"
    with pytest.raises(InputError) as raised:
        load_yaml_all(text, "in.yaml")
    assert str(raised.value).startswith(f"in.yaml: line {line}: duplicate mapping key {again!r}")


def test_a_duplicated_guardrails_key_fails_the_render_cli_and_commits_nothing(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: a later ``guardrails: {action: Audit}`` silently won over Deny."""
    env = tiny / "environments" / "alpha.yaml"
    env.write_text(
        env.read_text().replace("action: Audit", "action: Deny")
        + "guardrails: {engine: vap, action: Audit}\n"
    )
    repo = tmp_path / "out"
    code = main(
        ["render", "--blueprints", str(tiny / "blueprints"),
         "--environments", str(tiny / "environments"), "--repo", str(repo)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "alpha.yaml: line 5: duplicate mapping key 'guardrails'" in err
    assert not repo.exists()


#: Every plain scalar YAML 1.1 (kubectl, sigs.k8s.io/yaml) reads as a boolean.
_YAML11_BOOL = (
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
)


class _Yaml11Loader(yaml.SafeLoader):
    """A reader with YAML 1.1's complete boolean set, as kubectl decodes YAML."""


_Yaml11Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(_YAML11_BOOL), list("yYnNtTfFoO")
)
_Yaml11Loader.add_implicit_resolver(  # YAML 1.2 readers take 0o17 for 15
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?0o[0-7]+$"), list("-+0")
)

_TRICKY = st.sampled_from(
    ["y", "Y", "n", "N", "yes", "On", "OFF", "true", "~", "null", "0o17", "-0o7", "0x1F",
     "1_000", "1e3", ".inf", "12:30", "2024-01-01", "<<", "="]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(_TRICKY, st.text(max_size=6)))
def test_every_string_dumped_reads_back_as_the_same_string_in_yaml_1_1(value: str) -> None:
    text = model.dump_one({"k": value, "l": [value]})
    assert typed(yaml.load(text, Loader=_Yaml11Loader)) == typed({"k": value, "l": [value]})
    assert typed(model.load_yaml(text, "t")) == typed({"k": value, "l": [value]})
