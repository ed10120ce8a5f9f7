"""The public API: lazy at run time, fully typed for mypy and editors."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gitops

PACKAGE = Path(gitops.__file__).parent


def test_every_lazy_export_is_also_imported_for_type_checkers() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    guarded = next(n for n in tree.body if isinstance(n, ast.If))
    typed = {
        alias.asname or alias.name
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == set(gitops._EXPORTS)
    for name, module in gitops._EXPORTS.items():  # and each points where the name lives
        assert getattr(gitops, name).__module__.startswith(module.rsplit(".", 1)[0])


def test_import_gitops_loads_no_construct_module() -> None:
    probe = "import sys, gitops; print(sorted(m for m in sys.modules if m.startswith('gitops.')))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_mypy_checks_code_using_the_top_level_names(tmp_path: Path) -> None:
    code = tmp_path / "user.py"
    code.write_text(
        "from gitops import ClusterGuardrails, InferenceStack, Manifest\n"
        "from gitops import NamespaceGuardrails, Scope\n"
        "scope = Scope(namespace='ml')\n"
        "stack = InferenceStack(scope, 'a', model='m', image='r/i:v1', gpus='two')\n"
        "reveal_type(stack.replicas)\n"
        "Manifest(scope, 'm', obj=3)\n"
        "NamespaceGuardrails(scope, 'ml', namespace='ml')\n"
        "ClusterGuardrails(scope, 'c')\n"
    )
    # From the project root, so mypy reads its settings and reuses the cache `mypy gitops`
    # left (CI runs it first): checking the package from scratch took a minute under load.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(code)],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        env={"MYPYPATH": str(PACKAGE.parent), "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout
    assert 'Argument "gpus" to "InferenceStack" has incompatible type "str"' in out
    assert 'Revealed type is "int"' in out
    assert 'Argument "obj" to "Manifest" has incompatible type "int"' in out
    assert out.count(": error:") == 2, out
