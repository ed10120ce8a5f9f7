"""Metrics plumbing of an :class:`~gitops.constructs.inference.InferenceStack`: the labels a
Prometheus selects monitors by, and the prometheus-adapter rule an HPA on a Pods metric
needs.

An ``autoscaling/v2`` HPA reads a Pods metric from the custom metrics API, which only a
metrics adapter serves; without a rule exposing the metric the HPA reports
``FailedGetPodsMetric`` and never scales. The stack renders that rule in a ConfigMap next
to the HPA, labelled ``gitops.dev/metrics-adapter: prometheus-adapter``:
prometheus-adapter reads one configuration file, so the platform's adapter configuration
collects these rules (a ConfigMap-collecting sidecar, or a Kustomize/Helm merge).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

import yaml

from gitops.core.keys import Manifest

if TYPE_CHECKING:
    from gitops.constructs.stack_view import StackView

#: Label marking the ConfigMaps that hold prometheus-adapter rules.
ADAPTER_LABEL = "gitops.dev/metrics-adapter"


def adapter_metric_name(metric: str) -> str:
    """The custom-metrics API name of a Prometheus metric (``vllm:x`` -> ``vllm_x``).

    Colons are legal in Prometheus names but not in the resource-style names the custom
    metrics API serves, so the rule renames them.
    """
    return metric.replace(":", "_")


def adapter_rule(stack: StackView) -> dict[str, Any]:
    """The prometheus-adapter rule exposing the stack's autoscaling metric per pod."""
    return _rule(stack.autoscaling.metric, stack.namespace)


def _rule(metric: str, namespace: str) -> dict[str, Any]:
    return {
        "seriesQuery": f'{metric}{{namespace="{namespace}",pod!=""}}',
        "resources": {
            "overrides": {
                "namespace": {"resource": "namespace"},
                "pod": {"resource": "pod"},
            }
        },
        "name": {"matches": f"^{re.escape(metric)}$", "as": adapter_metric_name(metric)},
        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
    }


def adapter_rules(stack: StackView) -> list[Manifest]:
    """The ConfigMap carrying :func:`adapter_rule` (HPA autoscaling only)."""
    if stack.autoscaling.kind != "hpa":
        return []
    metadata = stack.metadata(f"{stack.id}-metrics-adapter", "autoscaling")
    metadata["labels"] = {**metadata["labels"], ADAPTER_LABEL: "prometheus-adapter"}
    text = _rules_text(stack.autoscaling.metric, stack.namespace)
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": {"rules.yaml": text},
        }
    ]


@functools.lru_cache(maxsize=256)
def _rules_text(metric: str, namespace: str) -> str:
    # The pure-Python emitter costs ~1 ms a call, and a fleet renders the same few
    # (metric, namespace) pairs for every stack on every cluster: dump each pair once.
    return yaml.safe_dump({"rules": [_rule(metric, namespace)]}, sort_keys=False, width=1000)


def monitor_metadata(stack: StackView) -> dict[str, Any]:
    """``metadata`` of the ServiceMonitor or PodMonitor, with the labels Prometheus selects.

    A Prometheus from kube-prometheus-stack selects monitors by its release label unless
    told otherwise; a monitor without it is never scraped, and the autoscaler silently
    never sees a metric.
    """
    metadata = stack.metadata(stack.id)
    metadata["labels"] = {**metadata["labels"], **stack.monitor_labels}
    return metadata
