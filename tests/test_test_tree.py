"""The test tree's own rule: shared helpers live in ``tests/helpers`` or conftest fixtures.

A test module importing another (``from test_reconcile import ...``) couples the two: moving
or renaming one breaks the other, and collecting one runs the other's module-level code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def imported_test_modules(source: str) -> list[str]:
    """The test modules ``source`` imports (``test_x`` or ``tests.test_x``), in order."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "tests":
                names += [f"tests.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names = [node.module or ""] + [alias.name for alias in node.names]
        found += [n for n in names if n.split(".")[-1].startswith("test_")]
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from test_reconcile import NS", ["test_reconcile"]),
        ("import test_plan as p", ["test_plan"]),
        ("from tests.test_plan import base_set", ["tests.test_plan"]),
        ("from tests import test_plan", ["tests.test_plan"]),
        ("from .test_plan import x", ["test_plan"]),
        ("def f():\n    from test_reconcile import widget", ["test_reconcile"]),
        ("from helpers.manifests import NS\nimport pytest", []),
    ],
)
def test_the_scan_finds_every_form_of_import(source: str, expected: list[str]) -> None:
    assert imported_test_modules(source) == expected


def test_no_imported_test_modules_another() -> None:
    offenders = {
        str(path.relative_to(TESTS)): imported
        for path in sorted(TESTS.rglob("*.py"))
        if (imported := imported_test_modules(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "move shared helpers into tests/helpers/ or a conftest fixture"
