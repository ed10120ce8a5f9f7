"""Diff at scale against a real kube-apiserver: ``python -m benchmarks.diff_scale``.

``--objects`` live objects (default 10,000) spread over 12 kinds are applied to a real
control plane (``tests/controlplane``: etcd + kube-apiserver + controllers, started here, or
the cluster of ``--kubeconfig``) by server-side apply as the ``gitops`` field manager, so the
server adds its defaults and managedFields; ``--drift`` of them (default 1%) are applied
with one label changed. Then, side by side, each in its own process (so its peak RSS is
its own: ``VmHWM`` of ``/proc/self/status`` where Linux has it, since ``getrusage``'s
``ru_maxrss`` keeps the parent's peak across ``fork``+``exec``):

- gitops: :meth:`gitops.cluster.ClusterClient.read_live` of the listing plan (one paginated
  LIST per kind) and :func:`gitops.diff.diff_manifests`;
- baseline: one GET per object through the typed ``kubernetes`` client (model classes,
  turned back into dicts) and ``jsonpatch.make_patch`` over the full objects. At a few ms
  per object it runs on ``--baseline-sample`` objects and is extrapolated per object;
- server-side mode: a dry-run server-side apply per object
  (:func:`gitops.server_diff.server_diff_object`, ``gitops diff --server-side``) on the
  same sample, reported per object.

Requests are counted by the client. Prints a table, then the ratio lines last.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import Ratios, table

ROOT = Path(__file__).resolve().parents[1]
NAMESPACES = 10
LABELS = {"app.kubernetes.io/managed-by": "gitops", "tier": "serving"}


def _meta(name: str, namespace: str, env: str = "bench") -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": dict(LABELS),
        "annotations": {"gitops.dev/environment": env},
    }


def _pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [
                {
                    "name": "engine",
                    "image": f"registry.example.com/vllm/vllm-openai:v0.8.{len(name) % 9}",
                    "args": ["--model", f"org/{name}", "--max-model-len", "16384"],
                    "ports": [{"containerPort": 8000, "name": "http"}],
                    "resources": {
                        "requests": {"cpu": "4", "memory": "16Gi"},
                        "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
                    },
                }
            ]
        },
    }


def _bodies(name: str) -> dict[str, dict[str, Any]]:
    """The body (everything but apiVersion, kind, metadata) of each kind for ``name``."""
    selector = {"matchLabels": {"app": name}}
    return {
        "ConfigMap": {"data": {"model": f"org/{name}", "max-model-len": "16384"}},
        "Secret": {"type": "Opaque", "data": {"token": "c2VjcmV0"}},
        "Service": {"spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8000}]}},
        "ServiceAccount": {},
        "PersistentVolumeClaim": {
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "100Gi"}},
            }
        },
        # No replicas: the controllers of a real control plane would start 1,600 pods.
        "Deployment": {"spec": {"replicas": 0, "selector": selector, "template": _pod(name)}},
        "StatefulSet": {
            "spec": {
                "replicas": 0,
                "serviceName": name,
                "selector": selector,
                "template": _pod(name),
            }
        },
        "HorizontalPodAutoscaler": {
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": 1,
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }
                ],
            }
        },
        "PodDisruptionBudget": {"spec": {"maxUnavailable": 1, "selector": selector}},
        "NetworkPolicy": {
            "spec": {
                "podSelector": selector,
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"port": 8000, "protocol": "TCP"}]}],
            }
        },
        "Role": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
        "RoleBinding": {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name}],
        },
    }


#: kind -> (apiVersion, typed API class, read method): what the baseline GETs with.
KINDS: dict[str, tuple[str, str, str]] = {
    "ConfigMap": ("v1", "CoreV1Api", "read_namespaced_config_map"),
    "Secret": ("v1", "CoreV1Api", "read_namespaced_secret"),
    "Service": ("v1", "CoreV1Api", "read_namespaced_service"),
    "ServiceAccount": ("v1", "CoreV1Api", "read_namespaced_service_account"),
    "PersistentVolumeClaim": ("v1", "CoreV1Api", "read_namespaced_persistent_volume_claim"),
    "Deployment": ("apps/v1", "AppsV1Api", "read_namespaced_deployment"),
    "StatefulSet": ("apps/v1", "AppsV1Api", "read_namespaced_stateful_set"),
    "HorizontalPodAutoscaler": (
        "autoscaling/v2",
        "AutoscalingV2Api",
        "read_namespaced_horizontal_pod_autoscaler",
    ),
    "PodDisruptionBudget": ("policy/v1", "PolicyV1Api", "read_namespaced_pod_disruption_budget"),
    "NetworkPolicy": ("networking.k8s.io/v1", "NetworkingV1Api", "read_namespaced_network_policy"),
    "Role": ("rbac.authorization.k8s.io/v1", "RbacAuthorizationV1Api", "read_namespaced_role"),
    "RoleBinding": (
        "rbac.authorization.k8s.io/v1",
        "RbacAuthorizationV1Api",
        "read_namespaced_role_binding",
    ),
}


def desired_objects(count: int) -> list[dict[str, Any]]:
    """``count`` desired manifests, round-robin over :data:`KINDS`, in 10 namespaces."""
    kinds = list(KINDS)
    out = []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        name = f"model-{index // len(kinds):05d}"
        body = _bodies(name)[kind]
        out.append(
            {
                "apiVersion": KINDS[kind][0],
                "kind": kind,
                "metadata": _meta(name, f"team-{index % NAMESPACES}"),
                **json.loads(json.dumps(body)),
            }
        )
    return out


def drifted(desired: Sequence[dict[str, Any]], fraction: float) -> list[int]:
    """Indexes of the objects to drift, spread evenly."""
    count = max(round(len(desired) * fraction), 1)
    step = len(desired) / count
    return sorted({int(i * step) for i in range(count)})


# -- the two sides, each run in a child process -------------------------------------------


def _counting(client: Any) -> list[tuple[str, str, bool]]:
    """Record ``(method, path, is_list)`` of every request ``client`` sends."""
    sent: list[tuple[str, str, bool]] = []
    send = client.request

    def request(method: str, path: str, query: Any = None, *args: Any, **kwargs: Any) -> Any:
        sent.append((method, path, any(name == "limit" for name, _ in query or ())))
        return send(method, path, query, *args, **kwargs)

    client.request = request
    return sent


def run_gitops(kubeconfig: str, desired: list[dict[str, Any]]) -> dict[str, Any]:
    """List live state and diff it (child process)."""
    from gitops.cluster import ClusterClient
    from gitops.diff import Ownership, diff_manifests, listing_plan

    client = ClusterClient.from_kubeconfig(kubeconfig, "bench")
    sent = _counting(client)
    ownership = Ownership.for_environment("bench")
    state = client.read_live(listing_plan(desired, ownership))
    report = diff_manifests(
        desired, state.objects, ownership=ownership, namespaced=state.is_namespaced
    )
    different = [
        f"{o.key.kind}/{o.key.namespace}/{o.key.name}:{o.status}"
        for o in report.objects
        if str(o.status) != "in-sync"
    ]
    lists = [path for _, path, is_list in sent if is_list]
    return {
        "different": different,
        "compared": len(report.objects),
        "requests": len(sent),
        "lists": len(lists),
        "lists_per_kind": max((lists.count(p) for p in set(lists)), default=0),
    }


def run_server_side(kubeconfig: str, desired: list[dict[str, Any]]) -> dict[str, Any]:
    """GET and dry-run apply each object, as ``gitops diff --server-side`` (child process)."""
    from gitops.cluster import ClusterClient
    from gitops.model import key_of
    from gitops.server_diff import server_diff_object

    client = ClusterClient.from_kubeconfig(kubeconfig, "bench")
    sent = _counting(client)
    live = {key_of(obj): client.get(key_of(obj)) for obj in desired}
    start = time.perf_counter()
    different = [
        f"{key.kind}/{key.namespace}/{key.name}"
        for key, obj in zip(live, desired, strict=True)
        if str(server_diff_object(client, obj, live[key]).status) != "in-sync"
    ]
    return {
        "different": different,
        "compared": len(desired),
        "dry_run_seconds": time.perf_counter() - start,
        "requests": sum(1 for method, _, _ in sent if method == "PATCH"),
    }


def run_baseline(kubeconfig: str, desired: list[dict[str, Any]]) -> dict[str, Any]:
    """One typed GET per object plus jsonpatch over the full objects (child process)."""
    import jsonpatch
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kubeconfig, context="bench")
    readers: dict[str, Callable[..., Any]] = {}
    for kind, (_, api_class, method) in KINDS.items():
        readers[kind] = getattr(getattr(client, api_class)(api_client), method)
    patched = 0
    for obj in desired:
        meta = obj["metadata"]
        model = readers[obj["kind"]](meta["name"], meta["namespace"])
        live = api_client.sanitize_for_serialization(model)
        patched += bool(jsonpatch.make_patch(live, obj).patch)
    return {"different": [], "compared": len(desired), "patched": patched, "requests": len(desired)}


CHILD = """
import json, resource, sys, time
sys.path[:0] = {paths!r}
from benchmarks.diff_scale import {function}
import gitops.cluster, gitops.diff, jsonpatch, kubernetes.client  # imports are not timed
desired = json.load(open({desired!r}))
start = time.perf_counter()
out = {function}({kubeconfig!r}, desired)
out["seconds"] = time.perf_counter() - start
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            out["rss_mb"] = int(line.split()[1]) / 1024
except OSError:
    pass
print(json.dumps(out))
"""


def child(function: str, kubeconfig: Path, desired_file: Path) -> dict[str, Any]:
    """Run ``function`` of this module in a new interpreter; return its JSON result."""
    code = CHILD.format(
        paths=[str(ROOT)], function=function, desired=str(desired_file), kubeconfig=str(kubeconfig)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{function} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def seed(kubeconfig: Path, desired: Sequence[dict[str, Any]], drift: Sequence[int]) -> None:
    """Apply every object as ``gitops`` (drifted ones with a changed label)."""
    from gitops.cluster import ClusterClient

    client = ClusterClient.from_kubeconfig(str(kubeconfig), "bench")
    for namespace in range(NAMESPACES):
        client.apply({"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": f"team-{namespace}"}})  # fmt: skip
    changed = set(drift)
    for index, obj in enumerate(desired):
        live = json.loads(json.dumps(obj))
        if index in changed:
            live["metadata"]["labels"]["tier"] = "drifted"
        client.apply(live, force=True)


@contextlib.contextmanager
def control_plane(kubeconfig: str | None, work: Path) -> Iterator[Path]:
    """A kubeconfig (context ``bench``): of ``kubeconfig``, else of a control plane started
    here from ``tests/controlplane`` (as the test fixture starts it) and stopped after."""
    if kubeconfig:
        yield Path(kubeconfig)
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from controlplane import ControlPlane, build_binaries

    plane = ControlPlane(build_binaries(), work / "control-plane").start()
    try:
        yield plane.write_kubeconfig(work / "kubeconfig", context="bench")
    finally:
        plane.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the diff benchmark; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--objects", type=int, default=10_000, help="live objects (10,000)")
    parser.add_argument("--drift", type=float, default=0.01, help="fraction drifted (0.01)")
    parser.add_argument("--repeat", type=int, default=3, help="runs, best kept (default 3)")
    parser.add_argument(
        "--baseline-sample", type=int, default=1500, help="objects the baseline GETs (1,500)"
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="an empty cluster (context 'bench') instead of starting a control plane",
    )
    args = parser.parse_args(argv)
    desired = desired_objects(args.objects)
    drift = drifted(desired, args.drift)
    expected = sorted(
        f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata']['name']}:modified"
        for o in (desired[i] for i in drift)
    )
    with tempfile.TemporaryDirectory(prefix="gitops-bench-diff-") as tmp:
        work = Path(tmp)
        with control_plane(args.kubeconfig, work) as kubeconfig:
            seed(kubeconfig, desired, drift)
            desired_file = work / "desired.json"
            desired_file.write_text(json.dumps(desired))
            step = max(len(desired) // max(args.baseline_sample, 1), 1)
            sample = desired[::step][: args.baseline_sample]
            sample_file = work / "sample.json"
            sample_file.write_text(json.dumps(sample))
            ours: dict[str, Any] = {}
            for _ in range(max(args.repeat, 1)):
                result = child("run_gitops", kubeconfig, desired_file)
                if not ours or result["seconds"] < ours["seconds"]:
                    ours = {**result, "rss_mb": max(ours.get("rss_mb", 0), result["rss_mb"])}
            base = child("run_baseline", kubeconfig, sample_file)
            server_side = child("run_server_side", kubeconfig, sample_file)
    scale = len(desired) / len(sample)
    base_total = base["seconds"] * scale
    per_object_ms = 1000 * server_side["dry_run_seconds"] / max(len(sample), 1)
    found = sorted(ours["different"])
    print(f"{len(desired)} live objects, {len(KINDS)} kinds, {len(drift)} drifted; "
          f"gitops best of {args.repeat}; real kube-apiserver")  # fmt: skip
    table(
        [
            ("side", "seconds", "per object ms", "requests", "peak RSS MB"),
            ("gitops: LIST per kind + diff_manifests", f"{ours['seconds']:.3f}",
             f"{1000 * ours['seconds'] / len(desired):.3f}",
             f"{ours['requests']} ({ours['lists']} LIST)", f"{ours['rss_mb']:.0f}"),
            (f"baseline: typed GET + jsonpatch ({len(sample)} objects, extrapolated)",
             f"{base_total:.3f}", f"{1000 * base['seconds'] / len(sample):.3f}",
             f"{base['requests']} GET (of {len(sample)})", f"{base['rss_mb']:.0f}"),
            (f"gitops --server-side: dry-run apply ({len(sample)} objects, extrapolated)",
             f"{server_side['dry_run_seconds'] * scale:.3f}", f"{per_object_ms:.3f}",
             f"{server_side['requests']} PATCH (dryRun=All)", f"{server_side['rss_mb']:.0f}"),
        ]
    )  # fmt: skip
    ratios = Ratios()
    ratios.at_most("list_requests_per_kind", ours["lists_per_kind"], 2, unit="")
    ratios.at_least("baseline_vs_gitops", base_total / ours["seconds"], 10.0)
    ratios.check(
        "drifted_reported",
        found == expected,
        f"{len(found)} reported, {len(expected)} drifted, "
        f"{len(set(found) ^ set(expected))} mismatched",
    )
    sampled = {f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata']['name']}" for o in sample}
    expected_sampled = sorted(
        e.rsplit(":", 1)[0] for e in expected if e.rsplit(":", 1)[0] in sampled
    )
    ratios.check(
        "server_side_agrees",
        sorted(server_side["different"]) == expected_sampled,
        f"{len(server_side['different'])} of {len(sample)} sampled modified by the server, "
        f"{len(expected_sampled)} drifted among them; {per_object_ms:.1f} ms per object",
    )
    ratios.at_most("peak_rss_mb", ours["rss_mb"], 600, unit="")
    return ratios.finish()


if __name__ == "__main__":
    raise SystemExit(main())
