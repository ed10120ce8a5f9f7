"""A CEL syntax tree of our own, for the cost instrumentation (:mod:`gitops.policy.cel_cost`).

The CEL library evaluates expressions natively and exposes no syntax tree, so the parts of
an expression that cel-go charges (every identifier, selection, call, literal list and
map, each comprehension iteration, each ``+``) are found here: a recursive-descent parser
of CEL's grammar over the tokens of :func:`gitops.policy.cel_limits.spans`. Leaves keep
their span in the source, so the instrumented text repeats literals byte for byte.

Parsed after :func:`gitops.policy.cel_limits.check_static` (size, depth) and the optional
syntax rewrite, so recursion stays within the 250 levels cel-go allows.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitops.policy.cel_limits import spans

#: Macros of standard CEL (receiver-style comprehensions) and ``has``.
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_RELATIONS = frozenset({"<", "<=", ">", ">=", "==", "!=", "in"})


class SyntaxProblem(ValueError):
    """The expression is not CEL this parser reads (the library reports its own error)."""


@dataclass
class Node:
    """One node: ``kind`` is const, ident, select, index, call, list, map, struct,
    ternary, and, or, macro or has; ``name`` the operator, function, field or macro."""

    kind: str
    name: str = ""
    children: list[Node] = field(default_factory=list)
    text: str = ""  # leaves: their source text
    target: bool = False  # call: children[0] is the receiver of a member call


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = [
            (kind, value, source[start:end]) for kind, value, start, end in spans(source)
        ]
        self.position = 0

    def peek(self, offset: int = 0) -> tuple[str, str, str]:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else ("eof", "", "")

    def take(self) -> tuple[str, str, str]:
        token = self.peek()
        self.position += 1
        return token

    def expect(self, text: str) -> None:
        if self.take()[2] != text:
            raise SyntaxProblem(f"expected {text!r}")

    def at(self, text: str) -> bool:
        kind, _, raw = self.peek()
        return kind in ("punct", "op") and raw == text

    def expression(self) -> Node:
        condition = self.binary(0)
        if self.at("?"):
            self.take()
            truthy = self.binary(0)
            self.expect(":")
            return Node("ternary", children=[condition, truthy, self.expression()])
        return condition

    _LEVELS: tuple[frozenset[str], ...] = (
        frozenset({"||"}),
        frozenset({"&&"}),
        _RELATIONS,
        frozenset({"+", "-"}),
        frozenset({"*", "/", "%"}),
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        operators = self._LEVELS[level]
        while True:
            kind, _, raw = self.peek()
            if raw not in operators or kind not in ("op", "ident"):
                return node
            self.take()
            right = self.binary(level + 1)
            kind_name = {"||": "or", "&&": "and"}.get(raw, "call")
            node = Node(kind_name, raw, [node, right])

    def unary(self) -> Node:
        if self.at("!") or self.at("-"):
            operator = self.take()[2]
            operand = self.unary()
            if operator == "-" and operand.kind == "const":
                return Node("const", text="-" + operand.text)
            return Node("call", operator, [operand])
        return self.member(self.primary())

    def member(self, node: Node) -> Node:
        while True:
            if self.at("."):
                self.take()
                kind, name, _ = self.take()
                if kind != "ident":
                    raise SyntaxProblem("expected a field name")
                if self.at("("):
                    node = self.call(name, node)
                else:
                    node = Node("select", name, [node])
            elif self.at("["):
                self.take()
                index = self.expression()
                self.expect("]")
                node = Node("index", "[]", [node, index])
            else:
                return node

    def call(self, name: str, target: Node | None) -> Node:
        self.expect("(")
        if (
            target is not None
            and name in MACROS
            and self.peek()[0] == "ident"
            and (self.peek(1)[2] == ",")
        ):
            variable = self.take()[1]
            self.expect(",")
            body = self.arguments(")")
            if not 1 <= len(body) <= 2 or (len(body) == 2 and name != "map"):
                raise SyntaxProblem(f"unexpected arguments of {name}")
            return Node("macro", name, [target, *body], text=variable)
        arguments = self.arguments(")")
        if target is None and name == "has" and len(arguments) == 1:
            return Node("has", children=arguments)
        if target is None:
            return Node("call", name, arguments)
        return Node("call", name, [target, *arguments], target=True)

    def arguments(self, closing: str) -> list[Node]:
        out: list[Node] = []
        while not self.at(closing):
            out.append(self.expression())
            if not self.at(","):
                break
            self.take()
        self.expect(closing)
        return out

    def primary(self) -> Node:
        kind, value, raw = self.take()
        if kind in ("number", "string") or (kind == "ident" and value in ("true", "false", "null")):
            return Node("const", text=raw)
        if kind == "ident":
            if self.at("("):
                return self.call(value, None)
            if self.at("{"):
                return self.struct(value)
            return Node("ident", value, text=raw)
        if raw == ".":  # a leading dot: the root scope (".object")
            kind, value, raw = self.take()
            if kind != "ident":
                raise SyntaxProblem("expected a name after '.'")
            return Node("ident", value, text="." + raw)
        if raw == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if raw == "[":
            return Node("list", children=self.arguments("]"))
        if raw == "{":
            entries: list[Node] = []
            while not self.at("}"):
                entries.append(self.expression())
                self.expect(":")
                entries.append(self.expression())
                if not self.at(","):
                    break
                self.take()
            self.expect("}")
            return Node("map", children=entries)
        raise SyntaxProblem(f"unexpected {raw or 'end of expression'!r}")

    def struct(self, name: str) -> Node:
        self.expect("{")
        entries: list[Node] = []
        while not self.at("}"):
            kind, _name, raw = self.take()
            if kind != "ident":
                raise SyntaxProblem("expected a field name")
            self.expect(":")
            entries.append(Node("const", text=raw))
            entries.append(self.expression())
            if not self.at(","):
                break
            self.take()
        self.expect("}")
        return Node("struct", name, entries)


def parse(source: str) -> Node:
    """The syntax tree of ``source``.

    Raises:
        SyntaxProblem: not an expression this parser reads.
    """
    parser = _Parser(source)
    node = parser.expression()
    if parser.peek()[0] != "eof":
        raise SyntaxProblem(f"unexpected {parser.peek()[2]!r}")
    return node


#: Functions whose result type the checker knows whatever their arguments.
_RETURNS = {
    **dict.fromkeys(
        ("lowerAscii", "upperAscii", "replace", "trim", "substring", "charAt", "join", "string",
         "find", "format"), "string"),
    **dict.fromkeys(("split", "findAll"), "list:string"),
    **dict.fromkeys(("size", "int", "indexOf", "lastIndexOf"), "int"),
}  # fmt: skip


class _Bound:
    def __init__(self, scope: dict[str, str], name: str, kind: str) -> None:
        self.scope, self.name, self.kind = scope, name, kind
        self.saved: str | None = None

    def __enter__(self) -> None:
        self.saved = self.scope.get(self.name)
        self.scope[self.name] = self.kind

    def __exit__(self, *exc: object) -> None:
        if self.saved is None:
            self.scope.pop(self.name, None)
        else:
            self.scope[self.name] = self.saved


class StaticTypes:
    """The types cel-go's checker gives nodes, as far as the cost of a call depends on them.

    Strings are ``"string"``, ``"bytes"``, ``"scalar"`` (numbers, bools, null),
    ``"map"``, ``"list:<element>"`` and ``"dyn"``: what is read from the admission
    variables, which the API server declares ``dyn``.
    """

    def __init__(self) -> None:
        #: Comprehension variables in scope and the type of their elements.
        self.scope: dict[str, str] = {}

    def type_of(self, node: Node) -> str:
        """The static type cel-go's checker gives ``node``, as far as cost depends on it.

        ``dyn`` for anything read from the admission variables (declared ``dyn``): a call
        on dyn operands is dispatched at run time and charged cel-go's default 1.
        """
        kind = node.kind
        if kind == "const":
            text = node.text.lstrip("rR")
            if text[:1] in "bB":
                return "bytes"
            return "string" if text[:1] in "'\"" else "scalar"
        if kind == "ident":
            return self.scope.get(node.name, "dyn")
        if kind == "index":
            container = self.type_of(node.children[0])
            return container[len("list:") :] if container.startswith("list:") else "dyn"
        if kind == "list":
            elements = {self.type_of(child) for child in node.children}
            return f"list:{elements.pop()}" if len(elements) == 1 else "list:dyn"
        if kind == "map":
            return "map"
        if kind in ("and", "or", "has"):
            return "scalar"
        if kind == "ternary":
            branches = {self.type_of(child) for child in node.children[1:]}
            return branches.pop() if len(branches) == 1 else "dyn"
        if kind == "macro":
            return self.macro_type(node)
        if kind == "call":
            return self.call_type(node)
        return "dyn"

    def macro_type(self, node: Node) -> str:
        if node.name in ("all", "exists", "exists_one"):
            return "scalar"
        if node.name == "filter":
            return self.type_of(node.children[0])
        with self.bound(node):
            return f"list:{self.type_of(node.children[-1])}"

    def call_type(self, node: Node) -> str:
        if node.name in _RETURNS:
            return _RETURNS[node.name]
        if node.name == "+" and len(node.children) == 2:
            kinds = {self.type_of(child) for child in node.children}
            known = kinds - {"dyn"}
            if len(known) == 1:
                only = known.pop()
                return only if only != "list:dyn" or len(kinds) == 1 else "dyn"
            return "list:dyn" if all(k.startswith("list:") for k in kinds) else "dyn"
        if node.name in ("-", "*", "/", "%", "!", "<", "<=", ">", ">=", "==", "!=", "in"):
            return "scalar"
        return "dyn"

    def bound(self, node: Node) -> _Bound:
        """A context binding the variable of comprehension ``node`` to its element type."""
        container = self.type_of(node.children[0])
        element = container[len("list:") :] if container.startswith("list:") else "dyn"
        return _Bound(self.scope, node.text, element)
