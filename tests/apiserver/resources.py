"""The kinds the test API server serves, and the discovery documents describing them.

Purely data-manipulative: no I/O. Built-in kinds are a fixed table; custom resources are
added and removed at run time when CustomResourceDefinitions are established or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CLUSTER_VERBS = VERBS


@dataclass(frozen=True)
class Resource:
    """One served resource type (a row of an APIResourceList).

    Attributes:
        group: API group ("" for the core group).
        version: API version within the group.
        kind: The object kind, e.g. ``Deployment``.
        plural: The URL segment, e.g. ``deployments``.
        singular: The singular name, e.g. ``deployment``.
        namespaced: Whether objects live in a namespace.
        short_names: kubectl short names.
        status: Whether the resource has a ``/status`` subresource (spec writes keep status).
        generation: Whether ``metadata.generation`` is maintained.
        custom: Whether a CustomResourceDefinition serves it.
        scale: Whether the resource has a ``/scale`` subresource.
    """

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    status: bool = False
    generation: bool = False
    custom: bool = False
    scale: bool = False

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        """The kind of a list of these objects."""
        return f"{self.kind}List"

    def discovery(self) -> list[dict[str, Any]]:
        """The APIResource entries for this resource (and its status subresource)."""
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(VERBS),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        entries = [entry]
        if self.status:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if self.scale:
            entries.append(
                {
                    "name": f"{self.plural}/scale",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
        return entries


def _r(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    generation: bool = False,
    scale: bool = False,
) -> Resource:
    return Resource(
        group,
        version,
        kind,
        plural,
        kind.lower(),
        namespaced,
        short,
        status,
        generation,
        scale=scale,
    )


BUILTIN: tuple[Resource, ...] = (
    _r("", "v1", "Namespace", "namespaces", False, ("ns",), status=True),
    _r("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "Service", "services", short=("svc",), status=True),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), status=True),
    _r("", "v1", "Pod", "pods", short=("po",), status=True),
    _r("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), status=True),
    _r("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _r(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short=("deploy",),
        status=True,
        generation=True,
        scale=True,
    ),
    _r(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        short=("sts",),
        status=True,
        generation=True,
        scale=True,
    ),
    _r("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), status=True, generation=True),
    _r("batch", "v1", "Job", "jobs", status=True, generation=True),
    _r("batch", "v1", "CronJob", "cronjobs", short=("cj",), status=True, generation=True),
    _r(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short=("hpa",),
        status=True,
        generation=True,
    ),
    _r(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short=("pdb",),
        status=True,
        generation=True,
    ),
    _r(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        short=("netpol",),
        generation=True,
    ),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), status=True),
    _r(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        False,
        status=True,
        generation=True,
    ),
    _r(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
        generation=True,
    ),
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _r(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
        status=True,
        generation=True,
    ),
)


class Registry:
    """The set of served resources, looked up by URL segments or by kind."""

    def __init__(self) -> None:
        self._resources: list[Resource] = list(BUILTIN)

    def all(self) -> list[Resource]:
        """Every served resource, built-in first."""
        return list(self._resources)

    def by_plural(self, group: str, version: str, plural: str) -> Resource | None:
        """The resource served at ``/apis/<group>/<version>/<plural>``, if any."""
        for res in self._resources:
            if (res.group, res.version, res.plural) == (group, version, plural):
                return res
        return None

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        """The resource for ``apiVersion``/``kind``, if served."""
        for res in self._resources:
            if res.api_version == api_version and res.kind == kind:
                return res
        return None

    def add_crd(self, crd: dict[str, Any]) -> list[Resource]:
        """Serve every served version of a CustomResourceDefinition; return what was added."""
        self.remove_crd(crd)
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        added = []
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            has_status = "status" in (version.get("subresources") or {})
            res = Resource(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                singular=names.get("singular", names["kind"].lower()),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames", [])),
                status=has_status,
                generation=True,
                custom=True,
            )
            self._resources.append(res)
            added.append(res)
        return added

    def remove_crd(self, crd: dict[str, Any]) -> list[Resource]:
        """Stop serving the kinds a CustomResourceDefinition defined; return what was removed."""
        spec = crd.get("spec", {})
        group, plural = spec.get("group"), spec.get("names", {}).get("plural")
        removed = [
            r for r in self._resources if r.custom and (r.group, r.plural) == (group, plural)
        ]
        self._resources = [r for r in self._resources if r not in removed]
        return removed

    def groups(self) -> dict[str, list[str]]:
        """Named groups (not the core group) mapped to their versions, in serving order."""
        out: dict[str, list[str]] = {}
        for res in self._resources:
            if res.group and res.version not in out.setdefault(res.group, []):
                out[res.group].append(res.version)
        return out

    def api_group_list(self) -> dict[str, Any]:
        """The ``/apis`` document (APIGroupList)."""
        groups = []
        for name, versions in self.groups().items():
            entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
            groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        """The ``/apis/<group>/<version>`` (or ``/api/v1``) document, or None if not served."""
        rows = [r for r in self._resources if (r.group, r.version) == (group, version)]
        if not rows:
            return None
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [entry for r in rows for entry in r.discovery()],
        }
