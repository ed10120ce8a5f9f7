"""Routing through an InferencePool and its endpoint picker; the canary route; warm-up."""

from __future__ import annotations

from typing import Any

import pytest
from k8s_schemas import validate

from gitops import InferenceCanary, InferenceStack, Scope, ValidationError
from gitops.policy import evaluate

IMAGE = "registry.example.com/vllm/vllm-openai:v0.8.5"
EPP = "registry.example.com/gateway-api-inference-extension/epp:v1.0.0"


def render(**kwargs: Any) -> list[dict[str, Any]]:
    scope = Scope(namespace="inference")
    params = {"model": "Qwen/Qwen2.5-Coder-7B-Instruct", "image": IMAGE,
              "inference_pool": {"epp_image": EPP}, **kwargs}  # fmt: skip
    InferenceStack(scope, "coder", **params)
    return scope.synth()


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_every_object_is_valid_for_its_schema() -> None:
    objects = render(route={"parent_refs": ["gw/public"]}, warm_up=True)
    for obj in objects:
        validate(obj)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {("InferencePool", "coder"), ("Deployment", "coder-epp"), ("Service", "coder-epp"),
            ("ServiceAccount", "coder-epp"), ("Role", "coder-epp"), ("RoleBinding", "coder-epp"),
            ("ConfigMap", "coder-epp")} <= kinds  # fmt: skip


def test_the_pool_selects_the_engine_pods_and_names_its_picker() -> None:
    objects = render()
    pool = one(objects, "InferencePool", "coder")["spec"]
    engine = one(objects, "StatefulSet", "coder")
    assert pool["selector"]["matchLabels"] == engine["spec"]["selector"]["matchLabels"]
    assert pool["targetPorts"] == [{"number": 8000}]
    assert pool["endpointPickerRef"] == {
        "name": "coder-epp", "port": {"number": 9002}, "failureMode": "FailClose"
    }  # fmt: skip
    epp_service = one(objects, "Service", "coder-epp")["spec"]
    assert {"name": "grpc-ext-proc", "protocol": "TCP", "port": 9002, "targetPort": 9002,
            "appProtocol": "http2"} in epp_service["ports"]  # fmt: skip
    epp = one(objects, "Deployment", "coder-epp")["spec"]["template"]
    assert epp["metadata"]["labels"]["gitops.dev/kube-api-access"] == "true"
    assert not all(
        epp["metadata"]["labels"].get(k) == v for k, v in pool["selector"]["matchLabels"].items()
    )  # the picker is not a model server of its own pool
    assert epp["spec"]["containers"][0]["args"][:4] == [
        "--pool-name", "coder", "--pool-namespace", "inference"
    ]  # fmt: skip


def test_the_picker_may_read_pods_and_pools_only() -> None:
    rules = one(render(), "Role", "coder-epp")["rules"]
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]} in rules
    assert all(set(rule["verbs"]) == {"get", "watch", "list"} for rule in rules)
    binding = one(render(), "RoleBinding", "coder-epp")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "coder-epp", "namespace": "inference"}
    ]


def test_the_route_sends_traffic_to_the_pool() -> None:
    route = one(render(route={"parent_refs": ["gw/public"]}), "HTTPRoute", "coder")
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "coder"}
    ]


@pytest.mark.parametrize("engine", ["vap", "kyverno"])
def test_the_picker_passes_the_shipped_guardrails(engine: str) -> None:
    """A pod without GPUs (the picker) is not denied by the GPU rules of either engine."""
    from gitops.constructs.guardrails import ClusterGuardrails

    scope = Scope(namespace="inference")
    ClusterGuardrails(scope, "cluster", engine=engine, allowed_registries=["registry.example.com/"])
    InferenceStack(scope, "coder", model="m/x-1B", image=IMAGE, inference_pool={"epp_image": EPP})
    denied = [v for v in evaluate(scope.synth()) if "coder-epp" in v.key.name]
    assert denied == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inference_pool": {"epp_image": "epp"}, "strict": True}, r"image must be pinned"),
        (
            {"inference_pool": {"failure_mode": "Retry"}},
            r"inference_pool.failure_mode must be FailClose or FailOpen",
        ),
        ({"inference_pool": {"replicas": 0}}, r"inference_pool.replicas must be an integer >= 1"),
        ({"inference_pool": {"memory": "lots"}}, r"inference_pool.memory must be a positive"),
        (
            {"inference_pool": True, "mode": "kserve", "model": "hf://m/x"},
            r"mode must be vllm with inference_pool",
        ),
    ],
)
def test_invalid_routing_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=r"InferenceStack 'coder': " + message):
        render(**kwargs)


def _canary(weights: tuple[int, int] = (90, 10), **route: Any) -> list[dict[str, Any]]:
    scope = Scope(namespace="inference")
    InferenceStack(scope, "coder", model="m/x-1B", image=IMAGE, inference_pool={"epp_image": EPP})
    InferenceStack(scope, "coder-next", model="m/y-1B", image=IMAGE)
    InferenceCanary(
        scope, "code", route={"parent_refs": ["gw/public"], **route},
        backends=[{"stack": "coder", "weight": weights[0]},
                  {"stack": "coder-next", "weight": weights[1]}],
    )  # fmt: skip
    return scope.synth()


def test_a_canary_splits_one_route_between_two_versions_by_weight() -> None:
    route = one(_canary(hostnames=["code.example.com"]), "HTTPRoute", "code")
    validate(route)
    assert route["spec"]["hostnames"] == ["code.example.com"]
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "coder",
         "weight": 90},
        {"name": "coder-next", "port": 8000, "weight": 10},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("backends", "message"),
    [
        ([{"stack": "coder", "weight": 1}], r"backends must be at least two stacks"),
        (
            [{"stack": "coder", "weight": 1}, {"stack": "nope", "weight": 1}],
            r"backends\[1\].stack must be an InferenceStack of this blueprint "
            r"\(coder, routed\), got 'nope'",
        ),
        (
            [{"stack": "coder", "weight": 1}, {"stack": "routed", "weight": 1}],
            r"backends\[1\].stack must be a stack without its own route",
        ),
        (
            [{"stack": "coder", "weight": -1}, {"stack": "coder", "weight": 1}],
            r"backends\[0\].weight must be an integer >= 0",
        ),
        (
            [{"stack": "coder", "weight": 0}, {"stack": "coder", "weight": 0}],
            r"backends must be at least one weight above 0, got 0",
        ),
        (
            [{"stack": "coder"}, {"stack": "coder", "weight": 1}],
            r"backends\[0\] must be a mapping with keys stack and weight",
        ),
    ],
)
def test_invalid_canaries_are_refused(backends: list[dict[str, Any]], message: str) -> None:
    scope = Scope(namespace="inference")
    InferenceStack(scope, "coder", model="m/x-1B", image=IMAGE)
    InferenceStack(scope, "routed", model="m/x-1B", image=IMAGE, route={"parent_refs": ["gw/a"]})
    with pytest.raises(ValidationError, match=r"InferenceCanary 'code': " + message):
        InferenceCanary(scope, "code", route={"parent_refs": ["gw/public"]}, backends=backends)
    assert [c.id for c in scope.children] == ["coder", "routed"]  # nothing joined the tree


def test_warm_up_fills_the_cache_before_the_engine_starts() -> None:
    objects = render(warm_up=True, hf_token_secret="hf-token")
    pod = one(objects, "StatefulSet", "coder")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    engine = pod["containers"][0]
    assert init["command"] == ["huggingface-cli", "download", "Qwen/Qwen2.5-Coder-7B-Instruct"]
    assert init["image"] == engine["image"]
    cache_mount = next(m for m in engine["volumeMounts"] if m["name"] == "model-cache")
    assert init["volumeMounts"] == [cache_mount]
    assert {"name": "HF_HOME", "value": cache_mount["mountPath"]} in init["env"]
    assert any(e["name"] == "HF_TOKEN" and "valueFrom" in e for e in init["env"])
    assert "initContainers" not in one(render(), "StatefulSet", "coder")["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warm_up": True, "cache": None}, r"warm_up must be used with a cache"),
        (
            {"warm_up": True, "model": "/models/coder", "cache": {"size": "20Gi"}},
            r"warm_up must be off for a model path",
        ),
        ({"warm_up": {"command": []}}, r"warm_up.command must be a non-empty list"),
        ({"warm_up": {"memory": "0"}}, r"warm_up.memory must be a positive"),
    ],
)
def test_warm_up_that_cannot_work_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=r"InferenceStack 'coder': " + message):
        render(**kwargs)
