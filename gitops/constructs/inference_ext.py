"""The optional serving modes of an InferenceStack: multi-node, InferencePool, warm-up.

:func:`resolve_extensions` checks the three parameters once the stack's own are settled;
:func:`render_stack` renders a ``vllm``-mode stack with them (a LeaderWorkerSet instead of
the Deployment, an InferencePool and endpoint picker behind the route, the cache warm-up
init container).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from typing import Any, Protocol

from gitops.constructs.inference_params import coerce
from gitops.constructs.inference_render import render_vllm
from gitops.constructs.inferencepool import InferencePoolRouting, render_pool, route_to_pool
from gitops.constructs.lws import MultiNode, render_lws
from gitops.constructs.stack_view import StackView
from gitops.constructs.warmup import WarmUp, add_warm_up
from gitops.core.keys import Manifest


class ExtendedStack(StackView, Protocol):
    """A stack with its optional serving modes (set by :func:`resolve_extensions`)."""

    multi_node: MultiNode | None
    inference_pool: InferencePoolRouting | None
    warm_up: WarmUp | None


def resolve_extensions(stack: ExtendedStack, owner: str, params: dict[str, Any]) -> None:
    """Set ``stack.multi_node``, ``stack.inference_pool`` and ``stack.warm_up``, checked."""
    multi = params["multi_node"]
    stack.multi_node = None if multi is None else coerce(owner, "multi_node", MultiNode, multi)
    if stack.multi_node is not None:
        stack.multi_node.check(owner, stack)
    pool = params["inference_pool"]
    if pool is True:
        pool = InferencePoolRouting()
    stack.inference_pool = (
        None
        if pool in (None, False)
        else coerce(owner, "inference_pool", InferencePoolRouting, pool)
    )
    if stack.inference_pool is not None:
        stack.inference_pool.check(owner, stack)
    warm = params["warm_up"]
    if warm is True:
        warm = WarmUp()
    stack.warm_up = None if warm in (None, False) else coerce(owner, "warm_up", WarmUp, warm)
    if stack.warm_up is not None:
        stack.warm_up.check(owner, stack)


def render_stack(stack: ExtendedStack) -> list[Manifest]:
    """Every object of a ``vllm``-mode stack, with its optional modes applied."""
    objects = (
        render_vllm(stack) if stack.multi_node is None else render_lws(stack, stack.multi_node)
    )
    if stack.warm_up is not None:
        objects = add_warm_up(objects, stack, stack.warm_up)
    if stack.inference_pool is not None:
        objects = route_to_pool(objects, stack) + render_pool(stack, stack.inference_pool)
    return objects
