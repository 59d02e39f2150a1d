"""Immutable PDQ index segments: compressed multi-index hashing and brute-force scan.

A segment holds ``n`` hashes (``(n, 4)`` uint64), their ids (sorted
ascending, unique) and, once a row is removed, a tombstone bit set.
Segments of at least :data:`MIN_TABLE_ROWS` rows also hold 11 probe tables,
one per 20-bit chunk of the hash, keyed by the chunk's top ``key_bits`` bits
(see :class:`~tahaluf.index.pdq_plan.TableShape`: a bucket holds one or two rows on average). Tables
and ids are Elias-Fano coded (see :mod:`tahaluf.index.pdq_kernels` and
docs/pdq-index.md): at 1M rows the 11 tables cost ~30.7 bytes per hash and
the ids ~0.3, beside the 32-byte hash (63.0 in all).

Which keys a query probes, and why that finds every match, is
:mod:`tahaluf.index.pdq_plan`.

The probe tables need the numba kernels of :mod:`tahaluf.index.pdq_kernels`
(the default when numba imports, see :func:`native_available`; imported on
first use, as numba takes ~0.1 s to import). Without numba, segments keep
plain ids, build no tables and are scanned with numpy: slower, same results.
"""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np

from tahaluf.index.pdq_plan import (
    CHUNKS,
    SLOT_BITS,
    TableShape,
    probe_count,
    probe_plan,
    table_shape,
)

__all__ = [
    "MIN_TABLE_ROWS",
    "Segment",
    "native_available",
    "scan_distances",
]

#: segments smaller than this are only ever scanned (tables would not pay:
#: at t=31, 20k rows scan at 59k lookups/s, probe at 50k; 40k rows: 30k vs 43k)
MIN_TABLE_ROWS = 1 << 15
#: cost model choosing between the tables and a scan, in nanoseconds on the
#: numba kernels: a probe (select, bit-vector walk), each candidate row it
#: yields (its verification), and each row of a scan; and a cap on probes, as
#: candidates cost more once the hashes no longer fit in cache. Measured at
#: t=31: 20k rows: tables 50k vs scan 59k lookups/s, 40k: 43k vs 30k; 1M rows:
#: t=48 (39,086 probes) 1,036 vs 758, t=50 (48,776) 759 vs 759; 10M rows:
#: t=48: 141 vs 76, t=52 (58,466): 72 vs 77
PROBE_NS, CANDIDATE_NS, SCAN_NS = 10.0, 8.0, 0.85
MAX_PROBES = 45_000
#: bound on candidate (query, row) pairs held in memory at once by the numpy scan
_SCAN_ROWS = 1 << 15
_SCAN_PAIRS = 1 << 16
#: below this threshold a scan first bounds the distance with the first two words
_TWO_STAGE_BELOW = 64


@lru_cache(maxsize=1)
def _kernels():
    """The numba kernel module, or None when numba cannot be imported."""
    if sys.byteorder != "little":  # the kernels read the arrays as little-endian words
        return None
    try:
        from tahaluf.index import pdq_kernels
    except ImportError:  # numba missing: the numpy scan is used
        return None
    return pdq_kernels


def native_available() -> bool:
    """True when the numba kernels import (they are then the default path)."""
    return _kernels() is not None


def scan_distances(rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row-wise Hamming distances of two ``(k, 4)`` uint64 arrays -> ``(k,)`` uint16."""
    bits = np.bitwise_count(rows ^ queries)
    return (bits[:, 0] + bits[:, 1]).astype(np.uint16) + (bits[:, 2] + bits[:, 3])


def _scan_block(block: np.ndarray, queries: np.ndarray, t: int) -> tuple[np.ndarray, ...]:
    """All (query, row, distance) within ``t`` of a (R, 4) block and (Qb, 4) queries."""
    if t >= _TWO_STAGE_BELOW:
        bits = np.bitwise_count(block[None, :, :] ^ queries[:, None, :])
        dist = (bits[..., 0] + bits[..., 1]).astype(np.uint16) + (bits[..., 2] + bits[..., 3])
        qq, rr = np.nonzero(dist <= t)
        return qq.astype(np.int64), rr.astype(np.int64), dist[qq, rr]
    # words 0-1 alone already exceed t for almost every unrelated row
    head = np.bitwise_count(block[None, :, 0] ^ queries[:, None, 0])
    head += np.bitwise_count(block[None, :, 1] ^ queries[:, None, 1])
    qq, rr = np.nonzero(head <= t)
    dist = scan_distances(block[rr], queries[qq])
    keep = dist <= t
    return qq[keep].astype(np.int64), rr[keep].astype(np.int64), dist[keep]


def _plain(array: np.ndarray, dtype: type) -> np.ndarray:
    """``array`` as a C-contiguous, writable array of ``dtype`` (copied only if needed)."""
    out: np.ndarray = np.ascontiguousarray(array, dtype=dtype)
    return out if out.flags.writeable else out.copy()


# -- ids ----------------------------------------------------------------------


class PlainIds:
    """Sorted unique int64 ids as they are (the numpy fallback)."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes

    def decode(self) -> np.ndarray:
        return self.values

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self.values[rows]

    def find(self, keys: np.ndarray) -> np.ndarray:
        if not len(self.values):
            return np.full(len(keys), -1, dtype=np.int64)
        pos = np.searchsorted(self.values, keys)
        pos[pos == len(self.values)] = 0
        return np.where(self.values[pos] == keys, pos, -1)


class PackedIds:
    """Sorted unique int64 ids, Elias-Fano coded: ``(id - base) >> low_bits`` in
    a bit vector, the low bits packed, about ``2 + log2(span / n)`` bits per
    id; ids are first squeezed (``pdq_kernels.ID_FIELD_BITS``) so that the
    engine's ``item * 16 + k`` ids cost as little as dense ones."""

    __slots__ = ("n", "width", "base", "low_bits", "buckets", "high", "low", "samples0", "samples1")

    def __init__(self, values: np.ndarray) -> None:
        k = _kernels()
        self.n = len(values)  # callers pass at least one id, spread over less than 2**62
        self.width = int(k.ids_field_width(values))
        first, last = (_squeeze(int(v), self.width, k.ID_FIELD_BITS) for v in (values[0], values[-1]))
        self.base = first
        span = last - first + 1
        self.low_bits = max(0, (span // self.n).bit_length() - 1)
        self.buckets = ((span - 1) >> self.low_bits) + 1
        self.high, self.low = k.ids_build(values, self.width, self.base, self.low_bits, self.buckets)
        self.samples0 = k.build_samples(self.high, self.buckets, True, k.ID_SAMPLE_SHIFT)
        self.samples1 = k.build_samples(self.high, self.n, False, k.ID_SAMPLE_SHIFT)

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return self.high.nbytes + self.low.nbytes + self.samples0.nbytes + self.samples1.nbytes

    def decode(self) -> np.ndarray:
        return _kernels().ids_decode(self.n, self.width, self.base, self.low_bits, self.high, self.low)

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if not len(rows):
            return rows
        return _kernels().ids_take(rows, self.width, self.base, self.low_bits, self.high, self.samples1, self.low)

    def find(self, keys: np.ndarray) -> np.ndarray:
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        return _kernels().ids_find(
            keys, self.width, self.base, self.low_bits, self.buckets, self.high, self.samples0, self.low
        )


def _squeeze(value: int, width: int, field_bits: int) -> int:
    """``pdq_kernels._squeeze`` of one Python int."""
    return ((value >> field_bits) << width) | (value & ((1 << field_bits) - 1))


def make_ids(values: np.ndarray) -> PlainIds | PackedIds:
    """Packed ids with the numba kernels, plain ones without."""
    if not (isinstance(values, np.ndarray) and values.dtype == np.int64 and values.flags.c_contiguous):
        values = np.ascontiguousarray(values, dtype=np.int64)
    if native_available() and len(values) and int(values[-1]) - int(values[0]) < 1 << 62:
        return PackedIds(values)
    return PlainIds(values)  # (or ids spread over more than 2**62: kept as they are)


# -- tables -------------------------------------------------------------------


def build_tables(hashes: np.ndarray, shape: TableShape) -> tuple[np.ndarray, np.ndarray]:
    """The 11 probe tables of ``(n, 4)`` uint64 hashes (needs numba):
    (highs ``(11, words)`` uint64 bit vectors, lows packed uint64 row numbers)."""
    k = _kernels()
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(hashes)
    highs, lows = [], np.empty(CHUNKS * n, dtype=np.int64)
    for chunk in range(CHUNKS):
        rows, keys = k.sort_by_key(k.chunk_keys(hashes, chunk, shape.key_bits), 1 << shape.key_bits)
        if shape.slots > 1:
            keys = keys * shape.slots + (rows >> shape.low_bits)
            rows &= (1 << shape.low_bits) - 1
        highs.append(k.build_high(keys, shape.buckets))
        lows[chunk * n : (chunk + 1) * n] = rows
    # numpy's allocator asks the kernel for huge pages (numba's does not): the
    # probes read these arrays at random, and TLB misses would slow them down
    return np.stack(highs), np.array(k.pack(lows, shape.low_bits))


def table_samples(highs: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Select samples of every table's bit vector (rebuilt on load, not stored):
    (coarse ``(11, g)`` uint32, fine ``(11, 16 g)`` uint16 offsets from coarse;
    uint32 with a zero coarse array when an offset does not fit 16 bits)."""
    k = _kernels()
    full = np.stack([k.build_samples(h, buckets, True, k.SAMPLE_SHIFT) for h in highs])
    step = 1 << (k.COARSE_SHIFT - k.SAMPLE_SHIFT)
    pad = -full.shape[1] % step
    if pad:
        full = np.concatenate([full, np.repeat(full[:, -1:], pad, axis=1)], axis=1)
    coarse = np.ascontiguousarray(full[:, ::step])
    fine = full - np.repeat(coarse, step, axis=1)
    if int(fine.max(initial=0)) < 1 << 16:
        return coarse, fine.astype(np.uint16)
    return np.zeros_like(coarse), full


class Segment:
    """An immutable batch of rows; rows can only be tombstoned."""

    __slots__ = ("ids", "hashes", "alive_bits", "dead", "shape", "highs", "lows", "coarse", "fine")

    def __init__(
        self, ids: np.ndarray, hashes: np.ndarray, min_table_rows: int = MIN_TABLE_ROWS, *, slot_bits: int = SLOT_BITS
    ) -> None:
        # callers pass ids sorted ascending and unique, hashes aligned with them
        n = len(ids)
        self.ids = make_ids(ids)
        self.hashes = _plain(hashes, np.uint64)
        self.alive_bits = _NONE_DEAD
        self.dead = 0
        self.shape = table_shape(n, slot_bits)
        self.highs: np.ndarray | None = None
        self.lows: np.ndarray | None = None
        self.coarse: np.ndarray | None = None
        self.fine: np.ndarray | None = None
        if n and n >= min_table_rows and native_available():
            self._set_tables(*build_tables(self.hashes, self.shape))

    def _set_tables(self, highs: np.ndarray, lows: np.ndarray) -> None:
        self.highs, self.lows = highs, lows
        self.coarse, self.fine = table_samples(highs, self.shape.buckets)

    @classmethod
    def from_tables(cls, ids: np.ndarray, hashes: np.ndarray, highs: np.ndarray, lows: np.ndarray) -> Segment:
        """A segment over prebuilt arrays; ``hashes``, ``highs`` and ``lows`` are
        used as they are (e.g. read-only memory maps). Needs the numba kernels."""
        seg = cls.__new__(cls)
        seg.ids = make_ids(ids)
        seg.hashes = hashes
        seg.alive_bits = _NONE_DEAD
        seg.dead = 0
        seg.shape = table_shape(len(hashes))
        seg._set_tables(highs, lows)
        return seg

    @classmethod
    def from_unsorted(cls, ids: np.ndarray, hashes: np.ndarray, min_table_rows: int) -> Segment:
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], np.ascontiguousarray(hashes[order]), min_table_rows)

    @property
    def has_tables(self) -> bool:
        return self.highs is not None

    def tables(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(highs, lows) when this segment has tables and no dead rows (for snapshots)."""
        if self.dead or self.highs is None or self.lows is None:
            return None
        return self.highs, self.lows

    @property
    def alive(self) -> np.ndarray:
        """Live rows as a boolean mask."""
        if not self.dead:
            return np.ones(len(self.hashes), dtype=bool)
        bits = np.unpackbits(self.alive_bits.view(np.uint8), bitorder="little")
        return bits[: len(self.hashes)].astype(bool)

    def __len__(self) -> int:
        return len(self.hashes) - self.dead

    @property
    def rows(self) -> int:
        """Rows held, dead or alive."""
        return len(self.hashes)

    def nbytes(self) -> int:
        tables = sum(a.nbytes for a in (self.highs, self.lows, self.coarse, self.fine) if a is not None)
        return self.ids.nbytes + self.hashes.nbytes + self.alive_bits.nbytes + tables

    def find(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id (``-1`` where absent or tombstoned)."""
        rows = self.ids.find(np.ascontiguousarray(ids, dtype=np.int64))
        if self.dead:
            hit = np.flatnonzero(rows >= 0)
            rows[hit[~self._alive_rows(rows[hit])]] = -1
        return rows

    def _alive_rows(self, rows: np.ndarray) -> np.ndarray:
        """Whether each of ``rows`` is live (reads only their bits)."""
        if not self.dead:
            return np.ones(len(rows), dtype=bool)
        words = self.alive_bits[rows >> 6]
        return ((words >> (rows & 63).astype(np.uint64)) & np.uint64(1)).astype(bool)

    def tombstone(self, rows: np.ndarray) -> None:
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        rows = rows[self._alive_rows(rows)]
        if not len(rows):
            return
        # a new bit set (queries running on other threads keep the one they read)
        bits = self.alive_bits.copy() if self.dead else _bits_of(np.ones(len(self.hashes), dtype=bool))
        np.bitwise_and.at(bits, rows >> 6, ~(np.uint64(1) << (rows & 63).astype(np.uint64)))
        self.alive_bits = bits
        self.dead += len(rows)

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids.decode()
        if not self.dead:
            return ids, self.hashes
        mask = self.alive
        return ids[mask], self.hashes[mask]

    def uses_tables(self, max_distance: int, native: bool | None = None) -> bool:
        """Whether the default strategy probes the tables."""
        if native is None:
            native = native_available()
        if not native or self.highs is None:
            return False
        shape = self.shape
        per_probe = PROBE_NS + CANDIDATE_NS * shape.rows / shape.buckets
        probes = probe_count(int(max_distance), shape.key_bits)
        return probes <= MAX_PROBES and probes * per_probe < shape.rows * SCAN_NS

    def query(
        self,
        queries: np.ndarray,
        max_distance: int,
        use_tables: bool | None = None,
        native: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every live (query row, segment row, distance) within ``max_distance``.

        ``queries`` is ``(Q, 4)`` uint64. ``use_tables=None`` picks the cheaper
        strategy; ``native`` picks the numba kernels (default: when
        :func:`native_available`) or the numpy scan. Every combination is
        exact. Pairs come back unique, in no particular order, as ``(query
        rows int64, rows int64, distances uint16)``.
        """
        if native is None:
            native = native_available()
        if native and not native_available():
            raise ValueError("the numba kernels are not available (numba is not installed)")
        if use_tables is None:
            use_tables = self.uses_tables(max_distance, native)
        if use_tables and self.highs is None:
            raise ValueError("this segment has no probe tables")
        if use_tables and not native:
            raise ValueError("the probe tables need the numba kernels")
        queries = _plain(queries, np.uint64)
        if not len(queries) or not len(self.hashes):
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=np.uint16)
        t = int(max_distance)
        if native and use_tables:
            shape = self.shape
            chunk_of, mask_of = probe_plan(t, shape.key_bits)
            return _kernels().probe_query_batch(
                queries, self.hashes, self.alive_bits, self.highs, self.coarse, self.fine, self.lows,
                shape.key_bits, shape.slots, shape.low_bits, chunk_of, mask_of, t,
            )
        if native:
            return _kernels().scan_query_batch(queries, self.hashes, self.alive_bits, t)
        step = max(1, _SCAN_PAIRS // max(1, min(len(self.hashes), _SCAN_ROWS)))
        parts = [self._scan(queries[i : i + step], i, t) for i in range(0, len(queries), step)]
        q, r, d = (np.concatenate(x) for x in zip(*parts, strict=True))
        return q, r, d

    def _scan(self, queries: np.ndarray, first: int, t: int) -> tuple[np.ndarray, ...]:
        n = len(self.hashes)
        rows_per_block = max(1, min(n, _SCAN_ROWS))
        queries_per_block = max(1, _SCAN_PAIRS // rows_per_block)
        out_q, out_r, out_d = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0, np.uint16)]
        for r0 in range(0, n, rows_per_block):
            block = self.hashes[r0 : r0 + rows_per_block]
            for q0 in range(0, len(queries), queries_per_block):
                qq, rr, dd = _scan_block(block, queries[q0 : q0 + queries_per_block], t)
                out_q.append(qq + (first + q0))
                out_r.append(rr + r0)
                out_d.append(dd)
        q, r, d = (np.concatenate(x) for x in (out_q, out_r, out_d))
        if self.dead:
            keep = self.alive[r]
            q, r, d = q[keep], r[keep], d[keep]
        return q, r, d


def _bits_of(mask: np.ndarray) -> np.ndarray:
    """Boolean mask -> uint64 bit set (bit ``r`` of word ``r // 64``), one padding word."""
    packed = np.packbits(mask, bitorder="little")
    out = np.zeros((len(mask) + 63) // 64 + 1, dtype=np.uint64)
    out.view(np.uint8)[: len(packed)] = packed
    return out


#: the tombstone bit set of a segment without dead rows: none (the kernels read
#: an empty set as "all alive"), so a clean segment spends nothing on it
_NONE_DEAD = np.empty(0, dtype=np.uint64)
