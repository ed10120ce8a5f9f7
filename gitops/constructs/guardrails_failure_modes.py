"""Inference failure-mode rules: admission policies for the incidents that take inference down.

Each rule names the incident class it prevents (also in the policy's
``gitops.dev/incident`` annotation):

- ``gpu-startup-probe``: a GPU container with a liveness probe that can fire before the
  environment's ``min_startup_seconds`` and no startup probe, or whose startup budget
  (``initialDelaySeconds + periodSeconds x failureThreshold``, with the API defaults 0, 10
  and 3) is below it: the kubelet kills the engine while it still loads weights, and it
  restarts forever (kserve#5062). A GPU container without a liveness probe (a Ray worker of
  a multi-node group) cannot be killed that way.
- ``gpu-parallelism``: an engine whose ``--tensor-parallel-size`` x
  ``--pipeline-parallel-size`` (``-tp``/``-pp``, ``--flag=N`` or ``--flag N``, also
  inside ``sh -c`` strings) differs from the GPUs its pod group holds (per pod x the
  LeaderWorkerSet size): vLLM fails to start, or leaves GPUs idle (llm-d-modelservice#140).
- ``lws-gang-scheduling``: a LeaderWorkerSet of size > 1 that names neither a gang
  scheduler nor a queue the environment allows: its group is placed partially and holds
  GPUs idle while waiting for the rest (lws#167, lws#810).
- ``gpu-namespaces``: GPU workloads outside the namespaces the environment allows GPUs
  in (quota and isolation live there).
- ``deprecated-api-versions``: apiVersions deprecated or removed in the environment's
  Kubernetes version, from Kubernetes' deprecated API migration guide (what pluto and
  kubent report): the apply fails at the cluster upgrade, not at review.

``spec.replicas`` on a workload an autoscaler targets cannot be judged at admission (the
API server defaults ``spec.replicas``, so every admitted Deployment has one): that rule is
evaluated on the rendered set, at render and in ``plan`` (:mod:`gitops.policy.set_rules`).

Rendered as ValidatingAdmissionPolicies (the ``vap`` engine) or as Kyverno ClusterPolicies
whose rules carry the same CEL (``validate.cel``; they match the workload kinds
explicitly, so Kyverno's Pod auto-generation stays off and ``object`` is the workload, as
in a VAP). Purely data-manipulative.
"""

from __future__ import annotations

from typing import Any

from gitops.constructs.deprecations import DEPRECATIONS, deprecated_for
from gitops.constructs.guardrails_rules import POLICY_PREFIX, RuleConfig, common_labels
from gitops.constructs.guardrails_vap import binding_spec
from gitops.core.keys import Manifest

_API = "admissionregistration.k8s.io/v1"
_LWS = "leaderworkerset.x-k8s.io"
_OPERATIONS = ["CREATE", "UPDATE"]
_WORKLOADS = [
    {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]},
    {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "resources": ["deployments", "statefulsets", "daemonsets"],
    },
    {"apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs", "cronjobs"]},
    {"apiGroups": [_LWS], "apiVersions": ["v1"], "resources": ["leaderworkersets"]},
]
_GROUP = "object.spec.leaderWorkerTemplate"
_TEMPLATE = (
    "(object.kind == 'Pod' ? object : object.kind == 'CronJob' ? "
    "object.spec.jobTemplate.spec.template : object.spec.template)"
)
#: The pod specs of any workload: one for most kinds, the worker and leader of an LWS.
_VARIABLES = [
    {
        "name": "podSpecs",
        "expression": f"object.kind == 'LeaderWorkerSet' ? [{_GROUP}.workerTemplate.spec] + "
        f"(has({_GROUP}.leaderTemplate) ? [{_GROUP}.leaderTemplate.spec] : []) : "
        f"[{_TEMPLATE}.spec]",
    },
    {
        "name": "containers",
        "expression": f"object.kind == 'LeaderWorkerSet' ? "
        f"{_GROUP}.workerTemplate.spec.containers + (has({_GROUP}.leaderTemplate) ? "
        f"{_GROUP}.leaderTemplate.spec.containers : []) : {_TEMPLATE}.spec.containers",
    },
    {
        "name": "groupSize",
        "expression": f"object.kind == 'LeaderWorkerSet' && has({_GROUP}.size) ? {_GROUP}.size : 1",
    },
]


def _gpu(config: RuleConfig, var: str = "c") -> str:
    name = config.gpu_resource
    return (
        f"(has({var}.resources) && has({var}.resources.limits) && '{name}' in "
        f"{var}.resources.limits)"
    )


def _degree(flags: str) -> str:
    """CEL: the parallel degree set by ``flags`` (a regex) in container ``c``'s words, or 1."""
    words = "((has(c.command) ? c.command : []) + (has(c.args) ? c.args : [])).join(' ')"
    found = f"{words}.find('(^| )({flags})[= ][0-9]+')"
    return f"({found} != '' ? int({found}.find('[0-9]+$')) : 1)"


def _budget(probe: str) -> str:
    """CEL: seconds before ``probe`` gives up (API defaults: delay 0, period 10, threshold 3)."""
    return (
        f"((has({probe}.initialDelaySeconds) ? {probe}.initialDelaySeconds : 0) + "
        f"(has({probe}.periodSeconds) ? {probe}.periodSeconds : 10) * "
        f"(has({probe}.failureThreshold) ? {probe}.failureThreshold : 3))"
    )


#: One failure-mode rule: (rule, title, incident, [(CEL, message)]).
_Rule = tuple[str, str, str, list[tuple[str, str]]]


def _policies(config: RuleConfig) -> list[_Rule]:
    """Every failure-mode rule, in a stable order."""
    return [
        _startup_rule(config),
        _parallelism_rule(config),
        _gang_rule(config),
        _namespace_rule(config),
    ]


def _startup_rule(config: RuleConfig) -> _Rule:
    """GPU containers get time to load weights before a liveness probe can kill them."""
    gpu = _gpu(config)
    budget, liveness = _budget("c.startupProbe"), _budget("c.livenessProbe")
    minimum = config.min_startup_seconds
    return (
        "gpu-startup-probe",
        "GPU Containers Need a Startup Budget",
        "liveness probes killing models before they load (kserve#5062)",
        [
            (
                f"variables.containers.all(c, !{gpu} || !has(c.livenessProbe) || "
                f"has(c.startupProbe) || {liveness} >= {minimum})",
                "a GPU container with a livenessProbe must define a startupProbe: without "
                f"one the liveness probe can kill the engine before {minimum}s, while it "
                "loads weights",
            ),
            (
                f"variables.containers.all(c, !{gpu} || !has(c.startupProbe) || "
                f"{budget} >= {minimum})",
                f"the startupProbe of a GPU container must allow at least {minimum}s "
                "(initialDelaySeconds + periodSeconds x failureThreshold) for the model "
                "to load",
            ),
        ],
    )


def _parallelism_rule(config: RuleConfig) -> _Rule:
    """The GPUs of a group equal tensor x pipeline parallelism, when the flags are given."""
    gpu = _gpu(config)
    tp = _degree("--tensor-parallel-size|-tp")
    pp = _degree("--pipeline-parallel-size|-pp")
    has_flags = (
        "((has(c.command) ? c.command : []) + (has(c.args) ? c.args : [])).join(' ')"
        ".matches('(^| )(--tensor-parallel-size|-tp|--pipeline-parallel-size|-pp)[= ]')"
    )
    return (
        "gpu-parallelism",
        "GPUs Must Match Tensor x Pipeline Parallelism",
        "a GPU limit that does not match tensor x pipeline parallelism (llm-d-modelservice#140)",
        [
            (
                f"variables.containers.all(c, !{gpu} || !{has_flags} || "
                f"{tp} * {pp} == int(string(c.resources.limits['{config.gpu_resource}'])) "
                "* variables.groupSize)",
                f"{config.gpu_resource} per pod x pods per group must equal "
                "--tensor-parallel-size x --pipeline-parallel-size",
            ),
        ],
    )


def _gang_rule(config: RuleConfig) -> _Rule:
    """A multi-node LeaderWorkerSet names a gang scheduler or a Kueue queue."""
    schedulers = "[" + ", ".join(f"'{s}'" for s in config.gang_schedulers) + "]"
    queues = "[" + ", ".join(f"'{q}'" for q in config.gang_queues) + "]"
    queue_label = "kueue.x-k8s.io/queue-name"
    return (
        "lws-gang-scheduling",
        "Multi-Node Groups Need Gang Scheduling",
        "multi-node groups placed partially, holding GPUs idle (lws#167, lws#810)",
        [
            (
                f"object.kind != 'LeaderWorkerSet' || !has({_GROUP}.size) || "
                f"{_GROUP}.size <= 1 || variables.podSpecs.all(s, has(s.schedulerName) && "
                f"s.schedulerName in {schedulers}) || (has(object.metadata.labels) && "
                f"'{queue_label}' in object.metadata.labels && "
                f"object.metadata.labels['{queue_label}'] in {queues})",
                "a LeaderWorkerSet of size > 1 must be gang-scheduled: schedulerName one of "
                f"{', '.join(config.gang_schedulers) or '(none allowed)'} in its pod "
                f"templates, or the label {queue_label} one of "
                f"{', '.join(config.gang_queues) or '(none allowed)'}",
            ),
        ],
    )


def _namespace_rule(config: RuleConfig) -> _Rule:
    """GPU workloads only in the namespaces that carry GPU quota."""
    allowed = "[" + ", ".join(f"'{n}'" for n in config.gpu_namespaces) + "]"
    return (
        "gpu-namespaces",
        "GPU Workloads Only Where GPUs Are Allowed",
        "GPU workloads outside the namespaces that carry GPU quota and isolation",
        [
            (
                f"!variables.containers.exists(c, {_gpu(config)}) || "
                f"request.namespace in {allowed}",
                "GPU workloads may only run in the namespaces " + ", ".join(config.gpu_namespaces),
            ),
        ],
    )


def _policy(
    config: RuleConfig, rule: str, title: str, incident: str, spec: dict[str, Any]
) -> list[Manifest]:
    name = POLICY_PREFIX + rule
    labels = common_labels(config, rule)
    binding = binding_spec(config, name)
    return [
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": {"gitops.dev/description": title, "gitops.dev/incident": incident},
            },
            "spec": spec,
        },
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": binding,
        },
    ]


def _specs(config: RuleConfig) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(rule, title, incident, ValidatingAdmissionPolicy spec) of every rule enabled."""
    out: list[tuple[str, str, str, dict[str, Any]]] = []
    for rule, title, incident, checks in _policies(config):
        spec: dict[str, Any] = {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [{**r, "operations": _OPERATIONS} for r in _WORKLOADS]
            },
            "variables": [dict(v) for v in _VARIABLES],
            "validations": [
                {"expression": expression, "message": message, "reason": "Invalid"}
                for expression, message in checks
            ],
        }
        out.append((rule, title, incident, spec))
    entries = deprecated_for(config.kubernetes_version)
    if entries:
        spec = {
            "failurePolicy": "Fail",
            # Exact: only requests made through the deprecated version itself.
            "matchConstraints": {
                "matchPolicy": "Exact",
                "resourceRules": [
                    {
                        "apiGroups": [d.api_version.split("/")[0]],
                        "apiVersions": [d.api_version.split("/")[1]],
                        "resources": [d.resource],
                        "operations": _OPERATIONS,
                    }
                    for d in entries
                ],
            },
            "validations": [
                {
                    "expression": f"object.apiVersion != '{d.api_version}' || "
                    f"object.kind != '{d.kind}'",
                    "message": f"{d.api_version} {d.kind} is deprecated since Kubernetes "
                    f"{d.deprecated_in} and removed in {d.removed_in}: use {d.replacement}",
                    "reason": "Invalid",
                }
                for d in entries
            ],
        }
        incident = "manifests that stop applying when the cluster is upgraded"
        out.append(("deprecated-api-versions", "No Deprecated API Versions", incident, spec))
    return out


def failure_mode_policies(config: RuleConfig) -> list[Manifest]:
    """One ValidatingAdmissionPolicy and binding per failure-mode rule."""
    out: list[Manifest] = []
    for rule, title, incident, spec in _specs(config):
        out.extend(_policy(config, rule, title, incident, spec))
    return out


def failure_mode_cluster_policies(config: RuleConfig) -> list[Manifest]:
    """One Kyverno ClusterPolicy per failure-mode rule, with the VAP's CEL."""
    out: list[Manifest] = []
    for rule, title, incident, vap in _specs(config):
        kinds = sorted(
            _kyverno_kind(group, version, resource)
            for entry in vap["matchConstraints"]["resourceRules"]
            for group in entry["apiGroups"]
            for version in entry["apiVersions"]
            for resource in entry["resources"]
        )
        kyverno_rule: dict[str, Any] = {
            "name": rule,
            "match": {"any": [{"resources": {"kinds": kinds}}]},
        }
        if config.exclude_namespaces:
            kyverno_rule["exclude"] = {
                "any": [{"resources": {"namespaces": list(config.exclude_namespaces)}}]
            }
        cel: dict[str, Any] = {}
        if vap.get("variables"):
            cel["variables"] = [dict(v) for v in vap["variables"]]
        cel["expressions"] = [
            {"expression": v["expression"], "message": v["message"]} for v in vap["validations"]
        ]
        kyverno_rule["validate"] = {"cel": cel}
        spec: dict[str, Any] = {
            "validationFailureAction": "Enforce" if config.action == "Deny" else "Audit",
            "background": True,
        }
        if config.action == "Warn":
            spec["emitWarning"] = True
        spec["rules"] = [kyverno_rule]
        annotations = {
            "policies.kyverno.io/title": title,
            "policies.kyverno.io/category": "Inference Guardrails",
            "policies.kyverno.io/description": incident,
            "gitops.dev/incident": incident,
            # The rule names its kinds; auto-generation would rewrite the CEL.
            "pod-policies.kyverno.io/autogen-controllers": "none",
        }
        metadata = {
            "name": POLICY_PREFIX + rule,
            "labels": common_labels(config, rule),
            "annotations": annotations,
        }
        policy = {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy"}
        out.append({**policy, "metadata": metadata, "spec": spec})
    return out


#: Kinds of the resources the rules match, by plural resource name.
_RESOURCE_KINDS = {
    "pods": "Pod",
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "jobs": "Job",
    "cronjobs": "CronJob",
    "leaderworkersets": "LeaderWorkerSet",
    **{d.resource: d.kind for d in DEPRECATIONS},
}


def _kyverno_kind(group: str, version: str, resource: str) -> str:
    """Kyverno's ``group/version/Kind`` (``version/Kind`` for the core group)."""
    kind = _RESOURCE_KINDS[resource]
    return f"{group}/{version}/{kind}" if group else f"{version}/{kind}"
