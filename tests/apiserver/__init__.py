"""A faithful-enough kube-apiserver for tests: real HTTP, real Status bodies, SSA, faults.

Start one with ``ApiServer().start()`` (or the ``apiserver`` fixture) and point the real
``kubernetes`` client at ``write_kubeconfig(...)``. See README.md for what is faithful.
"""

from .log import Fault, RequestRecord
from .quantities import canonical_quantity
from .server import ApiServer

__all__ = ["ApiServer", "Fault", "RequestRecord", "canonical_quantity"]
