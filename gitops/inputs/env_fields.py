"""The checks of one environment-file value: each refuses with one line naming the file,
the field, what it expects and what it found.

:mod:`gitops.inputs.environments` parses the file with them; the ``overrides`` and ``diff``
sections, which check values of other modules (stack parameters, ignore rules), are here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gitops.constructs.base import check_dns1123_label
from gitops.core.errors import ValidationError
from gitops.core.quantity import is_quantity
from gitops.core.suggest import did_you_mean

if TYPE_CHECKING:
    from gitops.inputs.ignore import IgnoreRule

_DIFF_KEYS = frozenset({"ignore"})
_AUTOSCALING_KEYS = frozenset({"min_replicas", "max_replicas"})


def diff_ignore(source: str, data: Any) -> tuple[IgnoreRule, ...]:
    """The ``diff`` section: its ``ignore`` rules."""
    from gitops.inputs.ignore import parse_ignore_rules

    section = mapping(data, source, "diff", _DIFF_KEYS)
    try:
        return tuple(parse_ignore_rules(section))
    except ValidationError as err:
        raise ValidationError(f"{source}: diff.{err}") from None


def overrides(source: str, data: Any) -> Mapping[str, Mapping[str, Any]]:
    """The ``overrides`` section: per stack id, the parameters it sets (read-only)."""
    stacks = mapping(data, source, "overrides", None)
    out: dict[str, Mapping[str, Any]] = {}
    for stack_id in sorted(stacks):
        where = f"overrides.{stack_id}"
        check_dns1123_label(source, "overrides key (a stack id)", stack_id)
        values = dict(mapping(stacks[stack_id], source, where, _override_keys()))
        if "replicas" in values:
            values["replicas"] = count(source, f"{where}.replicas", values["replicas"])
        for key in ("gpu_product", "image_tag"):
            if key in values and (not isinstance(values[key], str) or not values[key]):
                raise ValidationError(
                    f"{source}: {where}.{key} must be a non-empty string, got {values[key]!r}"
                )
        if "autoscaling" in values:
            bounds = dict(
                mapping(values["autoscaling"], source, f"{where}.autoscaling", _AUTOSCALING_KEYS)
            )
            for key, value in bounds.items():
                bounds[key] = count(source, f"{where}.autoscaling.{key}", value)
            low, high = bounds.get("min_replicas"), bounds.get("max_replicas")
            if low is not None and high is not None and low > high:
                raise ValidationError(
                    f"{source}: {where}.autoscaling: min_replicas ({low}) must be <= "
                    f"max_replicas ({high})"
                )
            values["autoscaling"] = MappingProxyType(bounds)
        out[stack_id] = MappingProxyType(values)
    return MappingProxyType(out)


def _override_keys() -> frozenset[str]:
    """Keys an override may set: the stack's parameters (snake_case) and ``image_tag``."""
    from gitops.constructs.inference import PARAMETERS

    return frozenset({*PARAMETERS, "image_tag"})


def mapping(
    value: Any, source: str, where: str, allowed: frozenset[str] | None
) -> Mapping[str, Any]:
    """``value`` as a mapping of string keys, each one of ``allowed`` (None: any)."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"{source}: {where} must be a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ValidationError(f"{source}: {where}: keys must be strings, got {key!r}")
        if allowed is not None and key not in allowed:
            raise ValidationError(
                f"{source}: unknown key {key!r} in {where}{did_you_mean(key, allowed)} "
                f"(expected one of {', '.join(sorted(allowed))})"
            )
    return value


def string_list(source: str, where: str, value: Any) -> list[str]:
    """``value`` as a list of non-empty strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError(
            f"{source}: {where} must be a list of non-empty strings, got {value!r}"
        )
    return list(value)


def choice(source: str, where: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value``, one of ``choices``."""
    if value not in choices:
        raise ValidationError(
            f"{source}: {where} must be one of {', '.join(choices)}, got {value!r}"
        )
    return str(value)


def url(source: str, where: str, value: Any) -> str:
    """``value`` as a Git URL without credentials (it is committed and printed)."""
    from gitops.core.redact import redact_url, url_credentials

    shown = redact_url(value) if isinstance(value, str) else value
    if not isinstance(value, str) or not value.startswith(
        ("https://", "http://", "ssh://", "git@")
    ):
        raise ValidationError(f"{source}: {where} must be a URL (https://...), got {shown!r}")
    if url_credentials(value):
        # The URL is committed (Argo CD Application, Flux GitRepository) and printed: a
        # token in it would be in every clone and every log.
        raise ValidationError(
            f"{source}: {where} must not carry credentials, got {shown!r}: give Argo CD a "
            "repository Secret and Flux a secretRef instead"
        )
    return value


def optional_string(source: str, where: str, value: Any) -> str | None:
    """``value`` as a non-empty string, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{source}: {where} must be a non-empty string, got {value!r}")
    return value


def kubernetes_version(source: str, value: Any) -> str:
    """``value`` as a Kubernetes minor version (``"1.32"``)."""
    if not isinstance(value, str) or not re.fullmatch(r"1\.[0-9]{1,3}", value):
        raise ValidationError(
            f'{source}: cluster.kubernetes_version must be a minor version like "1.32" '
            f"(quoted), got {value!r}"
        )
    return value


def count(source: str, where: str, value: Any) -> int:
    """``value`` as an integer >= 0 (a boolean is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{source}: {where} must be an integer >= 0, got {value!r}")
    return value


def optional_count(source: str, where: str, value: Any) -> int | None:
    """:func:`count`, or None when absent."""
    return None if value is None else count(source, where, value)


def optional_quantity(source: str, where: str, value: Any) -> str | None:
    """``value`` as a Kubernetes quantity (``500m``, ``16Gi``), or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not is_quantity(value):
        raise ValidationError(f"{source}: {where} must be a Kubernetes quantity, got {value!r}")
    return str(value)
