"""The README's architecture section is the code's: stages and modules as they are."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import architecture

ROOT = Path(__file__).resolve().parents[1]


def test_readme_architecture_is_generated_from_the_docstrings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert architecture.current(readme) == architecture.section(ROOT), (
        "README.md architecture section is stale: run python -m tests.helpers.architecture --write"
    )


def test_every_module_and_package_has_a_summary_line() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "gitops").rglob("*.py"))
        if path.name != "__main__.py" and not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert missing == []


def test_the_stages_listed_are_the_packages_that_exist() -> None:
    listed = {
        name.strip()
        for layer in architecture.layers(ROOT / ".importlinter")
        for name in layer.split("|")
    }
    packages = {f"gitops.{path.parent.name}" for path in (ROOT / "gitops").glob("*/__init__.py")}
    assert listed == packages


def test_a_new_module_changes_the_section(tmp_path: Path) -> None:
    # The generator reads the tree, not a list: a module added without a README update
    # makes the first test fail.
    (tmp_path / "gitops" / "core").mkdir(parents=True)
    (tmp_path / "gitops" / "__init__.py").write_text('"""Root."""\n')
    (tmp_path / "gitops" / "core" / "__init__.py").write_text('"""Core things."""\n')
    (tmp_path / ".importlinter").write_text(
        "[importlinter:contract:x]\ntype = layers\nlayers =\n    gitops.core\n"
    )
    before = architecture.section(tmp_path)
    (tmp_path / "gitops" / "core" / "extra.py").write_text('"""An extra module.\n\nMore."""\n')
    after = architecture.section(tmp_path)
    assert "extra.py" not in before
    assert "  core/" in after and "    extra.py" in after and "An extra module." in after
