"""Workloads that do and do not fire each inference failure-mode rule (shared corpus).

Each case: (name, rule expected to fire or None, manifest). Used by the ``gitops check``
tests and by the comparison with a real API server's admission.
"""

from __future__ import annotations

import copy
from typing import Any

from gitops.core.keys import Manifest

GPU = "nvidia.com/gpu"
OPTIONS: dict[str, Any] = {
    "gpu_namespaces": ["inference"],
    "min_startup_seconds": 300,
    "gang_schedulers": ["volcano"],
    "gang_queues": ["gpu-queue"],
    "kubernetes_version": "1.32",
}


def container(gpus: int = 1, args: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A vLLM container with ``gpus`` GPUs and a 900 s startup probe unless replaced."""
    probe = {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10,
             "failureThreshold": 90}  # fmt: skip
    body: dict[str, Any] = {
        "name": "vllm",
        "image": "registry.example.com/vllm:v1",
        "args": args if args is not None else ["--model", "m", "--tensor-parallel-size", str(gpus)],
        "resources": {"limits": {GPU: str(gpus)}} if gpus else {},
        "startupProbe": probe,
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def deployment(ns: str, name: str, *containers: dict[str, Any]) -> Manifest:
    """A Deployment running ``containers``."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": list(containers)}},
        },
    }


def lws(ns: str, name: str, size: int, *, scheduler: str | None = None,
        queue: str | None = None, gpus: int = 4, tp: int = 4, pp: int = 2) -> Manifest:  # fmt: skip
    """A LeaderWorkerSet of ``size`` pods of ``gpus`` GPUs, serving with tp x pp."""
    args = ["--model", "m", "--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp)]
    worker: dict[str, Any] = {"containers": [container(gpus, args=args)]}
    if scheduler:
        worker["schedulerName"] = scheduler
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if queue:
        meta["labels"] = {"kueue.x-k8s.io/queue-name": queue}
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "leaderWorkerTemplate": {"size": size, "workerTemplate": {"spec": worker}},
        },
    }


def cases(ns: str) -> list[tuple[str, str | None, Manifest]]:
    """(case, the rule it fires or None, object) in namespace ``ns``."""
    short = container(1)
    short["startupProbe"] = {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10,
                             "failureThreshold": 6}  # fmt: skip
    no_probe = container(1, livenessProbe={"httpGet": {"path": "/health", "port": 8000}})
    del no_probe["startupProbe"]
    worker = container(1)  # a Ray worker: no liveness probe, so nothing kills it early
    del worker["startupProbe"]
    patient = container(1, livenessProbe={"httpGet": {"path": "/h", "port": 8000},
                                          "initialDelaySeconds": 600})  # fmt: skip
    del patient["startupProbe"]
    defaults = container(1)
    defaults["startupProbe"] = {"httpGet": {"path": "/", "port": 8000}, "initialDelaySeconds": 270}
    return [
        ("tp-matches", None, deployment(ns, "ok-tp", container(4))),
        ("no-gpu-no-probe", None, deployment(ns, "cpu", {"name": "c", "image": "r/c:v1"})),
        ("no-startup-probe", "gpu-startup-probe", deployment(ns, "no-probe", no_probe)),
        ("no-liveness-worker", None, deployment(ns, "worker", worker)),
        ("late-liveness", None, deployment(ns, "patient", patient)),
        ("short-startup", "gpu-startup-probe", deployment(ns, "short", short)),
        ("defaults-300s", None, deployment(ns, "defaults", defaults)),
        ("tp-mismatch", "gpu-parallelism",
         deployment(ns, "tp-bad", container(4, args=["--model", "m", "-tp", "2"]))),
        ("tp-pp-equals", None,
         deployment(ns, "tp-pp", container(4, args=["--tensor-parallel-size=2",
                                                    "--pipeline-parallel-size=2"]))),
        ("shell-tp-mismatch", "gpu-parallelism",
         deployment(ns, "sh-bad", container(2, args=["vllm serve m --tensor-parallel-size 8"],
                                            command=["sh", "-c"]))),
        ("no-flags", None, deployment(ns, "no-flags", container(2, args=["serve"]))),
        ("lws-gang-scheduler", None, lws(ns, "lws-ok", 2, scheduler="volcano")),
        ("lws-queue", None, lws(ns, "lws-q", 2, queue="gpu-queue")),
        ("lws-no-gang", "lws-gang-scheduling", lws(ns, "lws-bad", 2)),
        ("lws-size-1", None, lws(ns, "lws-one", 1, tp=4, pp=1)),
        ("lws-tp-mismatch", "gpu-parallelism",
         lws(ns, "lws-tp", 2, scheduler="volcano", tp=4, pp=4)),
    ]  # fmt: skip


def gpu_outside(ns: str) -> Manifest:
    """A GPU workload for a namespace GPUs are not allowed in."""
    return copy.deepcopy(deployment(ns, "elsewhere", container(1)))
