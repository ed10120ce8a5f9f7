"""Many Git blobs as one pack file and its index, instead of one loose file each.

A render writes thousands of new blobs. Stored loose, each costs a file (and often a
directory) in ``.git/objects``, which on a busy disk costs more than compressing it. Git
itself keeps fetched objects packed above ``transfer.unpackLimit`` (100 objects); so does
:mod:`gitops.repo`, with the standard formats built here: pack version 2 (undeltified
blobs) and pack index version 2 (``git verify-pack`` accepts both).

Purely data-manipulative: no I/O; :func:`build` returns the bytes of both files.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

#: Object type number of a blob in a pack entry header.
_BLOB = 3
#: Offsets past this need the index's large-offset table: such packs are not built here.
MAX_PACK_BYTES = 2**31 - 1


@dataclass(frozen=True)
class Pack:
    """A built pack.

    Attributes:
        name: hex SHA-1 checksum of the pack, its file name is ``pack-<name>.pack``.
        pack: the ``.pack`` file content.
        index: the ``.idx`` file content.
        objects: hex names of the objects it holds, in pack order.
    """

    name: str
    pack: bytes
    index: bytes
    objects: tuple[str, ...]


def blob_name(data: bytes) -> str:
    """The Git object name (hex SHA-1) of a blob holding ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _entry_header(size: int) -> bytes:
    # First byte: continuation bit, 3 type bits, the low 4 size bits; then 7 bits a byte.
    out = bytearray([(_BLOB << 4) | (size & 0x0F)])
    size >>= 4
    while size:
        out[-1] |= 0x80
        out.append(size & 0x7F)
        size >>= 7
    return bytes(out)


def build(blobs: Iterable[bytes], level: int = 1) -> Pack:
    """Pack ``blobs`` (duplicates kept once).

    Args:
        blobs: blob contents.
        level: zlib compression level (1: fast; files here are small YAML).

    Raises:
        ValueError: the pack would pass :data:`MAX_PACK_BYTES`.
    """
    names: dict[str, tuple[int, int]] = {}  # name -> (offset, crc32)
    order: list[str] = []
    chunks: list[bytes] = []
    offset = 12
    for data in blobs:
        name = blob_name(data)
        if name in names:
            continue
        entry = _entry_header(len(data)) + zlib.compress(data, level)
        names[name] = (offset, zlib.crc32(entry))
        order.append(name)
        chunks.append(entry)
        offset += len(entry)
        if offset > MAX_PACK_BYTES:
            raise ValueError(f"pack would exceed {MAX_PACK_BYTES} bytes")
    body = b"PACK" + struct.pack(">II", 2, len(order)) + b"".join(chunks)
    checksum = hashlib.sha1(body, usedforsecurity=False).digest()
    return Pack(checksum.hex(), body + checksum, _index(names, checksum), tuple(order))


def _index(names: dict[str, tuple[int, int]], pack_checksum: bytes) -> bytes:
    ordered = sorted(names)
    fanout = [0] * 256
    for name in ordered:
        fanout[int(name[:2], 16)] += 1
    total = 0
    for first_byte in range(256):
        total += fanout[first_byte]
        fanout[first_byte] = total
    parts = [b"\377tOc", struct.pack(">I", 2), struct.pack(">256I", *fanout)]
    parts.extend(bytes.fromhex(name) for name in ordered)
    parts.append(struct.pack(f">{len(ordered)}I", *(names[n][1] for n in ordered)))
    parts.append(struct.pack(f">{len(ordered)}I", *(names[n][0] for n in ordered)))
    parts.append(pack_checksum)
    index = b"".join(parts)
    return index + hashlib.sha1(index, usedforsecurity=False).digest()
