"""Render the cluster guardrail rule set as ValidatingAdmissionPolicy + binding pairs.

Each rule is one ``admissionregistration.k8s.io/v1`` ValidatingAdmissionPolicy matching
Pods and the pod controllers; ``variables`` pick the pod spec and pod metadata by kind so
one set of CEL validations serves every kind. The binding carries the action and
excludes namespaces by the ``kubernetes.io/metadata.name`` label every Namespace has.

The CEL stays within what both the API server and ``gitops check`` evaluate: standard
macros, ``has()``, ``in`` on maps, and the Kubernetes ``lists`` library's ``sum()``.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from typing import Any

from gitops.constructs.guardrails_rules import (
    POLICY_PREFIX,
    RuleConfig,
    common_labels,
    messages,
    rules,
)
from gitops.core.keys import Manifest

_API = "admissionregistration.k8s.io/v1"

#: validationActions of the binding for each ClusterGuardrails action.
VALIDATION_ACTIONS = {"Deny": ["Deny"], "Warn": ["Warn", "Audit"], "Audit": ["Audit"]}

_RESOURCE_RULES = [
    {"apiGroups": [""], "resources": ["pods"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets"]},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"]},
]

_TEMPLATE = (
    "(object.kind == 'Pod' ? object : object.kind == 'CronJob' ? "
    "object.spec.jobTemplate.spec.template : object.spec.template)"
)

#: Variables selecting the pod spec and metadata whatever the kind.
VARIABLES = [
    {"name": "podSpec", "expression": f"{_TEMPLATE}.spec"},
    {
        "name": "podMeta",
        "expression": f"has({_TEMPLATE}.metadata) ? {_TEMPLATE}.metadata : {{}}",
    },
    {"name": "containers", "expression": "variables.podSpec.containers"},
    {
        "name": "allContainers",
        "expression": "variables.podSpec.containers + "
        "(has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])",
    },
]


def _validations(config: RuleConfig) -> dict[str, list[tuple[str, str]]]:
    """CEL expressions per rule, with the message key they report."""
    gpu = f"'{config.gpu_resource}'"
    has_limit = f"has(c.resources) && has(c.resources.limits) && {gpu} in c.resources.limits"
    registries = "[" + ", ".join(f"'{r}'" for r in config.allowed_registries) + "]"
    labels = "[" + ", ".join(f"'{label}'" for label in config.required_labels) + "]"
    return {
        "require-gpu-limits": [
            (
                "variables.allContainers.all(c, !has(c.resources) || "
                f"!has(c.resources.requests) || !({gpu} in c.resources.requests) || "
                f"({has_limit}))",
                "limit",
            ),
            (
                f"variables.containers.map(c, {has_limit} ? "
                f"int(string(c.resources.limits[{gpu}])) : 0).sum() <= "
                f"{config.max_gpus_per_pod}",
                "max",
            ),
        ],
        "restrict-image-registries": [
            (
                f"variables.allContainers.all(c, {registries}.exists(r, c.image.startsWith(r)))",
                "registry",
            ),
        ],
        "disallow-latest-tag": [
            ("variables.allContainers.all(c, c.image.contains(':'))", "tag"),
            ("variables.allContainers.all(c, !c.image.endsWith(':latest'))", "latest"),
        ],
        "require-labels": [
            (
                f"{labels}.all(l, has(variables.podMeta.labels) && "
                "l in variables.podMeta.labels && variables.podMeta.labels[l] != '')",
                "labels",
            ),
        ],
        "require-probes": [
            (
                "variables.containers.all(c, !has(c.ports) || size(c.ports) == 0 || "
                "(has(c.readinessProbe) && has(c.livenessProbe)))",
                "probes",
            ),
        ],
        "require-pod-requests-limits": [
            (
                "variables.containers.all(c, has(c.resources) && has(c.resources.requests) && "
                "'cpu' in c.resources.requests && 'memory' in c.resources.requests && "
                "has(c.resources.limits) && 'memory' in c.resources.limits)",
                "resources",
            ),
        ],
    }


def binding_spec(config: RuleConfig, policy: str) -> dict[str, Any]:
    """The spec of ``policy``'s binding: the configured action, excluded namespaces left out."""
    binding: dict[str, Any] = {
        "policyName": policy,
        "validationActions": list(VALIDATION_ACTIONS[config.action]),
    }
    if config.exclude_namespaces:
        binding["matchResources"] = {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": list(config.exclude_namespaces),
                    }
                ]
            }
        }
    return binding


def admission_policies(config: RuleConfig) -> list[Manifest]:
    """Render one ValidatingAdmissionPolicy and one binding per enabled rule."""
    texts = messages(config)
    validations = _validations(config)
    out: list[Manifest] = []
    for info in rules(config):
        name = POLICY_PREFIX + info.name
        labels = common_labels(config, info.name)
        spec: dict[str, Any] = {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {**rule, "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"]}
                    for rule in _RESOURCE_RULES
                ]
            },
            "variables": [dict(v) for v in VARIABLES],
            "validations": [
                {"expression": expression, "message": texts[(info.name, key)], "reason": "Invalid"}
                for expression, key in validations[info.name]
            ],
        }
        out.append(
            {
                "apiVersion": _API,
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": {"gitops.dev/description": info.description},
                },
                "spec": spec,
            }
        )
        binding = binding_spec(config, name)
        out.append(
            {
                "apiVersion": _API,
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name, "labels": dict(labels)},
                "spec": binding,
            }
        )
    return out
