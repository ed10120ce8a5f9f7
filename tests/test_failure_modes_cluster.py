"""The VAP renderings of the failure-mode rules agree with a real API server's admission.

The rules are installed as ValidatingAdmissionPolicies with a binding limited to a fresh
namespace; every object of the corpus is created with ``dryRun=All`` and the server's
verdict (admitted, or denied by which policy) is compared with ``gitops check``'s, on the
real control plane (``cluster_kubeconfig``: kube-apiserver 1.36 with the CRDs of
``../shared/schemas``) or the cluster ``GITOPS_TEST_KUBECONFIG`` names.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from failure_mode_corpus import OPTIONS, cases, gpu_outside

from gitops.constructs.base import Scope
from gitops.constructs.guardrails import ClusterGuardrails
from gitops.core.keys import Manifest
from gitops.policy import evaluate

RULES = ("gpu-startup-probe", "gpu-parallelism", "lws-gang-scheduling", "gpu-namespaces")


def guardrails(gpu_namespaces: list[str]) -> list[Manifest]:
    """The rule set with the failure-mode rules, GPUs allowed in ``gpu_namespaces``."""
    scope = Scope()
    options = {**OPTIONS, "gpu_namespaces": gpu_namespaces}
    ClusterGuardrails(scope, "platform", failure_modes=options)
    return list(scope.synth())


def policies(ns: str, suffix: str, gpu_namespaces: list[str]) -> list[Manifest]:
    """The failure-mode policies (renamed with ``suffix``), bound to namespace ``ns`` only."""
    out = []
    for obj in guardrails(gpu_namespaces):
        name = obj["metadata"]["name"].removeprefix("gitops-")
        if not obj["kind"].startswith("ValidatingAdmissionPolicy") or name not in RULES:
            continue
        obj = {**obj, "metadata": {**obj["metadata"], "name": f"{name}-{suffix}"}}
        if obj["kind"] == "ValidatingAdmissionPolicyBinding":
            selector = {"matchLabels": {"kubernetes.io/metadata.name": ns}}
            obj["spec"] = {**obj["spec"], "policyName": f"{name}-{suffix}",
                           "matchResources": {"namespaceSelector": selector}}  # fmt: skip
        out.append(obj)
    return out


@pytest.fixture(params=["here", "elsewhere"])
def installed(
    request: pytest.FixtureRequest, cluster_kubeconfig: Path, cluster_namespace: str
) -> Iterator[tuple[Any, str, list[str]]]:
    """The policies installed for ``cluster_namespace`` (GPUs allowed there, or only in
    another namespace); removed at teardown."""
    from kubernetes import config, dynamic

    suffix = uuid.uuid4().hex[:6]
    allowed = [cluster_namespace] if request.param == "here" else ["other"]
    objects = policies(cluster_namespace, suffix, allowed)
    with config.new_client_from_config(str(cluster_kubeconfig)) as api:
        dyn = dynamic.DynamicClient(api)
        for obj in objects:
            dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"]).create(body=obj)
        try:
            yield dyn, suffix, allowed
        finally:
            for obj in reversed(objects):
                resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
                resource.delete(name=obj["metadata"]["name"])


def server_verdict(dyn: Any, obj: Manifest, suffix: str) -> str | None:
    """The rule whose policy denied a dry-run create of ``obj``, or None if admitted."""
    from kubernetes.client.exceptions import ApiException

    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    try:
        resource.create(body=obj, namespace=obj["metadata"]["namespace"], dry_run="All")
    except ApiException as err:
        for rule in RULES:
            if f"'{rule}-{suffix}'" in str(err.body):
                return rule
        raise AssertionError(f"denied, but not by a failure-mode policy: {err.body}") from err
    return None


def local_verdicts(obj: Manifest, allowed: list[str]) -> set[str]:
    """The failure-mode rules ``gitops check`` reports for ``obj``."""
    found = {v.policy.removeprefix("gitops-") for v in evaluate([*guardrails(allowed), obj])}
    return found & set(RULES)


def wait_until_enforced(dyn: Any, suffix: str, judged: list[tuple[Manifest, set[str]]]) -> None:
    """Wait until every rule's policy is in force on the server.

    Policies take effect once the server's informers have seen and compiled them, each on
    its own schedule (a policy on a custom resource can come later than one on Deployments).
    ``judged`` pairs each object with the rules ``gitops check`` denies it by. For each rule,
    an object denied by that rule alone must be denied by that rule on the server; a rule
    that only ever denies alongside another waits for any denial.
    """
    deadline = time.monotonic() + 120
    for rule in RULES:
        alone = [obj for obj, ours in judged if ours == {rule}]
        among = [obj for obj, ours in judged if rule in ours]
        if not among:
            continue
        probe, wanted = (alone[0], {rule}) if alone else (among[0], set(RULES))
        while server_verdict(dyn, probe, suffix) not in wanted:
            assert time.monotonic() < deadline, f"policy {rule}-{suffix} never came into force"
            time.sleep(0.2)


def test_the_server_and_gitops_check_agree_on_every_case(
    installed: tuple[Any, str, list[str]], cluster_namespace: str
) -> None:
    dyn, suffix, allowed = installed
    ns = cluster_namespace
    every_case = [*cases(ns), ("gpu-outside", None, gpu_outside(ns))]
    corpus = [(case, expected, obj, local_verdicts(obj, allowed))
              for case, expected, obj in every_case]  # fmt: skip
    wait_until_enforced(dyn, suffix, [(obj, local) for _, _, obj, local in corpus])
    disagree = {}
    fired = 0
    wrong = {}
    for case, expected, obj, local in corpus:
        server = server_verdict(dyn, obj, suffix)
        fired += server is not None
        if allowed == [ns] and server != expected:  # GPUs allowed here: the corpus's verdict
            wrong[case] = (server, expected)
        # The server names the first policy that denies; gitops check lists them all.
        if (server is None) != (not local) or (server is not None and server not in local):
            disagree[case] = (server, sorted(local))
    assert disagree == {}
    assert wrong == {}
    assert fired >= 5  # the corpus makes every rule fire, not only pass


def test_the_kyverno_renderings_are_valid_cluster_policies(cluster_kubeconfig: Path) -> None:
    """Kyverno is not running here, but its CRD's schema judges the policies (dry run)."""
    from kubernetes import config, dynamic

    scope = Scope()
    ClusterGuardrails(scope, "platform", engine="kyverno", failure_modes=OPTIONS)
    rendered = [o for o in scope.synth() if o["metadata"]["name"].removeprefix("gitops-") in
                (*RULES, "deprecated-api-versions")]  # fmt: skip
    assert len(rendered) == 5
    with config.new_client_from_config(str(cluster_kubeconfig)) as api:
        resource = dynamic.DynamicClient(api).resources.get(
            api_version="kyverno.io/v1", kind="ClusterPolicy"
        )
        for policy in rendered:
            created = resource.create(body=policy, dry_run="All", field_validation="Strict")
            assert created.spec.rules[0].validate.cel.expressions
