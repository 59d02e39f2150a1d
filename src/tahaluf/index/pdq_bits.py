"""Bit-level helpers of the PDQ kernels: layout constants, LLVM intrinsics
(popcount, count trailing zeros, PDEP, prefetch) and the inlined select, unpack
and chunk-key helpers that :mod:`tahaluf.index.pdq_tables` and
:mod:`tahaluf.index.pdq_kernels` are built from.

Numba's on-disk cache (``cache=True``) only watches the file a kernel is
defined in: after editing this file, clear the cache (``__pycache__/*.nbi``,
``*.nbc``) or touch the kernel modules, or they keep the old machine code.

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
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["CHUNKS", "CHUNK_BITS", "COARSE_SHIFT", "ID_SAMPLE_SHIFT", "SAMPLE_SHIFT"]

CHUNKS = 11
CHUNK_BITS = 20
#: the tables' select samples: one every 2**SAMPLE_SHIFT zeros, stored as a
#: uint32 position every 2**COARSE_SHIFT zeros plus a (uint16 when it fits)
#: offset from it every 2**SAMPLE_SHIFT (1M rows, t=31, three runs each:
#: every 32 zeros 16,800-17,800 / 14,500-15,500 lookups/s batched / single,
#: every 64 17,300-19,100 / 15,100-15,600: no gain for 0.37 more bytes per hash)
SAMPLE_SHIFT = 6
COARSE_SHIFT = 10
#: the ids' select samples (one array each for zeros and ones; used off the hot path)
ID_SAMPLE_SHIFT = 8
_ID_SAMPLE_MASK = (1 << ID_SAMPLE_SHIFT) - 1
_CHUNK_MASK = np.uint64((1 << CHUNK_BITS) - 1)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
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
