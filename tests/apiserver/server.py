"""The test API server's Python API: start/stop, kubeconfig, seeding, faults, request log."""

from __future__ import annotations

import copy
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from .handler import Handler
from .listing import Lister
from .log import Fault, RequestLog, RequestRecord
from .resources import Registry, Resource
from .store import Store


class ApiServer:
    """A kube-apiserver stand-in on 127.0.0.1 for tests (see README.md for fidelity).

    Args:
        token: Require ``Authorization: Bearer <token>`` (401 otherwise); None: no auth.
        require_namespace: Reject namespaced writes into a missing Namespace (404), as real.
        crd_establish_delay: Seconds before a new CRD is Established and its kind served.
        default_ready: Whether Deployments/StatefulSets report all replicas ready.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        require_namespace: bool = True,
        crd_establish_delay: float = 0.0,
        default_ready: bool = True,
    ) -> None:
        self.token = token
        self.crd_establish_delay = crd_establish_delay
        self.registry = Registry()
        self.store = Store(self.registry)
        self.store.require_namespace = require_namespace
        self.store.default_ready = default_ready
        self.store.on_crd = self._on_crd
        self.log = RequestLog()
        self.lister = Lister(self.store)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ApiServer:
        """Listen on an ephemeral loopback port and serve in a background thread."""
        handler = type("BoundHandler", (Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        for timer in self._timers:
            timer.cancel()
        with self.store.lock:
            self.store.stopping = True  # ends open watches
            self.store.changed.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._httpd is None:
            raise RuntimeError("the test API server is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def write_kubeconfig(self, path: Path | str, context: str = "test") -> Path:
        """Write a kubeconfig whose ``context`` points at this server; return its path."""
        user: dict[str, Any] = {"token": self.token} if self.token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": user}],
            "contexts": [
                {"name": context, "context": {"cluster": context, "user": context}},
            ],
            "current-context": context,
        }
        out = Path(path)
        out.write_text(yaml.safe_dump(config, sort_keys=False))
        return out

    @staticmethod
    def version_info() -> dict[str, str]:
        """The ``/version`` document."""
        return {
            "major": "1",
            "minor": "31",
            "gitVersion": "v1.31.0-gitops-test",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.22.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    # -- seeding and inspection ------------------------------------------------------------

    def _resource(self, api_version: str, kind: str) -> Resource:
        res = self.registry.by_kind(api_version, kind)
        if res is None:
            raise KeyError(f"the test API server does not serve {api_version} {kind}")
        return res

    def seed(
        self, obj: dict[str, Any], manager: str = "seed", operation: str = "Update"
    ) -> dict[str, Any]:
        """Write ``obj`` directly (no namespace check, denial or fault) as ``manager``.

        ``operation="Update"`` records the fields that changed as owned by ``manager`` (how
        controllers and ``kubectl edit`` write); ``"Apply"`` is a forced server-side apply.
        A ``status`` in ``obj`` is written too. Returns the stored object.
        """
        res = self._resource(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "default") if res.namespaced else ""
        name = meta["name"]
        store = self.store
        with store.lock:
            saved = store.require_namespace, store.denials
            store.require_namespace, store.denials = False, {}
            try:
                body = copy.deepcopy(obj)
                body.get("metadata", {}).pop("resourceVersion", None)
                if operation == "Apply":
                    out = store.apply(
                        res, namespace, name, body, manager, force=True, dry_run=False
                    )
                elif store.key(res, namespace, name) in store.objects:
                    out = store.update(res, namespace, name, body, manager, False)
                else:
                    out = store.create(res, namespace, body, manager, False)
                if res.status and "status" in obj:
                    status = {"metadata": {"name": name}, "status": obj["status"]}
                    out = store.update(res, namespace, name, status, manager, False, "status")
            finally:
                store.require_namespace, store.denials = saved
        return out

    def get_object(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The stored object, or None."""
        res = self._resource(api_version, kind)
        with self.store.lock:
            obj = self.store.objects.get(self.store.key(res, namespace or "", name))
            return copy.deepcopy(obj)

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Any]:
        """All stored objects of a kind (optionally in one namespace), in key order."""
        with self.store.lock:
            return self.store.items(self._resource(api_version, kind), namespace)

    def set_ready(
        self,
        namespace: str,
        name: str,
        ready: bool = True,
        kind: str = "Deployment",
        api_version: str = "apps/v1",
    ) -> None:
        """Make an object report ready (or not) from now on.

        Deployments and StatefulSets get replica counts and conditions; any other kind (an
        InferenceService, say) gets a ``Ready`` condition in its status.
        """
        res = self._resource(api_version, kind)
        store = self.store
        with store.lock:
            key = store.key(res, namespace, name)
            store.ready[key] = ready
            obj = store.objects.get(key)
            if obj is not None:
                store.update(
                    res,
                    namespace,
                    name,
                    copy.deepcopy(obj),
                    "kube-controller-manager",
                    False,
                    "status",
                )

    def deny(
        self, verb: str, kind: str, namespace: str, name: str, message: str, code: int = 403
    ) -> None:
        """Make ``verb`` (create/update/delete) on one object fail like a webhook denial."""
        full = f'admission webhook "deny.gitops.test" denied the request: {message}'
        self.store.denials[(verb, kind, namespace or "", name)] = (code, full)

    def deny_delete(
        self, kind: str, namespace: str, name: str, message: str, code: int = 403
    ) -> None:
        """Make deleting one object fail like an admission webhook denial."""
        self.deny("delete", kind, namespace, name, message, code)

    # -- faults and the request log --------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        """Queue a fault; the first queued fault that matches a request fires."""
        return self.log.inject(fault)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far, oldest first."""
        return self.log.records()

    def count(self, verb: str | None = None, kind: str | None = None, **match: Any) -> int:
        """How many requests match (``verb="apply"`` counts server-side applies)."""
        return self.log.count(verb, kind, **match)

    def reset_requests(self) -> None:
        """Forget the request log."""
        self.log.reset()

    # -- CRDs and continue tokens ----------------------------------------------------------

    def expire_continue_tokens(self) -> None:
        """Make every outstanding continue token answer 410 Expired (as after compaction)."""
        self.lister.expire()

    def _on_crd(self, crd: dict[str, Any]) -> None:
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            self.registry.add_crd(crd)
            return
        name = crd["metadata"]["name"]
        if self.crd_establish_delay <= 0:
            self._establish(name)
            return
        timer = threading.Timer(self.crd_establish_delay, self._establish, (name,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _establish(self, name: str) -> None:
        store = self.store
        with store.lock:
            key = ("apiextensions.k8s.io", "CustomResourceDefinition", "", name)
            crd = copy.deepcopy(store.objects.get(key))
            if crd is None:
                return
            self.registry.add_crd(crd)
            names = crd.get("spec", {}).get("names", {})
            crd["status"] = {
                "acceptedNames": copy.deepcopy(names),
                "storedVersions": [
                    v["name"] for v in crd.get("spec", {}).get("versions", []) if v.get("storage")
                ],
                "conditions": [
                    {
                        "type": "NamesAccepted",
                        "status": "True",
                        "reason": "NoConflicts",
                        "message": "no conflicts found",
                    },
                    {
                        "type": "Established",
                        "status": "True",
                        "reason": "InitialNamesAccepted",
                        "message": "the initial names have been accepted",
                    },
                ],
            }
            store.revision += 1
            crd["metadata"]["resourceVersion"] = str(store.revision)
            store.put(key, crd, "MODIFIED")
