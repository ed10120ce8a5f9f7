"""HTTP routing of the test API server: URL parsing, verbs, LIST pagination, wire encoding."""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import yaml

from .errors import ApiError
from .listing import matcher, select
from .log import RequestRecord
from .patch import (
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from .resources import Resource
from .scale import scaled, to_scale
from .watch import stream

if TYPE_CHECKING:
    from .server import ApiServer

_PATCHERS = {
    "application/merge-patch+json": merge_patch,
    "application/strategic-merge-patch+json": strategic_merge_patch,
    "application/json-patch+json": json_patch,
}


class Route:
    """A parsed resource URL."""

    def __init__(self, res: Resource, namespace: str, name: str, subresource: str) -> None:
        self.res, self.namespace, self.name, self.subresource = res, namespace, name, subresource


def parse_route(api: ApiServer, path: str) -> Route | dict[str, Any] | None:
    """A resource route, a discovery document, or None (404) for ``path``."""
    parts = [p for p in path.split("/") if p]
    if parts == ["version"]:
        return api.version_info()
    if parts == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if parts == ["apis"]:
        return api.registry.api_group_list()
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    elif parts[:1] == ["apis"] and len(parts) == 2:
        versions = api.registry.groups().get(parts[1])
        if versions is None:
            return None
        entries = [{"groupVersion": f"{parts[1]}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": parts[1],
            "versions": entries,
            "preferredVersion": entries[0],
        }
    else:
        return None
    if not rest:
        return api.registry.api_resource_list(group, version)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    res = api.registry.by_plural(group, version, rest[0])
    if res is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    allowed = {"status"} if res.status else set()
    allowed |= {"scale"} if res.scale else set()
    if subresource and subresource not in allowed:
        return None
    return Route(res, namespace, name, subresource)


class Handler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection; answers like kube-apiserver for the routes it knows."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends; with Nagle's algorithm each keep-alive answer
    # waits ~40 ms for the client's delayed ACK. kube-apiserver (Go) sets TCP_NODELAY too.
    disable_nagle_algorithm = True
    api: ApiServer  # set on the subclass the server builds

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (the request log is in memory)."""

    def do_GET(self) -> None:
        """Serve GET."""
        self._serve()

    def do_POST(self) -> None:
        """Serve POST."""
        self._serve()

    def do_PUT(self) -> None:
        """Serve PUT."""
        self._serve()

    def do_PATCH(self) -> None:
        """Serve PATCH."""
        self._serve()

    def do_DELETE(self) -> None:
        """Serve DELETE."""
        self._serve()

    # -- plumbing --------------------------------------------------------------------------

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST: a real connection reset.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        raw = self._read_body()
        route = parse_route(self.api, url.path)
        record = self._record(url.path, query, route)
        fault = self.api.log.take_fault(record)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.reset:
                record.code = 0
                self._reset()
                return
            if fault.status:
                record.code = fault.status
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                reason = _REASONS.get(fault.status, "InternalError")
                message = fault.message or f"injected fault: {reason}"
                self._send(fault.status, ApiError(fault.status, reason, message).status(), headers)
                return
        authorization = self.headers.get("Authorization")
        if self.api.token is not None and authorization != f"Bearer {self.api.token}":
            record.code = 401
            self._send(401, ApiError(401, "Unauthorized", "Unauthorized").status())
            return
        if record.verb == "watch" and isinstance(route, Route):
            self._watch(route, query, record)
            return
        try:
            code, body = self._dispatch(route, query, raw, record)
        except ApiError as err:
            code, body = err.code, err.status()
        except PatchError as err:
            code, body = 400, ApiError(400, "BadRequest", str(err)).status()
        record.code = code
        self._send(code, body)

    def _dispatch(
        self,
        route: Route | dict[str, Any] | None,
        query: dict[str, str],
        raw: bytes,
        record: RequestRecord,
    ) -> tuple[int, Any]:
        if route is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if isinstance(route, dict):
            if self.command != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            return 200, route
        store, res = self.api.store, route.res
        dry_run = query.get("dryRun") == "All"
        manager = query.get("fieldManager") or self._default_manager()
        body: Any = None
        if raw:
            try:
                ctype = record.content_type
                body = yaml.safe_load(raw) if ctype.endswith("yaml") else json.loads(raw)
            except (ValueError, yaml.YAMLError) as err:
                raise ApiError(400, "BadRequest", f"unable to decode request body: {err}") from err
        with store.lock:
            if route.subresource == "scale":
                return self._scale(route, record, body, manager, query, dry_run)
            if record.verb == "list":
                return 200, self.api.lister.page(res, route.namespace or None, query)
            if record.verb == "get":
                return 200, store.get(res, route.namespace, route.name)
            if record.verb == "create":
                return 201 if not dry_run else 200, store.create(
                    res, route.namespace, _object(body), manager, dry_run
                )
            if record.verb == "update":
                return 200, store.update(
                    res,
                    route.namespace,
                    route.name,
                    _object(body),
                    manager,
                    dry_run,
                    route.subresource,
                )
            if record.verb == "patch" and record.is_apply:
                existed = store.objects.get(store.key(res, route.namespace, route.name))
                obj = store.apply(
                    res,
                    route.namespace,
                    route.name,
                    _object(body),
                    query.get("fieldManager", ""),
                    force=query.get("force") == "true",
                    dry_run=dry_run,
                    subresource=route.subresource,
                )
                return (201 if existed is None and not dry_run else 200), obj
            if record.verb == "patch":
                patcher = _PATCHERS.get(record.content_type)
                if patcher is None:
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        f"the body of the request was in an unknown format: {record.content_type}",
                    )
                current = store.get(res, route.namespace, route.name)
                patched = patcher(current, body)
                return 200, store.update(
                    res,
                    route.namespace,
                    route.name,
                    _object(patched),
                    manager,
                    dry_run,
                    route.subresource,
                )
            if record.verb == "delete":
                return 200, store.delete(res, route.namespace, route.name, dry_run)
            if record.verb == "deletecollection":
                for obj in select(store.items(res, route.namespace or None), query):
                    meta = obj["metadata"]
                    store.delete(res, meta.get("namespace", ""), meta["name"], dry_run)
                return 200, {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                }
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")

    def _watch(self, route: Route, query: dict[str, str], record: RequestRecord) -> None:
        """Stream watch events in chunked encoding; the connection closes at the end."""
        try:
            matches = matcher(query)
        except ApiError as err:
            record.code = err.code
            self._send(err.code, err.status())
            return
        record.code = 200
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def write(data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            stream(self.api.store, route, query, matches, write)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped watching

    def _scale(
        self,
        route: Route,
        record: RequestRecord,
        body: Any,
        manager: str,
        query: dict[str, str],
        dry_run: bool,
    ) -> tuple[int, Any]:
        """GET/PUT/PATCH (apply included) on ``/scale``; writes go to ``spec.replicas``."""
        store, res = self.api.store, route.res
        current = store.get(res, route.namespace, route.name)
        if record.verb == "get":
            return 200, to_scale(current)
        if record.verb == "patch" and record.is_apply:
            replicas = (_object(body).get("spec") or {}).get("replicas")
            config = {"apiVersion": res.api_version, "kind": res.kind,
                      "metadata": {"name": route.name}, "spec": {"replicas": replicas}}  # fmt: skip
            out = store.apply(
                res, route.namespace, route.name, config, query.get("fieldManager", ""),
                force=query.get("force") == "true", dry_run=dry_run, subresource="scale",
            )  # fmt: skip
            return 200, to_scale(out)
        if record.verb == "patch":
            patcher = _PATCHERS.get(record.content_type)
            if patcher is None:
                raise ApiError(415, "UnsupportedMediaType", "unknown patch format")
            body = patcher(to_scale(current), body)
        elif record.verb != "update":
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
        new = scaled(current, _object(body))
        out = store.update(res, route.namespace, route.name, new, manager, dry_run, "scale")
        return 200, to_scale(out)

    def _record(self, path: str, query: dict[str, str], route: Any) -> RequestRecord:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        rec = RequestRecord(self.command, path, query, classify(self.command, route, query, ctype))
        rec.content_type = ctype
        rec.field_manager = query.get("fieldManager", "")
        rec.dry_run = query.get("dryRun") == "All"
        if isinstance(route, Route):
            rec.group, rec.version, rec.kind = route.res.group, route.res.version, route.res.kind
            rec.namespace, rec.name = route.namespace, route.name
            rec.subresource = route.subresource
        self.api.log.add(rec)
        return rec

    def _default_manager(self) -> str:
        # The real server names an unnamed manager after the user agent's first segment.
        agent = self.headers.get("User-Agent") or "unknown"
        return agent.split("/", 1)[0]


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    return body


_VERB_BY_METHOD = {"POST": "create", "PUT": "update", "DELETE": "delete"}


def classify(
    method: str, route: Route | dict[str, Any] | None, query: dict[str, str], content_type: str
) -> str:
    """The Kubernetes verb of a request (``list``, ``get``, ``apply``, ``discovery``, ...)."""
    if not isinstance(route, Route):
        return "discovery" if isinstance(route, dict) else "unknown"
    if method == "GET":
        if not route.name:
            return "watch" if query.get("watch") in ("1", "true") else "list"
        return "get"
    if method == "PATCH":
        return "patch"
    if method == "DELETE" and not route.name:
        return "deletecollection"
    return _VERB_BY_METHOD.get(method, "unknown")
