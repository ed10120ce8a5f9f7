"""The serving stacks on a real control plane: admitted by the API server, Ready on kwok nodes.

The API server (with every CRD of ``../shared/schemas`` installed) is the judge of what the
stacks render: each object of each stack of the example is server-side applied with
``dryRun=All`` in a fresh namespace. With kwok GPU nodes, a Deployment of a stack and an
endpoint picker's Deployment become available. No LeaderWorkerSet controller runs on the
test control plane, so a LeaderWorkerSet is admitted but never creates pods here.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from gitops.cluster.client import ClusterClient
from gitops.constructs.base import Scope
from gitops.constructs.inference import InferenceStack
from gitops.render.pipeline import render_environments

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "registry.example.com/vllm/vllm-openai:v0.8.5"
EPP = "registry.example.com/gateway-api-inference-extension/epp:v1.0.0"


def _client(kubeconfig: Path) -> ClusterClient:
    return ClusterClient.from_kubeconfig(str(kubeconfig), "test")


def _into(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    if out["metadata"].get("namespace"):
        out["metadata"]["namespace"] = namespace
    for subject in out.get("subjects") or []:
        subject["namespace"] = namespace
    return out


def test_every_object_of_the_example_stacks_is_admitted(
    cluster_kubeconfig: Path, cluster_namespace: str
) -> None:
    rendered = render_environments(ROOT / "blueprints", ROOT / "environments")
    client = _client(cluster_kubeconfig)
    admitted: set[str] = set()
    for manifests in rendered.values():
        for obj in manifests:
            if not obj["metadata"].get("namespace"):
                continue  # the guardrails' cluster-scoped objects: not the stacks
            stored = client.apply(_into(obj, cluster_namespace), dry_run=True)
            assert stored["metadata"]["name"] == obj["metadata"]["name"]
            admitted.add(obj["kind"])
    assert {"LeaderWorkerSet", "InferencePool", "HTTPRoute", "Deployment", "ScaledObject",
            "InferenceService", "NetworkPolicy", "ResourceQuota", "Role"} <= admitted  # fmt: skip


def test_the_api_server_refuses_what_the_schema_refuses(
    cluster_kubeconfig: Path, cluster_namespace: str
) -> None:
    """The dry-run is a real judge: an LWS group of size 0 is refused by its CRD's schema."""
    from gitops.cluster.errors import ClusterError

    scope = Scope(namespace=cluster_namespace)
    InferenceStack(scope, "big", model="m/x", image=IMAGE, gpus=8, cache=None,
                   multi_node={"nodes": 2})  # fmt: skip
    (lws,) = [o for o in scope.synth() if o["kind"] == "LeaderWorkerSet"]
    lws["spec"]["startupPolicy"] = "Whenever"
    with pytest.raises(ClusterError, match=r"startupPolicy"):
        _client(cluster_kubeconfig).apply(lws, dry_run=True)


def _available(client: ClusterClient, obj: dict[str, Any], timeout: float = 120) -> dict:
    from gitops.core.keys import key_of

    deadline = time.monotonic() + timeout
    live: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        live = client.get(key_of(obj))
        status = (live or {}).get("status") or {}
        if status.get("availableReplicas", 0) >= obj["spec"].get("replicas", 1):
            return status
        time.sleep(1)
    raise AssertionError(f"{obj['metadata']['name']} not available: {live and live.get('status')}")


def test_an_inference_pool_stack_becomes_available_on_kwok_gpu_nodes(
    cluster_kubeconfig: Path, cluster_namespace: str
) -> None:
    scope = Scope(namespace=cluster_namespace)
    InferenceStack(scope, "coder", model="m/x", image=IMAGE, gpus=2, replicas=2, cache=None,
                   inference_pool={"epp_image": EPP})  # fmt: skip
    client = _client(cluster_kubeconfig)
    objects = scope.synth()
    for obj in objects:
        client.apply(obj)
    engine = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "coder"
    )
    picker = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "coder-epp"
    )
    assert _available(client, engine)["availableReplicas"] == 2
    assert _available(client, picker)["availableReplicas"] == 1
