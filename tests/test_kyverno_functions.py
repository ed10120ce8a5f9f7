"""Kyverno's JMESPath functions and unit arithmetic, against Kyverno's documented results."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops.policy.kyverno_units import (
    format_duration,
    format_quantity,
    parse_duration,
    parse_quantity_or_none,
)
from gitops.policy.kyverno_vars import VariableError, query

OBJECT = {
    "labels": {"app": "web", "tier": "front"},
    "image": "ghcr.io/org/app:v1.2.3",
    "name": "my-very-long-deployment-name",
    "containers": [{"name": "a"}, {"name": "b"}],
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("to_upper('abc')", "ABC"),
        ("to_lower('AbC')", "abc"),
        ("split('a/b/c', '/')", ["a", "b", "c"]),
        ("truncate(name, `7`)", "my-very"),
        ("truncate('ab', `-1`)", ""),
        ("regex_match('^ghcr\\.io/', image)", True),
        ("regex_match('^docker\\.io/', image)", False),
        ("regex_match('^[0-9]+$', `123`)", True),  # numbers are matched as text
        ("regex_replace_all('v([0-9])', 'v1 v2', 'x$1')", "x1 x2"),
        ("regex_replace_all_literal('v[0-9]', 'v1 v2', '$1')", "$1 $1"),
        ("pattern_match('ghcr.io/*', image)", True),
        ("pattern_match('app-?', 'app-12')", False),
        ('label_match(`{"app": "web"}`, labels)', True),
        ('label_match(`{"app": "db"}`, labels)', False),
        ("trim('--x--', '-')", "x"),
        ("trim_prefix('ghcr.io/x', 'ghcr.io/')", "x"),
        ("replace('aaa', 'a', 'b', `2`)", "bba"),
        ("replace_all('aaa', 'a', 'b')", "bbb"),
        ("equal_fold('ABC', 'abc')", True),
        ("compare('a', 'b')", -1),
        ("to_boolean('TrUe')", True),
        ("base64_encode('hello')", "aGVsbG8="),
        ("base64_decode('aGVsbG8=')", "hello"),
        ("path_canonicalize('/a//b/../c')", "/a/c"),
        ("semver_compare('1.2.3', '>=1.0.0 <2.0.0')", True),
        ("semver_compare('2.0.0-rc.1', '>=2.0.0')", False),  # a pre-release sorts first
        ("semver_compare('3.1.0', '<1.0.0 || 3.1.0')", True),
        (
            "items(labels, 'key', 'value')",
            [{"key": "app", "value": "web"}, {"key": "tier", "value": "front"}],
        ),
        ("items(`[\"x\"]`, 'i', 'v')", [{"i": 0.0, "v": "x"}]),
        ('object_from_lists(`["a", "b"]`, `[1]`)', {"a": 1, "b": None}),
        ("lookup(labels, 'app')", "web"),
        ("lookup(containers, `5`)", None),
        ("parse_json('{\"a\": [1]}')", {"a": [1]}),
        ("parse_yaml('a: [1, x]')", {"a": [1, "x"]}),
        ("add(`1`, `2`)", 3.0),
        ("add('1Gi', '512Mi')", "1536Mi"),
        ("add('1h', '30s')", "1h0m30s"),
        ("subtract('2', '500m')", "1500m"),
        ("multiply('250m', `4`)", "1"),
        ("multiply(`3`, '10s')", "30s"),
        ("divide('1Gi', '512Mi')", 2.0),
        ("divide('1h', `4`)", "15m0s"),
        ("modulo(`7`, `3`)", 1.0),
        ("modulo(`-7`, `3`)", -1.0),  # Go's % keeps the dividend's sign
        ("semver_compare('2.0.0', '>2.0.0-rc.1')", True),  # a release follows its pre-release
        ("modulo('7Gi', '2Gi')", "1Gi"),
        ("sum(['1', '2', '500m'])", "3500m"),
        ("round(`2.5`, `0`)", 3.0),  # half away from zero, as Go
        ("time_diff('2024-01-01T00:00:00Z', '2024-01-01T01:30:00Z')", "1h30m0s"),
        ("time_add('2024-01-01T00:00:00Z', '90m')", "2024-01-01T01:30:00Z"),
        ("time_before('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z')", True),
        (
            "time_between('2024-01-02T00:00:00Z', '2024-01-01T00:00:00Z', '2024-01-03T00:00:00Z')",
            True,
        ),
        ("time_to_cron('2024-03-05T14:30:00Z')", "30 14 5 3 2"),
    ],
)
def test_function_results_match_kyverno(expression: str, expected: Any) -> None:
    assert query(expression, OBJECT) == expected


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("divide(`1`, `0`)", "Zero divisor"),
        ("modulo(`1.5`, `1`)", "Non-integer"),
        ("add('1Gi', '1h')", "types mismatch"),
        ("add('1h', '30m')", "types mismatch"),  # 30m is a quantity (milli) to Kyverno too
        ("add('x', `1`)", "invalid operands"),
        ("to_boolean('yes')", "must be 'true' or 'false'"),
        ("regex_match('(', 'x')", "error parsing regexp"),
        ("base64_decode('!!')", "illegal base64"),
        ("no_such_function('x')", "no_such_function"),
        ("sum(`[]`)", "at least one element"),
        ("semver_compare('1.2.3', '>=x.y')", "Could not parse Range"),
        ("semver_compare('1.2.3', '||')", "Could not get version"),
    ],
)
def test_function_errors_are_variable_errors(expression: str, fragment: str) -> None:
    with pytest.raises(VariableError, match=fragment):
        query(expression, OBJECT)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_go_duration_strings_round_trip(nanos: int) -> None:
    assert parse_duration(format_duration(nanos)) == nanos


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("1h2m3.5s", 3_723_500_000_000),
        ("-300ms", -300_000_000),
        ("0", 0),
        ("1.5us", 1500),
        ("2h", 7_200_000_000_000),
    ],
)
def test_go_durations_parse(text: str, nanos: int) -> None:
    assert parse_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "1", "1x", "h", "1h-2m", "--1s"])
def test_non_durations_are_refused(text: str) -> None:
    assert parse_duration(text) is None


@given(
    st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(["DecimalSI", "BinarySI"])
)
def test_quantities_round_trip_by_value(milli: int, fmt: str) -> None:
    from fractions import Fraction

    value = Fraction(milli, 1000)
    assert parse_quantity_or_none(format_quantity(value, fmt)) == value
