"""An 8B chat model on one GPU, scaled by a HorizontalPodAutoscaler on queued requests.

A Python blueprint: ``gitops render`` calls ``blueprint(scope, env)`` once per environment.
The environment's overrides (``overrides: {llama-8b: ...}``) are applied by the construct.
"""

from __future__ import annotations

from gitops.constructs.base import Scope
from gitops.constructs.inference import InferenceStack
from gitops.inputs.environments import Environment


def blueprint(scope: Scope, env: Environment) -> None:
    """Add the chat stack to ``scope`` for ``env``."""
    InferenceStack(
        scope,
        "llama-8b",
        model="meta-llama/Llama-3.1-8B-Instruct",
        image="registry.example.com/vllm/vllm-openai:v0.19.1",
        gpus=1,
        max_model_len=16384,
        gpu_memory_utilization=0.9,
        hf_token_secret={"name": "hf-token", "key": "token"},
        autoscaling={"kind": "hpa", "min_replicas": 1, "max_replicas": 4},
        labels={"team": "assistants", "cost-center": "ml-platform"},
        strict=True,
    )
