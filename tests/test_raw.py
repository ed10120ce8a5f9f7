"""Plain objects: the Manifest and Include constructs, and YAML blueprints holding them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.cli.main import main
from gitops.constructs.base import Scope
from gitops.constructs.raw import Include, Manifest
from gitops.core.errors import InputError, ValidationError


def external_secret(namespace: str | None = "inference") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "hf-token"}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "external-secrets.io/v1beta1",
        "kind": "ExternalSecret",
        "metadata": metadata,
        "spec": {"secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"}},
    }


def test_manifest_renders_the_object_as_written_with_provenance() -> None:
    given = external_secret()
    scope = Scope(namespace="inference", blueprint="secrets", environment="prod")
    Manifest(scope, "hf-token", given)
    [obj] = scope.synth()
    assert obj["spec"] == given["spec"]
    assert obj["metadata"]["annotations"]["gitops.dev/construct-path"] == "hf-token"
    assert obj["metadata"]["annotations"]["gitops.dev/blueprint"] == "secrets"
    assert "annotations" not in given["metadata"]  # the caller's dict is never changed


def test_manifest_namespace_fills_only_an_object_without_one() -> None:
    scope = Scope()
    Manifest(scope, "a", external_secret(None), namespace="ml")
    Manifest(
        scope,
        "b",
        {**external_secret("kept"), "metadata": {"name": "b", "namespace": "kept"}},
        namespace="ml",
    )
    namespaces = sorted(o["metadata"]["namespace"] for o in scope.synth())
    assert namespaces == ["kept", "ml"]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"kind": "ConfigMap", "metadata": {"name": "x"}}, r"Manifest 'x': key 'apiVersion'"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, r"ConfigMap: key 'metadata' missing"),
        ("apiVersion: v1", r"Manifest 'x': obj must be a mapping, got str"),
    ],
)
def test_manifest_refuses_what_is_not_an_object_and_adds_nothing(obj: Any, expected: str) -> None:
    scope = Scope()
    with pytest.raises(ValidationError, match=expected):
        Manifest(scope, "x", obj)
    assert scope.children == []


def test_include_reads_every_document_and_list_item(tmp_path: Path) -> None:
    path = tmp_path / "extra.yaml"
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}}
    listing = {"apiVersion": "v1", "kind": "List", "items": [external_secret()]}
    path.write_text(yaml.safe_dump_all([config, listing]))
    scope = Scope()
    Include(scope, "extra", path)
    paths = [
        (o["kind"], o["metadata"]["annotations"]["gitops.dev/construct-path"])
        for o in scope.synth()
    ]
    assert paths == [("ConfigMap", "extra/0"), ("ExternalSecret", "extra/1")]


def test_include_names_the_file_and_document_of_a_bad_object(tmp_path: Path) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\n")
    with pytest.raises(ValidationError, match=r"extra\.yaml\[0\]: .*metadata"):
        Include(Scope(), "extra", path)
    with pytest.raises(InputError, match=r"nope\.yaml"):
        Include(Scope(), "extra", tmp_path / "nope.yaml")


# -- YAML blueprints -------------------------------------------------------------------------

ENV = """\
name: prod
cluster: {name: prod, server: "https://prod.example.com:6443"}
namespaces: [inference]
"""

PLAIN = """\
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata: {name: hf-token, namespace: inference}
spec: {secretStoreRef: {name: vault, kind: ClusterSecretStore}}
---
kind: InferenceStack
name: llama
model: meta-llama/Llama-3.1-8B-Instruct
image: registry.example.com/vllm/vllm-openai:v0.6.3
hf_token_secret: {name: hf-token, key: token}
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "blueprints").mkdir()
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "prod.yaml").write_text(ENV)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_yaml_blueprint_holds_plain_objects_beside_stacks(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "blueprints" / "llama.yaml").write_text(PLAIN)
    assert main(["build", "--env", "prod"]) == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)]
    assert "ExternalSecret" in kinds and ({"Deployment", "StatefulSet"} & set(kinds))
    assert main(["check", "--env", "prod"]) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: inference}\n"
            "stringData: {token: hunter2}\n",
            "plain",
        ),
        (PLAIN.replace("hf_token_secret", "hf_token_secrt"), "(did you mean 'hf_token_secret'?)"),
        (
            PLAIN.replace("kind: InferenceStack", "kind: InferenceStak"),
            "unknown kind 'InferenceStak' (did you mean 'InferenceStack'?)",
        ),
    ],
    ids=["plaintext-secret", "key-typo", "kind-typo"],
)
def test_bad_yaml_blueprints_are_one_line_and_exit_2(
    work: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    (work / "blueprints" / "llama.yaml").write_text(text)
    assert main(["build", "--env", "prod"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert expected in err
    assert "hunter2" not in err
