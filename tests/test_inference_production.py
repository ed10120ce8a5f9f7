"""Production invariants of every stack the example renders, in every environment.

KServe pods are judged as KServe builds them (the runtime's container strategic-merged
with ours by kubectl); Pod Security by the pod-security-admission checks of
``gitops.policy.pod_security`` here, and by the API server's own admission in
``test_pods_are_admitted_by_the_api_server``.
"""

from __future__ import annotations

import copy
import json
import shlex
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from helpers.kserve_merge import predictor_pod
from k8s_schemas import validate

from gitops import InferenceStack, Scope
from gitops.constructs.inference_options import weights_bytes
from gitops.constructs.inference_params import KSERVE_PROGRESS_DEADLINE
from gitops.core.quantity import parse_quantity
from gitops.policy.pod_security import validate_pod_security
from gitops.render.pipeline import render_environments

ROOT = Path(__file__).resolve().parents[1]
Manifest = dict[str, Any]
ENGINES = ("Deployment", "StatefulSet", "InferenceService", "LeaderWorkerSet")
# A vLLM image runs as root: restricted minus running as non-root is what it allows.
ROOT_IMAGE_EXEMPTION = [
    {"controlName": "Running as Non-root"},
    {"controlName": "Running as Non-root", "images": ["*"]},
]


@cache
def example() -> dict[str, list[Manifest]]:
    """The example's blueprints rendered for each of its environments."""
    return render_environments(ROOT / "blueprints", ROOT / "environments")


def extra_variants() -> dict[str, list[Manifest]]:
    """Variants the example does not show: shared RWX cache, non-root, drain and LoRA."""
    out = {}
    for name, kwargs in {
        "rwx-nonroot": {
            "replicas": 3,
            "cache": {"access_mode": "ReadWriteMany"},
            "security": {"run_as_user": 1000},
            "api_key_secret": "llm-api-key",
        },
        "existing-claim-lora": {
            "cache": {"existing_claim": "models", "access_mode": "ReadOnlyMany"},
            "lora": {"adapters": [{"name": "sql", "source": "org/sql-lora"}]},
            "kv_offload": {"size_gib": 16},
            "drain": {"pre_stop_seconds": 20, "shutdown_timeout_seconds": 120},
        },
    }.items():
        scope = Scope(namespace="inference")
        InferenceStack(
            scope, "llama", model="meta-llama/Llama-3.1-8B-Instruct",
            image="vllm/vllm-openai:v0.19.1", **kwargs,
        )  # fmt: skip
        out[name] = scope.synth()
    return out


def engines() -> list[tuple[str, Manifest, list[Manifest]]]:
    """(variant, engine object, the variant's objects) for every engine of every variant."""
    out = []
    for env, objects in {**example(), **extra_variants()}.items():
        for obj in objects:
            component = obj["metadata"]["labels"].get("app.kubernetes.io/component")
            if obj["kind"] in ENGINES and component == "engine":
                out.append((f"{env}/{obj['metadata']['name']}", obj, objects))
    return out


ENGINE_CASES = engines()
IDS = [case[0] for case in ENGINE_CASES]


def test_the_example_renders_each_mode_and_workload_kind() -> None:
    kinds = {obj["kind"] for _, obj, _ in ENGINE_CASES}
    assert kinds == {"Deployment", "StatefulSet", "InferenceService", "LeaderWorkerSet"}
    stacks = {name.split("/")[1] for name, _, _ in ENGINE_CASES if name.split("/")[0] in example()}
    blueprints = {"llama-8b", "llama-70b", "llama-405b", "bge-embed", "qwen-coder"}
    assert blueprints <= stacks
    for env in example():  # every stack renders in every environment
        assert {n.split("/")[1] for n, _, _ in ENGINE_CASES if n.startswith(f"{env}/")} == stacks


def _pod(template: Manifest) -> Manifest:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": dict(template["metadata"]),
            "spec": template["spec"]}  # fmt: skip


@cache
def pods_of(variant: str, tmp: Path) -> tuple[Manifest, ...]:
    """The pods an engine's controller creates, the serving one first (KServe: merged with
    its runtime; LeaderWorkerSet: leader and worker)."""
    obj = next(obj for name, obj, _ in ENGINE_CASES if name == variant)
    if obj["kind"] == "InferenceService":
        return (predictor_pod(obj, tmp),)
    if obj["kind"] == "LeaderWorkerSet":
        group = obj["spec"]["leaderWorkerTemplate"]
        return (_pod(group["leaderTemplate"]), _pod(group["workerTemplate"]))
    pod = _pod(copy.deepcopy(obj["spec"]["template"]))
    for template in obj["spec"].get("volumeClaimTemplates", []):
        # the StatefulSet controller mounts replica N's own claim <template>-<name>-N
        volume = template["metadata"]["name"]
        claim = f"{volume}-{obj['metadata']['name']}-0"
        pod["spec"]["volumes"].append(
            {"name": volume, "persistentVolumeClaim": {"claimName": claim}}
        )
    return (pod,)


def pod_of(variant: str, tmp: Path) -> Manifest:
    """The serving pod of an engine."""
    return pods_of(variant, tmp)[0]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("merge")


def command_line(container: Manifest) -> list[str]:
    """The engine's arguments (a LeaderWorkerSet leader runs them through ``sh -c``)."""
    args: list[str] = container.get("args") or shlex.split(container["command"][-1])
    return args


def engine_container(pod: Manifest) -> Manifest:
    container: Manifest = pod["spec"]["containers"][0]
    return container


@pytest.mark.parametrize("variant", IDS)
def test_limits_are_at_least_requests_in_the_pod_that_runs(variant: str, tmp: Path) -> None:
    for pod in pods_of(variant, tmp):
        validate(pod)
        spec = pod["spec"]
        containers = [*spec["containers"], *spec.get("initContainers", [])]
        assert_limits_cover_requests(variant, containers)


def assert_limits_cover_requests(variant: str, containers: list[Manifest]) -> None:
    for container in containers:
        resources = container["resources"]
        for name, limit in resources.get("limits", {}).items():
            request = resources.get("requests", {}).get(name)
            if request is not None:
                assert parse_quantity(limit) >= parse_quantity(request), (variant, name)


def startup_budget(container: Manifest) -> int:
    probe = container["startupProbe"]
    return int(probe["periodSeconds"] * probe["failureThreshold"])


@pytest.mark.parametrize("variant", IDS)
def test_progress_deadline_exceeds_the_startup_budget(variant: str, tmp: Path) -> None:
    obj = next(obj for name, obj, _ in ENGINE_CASES if name == variant)
    budget = startup_budget(engine_container(pod_of(variant, tmp)))
    assert budget >= 300  # a model loads for minutes
    if obj["kind"] == "Deployment":
        assert obj["spec"]["progressDeadlineSeconds"] > budget
    elif obj["kind"] == "InferenceService":  # KServe keeps the default deadline
        assert budget < KSERVE_PROGRESS_DEADLINE
    else:  # a StatefulSet or LeaderWorkerSet has no progress deadline to exceed
        assert "progressDeadlineSeconds" not in obj["spec"]


@pytest.mark.parametrize("variant", IDS)
def test_grace_period_outlasts_the_drain(variant: str, tmp: Path) -> None:
    pod = pod_of(variant, tmp)
    container = engine_container(pod)
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    args = command_line(container)
    drain = int(args[args.index("--shutdown-timeout") + 1]) if "--shutdown-timeout" in args else 0
    assert pause > 0
    assert pod["spec"]["terminationGracePeriodSeconds"] > pause + drain


@pytest.mark.parametrize("variant", IDS)
def test_pods_meet_restricted_pod_security_where_the_image_allows(variant: str, tmp: Path) -> None:
    pod = pod_of(variant, tmp)
    assert validate_pod_security({"level": "baseline", "version": "latest"}, pod) == ("pass", "")
    non_root = pod["spec"].get("securityContext", {}).get("runAsNonRoot") is True
    settings: dict[str, Any] = {"level": "restricted", "version": "latest"}
    if not non_root:  # a root image (vLLM's): every other restricted control still holds
        settings["exclude"] = ROOT_IMAGE_EXEMPTION
    assert validate_pod_security(settings, pod) == ("pass", "")
    assert pod["spec"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("variant", IDS)
def test_each_cache_holds_the_model_and_no_single_node_volume_is_shared(variant: str) -> None:
    obj, objects = next((obj, objs) for name, obj, objs in ENGINE_CASES if name == variant)
    if obj["kind"] == "InferenceService":
        return  # KServe's storage initializer downloads into the pod
    claims = {c["metadata"]["name"]: c for c in objects if c["kind"] == "PersistentVolumeClaim"}
    per_replica = obj["spec"].get("volumeClaimTemplates", [])
    pods = pods_of(variant, Path("/nonexistent"))  # not a KServe one: no merge, no file
    shared = [
        v["persistentVolumeClaim"]["claimName"]
        for pod in pods
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    ]
    # autoscaled: assume several; a LeaderWorkerSet group always spans several nodes
    replicas = 2 if obj["kind"] == "LeaderWorkerSet" else obj["spec"].get("replicas", 2)
    for name in shared:
        if name in claims:
            modes = set(claims[name]["spec"]["accessModes"])
            assert replicas <= 1 or modes & {"ReadWriteMany", "ReadOnlyMany"}, variant
    args = command_line(engine_container(pods[0]))
    model = args[args.index("--model") + 1]
    weights = weights_bytes(model, None)
    for claim in [*per_replica, *(claims[n] for n in shared if n in claims)]:
        size = parse_quantity(claim["spec"]["resources"]["requests"]["storage"])
        assert weights is None or size >= weights, (variant, model)


def test_the_kserve_merge_keeps_what_the_runtime_set_and_we_did_not(tmp: Path) -> None:
    (variant,) = [name for name, obj, _ in ENGINE_CASES
                  if obj["kind"] == "InferenceService" and name.startswith("prod/")]  # fmt: skip
    container = engine_container(pod_of(variant, tmp))
    # the runtime's environment survives; its limits.cpu "1" does not
    assert {"name": "LMCACHE_USE_EXPERIMENTAL", "value": "True"} in container["env"]
    assert container["resources"]["limits"]["cpu"] == container["resources"]["requests"]["cpu"]
    assert container["args"][0] == "--model_name=bge-embed"
    # the PodMonitor's portNumber is a port the pod declares (else Prometheus drops it)
    assert [p["containerPort"] for p in container["ports"]] == [8080]


def test_the_hf_token_reaches_kservess_storage_initializer() -> None:
    scope = Scope(namespace="inference")
    InferenceStack(
        scope,
        "gated",
        mode="kserve",
        model="hf://meta-llama/Llama-3.1-8B",
        image="kserve/huggingfaceserver:v0.15.2",
        hf_token_secret="hf-token",
    )
    objects = {obj["kind"]: obj for obj in scope.synth()}
    account = objects["ServiceAccount"]
    # the storage initializer reads HF_TOKEN from the Secrets its ServiceAccount lists
    assert account["secrets"] == [{"name": "hf-token"}]
    predictor = objects["InferenceService"]["spec"]["predictor"]
    assert predictor["serviceAccountName"] == account["metadata"]["name"]
    env = predictor["model"]["env"]
    assert env == [
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}}}
    ]


def _dry_run(core: Any, namespace: str, pod: Manifest) -> str | None:
    """Server-side dry-run create of ``pod``; the refusal, if any."""
    from kubernetes.client.exceptions import ApiException

    try:
        core.create_namespaced_pod(namespace, pod, dry_run="All")
    except ApiException as err:
        return f"{pod['metadata']['name']}: {err.status} {err.body}"
    return None


def _enforced(core: Any, namespace: str, level: str) -> bool:
    """Whether Pod Security admission already enforces ``level`` on ``namespace`` (its
    namespace cache may lag the label by a moment)."""
    probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
             "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                      "securityContext": {"privileged": True}}]}}  # fmt: skip
    for _ in range(20):
        if _dry_run(core, namespace, probe) is not None:
            return True
        time.sleep(0.5)
    return False


def test_pods_are_admitted_by_the_api_server(
    cluster_kubeconfig: Path, cluster_namespace: str, tmp: Path
) -> None:
    from kubernetes import client, config

    restricted, baseline = [], []
    for variant, _, _ in ENGINE_CASES:
        for index, pod in enumerate(pods_of(variant, tmp)):
            pod = json.loads(json.dumps(pod))
            name = f"{variant.replace('/', '-')}-{index}"
            pod["metadata"] = {"name": name, "labels": pod["metadata"]["labels"]}
            non_root = pod["spec"]["securityContext"].get("runAsNonRoot") is True
            (restricted if non_root else baseline).append(pod)
    assert restricted and baseline
    accounts = {pod["spec"]["serviceAccountName"] for pod in restricted + baseline}
    strict_ns = f"{cluster_namespace}-restricted"
    with config.new_client_from_config(str(cluster_kubeconfig)) as api:
        core = client.CoreV1Api(api)
        label = "pod-security.kubernetes.io/enforce"
        core.patch_namespace(cluster_namespace, {"metadata": {"labels": {label: "baseline"}}})
        core.create_namespace({"metadata": {"name": strict_ns, "labels": {label: "restricted"}}})
        try:
            for namespace in (cluster_namespace, strict_ns):
                for account in sorted(accounts):
                    core.create_namespaced_service_account(
                        namespace, {"metadata": {"name": account}}
                    )
            if not _enforced(core, strict_ns, "restricted"):
                pytest.skip("the API server under test runs no Pod Security admission")
            assert _enforced(core, cluster_namespace, "baseline")
            refused = [_dry_run(core, strict_ns, pod) for pod in restricted]
            refused += [_dry_run(core, cluster_namespace, pod) for pod in baseline]
        finally:
            core.delete_namespace(strict_ns)
    assert [r for r in refused if r is not None] == []
