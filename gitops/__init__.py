"""gitops: inference stacks and guardrails on Kubernetes, from Python to a GitOps repository.

Public names are imported lazily, so ``import gitops`` (and commands that do not render)
never start Node.js for cdk8s.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module defining it
_EXPORTS: dict[str, str] = {
    "GitOpsError": "gitops.errors",
    "ValidationError": "gitops.errors",
    "ResourceKey": "gitops.model",
    "Scope": "gitops.constructs.base",
    "Construct": "gitops.constructs.base",
    "InferenceStack": "gitops.constructs.inference",
    "ModelCache": "gitops.constructs.inference_params",
    "SecretKeyRef": "gitops.constructs.inference_params",
    "Probes": "gitops.constructs.inference_params",
    "Autoscaling": "gitops.constructs.inference_params",
    "Disruption": "gitops.constructs.inference_params",
    "Route": "gitops.constructs.inference_params",
    "ParentRef": "gitops.constructs.inference_params",
    "MultiNode": "gitops.constructs.lws",
    "InferencePoolRouting": "gitops.constructs.inferencepool",
    "WarmUp": "gitops.constructs.warmup",
    "InferenceCanary": "gitops.constructs.canary",
    "NetworkSettings": "gitops.constructs.network",
    "Drain": "gitops.constructs.inference_options",
    "Security": "gitops.constructs.inference_options",
    "Lora": "gitops.constructs.inference_options",
    "LoraAdapter": "gitops.constructs.inference_options",
    "KvOffload": "gitops.constructs.inference_options",
    "StackWarning": "gitops.errors",
    "Environment": "gitops.environments",
    "load_environments": "gitops.environments",
    "Blueprint": "gitops.blueprints",
    "load_blueprints": "gitops.blueprints",
    "render_environments": "gitops.render",
    "render_tree": "gitops.render",
    "render_to_repo": "gitops.render",
    "manifests_at_ref": "gitops.render",
    "environment_dir": "gitops.layout",
    "CommitResult": "gitops.repo",
    "commit_tree": "gitops.repo",
    "read_files": "gitops.repo",
    "ClusterClient": "gitops.cluster",
    "DiffReport": "gitops.diff",
    "IgnoreRule": "gitops.diff",
    "Ownership": "gitops.diff",
    "diff_manifests": "gitops.diff",
    "DiffRequest": "gitops.diff_pipeline",
    "run_diff": "gitops.diff_pipeline",
    "NamespaceGuardrails": "gitops.constructs.guardrails",
    "ClusterGuardrails": "gitops.constructs.guardrails",
    "Violation": "gitops.policy",
    "load_policies": "gitops.policy",
    "Identity": "gitops.ownership",
    "ApplyResult": "gitops.reconcile",
    "apply_environment": "gitops.reconcile",
    "Plan": "gitops.plan",
    "build_plan": "gitops.plan",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gitops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
