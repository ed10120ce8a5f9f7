"""``InferenceCanary``: two versions of a stack behind one HTTPRoute, split by weight.

A new model version (or engine image) is deployed as a second
:class:`~gitops.constructs.inference.InferenceStack` beside the current one; the canary's
HTTPRoute sends each a share of the traffic (Gateway API ``backendRefs[].weight``), to the
stack's Service or, when it routes through one, its InferencePool. Raising the weight in
Git promotes the new version; removing the old stack finishes the rollout. The stacks
themselves carry no ``route`` (two routes on one hostname would compete).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitops.constructs.base import Construct, Scope
from gitops.constructs.inference import InferenceStack
from gitops.constructs.inference_params import Route, check_int, coerce, fail, snake_case
from gitops.constructs.inferencepool import pool_backend
from gitops.core.errors import ValidationError
from gitops.core.keys import Manifest
from gitops.core.labels import MANAGED_BY

_KEYS = frozenset({"route", "backends"})


class InferenceCanary(Construct):
    """One HTTPRoute splitting traffic between stacks by weight.

    Args:
        scope: the scope holding the stacks (they must be created first, in this scope).
        id: the route's name.
        route: where the route attaches (:class:`~gitops.constructs.inference_params.Route`).
        backends: ``{"stack": <stack id or InferenceStack>, "weight": <0..1000000>}`` for
            two or more stacks of one namespace; weights are relative (90 and 10 send 10%
            to the second). A weight of 0 keeps a stack deployed but out of traffic.

    Raises:
        ValidationError: a stack is unknown, routes itself, or lives in another namespace;
            a weight is invalid; fewer than two backends.
    """

    type_name = "InferenceCanary"

    def __init__(
        self,
        scope: Any,
        id: str,
        *,
        route: Route | Mapping[str, Any],
        backends: Sequence[Mapping[str, Any]],
    ) -> None:
        owner = f"{self.type_name} {id!r}"
        self.route = coerce(owner, "route", Route, route)
        self.route.check(owner)
        if isinstance(backends, (str, bytes)) or not isinstance(backends, Sequence):
            raise fail(owner, "backends", "a list of {stack, weight} mappings", backends)
        if len(backends) < 2:
            raise fail(owner, "backends", "at least two stacks", list(backends))
        known = {c.id: c for c in _stacks(scope)}
        self.backends: list[tuple[InferenceStack, int]] = []
        for index, backend in enumerate(backends):
            where = f"backends[{index}]"
            if not isinstance(backend, Mapping) or set(backend) != {"stack", "weight"}:
                raise fail(owner, where, "a mapping with keys stack and weight", backend)
            stack = backend["stack"]
            if not isinstance(stack, InferenceStack):
                if stack not in known:
                    stacks = ", ".join(sorted(known)) or "none"
                    raise fail(
                        owner, f"{where}.stack", f"an InferenceStack of this blueprint ({stacks})",
                        stack,
                    )  # fmt: skip
                stack = known[stack]
            if stack.route is not None:
                raise fail(
                    owner, f"{where}.stack", "a stack without its own route (the canary routes it)",
                    stack.id,
                )  # fmt: skip
            weight = check_int(owner, f"{where}.weight", backend["weight"], 0)
            if weight > 1_000_000:
                raise fail(owner, f"{where}.weight", "at most 1000000 (Gateway API)", weight)
            self.backends.append((stack, weight))
        namespaces = {stack.namespace for stack, _ in self.backends}
        if len(namespaces) > 1:
            raise fail(owner, "backends", "stacks of one namespace", sorted(namespaces))
        if not any(weight for _, weight in self.backends):
            raise fail(owner, "backends", "at least one weight above 0", 0)
        super().__init__(scope, id)
        self._namespace = namespaces.pop()
        self._register()

    @classmethod
    def from_spec(cls, scope: Any, spec: Mapping[str, Any], source: str) -> InferenceCanary:
        """Build a canary from a blueprint entry (``kind: InferenceCanary``, ``name``...)."""
        name = spec.get("name", spec.get("id"))
        if not isinstance(name, str):
            raise ValidationError(f"{source}: InferenceCanary name must be a string, got {name!r}")
        kwargs: dict[str, Any] = {}
        for key, value in spec.items():
            if key in ("kind", "name", "id"):
                continue
            snake = snake_case(key) if isinstance(key, str) else key
            if snake not in _KEYS:
                raise ValidationError(
                    f"{source}: InferenceCanary {name!r}: key must be one of backends, route, "
                    f"got {key!r}"
                )
            kwargs[snake] = value
        for required in sorted(_KEYS - set(kwargs)):
            raise ValidationError(
                f"{source}: InferenceCanary {name!r}: key {required!r} is required"
            )
        try:
            return cls(scope, name, **kwargs)
        except ValidationError as err:
            raise ValidationError(f"{source}: {err}") from err

    def _build(self) -> list[Manifest]:
        refs: list[dict[str, Any]] = []
        for stack, weight in self.backends:
            if stack.inference_pool is not None:
                ref = pool_backend(stack)
            else:
                ref = {"name": stack.id, "port": stack.port}
            refs.append({**ref, "weight": weight})
        parents: list[dict[str, Any]] = []
        for parent in self.route.refs(f"{self.type_name} {self.id!r}"):
            entry: dict[str, Any] = {"name": parent.name}
            if parent.namespace is not None:
                entry["namespace"] = parent.namespace
            if parent.section_name is not None:
                entry["sectionName"] = parent.section_name
            parents.append(entry)
        rule: dict[str, Any] = {
            "matches": [{"path": {"type": "PathPrefix", "value": self.route.path_prefix}}],
            "backendRefs": refs,
        }
        if self.route.request_timeout is not None:
            rule["timeouts"] = {"request": self.route.request_timeout}
        spec: dict[str, Any] = {"parentRefs": parents}
        if self.route.hostnames:
            spec["hostnames"] = list(self.route.hostnames)
        spec["rules"] = [rule]
        labels = {
            "app.kubernetes.io/name": "inference-canary",
            "app.kubernetes.io/instance": self.id,
            "app.kubernetes.io/managed-by": MANAGED_BY,
        }
        return [
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {"name": self.id, "namespace": self._namespace, "labels": labels},
                "spec": spec,
            }
        ]


def _stacks(scope: Any) -> list[InferenceStack]:
    """Every InferenceStack in the tree ``scope`` belongs to."""
    root = scope.root() if isinstance(scope, Construct) else scope
    pending = list(root.children) if isinstance(root, Scope) else []
    out: list[InferenceStack] = []
    while pending:
        construct = pending.pop(0)
        if isinstance(construct, InferenceStack):
            out.append(construct)
        pending.extend(construct.children)
    return out
