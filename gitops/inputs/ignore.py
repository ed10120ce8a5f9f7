"""Ignore rules: fields (JSON pointers) the diff and Argo CD leave alone, per kind and name.

Parsed from an environment's ``diff.ignore``; the diff engine applies them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops.core.errors import ValidationError
from gitops.core.keys import ResourceKey
from gitops.core.pointer import parse_pointer


@dataclass(frozen=True)
class IgnoreRule:
    """Fields never compared: by JSON pointer (optionally per kind/name/namespace) or manager.

    A pointer segment may be ``*`` (any key or list item) and a list item also answers to
    its merge-key value (``/spec/template/spec/containers/vllm/image``).
    """

    pointer: str | None = None
    managers: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.pointer is None and not self.managers:
            raise ValidationError("ignore rule: needs a 'pointer' or a 'manager', got neither")
        if self.pointer is not None:
            try:
                parse_pointer(self.pointer)
            except ValueError as err:
                raise ValidationError(f"ignore rule: {err}") from None

    @classmethod
    def from_mapping(cls, rule: Mapping[str, Any], source: str = "ignore") -> IgnoreRule:
        """Build a rule from its mapping form (``{"pointer": "/spec/replicas", ...}``).

        Keys: ``pointer``, ``manager`` or ``managers``, ``kinds``, ``names``, ``namespaces``.

        Raises:
            ValidationError: unknown keys or values of the wrong type (naming ``source``).
        """
        if not isinstance(rule, Mapping):
            raise ValidationError(f"{source}: expected a mapping, got {type(rule).__name__}")
        known = {"pointer", "manager", "managers", "kinds", "names", "namespaces"}
        unknown = sorted(set(rule) - known)
        if unknown:
            raise ValidationError(f"{source}: unknown key(s) {unknown}; expected {sorted(known)}")
        pointer = rule.get("pointer")
        if pointer is not None and not isinstance(pointer, str):
            raise ValidationError(f"{source}: 'pointer' must be a string, got {pointer!r}")
        managers = _strings(rule, "managers", source)
        if "manager" in rule:
            managers = (*managers, *_strings({"manager": [rule["manager"]]}, "manager", source))
        try:
            return cls(
                pointer=pointer,
                managers=managers,
                kinds=_strings(rule, "kinds", source),
                names=_strings(rule, "names", source),
                namespaces=_strings(rule, "namespaces", source),
            )
        except ValidationError as err:
            raise ValidationError(f"{source}: {err}") from None

    def applies_to(self, key: ResourceKey) -> bool:
        """Whether the rule applies to the object ``key``."""
        return (
            (not self.kinds or key.kind in self.kinds)
            and (not self.names or key.name in self.names)
            and (not self.namespaces or key.namespace in self.namespaces)
        )


def _strings(rule: Mapping[str, Any], name: str, source: str) -> tuple[str, ...]:
    value = rule.get(name, ())
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{source}: {name!r} must be a list of strings, got {value!r}")
    return tuple(value)


def parse_ignore_rules(config: Mapping[str, Any] | Sequence[Any] | None) -> list[IgnoreRule]:
    """Parse ignore rules from ``{"ignore": [...]}`` (an environment section) or a list."""
    if config is None:
        return []
    items = config.get("ignore", []) if isinstance(config, Mapping) else config
    if not isinstance(items, (list, tuple)):
        raise ValidationError(f"ignore: expected a list of rules, got {type(items).__name__}")
    return [IgnoreRule.from_mapping(item, f"ignore[{i}]") for i, item in enumerate(items)]
