"""Numba kernels that build a PDQ segment's probe tables (chunk keys, sorted
buckets, Elias-Fano bit vectors and their select samples, packed low bits) and
code its ids (Elias-Fano); layouts in :mod:`tahaluf.index.pdq_bits`. Compiled on
first use and cached (``cache=True``)."""

from __future__ import annotations

import numba
import numpy as np

from tahaluf.index.pdq_bits import (
    _ID_SAMPLE_MASK,
    CHUNK_BITS,
    ID_SAMPLE_SHIFT,
    _bucket,
    _chunk_key,
    _cttz,
    _popcount,
    _select,
    _select_in_word,
    _unpack,
)

__all__ = [
    "ID_FIELD_BITS",
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
    "sort_by_key",
]


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
