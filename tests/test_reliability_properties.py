"""Reliability: property-based tests of the parsers, the quantity normalizer and the diff.

Already covered elsewhere (not repeated here): ``align(x, x)`` is in sync and an applied
object is (``test_normalize.py::test_property_*``), and fields only the server sets are
never drift of whole Deployments through :func:`gitops.diff.engine.diff_object`
(``test_diff.py::test_property_*``). Added here: every parser either returns or raises
its documented error, whatever the input (and does so quickly: hypothesis' deadline
catches inputs that cost unbounded time); equal quantities in any form are never drift;
what the API server adds to an object is never drift; a Secret's values never reach a
patch or a diff text.
"""

from __future__ import annotations

import base64
import copy
import json
from fractions import Fraction
from typing import Any

from helpers.typed import typed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.core.errors import InputError, ValidationError
from gitops.core.quantity import is_quantity, parse_quantity, quantities_equal
from gitops.core.yaml_io import dump_one, dump_yaml, load_yaml, load_yaml_all
from gitops.diff.align import align
from gitops.diff.engine import Status, diff_manifests, diff_object
from gitops.inputs.environments import parse_environment

# -- strategies ------------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_tricky = st.sampled_from(
    ["yes", "no", "on", "off", "null", "~", "1e3", "0x1F", "0o17", "2024-01-01", "1_000",
     "12:30", ".inf", "-.nan", "", " ", "a: b", "- x", "#c", "&a", "*a", "!x", "'", '"',
     "\t", "\n", "1000m", "1Gi", "\u2028", "\ufeff", "\x85"]
)  # fmt: skip
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
    _tricky,
)
_json: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(_text, _tricky), inner, max_size=4)
    ),
    max_leaves=25,
)

_SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_quantity_like = st.builds(
    lambda sign, number, suffix: f"{sign}{number}{suffix}",
    st.sampled_from(["", "+", "-"]),
    st.from_regex(r"\A([0-9]{1,20}(\.[0-9]{0,9})?|\.[0-9]{1,9})\Z"),
    st.one_of(st.sampled_from(_SUFFIXES), st.from_regex(r"\A[eE][+-]?[0-9]{1,12}\Z")),
)


# -- YAML loader -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(_json)
def test_property_yaml_dump_then_load_gives_the_document_back(document: Any) -> None:
    assert typed(load_yaml(dump_one(document), "doc.yaml")) == typed(document)


@settings(max_examples=100, deadline=None)
@given(st.lists(_json.filter(lambda d: d is not None), max_size=4))
def test_property_yaml_streams_round_trip_document_by_document(documents: list[Any]) -> None:
    assert typed(load_yaml_all(dump_yaml(documents), "docs.yaml")) == typed(documents)


@settings(max_examples=400, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), _tricky))
def test_property_any_input_loads_or_raises_input_error(text: str | bytes) -> None:
    try:
        documents = load_yaml_all(text, "fuzz.yaml")
    except InputError as err:
        assert str(err).startswith("fuzz.yaml")
    else:
        json.dumps(documents)  # what loads is JSON-compatible (no dates, no Python objects)


@settings(max_examples=200, deadline=1000)
@given(st.from_regex(r"\A[a-z]{1,3}: [0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9:.]{1,12}Z?)?\Z"))
def test_property_unquoted_dates_load_as_strings_as_kubectl_reads_them(text: str) -> None:
    try:
        document = load_yaml(text, "date.yaml")
    except InputError:
        return
    assert all(isinstance(value, str) for value in document.values())


# -- quantity parser and normalizer ----------------------------------------------------------


@settings(max_examples=500, deadline=200)
@given(st.one_of(_quantity_like, st.text(max_size=40), st.integers(), st.floats()))
def test_property_quantity_parser_returns_or_raises_value_error_quickly(value: Any) -> None:
    try:
        parsed = parse_quantity(value)
    except ValueError as err:
        assert "not a Kubernetes quantity" in str(err)
        assert not is_quantity(value)
    else:
        assert isinstance(parsed, Fraction)
        assert is_quantity(value)


@settings(max_examples=300, deadline=200)
@given(st.integers(0, 10**6))
def test_property_equal_amounts_in_any_form_are_equal(n: int) -> None:
    assert quantities_equal(f"{n}Ki", n * 1024)
    assert quantities_equal(f"{n * 1000}m", str(n))
    assert quantities_equal(f"{n}e3", f"{n}k")
    assert quantities_equal(f"{n}G", f"{n * 1000}M")
    assert quantities_equal(f"{n}Gi", f"{n * 1024}Mi")
    assert quantities_equal(f"{n}.0", n)
    assert not quantities_equal(f"{n}Gi", f"{n + 1}Gi")


def _pod_resources(cpu: Any, memory: Any) -> dict[str, Any]:
    container = {"name": "c", "resources": {"limits": {"cpu": cpu, "memory": memory}}}
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


_cpu_forms = st.integers(0, 64).flatmap(
    lambda n: st.tuples(
        st.just(Fraction(n)), st.sampled_from([n, str(n), f"{n * 1000}m", f"{n}.0", f"{n}e0"])
    )
)
_memory_forms = st.integers(0, 512).flatmap(
    lambda n: st.tuples(
        st.just(Fraction(n * 2**30)),
        st.sampled_from([f"{n}Gi", f"{n * 1024}Mi", f"{n * 1024 * 1024}Ki", str(n * 2**30)]),
    )
)


@settings(max_examples=300, deadline=None)
@given(_cpu_forms, _cpu_forms, _memory_forms, _memory_forms)
def test_property_quantities_are_drift_exactly_when_their_values_differ(
    cpu_a: tuple[Fraction, Any],
    cpu_b: tuple[Fraction, Any],
    mem_a: tuple[Fraction, Any],
    mem_b: tuple[Fraction, Any],
) -> None:
    aligned = align(_pod_resources(cpu_a[1], mem_a[1]), _pod_resources(cpu_b[1], mem_b[1]))
    assert aligned.in_sync == (cpu_a[0] == cpu_b[0] and mem_a[0] == mem_b[0])


# -- environment parser ----------------------------------------------------------------------

_env_values = st.one_of(
    _json,
    st.just({"name": "c", "server": "https://c.example.com"}),
    st.lists(st.sampled_from(["apps", "Apps", "a" * 64, "", "ok-ns"]), max_size=3),
    st.dictionaries(
        st.sampled_from(["engine", "action", "gpu", "cpu", "memory", "llm", "replicas"]),
        _json,
        max_size=3,
    ),
)
_environments = st.dictionaries(
    st.one_of(
        st.sampled_from(
            ["name", "cluster", "namespaces", "guardrails", "quotas", "repo_url", "overrides"]
        ),
        _text,
    ),
    _env_values,
    max_size=7,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_environments, _json))
def test_property_environment_parser_returns_or_raises_validation_error(data: Any) -> None:
    try:
        env = parse_environment(data, "envs/x.yaml")
    except ValidationError as err:
        assert str(err).startswith("envs/x.yaml: ")
    else:
        assert env.namespaces and env.name


# -- diff engine -----------------------------------------------------------------------------

_names = st.from_regex(r"\A[a-z]([a-z0-9-]{0,6}[a-z0-9])?\Z")
_labels = st.dictionaries(_names, _names, max_size=3)


def _config_map(name: str, labels: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "apps", "labels": labels},
        "data": data,
    }


def _secret(name: str, values: dict[str, str]) -> dict[str, Any]:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "apps"},
        "data": data,
    }


def _deployment(name: str, labels: dict[str, str], replicas: int, cpu: str) -> dict[str, Any]:
    container = {
        "name": "engine",
        "image": "registry.example.com/vllm:v1",
        "resources": {"limits": {"cpu": cpu, "memory": "16Gi"}},
        "ports": [{"containerPort": 8000, "name": "http"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "apps", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
    }


_objects = st.lists(
    st.one_of(
        st.builds(_config_map, _names, _labels, st.dictionaries(_names, _text, max_size=3)),
        st.builds(_secret, _names, st.dictionaries(_names, _text, min_size=1, max_size=3)),
        st.builds(_deployment, _names, _labels, st.integers(0, 8), st.sampled_from(["1", "2"])),
    ),
    max_size=6,
    unique_by=lambda o: (o["kind"], o["metadata"]["name"]),
)


def _as_the_server_stores_it(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns: server metadata, status, defaults, canonical quantities."""
    live = copy.deepcopy(manifest)
    live["metadata"].update(
        uid="0b9c2c5e-1f1e-4d8a-9b62-7e1f4f1c2a3b",
        resourceVersion="12345",
        generation=1,
        creationTimestamp="2026-11-27T08:00:00Z",
    )
    live["status"] = {"observedGeneration": 1}
    if manifest["kind"] == "Secret":
        live["type"] = "Opaque"
    if manifest["kind"] == "Deployment":
        spec = live["spec"]
        spec.update(revisionHistoryLimit=10, progressDeadlineSeconds=600)
        pod = spec["template"]["spec"]
        pod.update(restartPolicy="Always", dnsPolicy="ClusterFirst", schedulerName="default")
        for container in pod["containers"]:
            container["terminationMessagePath"] = "/dev/termination-log"
            container["imagePullPolicy"] = "IfNotPresent"
            container["ports"][0]["protocol"] = "TCP"
            limits = container["resources"]["limits"]
            limits["cpu"] = f"{int(limits['cpu']) * 1000}m"  # an equal value, another form
            limits["memory"] = "16384Mi"
    return live


@settings(max_examples=150, deadline=None)
@given(_objects)
def test_property_a_set_diffs_in_sync_with_itself(objects: list[dict[str, Any]]) -> None:
    report = diff_manifests(objects, copy.deepcopy(objects))
    assert not report.has_differences
    assert len(report.objects) == len(objects)


@settings(max_examples=150, deadline=None)
@given(_objects)
def test_property_what_the_server_adds_is_never_drift(objects: list[dict[str, Any]]) -> None:
    report = diff_manifests(objects, [_as_the_server_stores_it(o) for o in objects])
    assert [str(o.key) for o in report.objects if o.status is not Status.IN_SYNC] == []


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(_names, _text.filter(lambda v: len(v) >= 4), min_size=1, max_size=4),
    st.dictionaries(_names, _text.filter(lambda v: len(v) >= 4), min_size=1, max_size=4),
)
def test_property_secret_values_never_reach_a_patch_or_a_diff(
    desired_values: dict[str, str], live_values: dict[str, str]
) -> None:
    desired, live = _secret("s", desired_values), _secret("s", live_values)
    result = diff_object(desired, live)
    shown = json.dumps(list(result.patch)) + result.text
    for value in [*desired["data"].values(), *live["data"].values()]:
        assert value not in shown
    if result.status is Status.MODIFIED:
        assert result.patch  # that something changed still shows


@settings(max_examples=150, deadline=None)
@given(_objects, _objects)
def test_property_each_object_is_diffed_against_its_own_live_counterpart(
    desired: list[dict[str, Any]], live: list[dict[str, Any]]
) -> None:
    # The set diff pairs objects by key: each verdict is the one of that pair alone, an
    # object live lacks is missing, and one only live holds is never reported as desired.
    live_by_name = {(o["kind"], o["metadata"]["name"]): o for o in live}
    report = diff_manifests(desired, live)
    verdicts = {(d.key.kind, d.key.name): d for d in report.objects}
    for manifest in desired:
        name = (manifest["kind"], manifest["metadata"]["name"])
        alone = diff_object(manifest, live_by_name.get(name))
        assert (verdicts[name].status, verdicts[name].patch) == (alone.status, alone.patch)
    assert {n for n, d in verdicts.items() if d.status is not Status.ORPHANED} == {
        (m["kind"], m["metadata"]["name"]) for m in desired
    }


# -- regressions the properties found --------------------------------------------------------


def test_exbi_suffix_is_a_quantity_not_an_exponent() -> None:
    assert parse_quantity("1Ei") == 2**60
    assert is_quantity("16Ei")
    assert parse_quantity("2E") == 2 * 10**18  # exa; "2E3" is an exponent
    assert parse_quantity("2E3") == 2000


def test_extreme_exponents_and_lengths_are_not_quantities() -> None:
    # Their exact value would take minutes and gigabytes; Kubernetes caps them anyway.
    for text in ("1e-999999999", "1e999999999", "1" * 5000, "1e65"):
        assert not is_quantity(text)


def test_non_finite_floats_are_not_quantities() -> None:
    for value in (float("inf"), float("-inf"), float("nan")):
        assert not is_quantity(value)
