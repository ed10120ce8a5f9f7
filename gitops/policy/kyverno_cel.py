"""Kyverno ``validate.cel`` rules, on the same CEL environment as ValidatingAdmissionPolicy.

Expressions see ``object`` (for an autogen rule, the controller's pod template as Kyverno
rewrites it), ``oldObject`` (null on CREATE), ``request``, ``namespaceObject``, ``params``
(null; ``paramKind`` is refused) and ``variables`` (each evaluated once, in order). Every
expression true passes; the first false fails with its ``message`` (or
``messageExpression``, or Kyverno's default text); an expression that errors makes the
rule's result ``error``.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops.core.keys import Manifest
from gitops.policy.cel import Activation, CelError, compile_expression
from gitops.policy.selectors import ObjectContext


def validate_cel(cel: Mapping[str, Any], target: Manifest,
                 context: ObjectContext) -> tuple[str, str]:  # fmt: skip
    """(result, message) of a ``validate.cel`` block on ``target``.

    Raises:
        PolicyError: an expression does not compile (naming it).
    """
    variables: dict[str, Any] = {}
    activation = Activation({**context.activation(), "object": target, "variables": variables})
    for index, entry in enumerate(cel.get("variables") or []):
        name = str(entry.get("name"))
        program = compile_expression(entry.get("expression"), f"validate.cel.variables[{index}]")
        try:
            variables[name] = program.run(activation)
        except CelError:
            continue  # a failing variable only matters to the expressions that use it
        activation.bind("variables", variables)
    for index, entry in enumerate(cel.get("expressions") or []):
        program = compile_expression(entry.get("expression"), f"validate.cel.expressions[{index}]")
        try:
            verdict = program.run(activation)
        except CelError as err:
            return "error", f"expression {program.source!r} failed: {err}"
        if verdict is True:
            continue
        if verdict is not False:
            return "error", f"expression {program.source!r} returned {verdict!r}, not a bool"
        return "fail", _message(entry, activation, program.source)
    return "pass", ""


def _message(entry: Mapping[str, Any], activation: Activation, source: str) -> str:
    if entry.get("messageExpression"):
        program = compile_expression(entry["messageExpression"], "validate.cel.messageExpression")
        try:
            text = program.run(activation)
            if isinstance(text, str) and text.strip():
                return " ".join(text.split())
        except CelError:
            pass  # the API server falls back to message too
    if entry.get("message"):
        return " ".join(str(entry["message"]).split())
    return f"failed expression: {source}"


def cel_preconditions_hold(conditions: list[Mapping[str, Any]], target: Manifest,
                           context: ObjectContext) -> bool | str:  # fmt: skip
    """Whether every ``celPreconditions`` entry holds; an error's text when one fails to run.

    Raises:
        PolicyError: an expression does not compile.
    """
    activation = Activation({**context.activation(), "object": target, "variables": {}})
    for index, entry in enumerate(conditions):
        program = compile_expression(entry.get("expression"), f"celPreconditions[{index}]")
        try:
            if program.run(activation) is not True:
                return False
        except CelError as err:
            return f"celPreconditions {entry.get('name', index)!r} failed: {err}"
    return True
