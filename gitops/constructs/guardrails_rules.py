"""The cluster guardrail rule set, shared by the ValidatingAdmissionPolicy and Kyverno renderers.

One :class:`RuleConfig` holds the validated arguments of a ``ClusterGuardrails``; the
rule names, titles and messages below are the same for both engines so a violation reads
the same whichever engine enforces it. The meanings follow the Kyverno policy library's
``restrict-image-registries``, ``disallow-latest-tag``, ``require-labels`` and
``require-pod-requests-limits``.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Kinds whose pods the rules check (the pod templates of the controllers, as Kyverno's
#: auto-generated rules do).
POD_CONTROLLERS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")

#: Prefix of every policy name the rule set renders.
POLICY_PREFIX = "gitops-"


@dataclass(frozen=True)
class RuleConfig:
    """Validated parameters of the rule set (see ``ClusterGuardrails`` for their meaning).

    ``allowed_registries`` entries end with ``/`` so ``ghcr.io`` never admits
    ``ghcr.io.evil.example/...``.
    """

    action: str
    allowed_registries: tuple[str, ...]
    required_labels: tuple[str, ...]
    max_gpus_per_pod: int
    gpu_resource: str
    exclude_namespaces: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    gpu_namespaces: tuple[str, ...] = ()
    min_startup_seconds: int = 300
    gang_schedulers: tuple[str, ...] = ()
    gang_queues: tuple[str, ...] = ()
    kubernetes_version: str = "1.32"
    failure_modes: bool = False


@dataclass(frozen=True)
class RuleInfo:
    """Name, title and description of one rule (one policy per rule)."""

    name: str
    title: str
    description: str


def rules(config: RuleConfig) -> list[RuleInfo]:
    """The rules ``config`` enables, in a stable order."""
    out = [
        RuleInfo(
            "require-gpu-limits",
            "Require and Bound GPU Limits",
            f"Containers that request {config.gpu_resource} must set the same limit, and a "
            f"pod may use at most {config.max_gpus_per_pod} in total.",
        ),
    ]
    if config.allowed_registries:
        out.append(
            RuleInfo(
                "restrict-image-registries",
                "Restrict Image Registries",
                "Images must come from an allowed registry: "
                + ", ".join(config.allowed_registries),
            )
        )
    out.append(
        RuleInfo(
            "disallow-latest-tag",
            "Disallow Latest Tag",
            "Images must carry a tag or digest, and the tag must not be 'latest'.",
        )
    )
    if config.required_labels:
        out.append(
            RuleInfo(
                "require-labels",
                "Require Labels",
                "Pods must carry the labels " + ", ".join(config.required_labels) + ".",
            )
        )
    out.extend(
        [
            RuleInfo(
                "require-probes",
                "Require Probes",
                "Containers that declare ports must define readinessProbe and livenessProbe.",
            ),
            RuleInfo(
                "require-pod-requests-limits",
                "Require Limits and Requests",
                "CPU and memory resource requests and memory limits are required for containers.",
            ),
        ]
    )
    return out


# Messages shared by both engines, keyed by (rule, check).
def messages(config: RuleConfig) -> dict[tuple[str, str], str]:
    """One-line violation messages, keyed by (rule name, check name)."""
    gpu = config.gpu_resource
    return {
        ("require-gpu-limits", "limit"): (
            f"containers that request {gpu} must also set a {gpu} limit"
        ),
        ("require-gpu-limits", "max"): (
            f"the containers of a pod may use at most {config.max_gpus_per_pod} {gpu} in total"
        ),
        ("restrict-image-registries", "registry"): (
            "images must come from an allowed registry: " + ", ".join(config.allowed_registries)
        ),
        ("disallow-latest-tag", "tag"): "an image tag or digest is required",
        ("disallow-latest-tag", "latest"): "using the mutable image tag 'latest' is not allowed",
        ("require-labels", "labels"): (
            "the labels " + ", ".join(config.required_labels) + " are required with non-empty "
            "values"
        ),
        ("require-probes", "probes"): (
            "containers that declare ports must define a readinessProbe and a livenessProbe"
        ),
        ("require-pod-requests-limits", "resources"): (
            "CPU and memory resource requests and memory limits are required for containers"
        ),
    }


def common_labels(config: RuleConfig, rule: str) -> dict[str, str]:
    """Labels of a rendered policy object."""
    return {**config.labels, "gitops.dev/guardrail": rule}
