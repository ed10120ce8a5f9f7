"""Diff at scale against a real kube-apiserver: ``python -m benchmarks.diff_scale``.

``--objects`` live objects (default 10,000) spread over 12 kinds are applied to a real
control plane (``tests/controlplane``: etcd + kube-apiserver + controllers, started here, or
the cluster of ``--kubeconfig``) by server-side apply as the ``gitops`` field manager, so the
server adds its defaults and managedFields; ``--drift`` of them (default 1%) are applied
with one label changed. Then, each in its own process (peak RSS: ``VmHWM`` of
``/proc/self/status`` where Linux has it, since ``getrusage``'s ``ru_maxrss`` keeps the
parent's peak across ``fork``+``exec``):

- gitops: ``gitops diff -f DIR -o json`` through the CLI, DIR laid out as ``gitops render``
  writes an environment (one file per object), end to end: interpreter start, parsing,
  one paginated LIST per kind, the diff, the JSON report; and in-process
  :meth:`~gitops.cluster.client.ClusterClient.read_live` to count the requests;
- floor, paired with it run by run (the ratio is the median of the pairs): PyYAML's C
  loader over the same files and ``json.loads`` of the same LIST bodies, nothing else;
- baseline: one GET per object decoded as raw JSON and the same SSA-aware comparison
  (:func:`gitops.diff.engine.diff_object`: our managed fields only), on ``--baseline-sample``
  objects, extrapolated per object; it must find exactly the drifted ones;
- server-side mode: a dry-run server-side apply per object
  (:func:`gitops.diff.server.server_diff_object`, ``gitops diff --server-side``) on the
  same sample, reported per object;
- with ``--capture-objects``: ``gitops diff -f DIR --live CAPTURE`` of a ``kubectl get -o
  yaml`` List of that many objects (``--capture-desired`` of them desired) against the C
  parse of DIR plus ``json.loads`` of the same objects, and its peak RSS.

Requests are counted by the client. Prints a table, then the ratio lines last.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
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
    from gitops.cluster.client import ClusterClient
    from gitops.diff.engine import Ownership, diff_manifests, listing_plan

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
    from gitops.cluster.client import ClusterClient
    from gitops.core.keys import key_of
    from gitops.diff.server import server_diff_object

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
    """One GET per object, decoded as raw JSON, and the same SSA-aware comparison as
    gitops (:func:`gitops.diff.engine.diff_object`: our managed fields only), per object."""
    from gitops.cluster.client import ClusterClient
    from gitops.core.keys import key_of
    from gitops.diff.engine import diff_object

    client = ClusterClient.from_kubeconfig(kubeconfig, "bench")
    sent = _counting(client)
    different = []
    for obj in desired:
        key = key_of(obj)
        if str(diff_object(obj, client.get(key)).status) != "in-sync":
            different.append(f"{key.kind}/{key.namespace}/{key.name}")
    return {"different": different, "compared": len(desired), "requests": len(sent)}


def run_floor(files_list: str, lists_dir: str) -> dict[str, Any]:
    """The floor of a diff (child process): PyYAML's C loader over every desired file, and
    ``json.loads`` of every LIST body (or capture) gitops reads, nothing else."""
    import yaml

    start = time.perf_counter()
    documents = 0
    for name in Path(files_list).read_text().splitlines():
        documents += sum(1 for _ in yaml.load_all(Path(name).read_bytes(), yaml.CSafeLoader))
    parse = time.perf_counter() - start
    items = sum(len(json.loads(p.read_bytes())["items"]) for p in sorted(Path(lists_dir).iterdir()))
    return {"documents": documents, "items": items, "parse_seconds": parse,
            "seconds": time.perf_counter() - start}  # fmt: skip


def save_lists(kubeconfig: str, desired: list[dict[str, Any]], out: str) -> dict[str, Any]:
    """Save the body of every LIST request gitops sends for ``desired`` (child process)."""
    import gitops.cluster.client
    from gitops.cluster.client import ClusterClient
    from gitops.diff.engine import listing_plan

    bodies: list[bytes] = []
    loads = json.loads

    def recording(data: Any, *args: Any, **kwargs: Any) -> Any:
        decoded = loads(data, *args, **kwargs)
        if isinstance(decoded, dict) and "items" in decoded:
            bodies.append(data)
        return decoded

    gitops.cluster.client.json.loads = recording  # type: ignore[attr-defined]  # this process only
    client = ClusterClient.from_kubeconfig(kubeconfig, "bench")
    state = client.read_live(listing_plan(desired, None))
    for index, body in enumerate(bodies):
        (Path(out) / f"list-{index:04d}.json").write_bytes(body)
    return {"lists": len(bodies), "objects": len(state.objects), "seconds": 0.0}


CHILD = """
import json, resource, sys, time
sys.path[:0] = {paths!r}
from benchmarks.diff_scale import {function}
import gitops.cluster.client, gitops.diff.engine  # imports are not timed
args = json.load(open({args!r}))
start = time.perf_counter()
out = {function}(*args)
out.setdefault("seconds", time.perf_counter() - start)
out["rss_mb"] = peak_rss_mb()
print(json.dumps(out))
"""

PEAK_RSS = """
def peak_rss_mb():
    try:  # VmHWM: this process's own peak (ru_maxrss keeps the parent's across exec)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

#: ``gitops diff`` as a user runs it, in a new interpreter; its peak RSS goes to stderr.
CLI = """
import resource, sys
sys.path[:0] = {paths!r}
from gitops.cli.main import main
try:
    code = main({argv!r})
finally:
    print(f"peak_rss_mb={{peak_rss_mb():.1f}}", file=sys.stderr)
sys.exit(code)
"""


def child(function: str, *args: Any) -> dict[str, Any]:
    """Run ``function(*args)`` of this module in a new interpreter; return its JSON result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(args, handle)
    code = PEAK_RSS + CHILD.format(paths=[str(ROOT)], function=function, args=handle.name)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
    finally:
        Path(handle.name).unlink()
    if done.returncode != 0:
        raise SystemExit(f"{function} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_cli(argv: Sequence[str], report: Path) -> dict[str, Any]:
    """Time ``gitops diff ARGV -o json`` end to end (interpreter start, parse, LISTs,
    diff, output); return its wall seconds, peak RSS and the objects it reports changed."""
    code = PEAK_RSS + CLI.format(paths=[str(ROOT)], argv=[*argv, "-o", "json"])
    start = time.perf_counter()
    with report.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-c", code], stdout=out, stderr=subprocess.PIPE, text=True,
            check=False,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"gitops diff {' '.join(argv)} failed:\n{done.stderr}")
    rss = float(done.stderr.rsplit("peak_rss_mb=", 1)[1].split()[0])
    objects = json.loads(report.read_text())["objects"]
    different = sorted(
        f"{o['kind']}/{o['namespace']}/{o['name']}:{o['status']}"
        for o in objects
        if o["status"] != "in-sync"
    )
    return {"seconds": seconds, "rss_mb": rss, "different": different}


def write_desired(directory: Path, desired: Sequence[dict[str, Any]]) -> Path:
    """Write one file per object as ``gitops render`` lays an environment out
    (``workloads/<namespace>/<kind>-<name>.yaml``); return a list of the files."""
    from gitops.core.yaml_io import dump_one

    names = []
    for obj in desired:
        meta = obj["metadata"]
        name = f"{obj['kind'].lower()}-{meta['name']}.yaml"
        path = directory / "workloads" / meta["namespace"] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_one(obj))
        names.append(str(path))
    listing = directory.parent / f"{directory.name}.files"
    listing.write_text("\n".join(names) + "\n")
    return listing


def paired(
    repeat: int, floor: Callable[[], dict[str, Any]], ours: Callable[[], dict[str, Any]]
) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """Run floor and ours ``repeat`` times, interleaved; the median of their ratios, and
    the last results of each (peak RSS: the highest seen)."""
    ratios, last_floor, last_ours, rss = [], {}, {}, 0.0
    for _ in range(max(repeat, 1)):
        last_floor = floor()
        last_ours = ours()
        rss = max(rss, last_ours["rss_mb"])
        ratios.append(last_ours["seconds"] / last_floor["seconds"])
    return statistics.median(ratios), last_floor, {**last_ours, "rss_mb": rss}


def seed(kubeconfig: Path, desired: Sequence[dict[str, Any]], drift: Sequence[int]) -> None:
    """Apply every object as ``gitops`` (drifted ones with a changed label)."""
    from gitops.cluster.client import ClusterClient

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


def write_capture(path: Path, desired: Sequence[dict[str, Any]], drift: Sequence[int],
                  count: int, lists: Path) -> None:  # fmt: skip
    """A ``kubectl get -o yaml`` List of ``count`` live objects: the desired ones (the
    ``drift`` ones with a changed label), then others that are not desired (nor ours);
    the same objects as one JSON LIST body in ``lists`` for the floor."""
    changed = set(drift)
    extra = desired_objects(count)[len(desired) :]
    for obj in extra:
        obj["metadata"]["name"] = "other-" + obj["metadata"]["name"]
    lists.mkdir()
    with path.open("w") as out, (lists / "capture.json").open("w") as body:
        out.write("apiVersion: v1\nkind: List\nmetadata: {}\nitems:\n")
        body.write('{"apiVersion": "v1", "kind": "List", "items": [')
        for index, obj in enumerate([*desired, *extra]):
            if index in changed:
                obj = json.loads(json.dumps(obj))
                obj["metadata"]["labels"]["tier"] = "drifted"
            text = json.dumps(obj)
            out.write(f"- {text}\n")
            body.write(("," if index else "") + text)
        body.write("]}")


def capture_run(args: argparse.Namespace, work: Path, ratios: Ratios) -> list[tuple[str, ...]]:
    """``gitops diff -f --live CAPTURE`` of ``--capture-objects`` against its floor."""
    desired = desired_objects(args.capture_desired)
    drift = drifted(desired, args.drift)
    capture, lists = work / "capture.yaml", work / "capture-lists"
    write_capture(capture, desired, drift, args.capture_objects, lists)
    files = write_desired(work / "capture-desired", desired)
    argv = ["diff", "-f", str(work / "capture-desired"), "--live", str(capture)]
    ratio, floor, ours = paired(
        args.repeat,
        lambda: child("run_floor", str(files), str(lists)),
        lambda: run_cli(argv, work / "capture-report.json"),
    )
    expected = _expected(desired, drift)
    ratios.at_most("capture_cli_vs_floor", ratio, 2.0)
    ratios.check("capture_drifted_reported", ours["different"] == expected,
                 f"{len(ours['different'])} reported, {len(expected)} drifted")  # fmt: skip
    ratios.at_most("capture_peak_rss_mb", ours["rss_mb"], 600, unit="")
    size = capture.stat().st_size / 1e6
    return [
        (f"gitops diff -f --live: {args.capture_desired} desired, capture of "
         f"{args.capture_objects} ({size:.0f} MB)", f"{ours['seconds']:.3f}", "-", "-",
         f"{ours['rss_mb']:.0f}"),
        ("floor: C parse of the desired files + json.loads of the capture",
         f"{floor['seconds']:.3f}", "-", "-", f"{floor['rss_mb']:.0f}"),
    ]  # fmt: skip


def _expected(desired: Sequence[dict[str, Any]], drift: Sequence[int]) -> list[str]:
    return sorted(
        f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata']['name']}:modified"
        for o in (desired[i] for i in drift)
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--objects", type=int, default=10_000, help="live objects (10,000)")
    parser.add_argument("--drift", type=float, default=0.01, help="fraction drifted (0.01)")
    parser.add_argument("--repeat", type=int, default=3, help="paired runs, median (3)")
    parser.add_argument(
        "--baseline-sample", type=int, default=1500, help="objects the baseline GETs (1,500)"
    )
    parser.add_argument("--capture-objects", type=int, default=0,
                        help="also diff a --live capture of this many objects (0: no)")  # fmt: skip
    parser.add_argument("--capture-desired", type=int, default=50_000,
                        help="desired objects of the capture run (50,000)")  # fmt: skip
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="an empty cluster (context 'bench') instead of starting a control plane",
    )
    return parser.parse_args(argv)


def cluster_run(args: argparse.Namespace, work: Path, kubeconfig: Path) -> dict[str, Any]:
    """Everything measured against the cluster; returns each side's results."""
    desired = desired_objects(args.objects)
    drift = drifted(desired, args.drift)
    seed(kubeconfig, desired, drift)
    files = write_desired(work / "desired", desired)
    lists = work / "lists"
    lists.mkdir()
    child("save_lists", str(kubeconfig), desired, str(lists))
    ours = child("run_gitops", str(kubeconfig), desired)
    argv = ["diff", "-f", str(work / "desired"), "--kubeconfig", str(kubeconfig),
            "--context", "bench"]  # fmt: skip
    ratio, floor, cli = paired(
        args.repeat,
        lambda: child("run_floor", str(files), str(lists)),
        lambda: run_cli(argv, work / "report.json"),
    )
    step = max(len(desired) // max(args.baseline_sample, 1), 1)
    sample = desired[::step][: args.baseline_sample]
    return {
        "desired": desired, "drift": drift, "sample": sample, "ours": ours, "cli": cli,
        "floor": floor, "cli_vs_floor": ratio,
        "base": child("run_baseline", str(kubeconfig), sample),
        "server_side": child("run_server_side", str(kubeconfig), sample),
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the diff benchmark; return 1 if a target is missed."""
    args = _arguments(argv)
    ratios = Ratios()
    with tempfile.TemporaryDirectory(prefix="gitops-bench-diff-") as tmp:
        work = Path(tmp)
        with control_plane(args.kubeconfig, work) as kubeconfig:
            run = cluster_run(args, work, kubeconfig)
        rows = report_cluster(args, run, ratios)
        if args.capture_objects:
            rows += capture_run(args, work, ratios)
    table(rows)
    return ratios.finish()


def report_cluster(args: argparse.Namespace, run: dict[str, Any], ratios: Ratios
                   ) -> list[tuple[str, ...]]:  # fmt: skip
    """The table rows and ratio lines of the cluster run."""
    desired, sample, ours, cli = run["desired"], run["sample"], run["ours"], run["cli"]
    base, server_side, floor = run["base"], run["server_side"], run["floor"]
    scale = len(desired) / len(sample)
    base_total = base["seconds"] * scale
    per_object_ms = 1000 * server_side["dry_run_seconds"] / max(len(sample), 1)
    expected = _expected(desired, run["drift"])
    print(f"{len(desired)} live objects, {len(KINDS)} kinds, {len(run['drift'])} drifted; "
          f"paired runs x{args.repeat}, median ratio; real kube-apiserver")  # fmt: skip
    ratios.at_most("list_requests_per_kind", ours["lists_per_kind"], 2, unit="")
    ratios.at_most("cli_vs_floor", run["cli_vs_floor"], 2.0)
    ratios.at_least("baseline_vs_cli", base_total / cli["seconds"], 5.0)
    ratios.check("drifted_reported", cli["different"] == expected,
                 f"{len(cli['different'])} reported, {len(expected)} drifted, "
                 f"{len(set(cli['different']) ^ set(expected))} mismatched")  # fmt: skip
    sampled = {f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata']['name']}" for o in sample}
    in_sample = sorted(e.rsplit(":", 1)[0] for e in expected if e.rsplit(":", 1)[0] in sampled)
    ratios.check("baseline_agrees", sorted(base["different"]) == in_sample,
                 f"{len(base['different'])} of {len(sample)} sampled drifted by the baseline, "
                 f"{len(in_sample)} drifted among them")  # fmt: skip
    ratios.check(
        "server_side_agrees",
        sorted(server_side["different"]) == in_sample,
        f"{len(server_side['different'])} of {len(sample)} sampled modified by the server, "
        f"{len(in_sample)} drifted among them; {per_object_ms:.1f} ms per object",
    )
    ratios.at_most("peak_rss_mb", cli["rss_mb"], 600, unit="")
    return [
        ("side", "seconds", "per object ms", "requests", "peak RSS MB"),
        ("gitops diff -f (CLI: start, parse, LIST per kind, diff, JSON out)",
         f"{cli['seconds']:.3f}", f"{1000 * cli['seconds'] / len(desired):.3f}",
         f"{ours['requests']} ({ours['lists']} LIST)", f"{cli['rss_mb']:.0f}"),
        ("floor: C parse of the desired files + json.loads of the LIST bodies",
         f"{floor['seconds']:.3f}", f"{1000 * floor['seconds'] / len(desired):.3f}",
         "-", f"{floor['rss_mb']:.0f}"),
        (f"baseline: raw-JSON GET + SSA-aware diff_object ({len(sample)}, extrapolated)",
         f"{base_total:.3f}", f"{1000 * base['seconds'] / len(sample):.3f}",
         f"{base['requests']} GET (of {len(sample)})", f"{base['rss_mb']:.0f}"),
        (f"gitops --server-side: dry-run apply ({len(sample)}, extrapolated)",
         f"{server_side['dry_run_seconds'] * scale:.3f}", f"{per_object_ms:.3f}",
         f"{server_side['requests']} PATCH (dryRun=All)", f"{server_side['rss_mb']:.0f}"),
    ]  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
