"""Refuse Secrets whose values would be committed to Git in plain text.

A Git repository is copied to every clone, CI runner and Argo CD/Flux cache, and its
history keeps a value forever, so a rendered set may not carry a core ``v1`` Secret with
values in ``data`` or ``stringData``. The supported ways (:data:`SUPPORTED_WAYS`):

- reference a Secret that already exists in the cluster (``env[].valueFrom.secretKeyRef``,
  ``volumes[].secret``): no Secret object is rendered at all;
- a ``bitnami.com/v1alpha1`` SealedSecret (only the controller's key decrypts it);
- an ``external-secrets.io`` ExternalSecret (the value stays in the external store);
- a SOPS-encrypted Secret: the manifest carries SOPS's top-level ``sops:`` metadata block
  (with its ``mac``), and its values are ciphertext.

A Secret without values (``data`` and ``stringData`` absent or empty) is accepted.

Purely data-manipulative: no I/O. Messages name the object, its provenance and the keys
holding values, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gitops.core.errors import RenderError
from gitops.core.keys import key_of
from gitops.core.labels import provenance
from gitops.core.redact import is_secret

#: The ways of deploying a Secret that keep its value out of Git, for messages.
SUPPORTED_WAYS = (
    "reference an existing Secret (secretKeyRef / volumes[].secret), or render a "
    "SealedSecret (bitnami.com/v1alpha1), an ExternalSecret (external-secrets.io) or a "
    "SOPS-encrypted Secret (with its top-level sops: block)"
)
_VALUE_FIELDS = ("data", "stringData")


def is_core_secret(manifest: Mapping[str, Any]) -> bool:
    """Whether ``manifest`` is a core Secret, however its ``apiVersion`` is spelled.

    The same test as masking uses (:func:`gitops.core.redact.is_secret`): ``V1`` or ``/v1``
    still reach Git with the value in it.
    """
    return is_secret(manifest)


def is_sops_encrypted(manifest: Mapping[str, Any]) -> bool:
    """Whether ``manifest`` carries SOPS's top-level metadata block (``sops:`` with a ``mac``)."""
    block = manifest.get("sops")
    return isinstance(block, Mapping) and "mac" in block


def plaintext_fields(manifest: Mapping[str, Any]) -> list[str]:
    """The fields of a Secret holding plain values (``data.<key>``, ``stringData.<key>``).

    Empty for anything that is not a core Secret, for a SOPS-encrypted Secret and for a
    Secret without values. A ``data`` or ``stringData`` that is not a mapping (an invalid
    Secret) counts as one plain value, named without its keys.
    """
    if not is_core_secret(manifest) or is_sops_encrypted(manifest):
        return []
    fields: list[str] = []
    for section in _VALUE_FIELDS:
        values = manifest.get(section)
        if isinstance(values, Mapping):
            fields.extend(f"{section}.{key}" for key in sorted(map(str, values)))
        elif values not in (None, "", [], {}):
            fields.append(f"{section} (not a mapping)")
    return fields


def check_no_plaintext_secrets(manifests: Iterable[Mapping[str, Any]], where: str) -> None:
    """Raise if any manifest is a Secret with plain values (every such Secret is named).

    Args:
        manifests: the rendered objects.
        where: what they belong to, for the message (an environment).

    Raises:
        RenderError: at least one plaintext Secret; the message lists the objects, their
            provenance and keys (never a value) and the supported ways.
    """
    found: list[str] = []
    for manifest in manifests:
        fields = plaintext_fields(manifest)
        if fields:
            found.append(
                f"{key_of(manifest, where)} ({provenance(dict(manifest))}): {', '.join(fields)}"
            )
    if found:
        raise RenderError(
            f"{where}: refusing to commit Secret values in plain text: {'; '.join(found)}. "
            f"Instead, {SUPPORTED_WAYS}"
        )
