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
    from gitops.blueprints import Blueprint as Blueprint
    from gitops.blueprints import load_blueprints as load_blueprints
    from gitops.cluster import ClusterClient as ClusterClient
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
    from gitops.diff import DiffReport as DiffReport
    from gitops.diff import IgnoreRule as IgnoreRule
    from gitops.diff import Ownership as Ownership
    from gitops.diff import diff_manifests as diff_manifests
    from gitops.diff_pipeline import DiffRequest as DiffRequest
    from gitops.diff_pipeline import run_diff as run_diff
    from gitops.environments import Cluster as Cluster
    from gitops.environments import Environment as Environment
    from gitops.environments import load_environments as load_environments
    from gitops.errors import GitOpsError as GitOpsError
    from gitops.errors import StackWarning as StackWarning
    from gitops.errors import ValidationError as ValidationError
    from gitops.layout import environment_dir as environment_dir
    from gitops.model import ResourceKey as ResourceKey
    from gitops.ownership import Identity as Identity
    from gitops.plan import Plan as Plan
    from gitops.plan import build_plan as build_plan
    from gitops.policy import Violation as Violation
    from gitops.policy import load_policies as load_policies
    from gitops.reconcile import ApplyResult as ApplyResult
    from gitops.reconcile import apply_environment as apply_environment
    from gitops.render import manifests_at_ref as manifests_at_ref
    from gitops.render import render_environments as render_environments
    from gitops.render import render_to_repo as render_to_repo
    from gitops.render import render_tree as render_tree
    from gitops.repo import CommitResult as CommitResult
    from gitops.repo import commit_tree as commit_tree
    from gitops.repo import read_files as read_files

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
    "Manifest": "gitops.constructs.raw",
    "Include": "gitops.constructs.raw",
    "Environment": "gitops.environments",
    "Cluster": "gitops.environments",
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
    """Import a public name on first use (see the module docstring)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gitops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
