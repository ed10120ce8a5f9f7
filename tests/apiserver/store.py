"""Object storage and the write semantics of kube-apiserver (create, update, patch, apply, delete).

No network I/O: the HTTP layer (server.py) calls these methods under one lock. Errors are
raised as :class:`ApiError`, which carries the real ``Status`` body.
"""

from __future__ import annotations

import copy
import datetime
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import managed
from .defaults import Allocators, apply_defaults
from .errors import ApiError, check_invalid, check_precondition, not_found, qualified
from .immutable import Invalid, carry_allocated, update_errors
from .quantities import canonicalize
from .resources import Registry, Resource
from .status import ready_condition, workload_status

Key = tuple[str, str, str, str]  # group, kind, namespace, name


@dataclass(frozen=True)
class Event:
    """One change, as a watch reports it (``obj`` is never mutated after logging)."""

    revision: int
    type: str
    key: Key
    obj: dict[str, Any]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    """All objects, the resourceVersion counter and the simulated controllers."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.lock = threading.RLock()
        self.objects: dict[Key, dict[str, Any]] = {}
        self.revision = 0
        self.require_namespace = True
        self.default_ready = True
        self.ready: dict[Key, bool] = {}
        self.denials: dict[tuple[str, str, str, str], tuple[int, str]] = {}
        self.on_crd: Callable[[dict[str, Any]], None] = lambda crd: None
        self.alloc = Allocators()
        self.events: list[Event] = []
        self.changed = threading.Condition(self.lock)
        self.stopping = False

    # -- the event log (for watches) -------------------------------------------------------

    def put(self, key: Key, obj: dict[str, Any], event: str) -> None:
        """Store ``obj`` (its resourceVersion already set) and log the watch event."""
        self.objects[key] = obj
        self.events.append(Event(self.revision, event, key, obj))
        self.changed.notify_all()

    def _remove(self, key: Key) -> None:
        obj = copy.deepcopy(self.objects.pop(key))
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self.events.append(Event(self.revision, "DELETED", key, obj))
        self.changed.notify_all()

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def key(res: Resource, namespace: str, name: str) -> Key:
        """The storage key of an object."""
        return (res.group, res.kind, namespace if res.namespaced else "", name)

    def _check_namespace(self, res: Resource, namespace: str) -> None:
        if not res.namespaced or not self.require_namespace:
            return
        if ("", "Namespace", "", namespace) not in self.objects:
            details = {"name": namespace, "kind": "namespaces"}
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found', details)

    def _check_denied(self, verb: str, res: Resource, namespace: str, name: str) -> None:
        denial = self.denials.get((verb, res.kind, namespace, name))
        if denial is not None:
            code, message = denial
            reason = "Forbidden" if code == 403 else "Invalid" if code == 422 else "BadRequest"
            raise ApiError(code, reason, message)

    def _finish(
        self,
        res: Resource,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        entries: list[managed.Entry],
        dry_run: bool,
    ) -> dict[str, Any]:
        """Default, bump generation/resourceVersion, store; a no-op write changes nothing."""
        if not res.custom:
            if old is not None:
                carry_allocated(res.kind, old, new)
            apply_defaults(new, self.alloc)
            if old is not None:
                check_invalid(res, new["metadata"]["name"], update_errors(res.kind, old, new))
        meta = new["metadata"]
        if not res.namespaced:
            meta.pop("namespace", None)  # as BeforeCreate/BeforeUpdate clear it
        if res.generation:
            generation = (old or {}).get("metadata", {}).get("generation", 0)
            if old is None or _spec_part(old) != _spec_part(new):
                generation += 1
            meta["generation"] = generation
        meta["managedFields"] = managed.encode(entries)
        if not meta["managedFields"]:
            del meta["managedFields"]
        key = self.key(res, meta.get("namespace", ""), meta["name"])
        ready = self.ready.get(key)
        status = workload_status(new, self.default_ready if ready is None else ready)
        if status is None and ready is not None:
            status = ready_condition(new.get("status"), ready)
        if status is not None:
            new["status"] = status
        if old is not None:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            if new == old:
                return copy.deepcopy(old)
        if dry_run:
            if old is None:
                meta.pop("resourceVersion", None)
            return new
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        self.put(key, new, "ADDED" if old is None else "MODIFIED")
        if res.kind == "CustomResourceDefinition":
            self.on_crd(new)
        return copy.deepcopy(new)

    def _new_object(self, res: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            required = "Required value: name or generateName is required"
            check_invalid(res, "", [Invalid("metadata.name", "FieldValueRequired", required)])
        if res.namespaced:
            meta["namespace"] = namespace
        for server_field in ("resourceVersion", "managedFields", "generation"):
            meta.pop(server_field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if res.status:
            obj.pop("status", None)
        return obj

    # -- verbs -----------------------------------------------------------------------------

    def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any]:
        """GET one object, or 404."""
        obj = self.objects.get(self.key(res, namespace, name))
        if obj is None:
            raise not_found(res, name)
        return copy.deepcopy(obj)

    def create(
        self, res: Resource, namespace: str, body: dict[str, Any], manager: str, dry_run: bool
    ) -> dict[str, Any]:
        """POST: create, or 409 AlreadyExists."""
        self._check_namespace(res, namespace)
        meta_ns = (body.get("metadata") or {}).get("namespace")
        if res.namespaced and meta_ns and meta_ns != namespace:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        obj = self._new_object(res, namespace, body)
        name = obj["metadata"]["name"]
        self._check_denied("create", res, namespace, name)
        if self.key(res, namespace, name) in self.objects:
            details = {"name": name, "group": res.group, "kind": res.plural}
            raise ApiError(
                409, "AlreadyExists", f'{qualified(res)} "{name}" already exists', details
            )
        if (body.get("metadata") or {}).get("resourceVersion"):
            # The storage layer refuses it with a plain error, which reaches clients as a 500.
            raise ApiError(
                500, "InternalError", "resourceVersion should not be set on objects to be created"
            )
        if not res.custom:
            canonicalize(obj)
            apply_defaults(obj, self.alloc)
        entries = managed.record_update(
            [], None, obj, manager, res.api_version, _now(), with_status=not res.status
        )
        return self._finish(res, None, obj, entries, dry_run)

    def update(
        self,
        res: Resource,
        namespace: str,
        name: str,
        body: dict[str, Any],
        manager: str,
        dry_run: bool,
        subresource: str = "",
    ) -> dict[str, Any]:
        """PUT: replace, honouring the resourceVersion precondition (409 Conflict)."""
        old = self.get(res, namespace, name)
        self._check_denied("update", res, namespace, name)
        meta = body.get("metadata") or {}
        if meta.get("name", name) != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        check_precondition(res, name, meta, old)
        if subresource == "status":
            new = copy.deepcopy(old)
            new["status"] = copy.deepcopy(body.get("status"))
        else:
            new = copy.deepcopy(body)
            new["apiVersion"], new["kind"] = res.api_version, res.kind
            server_meta = ("uid", "creationTimestamp", "generation", "namespace", "name")
            new_meta = new.setdefault("metadata", {})
            for key in server_meta:
                if key in old["metadata"]:
                    new_meta[key] = old["metadata"][key]
            new_meta.pop("managedFields", None)
            if res.status:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
        if not res.custom:
            canonicalize(new)
            carry_allocated(res.kind, old, new)
            apply_defaults(new, self.alloc)
        with_status = subresource == "status" or not res.status
        entries = managed.record_update(
            managed.decode(old),
            old,
            new,
            manager,
            res.api_version,
            _now(),
            with_status=with_status,
            subresource=subresource,
        )
        return self._finish(res, old, new, entries, dry_run)

    def apply(
        self,
        res: Resource,
        namespace: str,
        name: str,
        config: dict[str, Any],
        manager: str,
        *,
        force: bool,
        dry_run: bool,
        subresource: str = "",
    ) -> dict[str, Any]:
        """PATCH with application/apply-patch+yaml: server-side apply (creates if absent)."""
        if not manager:
            raise ApiError(
                400,
                "BadRequest",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is '
                "required for apply patch",
            )
        if not isinstance(config, dict) or not config.get("apiVersion") or not config.get("kind"):
            raise ApiError(400, "BadRequest", "invalid object type: apiVersion and kind required")
        meta = config.get("metadata") or {}
        if meta.get("name", name) != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        config = copy.deepcopy(config)
        if not res.custom:
            canonicalize(config)
        with_status = subresource == "status" or not res.status
        if res.status and subresource != "status":
            config.pop("status", None)
        if subresource == "status":
            # Through /status only the status is applied; the rest of the config is ignored.
            status_only = {"metadata": {"name": name}, "status": config.get("status") or {}}
            config = {"apiVersion": config["apiVersion"], "kind": config["kind"], **status_only}
        key = self.key(res, namespace, name)
        old = copy.deepcopy(self.objects.get(key))
        if old is None:
            if subresource:
                raise not_found(res, name)
            self._check_namespace(res, namespace)
            self._check_denied("create", res, namespace, name)
            live = self._new_object(res, namespace, {"metadata": {"name": name}})
        else:
            self._check_denied("update", res, namespace, name)
            check_precondition(res, name, meta, old)
            live = old
        result = managed.apply(
            managed.decode(old),
            live,
            config,
            manager,
            res.api_version,
            _now(),
            force=force,
            with_status=with_status,
            subresource=subresource,
        )
        if result.conflicts:
            # StatusCause serializes its type under the JSON key "reason".
            causes = [
                {
                    "reason": "FieldManagerConflict",
                    "message": f"conflict with {c.owner}",
                    "field": c.field,
                }
                for c in result.conflicts
            ]
            message = managed.conflict_message(result.conflicts)
            raise ApiError(409, "Conflict", message, {"causes": causes})
        new = result.obj
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        return self._finish(res, old, new, result.entries, dry_run)

    def delete(self, res: Resource, namespace: str, name: str, dry_run: bool) -> dict[str, Any]:
        """DELETE: immediate removal (Namespaces and CRDs take their contents with them)."""
        obj = self.get(res, namespace, name)
        self._check_denied("delete", res, namespace, name)
        if not dry_run:
            self._remove(self.key(res, namespace, name))
            if res.kind == "Namespace":
                for key in [k for k in self.objects if k[2] == name]:
                    self._remove(key)
            if res.kind == "CustomResourceDefinition":
                for gone in self.registry.remove_crd(obj):
                    for key in [k for k in self.objects if k[:2] == (gone.group, gone.kind)]:
                        self._remove(key)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": res.group,
                "kind": res.plural,
                "uid": obj["metadata"]["uid"],
            },
        }

    def items(
        self, res: Resource, namespace: str | None, *, copy_items: bool = True
    ) -> list[dict[str, Any]]:
        """All objects of a kind (in one namespace, or all), in etcd key order.

        Stored objects are never mutated in place (every write stores a new dict), so
        ``copy_items=False`` gives a consistent snapshot without copying it.
        """
        found = [
            obj
            for key, obj in self.objects.items()
            if key[:2] == (res.group, res.kind) and (namespace in (None, "") or key[2] == namespace)
        ]
        found.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return [copy.deepcopy(o) for o in found] if copy_items else found
