"""PDQ index snapshots: a fixed, versioned binary layout (never pickle).

Version 3 (written by this build; all integers little-endian; docs/pdq-index.md)::

    offset  size  field
    0       8     magic  b"TPDQIX\\r\\n"
    8       4     version (uint32) = 3
    12      4     header size in bytes (uint32) = 64
    16      8     count: number of hashes N, all segments (uint64)
    24      4     words per hash (uint32) = 4
    28      4     flags (uint32): bit 0 = some segment carries probe tables
    32      4     CRC-32 of the payload (uint32, zlib.crc32): everything after the header
    36      4     CRC-32 of header bytes 0..35 (uint32)
    40      24    reserved, zero
    64      8     segment count S (uint64)
    72      32S   per segment: rows n, key bits k (0: no tables), slots s, low bits b (4 x uint64)
    then per segment, in order:
            8n    ids, int64, strictly increasing within the segment
            32n   hashes, uint64 (n, 4) row-major; word w = big-endian value
                  of hex digits 16w..16w+15 of the 64-hex PDQ hash
            when k > 0, the segment's probe tables (pdq_kernels):
            8 * 11 * H      highs, uint64 (11, H), H = ceil((n + 2**k + 1) / 64) + 4
            8 * L           lows, uint64 (L,), L = ceil(11 * n * b / 64) + 2

Versions 1 and 2 (one segment of ids and hashes, version 2 followed by the
16-table layout of earlier builds) are still read: their rows are kept and
their tables rebuilt.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tahaluf.errors import StorageError

__all__ = ["MAGIC", "VERSION", "HEADER_SIZE", "SegmentArrays", "read_snapshot", "write_snapshot"]

MAGIC = b"TPDQIX\r\n"
VERSION = 3
_VERSIONS = (1, 2, 3)
_FLAG_TABLES = 1
_CHUNKS = 11
_OLD_CHUNKS, _OLD_KEYS = 16, 1 << 16
HEADER_SIZE = 64
_HEAD = struct.Struct("<8sIIQIII")  # up to, not including, the header CRC
_WORDS = 4
_MAX_ROWS = 1 << 31
_ID_DTYPE = np.dtype("<i8")
_WORD_DTYPE = np.dtype("<u8")
_OLD_TABLE_DTYPE = np.dtype("<u4")


@dataclass
class SegmentArrays:
    """One segment as stored: ids, hashes and (when ``key_bits``) its tables."""

    ids: np.ndarray
    hashes: np.ndarray
    key_bits: int = 0
    slots: int = 0
    low_bits: int = 0
    highs: np.ndarray | None = None
    lows: np.ndarray | None = None


def high_words(rows: int, key_bits: int, slots: int) -> int:
    return (rows + slots * (1 << key_bits) + 1 + 63) // 64 + 4


def low_words(rows: int, low_bits: int) -> int:
    return (_CHUNKS * rows * low_bits + 63) // 64 + 2


def _payload_crc(*arrays: np.ndarray) -> int:
    crc = 0
    for a in arrays:
        if a.size:
            crc = zlib.crc32(np.ascontiguousarray(a).data.cast("B"), crc)
    return crc


def write_snapshot(path: str | os.PathLike[str], segments: list[SegmentArrays]) -> None:
    """Write ``segments`` (version 3); replaces ``path`` atomically."""
    target = Path(path)
    directory = np.zeros((len(segments), 4), dtype=_WORD_DTYPE)
    arrays: list[np.ndarray] = [np.array([len(segments)], dtype=_WORD_DTYPE), directory]
    tables = False
    for i, seg in enumerate(segments):
        n = len(seg.ids)
        has = seg.key_bits > 0 and seg.highs is not None and seg.lows is not None
        directory[i] = (n, seg.key_bits, seg.slots, seg.low_bits) if has else (n, 0, 0, 0)
        arrays += [np.ascontiguousarray(seg.ids, dtype=_ID_DTYPE), np.ascontiguousarray(seg.hashes, dtype=_WORD_DTYPE)]
        if has:
            tables = True
            arrays += [np.ascontiguousarray(seg.highs, dtype=_WORD_DTYPE),
                       np.ascontiguousarray(seg.lows, dtype=_WORD_DTYPE)]
    count = int(directory[:, 0].sum()) if len(segments) else 0
    flags = _FLAG_TABLES if tables else 0
    head = _HEAD.pack(MAGIC, VERSION, HEADER_SIZE, count, _WORDS, flags, _payload_crc(*arrays))
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


def _parse_header(header: bytes, size: int, where: Path) -> tuple[int, int, int]:
    """(version, count, flags) of a well-formed header."""
    if len(header) < HEADER_SIZE:
        raise StorageError(f"{where}: truncated PDQ index snapshot ({size} bytes, header needs {HEADER_SIZE})")
    magic, version, header_size, count, words, flags, _crc = _HEAD.unpack_from(header)
    if magic != MAGIC:
        raise StorageError(f"{where}: not a PDQ index snapshot (bad magic bytes)")
    if version not in _VERSIONS:
        raise StorageError(
            f"{where}: unsupported PDQ index snapshot version {version} (this build reads 1 to {VERSION})"
        )
    (header_crc,) = struct.unpack_from("<I", header, _HEAD.size)
    if header_crc != zlib.crc32(header[: _HEAD.size]):
        raise StorageError(f"{where}: corrupt PDQ index snapshot header (checksum mismatch)")
    if header_size != HEADER_SIZE or words != _WORDS:
        raise StorageError(f"{where}: corrupt PDQ index snapshot header (sizes)")
    return version, count, flags


def _check_size(size: int, expected: int, where: Path) -> None:
    if size < expected:
        raise StorageError(f"{where}: truncated PDQ index snapshot ({size} of {expected} bytes)")
    if size > expected:
        raise StorageError(f"{where}: corrupt PDQ index snapshot ({size - expected} trailing bytes)")


def read_snapshot(path: str | os.PathLike[str], *, mmap: bool = False) -> list[SegmentArrays]:
    """Read a snapshot -> its segments (a version 1 or 2 file: one segment, no tables).

    ``mmap``: map the file read-only instead of copying it, so that processes
    reading the same snapshot share its pages (the arrays are then read-only).
    """
    where = Path(path)
    try:
        with open(where, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            header = fh.read(HEADER_SIZE)
            version, count, flags = _parse_header(header, size, where)
            if version < 3:
                segments, arrays = _read_old(fh, where, size, version, count, flags, mmap)
            else:
                segments, arrays = _read_v3(fh, where, size, count, mmap)
    except OSError as exc:
        raise StorageError(f"cannot read PDQ index snapshot {where}: {exc.strerror or exc}") from exc
    (stored_crc,) = struct.unpack_from("<I", header, 32)
    if _payload_crc(*arrays) != stored_crc:
        raise StorageError(f"{where}: corrupt PDQ index snapshot (payload checksum mismatch)")
    for seg in segments:
        if len(seg.ids) > 1 and not bool(np.all(seg.ids[1:] > seg.ids[:-1])):
            raise StorageError(f"{where}: corrupt PDQ index snapshot (ids not strictly increasing)")
        if not mmap:
            seg.ids = seg.ids.astype(np.int64, copy=False)
            seg.hashes = seg.hashes.astype(np.uint64, copy=False)
    return segments


def _read_old(fh: Any, where: Path, size: int, version: int, count: int, flags: int, mmap: bool):
    has_tables = version == 2 and bool(flags & _FLAG_TABLES)
    tables = 4 * _OLD_CHUNKS * count + 4 * _OLD_CHUNKS * (_OLD_KEYS + 1) if has_tables else 0
    _check_size(size, HEADER_SIZE + 40 * count + tables, where)
    layout: list[tuple[np.dtype, tuple[int, ...]]] = [(_ID_DTYPE, (count,)), (_WORD_DTYPE, (count, _WORDS))]
    if has_tables:  # read for the checksum only: this build's tables differ
        layout += [(_OLD_TABLE_DTYPE, (_OLD_CHUNKS, count)), (_OLD_TABLE_DTYPE, (_OLD_CHUNKS, _OLD_KEYS + 1))]
    arrays = _read_arrays(fh, where, layout, mmap, HEADER_SIZE)
    return [SegmentArrays(arrays[0], arrays[1])], arrays


def _read_v3(fh: Any, where: Path, size: int, count: int, mmap: bool):
    fh.seek(HEADER_SIZE)
    head = fh.read(8)
    if len(head) < 8:
        raise StorageError(f"{where}: truncated PDQ index snapshot (no segment count)")
    (n_segments,) = struct.unpack("<Q", head)
    if n_segments > max(1, count):
        raise StorageError(f"{where}: corrupt PDQ index snapshot (segment count {n_segments})")
    raw = fh.read(32 * n_segments)
    if len(raw) < 32 * n_segments:
        raise StorageError(f"{where}: truncated PDQ index snapshot (segment directory)")
    directory = np.frombuffer(raw, dtype=_WORD_DTYPE).reshape(n_segments, 4)
    layout: list[tuple[np.dtype, tuple[int, ...]]] = []
    total = 0
    for rows, key_bits, slots, low_bits in directory.tolist():
        tables_ok = 0 < key_bits <= 20 and 0 < low_bits <= 20 and 0 < slots <= rows
        if not 0 < rows <= _MAX_ROWS or not (tables_ok or key_bits == slots == low_bits == 0):
            raise StorageError(f"{where}: corrupt PDQ index snapshot (segment directory)")
        total += rows
        layout += [(_ID_DTYPE, (rows,)), (_WORD_DTYPE, (rows, _WORDS))]
        if key_bits:
            layout += [
                (_WORD_DTYPE, (_CHUNKS, high_words(rows, key_bits, slots))),
                (_WORD_DTYPE, (low_words(rows, low_bits),)),
            ]
    if total != count:
        raise StorageError(f"{where}: corrupt PDQ index snapshot (segment rows {total}, header {count})")
    start = HEADER_SIZE + 8 + 32 * n_segments
    expected = start + sum(int(np.prod(shape)) * dt.itemsize for dt, shape in layout)
    _check_size(size, expected, where)
    arrays = _read_arrays(fh, where, layout, mmap, start)
    segments, i = [], 0
    for _rows, key_bits, slots, low_bits in directory.tolist():
        seg = SegmentArrays(arrays[i], arrays[i + 1])
        i += 2
        if key_bits:
            seg.key_bits, seg.slots, seg.low_bits = key_bits, slots, low_bits
            seg.highs, seg.lows = arrays[i], arrays[i + 1]
            i += 2
        segments.append(seg)
    return segments, [np.frombuffer(head, dtype=_WORD_DTYPE), directory, *arrays]


def _read_arrays(
    fh: Any, where: Path, layout: list[tuple[np.dtype, tuple[int, ...]]], mmap: bool, offset: int
) -> list[np.ndarray]:
    out = []
    fh.seek(offset)
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
