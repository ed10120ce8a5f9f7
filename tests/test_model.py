"""Tests for manifest identity, canonical order and bounded YAML loading."""

from __future__ import annotations

import pytest

from gitops.errors import InputError
from gitops.model import ResourceKey, canonical_order, dump_yaml, key_of, load_yaml, load_yaml_all


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
    assert load_yaml(text, "t") == doc
