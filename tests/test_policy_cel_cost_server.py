"""The API server judges our CEL cost accounting: random expressions, sized near the limits.

Against the real control plane (``tests/controlplane``). A seeded random corpus of
cases, each a ValidatingAdmissionPolicy (one to fifteen copies of one validation) over a
ConfigMap whose ``data.s`` is a comma-separated list of words: comprehensions (``all``,
``exists``, ``exists_one``, ``map``, ``filter``, nested) over field ranges, literal lists,
``split()`` and ``map()`` results and ranges built by ``+``, string ``+`` chains, string
functions and regexes, on inputs from ten words to a hundred thousand, so that many
cases land on either side of ``PerCallLimit`` (1,000,000) and of ``RuntimeCELCostBudget``
(10,000,000 for all validations of a policy).

Every case is created on the server (all in one batch, each binding selecting only its own
ConfigMap); what the server does with the policy (admitted or refused, and why) must be
what ``gitops check`` does when compiling it, and for each admitted one the server's
verdict on the ConfigMap (``dryRun=All``: admitted, or denied and its message) must be
``gitops check``'s, word for word.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
from dataclasses import dataclass
from typing import Any

import pytest
from controlplane import ClusterUnderTest

from gitops.errors import PolicyError
from gitops.policy import evaluate

pytestmark = pytest.mark.fake_only

_API = "admissionregistration.k8s.io/v1"
NAMESPACE = "cel-cost"
CASES = 40
#: ConfigMaps (inputs of different sizes) each policy judges.
INPUTS = 4
SEED = 13


@dataclass
class Case:
    """One policy: ``copies`` validations of ``expression``; ConfigMaps of these words."""

    expression: str
    inputs: list[list[str]]
    copies: int


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcxyz") for _ in range(rng.randint(1, 6)))


def _literal(rng: random.Random) -> str:
    return "[" + ", ".join(f"'{_word(rng)}'" for _ in range(rng.randint(1, 12))) + "]"


def _range(rng: random.Random, depth: int = 0) -> str:
    """A list of strings: the field split, a literal, or one built from those."""
    options = ["split", "split", "literal"]
    if depth < 2:
        options += ["map", "plus", "filter"]
    kind = rng.choice(options)
    if kind == "split":
        return "object.data.s.split(',')"
    if kind == "literal":
        return _literal(rng)
    inner = _range(rng, depth + 1)
    if kind == "map":
        return f"{inner}.map(m, m + '{_word(rng)}')"
    if kind == "filter":
        return f"{inner}.filter(f, {_predicate(rng, 'f')})"
    return f"({inner} + {_range(rng, depth + 1)})"


def _predicate(rng: random.Random, var: str) -> str:
    word = _word(rng)
    return rng.choice(
        [
            f"{var} == '{word}'",
            f"{var} != '{word}'",
            f"{var}.startsWith('{word}')",
            f"{var}.contains('{word}')",
            f"{var}.matches('^[abc]+$')",
            f"size({var} + {var}) > 1",
            f"{var}.lowerAscii() != 'Z'",
            f"{var} in ['a', 'b', '{word}']",
            f"{var}.size() < 5 || {var}.endsWith('z')",
            f"{var} < '{word}' ? {var}.size() > 0 : {var} > 'b'",
        ]
    )


def _expression(rng: random.Random) -> str:
    kind = rng.choice(["all", "exists", "exists_one", "map", "filter", "nested", "concat",
                       "join", "invalid"])  # fmt: skip
    source = _range(rng)
    if kind in ("all", "exists", "exists_one"):
        return f"{source}.{kind}(x, {_predicate(rng, 'x')})"
    if kind == "map":
        return f"size({source}.map(x, x + x)) >= 0"
    if kind == "filter":
        return f"size({source}.filter(x, {_predicate(rng, 'x')})) >= 0"
    if kind == "nested":
        return f"{source}.all(x, {_literal(rng)}.exists(y, y == x) || x.size() > 0)"
    if kind == "concat":
        return "size(" + " + ".join(["object.data.s"] * rng.randint(2, 40)) + ") > 0"
    if kind == "join":
        return f"{source}.join('-').size() > 0"
    return rng.choice(
        [
            f"{source}.all(x, x.matches('(?=a)b'))",
            f"{source}.all(x, x.frobnicate())",
            f"{source}.all(x, y == x)",
            f"{source}.all(x, x ==)",
            "[1, object.data.s].size() == 2",
        ]
    )


def _words(rng: random.Random) -> list[str]:
    """Log-uniform sizes, from 1 word to 65,536."""
    size = int(2 ** rng.uniform(0, 16))
    if size < 2_000:
        return [_word(rng) for _ in range(size)]
    return [("abc", "x", "zy", "abcxyz")[i % 4] for i in range(size)]


def corpus(count: int = CASES, seed: int = SEED) -> list[Case]:
    """``count`` policies, each judged on :data:`INPUTS` ConfigMaps."""
    rng = random.Random(seed)
    return [
        Case(_expression(rng), [_words(rng) for _ in range(INPUTS)], rng.choice([1, 1, 1, 3, 12]))
        for _ in range(count)
    ]


def _policy(index: int, case: Case) -> list[dict[str, Any]]:
    name = f"cel-cost-{index:03d}"
    rules = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
              "resources": ["configmaps"]}]  # fmt: skip
    validation = {"expression": case.expression, "message": f"case {index} denied"}
    return [
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules},
                     "validations": [validation] * case.copies},
        },
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"],
                     "matchResources": {"objectSelector": {"matchLabels": {"case": str(index)}}}},
        },
    ]  # fmt: skip


def _configmap(index: int, words: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"case-{index:03d}", "namespace": NAMESPACE,
                     "labels": {"case": str(index)}},
        "data": {"s": ",".join(words)},
    }  # fmt: skip


def _create(cluster: ClusterUnderTest, manifest: dict[str, Any]) -> str | None:
    """Create ``manifest``; the server's refusal message, or None when created."""
    plural = "validatingadmissionpolicies"
    if manifest["kind"].endswith("Binding"):
        plural = "validatingadmissionpolicybindings"
    try:
        cluster.plane.api("POST", f"/apis/{_API}/{plural}", manifest)
    except urllib.error.HTTPError as err:
        return str(json.loads(err.read() or b"{}").get("message", err))
    return None


def _verdict(cluster: ClusterUnderTest, obj: dict[str, Any]) -> str | None:
    try:
        cluster.plane.api("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps?dryRun=All", obj)
    except urllib.error.HTTPError as err:
        return str(json.loads(err.read() or b"{}").get("message", err))
    return None


def _ours(index: int, case: Case, words: list[str]) -> tuple[str | None, str | None]:
    """What gitops check says: (refusal of the policy, denial of the ConfigMap)."""
    policy, binding = _policy(index, case)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    try:
        found = evaluate([namespace, _configmap(index, words)], [policy, binding])
    except PolicyError as err:
        return str(err), None
    denials = [v.message for v in found if v.action == "Deny"]
    name = policy["metadata"]["name"]
    prefix = f"ValidatingAdmissionPolicy '{name}' with binding '{name}' denied request: "
    return None, (prefix + denials[0]) if denials else None


def _wait_in_force(cluster: ClusterUnderTest) -> None:
    """Wait until a sentinel policy, created after every case, denies."""
    sentinel = Case("false", [["a"]], 1)
    for manifest in _policy(999, sentinel):
        assert _create(cluster, manifest) is None
    deadline = time.monotonic() + 90
    while _verdict(cluster, _configmap(999, ["a"])) is None:
        assert time.monotonic() < deadline, "the policies never came into force"
        time.sleep(0.5)
    time.sleep(2)  # every binding, not only the last


def test_the_server_and_gitops_check_agree_on_cost(cluster: ClusterUnderTest) -> None:
    cases = corpus()
    cluster.plane.api("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    refused: dict[int, str | None] = {}
    for index, case in enumerate(cases):
        policy, binding = _policy(index, case)
        refused[index] = _create(cluster, policy)
        if refused[index] is None:
            assert _create(cluster, binding) is None
    _wait_in_force(cluster)
    admission, verdicts, outcomes = [], [], {"admitted": 0, "denied": 0, "cost": 0}
    for index, case in enumerate(cases):
        for words in case.inputs:
            our_refusal, our_denial = _ours(index, case, words)
            if (refused[index] is None) != (our_refusal is None):
                admission.append(f"{index} {case.expression!r}: server {refused[index]!r}, "
                                 f"ours {our_refusal!r}")  # fmt: skip
                break
            if refused[index] is not None:
                break
            theirs = _verdict(cluster, _configmap(index, words))
            outcomes["admitted" if theirs is None else "denied"] += 1
            outcomes["cost"] += theirs is not None and "cost" in theirs
            if theirs != our_denial:
                verdicts.append(
                    f"{index} {case.expression!r} on {len(words)} words x {case.copies}: "
                    f"server {theirs!r}, ours {our_denial!r}"
                )
    print(f"CEL cost agreement: {len(cases)} policies, "
          f"{sum(r is not None for r in refused.values())} refused, verdicts {outcomes}; "
          f"{len(admission)} admission and {len(verdicts)} verdict disagreements")  # fmt: skip
    assert admission == [], "\n".join(admission[:20])
    assert verdicts == [], "\n".join(verdicts[:20])
    assert outcomes["cost"] >= 10 and outcomes["admitted"] >= 10
