"""What a test does to the real cluster besides running our code: seed, read, deny, break.

``ClusterUnderTest`` wraps one test's view of the control plane: a ``FaultProxy`` in front of
the real API server (faults and the request log), direct admin access for seeding objects as
another field manager, ValidatingAdmissionPolicies that deny one verb on one object (how a
webhook or policy refuses a request on a real cluster), and a stand-in *controller* that
reports a custom resource Ready (no KServe controller runs here). The API server itself is
never imitated.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .cluster import ControlPlane
from .log import Fault, RequestRecord
from .proxy import FaultProxy

_JSON = "application/json"
_MERGE = "application/merge-patch+json"
_APPLY = "application/apply-patch+yaml"


def _prefix(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


class ClusterUnderTest:
    """One test's handle on the real control plane, through a fault-injecting proxy."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        assert plane.pki is not None
        self.proxy = FaultProxy("127.0.0.1", plane.api_port, plane.pki.ssl_context()).start()
        self._denials: list[str] = []
        self._plurals: dict[tuple[str, str], tuple[str, bool]] = {}
        self._namespaces: set[str] = set()
        self._ready: dict[tuple[str, str, str, str], bool] = {}
        self._ready_lock = threading.Lock()
        self._stop = threading.Event()
        self._controller: threading.Thread | None = None

    def close(self) -> None:
        """Stop the proxy and the stand-in controller."""
        self._stop.set()
        if self._controller is not None:
            self._controller.join(timeout=5)
        self.proxy.stop()

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's address, as clients under test see the cluster."""
        return self.proxy.url

    def write_kubeconfig(self, path: Path | str, context: str = "test") -> Path:
        """A kubeconfig whose ``context`` reaches the cluster through the proxy."""
        return self.plane.write_kubeconfig(Path(path), context=context, server=self.proxy.url)

    # -- resources -------------------------------------------------------------------------

    def plural(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(resource plural, namespaced) of a kind, from the server's discovery."""
        known = self._plurals.get((api_version, kind))
        if known is not None:
            return known
        try:
            doc = self.plane.api("GET", _prefix(api_version))
        except urllib.error.HTTPError as err:
            if err.code == 404:
                raise KeyError(f"{api_version} is not served") from err
            raise
        for res in doc["resources"]:
            if res["kind"] == kind and "/" not in res["name"]:
                self._plurals[(api_version, kind)] = (res["name"], res["namespaced"])
                return res["name"], res["namespaced"]
        raise KeyError(f"{kind} is not served in {api_version}")

    def _path(self, api_version: str, kind: str, namespace: str | None, name: str = "") -> str:
        plural, namespaced = self.plural(api_version, kind)
        path = _prefix(api_version)
        if namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{plural}"
        return f"{path}/{name}" if name else path

    def ensure_namespace(self, name: str) -> None:
        """Create Namespace ``name`` (and its default ServiceAccount) unless it exists."""
        if name in self._namespaces:
            return
        try:
            self.plane.api("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        except urllib.error.HTTPError as err:
            if err.code != 409:
                raise
        try:
            self.plane.api(
                "POST",
                f"/api/v1/namespaces/{name}/serviceaccounts",
                {"metadata": {"name": "default"}},
            )
        except urllib.error.HTTPError as err:
            if err.code != 409:
                raise
        self._namespaces.add(name)

    def seed(
        self, obj: dict[str, Any], manager: str = "seed", operation: str = "Update"
    ) -> dict[str, Any]:
        """Write ``obj`` as field manager ``manager``, bypassing the proxy.

        ``operation="Update"`` creates or replaces the object (the fields that change become
        ``manager``'s, as with ``kubectl edit``); ``"Apply"`` is a forced server-side apply.
        A ``status`` in ``obj`` is written through the status subresource. Returns the object.
        """
        meta = obj.get("metadata") or {}
        _plural, namespaced = self.plural(obj["apiVersion"], obj["kind"])
        namespace = meta.get("namespace", "default") if namespaced else None
        if namespace:
            self.ensure_namespace(namespace)
        item = self._path(obj["apiVersion"], obj["kind"], namespace, meta["name"])
        manager_q = "fieldManager=" + urllib.parse.quote(manager)
        if operation == "Apply":
            stored = self.plane.api("PATCH", f"{item}?{manager_q}&force=true", obj, _APPLY)
        else:
            stored = self._create_or_replace(obj, namespace, item, manager_q)
        if "status" in obj:
            stored = self.plane.api(
                "PATCH", f"{item}/status?{manager_q}", {"status": obj["status"]}, _MERGE
            )
        return dict(stored)

    def _create_or_replace(
        self, obj: dict[str, Any], namespace: str | None, item: str, manager_q: str
    ) -> Any:
        meta = obj["metadata"]
        for _ in range(10):
            current = self.get_object(obj["apiVersion"], obj["kind"], namespace, meta["name"])
            try:
                if current is None:
                    collection = self._path(obj["apiVersion"], obj["kind"], namespace)
                    return self.plane.api("POST", f"{collection}?{manager_q}", obj)
                body = json.loads(json.dumps(obj))
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                return self.plane.api("PUT", f"{item}?{manager_q}", body)
            except urllib.error.HTTPError as err:
                if err.code != 409:  # a controller wrote it between our read and write
                    raise
        raise RuntimeError(f"{item}: kept conflicting")

    def seed_many(self, objs: list[dict[str, Any]], manager: str = "seed") -> None:
        """Create many new objects as ``manager``, eight requests at a time."""
        for obj in objs:
            _, namespaced = self.plural(obj["apiVersion"], obj["kind"])
            if namespaced:
                self.ensure_namespace(obj["metadata"].get("namespace", "default"))

        def create(obj: dict[str, Any]) -> None:
            namespace = obj["metadata"].get("namespace", "default")
            collection = self._path(obj["apiVersion"], obj["kind"], namespace)
            self.plane.api("POST", f"{collection}?fieldManager={urllib.parse.quote(manager)}", obj)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, objs))

    def get_object(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The object as stored, or None."""
        try:
            got: dict[str, Any] = self.plane.api(
                "GET", self._path(api_version, kind, namespace, name)
            )
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise
        return got

    def deleted(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Whether the object is gone or being deleted (a Namespace stays Terminating until
        the namespace controller has emptied it)."""
        obj = self.get_object(api_version, kind, namespace, name)
        return obj is None or "deletionTimestamp" in obj["metadata"]

    def objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Every object of a kind (in one namespace, or all), ordered by namespace and name."""
        items: list[dict[str, Any]] = self.plane.api(
            "GET", self._path(api_version, kind, namespace)
        )["items"]
        for item in items:  # a LIST's items carry no apiVersion/kind; kubectl get adds them
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return sorted(
            items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
        )

    # -- admission denials -----------------------------------------------------------------

    def deny(
        self,
        verb: str,
        kind: str,
        namespace: str,
        name: str,
        message: str,
        api_version: str | None = None,
        reason: str = "Forbidden",
    ) -> None:
        """Make ``verb`` (create/update/delete) on one object fail admission, as a policy
        or webhook refuses it on a real cluster: a ValidatingAdmissionPolicy and binding.

        ``reason`` is the policy's (``Forbidden``: 403, ``Invalid``: 422).
        """
        api_version = api_version or self._api_version_of(kind)
        try:
            plural, _ = self.plural(api_version, kind)
        except KeyError:  # not served yet: a policy may name what a later CRD will serve
            plural = kind.lower() + "s"
        group, _, version = api_version.rpartition("/")
        policy = f"deny-{verb}-{kind.lower()}-{namespace or 'cluster'}-{name}"[:200]
        target = "oldObject" if verb == "delete" else "object"
        self.plane.api(
            "POST",
            "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
            {
                "metadata": {"name": policy},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {
                        "resourceRules": [
                            {
                                "apiGroups": [group],
                                "apiVersions": [version],
                                "resources": [plural],
                                "operations": [verb.upper()],
                            }
                        ]
                    },
                    "matchConditions": [
                        {
                            "name": "this-object",
                            "expression": f"{target}.metadata.name == {json.dumps(name)}"
                            + (
                                f" && {target}.metadata.namespace == {json.dumps(namespace)}"
                                if namespace
                                else ""
                            ),
                        }
                    ],
                    "validations": [{"expression": "false", "message": message, "reason": reason}],
                },
            },
        )
        self.plane.api(
            "POST",
            "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
            {
                "metadata": {"name": policy},
                "spec": {"policyName": policy, "validationActions": ["Deny"]},
            },
        )
        self._denials.append(policy)
        self._wait_policy_in_force(verb, api_version, kind, namespace, name, denied=True)

    def deny_delete(self, kind: str, namespace: str, name: str, message: str) -> None:
        """Make deleting one object fail admission."""
        self.deny("delete", kind, namespace, name, message)

    def clear_denials(self) -> None:
        """Remove every denial this test added and wait until the server stops applying it."""
        for policy in self._denials:
            for res in ("validatingadmissionpolicybindings", "validatingadmissionpolicies"):
                self.plane.api("DELETE", f"/apis/admissionregistration.k8s.io/v1/{res}/{policy}")
        self._denials.clear()
        # The policy informer drops deleted policies within moments; give it that long.
        time.sleep(1.5)

    def _api_version_of(self, kind: str) -> str:
        core = {r["kind"] for r in self.plane.api("GET", "/api/v1")["resources"]}
        if kind in core:
            return "v1"
        for group in self.plane.api("GET", "/apis")["groups"]:
            gv = group["preferredVersion"]["groupVersion"]
            if any(r["kind"] == kind for r in self.plane.api("GET", f"/apis/{gv}")["resources"]):
                return str(gv)
        raise KeyError(f"kind {kind} is not served")

    def _wait_policy_in_force(
        self, verb: str, api_version: str, kind: str, namespace: str, name: str, denied: bool
    ) -> None:
        """Policies reach the admission plugin through an informer: probe with dry runs."""
        if namespace:
            self.ensure_namespace(namespace)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self._probe(verb, api_version, kind, namespace, name) == denied:
                    return
            except KeyError:  # the kind is not served yet: nothing to probe with
                time.sleep(2)  # policies reach the admission plugin well within this
                return
            time.sleep(0.1)
        raise RuntimeError(f"the denial of {verb} {kind} {namespace}/{name} never took effect")

    def _probe(self, verb: str, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Whether a dry-run ``verb`` of the object is refused by admission now."""
        obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
        if namespace:
            obj["metadata"]["namespace"] = namespace
        try:
            if verb == "delete":
                if self.get_object(api_version, kind, namespace, name) is None:
                    return True  # nothing to probe: the denial holds once it exists
                self.plane.api(
                    "DELETE", self._path(api_version, kind, namespace, name) + "?dryRun=All"
                )
            elif verb == "create":
                self.plane.api(
                    "POST", self._path(api_version, kind, namespace) + "?dryRun=All", obj
                )
            else:
                current = self.get_object(api_version, kind, namespace, name)
                if current is None:
                    return True
                self.plane.api(
                    "PUT", self._path(api_version, kind, namespace, name) + "?dryRun=All", current
                )
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            return err.code in (403, 422) and "ValidatingAdmissionPolicy" in body
        return False

    def add_gpu_node(self, name: str, gpus: int) -> None:
        """Add a kwok GPU node (as a cluster autoscaler would); the reset removes it."""
        self.plane.add_node(name, gpus)

    # -- a stand-in controller for kinds without one here ----------------------------------

    def set_ready(
        self,
        namespace: str,
        name: str,
        ready: bool = True,
        kind: str = "Deployment",
        api_version: str = "apps/v1",
    ) -> None:
        """Report a custom resource Ready (or not) from now on, as its controller would.

        Only for kinds whose controller does not run here (an InferenceService, a
        ScaledObject): Deployments and StatefulSets become ready through the real
        controller-manager, scheduler and kwok nodes.
        """
        if kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job"):
            raise ValueError(f"{kind} readiness comes from the real controllers here")
        with self._ready_lock:
            self._ready[(api_version, kind, namespace, name)] = ready
        self._sync_ready()
        if self._controller is None:
            self._controller = threading.Thread(target=self._run_controller, daemon=True)
            self._controller.start()

    def _run_controller(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self._sync_ready()
            except (OSError, urllib.error.URLError, KeyError):
                continue

    def _sync_ready(self) -> None:
        with self._ready_lock:
            wanted = dict(self._ready)
        for (api_version, kind, namespace, name), ready in wanted.items():
            try:
                obj = self.get_object(api_version, kind, namespace, name)
            except KeyError:
                continue  # its CRD is not installed yet
            if obj is None:
                continue
            status = "True" if ready else "False"
            conds = (obj.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == status for c in conds):
                continue
            generation = obj["metadata"].get("generation", 1)
            self.plane.api(
                "PATCH",
                self._path(api_version, kind, namespace, name) + "/status",
                {
                    "status": {
                        "observedGeneration": generation,
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": status,
                                "reason": "StandIn",
                                "lastTransitionTime": time.strftime(
                                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime()
                                ),
                            }
                        ],
                    }
                },
                _MERGE,
            )

    # -- faults and the request log (the proxy) --------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        """Queue a fault; the first queued fault that matches a request fires."""
        return self.proxy.log.inject(fault)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request the proxy saw, oldest first."""
        return self.proxy.log.records()

    def count(self, verb: str | None = None, kind: str | None = None, **match: Any) -> int:
        """How many requests match (``verb="apply"`` counts server-side applies)."""
        return self.proxy.log.count(verb, kind, **match)

    def reset_requests(self) -> None:
        """Forget the request log."""
        self.proxy.log.reset()

    def expire_continue_tokens(self) -> None:
        """Answer the next request carrying a continue token 410 Expired, as the server does
        once etcd has compacted past the revision of the tokens it gave out."""
        self.proxy.expire_continue = True
