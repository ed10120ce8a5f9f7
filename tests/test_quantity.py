"""Tests for Kubernetes quantity parsing and comparison."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gitops.core.quantity import is_quantity, parse_quantity, quantities_equal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Fraction(1)),
        ("1000m", Fraction(1)),
        ("250m", Fraction(1, 4)),
        ("1Gi", Fraction(2**30)),
        ("1.5Gi", Fraction(3 * 2**29)),
        ("2k", Fraction(2000)),
        ("1e3", Fraction(1000)),
        ("1E-3", Fraction(1, 1000)),
        (".5", Fraction(1, 2)),
        ("-1", Fraction(-1)),
        (8, Fraction(8)),
    ],
)
def test_parse_quantity_values(text: str | int, value: Fraction) -> None:
    assert parse_quantity(text) == value


def test_equal_forms_compare_equal() -> None:
    assert quantities_equal("1Gi", "1024Mi")
    assert quantities_equal("1000m", 1)
    assert not quantities_equal("1G", "1Gi")


@pytest.mark.parametrize("text", ["", "1GB", "abc", "1.2.3", "Gi", "1 Gi", "1ki"])
def test_not_quantities_are_refused(text: str) -> None:
    assert not is_quantity(text)
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def test_booleans_are_not_quantities() -> None:
    assert not is_quantity(True)
