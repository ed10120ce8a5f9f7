"""Quantity canonicalization, as kube-apiserver stores resource.Quantity values.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import contextlib
from typing import Any

from gitops.quantity import parse_quantity

_DECIMAL_SUFFIX = {
    -9: "n",
    -6: "u",
    -3: "m",
    0: "",
    3: "k",
    6: "M",
    9: "G",
    12: "T",
    15: "P",
    18: "E",
}
_BINARY_SUFFIX = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


def canonical_quantity(value: str | int | float) -> str:
    """The canonical form the real server stores (``1000m`` -> ``1``, ``1024Mi`` -> ``1Gi``).

    Keeps the format family of the input (binary suffix, decimal suffix or exponent); values
    finer than the nano unit are rounded up, as resource.Quantity does.
    """
    text = str(value).strip()
    amount = parse_quantity(text)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    binary = text.endswith("i")
    exponent_form = any(c in "eE" for c in text.lstrip("+-").rstrip("EPTGMk"))
    if binary and amount.denominator == 1 and amount >= 1024:
        number, power = int(amount), 0
        while number % 1024 == 0 and power < len(_BINARY_SUFFIX) - 1:
            number, power = number // 1024, power + 1
        return f"{sign}{number}{_BINARY_SUFFIX[power]}"
    nanos = amount * 10**9
    scaled = -(-nanos.numerator // nanos.denominator)  # round up to a whole nano
    if scaled == 0:
        return "0"
    exp = -9
    while scaled % 1000 == 0 and exp < 18:
        scaled, exp = scaled // 1000, exp + 3
    if exponent_form:
        return f"{sign}{scaled}" + (f"e{exp}" if exp else "")
    return f"{sign}{scaled}{_DECIMAL_SUFFIX[exp]}"


def canonical_map(values: Any) -> None:
    """Canonicalize every quantity value of a map in place (other values are kept)."""
    if isinstance(values, dict):
        for key, val in values.items():
            if isinstance(val, (str, int, float)) and not isinstance(val, bool):
                # Validation is not this server's job: keep what was sent if it is not one.
                with contextlib.suppress(ValueError):
                    values[key] = canonical_quantity(val)


def canonical_resources(resources: Any) -> None:
    """Canonicalize ``requests`` and ``limits`` of a ResourceRequirements in place."""
    if isinstance(resources, dict):
        for part in ("requests", "limits"):
            canonical_map(resources.get(part))


def canonicalize(obj: dict[str, Any]) -> None:
    """Canonicalize the quantities of a built-in object in place (requests, limits, quotas)."""
    _canonical_walk(obj)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if obj.get("kind") == "ResourceQuota":
        canonical_map(spec.get("hard"))
    if obj.get("kind") == "LimitRange":
        for limit in spec.get("limits") or []:
            for part in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
                canonical_map(limit.get(part))


def _canonical_walk(value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _canonical_walk(item)
    if not isinstance(value, dict):
        return
    for key, child in value.items():
        if key == "resources" and isinstance(child, dict):
            canonical_resources(child)
        elif key == "emptyDir" and isinstance(child, dict) and "sizeLimit" in child:
            limit = {"sizeLimit": child["sizeLimit"]}
            canonical_map(limit)
            child["sizeLimit"] = limit["sizeLimit"]
        _canonical_walk(child)
