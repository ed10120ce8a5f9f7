"""Kubernetes resource quantities (``500m``, ``1Gi``, ``1e3``): parse, check, compare.

Purely data-manipulative: no I/O. Values are exact :class:`fractions.Fraction`, so
``1000m == 1`` and ``1Gi == 1024Mi`` compare equal without floating-point error.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction

_QUANTITY = re.compile(
    r"^(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)

#: Longest quantity text and largest decimal exponent (``1e<n>``) accepted. Kubernetes caps
#: quantities at 2^63-1 and rounds them to 1n, so anything beyond is meaningless, while its
#: exact value can cost unbounded time and memory (``1e-999999999``: minutes, gigabytes).
MAX_QUANTITY_CHARS = 64
MAX_EXPONENT = 64

_SUFFIX: dict[str, Fraction] = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}


def parse_quantity(value: str | int | float) -> Fraction:
    """Return the exact value of a Kubernetes quantity.

    Raises:
        ValueError: ``value`` is not a Kubernetes quantity (the message quotes it).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a Kubernetes quantity: {value!r}")
        return Fraction(str(value))
    if not isinstance(value, str):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return _parse_text(str(value))


@functools.lru_cache(maxsize=4096)
def _parse_text(value: str) -> Fraction:
    # Every stack on every cluster of a fleet repeats the same few quantities ("8",
    # "64Gi") and Fraction arithmetic is slow: each text is parsed once. Fractions are
    # immutable, so sharing a result is safe; errors are not cached.
    text = value.strip()
    match = _QUANTITY.match(text) if len(text) <= MAX_QUANTITY_CHARS else None
    if match is None:
        shown = value if len(value) <= 80 else value[:80] + "..."
        raise ValueError(f"not a Kubernetes quantity: {shown!r}")
    number = Fraction(match["number"])
    suffix = match["suffix"] or ""
    if suffix not in _SUFFIX:  # a decimal exponent ("Ei" is the exbi suffix, not one)
        exponent = int(suffix[1:])
        if abs(exponent) > MAX_EXPONENT:
            raise ValueError(
                f"not a Kubernetes quantity: {value!r} (exponent beyond +-{MAX_EXPONENT})"
            )
        scale = Fraction(10) ** exponent
    else:
        scale = _SUFFIX[suffix]
    sign = -1 if match["sign"] == "-" else 1
    return sign * number * scale


def is_quantity(value: object) -> bool:
    """Whether ``value`` is a valid Kubernetes quantity (a string or a number)."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return False
    try:
        parse_quantity(value)
    except ValueError:
        return False
    return True


def quantities_equal(a: str | int | float, b: str | int | float) -> bool:
    """Whether two quantities denote the same amount (``1000m`` and ``1``: yes)."""
    return parse_quantity(a) == parse_quantity(b)
