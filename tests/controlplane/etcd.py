"""etcd as the tests use it: health, the keys under ``/registry/``, and reset.

Resetting the cluster between tests deletes, directly in etcd, every key written since a
mark (the end of start-up): the API server's watch cache follows etcd, so the next test
starts from a clean cluster in milliseconds instead of waiting for namespace finalization.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

#: Deletes per etcd transaction when resetting the cluster (etcd's --max-txn-ops).
TXN_OPS = 1000


@dataclass
class EtcdStore:
    """etcd's v3 JSON gateway on ``127.0.0.1:port``."""

    port: int = 0
    baseline: set[bytes] = field(default_factory=set)

    def request(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` (no body) or POST ``body`` to it; the decoded answer."""
        url = f"http://127.0.0.1:{self.port}{path}"
        if body is None:
            with urllib.request.urlopen(url, timeout=10) as resp:
                out: dict[str, Any] = json.loads(resp.read())
                return out
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            out = json.loads(resp.read())
            return out

    def healthy(self) -> bool:
        """Whether etcd answers its health check."""
        return self.request("/health").get("health") == "true"

    def keys(self) -> list[bytes]:
        """Every key the API server stores (under ``/registry/``)."""
        start = base64.b64encode(b"/registry/").decode()
        end = base64.b64encode(b"/registry0").decode()
        got = self.request("/v3/kv/range", {"key": start, "range_end": end, "keys_only": True})
        return [base64.b64decode(kv["key"]) for kv in got.get("kvs", [])]

    def mark(self) -> None:
        """Remember the keys stored now: :meth:`reset` returns to them."""
        self.baseline = set(self.keys())

    def reset(self) -> None:
        """Delete every key written since :meth:`mark` (in batches of :data:`TXN_OPS`)."""
        extra = [k for k in self.keys() if k not in self.baseline]
        for start in range(0, len(extra), TXN_OPS):
            ops = [
                {"requestDeleteRange": {"key": base64.b64encode(key).decode()}}
                for key in extra[start : start + TXN_OPS]
            ]
            self.request("/v3/kv/txn", {"success": ops})
