"""Kyverno's ``images`` variable: the image references of a Pod-like object, parsed.

``{{ images.containers.<container name>.registry }}`` and ``.path``, ``.name``, ``.tag``,
``.digest``, ``.reference`` for ``containers``, ``initContainers`` and
``ephemeralContainers``, as Kyverno fills them: the registry defaults to ``docker.io``,
the tag to ``latest`` when there is no digest.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_GROUPS = ("containers", "initContainers", "ephemeralContainers")


def parse_image(image: str) -> dict[str, str]:
    """Registry, path, name, tag, digest and reference of an image string."""
    rest, _, digest = image.partition("@")
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = "docker.io", rest
    tag = ""
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
    if not tag and not digest:
        tag = "latest"
    reference = f"{registry}/{path}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return {
        "registry": registry,
        "path": path,
        "name": path.rsplit("/", 1)[-1],
        "tag": tag,
        "digest": digest,
        "reference": reference,
        "referenceWithTag": f"{registry}/{path}:{tag}" if tag else "",
    }


def images_of(obj: Mapping[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """The ``images`` variable of an object (empty groups left out)."""
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return {}
    out: dict[str, dict[str, dict[str, str]]] = {}
    for group in _GROUPS:
        containers = spec.get(group)
        if not isinstance(containers, list):
            continue
        parsed = {
            str(c.get("name")): parse_image(str(c["image"]))
            for c in containers
            if isinstance(c, Mapping) and isinstance(c.get("image"), str)
        }
        if parsed:
            out[group] = parsed
    return out
