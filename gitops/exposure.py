"""Warnings about openings an environment chose on purpose but a strict one should review.

``network.internet_egress: true`` lets every pod of the environment's namespaces reach any
public address on 443: convenient for downloading weights from the Hugging Face hub, and a
path for data to leave. In a strict environment (guardrails ``action: Deny``) ``gitops
check`` and ``gitops render`` report it as a ``Warn`` on each such NetworkPolicy.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitops.constructs.base import provenance
from gitops.constructs.network import INTERNET_POLICY
from gitops.environments import Environment
from gitops.model import Manifest, key_of
from gitops.policy.violation import Violation

#: The policy name these warnings carry.
POLICY = "gitops-network"


def exposure_warnings(env: Environment, manifests: Sequence[Manifest]) -> list[Violation]:
    """One ``Warn`` per internet-egress NetworkPolicy when ``env`` is strict."""
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
