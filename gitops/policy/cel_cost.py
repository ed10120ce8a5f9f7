"""cel-go's runtime cost, charged while the CEL library evaluates an expression natively.

The API server stops an evaluation once its *actual* cost passes ``PerCallLimit``
(cel-go's ``CostTracker``, ``interpreter/runtimecost.go``, with the Kubernetes
``library.CostEstimator``). The CEL library used here runs natively and counts nothing, so
:func:`instrument` rewrites the expression into an equivalent one that reports what
cel-go would charge, as it goes, to :func:`gitops.policy.cel_limits.charge`:

- fixed costs, summed per *unit* (a stretch of the expression that is evaluated whole):
  1 per identifier, field selection, index and call, 10 per list literal and 30 per map
  literal that is not constant (cel-go folds constant ones), 0 for constants, ``&&``,
  ``||``, ``?:`` and ``has()``. The right side of ``&&``/``||``, each branch of ``?:``
  and each comprehension step are units of their own, charged only when evaluated;
- every comprehension iteration, whatever the range (a field, a literal, ``split()``, a
  ``map()`` result, a ``+``): the steps of cel-go's macro expansion (``all``: 3 plus the
  predicate, ``exists``: 4, ``exists_one``: 1 plus 1 per match, ``map``: 12 plus the
  transform, ``filter``: 1, plus 12 per element kept), the loop stopping where cel-go's
  does (``all`` at the first false, ``exists`` at the first true);
- value-dependent costs, from the values: ``+`` on strings and bytes by the size of the
  result (0.1 per character), ``==``/``!=``/``<``... by the smaller operand, ``in`` a
  list by its size, ``contains``, ``startsWith``, ``endsWith`` and ``matches`` by their
  string and pattern sizes (the formulas of ``costCall``).

Each unit is written ``[E][_gitops_cost(K)]`` (E evaluated once, its value unchanged:
no value passes through Python, so ``uint`` stays ``uint``), each value-dependent
operation binds its operands once with a one-element ``map()``. The Kubernetes library
functions implemented in Python charge themselves (:mod:`gitops.policy.cel`).

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

from gitops.policy.cel_limits import (
    REGEX_LENGTH_FACTOR,
    STRING_TRAVERSAL_FACTOR,
    built,
    charge,
    step,
    steps_done,
)
from gitops.policy.cel_syntax import Node, StaticTypes, parse

__all__ = ["COST_FUNCTIONS", "instrument", "regex_cost", "traversal"]

#: cel-go's ``ListCreateBaseCost``, ``MapCreateBaseCost``, ``StructCreateBaseCost``.
_LIST, _MAP, _STRUCT = 10, 30, 40
#: Per iteration, what cel-go's expansion of each macro costs besides the predicate.
_STEP = {"all": 3, "exists": 4, "map": 12}
#: The loop condition of ``all`` and ``exists``, evaluated once more after an early stop.
_STOP = {"all": 2, "exists": 3}
#: The accumulator read at the end (``@result``; ``@result == 1`` for exists_one).
_RESULT = {"exists_one": 2}
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
_RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_SIZED = frozenset({"contains", "startsWith", "endsWith", "matches"})


def _size(value: Any) -> int:
    """cel-go's ``actualSize``: code points of a string, else the size computed natively."""
    return len(value) if isinstance(value, str) else int(value)


def traversal(size: int) -> int:
    """cel-go's cost of traversing ``size`` characters (rounded up)."""
    return math.ceil(size * STRING_TRAVERSAL_FACTOR)


def _cost(amount: int) -> bool:
    charge(amount)
    return True


def _index(amount: int) -> int:
    charge(amount)
    return 0


def _step(comprehension: int, amount: int) -> int:
    step(comprehension, amount)
    return 0


def _stop(comprehension: int, size: int, amount: int) -> int:
    # cel-go checks the loop condition once more before the element after the one that
    # decided the result: charged when the loop stopped before the end of its range.
    if steps_done(comprehension) < size:
        charge(amount)
    return 0


def _keep(comprehension: int, amount: int) -> int:
    step(comprehension, amount)
    return 0


def _chunks(value: Any) -> Any:
    """``value`` (a list, or a map's sorted keys) as a two-level tree of runs of ~n^(1/3) elements.

    The CEL library copies the list a ``map()`` or ``filter()`` builds at every element it
    keeps (quadratic: 4,000 elements took 2 s, 60,000 would take minutes), where cel-go
    runs in linear time up to the per-call limit (about 80,000 elements). Run over this
    tree (:meth:`_Emitter.macro`) each level keeps at most ~n^(1/3) elements of ~n^(2/3)
    at a time: about ``1.5 * n^(4/3)`` copies, 0.6 s for 80,000 elements. Anything else
    is returned as the one leaf, so the library reports its own error on it.
    """
    if isinstance(value, dict):
        # In key order: the library's own map order varies from run to run (a hash map),
        # cel-go's too (a Go map); this one is the same every time.
        value = sorted(value, key=lambda key: (type(key).__name__, key))
    if not isinstance(value, list):
        return [[value]]
    width = max(1, math.ceil(len(value) ** (1 / 3)))
    runs = [value[i : i + width] for i in range(0, len(value), width)]
    return [runs[i : i + width] for i in range(0, len(runs), width)]


def _flat(tree: list[list[list[Any]]]) -> list[Any]:
    """The results of a ``map()``/``filter()`` run over :func:`_chunks`, in order."""
    return [item for group in tree for run in group for item in run]


def _add(textual: bool, result: Any) -> int:
    # AddString/AddBytes (operands typed string or bytes): the size of both operands;
    # any other + costs 1, whatever it builds.
    size = _size(result)
    charge(traversal(size) if textual else 1)
    built(size)
    return 0


def _compare(left: Any, right: Any) -> int:
    charge(traversal(min(_size(left), _size(right))))
    return 0


def _in(size: int) -> int:
    charge(size)
    return 0


def _sized(function: str, text: Any, other: Any) -> int:
    text_size, other_size = _size(text), _size(other)
    if function in ("startsWith", "endsWith"):
        charge(traversal(text_size))
    elif function == "contains":
        charge(traversal(text_size) * traversal(other_size))
    else:
        charge(regex_cost(text_size, other_size))
    return 0


def regex_cost(text_size: int, pattern_size: int) -> int:
    """cel-go's ``matches`` cost (and Kubernetes' ``find``/``findAll``): the string plus
    one, times the pattern length over 4."""
    return math.ceil((1 + text_size) * STRING_TRAVERSAL_FACTOR) * math.ceil(
        pattern_size * REGEX_LENGTH_FACTOR
    )


#: The functions instrumented expressions call (bound in every activation).
COST_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "_gitops_cost": _cost,
    "_gitops_index": _index,
    "_gitops_add": _add,
    "_gitops_step": _step,
    "_gitops_stop": _stop,
    "_gitops_keep": _keep,
    "_gitops_chunks": _chunks,
    "_gitops_flat": _flat,
    "_gitops_compare": _compare,
    "_gitops_in": _in,
    "_gitops_sized": _sized,
}


def _size_of(text: str) -> str:
    """CEL for ``actualSize`` of ``text``'s value: a string itself, else its size or 1."""
    return (
        f"(type({text}) == string ? {text} : "
        f"(type({text}) in [bytes, list, map] ? size({text}) : 1))"
    )


def _is_attribute(node: Node) -> bool:
    return node.kind in ("ident", "select", "index")


class _Emitter(StaticTypes):
    """Writes the instrumented expression, summing fixed costs per unit."""

    def __init__(self, self_charging: frozenset[str]) -> None:
        super().__init__()
        self.self_charging = self_charging
        self.units: list[int] = []
        self.names: Iterator[int] = itertools.count()

    def unit(self, node: Node, extra: int = 0) -> str:
        self.units.append(extra)
        text = self.emit(node)
        cost = self.units.pop()
        return f"[{text}][_gitops_index({cost})]" if cost else text

    def spend(self, cost: int) -> None:
        self.units[-1] += cost

    def bind(self, values: list[str], body: Callable[[str], str]) -> str:
        """``body`` over ``values`` evaluated once each (``v[0]``, ``v[1]``...)."""
        name = f"__gitops_v{next(self.names)}__"
        return f"[[{', '.join(values)}]].map({name}, {body(name)})[0]"

    def emit(self, node: Node) -> str:
        kind = node.kind
        if kind == "const":
            return node.text
        if kind == "ident":
            self.spend(0 if node.name in _TYPE_NAMES else 1)
            return node.text
        if kind == "select":
            # A qualifier; on a value that is not itself an attribute (a call's result)
            # cel-go also charges the relative attribute it builds.
            self.spend(1 if _is_attribute(node.children[0]) else 2)
            # Written as an index, which means the same on the JSON maps admission
            # evaluates (same value, same errors): the library copies the whole selected
            # value on a field selection but not on an index (47 us against 0.5 us for
            # object.spec.template.spec.containers of a Deployment).
            return f"{self.emit(node.children[0])}['{node.name}']"
        if kind == "has":
            (inner,) = node.children
            if inner.kind != "select":
                return f"has({self.emit(inner)})"  # the library reports the error
            return f"has({self.emit(inner.children[0])}.{inner.name})"
        if kind == "index":
            self.spend(1 if _is_attribute(node.children[0]) else 2)
            return f"{self.emit(node.children[0])}[{self.emit(node.children[1])}]"
        if kind in ("list", "map", "struct"):
            return self.literal(node)
        if kind in ("and", "or"):
            operator = "&&" if kind == "and" else "||"
            return f"({self.emit(node.children[0])} {operator} {self.unit(node.children[1])})"
        if kind == "ternary":
            # cel-go plans a ternary as one conditional attribute: a branch that is an
            # attribute is resolved without the attribute's own cost, qualifiers only.
            condition, truthy, falsy = node.children
            first = self.unit(truthy, -1 if _is_attribute(truthy) else 0)
            second = self.unit(falsy, -1 if _is_attribute(falsy) else 0)
            return f"({self.emit(condition)} ? {first} : {second})"
        if kind == "macro":
            return self.macro(node)
        return self.call(node)

    def literal(self, node: Node) -> str:
        parts = [self.emit(child) for child in node.children]
        constant = all(child.kind == "const" for child in node.children)
        if node.kind == "list":
            self.spend(0 if constant else _LIST)
            return f"[{', '.join(parts)}]"
        pairs = ", ".join(f"{k}: {v}" for k, v in zip(parts[::2], parts[1::2], strict=True))
        if node.kind == "map":
            self.spend(0 if constant else _MAP)
            return f"{{{pairs}}}"
        self.spend(_STRUCT)
        return f"{node.name}{{{pairs}}}"

    def call(self, node: Node) -> str:
        name, children = node.name, node.children
        parts = [self.emit(child) for child in children]
        # An operator on dyn operands is dispatched at run time: cel-go's default cost 1.
        kinds = {self.type_of(child) for child in children} if len(children) == 2 else set()
        textual = bool(kinds & {"string", "bytes"})
        if name == "+" and len(parts) == 2:
            # Typed strings: cel-go's AddString cost (code points, so the value itself);
            # any +: its size against the memory bound (dyn + dyn costs 1 in cel-go).
            size = (
                "(type({v}[0]) == string ? {v}[0] : size({v}[0]))"
                if textual
                else "(type({v}[0]) in [string, bytes, list] ? size({v}[0]) : 0)"
            )
            return self.bind(
                [f"{parts[0]} + {parts[1]}"],
                lambda v: (
                    f"[{v}[0]][_gitops_add({'true' if textual else 'false'}, {size.format(v=v)})]"
                ),
            )
        if name in _RELATIONS and len(parts) == 2 and (textual or name in ("==", "!=")):
            return self.bind(
                parts,
                lambda v: (
                    f"[{v}[0] {name} {v}[1]][_gitops_compare("
                    f"{_size_of(v + '[0]')}, {_size_of(v + '[1]')})]"
                ),
            )
        if name == "in" and len(parts) == 2:
            right = children[1]
            if right.kind == "list" and all(c.kind == "const" for c in right.children):
                return f"({parts[0]} in {parts[1]})"  # a set lookup in cel-go: free
            if not self.type_of(right).startswith("list:"):
                self.spend(1)
                return f"({parts[0]} in {parts[1]})"
            return self.bind(
                parts,
                lambda v: (
                    f"[{v}[0] in {v}[1]][_gitops_in(type({v}[1]) == list ? size({v}[1]) : 1)]"
                ),
            )
        if name in _SIZED and len(parts) == 2:
            call = f"{{v}}[0].{name}({{v}}[1])" if node.target else f"{name}({{v}}[0], {{v}}[1])"
            return self.bind(
                parts,
                lambda v: (
                    f"[{call.format(v=v)}][_gitops_sized('{name}', "
                    f"{_size_of(v + '[0]')}, {_size_of(v + '[1]')})]"
                ),
            )
        if name not in self.self_charging:
            self.spend(1)
        if name in ("!", "-") and len(parts) == 1:
            return f"{name}({parts[0]})"
        if name in ("+", "-", "*", "/", "%", "<", "<=", ">", ">=") and len(parts) == 2:
            return f"({parts[0]} {name} {parts[1]})"
        if node.target:
            return f"{parts[0]}.{name}({', '.join(parts[1:])})"
        return f"{name}({', '.join(parts)})"

    def macro(self, node: Node) -> str:
        name, variable = node.name, node.text
        target = self.emit(node.children[0])
        self.spend(_RESULT.get(name, 1))
        with self.bound(node):
            if name == "exists_one":
                return f"{target}.{name}({variable}, {self.macro_body(node, 0)})"
            number = next(self.names)
            if name not in _STOP:
                # map()/filter() run over a tree of runs (see _chunks), results flattened.
                body = self.macro_body(node, number)
                group, run = f"__gitops_g{number}__", f"__gitops_r{number}__"
                return self.bind(
                    [target],
                    lambda r: (
                        f"[_gitops_flat(_gitops_chunks({r}[0]).map({group}, {group}.map("
                        f"{run}, {run}.{name}({variable}, {body}))))]"
                        f"[_gitops_stop({number}, 0, 0)]"
                    ),
                )
            self.units.append(_STEP[name])
            predicate = self.emit(node.children[1])
            cost = self.units.pop()
            body = f"[{predicate}][_gitops_step({number}, {cost})]"
            return self.bind(
                [target],
                lambda r: (
                    f"[{r}[0].{name}({variable}, {body})][_gitops_stop({number}, "
                    f"size({r}[0]), {_STOP[name]})]"
                ),
            )

    def macro_body(self, node: Node, number: int) -> str:
        name, body = node.name, node.children[1:]
        if name == "exists_one":
            return f"({self.unit(body[0])} ? _gitops_cost(2) : false)"
        if name == "map" and len(body) == 1:
            return f"[{self.unit(body[0])}][_gitops_keep({number}, {_STEP['map']})]"
        # filter(x, p), map(x, p, f): p ? @result + [...] : @result (the last is free)
        kept = 13 if name == "filter" else 12
        predicate = f"({self.unit(body[0])} ? _gitops_keep({number}, {kept}) == 0 : false)"
        if name == "filter":
            return predicate
        return f"{predicate}, {self.unit(body[1])}"


def instrument(source: str, self_charging: frozenset[str]) -> str:
    """``source`` rewritten to charge cel-go's runtime cost as it evaluates.

    Args:
        source: a CEL expression (optional syntax already rewritten).
        self_charging: functions implemented in Python that charge their own cost.

    Raises:
        SyntaxProblem: ``source`` is not CEL the parser reads.
    """
    return _Emitter(self_charging).unit(parse(source))
