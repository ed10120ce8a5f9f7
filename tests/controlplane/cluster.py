"""A real Kubernetes control plane on loopback, for the tests.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (simulating GPU nodes)
run as child processes (:mod:`.processes`) from binaries built by ``build.sh``. The API server
authenticates a client certificate of a generated CA (:mod:`.pki`; user ``admin`` in
``system:masters``), authorizes with RBAC and runs its default admission chain,
ValidatingAdmissionPolicy included, as any cluster does. ``reset()`` returns the cluster to
the state it had after start-up by deleting, in etcd, every key written since (:mod:`.etcd`).
One process starts the control plane; others may :meth:`ControlPlane.attach` to it (the
mutation runner hands one to every pytest run it starts).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import ssl
import threading
import urllib.error
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .access import ApiAccess
from .etcd import TXN_OPS, EtcdStore
from .pki import Pki
from .processes import Supervisor, free_port

#: Capacity of each simulated GPU node (kwok marks it Ready and runs the pods bound to it).
GPU_NODE_CAPACITY = {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": "8"}
GPU_NODES = ("gpu-node-0", "gpu-node-1")
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


@dataclass
class ControlPlane(ApiAccess):
    """etcd + kube-apiserver (+ controller-manager, scheduler, kwok GPU nodes) on loopback."""

    binaries: Path
    workdir: Path
    crd_files: Iterable[Path] = ()
    api_port: int = 0
    pki: Pki | None = None
    etcd: EtcdStore = field(default_factory=EtcdStore)
    processes: Supervisor = field(init=False)
    _ssl_context: tuple[Pki, ssl.SSLContext] | None = None
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self.processes = Supervisor(self.binaries, self.workdir)

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
            self._ensure_snapshot(snapshot)
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
            self.etcd.mark()
        except BaseException:
            self.stop()
            raise
        return self

    def _snapshot_dir(self) -> Path:
        digest = hashlib.sha256(str(self.binaries.resolve()).encode())
        for path in sorted(self.crd_files):
            digest.update(path.read_bytes())
        return self.binaries.parent / "snapshots" / digest.hexdigest()[:16]

    def _ensure_snapshot(self, snapshot: Path) -> None:
        """Make ``snapshot`` unless it exists, one maker at a time per machine: two workers
        making it at once each take minutes of a busy machine's CPU for the same result."""
        if (snapshot / "etcd").is_dir():
            return
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        with open(snapshot.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not (snapshot / "etcd").is_dir():
                self._make_snapshot(snapshot)

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
        try:
            build.rename(snapshot)
        except OSError:  # another checkout's run made it meanwhile: use theirs
            shutil.rmtree(build)

    def save(self, path: Path) -> Path:
        """Write what another process needs to :meth:`attach` to this running control plane."""
        state = {
            "binaries": str(self.binaries),
            "workdir": str(self.workdir),
            "etcd_port": self.etcd.port,
            "api_port": self.api_port,
        }
        path.write_text(json.dumps(state))
        return path

    @classmethod
    def attach(cls, path: Path) -> ControlPlane:
        """A handle on a running control plane another process started and keeps
        (:meth:`save`). It owns no process, so :meth:`stop` leaves the cluster running;
        :meth:`reset` returns it to the state it had when attached."""
        state = json.loads(path.read_text())
        plane = cls(Path(state["binaries"]), Path(state["workdir"]), api_port=state["api_port"])
        plane.etcd.port = state["etcd_port"]
        plane.pki = Pki(plane.workdir / "pki")
        if not plane.etcd.healthy() or not plane._api_ok("/readyz"):
            raise RuntimeError(f"the control plane described in {path} is not running")
        plane.etcd.mark()
        return plane

    def stop(self) -> None:
        """Stop every component this object started (controllers first, etcd last)."""
        self.processes.stop()

    def reset(self) -> None:
        """Delete every object created since start-up (directly in etcd, in batches)."""
        self.etcd.reset()

    @property
    def etcd_port(self) -> int:
        """etcd's client port."""
        return self.etcd.port

    @property
    def kubeconfig_path(self) -> Path:
        """The admin kubeconfig (context ``test``)."""
        return self.workdir / "kubeconfig"

    def _start_etcd(self) -> None:
        self.etcd.port, peer = free_port(), free_port()
        client, peer_url = f"http://127.0.0.1:{self.etcd.port}", f"http://127.0.0.1:{peer}"
        self.processes.spawn(
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
                f"--max-txn-ops={TXN_OPS}",
                "--log-level=warn",
            ],
        )
        self.processes.wait("etcd", self.etcd.healthy)

    def _start_apiserver(self) -> None:
        assert self.pki is not None
        p = self.pki.folder
        self.api_port = free_port()
        self.processes.spawn(
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
        self.processes.wait("kube-apiserver", lambda: self._api_ok("/readyz"), timeout=600)

    def _start_controllers(self) -> None:
        assert self.pki is not None
        p = self.pki.folder
        kubeconfig = f"--kubeconfig={self.kubeconfig_path}"
        self.processes.spawn(
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
        self.processes.spawn(
            "kube-scheduler",
            [
                "kube-scheduler",
                kubeconfig,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
            ],
        )
        self.processes.spawn(
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

        self.processes.wait("kwok", ready, timeout=60)

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

        self.processes.wait("kube-apiserver", established, timeout=600)

    def _wait_for_default_service_account(self) -> None:
        self.processes.wait(
            "kube-controller-manager",
            lambda: self._api_ok("/api/v1/namespaces/default/serviceaccounts/default"),
            timeout=60,
        )


#: Start-ups tried when a port chosen by :func:`free_port` was taken before its component
#: bound it (by a control plane another test process was starting at the same moment).
START_ATTEMPTS = 3


def start_control_plane(
    workdir: Callable[[], Path], binaries: Path, crd_files: Iterable[Path]
) -> ControlPlane:
    """A started :class:`ControlPlane` in a new ``workdir()``; tried again, in another new
    folder, when a component found its port taken (``address already in use``)."""
    crds = list(crd_files)
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return ControlPlane(binaries, workdir(), crds).start()
        except RuntimeError as err:
            if "address already in use" not in str(err) or attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
