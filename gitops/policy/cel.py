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

from gitops.core.errors import PolicyError
from gitops.policy.cel_cost import COST_FUNCTIONS, instrument, regex_cost, traversal
from gitops.policy.cel_limits import (
    MAX_BUILT,
    PER_CALL_LIMIT,
    PER_CALL_MESSAGE,
    STRING_TRAVERSAL_FACTOR,
    Budget,
    BudgetExceeded,
    CostExceeded,
    charge,
    check_static,
    metered,
    regex,
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


def _traversal_cost(value: Any) -> int:
    """``traversalCost`` of the Kubernetes cost estimator: 0.1 per byte of a string
    (rounded down), the sum over a list's elements or a map's keys and values, else 1."""
    if isinstance(value, str):
        return int(len(value.encode()) * STRING_TRAVERSAL_FACTOR)
    if isinstance(value, bytes):
        return int(len(value) * STRING_TRAVERSAL_FACTOR)
    if isinstance(value, list):
        return sum(_traversal_cost(item) for item in value)
    if isinstance(value, Mapping):
        return sum(_traversal_cost(k) + _traversal_cost(v) for k, v in value.items())
    return 1


def _size(value: Any) -> int:
    """cel-go's ``actualSize``: code points of a string, elements of a list, else 1."""
    return len(value) if isinstance(value, (str, bytes, list, dict)) else 1


def _index_of(target: Any, item: Any, start: int = 0) -> int:
    charge(_traversal_cost(target))
    if isinstance(target, str):
        return target.find(item, start)
    return next((i for i, value in enumerate(target) if value == item), -1)


def _last_index_of(target: Any, item: Any) -> int:
    charge(_traversal_cost(target))
    if isinstance(target, str):
        return target.rfind(item)
    return max((i for i, value in enumerate(target) if value == item), default=-1)


def _sum(values: list[Any]) -> Any:
    charge(_traversal_cost(values))
    return sum(values)


def _min(values: list[Any]) -> Any:
    charge(_traversal_cost(values))
    if not values:
        raise ValueError("min() called on an empty list")
    return min(values)


def _max(values: list[Any]) -> Any:
    charge(_traversal_cost(values))
    if not values:
        raise ValueError("max() called on an empty list")
    return max(values)


def _is_sorted(values: list[Any]) -> bool:
    charge(_traversal_cost(values))
    return list(values) == sorted(values)


def _find(text: str, pattern: str) -> str:
    charge(regex_cost(_size(text), _size(pattern)))
    match = regex(pattern).search(text)
    return match.group(0) if match else ""


def _find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    charge(regex_cost(_size(text), _size(pattern)))
    found: list[str] = []
    for match in regex(pattern).finditer(text):
        if 0 <= limit <= len(found):
            break
        found.append(match.group(0))
    return found


def _substring(text: str, start: int, end: int | None = None) -> str:
    charge(traversal(_size(text)))
    end = len(text) if end is None else end
    if not 0 <= start <= end <= len(text):
        raise IndexError(f"substring({start}, {end}) out of range for length {len(text)}")
    return text[start:end]


def _split(text: str, separator: str, limit: int = -1) -> list[str]:
    # The traversal plus the construction of the result, as the Kubernetes estimator says.
    charge(traversal(2 * _size(text)))
    if limit == 0:
        return []
    return text.split(separator, limit - 1 if limit > 0 else -1)


def _replace(text: str, old: str, new: str, limit: int = -1) -> str:
    charge(traversal(2 * _size(text)))
    count = text.count(old) if old else len(text) + 1
    if limit >= 0:
        count = min(count, limit)
    # A memory bound, not a cost: the API server would build the result and charge only
    # the input; a result this large (over 10,000,000 characters) is refused before it is
    # built (eight chained replace() calls used 2.1 GB).
    if traversal(len(text) + count * (len(new) - len(old))) > PER_CALL_LIMIT:
        raise CostExceeded(PER_CALL_MESSAGE)
    return text.replace(old, new, limit)


def _join(values: list[str], separator: str = "") -> str:
    result = separator.join(values)
    charge(traversal(2 * _size(result)))
    return result


def _char_at(text: str, index: int) -> str:
    charge(1)  # no Kubernetes estimate: cel-go's default call cost
    return text[index] if index < len(text) else ""


def _charged(function: Callable[[str], str]) -> Callable[[str], str]:
    def run(text: str) -> str:
        charge(traversal(_size(text)))
        return function(text)

    return run


#: Kubernetes CEL library functions implemented on top of the library (member calls
#: ``x.f(a)`` arrive as ``f(x, a)``). Each charges its cost to the running evaluation
#: (:mod:`gitops.policy.cel_limits`).
KUBERNETES_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "charAt": _char_at,
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
_FUNCTIONS = {**KUBERNETES_FUNCTIONS, **OPTIONAL_FUNCTIONS, **COST_FUNCTIONS}


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
    """A compiled CEL expression, with the source kept for messages.

    What runs is the expression instrumented to charge cel-go's runtime cost
    (:func:`gitops.policy.cel_cost.instrument`).
    """

    def __init__(self, source: str, program: Any) -> None:
        self.source = source
        self._program = program

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
            try:
                return self._program.execute(activation._context)
            # The binding maps every CEL runtime error to a builtin exception type
            # (KeyError, TypeError, RuntimeError, ValueError, IndexError, ...).
            except Exception as err:
                # Raised inside a function, wrapped by Rust: the meter says which.
                if meter.call > PER_CALL_LIMIT or meter.built > MAX_BUILT:
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
    try:
        metered_source = instrument(rewrite(source), frozenset(_FUNCTIONS))
    except ValueError as err:  # SyntaxProblem: the library read it, our parser did not
        raise PolicyError(
            f"{owner}: CEL expression {source!r} uses syntax gitops check cannot meter "
            f"the cost of: {err}"
        ) from err
    return Program(source, _cel.compile(metered_source))


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."
