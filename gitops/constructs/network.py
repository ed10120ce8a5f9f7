"""Per-environment network allows on top of a namespace's default-deny NetworkPolicy.

A namespace fenced by :class:`~gitops.constructs.guardrails.NamespaceGuardrails` denies all
ingress and egress except DNS and same-namespace traffic. A model server also needs:

- the gateway (its namespaces) to reach the serving ports;
- Prometheus (the monitoring namespaces) to reach the metrics ports;
- egress to wherever weights come from (a model registry's CIDRs and ports, or, as an
  explicit switch, the internet on 443);
- for the endpoint picker of an InferencePool only, egress to the API server (it watches
  pods and pools).

:class:`NetworkSettings` holds those choices (the ``network:`` key of an environment) and
:func:`allow_policies` renders them as NetworkPolicies. Ports are named where the pods name
them, so one policy fits stacks whose port numbers differ.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops.constructs.base import check_dns1123_label
from gitops.core.errors import ValidationError

#: Serving ports the gateway may reach: the engines' ``http`` port, the endpoint picker's
#: ext-proc ``grpc`` port (named as the upstream inferencepool chart names it), and 8080,
#: where KServe's Hugging Face runtime listens.
DEFAULT_SERVING_PORTS: tuple[int | str, ...] = ("http", "grpc", 8080)
#: Metrics ports Prometheus may scrape: vLLM serves ``/metrics`` on ``http``, the endpoint
#: picker on ``metrics``, the KServe runtime on 8080.
DEFAULT_METRICS_PORTS: tuple[int | str, ...] = ("http", "metrics", 8080)
#: Where kube-prometheus-stack runs Prometheus (the stacks' KEDA triggers query it there).
DEFAULT_MONITORING_NAMESPACES = ("monitoring",)
#: Ports of the API server (the ``kubernetes`` Service's 443 and the apiserver's 6443).
DEFAULT_API_SERVER_PORTS = (443, 6443)
#: Label a pod carries to be allowed egress to the API server (the endpoint picker's pods).
KUBE_API_LABEL = "gitops.dev/kube-api-access"
#: Private ranges the internet switch never opens (in-cluster and corporate networks).
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
#: The name of the NetworkPolicy the internet switch renders.
INTERNET_POLICY = "gitops-allow-internet-egress"

_NETWORK_KEYS = frozenset(
    {
        "gateway_namespaces",
        "serving_ports",
        "monitoring_namespaces",
        "metrics_ports",
        "egress",
        "internet_egress",
        "api_server",
    }
)
_DESTINATION_KEYS = frozenset({"cidr", "ports"})


@dataclass(frozen=True)
class EgressRule:
    """Egress to one CIDR on some TCP ports.

    Attributes:
        cidr: an IPv4 or IPv6 network, e.g. ``10.20.0.0/16`` (a model registry, a mirror).
        ports: TCP port numbers.
    """

    cidr: str
    ports: tuple[int, ...] = (443,)


@dataclass(frozen=True)
class NetworkSettings:
    """The allows an environment adds to its namespaces' default-deny policy.

    Attributes:
        gateway_namespaces: namespaces whose pods may reach ``serving_ports`` (none by
            default: nothing is exposed until the gateway is named).
        serving_ports: port names or numbers the gateway may reach.
        monitoring_namespaces: namespaces whose pods may reach ``metrics_ports``.
        metrics_ports: port names or numbers Prometheus may scrape.
        egress: model-download destinations (CIDR and ports) every pod may reach.
        internet_egress: allow every pod egress to any public address on 443 (the private
            ranges stay closed); ``gitops check`` warns about it in strict environments.
        api_server: where the API server answers; only pods labelled
            ``gitops.dev/kube-api-access: "true"`` (endpoint pickers) may reach it.
    """

    gateway_namespaces: tuple[str, ...] = ()
    serving_ports: tuple[int | str, ...] = DEFAULT_SERVING_PORTS
    monitoring_namespaces: tuple[str, ...] = DEFAULT_MONITORING_NAMESPACES
    metrics_ports: tuple[int | str, ...] = DEFAULT_METRICS_PORTS
    egress: tuple[EgressRule, ...] = ()
    internet_egress: bool = False
    api_server: tuple[EgressRule, ...] = field(default=())


def parse_network(source: str, data: Any) -> NetworkSettings:
    """Validate the ``network:`` mapping of an environment (pure).

    Raises:
        ValidationError: naming ``source``, the key, what was expected and what was found.
    """
    where = "network"
    if not isinstance(data, Mapping):
        raise ValidationError(f"{source}: {where} must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in _NETWORK_KEYS:
            raise ValidationError(
                f"{source}: unknown key {key!r} in {where} (expected one of "
                f"{', '.join(sorted(_NETWORK_KEYS))})"
            )
    defaults = NetworkSettings()
    internet = data.get("internet_egress", False)
    if not isinstance(internet, bool):
        raise ValidationError(
            f"{source}: network.internet_egress must be true or false, got {internet!r}"
        )
    return NetworkSettings(
        gateway_namespaces=_namespaces(source, "gateway_namespaces", data, ()),
        serving_ports=_ports(source, "serving_ports", data, defaults.serving_ports),
        monitoring_namespaces=_namespaces(
            source, "monitoring_namespaces", data, defaults.monitoring_namespaces
        ),
        metrics_ports=_ports(source, "metrics_ports", data, defaults.metrics_ports),
        egress=_destinations(source, "egress", data.get("egress", []), (443,)),
        internet_egress=internet,
        api_server=_destinations(
            source, "api_server", data.get("api_server", []), DEFAULT_API_SERVER_PORTS
        ),
    )


def check_settings(owner: str, settings: object) -> NetworkSettings:
    """``settings`` if it is a :class:`NetworkSettings` whose fields are valid."""
    if not isinstance(settings, NetworkSettings):
        raise ValidationError(f"{owner}: network must be a NetworkSettings, got {settings!r}")
    as_data = {
        "gateway_namespaces": list(settings.gateway_namespaces),
        "serving_ports": list(settings.serving_ports),
        "monitoring_namespaces": list(settings.monitoring_namespaces),
        "metrics_ports": list(settings.metrics_ports),
        "egress": [{"cidr": r.cidr, "ports": list(r.ports)} for r in settings.egress],
        "internet_egress": settings.internet_egress,
        "api_server": [{"cidr": r.cidr, "ports": list(r.ports)} for r in settings.api_server],
    }
    return parse_network(owner, as_data)


def allow_policies(
    settings: NetworkSettings, make: Callable[[str, dict[str, Any]], dict[str, Any]]
) -> list[dict[str, Any]]:
    """The NetworkPolicies granting ``settings``; ``make(name, spec)`` builds each object."""
    out: list[dict[str, Any]] = []
    for name, namespaces, ports in (
        ("gitops-allow-gateway", settings.gateway_namespaces, settings.serving_ports),
        ("gitops-allow-monitoring", settings.monitoring_namespaces, settings.metrics_ports),
    ):
        if namespaces:
            rule = {
                "from": [{"namespaceSelector": namespace_selector(ns)} for ns in namespaces],
                "ports": [{"protocol": "TCP", "port": port} for port in ports],
            }
            spec = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]}
            out.append(make(name, spec))
    if settings.egress:
        rules = [_egress_rule(r.cidr, r.ports) for r in settings.egress]
        out.append(make("gitops-allow-model-egress", _egress_spec({}, rules)))
    if settings.internet_egress:
        internet = [
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}},
            {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10"]}},
        ]
        rule = {"to": internet, "ports": [{"protocol": "TCP", "port": 443}]}
        out.append(make(INTERNET_POLICY, _egress_spec({}, [rule])))
    if settings.api_server:
        rules = [_egress_rule(r.cidr, r.ports) for r in settings.api_server]
        selector = {"matchLabels": {KUBE_API_LABEL: "true"}}
        out.append(make("gitops-allow-kube-api", _egress_spec(selector, rules)))
    return out


def namespace_selector(namespace: str) -> dict[str, Any]:
    """Select one namespace by the label the API server sets on every Namespace."""
    return {"matchLabels": {"kubernetes.io/metadata.name": namespace}}


def _egress_spec(selector: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"podSelector": selector, "policyTypes": ["Egress"], "egress": rules}


def _egress_rule(cidr: str, ports: Sequence[int]) -> dict[str, Any]:
    return {
        "to": [{"ipBlock": {"cidr": cidr}}],
        "ports": [{"protocol": "TCP", "port": port} for port in ports],
    }


def _namespaces(
    source: str, key: str, data: Mapping[str, Any], default: tuple[str, ...]
) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if not isinstance(value, list):
        raise ValidationError(
            f"{source}: network.{key} must be a list of namespaces, got {value!r}"
        )
    for index, item in enumerate(value):
        check_dns1123_label(source, f"network.{key}[{index}]", item)
    return tuple(value)


def _ports(
    source: str, key: str, data: Mapping[str, Any], default: tuple[int | str, ...]
) -> tuple[int | str, ...]:
    value = data.get(key, list(default))
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f"{source}: network.{key} must be a non-empty list of port numbers or names, "
            f"got {value!r}"
        )
    for index, port in enumerate(value):
        _port(source, f"network.{key}[{index}]", port, named=True)
    return tuple(value)


def _port(source: str, where: str, port: object, *, named: bool) -> None:
    is_number = isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535
    # An IANA_SVC_NAME, as container ports are named: <= 15 characters, a letter among them.
    is_name = (
        named
        and isinstance(port, str)
        and 0 < len(port) <= 15
        and any(c.isalpha() for c in port)
        and check_name(port)
    )
    if not (is_number or is_name):
        expected = "a port number in 1..65535" + (" or a port name like 'http'" if named else "")
        raise ValidationError(f"{source}: {where} must be {expected}, got {port!r}")


def check_name(value: str) -> bool:
    """Whether ``value`` is a lowercase alphanumeric name with inner ``-`` (a port name)."""
    try:
        check_dns1123_label("", "", value)
    except ValidationError:
        return False
    return "--" not in value


def _destinations(
    source: str, key: str, value: Any, default_ports: tuple[int, ...]
) -> tuple[EgressRule, ...]:
    if not isinstance(value, list):
        raise ValidationError(
            f"{source}: network.{key} must be a list of {{cidr, ports}} mappings, got {value!r}"
        )
    out: list[EgressRule] = []
    for index, item in enumerate(value):
        where = f"network.{key}[{index}]"
        if not isinstance(item, Mapping) or "cidr" not in item or set(item) - _DESTINATION_KEYS:
            raise ValidationError(
                f"{source}: {where} must be a mapping with 'cidr' and optional 'ports', "
                f"got {item!r}"
            )
        cidr = item["cidr"]
        try:
            network = ipaddress.ip_network(cidr, strict=True) if isinstance(cidr, str) else None
        except ValueError:
            network = None
        if network is None:
            raise ValidationError(
                f"{source}: {where}.cidr must be a network like 10.20.0.0/16 (host bits zero), "
                f"got {cidr!r}"
            )
        if network.prefixlen == 0:
            raise ValidationError(
                f"{source}: {where}.cidr must not be the whole address space ({cidr}); use "
                "network.internet_egress: true to open the internet on 443 explicitly"
            )
        ports = item.get("ports", list(default_ports))
        if not isinstance(ports, list) or not ports:
            raise ValidationError(
                f"{source}: {where}.ports must be a non-empty list of port numbers, got {ports!r}"
            )
        for number, port in enumerate(ports):
            _port(source, f"{where}.ports[{number}]", port, named=False)
        out.append(EgressRule(cidr=str(network), ports=tuple(ports)))
    return tuple(out)
