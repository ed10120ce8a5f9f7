"""Defaulting and quantity canonicalization, as kube-apiserver applies them on every write.

Purely data-manipulative: no I/O (the Service cluster IP comes from a caller-given allocator).
Covers the common fields of the kinds the reconciler manages; see README.md for the gaps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from gitops.quantity import parse_quantity

_DECIMAL_SUFFIX = {
    -9: "n",
    -6: "u",
    -3: "m",
    0: "",
    3: "k",
    6: "M",
    9: "G",
    12: "T",
    15: "P",
    18: "E",
}
_BINARY_SUFFIX = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


def canonical_quantity(value: str | int | float) -> str:
    """The canonical form the real server stores (``1000m`` -> ``1``, ``1024Mi`` -> ``1Gi``).

    Keeps the format family of the input (binary suffix, decimal suffix or exponent); values
    finer than the nano unit are rounded up, as resource.Quantity does.
    """
    text = str(value).strip()
    amount = parse_quantity(text)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    binary = text.endswith("i")
    exponent_form = any(c in "eE" for c in text.lstrip("+-").rstrip("EPTGMk"))
    if binary and amount.denominator == 1 and amount >= 1024:
        number, power = int(amount), 0
        while number % 1024 == 0 and power < len(_BINARY_SUFFIX) - 1:
            number, power = number // 1024, power + 1
        return f"{sign}{number}{_BINARY_SUFFIX[power]}"
    nanos = amount * 10**9
    scaled = -(-nanos.numerator // nanos.denominator)  # round up to a whole nano
    if scaled == 0:
        return "0"
    exp = -9
    while scaled % 1000 == 0 and exp < 18:
        scaled, exp = scaled // 1000, exp + 3
    if exponent_form:
        return f"{sign}{scaled}" + (f"e{exp}" if exp else "")
    return f"{sign}{scaled}{_DECIMAL_SUFFIX[exp]}"


def _canonical_map(values: Any) -> None:
    if isinstance(values, dict):
        for key, val in values.items():
            if isinstance(val, (str, int, float)) and not isinstance(val, bool):
                # Validation is not this server's job: keep what was sent if it is not one.
                with contextlib.suppress(ValueError):
                    values[key] = canonical_quantity(val)


def _resources(resources: Any) -> None:
    if isinstance(resources, dict):
        for part in ("requests", "limits"):
            _canonical_map(resources.get(part))


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, val in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1)):
        probe.setdefault(key, val)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _container(c: dict[str, Any]) -> None:
    image = str(c.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    _resources(c["resources"])
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))
    for env in c.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def pod_spec(spec: dict[str, Any]) -> None:
    """Default a PodSpec in place."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            _container(c)
    for vol in spec.get("volumes") or []:
        for source in ("configMap", "secret"):
            if isinstance(vol.get(source), dict):
                vol[source].setdefault("defaultMode", 420)


def _template(spec: dict[str, Any]) -> None:
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    pod_spec(template.setdefault("spec", {}))


def _deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def _statefulset(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    _template(spec)


def _service(obj: dict[str, Any], allocate_ip: Callable[[], str]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        if "clusterIP" not in spec:
            spec["clusterIP"] = allocate_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def apply_defaults(obj: dict[str, Any], allocate_ip: Callable[[], str]) -> None:
    """Default and canonicalize ``obj`` in place, by kind."""
    kind = obj.get("kind")
    spec = obj.get("spec")
    if kind == "Deployment":
        _deployment(obj)
    elif kind == "StatefulSet":
        _statefulset(obj)
    elif kind in ("DaemonSet", "Job") and isinstance(spec, dict):
        _template(spec)
    elif kind == "CronJob" and isinstance(spec, dict):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
        _template(job_spec)
    elif kind == "Pod" and isinstance(spec, dict):
        pod_spec(spec)
    elif kind == "Service":
        _service(obj, allocate_ip)
    elif kind == "PersistentVolumeClaim":
        pvc = obj.setdefault("spec", {})
        pvc.setdefault("volumeMode", "Filesystem")
        _resources(pvc.get("resources"))
    elif kind == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")
    canonicalize(obj)


def canonicalize(obj: dict[str, Any]) -> None:
    """Canonicalize the quantities of a built-in object in place (requests, limits, quotas)."""
    _canonical_walk(obj)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if obj.get("kind") == "ResourceQuota":
        _canonical_map(spec.get("hard"))
    if obj.get("kind") == "LimitRange":
        for limit in spec.get("limits") or []:
            for part in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
                _canonical_map(limit.get(part))


def _canonical_walk(value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _canonical_walk(item)
    if not isinstance(value, dict):
        return
    for key, child in value.items():
        if key == "resources" and isinstance(child, dict):
            _resources(child)
        elif key == "emptyDir" and isinstance(child, dict) and "sizeLimit" in child:
            limit = {"sizeLimit": child["sizeLimit"]}
            _canonical_map(limit)
            child["sizeLimit"] = limit["sizeLimit"]
        _canonical_walk(child)


def workload_status(obj: dict[str, Any], ready: bool) -> dict[str, Any] | None:
    """The status a healthy (or stuck) controller would report, for Deployment/StatefulSet.

    Namespaces report ``Active``; other kinds get None (status left as it is).
    """
    if obj.get("kind") == "Namespace":
        return obj.get("status") or {"phase": "Active"}
    if obj.get("kind") not in ("Deployment", "StatefulSet"):
        return None
    replicas = int(obj.get("spec", {}).get("replicas", 1))
    gen = obj["metadata"].get("generation", 1)
    status: dict[str, Any] = {"observedGeneration": gen, "replicas": replicas}
    status["updatedReplicas"] = replicas
    if ready:
        status["readyReplicas"] = replicas
        status["availableReplicas"] = replicas
    elif replicas:
        status["unavailableReplicas"] = replicas
    if obj["kind"] == "Deployment":
        avail = "True" if ready else "False"
        reason = "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable"
        status["conditions"] = [
            {"type": "Available", "status": avail, "reason": reason},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ]
    return status


def ready_condition(status: Any, ready: bool) -> dict[str, Any]:
    """``status`` with its ``Ready`` condition set (how KServe and most operators report)."""
    out = dict(status) if isinstance(status, dict) else {}
    others = [c for c in out.get("conditions") or [] if c.get("type") != "Ready"]
    flag = "True" if ready else "False"
    out["conditions"] = [*others, {"type": "Ready", "status": flag}]
    return out
