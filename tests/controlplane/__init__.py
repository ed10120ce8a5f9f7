"""The test suite's Kubernetes: a real control plane built from Go modules (see README.md).

``ControlPlane`` runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
GPU nodes on loopback; ``ClusterUnderTest`` is one test's handle on it, through a
``FaultProxy`` that injects the failures a real server will not produce on demand.
"""

from .cluster import ControlPlane, start_control_plane
from .facade import ClusterUnderTest
from .log import Fault, RequestRecord
from .processes import ControlPlaneUnavailable, build_binaries
from .proxy import FaultProxy

__all__ = [
    "ClusterUnderTest",
    "ControlPlane",
    "ControlPlaneUnavailable",
    "Fault",
    "FaultProxy",
    "RequestRecord",
    "build_binaries",
    "start_control_plane",
]
