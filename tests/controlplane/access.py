"""Talking to the test API server as admin: kubeconfigs and plain HTTPS requests."""

from __future__ import annotations

import http.client
import io
import json
import ssl
import threading
import urllib.error
from pathlib import Path
from typing import Any

import yaml

from .pki import Pki


class ApiAccess:
    """Admin access to the API server at ``url`` (mixed into :class:`ControlPlane`)."""

    pki: Pki | None
    api_port: int
    #: The TLS context and the :class:`Pki` it was made from: a start that replaced its PKI
    #: (it lost the race to make the machine's snapshot and took the winner's) needs a new one.
    _ssl_context: tuple[Pki, ssl.SSLContext] | None
    _local: threading.local

    @property
    def url(self) -> str:
        """The API server's address."""
        return f"https://127.0.0.1:{self.api_port}"

    def write_kubeconfig(
        self,
        path: Path,
        context: str = "test",
        server: str | None = None,
    ) -> Path:
        """Write an admin kubeconfig whose ``context`` points at this API server (or ``server``,
        a plain-HTTP proxy in front of it, which authenticates for the client)."""
        assert self.pki is not None
        if server is not None and server.startswith("http://"):
            cluster: dict[str, Any] = {"server": server}
            user: dict[str, Any] = {}
        else:
            cluster = {
                "server": server or self.url,
                "certificate-authority-data": self.pki.b64("ca.crt"),
            }
            user = {
                "client-certificate-data": self.pki.b64("admin.crt"),
                "client-key-data": self.pki.b64("admin.key"),
            }
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": user}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def raw(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        content_type: str = "application/json",
    ) -> bytes:
        """One request to the API server as admin (a keep-alive connection per thread); the
        answer's body. An answer >= 400 raises ``urllib.error.HTTPError`` with its body."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(
                    method,
                    path,
                    body=data,
                    headers={"Content-Type": content_type, "Accept": "application/json"},
                )
                resp = conn.getresponse()
                body: bytes = resp.read()
                break
            except (http.client.HTTPException, OSError):  # a keep-alive the server closed
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        if resp.status >= 400:
            raise urllib.error.HTTPError(
                self.url + path, resp.status, resp.reason, resp.headers, io.BytesIO(body)
            )
        return body

    def _connection(self) -> http.client.HTTPSConnection:
        """This thread's keep-alive connection, new when the port or the PKI changed (the
        snapshot's API server of a first start on a machine is not the one that serves)."""
        context = self._ssl
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        if conn is not None and (conn.port, self._local.context) != (self.api_port, context):
            conn.close()
            conn = None
        if conn is None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.api_port, context=context, timeout=30
            )
            self._local.conn, self._local.context = conn, context
        return conn

    def api(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        """One request to the API server as admin; the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        raw = self.raw(method, path, data, content_type)
        return json.loads(raw) if raw else None

    @property
    def _ssl(self) -> ssl.SSLContext:
        assert self.pki is not None
        if self._ssl_context is None or self._ssl_context[0] is not self.pki:
            self._ssl_context = (self.pki, self.pki.ssl_context())
        return self._ssl_context[1]

    def _api_ok(self, path: str) -> bool:
        try:
            self.raw("GET", path)
        except urllib.error.HTTPError:
            return False
        return True
