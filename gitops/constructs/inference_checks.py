"""Checks of the scalar parameters of :class:`~gitops.constructs.inference.InferenceStack`.

Each function returns the checked (and normalized) value or raises
:class:`~gitops.core.errors.ValidationError` as
``<owner>: <field> must be <expected>, got <given>``.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gitops.constructs.inference_params import check_str, check_subdomain, fail, snake_case
from gitops.core.errors import ValidationError

_TOLERATION_KEYS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_RESOURCE_NAME = re.compile(
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$", re.IGNORECASE)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SELECTOR_KEYS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
)
RESERVED_LABELS = (*SELECTOR_KEYS, "app.kubernetes.io/managed-by")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """Split ``repo/name:tag@sha256:...`` into repository, tag and digest."""
    name, _, digest = image.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest or None
    return name, None, digest or None


def with_tag(image: str, tag: str) -> str:
    """``image`` with its tag replaced by ``tag`` (a digest, which pins the old tag, is dropped)."""
    repository, _, _ = split_image(image)
    return f"{repository}:{tag}"


def check_bool(owner: str, name: str, value: object) -> bool:
    """``value`` if it is a bool (YAML ``true``/``false``)."""
    if not isinstance(value, bool):
        raise fail(owner, name, "true or false", value)
    return value


def check_strings(owner: str, name: str, value: object) -> tuple[str, ...]:
    """``value`` as a tuple if it is a list of strings (a lone string is refused)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise fail(owner, name, "a list of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise fail(owner, f"{name}[{index}]", "a string", item)
    return tuple(value)


def optional_subdomain(owner: str, name: str, value: object) -> str | None:
    """``value`` if it is ``None`` or a DNS-1123 subdomain."""
    return None if value is None else check_subdomain(owner, name, value)


def check_image(owner: str, image: object, tag: object, strict: bool) -> str:
    """The image with the environment's ``tag`` applied; ``strict`` refuses ``:latest``/untagged."""
    if not isinstance(image, str) or not _IMAGE.match(image):
        raise fail(
            owner, "image", "a container image reference like vllm/vllm-openai:v0.6.3", image
        )
    if tag is not None:
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise fail(owner, "image_tag", "an image tag like v0.6.4", tag)
        image = with_tag(image, tag)
    _, found, digest = split_image(image)
    if strict and (found == "latest" or (found is None and digest is None)):
        raise fail(
            owner, "image", "pinned to a tag other than latest or to a digest (strict)", image
        )
    return image


def check_model(owner: str, model: object, mode: str) -> str:
    """The model as the engine wants it: a bare HF id (vllm) or a storage URI (kserve)."""
    model = check_str(owner, "model", model)
    scheme, sep, rest = model.partition("://")
    if mode == "kserve":
        return model if sep else f"hf://{model}"
    if sep and scheme != "hf":
        raise fail(
            owner, "model", "a Hugging Face id, hf://<id> or an absolute path in vllm mode", model
        )
    return rest if sep else model


_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")


def check_revision(owner: str, revision: object, model: str, mode: str) -> str | None:
    """A Hugging Face revision (commit hash, branch or tag) of a hub model, or ``None``."""
    if revision is None:
        return None
    if not isinstance(revision, str) or not _REVISION.match(revision) or ".." in revision:
        raise fail(
            owner,
            "model_revision",
            "a commit hash, branch or tag (letters, digits, ._/-)",
            revision,
        )
    hub = model.startswith("hf://") if mode == "kserve" else not model.startswith("/")
    if not hub:
        raise fail(owner, "model_revision", "set only for a Hugging Face hub model", revision)
    return revision


def check_tolerations(owner: str, value: object, gpu_resource: str) -> list[dict[str, Any]]:
    """Tolerations as fresh dicts; ``None`` tolerates the taint ``<gpu_resource>:NoSchedule``."""
    if value is None:
        return [{"key": gpu_resource, "operator": "Exists", "effect": "NoSchedule"}]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise fail(owner, "tolerations", "a list of toleration mappings", value)
    out: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or not set(item) <= _TOLERATION_KEYS:
            expected = f"a mapping with keys among {', '.join(sorted(_TOLERATION_KEYS))}"
            raise fail(owner, f"tolerations[{index}]", expected, item)
        operator = item.get("operator", "Equal")
        if operator not in ("Exists", "Equal"):
            raise fail(owner, f"tolerations[{index}].operator", "Exists or Equal", operator)
        effect = item.get("effect")
        if effect is not None and effect not in _TAINT_EFFECTS:
            expected = f"one of {', '.join(_TAINT_EFFECTS)}"
            raise fail(owner, f"tolerations[{index}].effect", expected, effect)
        out.append(dict(item))
    return out


def check_labels(owner: str, value: object, field: str = "labels") -> dict[str, str]:
    """Extra labels, sorted by key; the selector and managed-by labels are the stack's own."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(owner, field, "a mapping of label names to values", value)
    out: dict[str, str] = {}
    for key in sorted(value, key=str):
        item = value[key]
        prefix, _, name = key.rpartition("/") if isinstance(key, str) else ("", "", "")
        if not name or not _LABEL_NAME.match(name) or (prefix and not _is_subdomain(prefix)):
            raise fail(owner, f"{field} key", "a label name like team or example.com/team", key)
        if key in RESERVED_LABELS:
            raise fail(
                owner, f"{field} key", "not one the stack sets itself (selector, managed-by)", key
            )
        if not isinstance(item, str) or not _LABEL_VALUE.match(item):
            raise fail(owner, f"{field}[{key!r}]", "a label value (<= 63 characters)", item)
        out[key] = item
    return out


def _is_subdomain(value: str) -> bool:
    try:
        check_subdomain("", "", value)
    except ValidationError:
        return False
    return True


def pdb_mapping(value: object) -> object:
    """A mapping naming only ``min_available`` means no ``max_unavailable`` default."""
    if isinstance(value, Mapping) and {snake_case(str(k)) for k in value} == {"min_available"}:
        return {**value, "max_unavailable": None}
    return value


def check_gpu_resource(owner: str, value: object) -> str:
    """An extended resource name such as ``nvidia.com/gpu`` or ``amd.com/gpu``."""
    if not isinstance(value, str) or not _RESOURCE_NAME.match(value):
        raise fail(owner, "gpu_resource", "an extended resource name like nvidia.com/gpu", value)
    return value


def check_gpu_product(owner: str, value: object) -> str | None:
    """A ``nvidia.com/gpu.product`` node label value, or ``None``."""
    if value is not None and not (isinstance(value, str) and value and _LABEL_VALUE.match(value)):
        raise fail(owner, "gpu_product", "a node label value like NVIDIA-A100-SXM4-80GB", value)
    return value
