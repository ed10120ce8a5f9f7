"""Plain Kubernetes objects in the construct tree: :class:`Manifest` and :class:`Include`.

What cdk8s calls ``ApiObject`` and ``Include``: an ExternalSecret, a ConfigMap, a CRD's
custom resource, kept as written (a deep copy: the caller's dict is never changed),
stamped with provenance like every other object, and checked like them (plain JSON,
no plaintext Secret, unique, safe names). :class:`Include` reads a YAML file once, when
it is constructed; everything else here is pure.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops.constructs.base import Construct
from gitops.core.errors import InputError, ValidationError
from gitops.core.keys import Manifest as ManifestDict
from gitops.core.keys import key_of
from gitops.core.yaml_io import load_yaml_all, read_capped


class Manifest(Construct):
    """One Kubernetes object, as written.

    Args:
        scope: a :class:`~gitops.constructs.base.Scope`, a construct, or a cdk8s scope.
        id: the construct id (a DNS-1123 label; it names the construct, not the object).
        obj: the object: a mapping with ``apiVersion``, ``kind`` and ``metadata.name``.
        namespace: put the object in this namespace when it names none. ``None`` (the
            default) keeps it as written: a cluster-scoped object must not get one.

    Raises:
        ValidationError: ``obj`` is not a Kubernetes object (the field is named).

    Example::

        Manifest(scope, "hf-token", {
            "apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret",
            "metadata": {"name": "hf-token", "namespace": "inference"},
            "spec": {...},
        })
    """

    type_name = "Manifest"

    def __init__(
        self, scope: Any, id: str, obj: Mapping[str, Any], *, namespace: str | None = None
    ) -> None:
        owner = f"Manifest {id!r}"
        if not isinstance(obj, Mapping):
            raise ValidationError(f"{owner}: obj must be a mapping, got {type(obj).__name__}")
        self.obj: ManifestDict = copy.deepcopy(dict(obj))
        metadata = self.obj.get("metadata")
        if (
            namespace is not None
            and isinstance(metadata, Mapping)
            and not metadata.get("namespace")
        ):
            self.obj["metadata"] = {**metadata, "namespace": namespace}
        try:
            key_of(self.obj, owner)
        except InputError as err:
            raise ValidationError(str(err)) from None
        super().__init__(scope, id)
        self._register()

    def _build(self) -> list[ManifestDict]:
        return [copy.deepcopy(self.obj)]


class Include(Construct):
    """Every object of a YAML file (multi-document, ``kind: List`` flattened), as written.

    Args:
        scope: the parent scope or construct.
        id: the construct id; each object becomes a child :class:`Manifest` ``<id>/<n>``.
        path: the YAML file (read once, here, through the capped YAML reader).
        namespace: as for :class:`Manifest`.

    Raises:
        InputError: the file is missing or not valid YAML.
        ValidationError: a document is not a Kubernetes object (file and document named).
    """

    type_name = "Include"

    def __init__(
        self, scope: Any, id: str, path: str | Path, *, namespace: str | None = None
    ) -> None:
        source = str(path)
        documents = load_yaml_all(read_capped(Path(path)), source)
        objects: list[tuple[str, Mapping[str, Any]]] = []
        for index, document in enumerate(documents):
            where = f"{source}[{index}]"
            if isinstance(document, Mapping) and str(document.get("kind", "")).endswith("List"):
                items = document.get("items") or []
                objects.extend((f"{where}.items[{i}]", item) for i, item in enumerate(items))
            elif document is not None:
                objects.append((where, document))
        super().__init__(scope, id)
        self.source = source
        for number, (where, document) in enumerate(objects):
            try:
                Manifest(self, str(number), document, namespace=namespace)
            except ValidationError as err:
                raise ValidationError(f"{where}: {err}") from None
        self._register()

    def _build(self) -> list[ManifestDict]:
        return []  # the objects are the children's
