"""A fault-injecting, request-recording proxy in front of the real API server.

The one thing the old stand-in server did that a real kube-apiserver will not do on demand is
fail: answer 429 with ``Retry-After``, answer 5xx, be slow, drop the connection, expire a
continue token. This proxy listens on plain HTTP on 127.0.0.1, forwards every request to the
real API server over TLS with the admin client certificate, records what it forwarded
(``RequestRecord``: verb, kind, namespace, name, field manager, dry run, status) and fires the
queued ``Fault`` that matches a request instead of forwarding it. Everything else, every byte
of every answer, comes from the real server.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .log import Fault, RequestLog, RequestRecord

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "host",
    "content-length",
}
# The real server's words for an expired continue token (staging/.../storage/errors.go).
_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You "
    "can start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)


class Kinds:
    """Resource plural -> (kind, namespaced), read from the real server's discovery."""

    def __init__(self, fetch: Any) -> None:
        self._fetch = fetch
        self._by_gv: dict[str, dict[str, tuple[str, bool]]] = {}
        self._lock = threading.Lock()

    def kind(self, group_version: str, plural: str) -> str:
        """The kind served as ``plural`` in ``group_version`` ("" when unknown)."""
        with self._lock:
            table = self._by_gv.get(group_version)
        if table is None or plural not in table:
            path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            try:
                doc = self._fetch(path)
            except (OSError, ValueError):
                return ""
            table = {r["name"]: (r["kind"], r["namespaced"]) for r in doc.get("resources", [])}
            with self._lock:
                self._by_gv[group_version] = table
        return table.get(plural, ("", False))[0]


def parse_record(method: str, target: str, headers: Any, kinds: Kinds) -> RequestRecord:
    """Describe a request as the API server would classify it (verb, kind, name...)."""
    url = urllib.parse.urlsplit(target)
    query = dict(urllib.parse.parse_qsl(url.query))
    parts = [p for p in url.path.split("/") if p]
    group = version = namespace = name = sub = kind = ""
    rest: list[str] = []
    if parts[:1] == ["api"] and len(parts) >= 2:
        version, rest = parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    if rest and rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if rest:
        gv = f"{group}/{version}" if group else version
        kind = kinds.kind(gv, rest[0])
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if rest[0] == "namespaces" and len(rest) >= 2:
            kind, name, namespace = "Namespace", rest[1], ""
    collection = bool(rest) and not name
    verb = {
        "GET": "watch"
        if query.get("watch") in ("true", "1")
        else ("list" if collection else "get"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "deletecollection" if collection else "delete",
    }.get(method, method.lower())
    return RequestRecord(
        method=method,
        path=url.path,
        query=query,
        verb=verb,
        group=group,
        version=version,
        kind=kind,
        namespace=namespace,
        name=name,
        subresource=sub,
        content_type=(headers.get("Content-Type") or "").split(";")[0].strip(),
        field_manager=query.get("fieldManager", ""),
        dry_run=query.get("dryRun") == "All",
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    proxy: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        """The request log is in memory, not on stderr."""

    def do_GET(self) -> None:
        """Forward GET."""
        self._forward()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _send_status(self, code: int, message: str, headers: dict[str, str]) -> None:
        reason = {
            429: "TooManyRequests",
            410: "Expired",
            503: "ServiceUnavailable",
            504: "Timeout",
        }.get(code, "InternalError")
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": code,
            }
        ).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends RST, a real connection reset.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _forward(self) -> None:
        proxy = self.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = parse_record(self.command, self.path, self.headers, proxy.kinds)
        fault = proxy.log.take_fault(record)
        if fault is None and proxy.expire_continue and "continue" in record.query:
            # Tokens issued before the compaction expire; a listing started afresh gets new ones.
            proxy.expire_continue = False
            fault = Fault(status=410, message=_EXPIRED)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.reset:
                proxy.log.add(record)
                self._reset()
                return
            if fault.status:
                record.code = fault.status
                proxy.log.add(record)
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                self._send_status(
                    fault.status, fault.message or f"injected fault: {fault.status}", headers
                )
                return
        upstream = proxy.connection()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            resp = upstream.getresponse()
        except (OSError, http.client.HTTPException):
            proxy.drop_connection()
            raise
        record.code = resp.status
        proxy.log.add(record)
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        if record.verb == "watch":
            # A watch streams events until the server (or the client's timeout) ends it.
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while chunk := resp.read1(65536):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            proxy.drop_connection()
            return
        data = resp.read()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a timeout fault, a reset) is not an error of the proxy."""


class FaultProxy:
    """Plain HTTP on 127.0.0.1 in front of an API server reached over TLS."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        self._host, self._port, self._context = host, port, context
        self.log = RequestLog()
        self.expire_continue = False
        self._local = threading.local()
        self.kinds = Kinds(self._fetch_json)
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        """The proxy's address (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def connection(self) -> http.client.HTTPSConnection:
        """This thread's keep-alive connection to the real API server."""
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                self._host, self._port, context=self._context, timeout=60
            )
            self._local.conn = conn
        return conn

    def drop_connection(self) -> None:
        """Forget this thread's upstream connection (after an error or a watch)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _fetch_json(self, path: str) -> Any:
        conn = http.client.HTTPSConnection(
            self._host, self._port, context=self._context, timeout=30
        )
        try:
            conn.request("GET", path, headers={"Accept": "application/json"})
            resp = conn.getresponse()
            return json.loads(resp.read())
        finally:
            conn.close()
