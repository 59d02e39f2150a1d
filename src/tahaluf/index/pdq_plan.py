"""How a PDQ segment's probe tables are laid out and probed (pure: no kernels).

Exactness (generalised pigeonhole): with per-chunk radii ``r_c`` such that
``sum(r_c + 1) >= t + 1``, any row within distance ``t`` of a query has at
least one chunk ``c`` whose key is within ``r_c`` bits of the query's
(otherwise the distance, even counted only over those keys' bits, would be
at least ``sum(r_c + 1) > t``). Probing every key within ``r_c`` of the
query's finds every match; each candidate is then verified with the full
256-bit distance (:mod:`tahaluf.index.pdq_kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import comb

import numpy as np

__all__ = [
    "CHUNKS",
    "CHUNK_BITS",
    "SLOT_BITS",
    "TableShape",
    "chunk_radii",
    "mask_count",
    "probe_count",
    "probe_plan",
    "table_shape",
]

CHUNKS = 11
CHUNK_BITS = 20
#: rows are grouped in slots of this many rows (the tables store row numbers within a slot)
SLOT_BITS = 20


@dataclass(frozen=True)
class TableShape:
    """How a segment of ``rows`` rows lays out its probe tables (pdq_kernels).

    Rows are grouped in ``slots`` of 2**20 (one slot below that); keys are the
    top ``key_bits`` bits of a chunk with ``key_bits = floor(log2(1.1 * rows
    / slots))`` (at most 20), so that a bucket (key, slot) holds 0.9 to 1.8
    rows on average and the bit vectors cost at most ~2.1 bits per row."""

    rows: int
    key_bits: int
    slots: int
    low_bits: int

    @property
    def buckets(self) -> int:
        return (1 << self.key_bits) * self.slots


def table_shape(rows: int, slot_bits: int = SLOT_BITS) -> TableShape:
    """The table layout of a segment of ``rows`` rows (``slot_bits`` below 20: tests only)."""
    rows = int(rows)
    slots = max(1, -(-rows // (1 << slot_bits)))
    key_bits = min(CHUNK_BITS, max(1, (rows * 11 // (10 * slots)).bit_length() - 1))
    low_bits = slot_bits if slots > 1 else max(1, (rows - 1).bit_length())
    return TableShape(rows, key_bits, slots, low_bits)


def chunk_radii(max_distance: int) -> np.ndarray:
    """Per-chunk probe radii (``-1`` = not probed) with ``sum(r + 1) == t + 1``."""
    base, extra = divmod(max_distance + 1, CHUNKS)
    radii = np.full(CHUNKS, base - 1, dtype=np.int64)
    radii[:extra] += 1
    return radii


@lru_cache(maxsize=None)
def _masks(key_bits: int, radius: int) -> np.ndarray:
    """All ``key_bits``-bit masks with at most ``radius`` bits set (int64, by
    weight, then value), built directly (no temporary over all 2**key_bits
    values: the allocator would keep those megabytes)."""
    out = np.empty(mask_count(key_bits, radius), dtype=np.int64)
    i = 0
    limit = 1 << key_bits
    for weight in range(min(radius, key_bits) + 1):
        mask = (1 << weight) - 1
        while mask < limit:  # Gosper's hack: the next value with the same number of bits
            out[i] = mask
            i += 1
            if mask == 0:
                break
            low = mask & -mask
            ripple = mask + low
            mask = (((ripple ^ mask) >> 2) // low) | ripple
    return out


@lru_cache(maxsize=None)
def mask_count(key_bits: int, radius: int) -> int:
    return sum(comb(key_bits, w) for w in range(min(radius, key_bits) + 1))


@lru_cache(maxsize=1024)
def probe_count(max_distance: int, key_bits: int = CHUNK_BITS) -> int:
    """Keys probed per query at this threshold (the tables' cost)."""
    return sum(mask_count(key_bits, int(r)) for r in chunk_radii(max_distance) if r >= 0)


@lru_cache(maxsize=64)
def probe_plan(max_distance: int, key_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(chunk, xor mask) of every probe, as two (P,) int64 arrays."""
    chunks, masks = [], []
    for chunk, radius in enumerate(chunk_radii(max_distance)):
        if radius >= 0:
            m = _masks(key_bits, int(radius))
            chunks.append(np.full(len(m), chunk, dtype=np.int64))
            masks.append(m)
    return np.concatenate(chunks), np.concatenate(masks)
