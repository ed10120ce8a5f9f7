"""A real Kubernetes control plane on loopback, for the tests.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (simulating GPU nodes)
run as child processes from binaries built by ``build.sh``. The API server authenticates a
client certificate of a generated CA (user ``admin`` in ``system:masters``), authorizes with
RBAC and runs its default admission chain, ValidatingAdmissionPolicy included, as any cluster
does. ``reset()`` returns the cluster to the state it had after start-up by deleting, in etcd,
every key written since: the API server's watch cache follows etcd, so the next test starts
from a clean cluster in milliseconds instead of waiting for namespace finalization.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

#: Capacity of each simulated GPU node (kwok marks it Ready and runs the pods bound to it).
GPU_NODE_CAPACITY = {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": "8"}
GPU_NODES = ("gpu-node-0", "gpu-node-1")
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


class ControlPlaneUnavailable(RuntimeError):
    """The control plane cannot run on this machine (no Go, a failed build); says why."""


def build_binaries() -> Path:
    """The folder of control-plane binaries: ``$GITOPS_CONTROLPLANE_BIN``, else ``build.sh``."""
    given = os.environ.get("GITOPS_CONTROLPLANE_BIN")
    if given:
        return Path(given)
    if shutil.which("go") is None:
        raise ControlPlaneUnavailable(
            "Go is not installed, so the real control plane (kube-apiserver, etcd) cannot be "
            "built; install Go >= 1.26 or set GITOPS_TEST_KUBECONFIG to an existing cluster"
        )
    done = subprocess.run(
        ["bash", str(HERE / "build.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise ControlPlaneUnavailable(f"building the control plane failed:\n{tail}")
    return Path(done.stdout.strip().splitlines()[-1])


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, however it dies (no orphans)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
#: Deletes per etcd transaction when resetting the cluster (etcd's --max-txn-ops).
_TXN_OPS = 1000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@dataclass
class Pki:
    """A CA, the API server's serving certificate, an admin client certificate, SA keys."""

    folder: Path

    def create(self) -> Pki:
        """Generate every key and certificate into ``folder``."""
        f = self.folder
        f.mkdir(parents=True, exist_ok=True)
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=gitops-test-ca",
            "-keyout",
            str(f / "ca.key"),
            "-out",
            str(f / "ca.crt"),
        )
        (f / "server.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n"
            "extendedKeyUsage=serverAuth\n"
        )
        (f / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
        for name, subject, ext in (
            ("server", "/CN=kube-apiserver", "server.ext"),
            ("admin", "/O=system:masters/CN=admin", "client.ext"),
        ):
            _openssl(
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                str(f / f"{name}.key"),
                "-out",
                str(f / f"{name}.csr"),
            )
            _openssl(
                "x509",
                "-req",
                "-in",
                str(f / f"{name}.csr"),
                "-CA",
                str(f / "ca.crt"),
                "-CAkey",
                str(f / "ca.key"),
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                str(f / ext),
                "-out",
                str(f / f"{name}.crt"),
            )
        _openssl("genrsa", "-out", str(f / "sa.key"), "2048")
        _openssl("rsa", "-in", str(f / "sa.key"), "-pubout", "-out", str(f / "sa.pub"))
        return self

    def ssl_context(self) -> ssl.SSLContext:
        """An SSL context trusting the CA and presenting the admin certificate."""
        ctx = ssl.create_default_context(cafile=str(self.folder / "ca.crt"))
        ctx.load_cert_chain(str(self.folder / "admin.crt"), str(self.folder / "admin.key"))
        return ctx

    def b64(self, name: str) -> str:
        """A file of the PKI, base64-encoded as kubeconfigs embed it."""
        return base64.b64encode((self.folder / name).read_bytes()).decode()


@dataclass
class ControlPlane:
    """etcd + kube-apiserver (+ controller-manager, scheduler, kwok GPU nodes) on loopback."""

    binaries: Path
    workdir: Path
    crd_files: Iterable[Path] = ()
    etcd_port: int = 0
    api_port: int = 0
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _baseline: set[bytes] = field(default_factory=set)
    pki: Pki | None = None
    _ssl_context: ssl.SSLContext | None = None
    _local: threading.local = field(default_factory=threading.local)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start every component, install the CRDs, wait until all is ready.

        The API server takes minutes on a busy machine to take in the large CRDs (KServe,
        Argo CD, Kyverno: megabytes of schema each). The first start on a machine keeps etcd's
        data with the CRDs installed (and the PKI it was made with) as a snapshot beside the
        binaries, keyed by the binaries and the CRD files; later starts begin from a copy.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            snapshot = self._snapshot_dir()
            if not (snapshot / "etcd").is_dir():
                self._make_snapshot(snapshot)
            shutil.copytree(snapshot / "etcd", self.workdir / "etcd")
            shutil.copytree(snapshot / "pki", self.workdir / "pki")
            self.pki = Pki(self.workdir / "pki")
            self._start_etcd()
            self._start_apiserver()
            self.write_kubeconfig(self.kubeconfig_path)
            self._wait_established(self._crd_names())
            self._start_controllers()
            self._add_gpu_nodes()
            self._wait_for_default_service_account()
            self._baseline = set(self._etcd_keys())
        except BaseException:
            self.stop()
            raise
        return self

    def _snapshot_dir(self) -> Path:
        digest = hashlib.sha256(str(self.binaries.resolve()).encode())
        for path in sorted(self.crd_files):
            digest.update(path.read_bytes())
        return self.binaries.parent / "snapshots" / digest.hexdigest()[:16]

    def _make_snapshot(self, snapshot: Path) -> None:
        """Start etcd and the API server on a fresh store, install the StorageClass and CRDs,
        stop, and keep the store and the PKI as ``snapshot`` (atomically)."""
        build = self.workdir / "snapshot-build"
        self.pki = Pki(build / "pki").create()
        data = self.workdir / "etcd"
        self._start_etcd()
        self._start_apiserver()
        self._add_default_storage_class()
        self._wait_established(self._install_crds())
        self.stop()
        shutil.move(str(data), build / "etcd")
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        try:
            build.rename(snapshot)
        except OSError:  # another run made it meanwhile: use theirs
            shutil.rmtree(build)

    def stop(self) -> None:
        """Stop every component (controllers first, etcd last)."""
        for name in reversed(list(self._procs)):
            proc = self._procs.pop(name)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    @property
    def kubeconfig_path(self) -> Path:
        """The admin kubeconfig (context ``test``)."""
        return self.workdir / "kubeconfig"

    @property
    def url(self) -> str:
        """The API server's address."""
        return f"https://127.0.0.1:{self.api_port}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [str(self.binaries / args[0]), *args[1:]],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._procs[name] = proc
        return proc

    def _check_alive(self, name: str) -> None:
        proc = self._procs[name]
        if proc.poll() is not None:
            tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def _start_etcd(self) -> None:
        self.etcd_port, peer = free_port(), free_port()
        client, peer_url = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{peer}"
        self._spawn(
            "etcd",
            [
                "etcd",
                "--name=test",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=test={peer_url}",
                "--unsafe-no-fsync",
                f"--max-txn-ops={_TXN_OPS}",
                "--log-level=warn",
            ],
        )
        self._wait("etcd", lambda: self._etcd("/health").get("health") == "true")

    def _start_apiserver(self) -> None:
        assert self.pki is not None
        p = self.pki.folder
        self.api_port = free_port()
        self._spawn(
            "kube-apiserver",
            [
                "kube-apiserver",
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                f"--tls-cert-file={p / 'server.crt'}",
                f"--tls-private-key-file={p / 'server.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--endpoint-reconciler-type=none",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
            ],
        )
        self._wait("kube-apiserver", lambda: self._api_ok("/readyz"), timeout=600)

    def _start_controllers(self) -> None:
        assert self.pki is not None
        p = self.pki.folder
        kubeconfig = f"--kubeconfig={self.kubeconfig_path}"
        self._spawn(
            "kube-controller-manager",
            [
                "kube-controller-manager",
                kubeconfig,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                "--use-service-account-credentials=false",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                "kube-scheduler",
                kubeconfig,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
            ],
        )
        self._spawn(
            "kwok",
            [
                "kwok",
                kubeconfig,
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
                *(f"--config={f}" for f in sorted((self.binaries / "kwok-stages").glob("*.yaml"))),
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.0/16",
                "--node-ip=10.0.0.1",
            ],
        )

    def add_node(self, name: str, gpus: int = 8) -> None:
        """Register a kwok-managed GPU node and wait until kwok reports it Ready."""
        capacity = {**GPU_NODE_CAPACITY, "nvidia.com/gpu": str(gpus)}
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                    "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                    "nvidia.com/gpu.present": "true",
                },
            },
            "status": {"capacity": capacity, "allocatable": capacity},
        }
        self.api("POST", "/api/v1/nodes", node)

        def ready() -> bool:
            got = self.api("GET", f"/api/v1/nodes/{name}")
            conds = (got.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

        self._wait("kwok", ready, timeout=60)

    def _add_gpu_nodes(self) -> None:
        for name in GPU_NODES:
            self.add_node(name)

    def _add_default_storage_class(self) -> None:
        """kwok's StorageClass, the default: PVCs bind to volumes kwok provisions."""
        storage_class = yaml.safe_load((self.binaries / "kwok-storageclass.yaml").read_text())
        self.api("POST", "/apis/storage.k8s.io/v1/storageclasses", storage_class)

    def _crd_names(self) -> list[str]:
        return [doc["metadata"]["name"] for doc in self._crds()]

    def _crds(self) -> list[dict[str, Any]]:
        return [
            doc
            for path in sorted(self.crd_files)
            for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("kind") == "CustomResourceDefinition"
        ]

    def _install_crds(self) -> list[str]:
        for doc in self._crds():
            try:
                self.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", doc)
            except urllib.error.HTTPError as err:
                if err.code != 409:  # a retried POST the server had already taken
                    raise
        return self._crd_names()

    def _wait_established(self, names: list[str]) -> None:
        def established() -> bool:
            for name in names:
                crd = self.api(
                    "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
                )
                conds = (crd.get("status") or {}).get("conditions") or []
                if not any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                    return False
            return True

        self._wait("kube-apiserver", established, timeout=600)

    def _wait_for_default_service_account(self) -> None:
        self._wait(
            "kube-controller-manager",
            lambda: self._api_ok("/api/v1/namespaces/default/serviceaccounts/default"),
            timeout=60,
        )

    def _wait(self, name: str, ok: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(name)
            try:
                if ok():
                    return
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} not ready after {timeout:.0f} s:\n{tail}")
            time.sleep(0.1)

    # -- access ----------------------------------------------------------------------------

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
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.api_port, context=self._ssl, timeout=30
            )
            self._local.conn = conn
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
        if self._ssl_context is None:
            self._ssl_context = self.pki.ssl_context()
        return self._ssl_context

    def _api_ok(self, path: str) -> bool:
        try:
            self.raw("GET", path)
        except urllib.error.HTTPError:
            return False
        return True

    # -- etcd (reset between tests) --------------------------------------------------------

    def _etcd(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.etcd_port}{path}"
        if body is None:
            with urllib.request.urlopen(url, timeout=10) as resp:
                out: dict[str, Any] = json.loads(resp.read())
                return out
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            out = json.loads(resp.read())
            return out

    def _etcd_keys(self) -> list[bytes]:
        start = base64.b64encode(b"/registry/").decode()
        end = base64.b64encode(b"/registry0").decode()
        got = self._etcd("/v3/kv/range", {"key": start, "range_end": end, "keys_only": True})
        return [base64.b64decode(kv["key"]) for kv in got.get("kvs", [])]

    def reset(self) -> None:
        """Delete every object created since start-up (directly in etcd, in batches)."""
        extra = [k for k in self._etcd_keys() if k not in self._baseline]
        for start in range(0, len(extra), _TXN_OPS):
            ops = [
                {"requestDeleteRange": {"key": base64.b64encode(key).decode()}}
                for key in extra[start : start + _TXN_OPS]
            ]
            self._etcd("/v3/kv/txn", {"success": ops})
