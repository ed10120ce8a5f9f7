"""cdk8s both ways: an InferenceStack inside a cdk8s App, and a cdk8s Chart in a Scope.

These tests start Node.js (about half a second), so they are few.
"""

from __future__ import annotations

from types import ModuleType

import pytest
import yaml

from gitops import InferenceStack, Scope, ValidationError
from gitops.constructs.node_runtime import import_cdk8s
from gitops.core.labels import ANNOTATION_CONSTRUCT_PATH

MODEL = "hf://meta-llama/Llama-3.1-8B-Instruct"
IMAGE = "vllm/vllm-openai:v0.6.3"


@pytest.fixture(scope="module")
def cdk8s() -> ModuleType:
    """The cdk8s module, with a suitable Node.js chosen."""
    return import_cdk8s()


def test_stack_in_a_cdk8s_app_is_synthesized_by_the_app(cdk8s: ModuleType) -> None:
    app = cdk8s.App()
    InferenceStack(app, "llama", model=MODEL, image=IMAGE, gpus=1)
    documents = list(yaml.safe_load_all(app.synth_yaml()))
    found = sorted((doc["kind"], doc["metadata"]["name"]) for doc in documents)
    assert found == [
        ("PodDisruptionBudget", "llama"),
        ("Service", "llama"),
        ("ServiceAccount", "llama"),
        ("ServiceMonitor", "llama"),
        ("StatefulSet", "llama"),
    ]
    deployment = next(doc for doc in documents if doc["kind"] == "StatefulSet")
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"


def test_invalid_stack_adds_no_chart_to_the_cdk8s_app(cdk8s: ModuleType) -> None:
    app = cdk8s.App()
    with pytest.raises(ValidationError, match=r"InferenceStack 'llama': gpus must be"):
        InferenceStack(app, "llama", model=MODEL, image=IMAGE, gpus=0)
    assert list(app.charts) == []


def test_cdk8s_chart_joins_the_scope_pipeline(cdk8s: ModuleType) -> None:
    app = cdk8s.App()
    chart = cdk8s.Chart(app, "extras")
    cdk8s.ApiObject(
        chart,
        "config",
        api_version="v1",
        kind="ConfigMap",
        metadata=cdk8s.ApiObjectMetadata(name="router-config", namespace="inference"),
    )
    scope = Scope(namespace="inference", blueprint="llama")
    InferenceStack(scope, "llama", model=MODEL, image=IMAGE)
    scope.add_chart(chart)
    objects = scope.synth()
    config = next(obj for obj in objects if obj["kind"] == "ConfigMap")
    assert config["metadata"]["name"] == "router-config"
    assert config["metadata"]["annotations"][ANNOTATION_CONSTRUCT_PATH] == "extras"
    assert {obj["kind"] for obj in objects} >= {"ConfigMap", "StatefulSet", "Service"}
