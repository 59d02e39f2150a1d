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

The file size is exactly ``64 + 40 * N``; the probe tables are rebuilt on
load (radix sorts, linear in N).

Version 2 is version 1 followed by the probe tables (flags bit 0 set), so
that a snapshot can be memory-mapped and shared by every process that reads
it (the hub's workers) instead of each building private tables::

    64+40N            64N        postings, uint32 (16, N) row-major
    64+104N           4194336    offsets, uint32 (16, 65537) row-major

(file size ``64 + 104 * N + 4,194,336``). The payload CRC covers every array.
Version 1 is still written for indexes without tables (under 4,096 rows)
and read by every version.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tahaluf.errors import StorageError

__all__ = ["MAGIC", "VERSION", "HEADER_SIZE", "Tables", "read_snapshot", "write_snapshot"]

MAGIC = b"TPDQIX\r\n"
VERSION = 2
_VERSIONS = (1, 2)
_FLAG_TABLES = 1
_CHUNKS, _KEYS = 16, 1 << 16
_TABLE_DTYPE = np.dtype("<u4")
#: (postings (16, N) uint32, offsets (16, 65537) uint32)
Tables = tuple[np.ndarray, np.ndarray]
HEADER_SIZE = 64
_HEAD = struct.Struct("<8sIIQIII")  # up to, not including, the header CRC
_WORDS = 4
_ID_DTYPE = np.dtype("<i8")
_WORD_DTYPE = np.dtype("<u8")


def _payload_crc(*arrays: np.ndarray) -> int:
    crc = 0
    for a in arrays:
        if a.size:
            crc = zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"), crc)
    return crc


def _tables_size(count: int) -> int:
    return 4 * _CHUNKS * count + 4 * _CHUNKS * (_KEYS + 1)


def write_snapshot(
    path: str | os.PathLike[str], ids: np.ndarray, hashes: np.ndarray, tables: Tables | None = None
) -> None:
    """Write ``ids`` ((N,) int64, increasing), ``hashes`` ((N, 4) uint64) and,
    when given, the probe tables (version 2)."""
    target = Path(path)
    arrays = [np.ascontiguousarray(ids, dtype=_ID_DTYPE), np.ascontiguousarray(hashes, dtype=_WORD_DTYPE)]
    if tables is not None:
        arrays += [np.ascontiguousarray(t, dtype=_TABLE_DTYPE) for t in tables]
    version, flags = (2, _FLAG_TABLES) if tables is not None else (1, 0)
    head = _HEAD.pack(MAGIC, version, HEADER_SIZE, len(arrays[0]), _WORDS, flags, _payload_crc(*arrays))
    header = head + struct.pack("<I", zlib.crc32(head))
    header += bytes(HEADER_SIZE - len(header))
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header)
            for a in arrays:
                a.tofile(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write PDQ index snapshot {target}: {exc.strerror or exc}") from exc


def _parse_header(header: bytes, size: int, where: Path) -> tuple[int, bool]:
    if len(header) < HEADER_SIZE:
        raise StorageError(f"{where}: truncated PDQ index snapshot ({size} bytes, header needs {HEADER_SIZE})")
    magic, version, header_size, count, words, flags, _crc = _HEAD.unpack_from(header)
    if magic != MAGIC:
        raise StorageError(f"{where}: not a PDQ index snapshot (bad magic bytes)")
    if version not in _VERSIONS:
        raise StorageError(
            f"{where}: unsupported PDQ index snapshot version {version} (this build reads 1 and {VERSION})"
        )
    (header_crc,) = struct.unpack_from("<I", header, _HEAD.size)
    if header_crc != zlib.crc32(header[: _HEAD.size]):
        raise StorageError(f"{where}: corrupt PDQ index snapshot header (checksum mismatch)")
    if header_size != HEADER_SIZE or words != _WORDS:
        raise StorageError(f"{where}: corrupt PDQ index snapshot header (sizes)")
    has_tables = version >= 2 and bool(flags & _FLAG_TABLES)
    expected = HEADER_SIZE + 40 * count + (_tables_size(count) if has_tables else 0)
    if size < expected:
        raise StorageError(f"{where}: truncated PDQ index snapshot ({size} of {expected} bytes)")
    if size > expected:
        raise StorageError(f"{where}: corrupt PDQ index snapshot ({size - expected} trailing bytes)")
    return count, has_tables


def read_snapshot(
    path: str | os.PathLike[str], *, mmap: bool = False
) -> tuple[np.ndarray, np.ndarray, Tables | None]:
    """Read a snapshot -> (ids (N,) int64, hashes (N, 4) uint64, tables or None).

    ``mmap``: map the file read-only instead of copying it, so that processes
    reading the same snapshot share its pages (the arrays are then read-only).
    """
    where = Path(path)
    try:
        with open(where, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            header = fh.read(HEADER_SIZE)
            count, has_tables = _parse_header(header, size, where)
            layout = [(_ID_DTYPE, (count,)), (_WORD_DTYPE, (count, _WORDS))]
            if has_tables:
                layout += [(_TABLE_DTYPE, (_CHUNKS, count)), (_TABLE_DTYPE, (_CHUNKS, _KEYS + 1))]
            arrays = _read_arrays(fh, where, layout, mmap)
    except OSError as exc:
        raise StorageError(f"cannot read PDQ index snapshot {where}: {exc.strerror or exc}") from exc
    (stored_crc,) = struct.unpack_from("<I", header, 32)
    if _payload_crc(*arrays) != stored_crc:
        raise StorageError(f"{where}: corrupt PDQ index snapshot (payload checksum mismatch)")
    ids, hashes = arrays[0], arrays[1]
    if count > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        raise StorageError(f"{where}: corrupt PDQ index snapshot (ids not strictly increasing)")
    tables = (arrays[2], arrays[3]) if has_tables else None
    if tables is not None and not _tables_consistent(tables, count):
        raise StorageError(f"{where}: corrupt PDQ index snapshot (probe tables inconsistent)")
    if mmap:
        return ids, hashes, tables
    return ids.astype(np.int64, copy=False), hashes.astype(np.uint64, copy=False), tables


def _tables_consistent(tables: Tables, count: int) -> bool:
    postings, offsets = tables
    if not count:
        return not offsets.any()
    return bool((offsets[:, -1] == count).all()) and int(postings.max()) < count


def _read_arrays(fh: Any, where: Path, layout: list[tuple[np.dtype, tuple[int, ...]]], mmap: bool) -> list[np.ndarray]:
    out = []
    offset = HEADER_SIZE
    for dtype, shape in layout:
        n = int(np.prod(shape))
        if mmap:
            a = np.memmap(fh, dtype=dtype, mode="r", offset=offset, shape=shape) if n else np.empty(shape, dtype)
        else:
            a = np.fromfile(fh, dtype=dtype, count=n)
            if len(a) != n:
                raise StorageError(f"{where}: truncated PDQ index snapshot")
            a = a.reshape(shape)
        out.append(a)
        offset += n * dtype.itemsize
    return out
