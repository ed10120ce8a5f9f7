"""Drain, security, API key, autoscaling plumbing, LoRA, KV offload and parallelism checks."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import yaml
from k8s_schemas import validate

from gitops import InferenceStack, Scope, StackWarning, ValidationError

Manifest = dict[str, Any]
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
IMAGE = "vllm/vllm-openai:v0.19.1"
KSERVE_IMAGE = "kserve/huggingfaceserver:v0.15.2-gpu"


def render(**kwargs: Any) -> list[Manifest]:
    scope = Scope(namespace="inference")
    InferenceStack(scope, "llama", **{"model": MODEL, "image": IMAGE, **kwargs})
    objects = scope.synth()
    for obj in objects:
        validate(obj)
    return objects


def one(objects: list[Manifest], kind: str) -> Manifest:
    (found,) = [obj for obj in objects if obj["kind"] == kind]
    return found


def pod(objects: list[Manifest]) -> Manifest:
    (workload,) = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def test_pods_drain_before_the_engine_stops() -> None:
    spec = pod(render())
    container = spec["containers"][0]
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 10}}}
    args = container["args"]
    assert args[args.index("--shutdown-timeout") + 1] == "30"
    assert spec["terminationGracePeriodSeconds"] == 60


def test_drain_is_configurable_and_the_grace_must_outlast_it() -> None:
    spec = pod(render(drain={"pre_stop_seconds": 15, "shutdown_timeout_seconds": 120}))
    args = spec["containers"][0]["args"]
    assert args[args.index("--shutdown-timeout") + 1] == "120"
    assert spec["terminationGracePeriodSeconds"] == 155
    with pytest.raises(ValidationError, match=r"drain.grace_seconds must be more than .* \(40\)"):
        render(drain={"pre_stop_seconds": 10, "grace_seconds": 40})


def test_shutdown_timeout_follows_what_the_image_supports() -> None:
    old = pod(render(image="vllm/vllm-openai:v0.8.5"))
    assert "--shutdown-timeout" not in old["containers"][0]["args"]
    assert old["terminationGracePeriodSeconds"] == 30  # the pause still drains endpoints
    with pytest.raises(ValidationError, match=r"drain.shutdown_timeout_seconds must be unset"):
        render(image="vllm/vllm-openai:v0.8.5", drain={"shutdown_timeout_seconds": 60})
    pinned = pod(render(image="vllm/vllm-openai@sha256:" + "a" * 64))
    assert "--shutdown-timeout" in pinned["containers"][0]["args"]
    off = pod(render(drain={"shutdown_timeout_seconds": 0}))
    assert "--shutdown-timeout" not in off["containers"][0]["args"]


def test_deployment_progress_deadline_exceeds_the_startup_budget() -> None:
    objects = render(cache={"access_mode": "ReadWriteMany"})
    assert one(objects, "Deployment")["spec"]["progressDeadlineSeconds"] == 1500
    with pytest.raises(ValidationError, match=r"progress_deadline_seconds must be more than the"):
        render(progress_deadline_seconds=900)
    with pytest.raises(ValidationError, match=r"probes must be a startup budget below 600 s"):
        render(mode="kserve", image=KSERVE_IMAGE, probes={"startup_failure_threshold": 60})


def test_containers_drop_privileges_and_use_their_own_account() -> None:
    objects = render()
    spec = pod(objects)
    security = spec["containers"][0]["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "runAsNonRoot" not in spec["securityContext"]  # vLLM's image runs as root
    account = one(objects, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == account["metadata"]["name"]
    assert spec["automountServiceAccountToken"] is False


def test_a_non_root_user_gets_a_writable_home_and_cache() -> None:
    spec = pod(render(security={"run_as_user": 1000}))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["fsGroup"] == 1000
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env["HF_HOME"] == "/data/huggingface"
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert {env["HOME"], "/data/huggingface"} <= mounts


def test_api_key_comes_from_a_secret_reference() -> None:
    env = pod(render(api_key_secret="llm-api-key"))["containers"][0]["env"]
    assert {
        "name": "VLLM_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "llm-api-key", "key": "api-key"}},
    } in env
    with pytest.raises(ValidationError, match=r"api_key_secret.name must be a DNS-1123 .* 40 ch"):
        render(api_key_secret="sk_Live" + "x" * 33)
    with pytest.raises(ValidationError, match=r"api_key_secret must be unset in kserve mode"):
        render(mode="kserve", image=KSERVE_IMAGE, api_key_secret="k")


def test_kserve_token_key_must_be_what_the_storage_initializer_reads() -> None:
    with pytest.raises(ValidationError, match=r"hf_token_secret.key must be 'HF_TOKEN'"):
        render(mode="kserve", image=KSERVE_IMAGE, hf_token_secret={"name": "t", "key": "token"})


def test_kserve_pod_runs_as_non_root_with_probes() -> None:
    model = one(render(mode="kserve", image=KSERVE_IMAGE), "InferenceService")["spec"]
    assert model["predictor"]["securityContext"]["runAsNonRoot"] is True
    container = model["predictor"]["model"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    assert container["startupProbe"]["failureThreshold"] * 10 < 600


def test_hpa_has_its_adapter_rule_and_a_scale_up_window() -> None:
    objects = render(autoscaling={"kind": "hpa", "max_replicas": 4})
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["behavior"]["scaleUp"] == {"stabilizationWindowSeconds": 180}
    served = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    config = one(objects, "ConfigMap")
    assert config["metadata"]["labels"]["gitops.dev/metrics-adapter"] == "prometheus-adapter"
    (rule,) = yaml.safe_load(config["data"]["rules.yaml"])["rules"]
    # the adapter serves the series' name renamed by the rule: the HPA must ask for that one
    series = rule["seriesQuery"].split("{")[0]
    assert rule["name"]["as"] == served != series
    assert 'namespace="inference"' in rule["seriesQuery"]
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


def test_keda_falls_back_without_scaling_down() -> None:
    objects = render(autoscaling={"kind": "keda", "min_replicas": 2, "max_replicas": 6})
    spec = one(objects, "ScaledObject")["spec"]
    assert spec["fallback"] == {
        "failureThreshold": 3,
        "replicas": 2,
        "behavior": "currentReplicasIfHigher",
    }
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 180
    assert spec["scaleTargetRef"]["kind"] == "StatefulSet"
    assert '"llama-[0-9]+"' in spec["triggers"][0]["metadata"]["query"]


def test_monitors_carry_the_label_prometheus_selects() -> None:
    labels = {"release": "kube-prometheus-stack"}
    monitor = one(render(monitor_labels=labels), "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    pod_monitor = one(
        render(mode="kserve", image=KSERVE_IMAGE, monitor_labels=labels), "PodMonitor"
    )
    assert pod_monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    with pytest.raises(ValidationError, match=r"monitor_labels key must be a label name"):
        render(monitor_labels={"bad key": "x"})


def test_lora_adapters_and_kv_offload_become_engine_arguments() -> None:
    args = pod(
        render(
            lora={"adapters": [{"name": "sql", "source": "org/sql-lora"}], "max_rank": 64},
            kv_offload={"size_gib": 16},
        )
    )["containers"][0]["args"]
    assert args[args.index("--lora-modules") + 1] == "sql=org/sql-lora"
    assert args[args.index("--max-lora-rank") + 1] == "64"
    assert "--enable-lora" in args
    assert args[args.index("--kv-offloading-size") + 1] == "16"
    assert args[args.index("--kv-offloading-backend") + 1] == "native"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lora": {"adapters": []}}, r"lora.adapters must be at least one adapter"),
        ({"lora": {"adapters": [{"name": "a b", "source": "x"}]}}, r"adapters\[0\].name must be"),
        (
            {"lora": {"adapters": [{"name": "a", "source": "x"}, {"name": "a", "source": "y"}]}},
            r"adapters\[1\].name must be unique",
        ),
        ({"lora": {"adapters": [{"name": "a", "source": "x"}], "max_rank": 7}}, r"max_rank"),
        ({"kv_offload": {"size_gib": 30}}, r"kv_offload.size_gib must be at most memory \(32Gi\)"),
        ({"kv_offload": {"backend": "disk"}}, r"kv_offload.backend must be one of native, lmcache"),
        ({"drain": {"pre_stop_seconds": 0}}, r"drain.pre_stop_seconds must be an integer >= 1"),
        ({"security": {"run_as_user": 0}}, r"security.run_as_user must be an integer >= 1"),
        ({"autoscaling": {"scale_up_seconds": 4000}}, r"scale_up_seconds must be at most 3600"),
    ],
)
def test_bad_options_are_refused_naming_the_field(kwargs: dict[str, Any], message: str) -> None:
    scope = Scope(namespace="inference")
    with pytest.raises(ValidationError, match=message):
        InferenceStack(scope, "llama", model=MODEL, image=IMAGE, **kwargs)
    assert scope.synth() == []


def test_tensor_parallel_degree_dividing_no_head_count_warns() -> None:
    with pytest.warns(StackWarning, match=r"tensor_parallel_size 3 divides none"):
        render(gpus=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render(gpus=4)
        render(gpus=6, tensor_parallel_size=2)
