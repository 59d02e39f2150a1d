"""Numba kernels for PDQ segments: compressed multi-index probing and brute-force scan.

Compiled on first use and cached next to this file (``cache=True``), so later
processes only load machine code. The query kernels release the GIL
(``nogil``), allocate their own outputs and never modify their inputs, so
several threads may query the same segment at once. Importing this module
requires numba; :mod:`tahaluf.index.pdq_segment` falls back to a numpy scan
when it is missing.

The table-building and id kernels are in :mod:`tahaluf.index.pdq_tables` and
the bit helpers and layouts in :mod:`tahaluf.index.pdq_bits`; this module
gives all of them (one import for :mod:`tahaluf.index.pdq_segment`).

Query kernels return ``(query_rows int64, rows int64, distances uint16)``:
every live (query, row) pair within ``t`` bits, each pair once.
"""

from __future__ import annotations

import numba
import numpy as np

from tahaluf.index.pdq_bits import (
    CHUNK_BITS,
    CHUNKS,
    COARSE_SHIFT,
    ID_SAMPLE_SHIFT,
    SAMPLE_SHIFT,
    _alive,
    _chunk_key,
    _cttz,
    _popcount,
    _prefetch,
    _run_of_ones,
    _select_zero_near,
    _unpack,
)
from tahaluf.index.pdq_tables import (
    ID_FIELD_BITS,
    build_high,
    build_samples,
    check_tables,
    chunk_keys,
    ids_build,
    ids_decode,
    ids_field_width,
    ids_find,
    ids_take,
    pack,
    sort_by_key,
)

__all__ = [
    "CHUNKS",
    "CHUNK_BITS",
    "COARSE_SHIFT",
    "ID_FIELD_BITS",
    "ID_SAMPLE_SHIFT",
    "SAMPLE_SHIFT",
    "build_high",
    "build_samples",
    "check_tables",
    "chunk_keys",
    "ids_build",
    "ids_decode",
    "ids_field_width",
    "ids_find",
    "ids_take",
    "pack",
    "probe_query_batch",
    "scan_query_batch",
    "sort_by_key",
]

_SAMPLE_MASK = (1 << SAMPLE_SHIFT) - 1
_MIN_CAPACITY = 1024
#: candidates whose hash cache line is requested ahead of its verification
_PREFETCH_AHEAD = 128
#: scans skip words 2-3 once words 0-1 exceed t below this threshold; near
#: t = 64 that branch is unpredictable (1M rows: 970 lookups/s at t=31 with
#: it, 650 without; 190 with it at t=64, 720 without)
_EARLY_EXIT_BELOW = 48


@numba.njit(cache=True, nogil=True)
def _grow(qrows, rows, dists):
    """Double the three output buffers, keeping their contents."""
    cap = 2 * len(rows)
    new_q = np.empty(cap, np.int64)
    new_r = np.empty(cap, np.int64)
    new_d = np.empty(cap, np.uint16)
    new_q[: len(rows)] = qrows
    new_r[: len(rows)] = rows
    new_d[: len(rows)] = dists
    return new_q, new_r, new_d


@numba.njit(cache=True, nogil=True)
def _buffers(n_queries):
    cap = max(_MIN_CAPACITY, 4 * n_queries)
    return np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.uint16)


@numba.njit(cache=True, nogil=True, inline="always")
def _distance_within(h, row, q0, q1, q2, q3, t):
    """Hamming distance of ``h[row]`` to the query, or ``t + 1`` once it exceeds ``t``."""
    d = np.int64(_popcount(h[row, 0] ^ q0) + _popcount(h[row, 1] ^ q1))
    if d > t:
        return t + 1
    return d + np.int64(_popcount(h[row, 2] ^ q2) + _popcount(h[row, 3] ^ q3))


@numba.njit(cache=True, nogil=True, inline="always")
def _distance(h, row, q0, q1, q2, q3):
    """Hamming distance of ``h[row]`` to the query (no branch: for scans)."""
    head = _popcount(h[row, 0] ^ q0) + _popcount(h[row, 1] ^ q1)
    return np.int64(head + _popcount(h[row, 2] ^ q2) + _popcount(h[row, 3] ^ q3))


@numba.njit(cache=True, nogil=True)
def _radii(probe_chunks, probe_masks):
    """Per-chunk probe radius (largest mask weight; ``-1``: chunk not probed)."""
    radius = np.full(CHUNKS, -1, np.int64)
    for p in range(len(probe_chunks)):
        weight = np.int64(_popcount(np.uint64(probe_masks[p])))
        radius[probe_chunks[p]] = max(radius[probe_chunks[p]], weight)
    return radius


@numba.njit(cache=True, nogil=True)
def _found_earlier(hashes, row, qkeys, radius, chunk, shift):
    """True when a lower probed chunk than ``chunk`` is within its radius of the query."""
    for c in range(chunk):
        if radius[c] >= 0:
            key = _chunk_key(hashes, row, c, shift)
            if np.int64(_popcount(np.uint64(key ^ qkeys[c]))) <= radius[c]:
                return True
    return False


@numba.njit(cache=True, nogil=True)
def probe_query_batch(
    queries, hashes, alive, highs, coarse, fine, lows, key_bits, slots, low_bits, probe_chunks, probe_masks, t
):
    """Every live (query row, row, distance <= t) found through the probe tables.

    ``probe_chunks`` ``(P,)`` int64 and ``probe_masks`` ``(P,)`` int64 list the
    probes: for each probed chunk, **every** ``key_bits``-bit mask of weight
    <= that chunk's radius (a generalised-pigeonhole plan, see pdq_segment).
    ``slots`` and ``low_bits`` describe the tables (module docstring).
    Each query runs in passes over all its probes, so that the CPU fetches
    many buckets at once: select samples, bit-vector words, packed rows,
    then the candidate hashes. A row found through several chunks is
    reported only through the lowest one (a duplicate exactly when a lower
    probed chunk is within its radius of the query), so no visited-set is needed.
    """
    n = hashes.shape[0]
    shift = CHUNK_BITS - key_bits
    n_probes = len(probe_chunks)
    radius = _radii(probe_chunks, probe_masks)
    flat_hashes = hashes.reshape(-1)
    flat_highs = highs.reshape(-1)
    table_bits = highs.shape[1] * 64
    keys = np.empty(n_probes, np.int64)
    first = np.empty(n_probes, np.int64)
    count = np.empty(n_probes, np.int64)
    # sized for the usual candidate count, so that a single query allocates once
    capacity = max(_MIN_CAPACITY, 2 * n_probes * (n // max(1, slots << key_bits) + 1))
    cand = np.empty(capacity, np.int64)
    cand_chunk = np.empty(capacity, np.int64)
    out_q, out_r, out_d = _buffers(len(queries))
    qkeys = np.empty(CHUNKS, np.int64)
    found = 0
    for q in range(len(queries)):
        for c in range(CHUNKS):
            qkeys[c] = _chunk_key(queries, q, c, shift)
        for p in range(n_probes):
            c = probe_chunks[p]
            zero = (qkeys[c] ^ probe_masks[p]) * slots  # the key's first bucket
            keys[p] = zero
            _prefetch(fine[c], zero >> SAMPLE_SHIFT)
        for p in range(n_probes):
            c = probe_chunks[p]
            zero = keys[p]
            sample = np.int64(coarse[c, zero >> COARSE_SHIFT]) + np.int64(fine[c, zero >> SAMPLE_SHIFT])
            sample += c * table_bits  # in the flat vector of all tables
            first[p] = sample
            _prefetch(flat_highs, sample >> 6)
        total = 0
        for p in range(n_probes):
            c = probe_chunks[p]
            zero = keys[p]
            start = _select_zero_near(flat_highs, first[p], zero & _SAMPLE_MASK) + 1
            if slots == 1:
                run = _run_of_ones(flat_highs, start)
            else:  # the key's slots end at its slots-th zero after the one before start
                run = _select_zero_near(flat_highs, start - 1, slots) - start - (slots - 1)
            entry = c * n + start - c * table_bits - zero - 1
            first[p] = entry
            keys[p] = start  # bit position, for the walk through several slots
            count[p] = run
            total += run
            _prefetch(lows, (entry * low_bits) >> 6)  # unconditional: a branch here mispredicts
        if total > len(cand):
            cand = np.empty(2 * total, np.int64)
            cand_chunk = np.empty(2 * total, np.int64)
        k = 0
        for p in range(n_probes):
            entry = first[p]
            c = probe_chunks[p]
            if slots == 1:
                for j in range(count[p]):
                    row = _unpack(lows, entry + j, low_bits)
                    cand[k] = row
                    cand_chunk[k] = c
                    k += 1
                continue
            # several slots: the j-th one at bit b after the start is in slot b - j
            pos = keys[p]
            run = count[p]
            if run + slots - 1 <= 64:
                w = pos >> 6
                off = np.uint64(pos & 63)
                ones = (flat_highs[w] >> off) | ((flat_highs[w + 1] << np.uint64(1)) << (np.uint64(63) - off))
                for j in range(run):
                    b = np.int64(_cttz(ones))
                    ones &= ones - np.uint64(1)
                    row = ((b - j) << low_bits) | _unpack(lows, entry + j, low_bits)
                    cand[k] = row
                    cand_chunk[k] = c
                    k += 1
                continue
            slot = np.int64(0)
            for j in range(run):
                while not (flat_highs[pos >> 6] >> np.uint64(pos & 63)) & np.uint64(1):
                    slot += 1  # a zero: the next slot's bucket
                    pos += 1
                row = (slot << low_bits) | _unpack(lows, entry + j, low_bits)
                cand[k] = row
                cand_chunk[k] = c
                k += 1
                pos += 1
        q0, q1, q2, q3 = queries[q, 0], queries[q, 1], queries[q, 2], queries[q, 3]
        for i in range(min(_PREFETCH_AHEAD, total)):
            _prefetch(flat_hashes, 4 * cand[i])
        for i in range(total):
            if i + _PREFETCH_AHEAD < total:
                _prefetch(flat_hashes, 4 * cand[i + _PREFETCH_AHEAD])
            row = cand[i]
            d = _distance_within(hashes, row, q0, q1, q2, q3, t)
            if d > t or not _alive(alive, row) or _found_earlier(hashes, row, qkeys, radius, cand_chunk[i], shift):
                continue
            if found == len(out_r):
                out_q, out_r, out_d = _grow(out_q, out_r, out_d)
            out_q[found] = q
            out_r[found] = row
            out_d[found] = d
            found += 1
    return out_q[:found].copy(), out_r[:found].copy(), out_d[:found].copy()


@numba.njit(cache=True, nogil=True)
def scan_query_batch(queries, hashes, alive, t):
    """Every live (query row, row, distance <= t), by comparing every pair.

    Rows are visited in blocks that stay in cache while every query passes
    over them; output is grouped by row block, not by query.
    """
    block = 2048
    early_exit = t < _EARLY_EXIT_BELOW
    out_q, out_r, out_d = _buffers(len(queries))
    count = 0
    n = len(hashes)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        for q in range(len(queries)):
            q0, q1, q2, q3 = queries[q, 0], queries[q, 1], queries[q, 2], queries[q, 3]
            for row in range(r0, r1):
                if early_exit:
                    d = _distance_within(hashes, row, q0, q1, q2, q3, t)
                else:
                    d = _distance(hashes, row, q0, q1, q2, q3)
                if d > t or not _alive(alive, row):
                    continue
                if count == len(out_r):
                    out_q, out_r, out_d = _grow(out_q, out_r, out_d)
                out_q[count] = q
                out_r[count] = row
                out_d[count] = d
                count += 1
    return out_q[:count].copy(), out_r[:count].copy(), out_d[:count].copy()
