"""The bounds the API server puts on CEL, applied before and while an expression runs.

Numbers are the Kubernetes ones, so an expression is refused here exactly when the API
server would refuse it (or stops where the server would stop it):

- :data:`MAX_EXPRESSION_CODE_POINTS` and :data:`MAX_RECURSION_DEPTH` are cel-go's parser
  defaults (``ExpressionSizeCodePointLimit`` 100,000, ``MaxRecursionDepth`` 250), which
  the API server's CEL environment keeps. They are checked on our own token scan *before*
  the expression reaches the CEL library, whose parser overflows the native stack on deep
  input (15,000 ``+`` terms killed the process with SIGSEGV).
- :data:`PER_CALL_LIMIT` (1,000,000) and :data:`RUNTIME_COST_BUDGET` (10,000,000) are
  ``PerCallLimit`` and ``RuntimeCELCostBudget`` of ``k8s.io/apiserver/pkg/apis/cel/
  config.go``: the cost one expression evaluation may use, and the cost one policy may use
  for one object through one binding. Exceeding them fails with the API server's words
  (:data:`PER_CALL_MESSAGE`, :data:`BUDGET_MESSAGE`).
- Regular expressions are RE2 (``google-re2``), as in cel-go: linear time, and a pattern
  RE2 rejects (lookarounds, backreferences) is a compile error when it is a literal.

Costs are charged by the Kubernetes library functions implemented in Python (strings,
lists, regex), with the traversal factors of the Kubernetes cost model (0.1 per string
character, regex cost growing with pattern length); a function whose result would exceed
the per-call limit is refused *before* the result is built, so a chain of ``replace()``
calls stays bounded in memory.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import re2

from gitops.core.errors import PolicyError

#: cel-go's default ``ExpressionSizeCodePointLimit``, kept by the API server.
MAX_EXPRESSION_CODE_POINTS = 100_000
#: cel-go's default parser ``MaxRecursionDepth``, kept by the API server.
MAX_RECURSION_DEPTH = 250
#: ``PerCallLimit`` of k8s.io/apiserver/pkg/apis/cel/config.go ("roughly 0.1 second").
PER_CALL_LIMIT = 1_000_000
#: ``RuntimeCELCostBudget`` of k8s.io/apiserver/pkg/apis/cel/config.go: per policy,
#: binding and object ("roughly 1 second").
RUNTIME_COST_BUDGET = 10_000_000
#: Characters (or list elements) one evaluation may build with ``+``: what the per-call
#: limit allows when cel-go charges concatenation (0.1 per character).
MAX_BUILT = 10 * PER_CALL_LIMIT
#: cel-go's error when an evaluation passes the per-call limit.
PER_CALL_MESSAGE = "operation cancelled: actual cost limit exceeded"
#: The API server's error when a policy's evaluations pass the runtime budget.
BUDGET_MESSAGE = (
    "validation failed due to running out of cost budget, no further validation rules will be run"
)
#: cel-go's cost factor per character traversed (``common.StringTraversalCostFactor``).
STRING_TRAVERSAL_FACTOR = 0.1
#: The Kubernetes cost factor per regex pattern character (``RegexStringLengthCostFactor``).
REGEX_LENGTH_FACTOR = 0.25

#: Operators CEL's grammar repeats in a loop rather than by recursion.
_LOOPED = frozenset({"&&", "||", ":"})
_REGEX_FUNCTIONS = frozenset({"matches", "find", "findAll"})
_OPERATORS = ("&&", "||", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">", "?", ":", "!")


class CostExceeded(Exception):
    """An evaluation went past the per-call limit (message: :data:`PER_CALL_MESSAGE`)."""


class BudgetExceeded(Exception):
    """A policy's evaluations on one object went past :data:`RUNTIME_COST_BUDGET`."""


@dataclass
class _Meter:
    """The cost spent by the evaluation under way, and by its policy so far."""

    call: int = 0
    budget_left: int = RUNTIME_COST_BUDGET
    #: Characters and elements built by ``+`` so far (:func:`built`).
    built: int = 0
    #: Iterations run so far by each ``all``/``exists`` under way (by its number).
    steps: dict[int, int] = field(default_factory=dict)


_METER: contextvars.ContextVar[_Meter | None] = contextvars.ContextVar("cel_meter", default=None)


def charge(cost: float) -> None:
    """Add ``cost`` to the running evaluation; raise once it passes :data:`PER_CALL_LIMIT`.

    Raises:
        CostExceeded: the evaluation's cost would pass the per-call limit.
    """
    meter = _METER.get()
    if meter is None:
        return
    meter.call += math.ceil(cost)
    if meter.call > PER_CALL_LIMIT:
        raise CostExceeded(PER_CALL_MESSAGE)


def built(size: int) -> None:
    """Count ``size`` elements or characters built by ``+``; past :data:`MAX_BUILT`, stop.

    A memory bound, not a cost: cel-go charges 1 for ``+`` on operands it only knows
    at run time (``object.data.a + object.data.b``), whatever their size, so a
    comprehension concatenating fields could build gigabytes under the cost limit.

    Raises:
        CostExceeded: the evaluation built more than :data:`MAX_BUILT` with ``+``.
    """
    meter = _METER.get()
    if meter is None:
        return
    meter.built += size
    if meter.built > MAX_BUILT:
        raise CostExceeded(PER_CALL_MESSAGE)


def step(comprehension: int, cost: int) -> None:
    """Charge one iteration of comprehension number ``comprehension`` and count it."""
    meter = _METER.get()
    if meter is not None:
        meter.steps[comprehension] = meter.steps.get(comprehension, 0) + 1
    charge(cost)


def steps_so_far(comprehension: int) -> int:
    """The iterations comprehension number ``comprehension`` counted so far."""
    meter = _METER.get()
    return 0 if meter is None else meter.steps.get(comprehension, 0)


def steps_done(comprehension: int) -> int:
    """The iterations comprehension number ``comprehension`` ran (and forget them)."""
    meter = _METER.get()
    return 0 if meter is None else meter.steps.pop(comprehension, 0)


def string_cost(length: int) -> float:
    """The cost of traversing (or building) a string of ``length`` characters."""
    return STRING_TRAVERSAL_FACTOR * length


class Budget:
    """The runtime budget of one policy evaluation (one object, one binding).

    Every :meth:`run` charges the budget with what its evaluation cost; once spent,
    :class:`BudgetExceeded` is raised, as the API server stops with
    :data:`BUDGET_MESSAGE`.
    """

    def __init__(self, total: int = RUNTIME_COST_BUDGET) -> None:
        self._left = total

    @property
    def left(self) -> int:
        """The cost still available."""
        return self._left

    def metered(self) -> _Scope:
        """A context for one evaluation: charges go to it and, when it ends, to the budget."""
        return _Scope(self)

    def spend(self, cost: int) -> None:
        """Spend ``cost``; raise :class:`BudgetExceeded` past the budget."""
        self._left -= cost
        if self._left < 0:
            raise BudgetExceeded(BUDGET_MESSAGE)


class _Scope:
    def __init__(self, budget: Budget | None) -> None:
        self._budget = budget
        self._meter = _Meter()
        self._token: contextvars.Token[_Meter | None] | None = None

    def __enter__(self) -> _Meter:
        self._token = _METER.set(self._meter)
        return self._meter

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _METER.reset(self._token)
        if self._budget is not None:
            self._budget.spend(self._meter.call)


def metered() -> _Scope:
    """A context metering one evaluation outside any policy budget (per-call limit only)."""
    return _Scope(None)


# -- RE2 -------------------------------------------------------------------------------------

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # errors become CEL errors, not lines on stderr


@lru_cache(maxsize=1024)
def regex(pattern: str) -> Any:
    """Compile ``pattern`` with RE2 (cached).

    Raises:
        ValueError: RE2 rejects the pattern (a lookaround, a backreference, ...).
    """
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as err:
        raise ValueError(f"invalid regular expression {pattern!r}: {err}") from None


def regex_cost(text: str, pattern: str) -> float:
    """The Kubernetes cost of matching ``pattern`` over ``text``."""
    return max(1.0, string_cost(len(text))) * max(1.0, REGEX_LENGTH_FACTOR * len(pattern))


# -- bounds checked before the library parses ------------------------------------------------


def check_static(source: str, owner: str) -> None:
    """Refuse an expression the API server would refuse before evaluating it.

    Checked on a token scan of our own, so that nothing oversized or too deep reaches
    the CEL library's parser: the size in code points, the nesting depth (brackets plus
    chained operators, an upper bound of the parser's recursion), and every literal
    regular expression given to ``matches``, ``find`` or ``findAll`` (RE2 syntax).

    Raises:
        PolicyError: over a limit, or a literal pattern RE2 rejects (owner named).
    """
    if len(source) > MAX_EXPRESSION_CODE_POINTS:
        raise PolicyError(
            f"{owner}: CEL expression does not compile: expression code point size exceeds "
            f"limit: size: {len(source)}, limit {MAX_EXPRESSION_CODE_POINTS}"
        )
    tokens = list(_tokens(source, owner))
    depth = _depth(tokens)
    if depth > MAX_RECURSION_DEPTH:
        raise PolicyError(
            f"{owner}: CEL expression {_short(source)} does not compile: expression recursion "
            f"limit exceeded: {MAX_RECURSION_DEPTH}"
        )
    for index, (kind, text) in enumerate(tokens):
        if kind != "ident" or text not in _REGEX_FUNCTIONS:
            continue
        pattern = _pattern_argument(tokens, index)
        if pattern is not None:
            try:
                regex(pattern)
            except ValueError as err:
                raise PolicyError(
                    f"{owner}: CEL expression {_short(source)} does not compile: {err}"
                ) from None


def _pattern_argument(tokens: list[tuple[str, str]], index: int) -> str | None:
    """The literal pattern of the regex call at ``tokens[index]``, if it is a literal.

    ``x.f('re')`` has the pattern as its first argument, ``matches(x, 're')`` as its
    second (after the first top-level comma).
    """
    if tokens[index + 1 : index + 2] != [("punct", "(")]:
        return None
    position = index + 2
    if index == 0 or tokens[index - 1] != ("punct", "."):
        level = 0
        while position < len(tokens):
            kind, text = tokens[position]
            position += 1
            if kind == "punct" and text in "([{":
                level += 1
            elif kind == "punct" and text in ")]}":
                if level == 0:
                    return None
                level -= 1
            elif kind == "punct" and text == "," and level == 0:
                break
    if position < len(tokens) and tokens[position][0] == "string":
        return tokens[position][1]
    return None


def tokenize(source: str) -> list[tuple[str, str]]:
    """The tokens of ``source`` as ``(kind, text)`` (see :func:`check_static`)."""
    return list(_tokens(source, ""))


def _short(source: str) -> str:
    return repr(source) if len(source) <= 200 else repr(source[:197] + "...")


def _depth(tokens: list[tuple[str, str]]) -> int:
    """An upper bound of the parse depth: open brackets, plus operators chained at each level.

    ``a + b + c`` nests as ``(a + b) + c``, so every binary operator of a chain adds a
    level; a comma starts a new operand and a closing bracket ends its level's chain.
    ``&&``, ``||`` and ``:`` chains are loops in CEL's grammar, not recursion.
    """
    deepest = 0
    chains = [0]
    for kind, text in tokens:
        if kind == "punct" and text in "([{":
            chains.append(0)
        elif kind == "punct" and text in ")]}":
            if len(chains) > 1:
                chains.pop()
        elif kind == "punct" and text == ",":
            chains[-1] = 0
        elif (kind == "op" and text not in _LOOPED) or (kind == "punct" and text == "."):
            chains[-1] += 1
        deepest = max(deepest, len(chains) - 1 + chains[-1])
    return deepest


def _tokens(source: str, owner: str) -> Iterator[tuple[str, str]]:
    """CEL tokens as ``(kind, text)``; string literals give their decoded value."""
    for kind, text, _start, _end in spans(source, owner):
        yield kind, text


def spans(source: str, owner: str = "") -> Iterator[tuple[str, str, int, int]]:
    """CEL tokens as ``(kind, text, start, end)``, ``end`` exclusive, in ``source``.

    Only as precise as the bounds and the cost instrumentation need: identifiers, numbers,
    strings (quotes, raw and triple-quoted, escapes; ``text`` is the decoded value),
    brackets, ``.``/``,`` and operators. A character no token starts with is skipped (the
    CEL library reports the syntax error with its position).
    """
    index, end = 0, len(source)
    while index < end:
        char = source[index]
        start = index
        if char.isspace():
            index += 1
        elif char.isalpha() or char == "_":
            while index < end and (source[index].isalnum() or source[index] == "_"):
                index += 1
            word = source[start:index]
            if word.lower() in ("r", "b", "rb", "br") and index < end and source[index] in "'\"":
                value, index = _string(source, index, owner, raw="r" in word.lower())
                yield "string", value, start, index
            else:
                yield "ident", word, start, index
        elif char.isdigit():
            while index < end and (source[index].isalnum() or source[index] in "._"):
                if source[index] == "." and not source[index + 1 : index + 2].isdigit():
                    break
                index += 1
            yield "number", source[start:index], start, index
        elif char in "'\"":
            value, index = _string(source, index, owner, raw=False)
            yield "string", value, start, index
        elif char in "()[]{}.,":
            index += 1
            yield "punct", char, start, index
        else:
            for operator in _OPERATORS:
                if source.startswith(operator, index):
                    index += len(operator)
                    yield "op", operator, start, index
                    break
            else:
                index += 1


def _string(source: str, index: int, owner: str, *, raw: bool) -> tuple[str, int]:
    quote = source[index] * 3 if source.startswith(source[index] * 3, index) else source[index]
    index += len(quote)
    out: list[str] = []
    while index < len(source):
        if source.startswith(quote, index):
            return "".join(out), index + len(quote)
        char = source[index]
        if char == "\\" and not raw and index + 1 < len(source):
            escaped = source[index + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}.get(
                escaped, "\\" + escaped
            ))  # fmt: skip
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out), index  # unterminated: the CEL library reports it
