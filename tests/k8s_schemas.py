"""Validate rendered objects: core kinds with kubernetes-validate, custom resources with the
real CRDs in ``../shared/schemas`` (strict: unknown fields are errors)."""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.32"


def schemas_dir() -> Path:
    """The folder holding the upstream CRDs (``$GITOPS_SCHEMAS`` or ``../shared/schemas``)."""
    env = os.environ.get("GITOPS_SCHEMAS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "schemas"


def _strict(schema: Any) -> Any:
    """Make object schemas reject unknown fields, as ``kubectl --validate=strict`` does."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str, str], dict[str, Any]]:
    """Map (group, version, kind) to the strict openAPIV3Schema of every CRD on file."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in sorted(schemas_dir().glob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group = doc["spec"]["group"]
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                out[(group, version["name"], kind)] = _strict(schema)
    return out


@cache
def _crd_validator(group: str, version: str, kind: str) -> Any:
    """A compiled validator per CRD version (checking a large schema once, not per object)."""
    schema = crd_schemas().get((group, version, kind))
    if schema is None:
        return None
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(obj: dict[str, Any]) -> None:
    """Raise AssertionError with a short message if ``obj`` is not valid for its kind."""
    group, _, version = obj["apiVersion"].rpartition("/")
    validator = _crd_validator(group, version, obj["kind"])
    name = f"{obj['kind']} {obj['metadata'].get('name')}"
    if validator is not None:
        err = jsonschema.exceptions.best_match(validator.iter_errors(obj))
        if err is not None:
            path = "/".join(str(p) for p in err.absolute_path)
            raise AssertionError(f"{name}: {path}: {err.message}")
        return
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        path = "/".join(str(p) for p in err.path)
        raise AssertionError(f"{name}: {path}: {err.message}") from None
    except kubernetes_validate.SchemaNotFoundError as err:
        raise AssertionError(f"{name}: no schema for {obj['apiVersion']} {obj['kind']}") from err
