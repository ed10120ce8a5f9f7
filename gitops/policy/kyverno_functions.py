"""Kyverno's JMESPath function library on top of the ``jmespath`` package.

The functions Kyverno adds to JMESPath (``pkg/engine/jmespath`` upstream; documented at
kyverno.io "JMESPath custom functions"), as a :class:`jmespath.functions.Functions`
subclass: the expression language stays the ``jmespath`` parser, only functions are
added. Semantics follow upstream: Go's RE2 regular expressions (Python ``re`` agrees on
the syntax policies use), ``strings.Trim`` cutsets, arithmetic on numbers, quantities and
durations with Go's results, ``semver_compare`` ranges of blang/semver.

Functions whose value depends on the moment of evaluation (``time_now``, ``random``) or on
the cluster (``lookup`` of resources, ``x509_decode``, ``image_normalize`` with registry
configuration) are not defined: an expression using them does not evaluate, and the rule
is refused by :mod:`gitops.policy.kyverno_features`.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fnmatch
import json
import posixpath
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

import yaml
from jmespath import functions  # type: ignore[import-untyped]  # no type hints shipped
from jmespath.exceptions import JMESPathError  # type: ignore[import-untyped]

from gitops.policy.kyverno_arithmetic import ArithmeticFailure, arithmetic
from gitops.policy.kyverno_semver import SemverRangeError, in_range
from gitops.policy.kyverno_units import format_duration, parse_duration

#: Functions this module adds; an expression calling another unknown function fails.
KYVERNO_FUNCTIONS = frozenset({
    "compare", "equal_fold", "replace", "replace_all", "to_upper", "to_lower", "trim",
    "trim_prefix", "split", "regex_replace_all", "regex_replace_all_literal", "regex_match",
    "pattern_match", "label_match", "to_boolean", "add", "sum", "subtract", "multiply",
    "divide", "modulo", "round", "base64_decode", "base64_encode", "time_since",
    "path_canonicalize", "truncate", "semver_compare", "parse_json", "parse_yaml", "lookup",
    "items", "object_from_lists", "time_to_cron", "time_add", "time_parse", "time_utc",
    "time_diff", "time_before", "time_after", "time_between", "time_truncate",
})  # fmt: skip

_STRING = {"types": ["string"]}
_NUMBER = {"types": ["number"]}
_ANY: dict[str, list[str]] = {"types": []}
_STRING_OR_NUMBER = {"types": ["string", "number"]}


_F = TypeVar("_F", bound=Callable[..., Any])


def _signature(*specs: dict[str, list[str]]) -> Callable[[_F], _F]:
    """``jmespath.functions.signature`` with its type (the package has no hints)."""
    return cast(Callable[[_F], _F], functions.signature(*specs))


class KyvernoFunctionError(JMESPathError):  # type: ignore[misc]  # base class is untyped
    """A Kyverno function refused its arguments (Kyverno's message)."""


def _error(name: str, detail: str) -> KyvernoFunctionError:
    return KyvernoFunctionError(f"JMESPath function '{name}': {detail}")


def go_string(value: Any) -> str:
    """Kyverno's ``ifaceToString``: numbers as Go prints float32, booleans lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(float(f"{number:.7g}"))
    if isinstance(value, str):
        return value
    raise KyvernoFunctionError("error, undefined type cast")


def wildcard_match(pattern: str, text: str) -> bool:
    """Kyverno's wildcard match: ``*`` any run, ``?`` one character, nothing else special."""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern == text
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


class KyvernoFunctions(functions.Functions):  # type: ignore[misc]  # base class is untyped
    """The standard JMESPath functions plus Kyverno's."""

    @_signature(_STRING, _STRING)
    def _func_compare(self, a: str, b: str) -> int:
        return (a > b) - (a < b)

    @_signature(_STRING, _STRING)
    def _func_equal_fold(self, a: str, b: str) -> bool:
        return a.casefold() == b.casefold()

    @_signature(_STRING, _STRING, _STRING, _NUMBER)
    def _func_replace(self, text: str, old: str, new: str, count: float) -> str:
        return text.replace(old, new, int(count))

    @_signature(_STRING, _STRING, _STRING)
    def _func_replace_all(self, text: str, old: str, new: str) -> str:
        return text.replace(old, new)

    @_signature(_STRING)
    def _func_to_upper(self, text: str) -> str:
        return text.upper()

    @_signature(_STRING)
    def _func_to_lower(self, text: str) -> str:
        return text.lower()

    @_signature(_STRING, _STRING)
    def _func_trim(self, text: str, cutset: str) -> str:
        return text.strip(cutset)

    @_signature(_STRING, _STRING)
    def _func_trim_prefix(self, text: str, prefix: str) -> str:
        return text[len(prefix) :] if prefix and text.startswith(prefix) else text

    @_signature(_STRING, _STRING)
    def _func_split(self, text: str, separator: str) -> list[str]:
        # Go's strings.Split with an empty separator splits into characters.
        return list(text) if separator == "" else text.split(separator)

    @_signature(_STRING, _STRING_OR_NUMBER, _STRING_OR_NUMBER)
    def _func_regex_replace_all(self, regex: str, source: Any, replacement: Any) -> str:
        # Go expands $1 / ${name}; Python wants \1 / \g<name>.
        template = re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", go_string(replacement))
        return _compile("regex_replace_all", regex).sub(template, go_string(source))

    @_signature(_STRING, _STRING_OR_NUMBER, _STRING_OR_NUMBER)
    def _func_regex_replace_all_literal(self, regex: str, source: Any, replacement: Any) -> str:
        literal = go_string(replacement)
        return _compile("regex_replace_all_literal", regex).sub(
            lambda _m: literal, go_string(source)
        )

    @_signature(_STRING, _STRING_OR_NUMBER)
    def _func_regex_match(self, regex: str, source: Any) -> bool:
        return _compile("regex_match", regex).search(go_string(source)) is not None

    @_signature(_STRING, _STRING_OR_NUMBER)
    def _func_pattern_match(self, pattern: str, source: Any) -> bool:
        return wildcard_match(pattern, go_string(source))

    @_signature({"types": ["object"]}, {"types": ["object"]})
    def _func_label_match(self, selector: dict[str, Any], labels: dict[str, Any]) -> bool:
        return all(key in labels and labels[key] == value for key, value in selector.items())

    @_signature(_STRING)
    def _func_to_boolean(self, text: str) -> bool:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _error("to_boolean", f"lowercase argument must be 'true' or 'false' "
                                   f"(provided: '{text}')")  # fmt: skip

    @_signature(_ANY, _ANY)
    def _func_add(self, a: Any, b: Any) -> Any:
        return _calc("add", a, b)

    @_signature({"types": ["array"]})
    def _func_sum(self, values: list[Any]) -> Any:
        if not values:
            raise _error("sum", "at least one element in the array is required")
        total = values[0]
        for value in values[1:]:
            total = _calc("sum", total, value)
        return total

    @_signature(_ANY, _ANY)
    def _func_subtract(self, a: Any, b: Any) -> Any:
        return _calc("subtract", a, b)

    @_signature(_ANY, _ANY)
    def _func_multiply(self, a: Any, b: Any) -> Any:
        return _calc("multiply", a, b)

    @_signature(_ANY, _ANY)
    def _func_divide(self, a: Any, b: Any) -> Any:
        return _calc("divide", a, b)

    @_signature(_ANY, _ANY)
    def _func_modulo(self, a: Any, b: Any) -> Any:
        return _calc("modulo", a, b)

    @_signature(_NUMBER, _NUMBER)
    def _func_round(self, value: float, places: float) -> float:
        if not float(places).is_integer():
            raise _error("round", "Non-integer argument(s) passed for round off")
        if places < 0:
            raise _error("round", "Argument(s) out of bounds")
        shift = 10 ** int(places)
        # Go's math.Round rounds half away from zero (Python's round() is banker's).
        scaled = abs(value) * shift
        rounded = int(scaled + 0.5) / shift
        return float(rounded if value >= 0 else -rounded)

    @_signature(_STRING)
    def _func_base64_decode(self, text: str) -> str:
        try:
            return base64.b64decode(text, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError) as err:
            raise _error("base64_decode", f"illegal base64 data: {err}") from err

    @_signature(_STRING)
    def _func_base64_encode(self, text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    @_signature(_STRING)
    def _func_path_canonicalize(self, path: str) -> str:
        return posixpath.normpath(path) if path else ""

    @_signature(_STRING, _NUMBER)
    def _func_truncate(self, text: str, length: float) -> str:
        return text[: max(0, int(length))]

    @_signature(_STRING, _STRING)
    def _func_semver_compare(self, version: str, expected: str) -> bool:
        try:
            return in_range(version, expected)
        except SemverRangeError as err:
            raise KyvernoFunctionError(str(err)) from err

    @_signature(_STRING)
    def _func_parse_json(self, text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as err:
            raise _error("parse_json", str(err)) from err

    @_signature(_STRING)
    def _func_parse_yaml(self, text: str) -> Any:
        try:
            return json.loads(json.dumps(yaml.safe_load(text)))
        except (yaml.YAMLError, TypeError, ValueError) as err:
            raise _error("parse_yaml", " ".join(str(err).split())) from err

    @_signature({"types": ["object", "array"]}, _STRING_OR_NUMBER)
    def _func_lookup(self, collection: Any, key: Any) -> Any:
        if isinstance(collection, dict):
            if not isinstance(key, str):
                raise _error("lookup", "2 argument is expected of String type")
            return collection.get(key)
        if not isinstance(key, (int, float)) or isinstance(key, bool):
            raise _error("lookup", "2 argument is expected of Number type")
        if not float(key).is_integer():
            raise _error("lookup", "argument #2: expected an integer number")
        index = int(key)
        return collection[index] if 0 <= index < len(collection) else None

    @_signature({"types": ["object", "array"]}, _STRING, _STRING)
    def _func_items(self, collection: Any, key_name: str, value_name: str) -> list[Any]:
        if isinstance(collection, dict):
            return [{key_name: k, value_name: collection[k]} for k in sorted(collection)]
        return [{key_name: float(i), value_name: v} for i, v in enumerate(collection)]

    @_signature({"types": ["array"]}, {"types": ["array"]})
    def _func_object_from_lists(self, keys: list[Any], values: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for index, key in enumerate(keys):
            try:
                name = go_string(key)
            except KyvernoFunctionError as err:
                raise _error("object_from_lists", "1 argument is expected of StringArray "
                                                  "type") from err  # fmt: skip
            out[name] = values[index] if index < len(values) else None
        return out

    @_signature(_STRING, _STRING, _STRING)
    def _func_time_since(self, layout: str, start: str, end: str) -> str:
        if not end:
            raise _error("time_since", "needs the current time, which render time does not have")
        first, second = _time(layout, start), _time(layout, end)
        return format_duration(_nanos(second - first))

    @_signature(_STRING)
    def _func_time_to_cron(self, text: str) -> str:
        moment = _time("", text)
        return (
            f"{moment.minute} {moment.hour} {moment.day} {moment.month} {moment.isoweekday() % 7}"
        )

    @_signature(_STRING, _STRING)
    def _func_time_add(self, text: str, duration: str) -> str:
        return _rfc3339(_time("", text) + dt.timedelta(microseconds=_duration(duration) / 1000))

    @_signature(_STRING, _STRING)
    def _func_time_parse(self, layout: str, text: str) -> str:
        return _rfc3339(_time(layout, text))

    @_signature(_STRING)
    def _func_time_utc(self, text: str) -> str:
        return _rfc3339(_time("", text).astimezone(dt.UTC))

    @_signature(_STRING, _STRING)
    def _func_time_diff(self, start: str, end: str) -> str:
        return format_duration(_nanos(_time("", end) - _time("", start)))

    @_signature(_STRING, _STRING)
    def _func_time_before(self, a: str, b: str) -> bool:
        return bool(_time("", a) < _time("", b))

    @_signature(_STRING, _STRING)
    def _func_time_after(self, a: str, b: str) -> bool:
        return bool(_time("", a) > _time("", b))

    @_signature(_STRING, _STRING, _STRING)
    def _func_time_between(self, text: str, start: str, end: str) -> bool:
        moment = _time("", text)
        return bool(_time("", start) < moment < _time("", end))

    @_signature(_STRING, _STRING)
    def _func_time_truncate(self, text: str, duration: str) -> str:
        moment, step = _time("", text), _duration(duration)
        if step <= 0:
            return _rfc3339(moment)
        epoch = dt.datetime(1, 1, 1, tzinfo=moment.tzinfo)  # Go truncates from the zero time
        offset = _nanos(moment - epoch)
        return _rfc3339(epoch + dt.timedelta(microseconds=(offset - offset % step) / 1000))


def _calc(name: str, a: Any, b: Any) -> Any:
    try:
        return arithmetic(name, a, b)
    except ArithmeticFailure as err:
        raise KyvernoFunctionError(str(err)) from err


def _compile(name: str, regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex)
    except re.error as err:
        raise _error(name, f"error parsing regexp: {err}") from err


_GO_LAYOUT = (("2006", "%Y"), ("01", "%m"), ("02", "%d"), ("15", "%H"), ("04", "%M"),
              ("05", "%S"), ("Jan", "%b"), ("Mon", "%a"), ("MST", "%Z"), ("-0700", "%z"),
              ("Z07:00", "%z"))  # fmt: skip


def _time(layout: str, text: str) -> dt.datetime:
    """Parse RFC 3339 (empty layout) or a Go reference-time layout."""
    try:
        if not layout or layout == "2006-01-02T15:04:05Z07:00":
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            pattern = layout
            for go, python in _GO_LAYOUT:
                pattern = pattern.replace(go, python)
            moment = dt.datetime.strptime(text, pattern)
    except ValueError as err:
        raise KyvernoFunctionError(f"parsing time {text!r}: {err}") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _rfc3339(moment: dt.datetime) -> str:
    text = moment.isoformat()
    return text.replace("+00:00", "Z")


def _nanos(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _duration(text: str) -> int:
    nanos = parse_duration(text)
    if nanos is None:
        raise KyvernoFunctionError(f"time: invalid duration {text!r}")
    return nanos
