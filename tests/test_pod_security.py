"""Pod Security Standards checks (``validate.podSecurity``), each upstream check once."""

from __future__ import annotations

from typing import Any

import pytest

from gitops.core.errors import PolicyError
from gitops.policy.pod_security import controls_for, parse_version, validate_pod_security

RESTRICTED_CONTAINER = {
    "name": "c",
    "image": "ghcr.io/app:1",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"]},
    },
}


def pod(spec: dict[str, Any] | None = None, container: dict[str, Any] | None = None,
        annotations: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    merged = {**RESTRICTED_CONTAINER, "securityContext": {
        **RESTRICTED_CONTAINER["securityContext"], **(container or {})}}  # fmt: skip
    return {"metadata": {"annotations": annotations or {}},
            "spec": {"containers": [merged], **(spec or {})}}  # fmt: skip


def verdict(level: str, subject: dict[str, Any], version: str = "latest",
            exclude: list[dict[str, Any]] | None = None) -> str:  # fmt: skip
    settings = {"level": level, "version": version, "exclude": exclude or []}
    return validate_pod_security(settings, subject)[0]


def test_a_restricted_pod_passes_restricted() -> None:
    assert verdict("restricted", pod()) == "pass"


@pytest.mark.parametrize(
    ("level", "subject"),
    [
        ("baseline", pod({"hostNetwork": True})),  # hostNamespaces
        ("baseline", pod(container={"privileged": True})),  # privileged
        ("baseline", pod(container={"capabilities": {"add": ["NET_ADMIN"]}})),  # capabilities
        ("baseline", pod({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]})),  # hostPath
        ("baseline", pod(container={"procMount": "Unmasked"})),  # procMount
        ("baseline", pod(container={"seccompProfile": {"type": "Unconfined"}})),  # seccomp
        ("baseline", pod(container={"seLinuxOptions": {"type": "spc_t"}})),  # seLinux
        ("baseline", pod({"securityContext": {"sysctls": [{"name": "kernel.msgmax"}]}})),
        ("baseline", pod(container={"windowsOptions": {"hostProcess": True}})),
        (
            "baseline",
            pod(annotations={"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}),
        ),
        ("restricted", pod({"volumes": [{"name": "n", "nfs": {"server": "x"}}]})),  # volumes
        ("restricted", pod(container={"allowPrivilegeEscalation": True})),
        ("restricted", pod(container={"allowPrivilegeEscalation": None})),  # unset fails too
        ("restricted", pod(container={"runAsNonRoot": False})),
        ("restricted", pod(container={"runAsUser": 0})),
        ("restricted", pod(container={"capabilities": {"drop": ["NET_RAW"]}})),
        ("restricted", pod(container={"seccompProfile": None})),
    ],
)
def test_each_check_fails_its_violation(level: str, subject: dict[str, Any]) -> None:
    assert verdict(level, subject) == "fail"


def test_host_ports_are_forbidden_at_baseline() -> None:
    subject = pod()
    subject["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 80}]
    assert verdict("baseline", subject) == "fail"


def test_restricted_only_checks_pass_baseline_and_privileged_runs_nothing() -> None:
    subject = pod(container={"runAsNonRoot": False, "allowPrivilegeEscalation": True})
    assert verdict("baseline", subject) == "pass"
    assert verdict("privileged", pod({"hostPID": True})) == "pass"


def test_versions_select_the_checks_that_existed() -> None:
    root = pod(container={"runAsUser": 0})
    assert verdict("restricted", root, "v1.22") == "pass"  # runAsUser came in 1.23
    assert verdict("restricted", root, "v1.23") == "fail"
    sysctl = pod({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_keepalive_time"}]}})
    assert verdict("baseline", sysctl, "v1.28") == "fail"
    assert verdict("baseline", sysctl, "v1.29") == "pass"


def test_restricted_checks_replace_the_baseline_ones_they_override() -> None:
    ids = {c.check_id for c in controls_for("restricted", parse_version("latest"))}
    assert "capabilities_restricted" in ids and "capabilities_baseline" not in ids
    assert "seccompProfile_restricted" in ids and "seccompProfile_baseline" not in ids


def test_exclusions_exempt_a_control_for_matching_images_or_pod_fields() -> None:
    added = pod(container={"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}})
    by_image = [{"controlName": "Capabilities", "images": ["ghcr.io/*"]}]
    other_image = [{"controlName": "Capabilities", "images": ["docker.io/*"]}]
    assert verdict("restricted", added, exclude=by_image) == "pass"
    assert verdict("restricted", added, exclude=other_image) == "fail"
    host = pod({"hostIPC": True})
    assert verdict("baseline", host, exclude=[{"controlName": "Host Namespaces"}]) == "pass"
    narrowed = [{"controlName": "Capabilities", "images": ["*"],
                 "restrictedField": "spec.containers[*].securityContext.capabilities.add",
                 "values": ["NET_RAW"]}]  # fmt: skip
    assert verdict("restricted", added, exclude=narrowed) == "fail"  # NET_ADMIN not exempted


@pytest.mark.parametrize(("level", "version"), [("strict", "latest"), ("baseline", "1.x")])
def test_invalid_level_or_version_is_a_policy_error(level: str, version: str) -> None:
    with pytest.raises(PolicyError, match="podSecurity"):
        verdict(level, pod(), version)
