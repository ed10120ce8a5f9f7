"""JSON values written out, the oracle of the tests of JSON equality.

Two values are equal as JSON exactly when these texts are: keys sorted, a whole-valued
float written as the integer it equals (``1`` and ``1.0`` are one JSON number), and a
boolean as ``true``/``false``, never as a number.
"""

from __future__ import annotations

import json
from typing import Any


def json_text(value: Any) -> str:
    """``value`` as JSON text, keys sorted, a whole-valued float as the integer it equals."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{json_text(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(json_text, value)) + "]"
    return json.dumps(value)
