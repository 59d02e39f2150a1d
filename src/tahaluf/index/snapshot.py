"""PDQ index snapshots: a fixed, versioned binary layout (never pickle).

Layout, version 1 (all integers little-endian; docs/pdq-index.md)::

    offset  size  field
    0       8     magic  b"TPDQIX\\r\\n"
    8       4     version (uint32) = 1
    12      4     header size in bytes (uint32) = 64
    16      8     count: number of hashes N (uint64)
    24      4     words per hash (uint32) = 4
    28      4     flags (uint32) = 0
    32      4     CRC-32 of the payload (uint32, zlib.crc32)
    36      4     CRC-32 of header bytes 0..35 (uint32)
    40      24    reserved, zero
    64      8N    ids, int64, strictly increasing
    64+8N   32N   hashes, uint64 (N, 4) row-major; word w = big-endian value
                  of hex digits 16w..16w+15 of the 64-hex PDQ hash

The file size is exactly ``64 + 40 * N``. Probe tables are not stored: they
are rebuilt on load (radix sorts, linear in N).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from tahaluf.errors import StorageError

__all__ = ["MAGIC", "VERSION", "HEADER_SIZE", "read_snapshot", "write_snapshot"]

MAGIC = b"TPDQIX\r\n"
VERSION = 1
HEADER_SIZE = 64
_HEAD = struct.Struct("<8sIIQIII")  # up to, not including, the header CRC
_WORDS = 4
_ID_DTYPE = np.dtype("<i8")
_WORD_DTYPE = np.dtype("<u8")


def _payload_crc(ids: np.ndarray, hashes: np.ndarray) -> int:
    return zlib.crc32(hashes.data, zlib.crc32(ids.data))


def write_snapshot(path: str | os.PathLike[str], ids: np.ndarray, hashes: np.ndarray) -> None:
    """Write ``ids`` ((N,) int64, increasing) and ``hashes`` ((N, 4) uint64)."""
    target = Path(path)
    ids_le = np.ascontiguousarray(ids, dtype=_ID_DTYPE)
    hashes_le = np.ascontiguousarray(hashes, dtype=_WORD_DTYPE)
    head = _HEAD.pack(MAGIC, VERSION, HEADER_SIZE, len(ids_le), _WORDS, 0, _payload_crc(ids_le, hashes_le))
    header = head + struct.pack("<I", zlib.crc32(head))
    header += bytes(HEADER_SIZE - len(header))
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header)
            ids_le.tofile(fh)
            hashes_le.tofile(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write PDQ index snapshot {target}: {exc.strerror or exc}") from exc


def _parse_header(header: bytes, size: int, where: Path) -> int:
    if len(header) < HEADER_SIZE:
        raise StorageError(f"{where}: truncated PDQ index snapshot ({size} bytes, header needs {HEADER_SIZE})")
    magic, version, header_size, count, words, _flags, _crc = _HEAD.unpack_from(header)
    if magic != MAGIC:
        raise StorageError(f"{where}: not a PDQ index snapshot (bad magic bytes)")
    if version != VERSION:
        raise StorageError(f"{where}: unsupported PDQ index snapshot version {version} (this build reads {VERSION})")
    (header_crc,) = struct.unpack_from("<I", header, _HEAD.size)
    if header_crc != zlib.crc32(header[: _HEAD.size]):
        raise StorageError(f"{where}: corrupt PDQ index snapshot header (checksum mismatch)")
    if header_size != HEADER_SIZE or words != _WORDS:
        raise StorageError(f"{where}: corrupt PDQ index snapshot header (sizes)")
    expected = HEADER_SIZE + 40 * count
    if size < expected:
        raise StorageError(f"{where}: truncated PDQ index snapshot ({size} of {expected} bytes)")
    if size > expected:
        raise StorageError(f"{where}: corrupt PDQ index snapshot ({size - expected} trailing bytes)")
    return count


def read_snapshot(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a snapshot -> (ids (N,) int64, hashes (N, 4) uint64), both native order."""
    where = Path(path)
    try:
        with open(where, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            header = fh.read(HEADER_SIZE)
            count = _parse_header(header, size, where)
            ids = np.fromfile(fh, dtype=_ID_DTYPE, count=count)
            hashes = np.fromfile(fh, dtype=_WORD_DTYPE, count=count * _WORDS).reshape(count, _WORDS)
    except OSError as exc:
        raise StorageError(f"cannot read PDQ index snapshot {where}: {exc.strerror or exc}") from exc
    if len(ids) != count or len(hashes) != count:
        raise StorageError(f"{where}: truncated PDQ index snapshot")
    (stored_crc,) = struct.unpack_from("<I", header, 32)
    if _payload_crc(ids, hashes) != stored_crc:
        raise StorageError(f"{where}: corrupt PDQ index snapshot (payload checksum mismatch)")
    if count > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        raise StorageError(f"{where}: corrupt PDQ index snapshot (ids not strictly increasing)")
    return ids.astype(np.int64, copy=False), hashes.astype(np.uint64, copy=False)
