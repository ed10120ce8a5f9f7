"""The Pod Security Standards checks, one function per check of ``k8s.io/pod-security-admission``.

Each function is named as the upstream check and version it implements
(``allowPrivilegeEscalation_1_8`` upstream is :func:`allow_privilege_escalation_1_8`) and
returns the offences it finds in a pod spec and metadata: where (the container, or None
for the pod), the field path in Kyverno's notation (``spec.containers[*].securityContext
.privileged``) and the offending values. No offence means the check passes.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

CONTAINER_GROUPS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class Offence:
    """One forbidden setting: its container (None: the pod), field and values."""

    container: Mapping[str, Any] | None
    field: str
    values: tuple[str, ...]


Check = Callable[[Mapping[str, Any], Mapping[str, Any]], list[Offence]]


def _containers(spec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(group, c) for group in CONTAINER_GROUPS for c in spec.get(group) or []
            if isinstance(c, Mapping)]  # fmt: skip


def _sc(holder: Mapping[str, Any]) -> Mapping[str, Any]:
    value = holder.get("securityContext")
    return value if isinstance(value, Mapping) else {}


def _windows(spec: Mapping[str, Any]) -> bool:
    return ((spec.get("os") or {}).get("name") or "") == "windows"


def host_namespaces_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """hostNetwork, hostPID and hostIPC must be unset or false."""
    return [
        Offence(None, f"spec.{field}", ("true",))
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if spec.get(field) is True
    ]


def privileged_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """No container may be privileged."""
    return [
        Offence(c, f"spec.{g}[*].securityContext.privileged", ("true",))
        for g, c in _containers(spec)
        if _sc(c).get("privileged") is True
    ]


_BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})  # fmt: skip


def capabilities_baseline_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """Capabilities added beyond the default set are forbidden."""
    out = []
    for group, c in _containers(spec):
        added = (_sc(c).get("capabilities") or {}).get("add") or []
        bad = tuple(str(a) for a in added if str(a) not in _BASELINE_CAPABILITIES)
        if bad:
            out.append(Offence(c, f"spec.{group}[*].securityContext.capabilities.add", bad))
    return out


def host_path_volumes_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """hostPath volumes are forbidden."""
    bad = tuple(str(v.get("name")) for v in spec.get("volumes") or []
                if isinstance(v, Mapping) and v.get("hostPath") is not None)  # fmt: skip
    return [Offence(None, "spec.volumes[*].hostPath", bad)] if bad else []


def host_ports_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """Containers may not use host ports."""
    out = []
    for group, c in _containers(spec):
        bad = tuple(str(p.get("hostPort")) for p in c.get("ports") or []
                    if isinstance(p, Mapping) and p.get("hostPort"))  # fmt: skip
        if bad:
            out.append(Offence(c, f"spec.{group}[*].ports[*].hostPort", bad))
    return out


_APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def app_armor_profile_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """AppArmor may not be disabled (annotations, and the appArmorProfile fields)."""
    out = []
    for key, value in (meta.get("annotations") or {}).items():
        if key.startswith(_APPARMOR_PREFIX) and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            out.append(Offence(None, f"metadata.annotations[{key}]", (str(value),)))
    if (_sc(spec).get("appArmorProfile") or {}).get("type") == "Unconfined":
        out.append(Offence(None, "spec.securityContext.appArmorProfile.type", ("Unconfined",)))
    for group, c in _containers(spec):
        if (_sc(c).get("appArmorProfile") or {}).get("type") == "Unconfined":
            out.append(Offence(c, f"spec.{group}[*].securityContext.appArmorProfile.type",
                               ("Unconfined",)))  # fmt: skip
    return out


def _se_linux(options: Any, field: str, container: Any, types: frozenset[str]) -> list[Offence]:
    if not isinstance(options, Mapping):
        return []
    out = []
    if str(options.get("type") or "") not in types:
        out.append(Offence(container, f"{field}.type", (str(options.get("type")),)))
    for part in ("user", "role"):
        if options.get(part):
            out.append(Offence(container, f"{field}.{part}", (str(options[part]),)))
    return out


def se_linux_options_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any],
                         version: tuple[int, int] = (1, 0)) -> list[Offence]:  # fmt: skip
    """SELinux type limited to the container types; user and role may not be set."""
    types = {"", "container_t", "container_init_t", "container_kvm_t"}
    if version >= (1, 31):
        types.add("container_engine_t")
    allowed = frozenset(types)
    out = _se_linux(_sc(spec).get("seLinuxOptions"), "spec.securityContext.seLinuxOptions",
                    None, allowed)  # fmt: skip
    for group, c in _containers(spec):
        out += _se_linux(
            _sc(c).get("seLinuxOptions"),
            f"spec.{group}[*].securityContext.seLinuxOptions",
            c,
            allowed,
        )
    return out


def proc_mount_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """procMount must be unset or Default."""
    return [Offence(c, f"spec.{g}[*].securityContext.procMount", (str(_sc(c)["procMount"]),))
            for g, c in _containers(spec)
            if _sc(c).get("procMount") not in (None, "Default")]  # fmt: skip


def seccomp_profile_baseline_1_19(meta: Mapping[str, Any],
                                  spec: Mapping[str, Any]) -> list[Offence]:  # fmt: skip
    """seccompProfile may not be Unconfined (pod or container)."""
    out = []
    if (_sc(spec).get("seccompProfile") or {}).get("type") == "Unconfined":
        out.append(Offence(None, "spec.securityContext.seccompProfile.type", ("Unconfined",)))
    for group, c in _containers(spec):
        if (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined":
            out.append(Offence(c, f"spec.{group}[*].securityContext.seccompProfile.type",
                               ("Unconfined",)))  # fmt: skip
    return out


_SAFE_SYSCTLS = (
    ((1, 0), {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
              "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range"}),
    ((1, 22), {"net.ipv4.ip_unprivileged_port_start"}),
    ((1, 27), {"net.ipv4.ip_local_reserved_ports"}),
    ((1, 29), {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
               "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}),
    ((1, 32), {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}),
)  # fmt: skip


def sysctls_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any],
                version: tuple[int, int] = (1, 0)) -> list[Offence]:  # fmt: skip
    """Only the safe sysctls of the version may be set."""
    safe = set().union(*(names for since, names in _SAFE_SYSCTLS if version >= since))
    bad = tuple(str(s.get("name")) for s in _sc(spec).get("sysctls") or []
                if isinstance(s, Mapping) and s.get("name") not in safe)  # fmt: skip
    return [Offence(None, "spec.securityContext.sysctls[*].name", bad)] if bad else []


def windows_host_process_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """Windows HostProcess containers are forbidden."""
    out = []
    if (_sc(spec).get("windowsOptions") or {}).get("hostProcess") is True:
        out.append(Offence(None, "spec.securityContext.windowsOptions.hostProcess", ("true",)))
    for group, c in _containers(spec):
        if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True:
            out.append(Offence(c, f"spec.{group}[*].securityContext.windowsOptions.hostProcess",
                               ("true",)))  # fmt: skip
    return out


_RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                 "persistentVolumeClaim", "projected", "secret"})  # fmt: skip


def restricted_volumes_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """Only the core non-host volume types may be used."""
    out = []
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, Mapping):
            continue
        for source in sorted(set(volume) - {"name"} - _RESTRICTED_VOLUMES):
            if volume[source] is not None:
                out.append(Offence(None, f"spec.volumes[*].{source}", (str(volume.get("name")),)))
    return out


def allow_privilege_escalation_1_8(meta: Mapping[str, Any], spec: Mapping[str, Any],
                                   version: tuple[int, int] = (1, 8)) -> list[Offence]:  # fmt: skip
    """Every container must set allowPrivilegeEscalation to false (not Windows pods, 1.25+)."""
    if version >= (1, 25) and _windows(spec):
        return []
    return [Offence(c, f"spec.{g}[*].securityContext.allowPrivilegeEscalation",
                    (str(_sc(c).get("allowPrivilegeEscalation")),))
            for g, c in _containers(spec)
            if _sc(c).get("allowPrivilegeEscalation") is not False]  # fmt: skip


def run_as_non_root_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """runAsNonRoot true on the pod (and not false on a container) or on every container."""
    pod = _sc(spec).get("runAsNonRoot")
    out = []
    if pod is False:
        out.append(Offence(None, "spec.securityContext.runAsNonRoot", ("false",)))
    for group, c in _containers(spec):
        own = _sc(c).get("runAsNonRoot")
        if own is False or (own is None and pod is not True):
            out.append(Offence(c, f"spec.{group}[*].securityContext.runAsNonRoot", (str(own),)))
    return out


def run_as_user_1_23(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Offence]:
    """runAsUser may not be 0 (pod or container)."""
    out = []
    if _sc(spec).get("runAsUser") == 0:
        out.append(Offence(None, "spec.securityContext.runAsUser", ("0",)))
    for group, c in _containers(spec):
        if _sc(c).get("runAsUser") == 0:
            out.append(Offence(c, f"spec.{group}[*].securityContext.runAsUser", ("0",)))
    return out


_SECCOMP_ALLOWED = ("RuntimeDefault", "Localhost")


def seccomp_profile_restricted_1_19(
    meta: Mapping[str, Any], spec: Mapping[str, Any], version: tuple[int, int] = (1, 19)
) -> list[Offence]:
    """seccompProfile RuntimeDefault or Localhost on the pod or on every container."""
    if version >= (1, 25) and _windows(spec):
        return []
    pod = (_sc(spec).get("seccompProfile") or {}).get("type")
    out = []
    if pod is not None and pod not in _SECCOMP_ALLOWED:
        out.append(Offence(None, "spec.securityContext.seccompProfile.type", (str(pod),)))
    for group, c in _containers(spec):
        own = (_sc(c).get("seccompProfile") or {}).get("type")
        if (own is not None and own not in _SECCOMP_ALLOWED) or (own is None and pod is None):
            out.append(Offence(c, f"spec.{group}[*].securityContext.seccompProfile.type",
                               (str(own),)))  # fmt: skip
    return out


def capabilities_restricted_1_22(meta: Mapping[str, Any], spec: Mapping[str, Any],
                                 version: tuple[int, int] = (1, 22)) -> list[Offence]:  # fmt: skip
    """Every container drops ALL and adds at most NET_BIND_SERVICE (not Windows pods, 1.25+)."""
    if version >= (1, 25) and _windows(spec):
        return []
    out = []
    for group, c in _containers(spec):
        capabilities = _sc(c).get("capabilities") or {}
        if "ALL" not in [str(d) for d in capabilities.get("drop") or []]:
            out.append(
                Offence(
                    c,
                    f"spec.{group}[*].securityContext.capabilities.drop",
                    tuple(str(d) for d in capabilities.get("drop") or []),
                )
            )
        added = tuple(str(a) for a in capabilities.get("add") or [] if a != "NET_BIND_SERVICE")
        if added:
            out.append(Offence(c, f"spec.{group}[*].securityContext.capabilities.add", added))
    return out
