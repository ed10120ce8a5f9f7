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

With a :class:`RenderStore` (``gitops render`` passes its
:class:`~gitops.render.cache.RenderCache`), renders are also kept across runs, keyed by the
same values plus a digest of the blueprint's file: re-rendering a repository after one
stack changed renders that stack's blueprint again and takes every other one as it was.
A render that emitted a warning is not kept, so a later render shows it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gitops.core.keys import Manifest
from gitops.inputs.blueprints import Blueprint
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


class RenderStore(Protocol):
    """Where renders are kept between runs: entries ``[overrides, ids, objects]`` (JSON
    values) by key. An entry handed to :meth:`keep_render` is kept for the next run."""

    def stored_renders(self, key: str) -> Sequence[Any]:
        """The entries kept under ``key`` (possibly damaged: they are checked on use)."""
        ...

    def keep_render(self, key: str, entry: list[Any]) -> None:
        """Keep ``entry`` under ``key`` for the next run."""
        ...


@dataclass
class SharedRenders:
    """The renders of environment-independent blueprints during one render (and, with a
    ``store``, across renders)."""

    store: RenderStore | None = None
    _entries: dict[_Where, list[tuple[str, Rendered]]] = field(default_factory=dict)
    hits: int = 0
    #: Renders taken from the store (an earlier run).
    stored_hits: int = 0

    def find(self, blueprint: Blueprint, env: Environment) -> Rendered | None:
        """An earlier render of ``blueprint`` valid for ``env``, else ``None``."""
        where = _where(blueprint.name, env)
        for overrides, rendered in self._entries.get(where, ()):
            if overrides == _overrides_of(env.overrides, rendered.ids):
                self.hits += 1
                return rendered
        if self.store is None or blueprint.digest is None:
            return None
        key = _store_key(blueprint.digest, where)
        for entry in self.store.stored_renders(key):
            found = _stored(entry)
            if found is not None and found[0] == _overrides_of(env.overrides, found[1].ids):
                self.store.keep_render(key, entry)
                self._entries.setdefault(where, []).append(found)
                self.stored_hits += 1
                return found[1]
        return None

    def add(
        self, blueprint: Blueprint, env: Environment, rendered: Rendered, *, keep: bool = True
    ) -> None:
        """Remember ``blueprint``'s render for ``env`` (in the store too, if ``keep``)."""
        where = _where(blueprint.name, env)
        overrides = _overrides_of(env.overrides, rendered.ids)
        self._entries.setdefault(where, []).append((overrides, rendered))
        if keep and self.store is not None and blueprint.digest is not None:
            entry = [overrides, list(rendered.ids), list(rendered.objects)]
            self.store.keep_render(_store_key(blueprint.digest, where), entry)

    def storing(self, blueprint: Blueprint) -> bool:
        """Whether a render of ``blueprint`` would be kept for later runs."""
        return self.store is not None and blueprint.digest is not None


def _store_key(digest: str, where: _Where) -> str:
    return json.dumps([digest, *where[:3], list(where[3]), where[4]], separators=(",", ":"))


def _stored(entry: Any) -> tuple[str, Rendered] | None:
    """A stored entry as ``(overrides, render)``, or ``None`` if it is not well formed."""
    if not (isinstance(entry, list) and len(entry) == 3):
        return None
    overrides, ids, objects = entry
    if not (
        isinstance(overrides, str)
        and isinstance(ids, list)
        and all(isinstance(i, str) for i in ids)
        and isinstance(objects, list)
        and all(isinstance(o, dict) for o in objects)
    ):
        return None
    return overrides, Rendered(tuple(ids), tuple(objects))


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
