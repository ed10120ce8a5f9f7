"""JSON pointers (RFC 6901), as ignore rules and patches name fields.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """Split an RFC 6901 JSON pointer (``/spec/replicas``) into unescaped segments.

    Raises:
        ValueError: the pointer does not start with ``/``.
    """
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/', got {pointer!r}")
    return tuple(s.replace("~1", "/").replace("~0", "~") for s in pointer[1:].split("/"))
