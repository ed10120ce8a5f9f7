"""InferenceStack: what a stack renders in each mode, overrides, and refusal of bad input."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from k8s_schemas import crd_schemas, validate

from gitops import (
    Autoscaling,
    Disruption,
    InferenceStack,
    ModelCache,
    ParentRef,
    Probes,
    Route,
    Scope,
    SecretKeyRef,
    ValidationError,
)
from gitops.core.yaml_io import dump_yaml, load_yaml

MODEL = "hf://meta-llama/Llama-3.1-8B-Instruct"
IMAGE = "vllm/vllm-openai:v0.6.3"
KSERVE_IMAGE = "kserve/huggingfaceserver:v0.15.2-gpu"

Manifest = dict[str, Any]


def render(overrides: dict[str, Any] | None = None, **kwargs: Any) -> list[Manifest]:
    """Render one stack named ``llama`` in namespace ``inference`` through a pure Scope."""
    scope = Scope(namespace="inference", overrides={"llama": overrides} if overrides else None)
    InferenceStack(scope, "llama", **{"model": MODEL, "image": IMAGE, **kwargs})
    return scope.synth()


def one(objects: list[Manifest], kind: str) -> Manifest:
    """The single object of ``kind``."""
    found = [obj for obj in objects if obj["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kinds(objects: list[Manifest]) -> list[str]:
    """The kinds rendered, sorted."""
    return sorted(obj["kind"] for obj in objects)


def engine(objects: list[Manifest]) -> Manifest:
    """The engine workload: the Deployment, or the StatefulSet of a per-replica cache."""
    found = [obj for obj in objects if obj["kind"] in ("Deployment", "StatefulSet")]
    assert len(found) == 1, f"expected one engine workload, found {len(found)}"
    return found[0]


def container(objects: list[Manifest]) -> Manifest:
    """The engine container of the workload."""
    containers: list[Manifest] = engine(objects)["spec"]["template"]["spec"]["containers"]
    return containers[0]


def pod_labels(objects: list[Manifest]) -> dict[str, str]:
    """The engine's pod template labels."""
    labels: dict[str, str] = engine(objects)["spec"]["template"]["metadata"]["labels"]
    return labels


FULL: dict[str, Any] = {
    "gpus": 2,
    "tensor_parallel_size": 2,
    "gpu_product": "NVIDIA-A100-SXM4-80GB",
    "max_model_len": 8192,
    "gpu_memory_utilization": 0.9,
    "dtype": "bfloat16",
    "extra_args": ["--enable-prefix-caching"],
    "cache": {"size": "200Gi", "storage_class": "fast-rwx", "access_mode": "ReadWriteMany"},
    "hf_token_secret": {"name": "hf-token", "key": "token"},
    "priority_class": "inference-high",
    "runtime_class": "nvidia",
    "autoscaling": {"kind": "keda", "min_replicas": 1, "max_replicas": 6, "threshold": 5},
    "pdb": {"max_unavailable": 1},
    "route": {"parent_refs": ["gateways/public"], "hostnames": ["llm.example.com"]},
    "labels": {"team": "ml-platform", "cost-center": "cc-42"},
}


#: FULL for kserve mode: KServe's storage initializer reads the token from the key HF_TOKEN.
KSERVE_FULL: dict[str, Any] = {
    **FULL,
    "image": KSERVE_IMAGE,
    "hf_token_secret": {"name": "hf-token", "key": "HF_TOKEN"},
}


@pytest.fixture
def full() -> list[Manifest]:
    """A 2-GPU, tensor-parallel-2 stack with KEDA, PDB, ServiceMonitor and HTTPRoute."""
    return render(**FULL)


def test_default_stack_is_a_complete_production_set() -> None:
    objects = render(gpus=1)
    assert kinds(objects) == [
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "StatefulSet",
    ]
    names = {obj["kind"]: obj["metadata"]["name"] for obj in objects}
    assert set(names.values()) == {"llama"}
    assert engine(objects)["spec"]["replicas"] == 1


def test_every_object_is_in_the_stack_namespace_with_recommended_labels() -> None:
    for obj in render():
        assert obj["metadata"]["namespace"] == "inference"
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "llama"
        assert labels["app.kubernetes.io/managed-by"] == "gitops"
        assert {"app.kubernetes.io/name", "app.kubernetes.io/component"} <= set(labels)
        assert {"app.kubernetes.io/part-of"} <= set(labels)


def test_namespace_parameter_overrides_scope_namespace() -> None:
    assert {obj["metadata"]["namespace"] for obj in render(namespace="llm")} == {"llm"}


def test_model_is_passed_to_vllm_without_hf_scheme() -> None:
    args = container(render())["args"]
    assert args[args.index("--model") + 1] == "meta-llama/Llama-3.1-8B-Instruct"
    assert args[args.index("--port") + 1] == "8000"


def test_engine_arguments_follow_parameters(full: list[Manifest]) -> None:
    args = container(full)["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=False))
    assert pairs["--tensor-parallel-size"] == "2"
    assert pairs["--max-model-len"] == "8192"
    assert pairs["--gpu-memory-utilization"] == "0.9"
    assert pairs["--dtype"] == "bfloat16"
    assert args[-1] == "--enable-prefix-caching"


def test_gpus_beyond_one_shard_become_pipeline_stages() -> None:
    args = container(render(gpus=4, tensor_parallel_size=2))["args"]
    assert args[args.index("--pipeline-parallel-size") + 1] == "2"


def test_rollout_replaces_pods_without_a_surge_gpu() -> None:
    strategy = one(render(cache={"access_mode": "ReadWriteMany"}), "Deployment")["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }


def test_gpus_are_requested_and_limited(full: list[Manifest]) -> None:
    resources = container(full)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "2"
    assert resources["requests"]["nvidia.com/gpu"] == "2"
    assert resources["requests"]["cpu"] == "4"
    assert resources["requests"]["memory"] == resources["limits"]["memory"] == "32Gi"


def test_gpu_resource_name_is_configurable() -> None:
    objects = render(gpu_resource="amd.com/gpu")
    assert container(objects)["resources"]["limits"]["amd.com/gpu"] == "1"
    tolerations = engine(objects)["spec"]["template"]["spec"]["tolerations"]
    assert tolerations == [{"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_dev_shm_is_a_memory_backed_empty_dir(full: list[Manifest]) -> None:
    pod = one(full, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in pod["volumes"]
    assert {"name": "shm", "mountPath": "/dev/shm"} in container(full)["volumeMounts"]


def test_model_cache_claim_is_mounted_at_hf_home(full: list[Manifest]) -> None:
    claim = one(full, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "llama-cache"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "fast-rwx",
        "resources": {"requests": {"storage": "200Gi"}},
    }
    pod = one(full, "Deployment")["spec"]["template"]["spec"]
    volume = {"name": "model-cache", "persistentVolumeClaim": {"claimName": "llama-cache"}}
    assert volume in pod["volumes"]
    mount = {"name": "model-cache", "mountPath": "/root/.cache/huggingface"}
    assert mount in container(full)["volumeMounts"]
    assert {"name": "HF_HOME", "value": "/root/.cache/huggingface"} in container(full)["env"]


def test_existing_claim_is_mounted_and_not_created() -> None:
    objects = render(cache=ModelCache(existing_claim="shared-models"))
    assert "PersistentVolumeClaim" not in kinds(objects)
    pod = engine(objects)["spec"]["template"]["spec"]
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": "shared-models"}} in pod[
        "volumes"
    ]


def test_no_cache_renders_no_claim_and_no_mount() -> None:
    objects = render(cache=None)
    assert "PersistentVolumeClaim" not in kinds(objects)
    assert [m["name"] for m in container(objects)["volumeMounts"]] == ["shm"]


def test_probes_give_model_loading_at_least_ten_minutes(full: list[Manifest]) -> None:
    engine = container(full)
    startup = engine["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    assert engine["livenessProbe"]["httpGet"]["path"] == "/health"
    assert engine["readinessProbe"]["httpGet"]["path"] in ("/health", "/v1/models")


def test_probe_paths_and_budget_are_configurable() -> None:
    probes = Probes(readiness_path="/v1/models", startup_failure_threshold=120)
    engine = container(render(probes=probes))
    assert engine["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    assert engine["startupProbe"]["failureThreshold"] == 120


def test_named_http_port(full: list[Manifest]) -> None:
    assert container(full)["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_scheduling_fields(full: list[Manifest]) -> None:
    pod = one(full, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["priorityClassName"] == "inference-high"
    assert pod["runtimeClassName"] == "nvidia"


def test_explicit_empty_tolerations_render_none() -> None:
    pod = engine(render(tolerations=[]))["spec"]["template"]["spec"]
    assert "tolerations" not in pod


def test_hf_token_is_referenced_from_a_secret(full: list[Manifest]) -> None:
    env = {item["name"]: item for item in container(full)["env"]}
    assert env["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    }
    assert "value" not in env["HF_TOKEN"]


def test_keda_scaled_object_targets_the_deployment(full: list[Manifest]) -> None:
    scaled = one(full, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == one(full, "Deployment")["metadata"]["name"]
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 6)
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["threshold"] == "5"
    assert trigger["metadata"]["serverAddress"].startswith("http://")
    assert "vllm:num_requests_waiting" in trigger["metadata"]["query"]
    assert 'namespace="inference"' in trigger["metadata"]["query"]


def test_autoscaled_deployment_leaves_replicas_to_the_autoscaler(full: list[Manifest]) -> None:
    assert "replicas" not in engine(full)["spec"]


def test_hpa_scales_on_the_vllm_pods_metric() -> None:
    objects = render(autoscaling=Autoscaling(kind="hpa", min_replicas=2, max_replicas=5))
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "llama",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "vllm_num_requests_waiting"},
                "target": {"type": "AverageValue", "averageValue": "5"},
            },
        }
    ]


def test_keda_may_scale_to_zero() -> None:
    scaled = one(render(autoscaling={"kind": "keda", "min_replicas": 0}), "ScaledObject")
    assert scaled["spec"]["minReplicaCount"] == 0


def test_autoscaling_bounds_default_from_replicas() -> None:
    hpa = one(render(replicas=2, autoscaling={"kind": "hpa"}), "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)


def test_pdb_selector_matches_pod_labels(full: list[Manifest]) -> None:
    pdb = one(full, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels(full).items()


def test_pdb_min_available_and_disabled() -> None:
    pdb = one(render(pdb={"min_available": 1}), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in pdb["spec"]
    assert "PodDisruptionBudget" not in kinds(render(pdb=None))


def test_selectors_use_only_stable_labels(full: list[Manifest]) -> None:
    deployment = one(full, "Deployment")
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": "llama",
        "app.kubernetes.io/component": "engine",
    }


def test_service_selects_the_pods_on_the_http_port(full: list[Manifest]) -> None:
    service = one(full, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= pod_labels(full).items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]


def test_service_monitor_scrapes_metrics_through_the_service(full: list[Manifest]) -> None:
    monitor = one(full, "ServiceMonitor")
    service_labels = one(full, "Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics"}]
    assert "ServiceMonitor" not in kinds(render(service_monitor=False))


def test_http_route_sends_traffic_to_the_service(full: list[Manifest]) -> None:
    route = one(full, "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateways"}]
    assert route["spec"]["hostnames"] == ["llm.example.com"]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "llama", "port": 8000}]


def test_route_accepts_parent_ref_objects_and_mappings() -> None:
    route = Route(parent_refs=[ParentRef("gw", section_name="https"), {"name": "other"}])
    rendered = one(render(route=route), "HTTPRoute")
    assert rendered["spec"]["parentRefs"] == [
        {"name": "gw", "sectionName": "https"},
        {"name": "other"},
    ]


def test_extra_labels_are_on_every_object_and_the_pod_template(full: list[Manifest]) -> None:
    for obj in full:
        assert obj["metadata"]["labels"]["team"] == "ml-platform"
        assert obj["metadata"]["labels"]["cost-center"] == "cc-42"
    assert pod_labels(full)["team"] == "ml-platform"


def test_dataclasses_and_mappings_render_the_same() -> None:
    as_mappings = render(**FULL)
    as_classes = render(
        **{
            **FULL,
            "cache": ModelCache(
                size="200Gi", storage_class="fast-rwx", access_mode="ReadWriteMany"
            ),
            "hf_token_secret": SecretKeyRef(name="hf-token"),
            "autoscaling": Autoscaling(kind="keda", min_replicas=1, max_replicas=6),
            "pdb": Disruption(max_unavailable=1),
            "route": Route(parent_refs=["gateways/public"], hostnames=["llm.example.com"]),
        }
    )
    assert as_mappings == as_classes


def test_kserve_mode_renders_an_inference_service_instead_of_a_deployment() -> None:
    objects = render(mode="kserve", **KSERVE_FULL)
    assert kinds(objects) == [
        "HTTPRoute",
        "InferenceService",
        "PodDisruptionBudget",
        "PodMonitor",
        "ServiceAccount",
    ]
    isvc = one(objects, "InferenceService")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    annotations = isvc["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Standard"
    assert annotations["serving.kserve.io/autoscalerClass"] == "keda"
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["modelFormat"] == {"name": "huggingface"}
    assert predictor["model"]["storageUri"] == MODEL
    assert "--model" not in predictor["model"]["args"]
    assert predictor["model"]["args"][:3] == ["--model_name=llama", "--tensor-parallel-size", "2"]
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert predictor["model"]["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert predictor["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert predictor["priorityClassName"] == "inference-high"
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 6)
    external = predictor["autoScaling"]["metrics"][0]["external"]
    assert external["metric"]["backend"] == "prometheus"
    assert external["target"] == {"type": "Value", "value": "5"}


def test_kserve_rollout_replaces_pods_without_a_surge_gpu() -> None:
    isvc = one(render(mode="kserve", image=KSERVE_IMAGE), "InferenceService")
    strategy = isvc["spec"]["predictor"]["deploymentStrategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_kserve_pdb_and_pod_monitor_select_the_predictor_pods() -> None:
    objects = render(mode="kserve", image=KSERVE_IMAGE)
    predictor_labels = one(objects, "InferenceService")["spec"]["predictor"]["labels"]
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= predictor_labels.items()
    monitor = one(objects, "PodMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= predictor_labels.items()


def test_kserve_route_targets_the_predictor_service() -> None:
    objects = render(mode="kserve", image=KSERVE_IMAGE, route={"parent_refs": ["gw"]})
    backend = one(objects, "HTTPRoute")["spec"]["rules"][0]["backendRefs"]
    assert backend == [{"name": "llama-predictor", "port": 80}]


def test_kserve_without_autoscaling_fixes_replicas() -> None:
    isvc = one(render(mode="kserve", image=KSERVE_IMAGE, replicas=3), "InferenceService")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "none"
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (3, 3)


def test_kserve_adds_the_hf_scheme_to_a_bare_model_id() -> None:
    isvc = one(render(mode="kserve", model="Qwen/Qwen2.5-7B"), "InferenceService")
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "hf://Qwen/Qwen2.5-7B"


CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "full-keda": FULL,
    "hpa": {"autoscaling": {"kind": "hpa", "max_replicas": 3}, "pdb": {"min_available": "50%"}},
    "existing-claim-no-extras": {
        "cache": {"existing_claim": "models"},
        "service_monitor": False,
        "pdb": None,
        "replicas": 0,
    },
    "kserve-keda": {**KSERVE_FULL, "mode": "kserve"},
    "kserve-default": {"mode": "kserve", "image": KSERVE_IMAGE},
}


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_every_rendered_object_validates_against_its_schema(name: str) -> None:
    objects = render(**CONFIGURATIONS[name])
    assert objects
    for obj in objects:
        validate(obj)


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_rendering_is_byte_identical_across_runs(name: str) -> None:
    assert dump_yaml(render(**CONFIGURATIONS[name])) == dump_yaml(render(**CONFIGURATIONS[name]))


# --- environment overrides -------------------------------------------------------------


def test_overrides_win_over_blueprint_values() -> None:
    objects = render(
        overrides={"replicas": 3, "gpu_product": "NVIDIA-H100-80GB-HBM3", "image_tag": "v0.6.4"},
        replicas=1,
        gpu_product="NVIDIA-A100-SXM4-80GB",
    )
    deployment = engine(objects)
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert container(objects)["image"] == "vllm/vllm-openai:v0.6.4"


def test_image_tag_override_keeps_registry_port_and_repository() -> None:
    objects = render(overrides={"image_tag": "v2"}, image="registry.local:5000/ai/vllm:v1")
    assert container(objects)["image"] == "registry.local:5000/ai/vllm:v2"


def test_autoscaling_override_is_merged_into_the_blueprint_values() -> None:
    objects = render(
        overrides={"autoscaling": {"min_replicas": 2, "max_replicas": 8}},
        autoscaling={"kind": "keda", "threshold": 7, "max_replicas": 3},
    )
    spec = one(objects, "ScaledObject")["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 8)
    assert spec["triggers"][0]["metadata"]["threshold"] == "7"


def test_any_parameter_can_be_overridden() -> None:
    objects = render(overrides={"shm_size": "8Gi", "service_monitor": False})
    pod = engine(objects)["spec"]["template"]["spec"]
    assert pod["volumes"][0]["emptyDir"]["sizeLimit"] == "8Gi"
    assert "ServiceMonitor" not in kinds(objects)


def test_unknown_override_key_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"InferenceStack 'llama': .*override.*'gpu_count'"):
        render(overrides={"gpu_count": 2})


def test_invalid_override_value_is_refused_like_a_parameter() -> None:
    with pytest.raises(ValidationError, match=r"InferenceStack 'llama': replicas must be .*-1"):
        render(overrides={"replicas": -1})


# --- bad input -------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], str]] = [
    ({"replicas": -1}, r"replicas must be an integer >= 0, got -1"),
    ({"replicas": "2"}, r"replicas must be an integer >= 0, got '2'"),
    ({"gpus": 0}, r"gpus must be an integer >= 1, got 0"),
    ({"gpus": 0, "tensor_parallel_size": 2}, r"gpus must be an integer >= 1, got 0"),
    ({"gpus": 3, "tensor_parallel_size": 2}, r"tensor_parallel_size must be a divisor of gpus"),
    ({"tensor_parallel_size": 0}, r"tensor_parallel_size must be an integer >= 1, got 0"),
    ({"namespace": "Bad_NS"}, r"namespace must be a DNS-1123 label.*'Bad_NS'"),
    ({"hf_token_secret": {"name": "HF Token"}}, r"hf_token_secret.name must be a DNS-1123"),
    ({"hf_token_secret": {"name": "hf", "key": "a b"}}, r"hf_token_secret.key must be"),
    ({"cache": {"existing_claim": "Models!"}}, r"cache.existing_claim must be a DNS-1123"),
    ({"cache": {"size": "lots"}}, r"cache.size must be a positive Kubernetes quantity"),
    ({"cache": {"access_mode": "RWX"}}, r"cache.access_mode must be one of"),
    ({"shm_size": "16 GB"}, r"shm_size must be a positive Kubernetes quantity.*, got '16 GB'"),
    ({"shm_size": "0Gi"}, r"shm_size must be a positive Kubernetes quantity.*, got '0Gi'"),
    ({"cpu": "-1"}, r"cpu must be a positive Kubernetes quantity.*, got '-1'"),
    ({"memory": "0"}, r"memory must be a positive Kubernetes quantity.*, got '0'"),
    ({"strict": True, "image": "vllm/vllm-openai:latest"}, r"image must be pinned.*:latest'"),
    ({"strict": True, "image": "vllm/vllm-openai"}, r"image must be pinned.*'vllm/vllm-openai'"),
    ({"image": "not an image"}, r"image must be a container image reference"),
    ({"autoscaling": {"kind": "vpa"}}, r"autoscaling.kind must be one of none, hpa, keda"),
    (
        {"autoscaling": {"kind": "hpa", "min_replicas": 5, "max_replicas": 2}},
        r"autoscaling.min_replicas must be <= autoscaling.max_replicas \(2\), got 5",
    ),
    (
        {"autoscaling": {"kind": "hpa", "min_replicas": 0}},
        r"autoscaling.min_replicas must be an integer >= 1, got 0",
    ),
    ({"autoscaling": {"kind": "keda", "threshold": 0}}, r"autoscaling.threshold must be"),
    ({"autoscaling": {"kind": "keda", "windows": 3}}, r"autoscaling must be .*'windows'"),
    ({"gpu_memory_utilization": 1.5}, r"gpu_memory_utilization must be a number in \(0, 1\]"),
    ({"gpu_memory_utilization": 0}, r"gpu_memory_utilization must be a number in \(0, 1\]"),
    ({"mode": "triton"}, r"mode must be one of vllm, kserve, got 'triton'"),
    ({"mode": "kserve", "autoscaling": {"kind": "hpa"}}, r"autoscaling.kind must be 'none' or"),
    ({"probes": {"timeout": 3}}, r"probes must be .*'timeout'"),
    ({"probes": {"period_seconds": 0}}, r"probes.period_seconds must be an integer >= 1"),
    ({"pdb": {"max_unavailable": 1, "min_available": 1}}, r"pdb must be exactly one of"),
    ({"pdb": {"max_unavailable": "half"}}, r"pdb.max_unavailable must be"),
    ({"route": {"parent_refs": []}}, r"route.parent_refs must be at least one"),
    ({"route": {"parent_refs": ["gw"], "hostnames": ["bad host"]}}, r"route.hostnames\[0\]"),
    (
        {"route": {"parent_refs": [{"name": "gw", "port": 1}]}},
        r"route.parent_refs\[0\] must be .*'port'",
    ),
    ({"dtype": "fp8"}, r"dtype must be one of"),
    ({"max_model_len": 0}, r"max_model_len must be an integer >= 1, got 0"),
    ({"extra_args": "--enforce-eager"}, r"extra_args must be a list of strings"),
    ({"tolerations": [{"key": "x", "effects": "NoSchedule"}]}, r"tolerations\[0\] must be"),
    ({"tolerations": [{"key": "x", "effect": "Never"}]}, r"tolerations\[0\].effect must be"),
    ({"tolerations": [{"key": "x", "operator": "In"}]}, r"tolerations\[0\].operator must be"),
    ({"labels": {"app.kubernetes.io/instance": "x"}}, r"labels key must be not one the stack"),
    ({"labels": {"team": "a b"}}, r"labels\['team'\] must be a label value"),
    ({"gpu_resource": "gpu"}, r"gpu_resource must be an extended resource name"),
    ({"gpu_product": "A100 80GB"}, r"gpu_product must be a node label value"),
    ({"priority_class": "High"}, r"priority_class must be a DNS-1123 subdomain"),
    ({"port": 70000}, r"port must be a port number in 1..65535, got 70000"),
    ({"service_monitor": "yes"}, r"service_monitor must be true or false, got 'yes'"),
    ({"model": "s3://bucket/llama"}, r"model must be a Hugging Face id"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input_is_refused_and_nothing_is_registered(
    kwargs: dict[str, Any], message: str
) -> None:
    scope = Scope(namespace="inference")
    with pytest.raises(ValidationError, match=r"^InferenceStack 'llama': " + message):
        InferenceStack(scope, "llama", **{"model": MODEL, "image": IMAGE, **kwargs})
    assert scope.children == []
    assert scope.synth() == []


@pytest.mark.parametrize("bad_id", ["Llama", "llama_8b", "8b-llama", "-llama", "x" * 64])
def test_invalid_stack_names_are_refused(bad_id: str) -> None:
    scope = Scope()
    with pytest.raises(ValidationError, match=rf"InferenceStack '{bad_id}': name must be"):
        InferenceStack(scope, bad_id, model=MODEL, image=IMAGE)
    assert scope.children == []


def test_kserve_names_leave_room_for_the_predictor_suffix() -> None:
    with pytest.raises(ValidationError, match=r"name must be at most 53 characters"):
        InferenceStack(Scope(), "l" * 60, model=MODEL, image=KSERVE_IMAGE, mode="kserve")


def test_strict_accepts_pinned_tags_and_digests() -> None:
    digest = "vllm/vllm-openai@sha256:" + "a" * 64
    assert container(render(strict=True, image=digest))["image"] == digest
    assert container(render(strict=True))["image"] == IMAGE


def test_replicas_zero_parks_the_stack() -> None:
    assert engine(render(replicas=0))["spec"]["replicas"] == 0


# --- declarative specs -----------------------------------------------------------------


def test_from_spec_builds_the_same_stack_as_the_constructor() -> None:
    spec = {
        "kind": "InferenceStack",
        "name": "llama",
        "model": MODEL,
        "image": IMAGE,
        "gpus": 2,
        "tensorParallelSize": 2,
        "autoscaling": {"kind": "keda", "maxReplicas": 6},
        "hf_token_secret": {"name": "hf-token"},
    }
    scope = Scope(namespace="inference")
    stack = InferenceStack.from_spec(scope, spec, "blueprints/llama.yaml")
    assert stack.tensor_parallel_size == 2
    expected = render(
        gpus=2,
        tensor_parallel_size=2,
        autoscaling={"kind": "keda", "max_replicas": 6},
        hf_token_secret={"name": "hf-token"},
    )
    assert scope.synth() == expected


def test_from_spec_refuses_unknown_keys_naming_source_stack_and_key() -> None:
    spec = {"kind": "InferenceStack", "name": "llama", "model": MODEL, "image": IMAGE, "gpu": 2}
    scope = Scope()
    with pytest.raises(ValidationError, match=r"^bp.yaml: InferenceStack 'llama': .*'gpu'"):
        InferenceStack.from_spec(scope, spec, "bp.yaml")
    assert scope.children == []


def test_from_spec_refuses_wrong_types_naming_source_stack_and_key() -> None:
    spec = {"kind": "InferenceStack", "name": "llama", "model": MODEL, "image": IMAGE}
    with pytest.raises(ValidationError, match=r"^bp.yaml: InferenceStack 'llama': gpus must be"):
        InferenceStack.from_spec(Scope(), {**spec, "gpus": "two"}, "bp.yaml")
    with pytest.raises(ValidationError, match=r"^bp.yaml: InferenceStack 'llama': cache must be"):
        InferenceStack.from_spec(Scope(), {**spec, "cache": "100Gi"}, "bp.yaml")
    with pytest.raises(ValidationError, match=r"^bp.yaml: .*autoscaling must be .*'minimum'"):
        InferenceStack.from_spec(Scope(), {**spec, "autoscaling": {"minimum": 1}}, "bp.yaml")


def test_from_spec_requires_kind_name_model_and_image() -> None:
    base = {"kind": "InferenceStack", "name": "llama", "model": MODEL, "image": IMAGE}
    with pytest.raises(ValidationError, match=r"^bp.yaml: kind must be 'InferenceStack'"):
        InferenceStack.from_spec(Scope(), {**base, "kind": "Deployment"}, "bp.yaml")
    with pytest.raises(ValidationError, match=r"^bp.yaml: InferenceStack name must be a string"):
        InferenceStack.from_spec(Scope(), {k: v for k, v in base.items() if k != "name"}, "bp.yaml")
    with pytest.raises(ValidationError, match=r"^bp.yaml: InferenceStack 'llama': key 'image'"):
        InferenceStack.from_spec(
            Scope(), {k: v for k, v in base.items() if k != "image"}, "bp.yaml"
        )


def test_from_spec_accepts_id_as_the_name() -> None:
    spec = {"kind": "InferenceStack", "id": "llama-8b", "model": MODEL, "image": IMAGE}
    assert InferenceStack.from_spec(Scope(), spec, "bp.yaml").id == "llama-8b"


def test_from_spec_reads_a_yaml_blueprint_document() -> None:
    text = """
kind: InferenceStack
name: llama
model: hf://meta-llama/Llama-3.1-8B-Instruct
image: vllm/vllm-openai:v0.6.3
gpus: 2
gpuProduct: NVIDIA-L40S
hfTokenSecret: {name: hf-token, key: HF_TOKEN}
autoscaling: {kind: keda, minReplicas: 1, maxReplicas: 4}
route:
  parentRefs: [{name: public, namespace: gateways, sectionName: https}]
  hostnames: [llm.example.com]
labels: {team: ml}
"""
    scope = Scope(namespace="inference")
    InferenceStack.from_spec(scope, load_yaml(text, "llama.yaml"), "llama.yaml")
    objects = scope.synth()
    assert kinds(objects) == [
        "HTTPRoute",
        "PodDisruptionBudget",
        "ScaledObject",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "StatefulSet",
    ]
    route = one(objects, "HTTPRoute")
    assert route["spec"]["parentRefs"] == [
        {"name": "public", "namespace": "gateways", "sectionName": "https"}
    ]
    for obj in objects:
        validate(obj)


# --- properties ------------------------------------------------------------------------


@st.composite
def stack_parameters(draw: st.DrawFn) -> dict[str, Any]:
    """Valid parameter combinations across modes, parallelism, scaling and options."""
    gpus = draw(st.sampled_from([1, 2, 4, 8]))
    mode = draw(st.sampled_from(["vllm", "kserve"]))
    kinds_allowed = ["none", "keda"] if mode == "kserve" else ["none", "hpa", "keda"]
    kind = draw(st.sampled_from(kinds_allowed))
    low = draw(st.integers(min_value=1, max_value=3))
    return {
        "mode": mode,
        "image": KSERVE_IMAGE if mode == "kserve" else IMAGE,
        "gpus": gpus,
        "tensor_parallel_size": draw(st.sampled_from([d for d in (1, 2, 4, 8) if gpus % d == 0])),
        "replicas": draw(st.integers(min_value=1, max_value=4)),
        "autoscaling": {"kind": kind, "min_replicas": low, "max_replicas": low + 2},
        "cache": draw(
            st.sampled_from(
                [
                    None,
                    {"existing_claim": "models", "access_mode": "ReadWriteMany"},
                    {"size": "50Gi"},
                    {"access_mode": "ReadWriteMany"},
                ]
            )
        ),
        "pdb": draw(st.sampled_from([None, {"max_unavailable": "25%"}, {"min_available": 1}])),
        "service_monitor": draw(st.booleans()),
        "route": draw(st.sampled_from([None, {"parent_refs": ["gw"]}])),
        "hf_token_secret": draw(st.sampled_from([None, "hf-token"])),
        "drain": draw(st.sampled_from([None, {"pre_stop_seconds": 5, "grace_seconds": 120}])),
        "security": draw(st.sampled_from([None, {"run_as_user": 1000}])),
        "max_model_len": draw(st.sampled_from([None, 4096])),
    }


@cache
def _crd_validator(group: str, version: str, kind: str) -> Any:
    schema = crd_schemas()[(group, version, kind)]
    return jsonschema.validators.validator_for(schema)(schema)


def quick_validate(obj: Manifest) -> None:
    """Like ``k8s_schemas.validate`` but checks each CRD schema once, not on every call.

    The KServe CRD is large enough that re-checking it costs over a second per object.
    """
    group, _, version = obj["apiVersion"].rpartition("/")
    if (group, version, obj["kind"]) not in crd_schemas():
        validate(obj)
        return
    errors = [e.message for e in _crd_validator(group, version, obj["kind"]).iter_errors(obj)]
    assert errors == [], f"{obj['kind']} {obj['metadata']['name']}: {errors}"


@settings(max_examples=30, deadline=None)
@given(stack_parameters())
def test_any_valid_stack_renders_schema_valid_objects(params: dict[str, Any]) -> None:
    objects = render(**params)
    for obj in objects:
        quick_validate(obj)
    if params["mode"] == "kserve":
        assert one(objects, "InferenceService")["metadata"]["name"] == "llama"
    else:
        assert engine(objects)["metadata"]["name"] == "llama"


# --- model revision ----------------------------------------------------------------------


def test_model_revision_is_vllm_revision_argument() -> None:
    objects = render(model_revision="0e9e39f")
    container = engine(objects)["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:6] == [
        "--model", container["args"][1], "--port", "8000", "--revision", "0e9e39f"
    ]  # fmt: skip


def test_model_revision_in_kserve_mode_is_the_storage_uri_suffix() -> None:
    objects = render(mode="kserve", model_revision="main")
    service = next(o for o in objects if o["kind"] == "InferenceService")
    assert service["spec"]["predictor"]["model"]["storageUri"].endswith(":main")
    assert "--revision" not in service["spec"]["predictor"]["model"]["args"]


@pytest.mark.parametrize("revision", ["", "../x", "a b", "rev:1", 7])
def test_model_revision_must_be_a_revision_name(revision: object) -> None:
    with pytest.raises(ValidationError, match=r"model_revision must be a commit hash"):
        render(model_revision=revision)


def test_model_revision_is_refused_for_a_path_in_the_image() -> None:
    with pytest.raises(ValidationError, match=r"model_revision must be set only for a Hugging"):
        render(model="/models/llama", model_revision="main")


def test_unknown_nested_and_override_keys_suggest_the_closest() -> None:
    with pytest.raises(
        ValidationError, match=r"got 'min_replica' \(did you mean 'min_replicas'\?\)"
    ):
        render(autoscaling={"min_replica": 1})
    with pytest.raises(ValidationError, match=r"got 'replica' \(did you mean 'replicas'\?\)"):
        render(overrides={"replica": 2})
