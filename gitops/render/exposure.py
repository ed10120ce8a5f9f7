"""Warnings about openings an environment chose on purpose but a strict one should review.

``network.internet_egress: true`` lets every pod of the environment's namespaces reach any
public address on 443: convenient for downloading weights from the Hugging Face hub, and a
path for data to leave. In a strict environment (guardrails ``action: Deny``) ``gitops
check`` and ``gitops render`` report it as a ``Warn`` on each such NetworkPolicy.

The opposite mistake is reported in every environment: a workload whose pods need the API
server (an InferencePool's endpoint picker, labelled ``gitops.dev/kube-api-access``) in an
environment with no ``network.api_server``, where default-deny keeps it from ever routing.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitops.constructs.network import INTERNET_POLICY, KUBE_API_LABEL
from gitops.core.keys import Manifest, key_of
from gitops.core.labels import provenance
from gitops.core.workloads import workloads
from gitops.inputs.environments import Environment
from gitops.policy.violation import Violation

#: The policy name these warnings carry.
POLICY = "gitops-network"


def exposure_warnings(env: Environment, manifests: Sequence[Manifest]) -> list[Violation]:
    """Internet egress in a strict ``env``; API server access needed but not allowed."""
    return [*_internet(env, manifests), *_api_server(env, manifests)]


def _api_server(env: Environment, manifests: Sequence[Manifest]) -> list[Violation]:
    if env.network.api_server:
        return []
    return [
        Violation(
            key_of(load.manifest),
            POLICY,
            "api-server-egress-missing",
            "Warn",
            f"its pods need the API server ({KUBE_API_LABEL}) but {env.source} sets no "
            "network.api_server, so the namespace's default-deny NetworkPolicy blocks them",
            provenance(load.manifest),
        )
        for load in workloads(manifests)
        if any(group.labels.get(KUBE_API_LABEL) == "true" for group in load.groups)
    ]


def _internet(env: Environment, manifests: Sequence[Manifest]) -> list[Violation]:
    if not (env.strict and env.network.internet_egress):
        return []
    return [
        Violation(
            key_of(obj),
            POLICY,
            "internet-egress-in-strict-environment",
            "Warn",
            f"every pod of namespace {obj['metadata'].get('namespace')} may reach any public "
            f"address on 443 (network.internet_egress in {env.source}); prefer "
            "network.egress to the model registry's CIDRs",
            provenance(obj),
        )
        for obj in manifests
        if obj.get("kind") == "NetworkPolicy" and obj["metadata"].get("name") == INTERNET_POLICY
    ]
