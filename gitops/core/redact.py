"""Secret redaction for everything the diff shows.

Purely data-manipulative: no I/O. Redaction happens before any patch or text is made, so
no value of a Secret's ``data``/``stringData`` (nor the last-applied-configuration
annotation, which embeds them) can reach an output, a log or an exception.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from gitops.core.keys import split_api_version

#: Shown for a secret value that is the same on both sides.
MASK = "***"
#: Shown (on the desired side) for a secret value that differs or is new.
MASK_CHANGED = "*** (changed)"
#: Annotations whose value may embed a Secret's data.
SENSITIVE_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
_SECRET_FIELDS = ("data", "stringData")


def is_secret(manifest: Mapping[str, Any]) -> bool:
    """Whether a manifest is, or would be taken for, a core Secret.

    The API server parses ``apiVersion`` as ``[group/]version`` (``/v1`` is group ``""``,
    version ``v1``), and the diff pairs objects by group, kind, namespace and name, not by
    version: so ``V1``, ``/v1`` or ``v2`` in the core group with kind ``Secret`` (any
    case) are matched with, or stored as, a live Secret. Deciding by the literal string
    ``v1`` would leave them, and the live Secret they are compared with, unmasked.
    """
    kind, api_version = manifest.get("kind"), manifest.get("apiVersion")
    if not isinstance(kind, str) or kind.strip().lower() != "secret":
        return False
    if api_version is None:
        return True
    return isinstance(api_version, str) and split_api_version(api_version.strip())[0] == ""


def redact_pair(
    kind_of: Mapping[str, Any], desired: dict[str, Any], projection: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return copies of an aligned pair with secret values masked.

    Equal values become ``***`` on both sides; a changed or added value becomes
    ``*** (changed)`` on the desired side and ``***`` on the live side, so the patch
    still shows *that* a key changed. Sensitive annotations are masked on any kind.

    Args:
        kind_of: the desired manifest (to know whether it is a Secret).
        desired: aligned desired document.
        projection: aligned live projection.
    """
    desired = _mask_annotations(desired)
    projection = _mask_annotations(projection)
    if not is_secret(kind_of):
        return desired, projection
    desired = dict(desired)
    projection = dict(projection)
    for section in _SECRET_FIELDS:
        d_values = desired.get(section)
        p_values = projection.get(section)
        if isinstance(d_values, Mapping):
            p_map = p_values if isinstance(p_values, Mapping) else {}
            desired[section] = {
                k: MASK if k in p_map and p_map[k] == v else MASK_CHANGED
                for k, v in d_values.items()
            }
        elif d_values is not None:  # an invalid Secret: the whole field is one value
            desired[section] = MASK if d_values == p_values else MASK_CHANGED
        if isinstance(p_values, Mapping):
            projection[section] = dict.fromkeys(p_values, MASK)
        elif p_values is not None:
            projection[section] = MASK
    return desired, projection


def redact_object(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of a whole manifest with every secret value (and sensitive annotation) masked."""
    out = _mask_annotations(dict(manifest))
    if is_secret(manifest):
        for section in _SECRET_FIELDS:
            values = out.get(section)
            if isinstance(values, Mapping):
                out[section] = dict.fromkeys(values, MASK)
            elif values is not None:  # an invalid Secret: the whole field is one value
                out[section] = MASK
    return out


def scrub_text(text: str, manifest: Mapping[str, Any]) -> str:
    """``text`` (e.g. a server's error message) with any of a Secret's values masked.

    Both the plain and the base64 forms are masked; values shorter than 4 characters are
    left alone (masking them would garble the message and reveals little).
    """
    if not is_secret(manifest):
        return text
    forms: set[str] = set()
    for section in _SECRET_FIELDS:
        values = manifest.get(section)
        if isinstance(values, Mapping):
            found = list(values.values())
        elif isinstance(values, list):  # an invalid Secret still holds values
            found = list(values)
        elif values is not None:
            found = [values]
        else:
            continue
        for value in found:
            plain = str(value)
            forms.update(_spellings(plain))
            try:
                if section == "data":
                    forms.update(_spellings(base64.b64decode(plain, validate=True).decode()))
                else:
                    forms.add(base64.b64encode(plain.encode()).decode())
            except (ValueError, UnicodeDecodeError):
                continue
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= 4:
            text = text.replace(form, MASK)
    return text


def _spellings(value: str) -> set[str]:
    """How a message may quote ``value``: as is, JSON-escaped (``\\n``), with its runs of
    whitespace collapsed (messages are joined onto one line), and line by line."""
    forms = {value, json.dumps(value)[1:-1], " ".join(value.split())}
    forms.update(line.strip() for line in value.splitlines())
    return forms


def _mask_annotations(document: dict[str, Any]) -> dict[str, Any]:
    metadata = document.get("metadata")
    if not isinstance(metadata, Mapping):
        return document
    annotations = metadata.get("annotations")
    if not isinstance(annotations, Mapping) or not SENSITIVE_ANNOTATIONS & annotations.keys():
        return document
    masked = {k: MASK if k in SENSITIVE_ANNOTATIONS else v for k, v in annotations.items()}
    return {**document, "metadata": {**metadata, "annotations": masked}}


def _userinfo(url: str) -> tuple[str, str] | None:
    """``(user, password)`` of a URL with userinfo, else None (not a URL, or none)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or "@" not in parts.netloc:
        return None
    return parts.username or "", parts.password or ""


def url_credentials(url: str) -> bool:
    """Whether ``url`` carries credentials: a password, or any user on http(s).

    ``https://TOKEN@host`` is how GitHub and GitLab take a token, so any userinfo of an
    http(s) URL counts; ``ssh://git@host`` names a user only, which is not a secret.
    """
    found = _userinfo(url)
    if found is None:
        return False
    user, password = found
    scheme = urlsplit(url.strip()).scheme.lower()
    return bool(password) or (bool(user) and scheme in ("http", "https"))


def redact_url(url: str) -> str:
    """``url`` with its userinfo masked (``https://***@host/...``); other text unchanged."""
    if not url_credentials(url):
        return url
    parts = urlsplit(url.strip())
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{MASK}@{host}").geturl()


def scrub_url(text: str, url: str) -> str:
    """``text`` (a library's error message) with ``url``'s credentials masked wherever quoted."""
    if not url_credentials(url):
        return text
    text = text.replace(url.strip(), redact_url(url))
    user, password = _userinfo(url) or ("", "")
    secrets = {password, unquote(password)} if password else {user, unquote(user)}
    for form in sorted(secrets, key=len, reverse=True):
        if len(form) >= 4:
            text = text.replace(form, MASK)
    return text
