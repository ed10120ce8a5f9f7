"""gitops: inference stacks and guardrails on Kubernetes, from Python to a GitOps repository.

Public names are imported lazily at run time, so ``import gitops`` (and commands that do
not render) stay fast and never start Node.js for cdk8s. For type checkers and editors
the same names are imported eagerly under ``TYPE_CHECKING``, so
``from gitops import InferenceStack`` is fully typed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names as _EXPORTS, for mypy and completion only
    from gitops.cluster.client import ClusterClient as ClusterClient
    from gitops.constructs.base import Construct as Construct
    from gitops.constructs.base import Scope as Scope
    from gitops.constructs.canary import InferenceCanary as InferenceCanary
    from gitops.constructs.guardrails import ClusterGuardrails as ClusterGuardrails
    from gitops.constructs.guardrails import NamespaceGuardrails as NamespaceGuardrails
    from gitops.constructs.inference import InferenceStack as InferenceStack
    from gitops.constructs.inference_options import Drain as Drain
    from gitops.constructs.inference_options import KvOffload as KvOffload
    from gitops.constructs.inference_options import Lora as Lora
    from gitops.constructs.inference_options import LoraAdapter as LoraAdapter
    from gitops.constructs.inference_options import Security as Security
    from gitops.constructs.inference_params import Autoscaling as Autoscaling
    from gitops.constructs.inference_params import Disruption as Disruption
    from gitops.constructs.inference_params import ModelCache as ModelCache
    from gitops.constructs.inference_params import ParentRef as ParentRef
    from gitops.constructs.inference_params import Probes as Probes
    from gitops.constructs.inference_params import Route as Route
    from gitops.constructs.inference_params import SecretKeyRef as SecretKeyRef
    from gitops.constructs.inferencepool import InferencePoolRouting as InferencePoolRouting
    from gitops.constructs.lws import MultiNode as MultiNode
    from gitops.constructs.network import NetworkSettings as NetworkSettings
    from gitops.constructs.raw import Include as Include
    from gitops.constructs.raw import Manifest as Manifest
    from gitops.constructs.warmup import WarmUp as WarmUp
    from gitops.core.errors import GitOpsError as GitOpsError
    from gitops.core.errors import StackWarning as StackWarning
    from gitops.core.errors import ValidationError as ValidationError
    from gitops.core.keys import ResourceKey as ResourceKey
    from gitops.diff.engine import DiffReport as DiffReport
    from gitops.diff.engine import Ownership as Ownership
    from gitops.diff.engine import diff_manifests as diff_manifests
    from gitops.inputs.blueprints import Blueprint as Blueprint
    from gitops.inputs.blueprints import load_blueprints as load_blueprints
    from gitops.inputs.environments import Cluster as Cluster
    from gitops.inputs.environments import Environment as Environment
    from gitops.inputs.environments import load_environments as load_environments
    from gitops.inputs.ignore import IgnoreRule as IgnoreRule
    from gitops.ownership.identity import Identity as Identity
    from gitops.policy import Violation as Violation
    from gitops.policy import load_policies as load_policies
    from gitops.render.layout import environment_dir as environment_dir
    from gitops.render.pipeline import render_environments as render_environments
    from gitops.render.pipeline import render_tree as render_tree
    from gitops.repo import CommitResult as CommitResult
    from gitops.repo import commit_tree as commit_tree
    from gitops.repo import read_files as read_files
    from gitops.workflows.apply import ApplyResult as ApplyResult
    from gitops.workflows.apply import apply_environment as apply_environment
    from gitops.workflows.diff import DiffRequest as DiffRequest
    from gitops.workflows.diff import run_diff as run_diff
    from gitops.workflows.plan import Plan as Plan
    from gitops.workflows.plan import build_plan as build_plan
    from gitops.workflows.render import manifests_at_ref as manifests_at_ref
    from gitops.workflows.render import render_to_repo as render_to_repo

__version__ = "0.1.0"

# public name -> module defining it
_EXPORTS: dict[str, str] = {
    "GitOpsError": "gitops.core.errors",
    "ValidationError": "gitops.core.errors",
    "ResourceKey": "gitops.core.keys",
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
    "StackWarning": "gitops.core.errors",
    "Manifest": "gitops.constructs.raw",
    "Include": "gitops.constructs.raw",
    "Environment": "gitops.inputs.environments",
    "Cluster": "gitops.inputs.environments",
    "load_environments": "gitops.inputs.environments",
    "Blueprint": "gitops.inputs.blueprints",
    "load_blueprints": "gitops.inputs.blueprints",
    "render_environments": "gitops.render.pipeline",
    "render_tree": "gitops.render.pipeline",
    "render_to_repo": "gitops.workflows.render",
    "manifests_at_ref": "gitops.workflows.render",
    "environment_dir": "gitops.render.layout",
    "CommitResult": "gitops.repo",
    "commit_tree": "gitops.repo",
    "read_files": "gitops.repo",
    "ClusterClient": "gitops.cluster.client",
    "DiffReport": "gitops.diff.engine",
    "IgnoreRule": "gitops.inputs.ignore",
    "Ownership": "gitops.diff.engine",
    "diff_manifests": "gitops.diff.engine",
    "DiffRequest": "gitops.workflows.diff",
    "run_diff": "gitops.workflows.diff",
    "NamespaceGuardrails": "gitops.constructs.guardrails",
    "ClusterGuardrails": "gitops.constructs.guardrails",
    "Violation": "gitops.policy",
    "load_policies": "gitops.policy",
    "Identity": "gitops.ownership.identity",
    "ApplyResult": "gitops.workflows.apply",
    "apply_environment": "gitops.workflows.apply",
    "Plan": "gitops.workflows.plan",
    "build_plan": "gitops.workflows.plan",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    """Import a public name on first use (see the module docstring)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gitops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
