"""Guardrail constructs: per-namespace isolation and quotas, cluster-wide admission rules.

:class:`NamespaceGuardrails` renders a Namespace with Pod Security Admission labels, a
default-deny NetworkPolicy with the allows an inference namespace needs, a ResourceQuota
and a LimitRange. :class:`ClusterGuardrails` renders one rule set with one engine:
native ValidatingAdmissionPolicy (see :mod:`gitops.constructs.guardrails_vap`) or Kyverno
ClusterPolicy (see :mod:`gitops.constructs.guardrails_kyverno`); both mean the same thing
and ``gitops check`` gives them the same verdicts.

Purely data-manipulative: no I/O.
"""

# Over 400 lines: the two public guardrail constructs and their documented parameters; the
# rules they render are in guardrails_rules, _vap, _kyverno and _failure_modes.
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gitops.constructs.base import Construct, check_dns1123_label
from gitops.constructs.guardrails_rules import RuleConfig
from gitops.constructs.network import (
    NetworkSettings,
    allow_policies,
    check_settings,
    namespace_selector,
)
from gitops.core.errors import ValidationError
from gitops.core.keys import Manifest
from gitops.core.labels import MANAGED_BY
from gitops.core.quantity import is_quantity, parse_quantity

#: Pod Security Standards levels.
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")
#: LimitRange ``type: Container`` fields the ``limits`` argument may set.
LIMIT_FIELDS = ("default", "defaultRequest", "max", "min", "maxLimitRequestRatio")
ENGINES = ("vap", "kyverno")
ACTIONS = ("Deny", "Warn", "Audit")

_LABEL_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
# A registry host (optional port) and optional repository path prefix, as images spell them.
_REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*/?$")
_RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")


def _labels(id: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": id,
        **(extra or {}),
    }


class NamespaceGuardrails(Construct):
    """A namespace fenced for inference workloads.

    Pod Security defaults to ``baseline`` enforced with ``restricted`` audited and warned:
    vLLM-style engine images run as root, which ``restricted`` rejects, while ``baseline``
    admits them (``emptyDir`` with ``medium: Memory`` for ``/dev/shm`` is allowed by both)
    and still refuses privileged pods, host namespaces and hostPath volumes.

    Args:
        scope: the parent scope or construct.
        id: construct id (a DNS-1123 label); also the ``part-of`` label.
        namespace: the namespace to create and fence.
        pod_security: enforced Pod Security level (``privileged|baseline|restricted``).
        pod_security_audit: audited and warned level (defaults to ``restricted``).
        gpu_quota: total GPUs the namespace may request (``requests.<gpu_resource>``).
        gpu_resource: the extended resource name of the GPUs.
        cpu_quota: total CPU (both ``requests.cpu`` and ``limits.cpu``), a quantity.
        memory_quota: total memory (``requests.memory`` and ``limits.memory``), a quantity.
        gateway_namespace: namespace of the gateway allowed to reach the serving ports (added
            to ``network.gateway_namespaces``).
        network: the allows beyond DNS and same-namespace traffic
            (:class:`~gitops.constructs.network.NetworkSettings`): gateway and monitoring
            namespaces to the serving and metrics ports, model-download egress, API server
            egress for endpoint pickers. Default: Prometheus in ``monitoring`` may scrape,
            nothing else.
        allow_same_namespace: allow traffic between pods of this namespace (a router and
            its engines).
        limits: LimitRange container fields, e.g. ``{"default": {"cpu": "1"}}``.
        labels: extra labels for the Namespace.
    """

    type_name = "NamespaceGuardrails"

    def __init__(
        self,
        scope: Any,
        id: str,
        *,
        namespace: str,
        pod_security: str = "baseline",
        pod_security_audit: str = "restricted",
        gpu_quota: int | None = None,
        gpu_resource: str = "nvidia.com/gpu",
        cpu_quota: str | None = None,
        memory_quota: str | None = None,
        gateway_namespace: str | None = None,
        network: NetworkSettings | None = None,
        allow_same_namespace: bool = True,
        limits: Mapping[str, Mapping[str, str]] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        owner = f"{self.type_name} {id!r}"
        self.target_namespace = check_dns1123_label(owner, "namespace", namespace)
        for field, level in (
            ("pod_security", pod_security),
            ("pod_security_audit", pod_security_audit),
        ):
            if level not in POD_SECURITY_LEVELS:
                raise ValidationError(
                    f"{owner}: {field} must be one of privileged, baseline, restricted, "
                    f"got {level!r}"
                )
        if gpu_quota is not None and (
            isinstance(gpu_quota, bool) or not isinstance(gpu_quota, int) or gpu_quota < 0
        ):
            raise ValidationError(f"{owner}: gpu_quota must be an integer >= 0, got {gpu_quota!r}")
        _check_resource_name(owner, "gpu_resource", gpu_resource)
        for field, value in (("cpu_quota", cpu_quota), ("memory_quota", memory_quota)):
            if value is not None:
                _check_quantity(owner, field, value)
        settings = check_settings(owner, network or NetworkSettings())
        if gateway_namespace is not None:
            check_dns1123_label(owner, "gateway_namespace", gateway_namespace)
            if gateway_namespace not in settings.gateway_namespaces:
                gateways = (*settings.gateway_namespaces, gateway_namespace)
                settings = dataclasses.replace(settings, gateway_namespaces=gateways)
        self.network = settings
        self.pod_security = pod_security
        self.pod_security_audit = pod_security_audit
        self.gpu_quota = gpu_quota
        self.gpu_resource = gpu_resource
        self.cpu_quota = cpu_quota
        self.memory_quota = memory_quota
        self.gateway_namespace = gateway_namespace
        self.allow_same_namespace = allow_same_namespace
        self.limits = _check_limits(owner, limits)
        self.extra_labels = _check_labels(owner, labels)
        self._register()

    def _build(self) -> list[Manifest]:
        ns = self.target_namespace
        objects: list[Manifest] = [self._namespace(), *self._network_policies()]
        hard: dict[str, str] = {}
        if self.gpu_quota is not None:
            # Extended resources cannot be overcommitted: only the requests. form is allowed.
            hard[f"requests.{self.gpu_resource}"] = str(self.gpu_quota)
        for resource, value in (("cpu", self.cpu_quota), ("memory", self.memory_quota)):
            if value is not None:
                hard[f"requests.{resource}"] = str(value)
                hard[f"limits.{resource}"] = str(value)
        if hard:
            objects.append(self._object("v1", "ResourceQuota", "gitops-quota", {"hard": hard}, ns))
        if self.limits:
            limit = {"type": "Container", **{k: dict(v) for k, v in self.limits.items()}}
            objects.append(
                self._object("v1", "LimitRange", "gitops-limits", {"limits": [limit]}, ns)
            )
        return objects

    def _object(
        self, api_version: str, kind: str, name: str, spec: dict[str, Any], ns: str
    ) -> Manifest:
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": ns, "labels": _labels(self.id)},
            "spec": spec,
        }

    def _namespace(self) -> Manifest:
        labels = _labels(self.id, self.extra_labels)
        for mode, level in (
            ("enforce", self.pod_security),
            ("audit", self.pod_security_audit),
            ("warn", self.pod_security_audit),
        ):
            labels[f"pod-security.kubernetes.io/{mode}"] = level
            labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.target_namespace, "labels": labels},
        }

    def _network_policies(self) -> list[Manifest]:
        ns = self.target_namespace
        net = "networking.k8s.io/v1"
        policies = [
            self._object(
                net,
                "NetworkPolicy",
                "gitops-default-deny",
                {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
                ns,
            ),
            self._object(
                net,
                "NetworkPolicy",
                "gitops-allow-dns",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": namespace_selector("kube-system"),
                                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                                }
                            ],
                            "ports": [
                                {"protocol": "UDP", "port": 53},
                                {"protocol": "TCP", "port": 53},
                            ],
                        }
                    ],
                },
                ns,
            ),
        ]
        if self.allow_same_namespace:
            same: list[dict[str, Any]] = [{"podSelector": {}}]
            policies.append(
                self._object(
                    net,
                    "NetworkPolicy",
                    "gitops-allow-same-namespace",
                    {
                        "podSelector": {},
                        "policyTypes": ["Ingress", "Egress"],
                        "ingress": [{"from": same}],
                        "egress": [{"to": same}],
                    },
                    ns,
                )
            )
        policies.extend(
            allow_policies(
                self.network, lambda name, spec: self._object(net, "NetworkPolicy", name, spec, ns)
            )
        )
        return policies


class ClusterGuardrails(Construct):
    """Cluster-wide admission rules for inference workloads, rendered for one engine.

    Every rule applies to Pods and to the pod templates of Deployments, StatefulSets,
    DaemonSets, Jobs and CronJobs. Rules: ``require-gpu-limits``,
    ``restrict-image-registries`` (only when ``allowed_registries`` is given),
    ``disallow-latest-tag``, ``require-labels`` (only when ``required_labels`` is given),
    ``require-probes`` and ``require-pod-requests-limits``; each becomes a policy named
    ``gitops-<rule>``.

    Args:
        scope: the parent scope or construct.
        id: construct id (a DNS-1123 label); also the ``part-of`` label.
        engine: ``vap`` (ValidatingAdmissionPolicy, built in) or ``kyverno``.
        action: ``Deny`` (reject), ``Warn`` (admit with a warning) or ``Audit`` (record).
        allowed_registries: image prefixes allowed, e.g. ``("nvcr.io/nim", "ghcr.io")``;
            each matches at a path boundary.
        required_labels: labels every pod (template) must carry with a non-empty value.
        max_gpus_per_pod: most GPUs the containers of one pod may request together.
        gpu_resource: the extended resource name of the GPUs.
        exclude_namespaces: namespaces the rules do not apply to.
        failure_modes: enables the inference failure-mode rules (both engines; see
            :mod:`gitops.constructs.guardrails_failure_modes`) with ``gpu_namespaces``,
            ``min_startup_seconds``, ``gang_schedulers``, ``gang_queues`` and
            ``kubernetes_version``; None leaves them out.
    """

    type_name = "ClusterGuardrails"

    def __init__(
        self,
        scope: Any,
        id: str,
        *,
        engine: str = "vap",
        action: str = "Deny",
        allowed_registries: Sequence[str] = (),
        required_labels: Sequence[str] = ("app.kubernetes.io/name",),
        max_gpus_per_pod: int = 8,
        gpu_resource: str = "nvidia.com/gpu",
        exclude_namespaces: Sequence[str] = ("kube-system",),
        failure_modes: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, id)
        owner = f"{self.type_name} {id!r}"
        if engine not in ENGINES:
            raise ValidationError(f"{owner}: engine must be one of vap, kyverno, got {engine!r}")
        if action not in ACTIONS:
            raise ValidationError(
                f"{owner}: action must be one of Deny, Warn, Audit, got {action!r}"
            )
        _check_rule_lists(owner, allowed_registries, required_labels, exclude_namespaces)
        if (
            isinstance(max_gpus_per_pod, bool)
            or not isinstance(max_gpus_per_pod, int)
            or (max_gpus_per_pod < 0)
        ):
            raise ValidationError(
                f"{owner}: max_gpus_per_pod must be an integer >= 0, got {max_gpus_per_pod!r}"
            )
        _check_resource_name(owner, "gpu_resource", gpu_resource)
        for ns in exclude_namespaces:
            check_dns1123_label(owner, "exclude_namespaces", ns)
        self.engine = engine
        self.config = RuleConfig(
            action=action,
            allowed_registries=tuple(r.rstrip("/") + "/" for r in allowed_registries),
            required_labels=tuple(required_labels),
            max_gpus_per_pod=max_gpus_per_pod,
            gpu_resource=gpu_resource,
            exclude_namespaces=tuple(exclude_namespaces),
            labels=_labels(id),
            **_failure_mode_options(owner, failure_modes),
        )
        self._register()

    def _build(self) -> list[Manifest]:
        if self.engine == "kyverno":
            from gitops.constructs.guardrails_kyverno import cluster_policies

            kyverno = cluster_policies(self.config)
            if self.config.failure_modes:
                from gitops.constructs.guardrails_failure_modes import (
                    failure_mode_cluster_policies,
                )

                kyverno += failure_mode_cluster_policies(self.config)
            return kyverno
        from gitops.constructs.guardrails_vap import admission_policies

        policies = admission_policies(self.config)
        if self.config.failure_modes:
            from gitops.constructs.guardrails_failure_modes import failure_mode_policies

            policies += failure_mode_policies(self.config)
        return policies


def _failure_mode_options(owner: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """RuleConfig fields for the failure-mode rules, validated."""
    if options is None:
        return {}
    allowed = {"gpu_namespaces", "min_startup_seconds", "gang_schedulers", "gang_queues",
               "kubernetes_version"}  # fmt: skip
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValidationError(f"{owner}: failure_modes: unknown option {unknown[0]!r}")
    out: dict[str, Any] = {"failure_modes": True}
    for name in ("gpu_namespaces", "gang_schedulers", "gang_queues"):
        values = options.get(name, ())
        if isinstance(values, str) or not all(
            isinstance(v, str) and _SAFE_WORD.match(v) for v in values
        ):
            raise ValidationError(
                f"{owner}: failure_modes.{name} must list names (DNS labels), got {values!r}"
            )
        out[name] = tuple(values)
    seconds = options.get("min_startup_seconds", 300)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValidationError(
            f"{owner}: failure_modes.min_startup_seconds must be an integer >= 0, got {seconds!r}"
        )
    out["min_startup_seconds"] = seconds
    version = options.get("kubernetes_version", "1.32")
    if not isinstance(version, str) or not re.fullmatch(r"1\.[0-9]{1,3}", version):
        raise ValidationError(
            f"{owner}: failure_modes.kubernetes_version must look like '1.32', got {version!r}"
        )
    out["kubernetes_version"] = version
    return out


#: Names quoted into CEL string literals: no quotes or backslashes can get in.
_SAFE_WORD = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


def _check_quantity(owner: str, field: str, value: object) -> None:
    if not is_quantity(value) or parse_quantity(value) < 0:  # type: ignore[arg-type]  # checked
        raise ValidationError(
            f"{owner}: {field} must be a non-negative Kubernetes quantity like '8' or '64Gi', "
            f"got {value!r}"
        )


def _check_rule_lists(
    owner: str,
    allowed_registries: Sequence[str],
    required_labels: Sequence[str],
    exclude_namespaces: Sequence[str],
) -> None:
    """Lists of strings, of registry prefixes and of label keys (a bare string is refused)."""
    for name, value in (
        ("allowed_registries", allowed_registries),
        ("required_labels", required_labels),
        ("exclude_namespaces", exclude_namespaces),
    ):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ValidationError(f"{owner}: {name} must be a list of strings, got {value!r}")
    for registry in allowed_registries:
        if not isinstance(registry, str) or not _REGISTRY.match(registry):
            raise ValidationError(
                f"{owner}: allowed_registries must hold registry prefixes like "
                f"'ghcr.io' or 'nvcr.io/nim' (no wildcards, no scheme), got {registry!r}"
            )
    for label in required_labels:
        if not isinstance(label, str) or len(label) > 316 or not _LABEL_NAME.match(label):
            raise ValidationError(f"{owner}: required_labels must hold label keys, got {label!r}")


def _check_resource_name(owner: str, field: str, value: object) -> None:
    if not isinstance(value, str) or not _RESOURCE_NAME.match(value):
        raise ValidationError(
            f"{owner}: {field} must be a resource name like 'nvidia.com/gpu', got {value!r}"
        )


def _check_limits(
    owner: str, limits: Mapping[str, Mapping[str, str]] | None
) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for field, resources in (limits or {}).items():
        if field not in LIMIT_FIELDS:
            raise ValidationError(
                f"{owner}: limits keys must be among {', '.join(LIMIT_FIELDS)}, got {field!r}"
            )
        if not isinstance(resources, Mapping):
            raise ValidationError(
                f"{owner}: limits.{field} must map resource names to quantities, got {resources!r}"
            )
        for resource, value in resources.items():
            _check_resource_name(owner, f"limits.{field} key", resource)
            _check_quantity(owner, f"limits.{field}.{resource}", value)
        out[field] = {str(k): str(v) for k, v in resources.items()}
    return out


def _check_labels(owner: str, labels: Mapping[str, str] | None) -> dict[str, str]:
    for key, value in (labels or {}).items():
        if not isinstance(key, str) or not _LABEL_NAME.match(key):
            raise ValidationError(f"{owner}: labels keys must be label names, got {key!r}")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValidationError(
                f"{owner}: labels[{key!r}] must be a label value (at most 63 characters of "
                f"letters, digits, '-', '_', '.'), got {value!r}"
            )
    return dict(labels or {})
