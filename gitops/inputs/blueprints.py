"""Blueprints: what to deploy, as Python modules or declarative YAML stack specs.

A blueprint is one file of the ``blueprints/`` directory; its name is the file name without
the suffix (a DNS-1123 label), recorded on every object it renders.

- ``<name>.py``: a module defining ``def blueprint(scope, env) -> None`` that adds
  constructs to ``scope`` (a :class:`gitops.constructs.base.Scope`) for ``env`` (an
  :class:`gitops.inputs.environments.Environment`). The module is loaded from its file path with
  importlib, under a private module name, and is not left in ``sys.modules``.
- ``<name>.yaml``: one or more documents. A document with ``apiVersion`` is a plain
  Kubernetes object (an ExternalSecret, a ConfigMap...), rendered as written through
  :class:`gitops.constructs.raw.Manifest`. A document without one is a construct spec:
  ``kind: <Construct>`` plus that construct's parameters (for example
  ``kind: InferenceStack``, ``name: llama-8b``, ``model: ...``), validated by the
  construct's ``from_spec(scope, spec, source)``.

Files whose names start with ``_`` or ``.`` are ignored (helpers, editor files).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops.constructs.base import Scope, check_dns1123_label
from gitops.core.errors import GitOpsError, InputError, RenderError
from gitops.core.suggest import did_you_mean
from gitops.core.yaml_io import load_yaml_all, read_capped
from gitops.inputs.environments import Environment

#: The function a Python blueprint must define.
ENTRY_POINT = "blueprint"
#: Construct kinds YAML specs may name: kind -> "module:Class" (imported when used).
SPEC_KINDS: Mapping[str, str] = {
    "InferenceStack": "gitops.constructs.inference:InferenceStack",
    "InferenceCanary": "gitops.constructs.canary:InferenceCanary",
}

BlueprintFunction = Callable[[Scope, Environment], None]


@dataclass(frozen=True)
class Blueprint:
    """One loaded blueprint.

    Attributes:
        name: the blueprint name (file name without suffix).
        source: the file it was loaded from (for error messages).
        function: adds the blueprint's constructs to a scope for an environment.
        shareable: its objects depend on the environment only through its scope (name,
            namespace, overrides), so clusters of a fleet alike in those share one render
            (:mod:`gitops.render.share`): YAML files of built-in kinds and plain manifests.
            Python blueprints may read anything of the environment, so never.
        digest: a digest of a shareable blueprint's file (``None`` for the others): it names
            the content, so a render into a repository can reuse what an earlier render
            made of it (:class:`gitops.render.share.SharedRenders` with a store).
    """

    name: str
    source: str
    function: BlueprintFunction
    shareable: bool = False
    digest: str | None = None

    def apply(self, scope: Scope, env: Environment) -> None:
        """Add this blueprint's constructs to ``scope`` for ``env``.

        Raises:
            RenderError: the blueprint raised (the message names the file and the error).
        """
        try:
            self.function(scope, env)
        except GitOpsError as err:
            text = str(err)  # spec and override errors already start with their file
            if not text.startswith((self.source, env.source)):
                text = f"{self.source}: {text}"
            raise RenderError(f"{text} (environment {env.name})") from err
        except Exception as err:
            raise RenderError(
                f"{self.source}: blueprint raised {type(err).__name__} for environment "
                f"{env.name}: {err}"
            ) from err
        except SystemExit as err:  # sys.exit(0) must not end a render as a success
            raise RenderError(
                f"{self.source}: blueprint called sys.exit({err.code!r}) for environment "
                f"{env.name}; a blueprint adds constructs and returns"
            ) from err


def load_blueprints(
    directory: Path, kinds: Mapping[str, str | type[Any]] | None = None
) -> list[Blueprint]:
    """Load every blueprint of ``directory``, sorted by name.

    Args:
        directory: the blueprints directory.
        kinds: construct kinds YAML specs may use (default :data:`SPEC_KINDS`); a value is
            a class or a ``"module:Class"`` string imported on first use.

    Raises:
        InputError: the directory is missing or empty, a file cannot be loaded, or two files
            share a blueprint name.
    """
    if not directory.is_dir():
        raise InputError(f"{directory}: blueprints directory not found")
    known = SPEC_KINDS if kinds is None else kinds
    loaded: dict[str, Blueprint] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")) or path.suffix not in (".py", ".yaml", ".yml"):
            continue
        name = check_dns1123_label(str(path), "blueprint name (the file name)", path.stem)
        if not path.is_file():  # a FIFO would hang the import forever
            raise InputError(f"{path}: expected a regular file (a blueprint), found another kind")
        if path.suffix == ".py":
            blueprint = _load_python(path, name)
        else:
            blueprint = _load_specs(path, name, known)
        if name in loaded:
            raise InputError(
                f"{path}: blueprint name {name!r} is also used by {loaded[name].source}"
            )
        loaded[name] = blueprint
    if not loaded:
        raise InputError(f"{directory}: no blueprints (*.py, *.yaml) found")
    return [loaded[name] for name in sorted(loaded)]


def _load_python(path: Path, name: str) -> Blueprint:
    module_name = f"_gitops_blueprint_{name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"{path}: cannot load as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered only while executing (dataclasses and typing look the module up there),
    # then removed so blueprints never shadow each other or pollute the import system.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise InputError(
            f"{path}: loading the blueprint raised {type(err).__name__}: {err}"
        ) from err
    except SystemExit as err:  # sys.exit(0) must not end a render as a success
        raise InputError(f"{path}: loading the blueprint called sys.exit({err.code!r})") from err
    finally:
        sys.modules.pop(module_name, None)
    function = getattr(module, ENTRY_POINT, None)
    if not callable(function):
        raise InputError(
            f"{path}: expected a function 'def {ENTRY_POINT}(scope, env) -> None', found none"
        )
    return Blueprint(name=name, source=str(path), function=function)


def _load_specs(path: Path, name: str, kinds: Mapping[str, str | type[Any]]) -> Blueprint:
    data = read_capped(path)
    documents = load_yaml_all(data, str(path))
    if not documents:
        raise InputError(f"{path}: no stack specs found")
    specs: list[tuple[type[Any] | None, dict[str, Any], str]] = []
    builtin: list[bool] = []  # per construct spec: one of SPEC_KINDS (reads only its scope)
    for index, document in enumerate(documents):
        source = f"{path}[{index}]" if len(documents) > 1 else str(path)
        if not isinstance(document, Mapping):
            raise InputError(
                f"{source}: expected a mapping with 'kind', got {type(document).__name__}"
            )
        kind = document.get("kind")
        if "apiVersion" in document:  # a plain Kubernetes object, rendered as written
            specs.append((None, dict(document), source))
            continue
        if not isinstance(kind, str) or kind not in kinds:
            raise InputError(
                f"{source}: unknown kind {kind!r}{did_you_mean(kind, kinds)} (expected one of "
                f"{', '.join(sorted(kinds))}, or a Kubernetes object with apiVersion)"
            )
        specs.append((_resolve(kinds[kind], source), dict(document), source))
        builtin.append(_builtin(kinds, kind, source))

    def function(scope: Scope, env: Environment) -> None:
        from gitops.constructs.raw import Manifest

        for index, (cls, spec, source) in enumerate(specs):
            if cls is None:
                try:
                    Manifest(scope, f"manifest-{index}", spec)
                except GitOpsError as err:
                    raise InputError(f"{source}: {err}") from None
            else:
                cls.from_spec(scope, spec, source)

    shareable = all(builtin)
    digest = hashlib.sha1(data, usedforsecurity=False).hexdigest() if shareable else None
    return Blueprint(
        name=name, source=str(path), function=function, shareable=shareable, digest=digest
    )


def _builtin(kinds: Mapping[str, str | type[Any]], kind: str, source: str) -> bool:
    """Whether ``kind`` is the built-in construct of :data:`SPEC_KINDS` (not a stand-in)."""
    target = kinds[kind]
    if kind not in SPEC_KINDS:
        return False
    return target == SPEC_KINDS[kind] or target is _resolve(SPEC_KINDS[kind], source)


def _resolve(target: str | type[Any], source: str) -> type[Any]:
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    try:
        cls: type[Any] = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        raise InputError(f"{source}: construct {target} is not available: {err}") from err
    return cls
