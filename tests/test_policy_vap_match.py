"""Which objects a ValidatingAdmissionPolicy applies to: every matchConstraints field.

Each case is a policy that denies everything it matches (``validations: [false]``), so the
verdict on each object says whether the policy matched it. The same table runs against the
real API server (``dryRun=All`` creates) in ``test_server_agrees_on_every_case``: the
expectations below are the server's, not a copy of our own reading.
"""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest
from controlplane import ControlPlane

from gitops.policy import evaluate

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "team-a", "labels": {"env": "prod"}}}  # fmt: skip
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "team-a", "labels": {"app": "web"}},
    "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "registry.example.com/web:1"}]}}},
}  # fmt: skip
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "cfg", "namespace": "team-a"}, "data": {"k": "v"}}  # fmt: skip
CLUSTER_ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "reader"}, "rules": []}  # fmt: skip
OBJECTS = {"Namespace": NAMESPACE, "Deployment": DEPLOYMENT, "ConfigMap": CONFIGMAP,
           "ClusterRole": CLUSTER_ROLE}  # fmt: skip

ALL = {"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"]}
DEPLOYMENTS = {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"],
               "resources": ["deployments"]}  # fmt: skip

# (case, matchConstraints, the kinds the policy denies)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("create", {"resourceRules": [DEPLOYMENTS]}, {"Deployment"}),
    ("update-only", {"resourceRules": [{**DEPLOYMENTS, "operations": ["UPDATE"]}]}, set()),
    ("delete-only", {"resourceRules": [{**DEPLOYMENTS, "operations": ["DELETE"]}]}, set()),
    ("scope-cluster", {"resourceRules": [{**ALL, "scope": "Cluster"}]},
     {"Namespace", "ClusterRole"}),
    ("scope-namespaced", {"resourceRules": [{**ALL, "scope": "Namespaced"}]},
     {"Deployment", "ConfigMap"}),
    ("exclude", {"resourceRules": [ALL], "excludeResourceRules": [DEPLOYMENTS]},
     {"Namespace", "ConfigMap", "ClusterRole"}),
    ("names-other", {"resourceRules": [{**DEPLOYMENTS, "resourceNames": ["other"]}]}, set()),
    ("names-web", {"resourceRules": [{**DEPLOYMENTS, "resourceNames": ["web"]}]},
     {"Deployment"}),
    # A namespaceSelector leaves cluster-scoped objects other than Namespaces alone.
    ("namespace-selector", {"resourceRules": [ALL],
                            "namespaceSelector": {"matchLabels": {"env": "dev"}}},
     {"ClusterRole"}),
    ("object-selector", {"resourceRules": [ALL],
                         "objectSelector": {"matchLabels": {"app": "web"}}}, {"Deployment"}),
]  # fmt: skip


def _policy(case: str, constraints: dict[str, Any]) -> list[dict[str, Any]]:
    name = f"match-{case}"
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": name},
         "spec": {"failurePolicy": "Fail", "matchConstraints": constraints,
                  "validations": [{"expression": "false", "message": f"{case} matched"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
         "spec": {"policyName": name, "validationActions": ["Deny"]}},
    ]  # fmt: skip


@pytest.mark.parametrize(("case", "constraints", "denied"), CASES, ids=[c[0] for c in CASES])
def test_policy_applies_to_exactly_the_objects_it_matches(
    case: str, constraints: dict[str, Any], denied: set[str]
) -> None:
    found = evaluate(list(OBJECTS.values()), _policy(case, constraints))
    assert {v.key.kind for v in found} == denied
    assert all(v.message == f"{case} matched" for v in found)


def _server_denies(plane: ControlPlane, obj: dict[str, Any]) -> bool:
    """Whether a dry-run create of ``obj`` is refused by admission (409: admitted, exists)."""
    group_version = obj["apiVersion"]
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    plural = {"Namespace": "namespaces", "Deployment": "deployments", "ConfigMap": "configmaps",
              "ClusterRole": "clusterroles"}[obj["kind"]]  # fmt: skip
    namespace = obj["metadata"].get("namespace")
    path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
    try:
        plane.api("POST", f"{path}?dryRun=All", obj)
    except urllib.error.HTTPError as err:
        if err.code == 409:
            return False
        body = json.loads(err.read() or b"{}")
        assert "ValidatingAdmissionPolicy" in body.get("message", ""), body
        return True
    return False


def test_server_agrees_on_every_case(control_plane: ControlPlane) -> None:
    import time

    plane = control_plane
    try:
        plane.api("POST", "/api/v1/namespaces", NAMESPACE)
        for case, constraints, denied in CASES:
            for doc in _policy(case, constraints):
                plural = (
                    "validatingadmissionpolicies"
                    if doc["kind"].endswith("Policy")
                    else "validatingadmissionpolicybindings"
                )
                plane.api("POST", f"/apis/admissionregistration.k8s.io/v1/{plural}", doc)
            # Policies reach the admission plugin through an informer: wait for the verdicts
            # to settle (every case denies something or nothing; retry until stable).
            deadline = time.monotonic() + 30
            while True:
                verdicts = {k for k, obj in OBJECTS.items() if _server_denies(plane, obj)}
                if verdicts == denied or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert verdicts == denied, case
            ours = {
                v.key.kind for v in evaluate(list(OBJECTS.values()), _policy(case, constraints))
            }
            assert ours == verdicts, case
            for doc in reversed(_policy(case, constraints)):
                plural = (
                    "validatingadmissionpolicies"
                    if doc["kind"].endswith("Policy")
                    else "validatingadmissionpolicybindings"
                )
                plane.api(
                    "DELETE",
                    f"/apis/admissionregistration.k8s.io/v1/{plural}/{doc['metadata']['name']}",
                )
            deadline = time.monotonic() + 30  # and wait until the server lets it go
            while any(_server_denies(plane, o) for o in OBJECTS.values()):
                assert time.monotonic() < deadline, f"{case}: policy still enforced"
                time.sleep(0.2)
    finally:
        plane.reset()
