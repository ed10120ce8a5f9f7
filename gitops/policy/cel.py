"""CEL for admission policies: compile and evaluate with the Kubernetes library functions.

Every expression is bounded as the API server bounds it (size, depth, RE2 regular
expressions, per-call cost limit and per-policy runtime budget): see
:mod:`gitops.policy.cel_limits`.

Built on ``common-expression-language`` (module ``cel``, a Rust implementation): it
evaluates the guardrail expressions correctly and about 18 times faster than
``cel-python`` (see ``benchmarks/bench_policy.py``). Standard CEL comes from the library;
the Kubernetes ``strings``, ``lists`` and ``regex`` library functions the guardrails and
typical user policies use are implemented here. A function the API server would not know
is a compile error, as it is for the API server; a Kubernetes function not implemented
here (``quantity()``, ``url()``, ...) is a compile error that says so, never a silent pass.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from gitops.errors import PolicyError
from gitops.policy.cel_comprehensions import Comprehension, find_comprehensions, worst_case
from gitops.policy.cel_limits import (
    PER_CALL_LIMIT,
    PER_CALL_MESSAGE,
    Budget,
    BudgetExceeded,
    charge,
    check_static,
    metered,
    regex,
    regex_cost,
    string_cost,
    tokenize,
)

__all__ = [
    "Activation",
    "Budget",
    "BudgetExceeded",
    "CelError",
    "Program",
    "compile_expression",
]
from gitops.policy.cel_native import load as _load_cel
from gitops.policy.cel_optional import OPTIONAL_FUNCTIONS, rewrite

# The Rust extension alone: the package's __init__ also imports its REPL (see cel_native).
_cel = _load_cel()

#: Functions of standard CEL (and its macros) that the library implements.
STANDARD_FUNCTIONS = frozenset(
    {
        "size", "int", "uint", "double", "string", "bytes", "bool", "type", "dyn",
        "duration", "timestamp", "matches", "startsWith", "endsWith", "contains",
        "has", "all", "exists", "exists_one", "map", "filter",
        "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate",
        "getDayOfWeek", "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip

#: Identifiers an admission policy expression may reference (besides comprehension
#: variables).
ADMISSION_VARIABLES = frozenset(
    {"object", "oldObject", "request", "params", "namespaceObject", "variables", "authorizer"}
)
#: Type names, which CEL expressions may compare against (``type(x) == string``).
TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)

# The library logs every failing Python function as a warning, then raises it as a CEL
# error, which Program.run reports; its log line would repeat the error's text (which
# may quote a value) on stderr.
logging.getLogger("cel").setLevel(logging.ERROR)

_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


def _text_cost(text: Any) -> float:
    return string_cost(len(text)) if isinstance(text, str) else 1.0


def _index_of(target: Any, item: Any, start: int = 0) -> int:
    charge(_text_cost(target) if isinstance(target, str) else len(target))
    if isinstance(target, str):
        return target.find(item, start)
    return next((i for i, value in enumerate(target) if value == item), -1)


def _last_index_of(target: Any, item: Any) -> int:
    charge(_text_cost(target) if isinstance(target, str) else len(target))
    if isinstance(target, str):
        return target.rfind(item)
    return max((i for i, value in enumerate(target) if value == item), default=-1)


def _sum(values: list[Any]) -> Any:
    charge(len(values))
    return sum(values)


def _min(values: list[Any]) -> Any:
    charge(len(values))
    if not values:
        raise ValueError("min() called on an empty list")
    return min(values)


def _max(values: list[Any]) -> Any:
    charge(len(values))
    if not values:
        raise ValueError("max() called on an empty list")
    return max(values)


def _is_sorted(values: list[Any]) -> bool:
    charge(len(values))
    return list(values) == sorted(values)


def _find(text: str, pattern: str) -> str:
    charge(regex_cost(text, pattern))
    match = regex(pattern).search(text)
    return match.group(0) if match else ""


def _find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    charge(regex_cost(text, pattern))
    found: list[str] = []
    for match in regex(pattern).finditer(text):
        if 0 <= limit <= len(found):
            break
        found.append(match.group(0))
    return found


def _substring(text: str, start: int, end: int | None = None) -> str:
    charge(_text_cost(text))
    end = len(text) if end is None else end
    if not 0 <= start <= end <= len(text):
        raise IndexError(f"substring({start}, {end}) out of range for length {len(text)}")
    return text[start:end]


def _split(text: str, separator: str, limit: int = -1) -> list[str]:
    # The result holds every character of the text again, plus one entry per part.
    charge(2 * _text_cost(text) + (text.count(separator) if separator else len(text)))
    if limit == 0:
        return []
    return text.split(separator, limit - 1 if limit > 0 else -1)


def _replace(text: str, old: str, new: str, limit: int = -1) -> str:
    count = text.count(old) if old else len(text) + 1
    if limit >= 0:
        count = min(count, limit)
    # Charged for the result before it is built: eight chained replace() calls each
    # multiplying the text used 2.1 GB; the per-call limit now stops the chain first.
    charge(_text_cost(text) + string_cost(len(text) + count * (len(new) - len(old))))
    return text.replace(old, new, limit)


def _join(values: list[str], separator: str = "") -> str:
    charge(sum(string_cost(len(v)) for v in values) + string_cost(len(separator) * len(values)))
    return separator.join(values)


def _charged(function: Callable[[str], str]) -> Callable[[str], str]:
    def run(text: str) -> str:
        charge(2 * _text_cost(text))
        return function(text)

    return run


#: Kubernetes CEL library functions implemented on top of the library (member calls
#: ``x.f(a)`` arrive as ``f(x, a)``). Each charges its cost to the running evaluation
#: (:mod:`gitops.policy.cel_limits`).
KUBERNETES_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "charAt": lambda text, index: text[index] if index < len(text) else "",
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": _charged(lambda text: text.lower()),
    "upperAscii": _charged(lambda text: text.upper()),
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": _charged(lambda text: text.strip()),
    "join": _join,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "isSorted": _is_sorted,
    "find": _find,
    "findAll": _find_all,
}


#: Every function an Activation provides: Kubernetes' and the optional-type helpers.
_FUNCTIONS = {**KUBERNETES_FUNCTIONS, **OPTIONAL_FUNCTIONS}


class CelError(Exception):
    """An expression failed at evaluation (a missing field, a type error, ...)."""


class Activation:
    """Variables bound once for many evaluations.

    Binding converts Python values into CEL values, which costs more than evaluating a
    typical guardrail expression; one activation per object is shared by every policy.
    """

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.values: dict[str, Any] = dict(variables)
        self._context = _cel.Context(variables=dict(variables), functions=_FUNCTIONS)

    def bind(self, name: str, value: Any) -> None:
        """Bind (or rebind) one variable."""
        self.values[name] = value
        self._context.add_variable(name, value)


class Program:
    """A compiled CEL expression, with the source kept for messages."""

    def __init__(
        self, source: str, program: Any, comprehensions: list[Comprehension] | None = None
    ) -> None:
        self.source = source
        self._program = program
        self._comprehensions = comprehensions or []

    def run(self, activation: Activation, budget: Budget | None = None) -> Any:
        """Evaluate with the variables of ``activation``, within the API server's cost limits.

        Args:
            activation: the variables.
            budget: the runtime budget of the policy evaluation this belongs to (one
                object through one binding); None: only the per-call limit applies.

        Raises:
            CelError: the expression failed on these values (message from the library),
                or passed the per-call limit (:data:`cel_limits.PER_CALL_MESSAGE`).
            BudgetExceeded: ``budget`` is spent (:data:`cel_limits.BUDGET_MESSAGE`).
        """
        scope = budget.metered() if budget is not None else metered()
        with scope as meter:
            if self._comprehensions:
                # Macros run natively, unmetered: their worst case on these values is
                # charged before they run (at least 1 per iteration, as cel-go charges).
                meter.call += worst_case(self._comprehensions, activation.values, PER_CALL_LIMIT)
                if meter.call > PER_CALL_LIMIT:
                    raise CelError(PER_CALL_MESSAGE)
            try:
                return self._program.execute(activation._context)
            # The binding maps every CEL runtime error to a builtin exception type
            # (KeyError, TypeError, RuntimeError, ValueError, IndexError, ...).
            except Exception as err:
                if meter.call > PER_CALL_LIMIT:  # raised inside a function, wrapped by Rust
                    raise CelError(PER_CALL_MESSAGE) from err
                raise CelError(_one_line(err)) from err


def compile_expression(source: object, owner: str) -> Program:
    """Compile ``source`` as an admission policy expression.

    Args:
        source: the CEL text.
        owner: what holds the expression, for error messages (policy and field).

    Raises:
        PolicyError: the expression does not parse, or references an unknown variable or
            a function neither standard CEL nor implemented here.
    """
    if not isinstance(source, str) or not source.strip():
        shown = source if not isinstance(source, str) else ""
        raise PolicyError(f"{owner}: expression must be a non-empty string, got {shown!r}")
    return _compile(source, owner)


@lru_cache(maxsize=4096)
def _compile(source: str, owner: str) -> Program:
    # Size, depth and literal regexes first: the library's parser must never see input
    # the API server would refuse (deep input overflows its native stack). Inside the
    # cache: the token scan cost more than evaluating (11% of a render), and a refusal
    # raises, so it is never cached and is raised again on every call.
    check_static(source, owner)
    try:
        # Optional syntax (x.?y, m[?k]) is Kubernetes CEL the library does not parse.
        program = _cel.compile(rewrite(source))
    except Exception as err:  # the binding raises ValueError for parse errors
        if "unsupported syntax" in str(err):
            # Optional field syntax (x.?y) parses in the API server but not in the library.
            raise PolicyError(
                f"{owner}: CEL expression {source!r} uses syntax gitops check does not "
                f"support yet (the API server may accept it): {_one_line(err)}"
            ) from err
        raise PolicyError(
            f"{owner}: CEL expression {source!r} does not compile: {_one_line(err)}"
        ) from err
    references = program.references()
    bound = set(_BOUND.findall(source))
    for name in references["variables"]:
        if name not in ADMISSION_VARIABLES and name not in TYPE_NAMES and name not in bound:
            raise PolicyError(
                f"{owner}: CEL expression {source!r} does not compile: undeclared reference "
                f"to {name!r}"
            )
    for name in references["functions"]:
        if name[:1] in "_@!-" or name in STANDARD_FUNCTIONS or name in KUBERNETES_FUNCTIONS:
            continue
        raise PolicyError(
            f"{owner}: CEL expression {source!r} does not compile: function {name!r} is "
            "neither standard CEL nor a Kubernetes library function gitops check implements"
        )
    return Program(source, program, find_comprehensions(tokenize(source)))


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."
