"""Kyverno's JMESPath arithmetic (``add``, ``subtract``, ``multiply``, ``divide``, ``modulo``).

Operands are numbers (scalars), Kubernetes quantities or Go durations, combined as
Kyverno's ``pkg/engine/jmespath/arithmetic.go`` allows: quantity ± quantity is a quantity,
duration ± duration a duration, quantity or duration times or divided by a scalar keeps its
kind, quantity / quantity and duration / duration are scalars, modulo needs integers of
one kind; anything else is an error. A string is a quantity first (``30m`` is 30 milli),
then a duration, as upstream parses it. Results are printed as Go prints them.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from gitops.policy.kyverno_units import (
    format_duration,
    format_quantity,
    parse_duration,
    parse_quantity_or_none,
    quantity_format,
)


class ArithmeticFailure(ValueError):
    """Kyverno refused the operands (its message, naming the function)."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"JMESPath function '{name}': {detail}")


def _operand(name: str, value: Any) -> tuple[str, Fraction | int]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "scalar", Fraction(value)
    if isinstance(value, str):
        quantity = parse_quantity_or_none(value)
        if quantity is not None:
            return quantity_format(value), quantity
        nanos = parse_duration(value)
        if nanos is not None:
            return "duration", nanos
    raise ArithmeticFailure(name, "invalid operands")


def arithmetic(name: str, a: Any, b: Any) -> Any:
    """Kyverno's operand table: quantity, duration or scalar, in the combinations it allows."""
    (kind_a, x), (kind_b, y) = _operand(name, a), _operand(name, b)
    quantity_a, quantity_b = (
        kind_a not in ("scalar", "duration"),
        kind_b not in ("scalar", "duration"),
    )
    mismatch = ArithmeticFailure(name, "types mismatch")
    if name in ("add", "sum", "subtract"):
        total = x + y if name != "subtract" else x - y
        if quantity_a and quantity_b:
            return format_quantity(Fraction(total), kind_a)
        if kind_a == kind_b == "duration":
            return format_duration(int(total))
        if kind_a == kind_b == "scalar":
            return float(total)
        raise mismatch
    if name == "multiply":
        if kind_a == "scalar" and kind_b != "scalar":
            (kind_a, x), (kind_b, y) = (kind_b, y), (kind_a, x)
            quantity_a, quantity_b = quantity_b, quantity_a
        if kind_b != "scalar":
            raise mismatch
        if quantity_a:
            return format_quantity(Fraction(x) * Fraction(y), kind_a)
        if kind_a == "duration":
            return format_duration(int(Fraction(x) * Fraction(y)))
        return float(Fraction(x) * Fraction(y))
    if name == "divide":
        if y == 0:
            raise ArithmeticFailure(name, "Zero divisor passed")
        if (quantity_a and quantity_b) or kind_a == kind_b == "duration":
            return float(Fraction(x) / Fraction(y))
        if kind_b != "scalar":
            raise mismatch
        if quantity_a:
            return format_quantity(Fraction(x) / Fraction(y), kind_a)
        if kind_a == "duration":
            return format_duration(int(Fraction(x) / Fraction(y)))
        return float(Fraction(x) / Fraction(y))
    # modulo: same kinds only, integers only
    if not ((quantity_a and quantity_b) or kind_a == kind_b):
        raise mismatch
    if Fraction(x).denominator != 1 or Fraction(y).denominator != 1:
        raise ArithmeticFailure(name, "Non-integer argument(s) passed for modulo")
    if y == 0:
        raise ArithmeticFailure(name, "Zero divisor passed")
    # Go's % truncates towards zero.
    remainder = abs(int(x)) % abs(int(y)) * (1 if x >= 0 else -1)
    if quantity_a:
        return format_quantity(Fraction(remainder), kind_a)
    if kind_a == "duration":
        return format_duration(remainder)
    return float(remainder)
