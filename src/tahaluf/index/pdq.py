"""Exact PDQ range search: which indexed hashes are within ``t`` bits of a query.

:class:`PDQIndex` maps int64 ids to 256-bit PDQ hashes (``(N, 4)`` uint64, see
:mod:`tahaluf.index.pdq_codec`) and answers batched range queries with exactly
the pairs a brute-force scan returns, at every threshold 0..256.

Storage is a short list of immutable segments (log-structured): ``add``
appends a segment and merges neighbours of similar size, so adds never
rebuild the whole index; ``remove`` tombstones rows and
rebuilds a segment once a quarter of it is dead. Each large segment answers
small thresholds with compressed multi-index hashing over 11 chunks of 20
bits and large thresholds with a scan (see :mod:`tahaluf.index.pdq_segment`,
docs/pdq-index.md). The index is not thread-safe for concurrent writers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tahaluf.errors import Conflict, InvalidInput, StorageError
from tahaluf.index import snapshot
from tahaluf.index.pdq_codec import (
    HASH_WORDS,
    as_hash_words,
    as_ids,
    check_max_distance,
)
from tahaluf.index.pdq_plan import table_shape
from tahaluf.index.pdq_segment import MIN_TABLE_ROWS, Segment, native_available

__all__ = ["DEFAULT_MAX_DISTANCE", "Matches", "PDQIndex"]

#: PDQ's "confident match" threshold (as in HMA / python-threatexchange)
DEFAULT_MAX_DISTANCE = 31
_COMPACT_DEAD_FRACTION = 0.25


@dataclass(frozen=True)
class Matches:
    """Flat result of a batched query: one entry per (query row, matching id).

    ``query_rows`` (int64), ``ids`` (int64) and ``distances`` (int16) have the
    same length and are sorted by query row, then distance, then id.
    ``n_queries`` is the number of query rows asked, matched or not.
    """

    query_rows: np.ndarray
    ids: np.ndarray
    distances: np.ndarray
    n_queries: int

    def __len__(self) -> int:
        return len(self.ids)

    def for_query(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) matched by query ``row``."""
        lo, hi = np.searchsorted(self.query_rows, [row, row + 1])
        return self.ids[lo:hi], self.distances[lo:hi]

    def per_query(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """``[(query_row, ids, distances), ...]`` for every query row, in order."""
        bounds = np.searchsorted(self.query_rows, np.arange(self.n_queries + 1))
        return [
            (row, self.ids[bounds[row] : bounds[row + 1]], self.distances[bounds[row] : bounds[row + 1]])
            for row in range(self.n_queries)
        ]


def _sorted_matches(q: np.ndarray, ids: np.ndarray, d: np.ndarray, n_queries: int) -> Matches:
    order = np.lexsort((ids, d, q))
    return Matches(q[order], ids[order], d[order].astype(np.int16), n_queries)


class PDQIndex:
    """Incremental exact Hamming range index over PDQ hashes, keyed by int64 ids."""

    __slots__ = ("_segments", "_min_table_rows")

    def __init__(self, *, min_table_rows: int = MIN_TABLE_ROWS) -> None:
        """``min_table_rows``: segments with fewer rows get no probe tables
        (scanning them is cheaper); 0 builds tables for every segment."""
        self._segments: list[Segment] = []
        self._min_table_rows = int(min_table_rows)

    def __len__(self) -> int:
        return sum(len(s) for s in self._segments)

    @property
    def nbytes(self) -> int:
        """Bytes held by ids, hashes, tombstones and probe tables."""
        return sum(s.nbytes() for s in self._segments)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    # -- writes -----------------------------------------------------------

    def add(self, ids: np.ndarray, hashes: np.ndarray) -> None:
        """Index ``hashes`` (``(N, 4)`` uint64 or ``(N, 32)`` uint8) under ``ids``.

        Ids must be new: :class:`~tahaluf.errors.Conflict` if one is already
        indexed, :class:`~tahaluf.errors.InvalidInput` if repeated in the batch.
        """
        words = as_hash_words(hashes)
        keys = as_ids(ids, len(words))
        if not len(keys):
            return
        if len(np.unique(keys)) != len(keys):
            raise InvalidInput("ids repeat within the batch")
        present = self.contains(keys)
        if present.any():
            shown = ", ".join(str(i) for i in keys[present][:5])
            raise Conflict(f"{int(present.sum())} ids are already indexed (e.g. {shown})")
        self._segments.append(Segment.from_unsorted(keys, words, self._min_table_rows))
        self._merge_tail()

    def remove(self, ids: np.ndarray) -> int:
        """Drop ``ids`` (unknown ids are ignored); returns how many were removed."""
        keys = as_ids(ids)
        removed = 0
        for i, seg in enumerate(self._segments):
            rows = seg.find(keys)
            rows = np.unique(rows[rows >= 0])
            if not len(rows):
                continue
            seg.tombstone(rows)
            removed += len(rows)
            if seg.dead > _COMPACT_DEAD_FRACTION * seg.rows:
                self._segments[i] = Segment(*seg.live(), self._min_table_rows)
        self._segments = [s for s in self._segments if len(s)]
        return removed

    def compact(self) -> None:
        """Merge every segment into one and drop tombstones."""
        ids, hashes = self.items()
        self._segments = [Segment(ids, hashes, self._min_table_rows)] if len(ids) else []

    def _merge_tail(self) -> None:
        segs = self._segments
        while len(segs) >= 2 and len(segs[-2]) <= 2 * len(segs[-1]):
            newer, older = segs.pop(), segs.pop()
            ids_a, hashes_a = older.live()
            ids_b, hashes_b = newer.live()
            ids = np.concatenate([ids_a, ids_b])
            segs.append(Segment.from_unsorted(ids, np.concatenate([hashes_a, hashes_b]), self._min_table_rows))

    # -- reads ------------------------------------------------------------

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``ids`` are indexed."""
        keys = as_ids(ids)
        found = np.zeros(len(keys), dtype=bool)
        for seg in self._segments:
            found |= seg.find(keys) >= 0
        return found

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """All live (ids, hashes), sorted by id."""
        if not self._segments:
            return np.empty(0, dtype=np.int64), np.empty((0, HASH_WORDS), dtype=np.uint64)
        parts = [s.live() for s in self._segments]
        ids = np.concatenate([p[0] for p in parts])
        hashes = np.concatenate([p[1] for p in parts])
        order = np.argsort(ids, kind="stable")
        return ids[order], np.ascontiguousarray(hashes[order])

    def query(
        self,
        hashes: np.ndarray,
        max_distance: int = DEFAULT_MAX_DISTANCE,
        *,
        use_tables: bool | None = None,
    ) -> Matches:
        """Every (query row, id, distance) with Hamming distance <= ``max_distance``.

        ``hashes`` is a batch ``(Q, 4)`` uint64 (or ``(Q, 32)`` uint8); batching
        many queries in one call is much faster than one call per query.
        ``use_tables`` forces (True) or forbids (False) the probe tables on
        segments that have them; by default the cheaper path is chosen. Every
        path returns the same result.
        """
        queries = as_hash_words(hashes, "queries")
        t = check_max_distance(max_distance)
        qs, ids, ds = [], [], []
        for seg in self._segments:
            choice = None if use_tables is None else (use_tables and seg.has_tables)
            q, rows, d = seg.query(queries, t, choice)
            if len(q):
                qs.append(q)
                ids.append(seg.ids.take(rows))
                ds.append(d)
        if not qs:  # the common case for a single lookup: nothing to sort
            empty = np.empty(0, dtype=np.int64)
            return Matches(empty, empty, np.empty(0, dtype=np.int16), len(queries))
        if len(qs) == 1:
            return _sorted_matches(qs[0], ids[0], ds[0], len(queries))
        return _sorted_matches(np.concatenate(qs), np.concatenate(ids), np.concatenate(ds), len(queries))

    def query_dihedral(self, variants: np.ndarray, max_distance: int = DEFAULT_MAX_DISTANCE) -> Matches:
        """Query with several variants per query (the 8 dihedral PDQ hashes).

        ``variants`` is ``(Q, V, 4)`` uint64 or ``(Q, V, 32)`` uint8, usually
        V = 8. For each query row, an id matches when any variant is within
        ``max_distance``; its distance is the best (minimum) over the variants.
        """
        arr = np.asarray(variants)
        if arr.ndim != 3 or arr.shape[1] < 1:
            raise InvalidInput(f"variants must be (Q, V, 4) uint64 or (Q, V, 32) uint8, got {arr.shape}")
        n_queries, n_variants = arr.shape[0], arr.shape[1]
        flat = self.query(arr.reshape(n_queries * n_variants, arr.shape[2]), max_distance)
        q = flat.query_rows // n_variants
        order = np.lexsort((flat.distances, flat.ids, q))
        q, ids, d = q[order], flat.ids[order], flat.distances[order]
        first = np.ones(len(q), dtype=bool)
        first[1:] = (q[1:] != q[:-1]) | (ids[1:] != ids[:-1])
        return _sorted_matches(q[first], ids[first], d[first], n_queries)

    # -- snapshots --------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a snapshot (docs/pdq-index.md); replaces ``path`` atomically.

        Every segment is written with its probe tables (version 3), so that
        :meth:`load` with ``mmap=True`` builds nothing; segments with
        tombstones are rewritten without them first."""
        out = []
        for seg in self._segments:
            if seg.dead:
                seg = Segment(*seg.live(), self._min_table_rows)
                if not len(seg):
                    continue
            ids, hashes = seg.live()
            tables = seg.tables()
            if tables is None:
                out.append(snapshot.SegmentArrays(ids, hashes))
            else:
                shape = seg.shape
                out.append(snapshot.SegmentArrays(ids, hashes, shape.key_bits, shape.slots, shape.low_bits, *tables))
        snapshot.write_snapshot(path, out)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, min_table_rows: int = MIN_TABLE_ROWS, mmap: bool = False
    ) -> PDQIndex:
        """Read a snapshot written by :meth:`save`; StorageError if it is not valid.

        ``mmap=True`` maps the snapshot's hashes and tables read-only instead
        of copying them: every process that loads the same file shares those
        pages (the hub's workers), and only ids, tombstones, select samples and
        later additions are private. Snapshots of earlier versions are read
        and their tables rebuilt."""
        index = cls(min_table_rows=min_table_rows)
        for seg in snapshot.read_snapshot(path, mmap=mmap):
            rows = len(seg.ids)
            if seg.highs is not None and seg.lows is not None and native_available() and rows >= min_table_rows:
                if not _tables_valid(seg):
                    raise StorageError(f"{path}: corrupt PDQ index snapshot (probe tables inconsistent)")
                index._segments.append(Segment.from_tables(seg.ids, seg.hashes, seg.highs, seg.lows))
            else:
                ids, hashes = np.array(seg.ids, dtype=np.int64), np.array(seg.hashes, dtype=np.uint64)
                index._segments.append(Segment(ids, hashes, min_table_rows))
        return index


def _tables_valid(seg: snapshot.SegmentArrays) -> bool:
    from tahaluf.index import pdq_kernels

    shape = table_shape(len(seg.ids))
    if (seg.key_bits, seg.slots, seg.low_bits) != (shape.key_bits, shape.slots, shape.low_bits):
        return False
    return bool(pdq_kernels.check_tables(seg.highs, seg.lows, shape.rows, shape.buckets, shape.slots, shape.low_bits))
