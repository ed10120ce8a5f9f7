"""The compiled core of ``common-expression-language``, imported without its command line.

The package's ``cel/__init__.py`` imports ``cel.cli`` (typer, rich, prompt_toolkit) before
re-exporting the Rust extension ``cel.cel``: 0.18-0.29 s on these machines, about half of
a no-op ``gitops render`` or ``gitops check``, for a REPL gitops never starts. Only
``compile`` and ``Context`` are used here, and both live in the extension, so it is loaded
on its own from the installed package's directory (found without executing the package).

The module is registered as ``cel.cel``, the name the package itself gives it, so a later
``import cel`` elsewhere (a test, a user's code) re-exports this very module instead of
loading the extension twice. When the package layout is not the expected one (another
version), the ordinary ``import cel`` is used: slower to start, same behaviour.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _extension() -> ModuleType | None:
    """``cel.cel`` loaded from the package directory, or ``None`` if it is not there."""
    loaded = sys.modules.get("cel.cel")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("cel")  # a top-level spec: nothing is executed
    if package is None or not package.submodule_search_locations:
        return None
    for directory in package.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(directory) / f"cel{suffix}"
            if not path.is_file():
                continue
            loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(path))
            spec = importlib.util.spec_from_file_location("cel.cel", path, loader=loader)
            if spec is None:
                return None
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
            sys.modules["cel.cel"] = module
            return module
    return None


def load() -> ModuleType:
    """The module offering ``compile`` and ``Context`` (see the module docstring)."""
    module = _extension()
    if module is not None and hasattr(module, "compile") and hasattr(module, "Context"):
        return module
    import cel  # pragma: no cover - another layout of the package: the slow, full import

    return cel  # pragma: no cover
