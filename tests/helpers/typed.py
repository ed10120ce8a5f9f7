"""Values compared with their types: ``==`` takes ``True`` for ``1`` and ``1.0`` for ``1``.

A reader that turned ``true`` into ``1``, or a writer that turned ``1.0`` into ``1``, passes
an ``==`` oracle. ``typed(a) == typed(b)`` holds only when both are the same JSON/YAML value
of the same type all the way down (map keys too; map order is not compared).
"""

from __future__ import annotations

from typing import Any


def typed(value: Any) -> Any:
    """``value`` with each scalar tagged by its exact type (floats by ``repr``: NaN is NaN)."""
    if isinstance(value, dict):
        return ("dict", {typed(k): typed(v) for k, v in value.items()})
    if isinstance(value, list):
        return ("list", tuple(typed(item) for item in value))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)
