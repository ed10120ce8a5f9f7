"""The model cache: one volume per replica or a shared ReadWriteMany one, sized from the model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops import InferenceStack, Scope, ValidationError
from gitops.constructs.inference_options import parameter_count, weights_bytes
from gitops.core.quantity import parse_quantity

Manifest = dict[str, Any]
IMAGE = "vllm/vllm-openai:v0.19.1"


def render(model: str = "meta-llama/Llama-3.1-8B-Instruct", **kwargs: Any) -> list[Manifest]:
    scope = Scope(namespace="inference")
    InferenceStack(scope, "llama", model=model, image=IMAGE, **kwargs)
    return scope.synth()


def of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [obj for obj in objects if obj["kind"] == kind]


def test_read_write_once_cache_is_one_claim_per_replica() -> None:
    objects = render(replicas=3)
    assert of_kind(objects, "PersistentVolumeClaim") == []
    assert of_kind(objects, "Deployment") == []
    (sts,) = of_kind(objects, "StatefulSet")
    (template,) = sts["spec"]["volumeClaimTemplates"]
    assert template["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = sts["spec"]["template"]["spec"]
    mounted = {m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert template["metadata"]["name"] in mounted
    # the per-replica volume comes from the template, never from a shared claim
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["serviceName"] == "llama"


def test_read_write_many_cache_is_one_shared_claim_on_a_deployment() -> None:
    objects = render(replicas=3, cache={"access_mode": "ReadWriteMany", "storage_class": "nfs"})
    (claim,) = of_kind(objects, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (deployment,) = of_kind(objects, "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": "llama-cache"}} in volumes


@pytest.mark.parametrize("access_mode", ["ReadWriteOnce", "ReadWriteOncePod"])
def test_an_existing_single_node_claim_is_refused_for_several_replicas(access_mode: str) -> None:
    cache = {"existing_claim": "models", "access_mode": access_mode}
    with pytest.raises(ValidationError, match=r"cache.access_mode must be ReadWriteMany or .* 3"):
        render(replicas=3, cache=cache)
    with pytest.raises(ValidationError, match=r"up to 5 replicas"):
        render(autoscaling={"kind": "keda", "max_replicas": 5}, cache=cache)
    (deployment,) = of_kind(render(replicas=1, cache=cache), "Deployment")
    assert deployment["spec"]["replicas"] == 1


def test_an_existing_shared_claim_serves_several_replicas() -> None:
    objects = render(replicas=3, cache={"existing_claim": "models", "access_mode": "ReadOnlyMany"})
    assert of_kind(objects, "PersistentVolumeClaim") == []
    assert len(of_kind(objects, "Deployment")) == 1


def test_a_new_read_only_cache_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"cache.access_mode must be writable"):
        render(cache={"access_mode": "ReadOnlyMany"})


def test_cache_is_sized_from_the_model_id() -> None:
    (sts,) = of_kind(render("meta-llama/Llama-3.3-70B-Instruct", gpus=4), "StatefulSet")
    size = sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    # 70e9 bf16 parameters are 140 GB (130.4 GiB): a 100Gi cache cannot hold them
    assert size == "157Gi"
    assert parse_quantity(size) >= 140e9


def test_cache_smaller_than_the_model_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"cache.size must be at least the model's weights"):
        render("meta-llama/Llama-3.3-70B-Instruct", gpus=4, cache={"size": "100Gi"})


def test_cache_size_is_required_when_the_model_does_not_say() -> None:
    with pytest.raises(ValidationError, match=r"cache.size must be given: the size of 'org/m'"):
        render("org/m")
    (sts,) = of_kind(render("org/m", model_size="30Gi"), "StatefulSet")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "36Gi"
    }
    assert of_kind(render("org/m", cache={"size": "5Gi"}), "StatefulSet")


def test_model_size_beats_the_id_and_bounds_the_cache() -> None:
    with pytest.raises(ValidationError, match=r"at least the model's weights \(50.0Gi"):
        render(model_size="50Gi", cache={"size": "40Gi"})


def test_float32_doubles_the_weights() -> None:
    assert weights_bytes("org/x-7B", "float32") == 2 * weights_bytes("org/x-7B", None)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("model", "billions"),
    [
        ("meta-llama/Llama-3.3-70B-Instruct", 70),
        ("Qwen/Qwen2.5-1.5B-Instruct", 1.5),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 56),
        ("BAAI/bge-large-en-v1.5", None),
        ("org/model-7B-vs-13B", None),
    ],
)
def test_parameter_count_is_read_from_the_id(model: str, billions: float | None) -> None:
    assert parameter_count(model) == billions


@given(
    billions=st.integers(min_value=1, max_value=900),
    replicas=st.integers(min_value=1, max_value=8),
    access_mode=st.sampled_from(["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany"]),
)
def test_no_single_node_volume_is_shared_and_every_cache_holds_the_model(
    billions: int, replicas: int, access_mode: str
) -> None:
    objects = render(f"org/m-{billions}B", replicas=replicas, cache={"access_mode": access_mode})
    workloads = of_kind(objects, "Deployment") + of_kind(objects, "StatefulSet")
    (workload,) = workloads
    claims = {c["metadata"]["name"]: c for c in of_kind(objects, "PersistentVolumeClaim")}
    for template in workload["spec"].get("volumeClaimTemplates", []):
        claims[template["metadata"]["name"]] = template
    shared = [
        v["persistentVolumeClaim"]["claimName"]
        for v in workload["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    ]
    for name in shared:  # a claim every replica mounts must attach to several nodes
        assert set(claims[name]["spec"]["accessModes"]) & {"ReadWriteMany", "ReadOnlyMany"}
    for claim in claims.values():
        assert parse_quantity(claim["spec"]["resources"]["requests"]["storage"]) >= billions * 2e9
