"""Numba kernels for PDQ segments: multi-index probing and brute-force scan.

Compiled on first use and cached next to this file (``cache=True``), so later
processes only load machine code. The kernels release the GIL (``nogil``),
allocate their own outputs and never modify their inputs, so several threads
may query the same segment at once. Importing this module requires numba;
:mod:`tahaluf.index.pdq_segment` falls back to numpy when it is missing.

Shapes and dtypes (all C-contiguous):

* ``queries`` ``(Q, 4)`` uint64, ``hashes`` ``(n, 4)`` uint64, ``alive`` ``(n,)`` bool
* ``postings`` ``(16, n)`` uint32: rows sorted by 16-bit chunk ``c``
* ``offsets`` ``(16, 65537)`` uint32: chunk ``c`` value ``k`` occupies
  ``postings[c, offsets[c, k] : offsets[c, k + 1]]``
* chunk ``c`` of a hash is bits ``16 * (c % 4)`` .. ``+15`` of word ``c // 4``
  (the ``(n, 16)`` uint16 view on a little-endian machine)

Both kernels return ``(query_rows int64, rows int64, distances uint16)``: every
live (query, row) pair within ``t`` bits, each pair once (grouped by query
for probing, by block of rows for scanning).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["probe_query_batch", "scan_query_batch"]

CHUNKS = 16
_MIN_CAPACITY = 1024
#: candidates whose hash cache line is requested ahead of its verification
#: (1M rows, t=31: 12 -> 14.6k, 32 -> 20k, 128 -> 28k lookups/s; 512: 25k)
_PREFETCH_AHEAD = 128
#: scans skip words 2-3 once words 0-1 exceed t below this threshold; near
#: t = 64 that branch is unpredictable (1M rows: 970 lookups/s at t=31 with
#: it, 650 without; 190 with it at t=64, 720 without)
_EARLY_EXIT_BELOW = 48


@intrinsic
def _popcount(typingctx, value):
    """Population count of a uint64 (LLVM ``ctpop``: one POPCNT instruction)."""
    if value != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def _prefetch(typingctx, array, index):
    """Hint the CPU to fetch ``array.flat[index]`` into cache (``llvm.prefetch``, no fault)."""
    if not isinstance(array, types.Array) or array.ndim != 1 or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        array_type, index_type = signature.args
        arr = context.make_array(array_type)(context, builder, args[0])
        i = context.cast(builder, args[1], index_type, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, array_type, arr, [i], wraparound=False, boundscheck=False)
        ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn_type = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, keep in all levels, data
        return context.get_dummy_value()

    return types.void(array, index), codegen


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


@numba.njit(cache=True, nogil=True)
def _chunk_key(word, chunk):
    return np.int64((word >> np.uint64(16 * (chunk & 3))) & np.uint64(0xFFFF))


@numba.njit(cache=True, nogil=True)
def _radii(probe_chunks, probe_masks):
    """Per-chunk probe radius (largest mask weight; ``-1``: chunk not probed)."""
    radius = np.full(CHUNKS, -1, np.int64)
    for p in range(len(probe_chunks)):
        weight = np.int64(_popcount(np.uint64(probe_masks[p])))
        radius[probe_chunks[p]] = max(radius[probe_chunks[p]], weight)
    return radius


@numba.njit(cache=True, nogil=True)
def _found_earlier(hashes, row, qkeys, radius, chunk):
    """True when a lower probed chunk than ``chunk`` is within its radius of the query."""
    for c in range(chunk):
        if radius[c] >= 0:
            key = _chunk_key(hashes[row, c >> 2], c)
            if np.int64(_popcount(np.uint64(key ^ qkeys[c]))) <= radius[c]:
                return True
    return False


@numba.njit(cache=True, nogil=True)
def _gather_candidates(qkeys, postings, offsets, probe_chunks, probe_masks, slots, bounds, cand, cand_chunk):
    """Rows in every probed bucket of one query -> (count, buffers, maybe regrown).

    Three passes so the CPU fetches many buckets at once: bucket slots (and a
    prefetch of their offsets), bucket bounds (and a prefetch of their
    postings), then the rows themselves (and a prefetch of their hashes'
    cache lines is left to the caller).
    """
    n = postings.shape[1]
    flat_offsets = offsets.reshape(-1)
    flat_postings = postings.reshape(-1)
    for p in range(len(probe_chunks)):
        c = probe_chunks[p]
        slots[p] = c * offsets.shape[1] + (qkeys[c] ^ np.int64(probe_masks[p]))
        _prefetch(flat_offsets, slots[p])
    total = 0
    for p in range(len(probe_chunks)):
        lo = np.int64(flat_offsets[slots[p]])
        hi = np.int64(flat_offsets[slots[p] + 1])
        bounds[p, 0] = lo + probe_chunks[p] * n
        bounds[p, 1] = hi + probe_chunks[p] * n
        total += hi - lo
        _prefetch(flat_postings, bounds[p, 0])
    if total > len(cand):
        cand = np.empty(2 * total, np.int64)
        cand_chunk = np.empty(2 * total, np.int64)
    k = 0
    for p in range(len(probe_chunks)):
        for j in range(bounds[p, 0], bounds[p, 1]):
            cand[k] = flat_postings[j]
            cand_chunk[k] = probe_chunks[p]
            k += 1
    return total, cand, cand_chunk


@numba.njit(cache=True, nogil=True)
def probe_query_batch(queries, hashes, postings, offsets, alive, probe_chunks, probe_masks, t):
    """Every live (query row, row, distance <= t) found through the probe tables.

    ``probe_chunks`` ``(P,)`` int64 and ``probe_masks`` ``(P,)`` uint16 list the
    probes: for each probed chunk, **every** 16-bit mask of weight <= that
    chunk's radius (a generalised-pigeonhole plan, see pdq_segment). A row found
    through several chunks is reported only through the lowest such chunk, so
    no visited-set is needed: a row reached through chunk ``c`` is a duplicate
    exactly when a lower probed chunk is within its radius of the query.
    """
    radius = _radii(probe_chunks, probe_masks)
    flat_hashes = hashes.reshape(-1)
    slots = np.empty(len(probe_chunks), np.int64)
    bounds = np.empty((len(probe_chunks), 2), np.int64)
    cand = np.empty(_MIN_CAPACITY, np.int64)
    cand_chunk = np.empty(_MIN_CAPACITY, np.int64)
    out_q, out_r, out_d = _buffers(len(queries))
    qkeys = np.empty(CHUNKS, np.int64)
    count = 0
    for q in range(len(queries)):
        q0, q1, q2, q3 = queries[q, 0], queries[q, 1], queries[q, 2], queries[q, 3]
        for c in range(CHUNKS):
            qkeys[c] = _chunk_key(queries[q, c >> 2], c)
        total, cand, cand_chunk = _gather_candidates(
            qkeys, postings, offsets, probe_chunks, probe_masks, slots, bounds, cand, cand_chunk
        )
        for i in range(min(_PREFETCH_AHEAD, total)):
            _prefetch(flat_hashes, 4 * cand[i])
        for i in range(total):
            if i + _PREFETCH_AHEAD < total:
                _prefetch(flat_hashes, 4 * cand[i + _PREFETCH_AHEAD])
            row = cand[i]
            d = _distance_within(hashes, row, q0, q1, q2, q3, t)
            if d > t or not alive[row] or _found_earlier(hashes, row, qkeys, radius, cand_chunk[i]):
                continue
            if count == len(out_r):
                out_q, out_r, out_d = _grow(out_q, out_r, out_d)
            out_q[count] = q
            out_r[count] = row
            out_d[count] = d
            count += 1
    return out_q[:count].copy(), out_r[:count].copy(), out_d[:count].copy()


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
                if d > t or not alive[row]:
                    continue
                if count == len(out_r):
                    out_q, out_r, out_d = _grow(out_q, out_r, out_d)
                out_q[count] = q
                out_r[count] = row
                out_d[count] = d
                count += 1
    return out_q[:count].copy(), out_r[:count].copy(), out_d[:count].copy()

