"""The live cluster: the only module that imports ``kubernetes``.

Objects travel as raw JSON (``json.loads`` of the response body), never through the
client's model classes: that is several times faster on large LISTs and keeps every field,
including those of custom resources. Discovery is lazy per group-version, LISTs are
paginated with ``limit``/``continue``, server-side apply is a PATCH with
``application/apply-patch+yaml``. 429 answers honour ``Retry-After``; 5xx answers, timeouts
and dropped connections are retried with bounded exponential backoff; every other failure becomes a
:class:`gitops.core.errors.ClusterError` subclass with one clear line.
"""

# Over 400 lines: one class, ClusterClient, the only kubernetes importer (an import-linter
# contract); transport, discovery and object calls share its session and retry policy.
# The cluster/ package of issue 17's move is where the transport gets a module of its own.
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from gitops.cluster.errors import (
    Conflict,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    InvalidError,
    KindNotServedError,
    NotFoundError,
    ServerError,
    UnauthorizedError,
    UnreachableError,
    status_error,
)
from gitops.cluster.types import LIVE_PAGE_SIZE, LiveState, ResourceInfo, RetryPolicy
from gitops.core import redact
from gitops.core.errors import ClusterError
from gitops.core.keys import Manifest, ResourceKey, key_of

log = logging.getLogger(__name__)

__all__ = [
    "LIVE_PAGE_SIZE",
    "ClusterClient",
    "Conflict",
    "ConflictError",
    "ExpiredError",
    "ForbiddenError",
    "InvalidError",
    "KindNotServedError",
    "LiveState",
    "NotFoundError",
    "ResourceInfo",
    "RetryPolicy",
    "ServerError",
    "UnauthorizedError",
    "UnreachableError",
]


_RETRIED_STATUSES = frozenset({500, 502, 503, 504})


def _core_path(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


class ClusterClient:
    """A thin client over the Kubernetes API speaking raw JSON.

    Args:
        api_client: a configured ``kubernetes.client.ApiClient``.
        retry: retry policy for 429/5xx answers.
        timeout: (connect, read) timeout of each request in seconds.
        where: name of the cluster/context for messages.
    """

    def __init__(
        self,
        api_client: Any,
        *,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 60.0),
        where: str = "cluster",
    ) -> None:
        self._api = api_client
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._where = where
        self._resources: dict[tuple[str, str], dict[str, ResourceInfo] | None] = {}
        #: Number of HTTP requests sent (retries included).
        self.requests_made = 0

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        context: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 60.0),
    ) -> ClusterClient:
        """Connect with a kubeconfig (None: ``$KUBECONFIG``/``~/.kube/config``, else in-cluster).

        Raises:
            ClusterError: no usable configuration, or the context does not exist.
        """
        # kubernetes.config reads $KUBECONFIG once, when imported; read it now instead, so
        # the context checked against an environment is the one a command will use.
        explicit = path is not None or context is not None
        path = path or os.environ.get("KUBECONFIG") or None
        configuration = k8s_client.Configuration()
        try:
            # kubernetes.config has no annotations.
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=configuration
            )
            where = f"context {context!r}" if context else f"kubeconfig {path or 'default'}"
        except (ConfigException, OSError) as err:
            if explicit:
                raise ClusterError(
                    f"kubeconfig {path or 'default'}: cannot load context "
                    f"{context or '(current)'}: {err}"
                ) from err
            try:
                k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            except ConfigException as in_cluster_err:
                raise ClusterError(
                    "no kubeconfig found and not running in a cluster; "
                    "pass --kubeconfig or set KUBECONFIG"
                ) from in_cluster_err
            where = "in-cluster config"
        # Retries are ours (bounded, honouring Retry-After); urllib3 must not add its own.
        configuration.retries = 0
        return cls(k8s_client.ApiClient(configuration), retry=retry, timeout=timeout, where=where)

    @property
    def server(self) -> str:
        """The API server URL every request goes to, as configured (no request is made)."""
        return str(self._api.configuration.host)

    @property
    def where(self) -> str:
        """The kubeconfig context (or configuration) the client was made from, for messages."""
        return self._where

    # -- transport ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        """Send one request (with retries) and return the decoded JSON body.

        Raises:
            ClusterError: a subclass naming the request and what the server answered.
        """
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        # The client encodes bodies of JSON content types itself: encoding them here too
        # sent DeleteOptions as a JSON string, which a real API server refuses (400).
        json_body = bool(content_type) and "json" in str(content_type).lower()
        payload = body if json_body or body is None else json.dumps(body)
        what = f"{method} {path}"
        attempt = 0
        while True:
            sent = self._send(method, path, query, headers, payload, attempt)
            if sent is None:  # a transient transport failure, already waited for
                attempt += 1
                continue
            status, data, response = sent
            if 200 <= status < 300:
                try:
                    return json.loads(data) if data else None
                except ValueError as err:
                    raise ClusterError(
                        f"{self._where}: {what}: answered {status} with a body that is not JSON"
                    ) from err
            delay = self._retry_delay(status, response, attempt)
            if delay is None:
                raise status_error(status, data, f"{self._where}: {what}")
            log.debug("%s answered %s; retrying in %.2fs", what, status, delay)
            self._retry.sleep(delay)
            attempt += 1

    def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None,
        headers: dict[str, str],
        payload: Any,
        attempt: int,
    ) -> tuple[int, bytes, Any] | None:
        """One attempt: ``(status, body, response)``, or None after a transient failure's pause.

        Raises:
            UnreachableError: the server cannot be reached, and retrying is over or useless.
        """
        what = f"{method} {path}"
        self.requests_made += 1
        try:
            serialized = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                body=payload,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(*serialized, _request_timeout=self._timeout)
            return int(response.status), response.read(), response
        except ApiException as err:  # TLS failures arrive as status 0
            raise UnreachableError(f"{self._where}: {what}: unreachable: {_reason(err)}") from err
        except urllib3.exceptions.HTTPError as err:
            if _transient(err) and attempt + 1 < self._retry.attempts:
                # Every request here is idempotent (GET, apply, delete): send it again.
                pause = self._retry.backoff(attempt)
                log.debug("%s: %s; retrying in %.2fs", what, _reason(err), pause)
                self._retry.sleep(pause)
                return None
            raise UnreachableError(f"{self._where}: {what}: unreachable: {_reason(err)}") from err

    def _retry_delay(self, status: int, response: Any, attempt: int) -> float | None:
        if attempt + 1 >= self._retry.attempts:
            return None
        if status == 429:
            header = response.headers.get("Retry-After") if response.headers else None
            try:
                wait = float(header) if header is not None else self._retry.backoff(attempt)
            except ValueError:
                wait = self._retry.backoff(attempt)
            return max(0.0, min(wait, self._retry.max_retry_after))
        if status in _RETRIED_STATUSES:
            return self._retry.backoff(attempt)
        return None

    # -- discovery ---------------------------------------------------------------------

    def _group_version(self, group: str, version: str) -> dict[str, ResourceInfo] | None:
        cache_key = (group, version)
        if cache_key not in self._resources:
            try:
                listing = self.request("GET", _core_path(group, version))
            except NotFoundError:
                self._resources[cache_key] = None
            except ServerError as err:
                # An aggregated API that is down (503) serves nothing now; the rest still does.
                log.warning("%s; its kinds are treated as not served", err)
                self._resources[cache_key] = None
            else:
                kinds: dict[str, ResourceInfo] = {}
                for resource in listing.get("resources") or []:
                    name = resource.get("name", "")
                    if "/" in name:  # subresources (status, scale) are not kinds
                        continue
                    kinds[resource["kind"]] = ResourceInfo(
                        plural=name,
                        namespaced=bool(resource.get("namespaced")),
                        verbs=tuple(resource.get("verbs") or ()),
                    )
                self._resources[cache_key] = kinds
        return self._resources[cache_key]

    def forget_discovery(self) -> None:
        """Drop cached discovery (after installing CRDs, so their kinds become served)."""
        self._resources.clear()

    def resource_info(self, group: str, version: str, kind: str) -> ResourceInfo:
        """How ``group/version`` ``kind`` is served (one discovery request per group-version).

        Raises:
            KindNotServedError: the cluster does not serve it.
        """
        kinds = self._group_version(group, version)
        info = kinds.get(kind) if kinds is not None else None
        if info is None:
            api_version = f"{group}/{version}" if group else version
            raise KindNotServedError(f"{self._where}: kind {kind} ({api_version}) is not served")
        return info

    def is_served(self, group: str, version: str, kind: str) -> bool:
        """Whether the cluster serves ``group/version`` ``kind``."""
        kinds = self._group_version(group, version)
        return kinds is not None and kind in kinds

    def discover(self) -> dict[tuple[str, str, str], ResourceInfo]:
        """Every served kind, keyed by ``(group, version, kind)``."""
        versions = [("", v) for v in self.request("GET", "/api").get("versions", [])]
        for group in self.request("GET", "/apis").get("groups", []):
            versions.extend((group["name"], v["version"]) for v in group.get("versions", []))
        served: dict[tuple[str, str, str], ResourceInfo] = {}
        for group_name, version in versions:
            for kind, info in (self._group_version(group_name, version) or {}).items():
                served[(group_name, version, kind)] = info
        return served

    # -- objects -----------------------------------------------------------------------

    def _path(self, key: ResourceKey, info: ResourceInfo, with_name: bool = True) -> str:
        base = _core_path(key.group, key.version)
        if info.namespaced:
            base += f"/namespaces/{quote(key.namespace or 'default', safe='')}"
        base += f"/{info.plural}"
        return f"{base}/{quote(key.name, safe='')}" if with_name else base

    def list_objects(
        self,
        group: str,
        version: str,
        kind: str,
        label_selector: str | None = None,
        page_size: int = 500,
        namespace: str | None = None,
    ) -> list[Manifest]:
        """Every object of a kind (all namespaces unless ``namespace``), page by page.

        Raises:
            KindNotServedError: the kind is not served.
            ClusterError: the LIST failed.
        """
        info = self.resource_info(group, version, kind)
        path = _core_path(group, version)
        if namespace and info.namespaced:
            path += f"/namespaces/{quote(namespace, safe='')}"
        path += f"/{info.plural}"
        api_version = f"{group}/{version}" if group else version
        objects: list[Manifest] = []
        token = ""
        restarted = False
        while True:
            query = [("limit", str(page_size))]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            try:
                page = self.request("GET", path, query)
            except ExpiredError:
                # The snapshot was compacted mid-listing: start over once, consistently.
                if restarted or not token:
                    raise
                restarted, token, objects = True, "", []
                continue
            for item in page.get("items") or []:
                # LIST items carry no apiVersion/kind; restore them so they are manifests.
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                objects.append(item)
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return objects

    def read_live(
        self,
        kinds: Mapping[tuple[str, str, str], str | None],
        page_size: int = LIVE_PAGE_SIZE,
    ) -> LiveState:
        """List every kind once (paginated), each with its label selector (None: all).

        A kind the cluster does not serve is recorded in ``not_served``, not raised.
        """
        state = LiveState()
        for (group, version, kind), selector in sorted(kinds.items()):
            if not self.is_served(group, version, kind):
                state.not_served.add((group, version, kind))
                continue
            state.namespaced[(group, kind)] = self.resource_info(group, version, kind).namespaced
            state.objects.extend(self.list_objects(group, version, kind, selector, page_size))
        return state

    def get(self, key: ResourceKey) -> Manifest | None:
        """The live object, or None when it does not exist."""
        info = self.resource_info(key.group, key.version, key.kind)
        try:
            obj: Manifest = self.request("GET", self._path(key, info))
        except NotFoundError:
            return None
        return obj

    def apply(
        self,
        obj: Manifest,
        field_manager: str = "gitops",
        force: bool = False,
        dry_run: bool = False,
    ) -> Manifest:
        """Server-side apply ``obj`` and return the object the server stored (or would).

        Raises:
            ConflictError: other managers own fields ``obj`` sets (``force`` takes them).
            ClusterError: any other refusal.
        """
        key = key_of(obj)
        info = self.resource_info(key.group, key.version, key.kind)
        query = [("fieldManager", field_manager)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        try:
            result: Manifest = self.request(
                "PATCH", self._path(key, info), query, obj, "application/apply-patch+yaml"
            )
        except ClusterError as err:
            # A webhook or validation message may quote what it refused: never a Secret value.
            err.args = tuple(redact.scrub_text(str(a), obj) for a in err.args)
            raise
        return result

    def delete(
        self, key: ResourceKey, dry_run: bool = False, propagation: str = "Background"
    ) -> None:
        """Delete the object; a missing object is not an error.

        Args:
            key: the object.
            dry_run: ask the server to check the deletion only (``dryRun=All``).
            propagation: ``Background`` (as kubectl), ``Foreground`` or ``Orphan``.
        """
        info = self.resource_info(key.group, key.version, key.kind)
        query = [("dryRun", "All")] if dry_run else []
        body: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if dry_run:
            # The API server reads a DELETE's options from its body when it has one, and then
            # ignores the query: without dryRun here a dry-run prune deleted for real.
            body["dryRun"] = ["All"]
        try:
            self.request("DELETE", self._path(key, info), query, body, "application/json")
        except NotFoundError:
            return


def _transient(err: urllib3.exceptions.HTTPError) -> bool:
    """A timeout or a dropped connection (worth retrying), not a refused or unknown host."""
    reason = getattr(err, "reason", None) or err
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # refused, no such host
        return False
    return isinstance(reason, (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError))


def _reason(err: BaseException) -> str:
    if isinstance(err, ApiException):
        return str(err.reason or "connection failed").splitlines()[0]
    reason = getattr(err, "reason", None) or err
    text = str(reason).splitlines()[0] if str(reason) else type(err).__name__
    return text if "timed out" not in text.lower() else f"timed out ({text})"
