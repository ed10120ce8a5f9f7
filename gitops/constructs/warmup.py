"""Model-cache warm-up: an init container fills the cache before the engine starts.

Without it the engine downloads the weights inside its startup probe's budget, and a slow
hub or mirror fails the rollout after minutes. The init container (``model-download``)
runs the Hugging Face CLI into the cache the engine mounts (``HF_HOME``); it skips files
already there, so a restarted pod or a second replica on a shared cache costs no second
download. On a LeaderWorkerSet only the leader warms the (shared) cache: the workers load
their stages after the leader's server has started, which is after the download.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitops.constructs.inference_checks import check_image, check_strings
from gitops.constructs.inference_params import check_int, check_quantity, fail
from gitops.constructs.inference_pod import CACHE_VOLUME, cache_mount_path, container_security
from gitops.core.keys import Manifest

if TYPE_CHECKING:
    from gitops.constructs.stack_view import StackView

#: The init container's name.
CONTAINER = "model-download"
#: The download command; the model id is appended. Shipped in the vllm/vllm-openai images.
DEFAULT_COMMAND = ("huggingface-cli", "download")
#: Pod template annotation telling delivery (:mod:`gitops.render.delivery`) how long the download
#: may take, on top of the startup probe's budget.
BUDGET_ANNOTATION = "gitops.dev/warm-up-seconds"


@dataclass(frozen=True)
class WarmUp:
    """Fill the model cache in an init container before the engine starts.

    Attributes:
        image: image holding the download command (default: the stack's engine image).
        command: the download command; the model id is appended.
        cpu: CPU request of the init container.
        memory: memory request and limit of the init container.
        timeout_seconds: how long the download may take (default an hour: a 70B model is
            ~140 GB); Flux's timeout and Argo CD's retries wait this much longer.
    """

    image: str | None = None
    command: Sequence[str] = DEFAULT_COMMAND
    cpu: str = "1"
    memory: str = "4Gi"
    timeout_seconds: int = 3600

    def check(self, owner: str, stack: StackView) -> None:
        """Raise ValidationError naming ``owner`` and the field if warm-up cannot work."""
        if self.image is not None:
            check_image(owner, self.image, None, stack.strict)
        if not check_strings(owner, "warm_up.command", self.command):
            raise fail(owner, "warm_up.command", "a non-empty list of strings", self.command)
        check_quantity(owner, "warm_up.cpu", self.cpu)
        check_quantity(owner, "warm_up.memory", self.memory)
        check_int(owner, "warm_up.timeout_seconds", self.timeout_seconds, 1)
        if stack.mode != "vllm":
            raise fail(
                owner, "warm_up", "off in kserve mode (its storage initializer downloads)", True
            )
        if stack.cache is None:
            raise fail(owner, "warm_up", "used with a cache (the download must outlive it)", True)
        if stack.model.startswith("/"):
            raise fail(owner, "warm_up", "off for a model path inside the image", stack.model)


def init_container(stack: StackView, warm: WarmUp) -> dict[str, Any]:
    """The ``model-download`` init container of the engine's pod."""
    assert stack.cache is not None  # checked by WarmUp.check
    path = cache_mount_path(stack)
    env: list[dict[str, Any]] = [{"name": "HF_HOME", "value": path}]
    if stack.hf_token_secret is not None:
        ref = stack.hf_token_secret
        env.append(
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        )
    return {
        "name": CONTAINER,
        "image": warm.image or stack.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [*warm.command, stack.model],
        "env": env,
        "resources": {
            "requests": {"cpu": warm.cpu, "memory": warm.memory},
            "limits": {"memory": warm.memory},
        },
        "volumeMounts": [{"name": CACHE_VOLUME, "mountPath": path}],
        "securityContext": container_security(stack),
    }


def add_warm_up(objects: list[Manifest], stack: StackView, warm: WarmUp) -> list[Manifest]:
    """Add the init container to the engine's Deployment, StatefulSet (each replica fills its
    own cache volume) or LeaderWorkerSet leader."""
    for obj in objects:
        if obj["metadata"]["name"] != stack.id:
            continue
        if obj["kind"] in ("Deployment", "StatefulSet"):
            template = obj["spec"]["template"]
        elif obj["kind"] == "LeaderWorkerSet":
            template = obj["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
        else:
            continue
        template["spec"].setdefault("initContainers", []).append(init_container(stack, warm))
        annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[BUDGET_ANNOTATION] = str(warm.timeout_seconds)
    return objects
