"""CEL optional syntax (``x.?f``, ``m[?k]``, ``orValue``) evaluated as cel-go does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops.policy.cel import Activation, compile_expression
from gitops.policy.cel_optional import rewrite

OBJECT = {"spec": {"containers": [{"name": "a", "securityContext": {"runAsUser": 0}}],
                   "labels": {"app.kubernetes.io/name": "web"}}}  # fmt: skip


def run(expression: str) -> Any:
    return compile_expression(expression, "test").run(Activation({"object": OBJECT}))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("object.spec.?initContainers.orValue([])", []),
        ("object.spec.?containers.orValue([]).size()", 1),
        ("object.spec.?labels[?'app.kubernetes.io/name'].orValue('')", "web"),
        ("object.spec.?labels[?'absent'].orValue('none')", "none"),
        ("object.spec.?nope.hasValue()", False),
        ("object.spec.containers.all(c, c.?securityContext.runAsUser.orValue(1) != 0)", False),
        ("object.spec.containers.all(c, c.?securityContext.?runAsGroup.orValue(1) == 1)", True),
        ("object.spec.?containers[?5].hasValue()", False),
        ("optional.of(1).value()", 1),
        ("optional.none().orValue(2)", 2),
        ("object.spec.?nope.or(optional.of(3)).value()", 3),
        ("object.spec.?labels == object.spec.labels", False),  # an optional is not its value
        ("'a.?b[?c]'.size()", 8),  # string literals are left alone
    ],
)
def test_optional_expressions_evaluate_as_in_kubernetes(expression: str, expected: Any) -> None:
    assert run(expression) == expected


def test_value_of_an_empty_optional_is_an_error() -> None:
    from gitops.policy.cel import CelError

    with pytest.raises(CelError):
        run("object.spec.?nope.value()")


@given(st.text(alphabet="abc.()[]'\" +_xyz0123", max_size=40))
def test_text_without_optional_syntax_is_never_rewritten(source: str) -> None:
    if ".?" not in source and "[?" not in source and "optional" not in source:
        assert rewrite(source) == source


@given(st.text(alphabet="ab.?[]()x ", max_size=20))
def test_optional_syntax_inside_strings_is_never_rewritten(inner: str) -> None:
    source = "'" + inner.replace("'", "") + "'.size()"
    assert rewrite(source) == source
