"""Numba kernels for PDQ segments: compressed multi-index probing and brute-force scan.

Compiled on first use and cached next to this file (``cache=True``), so later
processes only load machine code. The query kernels release the GIL
(``nogil``), allocate their own outputs and never modify their inputs, so
several threads may query the same segment at once. Importing this module
requires numba; :mod:`tahaluf.index.pdq_segment` falls back to a numpy scan
when it is missing.

Layouts (all C-contiguous, little-endian; docs/pdq-index.md):

* ``hashes`` ``(n, 4)`` uint64; ``alive`` ``(ceil(n / 64) + 1,)`` uint64, bit
  ``r`` set while row ``r`` is live, or empty while no row is dead.
* A **chunk** ``c`` (0..10) is bits ``20c .. 20c + 19`` of the hash, bit ``p``
  being bit ``p % 64`` of word ``p // 64``. A segment's **key** of a chunk
  is its top ``key_bits`` bits (``key_bits`` <= 20, chosen per segment).
* A **bit vector** with a leading 0: an Elias-Fano upper half. For a sorted
  sequence of buckets ``b_0 <= b_1 <= ...`` element ``j`` is a 1 at bit
  ``b_j + j + 1``; every other bit up to ``n + buckets`` is 0, so bucket ``b``
  starts right after zero number ``b`` (zero 0 is bit 0) and is the run of
  ones there. Select samples give the position of every 64th zero (tables:
  ``coarse[g >> 4] + fine[g]`` for zero ``64 g``) or every 256th zero
  or one (ids: ``samples0``, ``samples1``); vectors carry 4 padding words.
* A **packed** array: entry ``i`` is bits ``i * width .. + width - 1`` of a
  uint64 word array (two padding words at the end).
* Probe tables: rows are grouped in ``slots`` of 2**20 (one slot when the
  segment is smaller); row ``r`` with key ``k`` is in bucket ``k * slots +
  r // 2**20``. ``highs`` ``(11, words)`` are the bit vectors of those
  buckets, rows sorted by (key, row); ``lows`` packs the 11 x n values
  ``r % 2**20`` (with one slot: ``r``) in that order, ``low_bits`` wide;
  table ``c``'s entries start at ``c * n``. A key's rows are the ``slots``
  consecutive buckets from zero ``k * slots``.
* Ids: a bit vector of ``(id - base) >> low_bits`` and the packed low bits.

Query kernels return ``(query_rows int64, rows int64, distances uint16)``:
every live (query, row) pair within ``t`` bits, each pair once.
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = [
    "CHUNKS",
    "CHUNK_BITS",
    "COARSE_SHIFT",
    "ID_SAMPLE_SHIFT",
    "SAMPLE_SHIFT",
    "build_high",
    "build_samples",
    "chunk_keys",
    "check_tables",
    "ids_build",
    "ids_field_width",
    "ids_decode",
    "ids_find",
    "ids_take",
    "pack",
    "probe_query_batch",
    "scan_query_batch",
    "sort_by_key",
]

CHUNKS = 11
CHUNK_BITS = 20
#: the tables' select samples: one every 2**SAMPLE_SHIFT zeros, stored as a
#: uint32 position every 2**COARSE_SHIFT zeros plus a (uint16 when it fits)
#: offset from it every 2**SAMPLE_SHIFT (1M rows, t=31, three runs each:
#: every 32 zeros 16,800-17,800 / 14,500-15,500 lookups/s batched / single,
#: every 64 17,300-19,100 / 15,100-15,600: no gain for 0.37 more bytes per hash)
SAMPLE_SHIFT = 6
COARSE_SHIFT = 10
_SAMPLE_MASK = (1 << SAMPLE_SHIFT) - 1
#: the ids' select samples (one array each for zeros and ones; used off the hot path)
ID_SAMPLE_SHIFT = 8
_ID_SAMPLE_MASK = (1 << ID_SAMPLE_SHIFT) - 1
_CHUNK_MASK = np.uint64((1 << CHUNK_BITS) - 1)
_MIN_CAPACITY = 1024
#: candidates whose hash cache line is requested ahead of its verification
_PREFETCH_AHEAD = 128
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
#: scans skip words 2-3 once words 0-1 exceed t below this threshold; near
#: t = 64 that branch is unpredictable (1M rows: 970 lookups/s at t=31 with
#: it, 650 without; 190 with it at t=64, 720 without)
_EARLY_EXIT_BELOW = 48
#: BMI2's PDEP selects the r-th set bit of a word in one instruction
_HAVE_PDEP = bool(llvm.get_host_cpu_features().get("bmi2", False))


@intrinsic
def _popcount(typingctx, value):
    """Population count of a uint64 (LLVM ``ctpop``: one POPCNT instruction)."""
    if value != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def _cttz(typingctx, value):
    """Trailing zero count of a uint64 (64 for 0)."""
    if value != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return types.uint64(types.uint64), codegen


@intrinsic
def _pdep(typingctx, source, mask):
    """BMI2 parallel bit deposit (only called when the CPU has BMI2)."""
    if source != types.uint64 or mask != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i64, [i64, i64]), "llvm.x86.bmi.pdep.64"
        )
        return builder.call(fn, args)

    return types.uint64(types.uint64, types.uint64), codegen


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


# -- bit helpers ------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _select_in_word(x, r):
    """Position of the ``r``-th (0-based) set bit of ``x`` (``popcount(x) > r``)."""
    if _HAVE_PDEP:
        return np.int64(_cttz(_pdep(np.uint64(1) << np.uint64(r), x)))
    for _ in range(r):
        x &= x - np.uint64(1)
    return np.int64(_cttz(x))


@numba.njit(cache=True, nogil=True, inline="always")
def _select(words, sample, r, zeros):
    """Position of the ``r``-th zero (``zeros``) or one at or after bit ``sample``,
    which is itself a zero (one): a sampled select. The first two words are
    read unconditionally (the usual case: fewer mispredicted branches)."""
    w = sample >> 6
    x0 = words[w]
    x1 = words[w + 1]
    if zeros:
        x0 = ~x0
        x1 = ~x1
    x0 &= _ALL << np.uint64(sample & 63)
    c0 = np.int64(_popcount(x0))
    if r < c0:
        return w * 64 + _select_in_word(x0, r)
    r -= c0
    c1 = np.int64(_popcount(x1))
    if r < c1:
        return (w + 1) * 64 + _select_in_word(x1, r)
    r -= c1
    w += 2
    x = ~words[w] if zeros else words[w]
    c = np.int64(_popcount(x))
    while c <= r:
        r -= c
        w += 1
        x = ~words[w] if zeros else words[w]
        c = np.int64(_popcount(x))
    return w * 64 + _select_in_word(x, r)


@numba.njit(cache=True, nogil=True, inline="always")
def _select_zero_near(words, sample, r):
    """:func:`_select` for zeros, branch-free while the zero lies within the
    three words from ``sample`` (almost always, with a sample every 64 zeros):
    the branches of a word-by-word search mispredict about half the time."""
    w = sample >> 6
    x0 = ~words[w] & (_ALL << np.uint64(sample & 63))
    x1 = ~words[w + 1]
    x2 = ~words[w + 2]
    c0 = np.int64(_popcount(x0))
    c01 = c0 + np.int64(_popcount(x1))
    past0 = np.int64(r >= c0)
    past1 = np.int64(r >= c01)
    m0 = np.uint64(past0 - 1)  # all ones while the zero is in word 0
    m1 = np.uint64(past1 - 1)
    x = (x0 & m0) | (x1 & ~m0 & m1) | (x2 & ~m1)
    r -= (c0 & -past0) + ((c01 - c0) & -past1)
    if r >= np.int64(_popcount(x)):
        return _select(words, sample, r + (c0 & -past0) + ((c01 - c0) & -past1), True)
    return (w + past0 + past1) * 64 + _select_in_word(x, r)


@numba.njit(cache=True, nogil=True, inline="always")
def _run_of_ones(words, pos):
    """Number of consecutive ones starting at bit ``pos``."""
    w = pos >> 6
    off = pos & 63
    y = ~(words[w] >> np.uint64(off))
    run = np.int64(_cttz(y))
    if run < 64 - off:
        return run
    run = 64 - off
    w += 1
    y = ~words[w]
    while y == 0:
        run += 64
        w += 1
        y = ~words[w]
    return run + np.int64(_cttz(y))


@numba.njit(cache=True, nogil=True, inline="always")
def _bucket(words, samples0, b):
    """(index of the first element, element count) of bucket ``b`` (ids' samples)."""
    start = _select(words, np.int64(samples0[b >> ID_SAMPLE_SHIFT]), b & _ID_SAMPLE_MASK, True) + 1
    return start - b - 1, _run_of_ones(words, start)


@numba.njit(cache=True, nogil=True, inline="always")
def _unpack(words, i, width):
    """Entry ``i`` of a packed array of ``width``-bit entries (0 < width < 64)."""
    bit = i * width
    w = bit >> 6
    off = np.uint64(bit & 63)
    value = (words[w] >> off) | ((words[w + 1] << np.uint64(1)) << (np.uint64(63) - off))
    return np.int64(value & ((np.uint64(1) << np.uint64(width)) - np.uint64(1)))


@numba.njit(cache=True, nogil=True, inline="always")
def _alive(alive, row):
    """Bit ``row`` of the tombstone bit set; an empty set: no row is dead."""
    if len(alive) == 0:
        return np.uint64(1)
    return (alive[row >> 6] >> np.uint64(row & 63)) & np.uint64(1)


@numba.njit(cache=True, nogil=True, inline="always")
def _chunk_key(h, row, chunk, shift):
    """Key of ``chunk`` of hash ``h[row]``: the chunk's top ``20 - shift`` bits."""
    o = CHUNK_BITS * chunk
    w = o >> 6
    sh = o & 63
    x = h[row, w] >> np.uint64(sh)
    if sh > 64 - CHUNK_BITS:
        x |= h[row, w + 1] << np.uint64(64 - sh)
    return np.int64((x & _CHUNK_MASK) >> np.uint64(shift))


# -- building -----------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def chunk_keys(hashes, chunk, key_bits):
    """``(n,)`` int64 keys of one chunk for every row."""
    n = hashes.shape[0]
    out = np.empty(n, np.int64)
    shift = CHUNK_BITS - key_bits
    for i in range(n):
        out[i] = _chunk_key(hashes, i, chunk, shift)
    return out


@numba.njit(cache=True, nogil=True)
def sort_by_key(keys, n_keys):
    """Counting sort: (rows ordered by (key, row) as int64, sorted keys)."""
    counts = np.zeros(n_keys + 1, np.int64)
    for k in keys:
        counts[k + 1] += 1
    for k in range(n_keys):
        counts[k + 1] += counts[k]
    rows = np.empty(len(keys), np.int64)
    for i in range(len(keys)):
        k = keys[i]
        rows[counts[k]] = i
        counts[k] += 1
    out = np.empty(len(keys), np.int64)
    for j in range(len(rows)):
        out[j] = keys[rows[j]]
    return rows, out


@numba.njit(cache=True, nogil=True)
def build_high(buckets, n_buckets):
    """Bit vector of sorted ``buckets`` (each < ``n_buckets``), 4 padding words."""
    n = len(buckets)
    n_bits = n + n_buckets + 1
    words = np.zeros((n_bits + 63) // 64 + 4, np.uint64)
    for j in range(n):
        pos = buckets[j] + j + 1
        words[pos >> 6] |= np.uint64(1) << np.uint64(pos & 63)
    return words


@numba.njit(cache=True, nogil=True)
def build_samples(words, count, zeros, shift):
    """Positions of zero (``zeros``) or one number 0, 2**shift, 2 * 2**shift, ... below ``count``."""
    out = np.empty(((count - 1) >> shift) + 1 if count else 0, np.uint32)
    seen = 0
    g = 0
    for w in range(len(words)):
        x = ~words[w] if zeros else words[w]
        c = np.int64(_popcount(x))
        while g < len(out) and (g << shift) < seen + c:
            out[g] = w * 64 + _select_in_word(x, (g << shift) - seen)
            g += 1
        seen += c
        if g == len(out):
            break
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _put(words, i, width, value):
    """Store ``value`` (< 2**width) as entry ``i`` of a zeroed packed array."""
    bit = i * width
    w = bit >> 6
    off = bit & 63
    words[w] |= value << np.uint64(off)
    if off + width > 64:
        words[w + 1] |= value >> np.uint64(64 - off)


@numba.njit(cache=True, nogil=True)
def pack(values, width):
    """Pack non-negative ``values`` into ``width``-bit entries (2 padding words)."""
    n = len(values)
    words = np.zeros((n * width + 63) // 64 + 2, np.uint64)
    if width == 0:
        return words
    for i in range(n):
        _put(words, i, width, np.uint64(values[i]))
    return words


@numba.njit(cache=True, nogil=True)
def check_tables(highs, lows, n, n_buckets, slots, low_bits):
    """True when every bit vector holds ``n`` ones and ``n_buckets + 1`` zeros
    in its first ``n + n_buckets + 1`` bits (nothing after), starting with a
    zero, and every row the tables name is < n (a snapshot check: the
    kernels trust these arrays)."""
    n_bits = n + n_buckets + 1
    if highs.shape[1] * 64 < n_bits + 4 * 64 or len(lows) * 64 < highs.shape[0] * n * low_bits + 128:
        return False
    for c in range(highs.shape[0]):
        if highs[c, 0] & np.uint64(1):
            return False
        ones = 0
        for w in range(highs.shape[1]):
            x = highs[c, w]
            if (w + 1) * 64 > n_bits:
                keep = n_bits - w * 64
                if keep <= 0:
                    if x != 0:
                        return False
                    continue
                if (x >> np.uint64(keep)) != 0:
                    return False
            ones += np.int64(_popcount(x))
        if ones != n:
            return False
        # every row: slot (from the bucket of the e-th one) and low bits
        e = 0
        for w in range(highs.shape[1]):
            x = highs[c, w]
            while x:
                bucket = w * 64 + np.int64(_cttz(x)) - e - 1
                x &= x - np.uint64(1)
                if ((bucket % slots) << low_bits) | _unpack(lows, c * n + e, low_bits) >= n:
                    return False
                e += 1
    return True


# -- ids (Elias-Fano) ---------------------------------------------------------


#: ids are squeezed before coding: ``id = hi * 16 + lo`` becomes ``hi * 2**w + lo``
#: with ``w`` the bits of the segment's largest ``lo`` (the engine's ids are
#: ``item * 16 + k`` with k almost always 0: 2 bits per id instead of 6)
ID_FIELD_BITS = 4
_ID_FIELD = (1 << ID_FIELD_BITS) - 1


@numba.njit(cache=True, nogil=True, inline="always")
def _squeeze(v, width):
    return ((v >> ID_FIELD_BITS) << width) | (v & _ID_FIELD)


@numba.njit(cache=True, nogil=True, inline="always")
def _unsqueeze(v, width):
    return ((v >> width) << ID_FIELD_BITS) | (v & ((np.int64(1) << width) - 1))


@numba.njit(cache=True, nogil=True)
def ids_field_width(values):
    """Bits needed by the largest ``id % 16`` of ``values``."""
    top = np.int64(0)
    for v in values:
        top |= v & _ID_FIELD
    width = 0
    while top:
        width += 1
        top >>= 1
    return width


@numba.njit(cache=True, nogil=True)
def ids_build(values, width, base, low_bits, n_buckets):
    """(bit vector, packed low bits) of sorted ``values``, squeezed to ``width``
    and offset by ``base`` (squeezed first id); no temporary arrays: a
    memory-mapped snapshot's ids are read once, in place."""
    n = len(values)
    high = np.zeros((n + n_buckets + 1 + 63) // 64 + 4, np.uint64)
    low = np.zeros((n * low_bits + 63) // 64 + 2, np.uint64)
    mask = (np.int64(1) << low_bits) - 1
    for j in range(n):
        v = _squeeze(values[j], width) - base
        pos = (v >> low_bits) + j + 1
        high[pos >> 6] |= np.uint64(1) << np.uint64(pos & 63)
        if low_bits:
            _put(low, j, low_bits, np.uint64(v & mask))
    return high, low


@numba.njit(cache=True, nogil=True)
def ids_find(keys, width, base, low_bits, n_buckets, high, samples0, low):
    """Row of each id in ``keys`` (-1 when absent)."""
    out = np.full(len(keys), -1, np.int64)
    mask = (np.int64(1) << low_bits) - 1
    for i in range(len(keys)):
        key = keys[i]
        if (key & _ID_FIELD) >> width:
            continue  # a field wider than any id here has
        v = _squeeze(key, width) - base
        if v < 0:
            continue
        b = v >> low_bits
        if b >= n_buckets:
            continue
        first, count = _bucket(high, samples0, b)
        want = v & mask
        for j in range(first, first + count):
            got = _unpack(low, j, low_bits) if low_bits else np.int64(0)
            if got == want:
                out[i] = j
                break
            if got > want:
                break
    return out


@numba.njit(cache=True, nogil=True)
def ids_take(rows, width, base, low_bits, high, samples1, low):
    """Ids of ``rows`` (each < n)."""
    out = np.empty(len(rows), np.int64)
    for i in range(len(rows)):
        r = rows[i]
        pos = _select(high, np.int64(samples1[r >> ID_SAMPLE_SHIFT]), r & _ID_SAMPLE_MASK, False)
        b = pos - r - 1
        lo = _unpack(low, r, low_bits) if low_bits else np.int64(0)
        out[i] = _unsqueeze(base + ((b << low_bits) | lo), width)
    return out


@numba.njit(cache=True, nogil=True)
def ids_decode(n, width, base, low_bits, high, low):
    """Every id, in row order."""
    out = np.empty(n, np.int64)
    r = 0
    b = -1  # the leading zero starts bucket 0
    w = 0
    while r < n:
        x = high[w]
        for bit in range(64):
            if r >= n:
                break
            if (x >> np.uint64(bit)) & np.uint64(1):
                lo = _unpack(low, r, low_bits) if low_bits else np.int64(0)
                out[r] = _unsqueeze(base + ((b << low_bits) | lo), width)
                r += 1
            else:
                b += 1
        w += 1
    return out


# -- queries ------------------------------------------------------------------


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
