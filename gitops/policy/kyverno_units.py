"""Go durations and Kubernetes quantities as Kyverno's arithmetic and operators read and write them.

Kyverno's JMESPath arithmetic (``add``, ``divide``, ...) and its comparison operators
accept Go duration strings (``1h30m``, ``250ms``: ``time.ParseDuration``) and Kubernetes
quantities (``500m``, ``2Gi``), and print results the way Go does (``time.Duration.String``,
``resource.Quantity.String`` in canonical form). Exact arithmetic with :class:`Fraction`.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re
from fractions import Fraction

from gitops.core.quantity import parse_quantity

_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}  # fmt: skip
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_BINARY = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20),
           ("Ki", 2**10))  # fmt: skip
_DECIMAL = (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3), ("", 0),
            ("m", -3), ("u", -6), ("n", -9))  # fmt: skip


def parse_duration(text: str) -> int | None:
    """Nanoseconds of a Go duration string (``1h2m3.5s``, ``-300ms``, ``0``), or None."""
    if not isinstance(text, str) or not text:
        return None
    sign, rest = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
    if rest == "0":
        return 0
    if not rest:
        return None
    position, total = 0, Fraction(0)
    for part in _DURATION_PART.finditer(rest):
        if part.start() != position:
            return None
        total += Fraction(part.group(1)) * _NANOS[part.group(2)]
        position = part.end()
    if position != len(rest):
        return None
    return sign * int(total)


def format_duration(nanos: int) -> str:
    """Go's ``time.Duration.String``: ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    if nanos == 0:
        return "0s"
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _decimal(Fraction(nanos, size)) + unit
    hours, nanos = divmod(nanos, 3_600_000_000_000)
    minutes, nanos = divmod(nanos, 60_000_000_000)
    seconds = _decimal(Fraction(nanos, 1_000_000_000)) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _decimal(value: Fraction) -> str:
    whole, rest = divmod(value, 1)
    if not rest:
        return str(int(whole))
    digits = f"{float(rest):.9f}"[2:].rstrip("0")
    return f"{int(whole)}.{digits}"


def parse_quantity_or_none(text: str) -> Fraction | None:
    """The value of a Kubernetes quantity string, or None when it is not one."""
    try:
        return parse_quantity(text)
    except (ValueError, TypeError):
        return None


def quantity_format(text: str) -> str:
    """Which of the three Kubernetes formats a quantity is written in."""
    if re.search(r"[KMGTPE]i$", text):
        return "BinarySI"
    if re.search(r"[eE][+-]?\d+$", text):
        return "DecimalExponent"
    return "DecimalSI"


def format_quantity(value: Fraction, fmt: str) -> str:
    """A quantity in the canonical form ``resource.Quantity.String`` prints."""
    if value == 0:
        return "0"
    sign, value = ("-", -value) if value < 0 else ("", value)
    if fmt == "BinarySI" and value.denominator == 1:
        for suffix, size in _BINARY:
            if value % size == 0:
                return f"{sign}{value // size}{suffix}"
        if value < 1024:
            return f"{sign}{value}"
    # Decimal: the largest suffix (exponent a multiple of 3) that keeps an integer mantissa;
    # below nano the value is rounded up to 1n, as the API machinery rounds.
    for suffix, exponent in _DECIMAL:
        mantissa = value / Fraction(10) ** exponent
        if mantissa.denominator == 1:
            if fmt == "DecimalExponent":
                return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
            return f"{sign}{mantissa}{suffix}"
    nanos = -(-value * 10**9 // 1)
    return f"{sign}{nanos}" + ("e-9" if fmt == "DecimalExponent" else "n")
