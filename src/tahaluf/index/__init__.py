"""Matching indexes (pure kernels: numpy and the standard library only).

:class:`PDQIndex` is the exact Hamming range index for PDQ hashes; see
docs/pdq-index.md for its algorithm, result format and snapshot layout.
"""

from __future__ import annotations

from tahaluf.index.pdq import DEFAULT_MAX_DISTANCE, Matches, PDQIndex
from tahaluf.index.pdq_codec import as_hash_words, hashes_from_hex, hashes_to_hex

__all__ = [
    "DEFAULT_MAX_DISTANCE",
    "Matches",
    "PDQIndex",
    "as_hash_words",
    "hashes_from_hex",
    "hashes_to_hex",
]
