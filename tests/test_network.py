"""Per-environment network allows, judged by cyclonus' NetworkPolicy engine.

The truth table lists, for every pod every stack of the example runs in every environment,
the flows the stack needs (gateway to the serving port, Prometheus to the metrics port,
DNS, model downloads, the endpoint picker to the API server, Ray inside a LeaderWorkerSet
group) and flows it must not get (other namespaces, other ports, other destinations).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from netpol import allowed

from gitops.constructs.base import Scope
from gitops.constructs.guardrails import NamespaceGuardrails
from gitops.constructs.network import NetworkSettings, parse_network
from gitops.core.errors import ValidationError
from gitops.core.workloads import PodGroup, workloads
from gitops.inputs.environments import Environment, load_environments
from gitops.render.pipeline import render_environments

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = "104.18.32.1"  # a public address (the Hugging Face hub's CDN range)
PRIVATE_ELSEWHERE = "10.99.0.7"  # private, in no environment's egress list
OTHER_NAMESPACE = "other-team"


def _peer(namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"namespace": namespace, "podLabels": labels or {}}


def _flow(
    source: dict[str, Any],
    destination: dict[str, Any],
    port: int,
    name: str = "",
    proto: str = "TCP",
) -> dict[str, Any]:
    return {"source": source, "destination": destination, "port": port, "portName": name,
            "protocol": proto}  # fmt: skip


def _ports(group: PodGroup) -> dict[str, int]:
    return {
        p["name"]: p["containerPort"]
        for c in group.spec.get("containers") or []
        for p in c.get("ports") or []
        if "name" in p
    }


def _served(group: PodGroup) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(serving, metrics) ports a pod needs reachable, from what it runs (not the policies)."""
    ports = _ports(group)
    if group.role == "predictor":  # KServe's runtime listens on 8080, metrics included
        return [(8080, "")], [(8080, "")]
    if "grpc" in ports:  # the endpoint picker: ext-proc for the gateway, metrics
        return [(ports["grpc"], "grpc")], [(ports["metrics"], "metrics")]
    if "http" in ports:  # a vLLM engine (single node, or an LWS leader): /metrics on http
        return [(ports["http"], "http")], [(ports["http"], "http")]
    return [], []  # an LWS worker: reached by its leader only


def _first_host(cidr: str) -> str:
    network = ipaddress.ip_network(cidr)
    return str(next(iter(network.hosts()), network.network_address))


def truth_table(env: Environment, manifests: list[dict[str, Any]]) -> list[tuple[str, dict, bool]]:
    """(description, flow, must be allowed) for every pod of every stack of ``manifests``."""
    net = env.network
    rows: list[tuple[str, dict, bool]] = []
    for load in workloads(manifests):
        ns = load.namespace
        for group in load.groups:
            pod = _peer(ns, dict(group.labels))
            who = f"{env.name}: {load.name} {group.role}"
            serving, metrics = _served(group)
            for port, name in serving:
                for gateway in net.gateway_namespaces:
                    rows.append(
                        (
                            f"{who}: gateway {gateway} -> {port}",
                            _flow(_peer(gateway), pod, port, name),
                            True,
                        )
                    )
                rows.append(
                    (
                        f"{who}: {OTHER_NAMESPACE} -> {port}",
                        _flow(_peer(OTHER_NAMESPACE), pod, port, name),
                        False,
                    )
                )
            for port, name in metrics:
                for monitoring in net.monitoring_namespaces:
                    rows.append(
                        (
                            f"{who}: {monitoring} scrapes {port}",
                            _flow(_peer(monitoring), pod, port, name),
                            True,
                        )
                    )
            for gateway in net.gateway_namespaces:
                rows.append(
                    (f"{who}: gateway -> ray 6379", _flow(_peer(gateway), pod, 6379, "ray"), False)
                )
                rows.append((f"{who}: gateway -> ssh 22", _flow(_peer(gateway), pod, 22), False))
            dns = _peer("kube-system", {"k8s-app": "kube-dns"})
            rows.append((f"{who}: DNS", _flow(pod, dns, 53, "", "UDP"), True))
            rows.append(
                (f"{who}: -> {OTHER_NAMESPACE}", _flow(pod, _peer(OTHER_NAMESPACE), 8000), False)
            )
            for rule in net.egress:
                for port in rule.ports:
                    rows.append(
                        (
                            f"{who}: download {rule.cidr}:{port}",
                            _flow(pod, {"ip": _first_host(rule.cidr)}, port),
                            True,
                        )
                    )
                rows.append(
                    (
                        f"{who}: {rule.cidr}:80",
                        _flow(pod, {"ip": _first_host(rule.cidr)}, 80),
                        False,
                    )
                )
            rows.append(
                (f"{who}: internet 443", _flow(pod, {"ip": PUBLIC}, 443), net.internet_egress)
            )
            rows.append((f"{who}: internet 80", _flow(pod, {"ip": PUBLIC}, 80), False))
            rows.append((f"{who}: private 443", _flow(pod, {"ip": PRIVATE_ELSEWHERE}, 443), False))
            picker = group.labels.get("app.kubernetes.io/component") == "endpoint-picker"
            for rule in net.api_server:
                for port in rule.ports:
                    target = {"ip": _first_host(rule.cidr)}
                    rows.append(
                        (f"{who}: API server {rule.cidr}:{port}", _flow(pod, target, port), picker)
                    )
        if load.manifest["kind"] == "LeaderWorkerSet":
            leader, worker = (
                next(g for g in load.groups if g.role == r) for r in ("leader", "worker")
            )
            rows.append(
                (
                    f"{env.name}: {load.name} worker -> leader ray",
                    _flow(
                        _peer(load.namespace, dict(worker.labels)),
                        _peer(load.namespace, dict(leader.labels)),
                        6379,
                    ),
                    True,
                )
            )
    return rows  # fmt: skip


@pytest.fixture(scope="module")
def example() -> list[tuple[Environment, list[dict[str, Any]]]]:
    rendered = render_environments(ROOT / "blueprints", ROOT / "environments")
    return [(env, rendered[env.name]) for env in load_environments(ROOT / "environments")]


def _policies(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == "NetworkPolicy"]


def test_every_stack_of_the_example_gets_exactly_the_flows_it_needs(
    example: list[tuple[Environment, list[dict[str, Any]]]],
) -> None:
    checked = 0
    for env, manifests in example:
        rows = truth_table(env, manifests)
        verdicts = allowed(_policies(manifests), [flow for _, flow, _ in rows])
        wrong = [
            f"{what}: expected {want}"
            for (what, _, want), got in zip(rows, verdicts, strict=True)
            if got != want
        ]
        assert wrong == [], "\n".join(wrong)
        checked += len(rows)
    assert checked > 100  # every environment and stack contributed rows


def test_the_table_covers_every_workload_kind_of_the_example(
    example: list[tuple[Environment, list[dict[str, Any]]]],
) -> None:
    loads = [load for _, manifests in example for load in workloads(manifests)]
    assert {"StatefulSet", "Deployment", "InferenceService", "LeaderWorkerSet"} <= {
        load.manifest["kind"] for load in loads
    }
    roles = {(load.name, group.role) for load in loads for group in load.groups}
    assert ("LeaderWorkerSet/llama-405b", "worker") in roles
    assert ("Deployment/qwen-coder-epp", "pod") in roles  # the endpoint picker


def test_without_the_allows_the_same_table_fails(
    example: list[tuple[Environment, list[dict[str, Any]]]],
) -> None:
    """The evaluator really judges: default-deny alone refuses what the stacks need."""
    env, manifests = example[0]
    rows = [row for row in truth_table(env, manifests) if row[2]]
    deny_only = [p for p in _policies(manifests) if p["metadata"]["name"] == "gitops-default-deny"]
    assert deny_only
    assert not any(allowed(deny_only, [flow for _, flow, _ in rows]))


def _fenced(settings: NetworkSettings) -> list[dict[str, Any]]:
    scope = Scope()
    NamespaceGuardrails(scope, "fence", namespace="llm", network=settings)
    return _policies(scope.synth())


def test_internet_egress_opens_public_443_but_never_private_ranges() -> None:
    pod = _peer("llm", {"app": "vllm"})
    flows = [
        _flow(pod, {"ip": PUBLIC}, 443),
        _flow(pod, {"ip": "10.1.2.3"}, 443),
        _flow(pod, {"ip": "172.16.5.5"}, 443),
        _flow(pod, {"ip": "192.168.1.1"}, 443),
        _flow(pod, {"ip": PUBLIC}, 8443),
    ]
    assert allowed(_fenced(NetworkSettings(internet_egress=True)), flows) == [
        True, False, False, False, False
    ]  # fmt: skip
    assert allowed(_fenced(NetworkSettings()), flows[:1]) == [False]


def test_model_egress_is_limited_to_its_cidrs_and_ports() -> None:
    settings = parse_network(
        "env.yaml", {"egress": [{"cidr": "10.20.0.0/16", "ports": [443, 9000]}]}
    )
    pod = _peer("llm")
    flows = [
        _flow(pod, {"ip": "10.20.3.4"}, 443),
        _flow(pod, {"ip": "10.20.3.4"}, 9000),
        _flow(pod, {"ip": "10.20.3.4"}, 22),
        _flow(pod, {"ip": "10.21.0.1"}, 443),
    ]
    assert allowed(_fenced(settings), flows) == [True, True, False, False]


def test_only_labelled_pods_reach_the_api_server() -> None:
    settings = parse_network("env.yaml", {"api_server": [{"cidr": "10.96.0.1/32", "ports": [443]}]})
    picker = _peer("llm", {"gitops.dev/kube-api-access": "true"})
    engine = _peer("llm", {"app": "vllm"})
    api = {"ip": "10.96.0.1"}
    assert allowed(_fenced(settings), [_flow(picker, api, 443), _flow(engine, api, 443)]) == [
        True, False
    ]  # fmt: skip


def test_monitoring_reaches_metrics_ports_only() -> None:
    settings = parse_network("env.yaml", {"monitoring_namespaces": ["obs"]})
    pod = _peer("llm")
    flows = [
        _flow(_peer("obs"), pod, 8000, "http"),
        _flow(_peer("obs"), pod, 9090, "metrics"),
        _flow(_peer("obs"), pod, 6379, "ray"),
        _flow(_peer("monitoring"), pod, 8000, "http"),
    ]
    assert allowed(_fenced(settings), flows) == [True, True, False, False]


def test_defaults_let_prometheus_in_monitoring_scrape_and_nothing_else_in() -> None:
    settings = parse_network("env.yaml", {})
    assert settings.gateway_namespaces == ()
    assert settings.monitoring_namespaces == ("monitoring",)
    assert settings.egress == () and not settings.internet_egress
    names = {p["metadata"]["name"] for p in _fenced(settings)}
    assert names == {
        "gitops-default-deny", "gitops-allow-dns", "gitops-allow-same-namespace",
        "gitops-allow-monitoring",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"gateways": ["gw"]}, r"env.yaml: unknown key 'gateways' in network"),
        ({"gateway_namespaces": "gw"}, r"network.gateway_namespaces must be a list"),
        ({"gateway_namespaces": ["GW"]}, r"network.gateway_namespaces\[0\] must be a DNS-1123"),
        ({"serving_ports": []}, r"network.serving_ports must be a non-empty list"),
        ({"serving_ports": [70000]}, r"network.serving_ports\[0\] must be a port number .*70000"),
        ({"metrics_ports": ["a-very-long-port-name"]}, r"network.metrics_ports\[0\]"),
        (
            {"egress": [{"cidr": "10.0.0.1/8"}]},
            r"network.egress\[0\].cidr must be a network .*host bits",
        ),
        (
            {"egress": [{"cidr": "0.0.0.0/0"}]},
            r"must not be the whole address space.*internet_egress",
        ),
        (
            {"egress": [{"cidr": "10.0.0.0/8", "ports": ["https"]}]},
            r"egress\[0\].ports\[0\] must be a port number",
        ),
        ({"egress": [{"ports": [443]}]}, r"network.egress\[0\] must be a mapping with 'cidr'"),
        ({"internet_egress": "yes"}, r"network.internet_egress must be true or false, got 'yes'"),
        ({"api_server": {"cidr": "10.0.0.1/32"}}, r"network.api_server must be a list"),
    ],
)
def test_invalid_network_settings_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_network("env.yaml", data)
