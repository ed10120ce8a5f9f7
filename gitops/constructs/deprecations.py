"""Kubernetes' deprecated and removed apiVersions, for the ``deprecated-api-versions`` rule.

From the deprecated API migration guide
(https://kubernetes.io/docs/reference/using-api/deprecation-guide/), the table pluto and
kubent report from, for the kinds platforms render.

Purely data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Deprecation:
    """One apiVersion of a kind that Kubernetes deprecated, then removed."""

    api_version: str
    kind: str
    resource: str
    deprecated_in: str
    removed_in: str
    replacement: str


def _d(api: str, kind: str, resource: str, dep: str, rem: str, new: str) -> Deprecation:
    return Deprecation(api, kind, resource, dep, rem, new)


#: From https://kubernetes.io/docs/reference/using-api/deprecation-guide/ (the table pluto
#: and kubent report from), for the kinds platforms render.
DEPRECATIONS = (
    _d("extensions/v1beta1", "Deployment", "deployments", "1.9", "1.16", "apps/v1"),
    _d("extensions/v1beta1", "DaemonSet", "daemonsets", "1.9", "1.16", "apps/v1"),
    _d(
        "extensions/v1beta1",
        "NetworkPolicy",
        "networkpolicies",
        "1.9",
        "1.16",
        "networking.k8s.io/v1",
    ),
    _d("apps/v1beta1", "Deployment", "deployments", "1.9", "1.16", "apps/v1"),
    _d("apps/v1beta2", "Deployment", "deployments", "1.9", "1.16", "apps/v1"),
    _d("apps/v1beta1", "StatefulSet", "statefulsets", "1.9", "1.16", "apps/v1"),
    _d("apps/v1beta2", "StatefulSet", "statefulsets", "1.9", "1.16", "apps/v1"),
    _d("extensions/v1beta1", "Ingress", "ingresses", "1.14", "1.22", "networking.k8s.io/v1"),
    _d("networking.k8s.io/v1beta1", "Ingress", "ingresses", "1.19", "1.22", "networking.k8s.io/v1"),
    _d(
        "apiextensions.k8s.io/v1beta1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "1.16",
        "1.22",
        "apiextensions.k8s.io/v1",
    ),
    _d(
        "rbac.authorization.k8s.io/v1beta1",
        "Role",
        "roles",
        "1.17",
        "1.22",
        "rbac.authorization.k8s.io/v1",
    ),
    _d(
        "rbac.authorization.k8s.io/v1beta1",
        "RoleBinding",
        "rolebindings",
        "1.17",
        "1.22",
        "rbac.authorization.k8s.io/v1",
    ),
    _d(
        "scheduling.k8s.io/v1beta1",
        "PriorityClass",
        "priorityclasses",
        "1.14",
        "1.22",
        "scheduling.k8s.io/v1",
    ),
    _d("batch/v1beta1", "CronJob", "cronjobs", "1.21", "1.25", "batch/v1"),
    _d(
        "policy/v1beta1", "PodDisruptionBudget", "poddisruptionbudgets", "1.21", "1.25", "policy/v1"
    ),
    _d(
        "autoscaling/v2beta1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "1.22",
        "1.25",
        "autoscaling/v2",
    ),
    _d(
        "autoscaling/v2beta2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "1.23",
        "1.26",
        "autoscaling/v2",
    ),
    _d(
        "storage.k8s.io/v1beta1",
        "CSIStorageCapacity",
        "csistoragecapacities",
        "1.24",
        "1.27",
        "storage.k8s.io/v1",
    ),
    _d(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "FlowSchema",
        "flowschemas",
        "1.26",
        "1.29",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    _d(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "FlowSchema",
        "flowschemas",
        "1.29",
        "1.32",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    _d(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        "1.29",
        "1.32",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
)


def _minor(version: str) -> int:
    return int(version.split(".")[1])


def deprecated_for(version: str) -> list[Deprecation]:
    """The entries deprecated (or removed) at Kubernetes ``version`` (``"1.32"``)."""
    return [d for d in DEPRECATIONS if _minor(d.deprecated_in) <= _minor(version)]
