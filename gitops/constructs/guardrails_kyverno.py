"""Render the cluster guardrail rule set as Kyverno ``kyverno.io/v1`` ClusterPolicies.

One ClusterPolicy per rule, written as the Kyverno policy library writes them: rules
match Pods only and Kyverno's auto-generation extends them to the pod templates of
Deployments, StatefulSets, DaemonSets, Jobs and CronJobs. Patterns use the library's
anchors (``=(initContainers)``), wildcards (``?*``, ``*:*``, ``!*:latest``) and ``|``
alternatives; the probe and GPU rules use ``foreach``/``deny`` with JMESPath.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from typing import Any

from gitops.constructs.guardrails_rules import (
    POD_CONTROLLERS,
    POLICY_PREFIX,
    RuleConfig,
    common_labels,
    messages,
    rules,
)
from gitops.core.keys import Manifest

_CONTAINER_LISTS = "request.object.spec.[containers, initContainers][][]"


def _both_lists(item: dict[str, Any]) -> dict[str, Any]:
    """A pod-spec pattern applying ``item`` to containers and (if any) init containers."""
    return {"spec": {"=(initContainers)": [dict(item)], "containers": [dict(item)]}}


#: One Kyverno rule: (rule name, message key, validate body).
_Rule = tuple[str, str, dict[str, Any]]


def _rule_bodies(config: RuleConfig) -> dict[str, list[_Rule]]:
    """Kyverno rules per guardrail: (rule name, message key, validate body)."""
    alternatives = " | ".join(f"{registry}*" for registry in config.allowed_registries)
    return {
        "require-gpu-limits": _gpu_rules(config),
        "restrict-image-registries": [
            ("validate-registries", "registry", {"pattern": _both_lists({"image": alternatives})}),
        ],
        "disallow-latest-tag": [
            ("require-image-tag", "tag", {"pattern": _both_lists({"image": "*:*"})}),
            ("validate-image-tag", "latest", {"pattern": _both_lists({"image": "!*:latest"})}),
        ],
        "require-labels": [
            (
                "check-for-labels",
                "labels",
                {
                    "pattern": {
                        "metadata": {"labels": {label: "?*" for label in config.required_labels}}
                    }
                },
            ),
        ],
        "require-probes": [_probe_rule()],
        "require-pod-requests-limits": [_resources_rule()],
    }


def _gpu_rules(config: RuleConfig) -> list[_Rule]:
    """A GPU request needs its limit; a pod's GPUs stay under the maximum."""
    gpu = config.gpu_resource
    return [
        (
            "require-gpu-limit",
            "limit",
            {
                "foreach": [
                    {
                        "list": _CONTAINER_LISTS,
                        "deny": {
                            "conditions": {
                                "all": [
                                    {
                                        "key": gpu,
                                        "operator": "AnyIn",
                                        "value": "{{ keys(element.resources.requests || `{}`) }}",
                                    },
                                    {
                                        "key": gpu,
                                        "operator": "AnyNotIn",
                                        "value": "{{ keys(element.resources.limits || `{}`) }}",
                                    },
                                ]
                            }
                        },
                    }
                ]
            },
        ),
        (
            "limit-gpus-per-pod",
            "max",
            {
                "deny": {
                    "conditions": {
                        "any": [
                            {
                                # `0` for a container without GPUs: sum() of an empty
                                # list is an error in Kyverno's JMESPath, which denied
                                # every pod without GPUs (an endpoint picker).
                                "key": "{{ sum(request.object.spec.containers[]"
                                f'.to_number(resources.limits."{gpu}" || `0`)) }}}}',
                                "operator": "GreaterThan",
                                "value": config.max_gpus_per_pod,
                            }
                        ]
                    }
                }
            },
        ),
    ]


def _probe_rule() -> _Rule:
    """Serving containers (those that declare ports) need readiness and liveness probes."""
    return (
        "validate-probes",
        "probes",
        {
            "foreach": [
                {
                    # Only serving containers: those that declare ports.
                    "list": "request.object.spec.containers[?ports]",
                    "deny": {
                        "conditions": {
                            "any": [
                                {
                                    "key": probe,
                                    "operator": "AnyNotIn",
                                    "value": "{{ element.keys(@) }}",
                                }
                                for probe in ("readinessProbe", "livenessProbe")
                            ]
                        }
                    },
                }
            ]
        },
    )


def _resources_rule() -> _Rule:
    """Every container requests CPU and memory and limits memory."""
    return (
        "validate-resources",
        "resources",
        {
            "pattern": {
                "spec": {
                    "containers": [
                        {
                            "resources": {
                                "requests": {"memory": "?*", "cpu": "?*"},
                                "limits": {"memory": "?*"},
                            }
                        }
                    ]
                }
            }
        },
    )


def cluster_policies(config: RuleConfig) -> list[Manifest]:
    """Render one ClusterPolicy per enabled rule."""
    texts = messages(config)
    bodies = _rule_bodies(config)
    out: list[Manifest] = []
    for info in rules(config):
        kyverno_rules: list[dict[str, Any]] = []
        for rule_name, key, body in bodies[info.name]:
            rule: dict[str, Any] = {
                "name": rule_name,
                "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            }
            if config.exclude_namespaces:
                rule["exclude"] = {
                    "any": [{"resources": {"namespaces": list(config.exclude_namespaces)}}]
                }
            rule["validate"] = {"message": texts[(info.name, key)], **body}
            kyverno_rules.append(rule)
        spec: dict[str, Any] = {
            "validationFailureAction": "Enforce" if config.action == "Deny" else "Audit",
            "background": True,
        }
        if config.action == "Warn":
            # Audit mode plus API-response warnings is Kyverno's equivalent of Warn.
            spec["emitWarning"] = True
        spec["rules"] = kyverno_rules
        out.append(
            {
                "apiVersion": "kyverno.io/v1",
                "kind": "ClusterPolicy",
                "metadata": {
                    "name": POLICY_PREFIX + info.name,
                    "labels": common_labels(config, info.name),
                    "annotations": {
                        "policies.kyverno.io/title": info.title,
                        "policies.kyverno.io/category": "Inference Guardrails",
                        "policies.kyverno.io/severity": "medium",
                        "policies.kyverno.io/subject": "Pod",
                        "policies.kyverno.io/description": info.description,
                        # The same controllers the VAP engine matches, so both agree.
                        "pod-policies.kyverno.io/autogen-controllers": ",".join(POD_CONTROLLERS),
                    },
                },
                "spec": spec,
            }
        )
    return out
