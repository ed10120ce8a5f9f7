"""Blueprint renders shared by the clusters of a fleet (pure, one render long).

A fleet renders every blueprint once per cluster, yet most clusters see a YAML blueprint
exactly alike: a built-in construct spec (``kind: InferenceStack``...) or a plain manifest
reads nothing of the environment but what its :class:`~gitops.constructs.base.Scope`
carries (the environment's name and default namespace, and the overrides of the construct
ids it creates) plus the environment's namespaces (the fence) and file (error messages).
Its objects are a function of those values, so a cluster whose values equal an earlier
cluster's gets that cluster's objects, rendered and checked once, as the same dicts.

Only the overrides of the ids the blueprint created count: a render reads an override
only through its construct's id, so two clusters that agree on those ids build the same
constructs and read the same overrides. A cluster that differs in one stack's override
renders that stack's blueprint again and shares the rest.

Python blueprints and custom construct kinds may read anything of the environment (its
cluster's name, labels, server): they are never shared.

Shared objects are the same dicts in several clusters' lists: nothing downstream may
modify a rendered object in place (layout and guardrails copy what they change).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops.core.keys import Manifest
from gitops.inputs.environments import Environment

#: ``(blueprint name, environment name, default namespace, namespaces, environment file)``.
_Where = tuple[str, str, str, tuple[str, ...], str]


@dataclass(frozen=True)
class Rendered:
    """One blueprint's render: the construct ids it created and its objects.

    Attributes:
        ids: every construct id of the blueprint's tree, in creation order.
        objects: the objects it synthesized, checked (fence, JSON values).
    """

    ids: tuple[str, ...]
    objects: tuple[Manifest, ...]


@dataclass
class SharedRenders:
    """The renders of environment-independent blueprints during one render."""

    _entries: dict[_Where, list[tuple[str, Rendered]]] = field(default_factory=dict)
    hits: int = 0

    def find(self, blueprint: str, env: Environment) -> Rendered | None:
        """An earlier render of ``blueprint`` valid for ``env``, else ``None``."""
        for overrides, rendered in self._entries.get(_where(blueprint, env), ()):
            if overrides == _overrides_of(env.overrides, rendered.ids):
                self.hits += 1
                return rendered
        return None

    def add(self, blueprint: str, env: Environment, rendered: Rendered) -> None:
        """Remember ``blueprint``'s render for ``env``."""
        entry = (_overrides_of(env.overrides, rendered.ids), rendered)
        self._entries.setdefault(_where(blueprint, env), []).append(entry)


def _where(blueprint: str, env: Environment) -> _Where:
    return (blueprint, env.name, env.namespace, tuple(env.namespaces), str(env.source))


def _overrides_of(overrides: Mapping[str, Any], ids: Iterable[str]) -> str:
    # JSON with sorted keys: a canonical text of values loaded from YAML (repr for any
    # value JSON lacks, such as a YAML date: equal values, equal texts).
    chosen = {id: _plain(overrides[id]) for id in ids if id in overrides}
    return json.dumps(chosen, sort_keys=True, default=repr)


def _plain(value: Any) -> Any:
    """``value`` with every mapping (overrides are read-only mapping proxies) a dict."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
