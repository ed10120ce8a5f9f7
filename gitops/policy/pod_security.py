"""Kyverno ``validate.podSecurity``: the Pod Security Standards at a level and version.

The checks are those of ``k8s.io/pod-security-admission``
(:mod:`gitops.policy.pod_security_checks`); ``baseline`` runs the baseline checks,
``restricted`` adds the restricted ones (whose seccomp and capabilities checks replace the
baseline ones), ``privileged`` runs none. ``version`` (``v1.N`` or ``latest``) selects
which checks exist and how they behave. ``exclude`` entries exempt a control by its
Pod Security Standards name (``controlName``): without ``images`` for the pod-level
fields, with ``images`` for containers whose image matches; ``restrictedField`` and
``values`` narrow an exemption to those fields and values.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from gitops.core.errors import PolicyError
from gitops.policy import pod_security_checks as checks
from gitops.policy.kyverno_functions import wildcard_match
from gitops.policy.pod_security_checks import Check, Offence

#: The newest version the checks know; ``latest`` means it.
LATEST = (1, 35)


class _Control(NamedTuple):
    check_id: str
    name: str  # the Pod Security Standards control name (Kyverno's controlName)
    level: str
    since: tuple[int, int]
    function: Check
    overrides: str = ""


CONTROLS = (
    _Control("hostNamespaces", "Host Namespaces", "baseline", (1, 0), checks.host_namespaces_1_0),
    _Control("privileged", "Privileged Containers", "baseline", (1, 0), checks.privileged_1_0),
    _Control("capabilities_baseline", "Capabilities", "baseline", (1, 0),
             checks.capabilities_baseline_1_0),
    _Control("hostPathVolumes", "HostPath Volumes", "baseline", (1, 0),
             checks.host_path_volumes_1_0),
    _Control("hostPorts", "Host Ports", "baseline", (1, 0), checks.host_ports_1_0),
    _Control("appArmorProfile", "AppArmor", "baseline", (1, 0), checks.app_armor_profile_1_0),
    _Control("seLinuxOptions", "SELinux", "baseline", (1, 0), checks.se_linux_options_1_0),
    _Control("procMount", "/proc Mount Type", "baseline", (1, 0), checks.proc_mount_1_0),
    _Control("seccompProfile_baseline", "Seccomp", "baseline", (1, 19),
             checks.seccomp_profile_baseline_1_19),
    _Control("sysctls", "Sysctls", "baseline", (1, 0), checks.sysctls_1_0),
    _Control("windowsHostProcess", "HostProcess", "baseline", (1, 0),
             checks.windows_host_process_1_0),
    _Control("restrictedVolumes", "Volume Types", "restricted", (1, 0),
             checks.restricted_volumes_1_0),
    _Control("allowPrivilegeEscalation", "Privilege Escalation", "restricted", (1, 8),
             checks.allow_privilege_escalation_1_8),
    _Control("runAsNonRoot", "Running as Non-root", "restricted", (1, 0),
             checks.run_as_non_root_1_0),
    _Control("runAsUser", "Running as Non-root user", "restricted", (1, 23),
             checks.run_as_user_1_23),
    _Control("seccompProfile_restricted", "Seccomp", "restricted", (1, 19),
             checks.seccomp_profile_restricted_1_19, "seccompProfile_baseline"),
    _Control("capabilities_restricted", "Capabilities", "restricted", (1, 22),
             checks.capabilities_restricted_1_22, "capabilities_baseline"),
)  # fmt: skip

_VERSION = re.compile(r"^v?(\d+)\.(\d+)$")


def parse_version(text: Any) -> tuple[int, int]:
    """``latest`` or ``v1.N`` as a comparable pair.

    Raises:
        PolicyError: anything else.
    """
    if text in (None, "", "latest"):
        return LATEST
    found = _VERSION.match(str(text))
    if not found:
        raise PolicyError(f"podSecurity.version must be 'latest' or 'v1.N', got {text!r}")
    return int(found.group(1)), int(found.group(2))


def controls_for(level: str, version: tuple[int, int]) -> list[_Control]:
    """The checks a level runs at a version (restricted ones replacing what they override)."""
    if level not in ("privileged", "baseline", "restricted"):
        raise PolicyError(f"podSecurity.level must be privileged, baseline or restricted, "
                          f"got {level!r}")  # fmt: skip
    if level == "privileged":
        return []
    levels = ("baseline",) if level == "baseline" else ("baseline", "restricted")
    chosen = [c for c in CONTROLS if c.level in levels and version >= c.since]
    replaced = {c.overrides for c in chosen}
    return [c for c in chosen if c.check_id not in replaced]


def _run(control: _Control, meta: Mapping[str, Any], spec: Mapping[str, Any],
         version: tuple[int, int]) -> list[Offence]:  # fmt: skip
    if "version" in inspect.signature(control.function).parameters:
        return control.function(meta, spec, version=version)  # type: ignore[call-arg]
    return control.function(meta, spec)


def _field_matches(pattern: str, field: str) -> bool:
    return wildcard_match(pattern.replace("[*]", "[?]").replace("[?]", "*"),
                          field.replace("[*]", "*"))  # fmt: skip


def _exempt(offence: Offence, control: _Control, exclusions: Sequence[Mapping[str, Any]]) -> bool:
    for exclusion in exclusions:
        if exclusion.get("controlName") != control.name:
            continue
        images = exclusion.get("images") or []
        if offence.container is None:
            if images:
                continue
        elif not any(wildcard_match(str(p), str(offence.container.get("image", "")))
                     for p in images):  # fmt: skip
            continue
        field = exclusion.get("restrictedField")
        if field and not _field_matches(str(field), offence.field):
            continue
        allowed = [str(v) for v in exclusion.get("values") or []]
        if allowed and not all(v in allowed for v in offence.values):
            continue
        return True
    return False


def validate_pod_security(settings: Mapping[str, Any], pod: Mapping[str, Any]) -> tuple[str, str]:
    """(``pass``/``fail``, message) of ``podSecurity`` on a Pod (or a pod template view).

    Raises:
        PolicyError: the level or version is invalid.
    """
    level = str(settings.get("level") or "")
    version = parse_version(settings.get("version"))
    exclusions = settings.get("exclude") or []
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    failed = []
    for control in controls_for(level, version):
        offences = [o for o in _run(control, meta, spec, version)
                    if not _exempt(o, control, exclusions)]  # fmt: skip
        if offences:
            fields = sorted({o.field for o in offences})
            failed.append(f"{control.name} ({control.check_id}): {', '.join(fields)}")
    if not failed:
        return "pass", ""
    label = f"{level}:{settings.get('version') or 'latest'}"
    return "fail", f'violates PodSecurity "{label}": ' + "; ".join(failed)
