"""Judge NetworkPolicies with cyclonus' policy engine (``tests/netpol_eval``, Go).

The evaluator is built once per machine with the Go toolchain into a cache directory keyed
by the hash of its sources and ``go.sum``; building it the first time downloads cyclonus and
its dependencies through the Go module proxy and takes a few minutes. Tests skip with the
reason when no ``go`` is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SOURCE = Path(__file__).resolve().parent / "netpol_eval"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-tests"


@cache
def evaluator() -> Path:
    """The built evaluator binary (built now if this machine has none for these sources)."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((SOURCE / name).read_bytes())
    binary = _cache_dir() / f"netpol-eval-{digest.hexdigest()[:16]}"
    if binary.exists():
        return binary
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        pytest.skip("the NetworkPolicy evaluator needs the Go toolchain (go) to be built")
    binary.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: concurrent test runs never see a partial binary.
    with tempfile.TemporaryDirectory(dir=binary.parent) as tmp:
        out = Path(tmp) / "netpol-eval"
        subprocess.run(
            [go, "build", "-trimpath", "-o", str(out), "."],
            cwd=SOURCE,
            check=True,
            capture_output=True,
            timeout=1800,
        )
        os.replace(out, binary)
    return binary


def allowed(policies: list[dict[str, Any]], flows: list[dict[str, Any]]) -> list[bool]:
    """cyclonus' verdict on each flow (see ``netpol_eval/main.go`` for the flow shape)."""
    result = subprocess.run(
        [str(evaluator())],
        input=json.dumps({"policies": policies, "flows": flows}),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    verdicts: list[bool] = json.loads(result.stdout)["allowed"]
    assert len(verdicts) == len(flows)
    return verdicts
