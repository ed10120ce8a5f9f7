"""Tests for manifest identity, canonical order and bounded YAML loading."""

from __future__ import annotations

import pytest
from helpers.typed import typed
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.core.errors import InputError
from gitops.core.keys import ResourceKey, canonical_order, key_of
from gitops.core.yaml_io import dump_yaml, load_yaml, load_yaml_all, non_json_path


def _obj(kind: str, name: str, api_version: str = "v1", namespace: str | None = None) -> dict:
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def test_key_of_splits_group_and_version() -> None:
    key = key_of(_obj("Deployment", "llama", "apps/v1", "ml"))
    assert key == ResourceKey("apps", "v1", "Deployment", "ml", "llama")
    assert key.api_version == "apps/v1"
    assert str(key) == "Deployment ml/llama"


def test_key_of_names_the_missing_field() -> None:
    with pytest.raises(InputError, match=r"x.yaml: Deployment: key 'metadata.name' missing"):
        key_of({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}}, "x.yaml")


def test_canonical_order_puts_crds_namespaces_and_policy_first() -> None:
    objs = [
        _obj("Deployment", "a", "apps/v1", "ml"),
        _obj("ValidatingAdmissionPolicy", "p", "admissionregistration.k8s.io/v1"),
        _obj("Namespace", "ml"),
        _obj("CustomResourceDefinition", "c", "apiextensions.k8s.io/v1"),
    ]
    kinds = [o["kind"] for o in canonical_order(objs)]
    assert kinds == [
        "CustomResourceDefinition",
        "Namespace",
        "ValidatingAdmissionPolicy",
        "Deployment",
    ]


def test_dump_yaml_is_deterministic_and_keeps_key_order() -> None:
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"b": "1"}}
    assert dump_yaml([doc]) == dump_yaml([dict(doc)])
    assert dump_yaml([doc]).startswith("apiVersion: v1\nkind: ConfigMap\n")


def test_load_yaml_all_drops_empty_documents() -> None:
    assert load_yaml_all("---\na: 1\n---\n---\nb: 2\n", "s") == [{"a": 1}, {"b": 2}]


def test_invalid_yaml_names_source_and_line() -> None:
    with pytest.raises(InputError, match=r"bad.yaml: line 2, column 1: invalid YAML"):
        load_yaml("a: [\n", "bad.yaml")


def test_alias_bomb_is_refused_before_expansion() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(InputError, match="alias expansion bomb"):
        load_yaml("\n".join(lines), "bomb.yaml")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(InputError, match=r"deep\.yaml: .*nesting"):
        load_yaml("[" * 10_000 + "]" * 10_000, "deep.yaml")


def test_oversized_text_is_refused() -> None:
    with pytest.raises(InputError, match="exceeds the YAML size cap"):
        load_yaml("a: " + "x" * (9 * 1024 * 1024), "big.yaml")


def test_unsafe_tags_are_refused() -> None:
    with pytest.raises(InputError, match=r"tag\.yaml"):
        load_yaml("!!python/object/apply:os.system ['true']", "tag.yaml")


def test_shared_values_are_written_out_not_aliased() -> None:
    rules = [{"from": [{"podSelector": {}}]}]
    doc = {"spec": {"ingress": rules, "egress": rules}}
    text = dump_yaml([doc])
    assert "&id" not in text and "*id" not in text
    assert typed(load_yaml(text, "t")) == typed(doc)


# -- non_json_path: plain JSON passes, any one foreign value is found where it is ------------

plain_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)
foreign = st.sampled_from([float("nan"), float("inf"), {1, 2}, (1,), b"x", object()])


def _containers(value: object, path: str = "") -> list[tuple[object, str]]:
    """Every dict and list of ``value`` with its JSON pointer."""
    out: list[tuple[object, str]] = []
    if isinstance(value, dict):
        out.append((value, path))
        for key, child in value.items():
            name = key.replace("~", "~0").replace("/", "~1")
            out += _containers(child, f"{path}/{name}")
    elif isinstance(value, list):
        out.append((value, path))
        for index, child in enumerate(value):
            out += _containers(child, f"{path}/{index}")
    return out


@settings(max_examples=200, deadline=None)
@given(plain_json, st.data())
def test_non_json_path_finds_the_one_foreign_value_and_only_it(
    value: object, data: st.DataObject
) -> None:
    assert non_json_path(value) is None
    holders = _containers(value)
    if not holders:
        return
    holder, path = data.draw(st.sampled_from(holders))
    bad = data.draw(foreign)
    if isinstance(holder, dict):
        holder["~k/"] = bad
        where = f"{path}/~0k~1"
    else:
        assert isinstance(holder, list)
        holder.append(bad)
        where = f"{path}/{len(holder) - 1}"
    found = non_json_path(value)
    assert found is not None and found[0] == (where or "/")


def test_non_json_path_refuses_a_non_string_key_unless_allowed() -> None:
    assert non_json_path({"a": [{8080: "x"}]}) == ("/a/0/8080", "int key")
    assert non_json_path({"a": [{8080: "x"}]}, string_keys=False) is None
    assert non_json_path({"a": {(1,): "x"}}, string_keys=False) == ("/a/(1,)", "tuple key")
