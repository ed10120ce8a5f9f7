"""Semantic versions and ranges as blang/semver (Kyverno's ``semver_compare``) reads them.

A range is ``||``-separated alternatives of space-separated comparisons
(``>=1.0.0 <2.0.0 || 3.1.0``); operators ``>``, ``>=``, ``<``, ``<=``, ``=``, ``==``,
``!``, ``!=`` and none (equal). A version that does not parse compares as ``0.0.0``, as
upstream's ignored parse error leaves it.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re

_VERSION = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_COMPARISON = re.compile(r"^(>=|<=|!=|==|>|<|=|!)?(.+)$")

Version = tuple[int, int, int, tuple[tuple[int, int | str], ...]]


class SemverRangeError(ValueError):
    """A version range that does not parse (Kyverno reports it as a function error)."""


def parse_version(text: str) -> Version | None:
    """A comparable key of a semantic version, or None when ``text`` is not one."""
    found = _VERSION.match(text.strip())
    if not found:
        return None
    pre: tuple[tuple[int, int | str], ...] = ()
    if found.group(4):
        pre = tuple(
            (0, int(part)) if part.isdigit() else (1, part) for part in found.group(4).split(".")
        )
    return int(found.group(1)), int(found.group(2)), int(found.group(3)), pre


def _compare(a: Version, b: Version) -> int:
    if a[:3] != b[:3]:
        return -1 if a[:3] < b[:3] else 1
    # A pre-release sorts before its release; identifiers compare numerically or lexically.
    if a[3] == b[3]:
        return 0
    if not a[3]:
        return 1
    if not b[3]:
        return -1
    return -1 if a[3] < b[3] else 1


def in_range(version: str, expected: str) -> bool:
    """Whether ``version`` satisfies the blang/semver range ``expected``.

    Raises:
        SemverRangeError: the range does not parse.
    """
    actual = parse_version(version) or (0, 0, 0, ())
    for alternative in expected.split("||"):
        parts = alternative.split()
        if not parts:
            raise SemverRangeError(f"Could not get version from string: {expected!r}")
        if all(_holds(actual, part, expected) for part in parts):
            return True
    return False


def _holds(actual: Version, comparison: str, whole: str) -> bool:
    operator, text = _COMPARISON.match(comparison).groups()  # type: ignore[union-attr]
    wanted = parse_version(text)
    if wanted is None:
        raise SemverRangeError(f"Could not parse Range {whole!r}: {text!r} is not a version")
    order = _compare(actual, wanted)
    return {
        None: order == 0, "=": order == 0, "==": order == 0, "!": order != 0, "!=": order != 0,
        ">": order > 0, ">=": order >= 0, "<": order < 0, "<=": order <= 0,
    }[operator]  # fmt: skip
