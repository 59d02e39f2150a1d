"""Immutable PDQ index segments: multi-index hashing and brute-force scan.

A segment holds ``n`` hashes (``(n, 4)`` uint64), their ids (``(n,)`` int64,
sorted ascending, unique) and a tombstone mask. Segments of at least
:data:`MIN_TABLE_ROWS` rows also hold 16 probe tables, one per 16-bit chunk
(the ``(n, 16)`` uint16 view of the hash words): rows sorted by that chunk's
value (``postings``, uint32) and where each of the 65,536 values starts
(``offsets``, uint32).

Exactness (generalised pigeonhole): with per-chunk radii ``r_c`` such that
``sum(r_c + 1) >= t + 1``, any row within distance ``t`` of a query has at
least one chunk ``c`` within ``r_c`` bits of the query's chunk (otherwise the
distance would be at least ``sum(r_c + 1) > t``). Probing every chunk value
within ``r_c`` of the query's (``r_c = -1``: chunk not probed) finds every
match; each candidate is then verified with the full 256-bit distance.

Two implementations of probing and scanning return the same pairs: the numba
kernels of :mod:`tahaluf.index.pdq_kernels` (the default when numba imports,
see :func:`native_available`; imported on first use, as numba takes ~0.1 s to
import) and the vectorised numpy code below (the fallback).
"""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np

__all__ = [
    "CHUNKS",
    "build_tables",
    "MIN_TABLE_ROWS",
    "NATIVE_PROBE_LIMIT",
    "PROBE_LIMIT",
    "Segment",
    "chunk_radii",
    "native_available",
    "probe_count",
    "scan_distances",
]

CHUNKS = 16
KEYS = 1 << 16
#: segments smaller than this are only ever scanned (tables would not pay)
MIN_TABLE_ROWS = 4096
#: use the tables while a query probes at most this many chunk values
#: (31 probes 272, 47: 2,192, 63: 11,152, 70: 23,892, 72: 27,532; measured crossover
#: near 25,000 at 1M rows, see docs/pdq-index.md)
PROBE_LIMIT = 25_000
#: the same crossover for the numba kernels, whose scan is ~4x faster than numpy's
#: (1M rows: t=54, 6,112 probes: tables 792 vs scan 756 lookups/s; t=56: 578 vs 627)
NATIVE_PROBE_LIMIT = 6_200
#: bound on candidate (query, row) pairs held in memory at once
_PAIR_BUDGET = 1 << 16  # ~2 MB of candidates: stays in cache
_SCAN_ROWS = 1 << 15
_SCAN_PAIRS = 1 << 16
#: below this threshold a scan first bounds the distance with the first two words
_TWO_STAGE_BELOW = 64


@lru_cache(maxsize=1)
def _kernels():
    """The numba kernel module, or None when numba cannot be imported."""
    if sys.byteorder != "little":  # the kernels read chunks as the little-endian uint16 view
        return None
    try:
        from tahaluf.index import pdq_kernels
    except ImportError:  # numba missing: the numpy implementation is used
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


def chunk_radii(max_distance: int) -> np.ndarray:
    """Per-chunk probe radii (``-1`` = not probed) with ``sum(r + 1) == t + 1``."""
    base, extra = divmod(max_distance + 1, CHUNKS)
    radii = np.full(CHUNKS, base - 1, dtype=np.int64)
    radii[:extra] += 1
    return radii


@lru_cache(maxsize=None)
def _masks(radius: int) -> np.ndarray:
    """All 16-bit masks with at most ``radius`` bits set (uint16)."""
    values = np.arange(KEYS, dtype=np.uint32)
    weights = np.bitwise_count(values)
    order = np.argsort(weights, kind="stable")
    return values[order][weights[order] <= radius].astype(np.uint16)


def probe_count(max_distance: int) -> int:
    """Chunk values probed per query at this threshold (the tables' cost)."""
    return int(sum(len(_masks(int(r))) for r in chunk_radii(max_distance) if r >= 0))


@lru_cache(maxsize=64)
def _probe_plan(max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """(chunk index, xor mask) of every probe, as (P,) int64 and (P,) uint16."""
    chunks, masks = [], []
    for chunk, radius in enumerate(chunk_radii(max_distance)):
        if radius >= 0:
            m = _masks(int(radius))
            chunks.append(np.full(len(m), chunk, dtype=np.int64))
            masks.append(m)
    return np.concatenate(chunks), np.concatenate(masks)


def build_tables(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 16 probe tables of ``(n, 4)`` uint64 hashes: (postings (16, n) uint32, offsets (16, 65537) uint32)."""
    return _build_tables(np.ascontiguousarray(hashes, dtype=np.uint64))


def _build_tables(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = hashes.shape[0]
    keys = hashes.view(np.uint16).reshape(n, CHUNKS)
    postings = np.empty((CHUNKS, n), dtype=np.uint32)
    offsets = np.zeros((CHUNKS, KEYS + 1), dtype=np.uint32)
    for chunk in range(CHUNKS):
        column = np.ascontiguousarray(keys[:, chunk])
        postings[chunk] = np.argsort(column, kind="stable")  # radix sort for uint16
        np.cumsum(np.bincount(column, minlength=KEYS), out=offsets[chunk, 1:])
    return postings, offsets


def _expand_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + l)`` for every (s, l) pair."""
    ends = np.cumsum(lengths)
    return np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)


def _plain(array: np.ndarray, dtype: type) -> np.ndarray:
    """``array`` as a C-contiguous, writable array of ``dtype`` (copied only if needed)."""
    out = np.ascontiguousarray(array, dtype=dtype)
    return out if out.flags.writeable else out.copy()


class Segment:
    """An immutable batch of rows; rows can only be tombstoned."""

    __slots__ = ("ids", "hashes", "alive", "dead", "postings", "offsets")

    def __init__(self, ids: np.ndarray, hashes: np.ndarray, min_table_rows: int = MIN_TABLE_ROWS) -> None:
        # callers pass ids sorted ascending and unique, hashes aligned with them
        self.ids = ids
        self.hashes = _plain(hashes, np.uint64)
        self.alive = np.ones(len(ids), dtype=bool)
        self.dead = 0
        self.postings: np.ndarray | None = None
        self.offsets: np.ndarray | None = None
        if len(ids) and len(ids) >= min_table_rows:
            self.postings, self.offsets = _build_tables(hashes)

    @classmethod
    def from_tables(cls, ids: np.ndarray, hashes: np.ndarray, postings: np.ndarray, offsets: np.ndarray) -> Segment:
        """A segment over prebuilt arrays, used as they are (e.g. read-only memory maps)."""
        seg = cls.__new__(cls)
        seg.ids, seg.hashes, seg.postings, seg.offsets = ids, hashes, postings, offsets
        seg.alive = np.ones(len(ids), dtype=bool)
        seg.dead = 0
        return seg

    def tables(self, min_table_rows: int = MIN_TABLE_ROWS) -> tuple[np.ndarray, np.ndarray] | None:
        """This segment's probe tables when it has no dead rows (for snapshots)."""
        if self.dead or self.postings is None or self.offsets is None:
            return None
        return self.postings, self.offsets

    @classmethod
    def from_unsorted(cls, ids: np.ndarray, hashes: np.ndarray, min_table_rows: int) -> Segment:
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], np.ascontiguousarray(hashes[order]), min_table_rows)

    def __len__(self) -> int:
        return len(self.ids) - self.dead

    def nbytes(self) -> int:
        tables = 0 if self.postings is None else self.postings.nbytes + self.offsets.nbytes
        return self.ids.nbytes + self.hashes.nbytes + self.alive.nbytes + tables

    def find(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id (``-1`` where absent or tombstoned)."""
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos[pos == len(self.ids)] = 0
        found = (self.ids[pos] == ids) & self.alive[pos]
        return np.where(found, pos, -1)

    def tombstone(self, rows: np.ndarray) -> None:
        rows = np.unique(rows)
        self.alive[rows] = False
        self.dead += len(rows)

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.dead:
            return self.ids, self.hashes
        return self.ids[self.alive], self.hashes[self.alive]

    def uses_tables(self, max_distance: int, native: bool | None = None) -> bool:
        """Whether the default strategy probes the tables (numba or numpy limit)."""
        if native is None:
            native = native_available()
        limit = NATIVE_PROBE_LIMIT if native else PROBE_LIMIT
        return self.postings is not None and probe_count(max_distance) <= limit

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
        :func:`native_available`) or numpy. Every combination is exact. Pairs
        come back unique, in no particular order, as ``(query rows int64, rows
        int64, distances uint16)``.
        """
        if native is None:
            native = native_available()
        if native and not native_available():
            raise ValueError("the numba kernels are not available (numba is not installed)")
        if use_tables is None:
            use_tables = self.uses_tables(max_distance, native)
        if use_tables and self.postings is None:
            raise ValueError("this segment has no probe tables")
        if native:
            return self._native(queries, int(max_distance), use_tables)
        kernel = self._probe if use_tables else self._scan
        if use_tables:
            probes = probe_count(max_distance)
            per_query = max(1, len(self.ids) * probes // KEYS, probes)
        else:
            per_query = max(1, len(self.ids))
        step = max(1, _PAIR_BUDGET // per_query)
        parts = [kernel(queries[i : i + step], i, max_distance) for i in range(0, len(queries), step)]
        if not parts:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=np.uint16)
        q, r, d = (np.concatenate(x) for x in zip(*parts))
        return q, r, d

    def _native(self, queries: np.ndarray, t: int, use_tables: bool) -> tuple[np.ndarray, ...]:
        # one compiled specialisation: C-contiguous, writable arrays of fixed dtypes
        queries = _plain(queries, np.uint64)
        if not len(queries) or not len(self.ids):
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=np.uint16)
        if not use_tables:
            return _kernels().scan_query_batch(queries, self.hashes, self.alive, t)
        chunk_of, mask_of = _probe_plan(t)
        return _kernels().probe_query_batch(
            queries, self.hashes, self.postings, self.offsets, self.alive, chunk_of, mask_of, t
        )

    def _scan(self, queries: np.ndarray, first: int, t: int) -> tuple[np.ndarray, ...]:
        n = len(self.ids)
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

    def _probe(self, queries: np.ndarray, first: int, t: int) -> tuple[np.ndarray, ...]:
        n = len(self.ids)
        chunk_of, mask_of = _probe_plan(t)
        n_probes = len(chunk_of)
        qkeys = queries.view(np.uint16).reshape(len(queries), CHUNKS)
        slots = chunk_of * (KEYS + 1) + (qkeys[:, chunk_of] ^ mask_of)  # (Q, P) int64
        offsets = self.offsets.reshape(-1)
        starts = np.take(offsets, slots).astype(np.int64).ravel()
        lengths = np.take(offsets, slots + 1).astype(np.int64).ravel() - starts
        hit = np.flatnonzero(lengths)
        empty = np.empty(0, dtype=np.int64)
        if not len(hit):
            return empty, empty, np.empty(0, dtype=np.uint16)
        lengths = lengths[hit]
        starts = starts[hit] + np.tile(chunk_of * n, len(queries))[hit]
        rows = np.take(self.postings.reshape(-1), _expand_ranges(starts, lengths))
        per_query = np.bincount(hit // n_probes, weights=lengths, minlength=len(queries))
        per_query = per_query.astype(np.int64)
        qrows = np.repeat(np.arange(len(queries), dtype=np.int64), per_query)
        candidates = np.take(self.hashes, rows, axis=0)
        dist = scan_distances(candidates, np.repeat(queries, per_query, axis=0))
        keep = dist <= t
        if self.dead:
            keep &= self.alive[rows]
        qrows, rows, dist = qrows[keep], rows[keep].astype(np.int64), dist[keep]
        # a row near the query in several chunks is found once per chunk
        _, first_seen = np.unique(qrows * n + rows, return_index=True)
        return qrows[first_seen] + first, rows[first_seen], dist[first_seen]
