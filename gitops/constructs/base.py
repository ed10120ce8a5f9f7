"""The construct tree: pure-Python constructs that render plain manifest dicts.

A :class:`Scope` is the root of a tree that needs no Node.js; :class:`Construct` subclasses
build their objects as dicts in :meth:`Construct._build`. When a construct's scope is a
cdk8s ``App`` or ``Chart`` instead, the construct lives in a bridging cdk8s ``Chart`` (see
:mod:`gitops.constructs.cdk8s_bridge`) so ``app.synth_yaml()`` includes its objects.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from gitops.core.errors import GitOpsError, RenderError, ValidationError
from gitops.core.keys import Manifest, ResourceKey, canonical_order, key_of
from gitops.core.labels import (
    ANNOTATION_BLUEPRINT,
    ANNOTATION_CONSTRUCT_PATH,
    ANNOTATION_ENVIRONMENT,
    provenance,
)
from gitops.core.yaml_io import flatten_lists

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_dns1123_label(owner: str, field: str, value: object) -> str:
    """Return ``value`` if it is a DNS-1123 label (<= 63 chars), else raise ValidationError."""
    if not isinstance(value, str) or len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValidationError(
            f"{owner}: {field} must be a DNS-1123 label (lowercase letters, digits and '-', "
            f"starting and ending alphanumeric, at most 63 characters), got {value!r}"
        )
    return value


class Scope:
    """Root of a pure-Python construct tree; rendering it never starts Node.js.

    Args:
        namespace: default namespace for constructs that do not name one.
        blueprint: blueprint name recorded in every object's provenance.
        environment: environment name recorded in every object's provenance.
        overrides: per-construct parameter overrides of the environment, keyed by construct
            id (for example ``{"llama": {"replicas": 3, "image_tag": "v0.6.4"}}``); constructs
            that support overrides read theirs with :meth:`Construct.overrides`.
        context: free-form values a blueprint may read (for example the environment object).
    """

    def __init__(
        self,
        *,
        namespace: str = "default",
        blueprint: str | None = None,
        environment: str | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.namespace = namespace
        self.blueprint = blueprint
        self.environment = environment
        self.overrides: Mapping[str, Mapping[str, Any]] = overrides or {}
        self.context: Mapping[str, Any] = context or {}
        self.path = ""
        self.children: list[Construct] = []
        self._charts: list[tuple[str, Any]] = []

    def add_chart(self, chart: Any) -> None:
        """Bring a cdk8s ``Chart`` (plain ApiObjects, cdk8s-plus, imported CRDs) into the tree."""
        self._charts.append((str(chart.node.path), chart))

    def synth(self) -> list[Manifest]:
        """Render every construct and added chart into manifests, in canonical order.

        Raises:
            RenderError: two objects share kind, namespace and name (both sources named).
        """
        rendered: list[Manifest] = []
        for child in self.children:
            rendered.extend(child.manifests())
        for path, chart in self._charts:
            for obj in flatten_lists(chart.to_json(), f"chart {path}"):
                owned = owned_copy(obj, f"cdk8s chart {path!r}")
                rendered.append(stamp(owned, path, self.blueprint, self.environment))
        for obj in rendered:
            stamp_root(obj, self.blueprint, self.environment)
        check_unique(rendered)
        return canonical_order(rendered)


class Construct(ABC):
    """A node of the construct tree that renders Kubernetes objects as dicts.

    Args:
        scope: a :class:`Scope`, another :class:`Construct`, or a cdk8s ``App``/``Chart``.
        id: the construct id; also the base of the objects' names (a DNS-1123 label).
    """

    #: Human name of the construct type, used in error messages.
    type_name = "Construct"

    def __init__(self, scope: Any, id: str) -> None:
        check_dns1123_label(f"{self.type_name} {id!r}", "name", id)
        self.id = id
        self.children: list[Construct] = []
        self._scope = scope
        self._chart: Any = None
        self.path: str
        if isinstance(scope, (Scope, Construct)):
            self.path = f"{scope.path}/{id}".lstrip("/")
            self._scope_namespace: str = scope.namespace
        else:
            from gitops.constructs.cdk8s_bridge import attach

            self._chart = attach(scope, id, self)
            self.path = str(self._chart.node.path)
            self._scope_namespace = getattr(scope, "namespace", None) or "default"

    def _register(self) -> None:
        """Join the parent's children; call at the end of a subclass ``__init__``.

        Registering last means an argument that fails validation leaves nothing behind in
        the tree: nothing is rendered from invalid input.
        """
        if isinstance(self._scope, (Scope, Construct)):
            self._scope.children.append(self)

    def root(self) -> Scope | None:
        """The :class:`Scope` at the root of this construct's tree (``None`` under cdk8s)."""
        scope = self._scope
        while isinstance(scope, Construct):
            scope = scope._scope
        return scope if isinstance(scope, Scope) else None

    def overrides(self) -> Mapping[str, Any]:
        """The environment's parameter overrides for this construct's id (empty if none)."""
        root = self.root()
        return root.overrides.get(self.id, {}) if root is not None else {}

    @property
    def namespace(self) -> str:
        """The namespace objects of this construct default to."""
        return self._scope_namespace

    @abstractmethod
    def _build(self) -> list[Manifest]:
        """Return this construct's own objects as fresh dicts (children are added for you)."""

    def manifests(self) -> list[Manifest]:
        """Return this construct's objects and its children's, stamped with provenance."""
        try:
            built = self._build()
        except GitOpsError:
            raise
        except (Exception, SystemExit) as err:  # sys.exit(0) must not end a render as a success
            # The exception's text is not quoted: it may hold any value, a Secret's included.
            raise RenderError(
                f"{self.type_name} {self.path!r}: building its objects raised {type(err).__name__}"
            ) from err
        if not isinstance(built, list):
            raise RenderError(
                f"{self.type_name} {self.path!r}: _build must return a list of manifests, "
                f"got {type(built).__name__}"
            )
        # A *List is what kustomize and kubectl would apply item by item: its items are
        # the objects, so the Secret check and the guardrails see each one.
        built = flatten_lists(built, f"{self.type_name} {self.path}")
        own = [
            stamp(owned_copy(obj, f"{self.type_name} {self.path!r}"), self.path) for obj in built
        ]
        for child in self.children:
            own.extend(child.manifests())
        return own


def owned_copy(obj: object, owner: str) -> Manifest:
    """A copy of a manifest a construct returned, checked for what stamping relies on.

    Stamping writes annotations; a blueprint may return the same (module-level) dict, or
    shallow copies sharing ``metadata``, for every environment, and writing into it would
    carry one environment's stamps into another's files. Every dict and list is copied,
    so nothing a blueprint holds is ever mutated.

    Raises:
        RenderError: ``obj`` is not a mapping, or its ``metadata``, ``labels`` or
            ``annotations`` are not mappings of strings (``owner`` and the field named).
    """
    if not isinstance(obj, Mapping):
        raise RenderError(
            f"{owner}: expected a Kubernetes object (a mapping), got {type(obj).__name__}"
        )
    copied: Manifest = _copy_tree(obj)
    metadata = copied.get("metadata", {})
    what = f"{owner}: {copied.get('kind', '?')} {_name_of(metadata)}"
    if not isinstance(metadata, dict):
        raise RenderError(f"{what}: metadata must be a mapping, got {type(metadata).__name__}")
    for field in ("labels", "annotations"):
        values = metadata.get(field, {})
        if not isinstance(values, dict):
            raise RenderError(
                f"{what}: metadata.{field} must be a mapping of strings, got "
                f"{type(values).__name__}"
            )
        for key, value in values.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise RenderError(
                    f"{what}: metadata.{field}[{key!r}] must be a string, got "
                    f"{type(value).__name__}"
                )
    return copied


def _name_of(metadata: object) -> str:
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return repr(name) if isinstance(name, str) else "(no name)"


def _copy_tree(value: Any) -> Any:
    """Copy every dict and list of a JSON-like tree (scalars are immutable and shared).

    Cheaper than :func:`copy.deepcopy` (no memo, no reduce protocol), which matters at
    thousands of objects per render; other types are left for the JSON check to refuse.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value  # most nodes: spared the (slow) abstract Mapping check
    if kind is dict or isinstance(value, Mapping):
        return {key: _copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_tree(item) for item in value]
    return value


def stamp(
    obj: Manifest, path: str, blueprint: str | None = None, environment: str | None = None
) -> Manifest:
    """Record the construct path (and blueprint/environment if given) on ``obj``."""
    metadata = obj.setdefault("metadata", {})
    annotations = metadata.setdefault("annotations", {})
    annotations.setdefault(ANNOTATION_CONSTRUCT_PATH, path)
    stamp_root(obj, blueprint, environment)
    return obj


def stamp_root(obj: Manifest, blueprint: str | None, environment: str | None) -> None:
    """Record blueprint and environment provenance on ``obj`` when known."""
    annotations = obj.setdefault("metadata", {}).setdefault("annotations", {})
    if blueprint:
        annotations[ANNOTATION_BLUEPRINT] = blueprint
    if environment:
        annotations[ANNOTATION_ENVIRONMENT] = environment


def check_unique(manifests: list[Manifest]) -> None:
    """Raise RenderError naming both sources when two objects share group/kind/namespace/name."""
    seen: dict[tuple[str, str, str, str], Manifest] = {}
    for obj in manifests:
        key: ResourceKey = key_of(obj)
        ident = (key.group, key.kind, key.namespace, key.name)
        first = seen.setdefault(ident, obj)
        if first is not obj:
            raise RenderError(
                f"duplicate object {key}: rendered by {provenance(first)} and by {provenance(obj)}"
            )
