"""Align a live object onto the fields a desired manifest sets, with no false drift.

Purely data-manipulative: no I/O. :func:`align` walks the desired manifest and the live
object together (server-side-apply style) and returns two documents of the same shape:

* the *desired* side, normalized (nulls dropped, ignored fields removed);
* the *projection* of live: only the fields desired sets, lists merged by their Kubernetes
  merge keys and put in desired order, values equal in meaning (``1000m`` and ``1`` in a
  resource quantity; a zero value such as ``[]``, ``""`` or ``false`` and absent) written
  in desired's form, plus the fields our
  field manager owns in live that desired no longer sets (they will be removed).

The two are equal exactly when there is no drift (equal as JSON: ``true`` is not ``1``, which
Python's ``==`` would not see; :attr:`Alignment.retyped` lists where that happened), and
``jsonpatch.make_patch(projection, desired)`` is the change an apply would make. Live is
never deep-copied: only the projected fields are built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops.core import fieldsv1
from gitops.diff.fields import (
    SET_LISTS,
    SYSTEM_ANNOTATIONS,
    Segment,
    is_empty,
    item_key,
    json_equal,
    readable_path,
    scalar_equal,
    strip_nulls,
)


class _Missing:
    """Marker for an absent value (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _matches(pointer: tuple[str, ...], path: Sequence[Segment]) -> bool:
    if len(pointer) != len(path):
        return False
    for want, got in zip(pointer, path, strict=True):
        if want == "*":
            continue
        if isinstance(got, tuple):
            if want not in got:
                return False
        elif want != got:
            return False
    return True


@dataclass
class Alignment:
    """Result of :func:`align`: desired and live projection of the same shape."""

    desired: Any
    projection: Any
    #: Readable paths of fields our manager owns in live that desired no longer sets.
    removed: list[str] = field(default_factory=list)
    #: Readable paths whose fate only the server knows: a field desired stops setting is
    #: removed, or defaulted back to the value live has (``ports[].protocol``, a CRD
    #: default). Empty when the local verdict is certain.
    cannot_tell: list[str] = field(default_factory=list)
    #: Readable paths where desired and live hold a boolean and a number that Python calls
    #: equal (``True == 1``) but JSON, and so the server, does not.
    retyped: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        """Whether live matches desired on every compared field."""
        return not self.retyped and bool(self.desired == self.projection)


@dataclass(frozen=True)
class _Trees:
    """The FieldsV1 sub-trees at one path: ours (applied), ignored managers', every other's."""

    owned: fieldsv1.FieldsTree | None = None
    foreign: fieldsv1.FieldsTree | None = None
    others: fieldsv1.FieldsTree | None = None

    def child(self, name: str) -> _Trees:
        if self.owned is None and self.foreign is None and self.others is None:
            return self  # no manager tracks this value: neither does any of its fields
        return _Trees(
            fieldsv1.child(self.owned, name),
            fieldsv1.child(self.foreign, name),
            fieldsv1.child(self.others, name),
        )

    def items(self) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
        return (
            fieldsv1.item_index(self.owned),
            fieldsv1.item_index(self.foreign),
            fieldsv1.item_index(self.others),
        )

    def ignored(self) -> bool:
        """Whether an ignored manager owns this value as a whole."""
        return self.foreign is not None and fieldsv1.is_leaf(self.foreign)

    def keyed(self) -> bool | None:
        """Whether live's managers track this list by item (True) or whole (False); None: no one."""
        trees = [t for t in (self.owned, self.foreign, self.others) if t is not None]
        if not trees:
            return None
        return any(any(k.startswith(("k:", "v:")) for k in t) for t in trees)


@dataclass
class _Aligner:
    ignored: Callable[[Sequence[Segment]], bool]
    strict: bool
    #: Built-in kinds have Go types (quantities, omitempty, merge keys); custom resources
    #: are stored as sent: exact values, lists atomic unless their CRD declares keys.
    builtin: bool = True
    removed: list[str] = field(default_factory=list)
    cannot_tell: list[str] = field(default_factory=list)
    retyped: list[str] = field(default_factory=list)

    def value(self, desired: Any, live: Any, path: list[Segment], trees: _Trees) -> tuple[Any, Any]:
        # type() first: JSON and YAML give plain dicts, and an ABC check costs ten times more
        if type(desired) is dict or isinstance(desired, Mapping):
            if type(live) is dict or isinstance(live, Mapping):
                return self.mapping(desired, live, path, trees)
        elif isinstance(desired, list):
            if isinstance(live, list):
                return self.sequence(desired, live, path, trees)
        elif live is not MISSING and scalar_equal(desired, live, path, self.builtin):
            return desired, desired
        clean = strip_nulls(desired)
        if live is MISSING or live is None:
            # Empty and absent mean the same to Go types (omitempty); adopt desired's form.
            empty = self.builtin and is_empty(clean)
            return clean, (clean if empty else MISSING)
        if (type(clean) is bool) is not (type(live) is bool) and clean == live:
            # true and 1 differ to the server; the == that compares the documents would not see it
            self.retyped.append(readable_path(path))
        return clean, strip_nulls(live)

    def mapping(
        self,
        desired: Mapping[str, Any],
        live: Mapping[str, Any],
        path: list[Segment],
        trees: _Trees,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        d_out: dict[str, Any] = {}
        p_out: dict[str, Any] = {}
        for key, d_value in desired.items():
            if d_value is None:
                continue
            path.append(key)
            sub = trees.child(key)
            if not self.ignored(path) and not sub.ignored():
                d_key, p_key = self.value(d_value, live.get(key, MISSING), path, sub)
                d_out[key] = d_key
                if p_key is not MISSING:
                    p_out[key] = p_key
            path.pop()
        for key in _owned_names(trees.owned):
            if desired.get(key) is not None or live.get(key) is None:
                continue
            path.append(key)
            sub = trees.child(key)
            # A field another manager owns too stays when we stop applying it.
            kept = sub.others is not None and fieldsv1.is_leaf(sub.others)
            if not self.ignored(path) and not sub.ignored() and not kept:
                p_out[key] = project_owned(live[key], sub.owned, sub.others)
                if p_out[key] in ({}, []) and live[key] not in ({}, []):
                    del p_out[key]  # every owned sub-field is another manager's too
                else:
                    self.removed.append(readable_path(path))
                    # Removed, or defaulted back to the same value: only the server knows.
                    self.cannot_tell.append(readable_path(path))
            path.pop()
        if self.strict and path[-2:] in (["metadata", "labels"], ["metadata", "annotations"]):
            for key, l_value in live.items():
                if key not in desired and not key.startswith(SYSTEM_ANNOTATIONS):
                    p_out[key] = l_value
        return d_out, p_out

    def sequence(
        self,
        desired: list[Any],
        live: list[Any],
        path: list[Segment],
        trees: _Trees,
    ) -> tuple[list[Any], list[Any]]:
        name = next((s for s in reversed(path) if isinstance(s, str)), "")
        keyed = trees.keyed()
        if name in SET_LISTS and (self.builtin or keyed):
            # Membership through sets: 80,000 finalizers compared as lists took minutes.
            in_live, in_desired = _members(live), _members(desired)
            theirs = _members(fieldsv1.set_values(trees.others))
            extra = [
                v
                for v in fieldsv1.set_values(trees.owned)
                if in_live(v) and not in_desired(v) and not theirs(v)
            ]
            return list(desired), [v for v in desired if in_live(v)] + extra
        if keyed is False or (not self.builtin and not keyed):
            # The server replaces this list whole (an atomic list, as a CRD's lists are
            # unless they declare x-kubernetes-list-type: map or set).
            return self.atomic(desired, live, path)
        d_keys = [item_key(name, item) for item in desired]
        l_keys = [item_key(name, item) for item in live]
        if not desired or any(k is None for k in d_keys) or any(k is None for k in l_keys):
            return self.atomic(desired, live, path)
        by_key = {fieldsv1.item_key(k): item for k, item in zip(l_keys, live, strict=True) if k}
        d_frozen = {fieldsv1.item_key(k) for k in d_keys if k}
        if len(by_key) != len(live) or len(d_frozen) != len(desired):
            # Duplicate keys (possible for env): no merge is well defined; compare in order.
            return self.atomic(desired, live, path)
        owned_items, foreign_items, other_items = trees.items()
        position = {frozen: index for index, frozen in enumerate(by_key)}
        d_out: list[Any] = []
        placed: list[tuple[int, Any]] = []
        wanted = set()
        for index, (d_key, d_item) in enumerate(zip(d_keys, desired, strict=True)):
            frozen = fieldsv1.item_key(d_key or {})
            wanted.add(frozen)
            path.append((str(index), *map(str, (d_key or {}).values())))
            d_value, p_value = self.value(
                d_item,
                by_key.get(frozen, MISSING),
                path,
                _Trees(owned_items.get(frozen), foreign_items.get(frozen), other_items.get(frozen)),
            )
            path.pop()
            d_out.append(d_value)
            if p_value is not MISSING:
                placed.append((position[frozen], p_value))
        for frozen, sub in owned_items.items():
            if frozen not in wanted and frozen in by_key and frozen not in other_items:
                label = ",".join(f"{k}={v}" for k, v in sorted(frozen))
                self.removed.append(f"{readable_path(path)}[{label}]")
                placed.append((position[frozen], project_owned(by_key[frozen], sub)))
        # Live order: the server puts applied items in the applied order, so an order
        # that differs from live's is a change (a reordered env or ports list).
        placed.sort(key=lambda pair: pair[0])
        return d_out, [value for _index, value in placed]

    def atomic(
        self, desired: list[Any], live: list[Any], path: list[Segment]
    ) -> tuple[list[Any], list[Any]]:
        if len(desired) != len(live):
            return strip_nulls(desired), strip_nulls(live)
        d_out: list[Any] = []
        p_out: list[Any] = []
        for index, (d_item, l_item) in enumerate(zip(desired, live, strict=True)):
            path.append((str(index),))
            d_value, p_value = self.value(d_item, l_item, path, _Trees())
            if _extra_fields(d_item, l_item):
                # The server replaces the list: a live field desired lacks is dropped,
                # or defaulted back (a CRD default, a built-in default) - only it knows.
                self.cannot_tell.append(readable_path(path))
            path.pop()
            d_out.append(d_value)
            p_out.append(strip_nulls(l_item) if p_value is MISSING else p_value)
        return d_out, p_out


def _never(_path: Sequence[Segment]) -> bool:
    return False


def _members(values: list[Any]) -> Callable[[Any], bool]:
    """A constant-time membership test for the items of a set-like list.

    Set lists hold scalars (finalizer names); an unhashable item (malformed live data)
    falls back to a linear scan for that item alone.
    """
    # Keyed by whether the value is a boolean too: true is not a member where only 1 is.
    hashable = {(type(v) is bool, v) for v in values if _is_scalar(v)}
    rest = [v for v in values if not _is_scalar(v)]

    def contains(value: Any) -> bool:
        if _is_scalar(value):
            return (type(value) is bool, value) in hashable
        return any(json_equal(value, item) for item in rest)

    return contains


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) or value is None


def _extra_fields(desired: Any, live: Any) -> bool:
    """Whether ``live`` has mapping fields (at any depth) that ``desired`` does not set."""
    if isinstance(desired, Mapping) and isinstance(live, Mapping):
        return any(
            desired.get(k) is None or _extra_fields(desired[k], v)
            for k, v in live.items()
            if v is not None
        )
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return any(_extra_fields(d, v) for d, v in zip(desired, live, strict=True))
    return False


def _owned_names(owned: fieldsv1.FieldsTree | None) -> list[str]:
    return [key[2:] for key in owned or () if key.startswith("f:")]


def project_owned(
    live: Any, owned: fieldsv1.FieldsTree | None, others: fieldsv1.FieldsTree | None = None
) -> Any:
    """The part of ``live`` a FieldsV1 tree owns (all of it when the tree is a leaf).

    Leaves ``others`` (other managers) own too are left out: they stay when ours go.
    """
    if owned is None or fieldsv1.is_leaf(owned):
        return strip_nulls(live)
    if isinstance(live, Mapping):
        out: dict[str, Any] = {}
        for name in _owned_names(owned):
            theirs = fieldsv1.child(others, name)
            if live.get(name) is None or (theirs is not None and fieldsv1.is_leaf(theirs)):
                continue
            out[name] = project_owned(live[name], fieldsv1.child(owned, name), theirs)
        return out
    if isinstance(live, list):
        index = fieldsv1.item_index(owned)
        values = fieldsv1.set_values(owned)
        items: list[Any] = []
        for item in live:
            if item in values:
                items.append(item)
            elif isinstance(item, Mapping):
                sub = next(
                    (t for k, t in index.items() if all(item.get(f) == v for f, v in k)), None
                )
                if sub is not None:
                    items.append(project_owned(item, sub))
        return items
    return live


def align(
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    *,
    owned: fieldsv1.FieldsTree | None = None,
    foreign: fieldsv1.FieldsTree | None = None,
    others: fieldsv1.FieldsTree | None = None,
    ignore_pointers: Sequence[tuple[str, ...]] = (),
    strict: bool = False,
    builtin: bool = True,
) -> Alignment:
    """Align ``live`` onto the fields ``desired`` sets.

    Args:
        desired: the desired manifest (not modified).
        live: the live object (not modified, not copied).
        owned: FieldsV1 tree our field manager applied; owned fields absent from desired
            appear in the projection only (they will be removed).
        foreign: FieldsV1 tree of managers whose fields are ignored (e.g. the HPA's replicas).
        others: FieldsV1 tree of every other manager: a field they own stays when desired
            stops setting it (not a removal), and a list they track by item is keyed.
        ignore_pointers: parsed JSON pointers of fields never compared; a list item answers
            to its index, its merge-key value, or ``*``.
        strict: also compare labels and annotations live carries that desired does not set.
        builtin: a built-in kind (Go types: quantities in canonical form, zero values
            omitted, lists merged by the keys of :data:`MERGE_KEYS`); False for a custom
            resource, stored as sent, whose lists are atomic unless live's managedFields
            track them by item (``x-kubernetes-list-type: map`` or ``set``).

    Returns:
        The :class:`Alignment`; ``in_sync`` tells whether there is drift.
    """
    pointers = tuple(ignore_pointers)

    def ignored(path: Sequence[Segment]) -> bool:
        return any(_matches(p, path) for p in pointers)

    aligner = _Aligner(ignored=ignored if pointers else _never, strict=strict, builtin=builtin)
    d_out, p_out = aligner.mapping(desired, live, [], _Trees(owned, foreign, others))
    return Alignment(d_out, p_out, aligner.removed, aligner.cannot_tell, aligner.retyped)
