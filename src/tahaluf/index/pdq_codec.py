"""PDQ hash arrays: conversion and validation.

A PDQ hash is 256 bits, written as 64 hex digits. In memory a batch of N
hashes is an ``(N, 4)`` ``uint64`` array: word ``w`` is the big-endian value
of hex digits ``16*w .. 16*w + 15`` (so ``hex -> words -> hex`` is lossless).
The same hashes as bytes are an ``(N, 32)`` ``uint8`` array in hex order.
Hamming distance does not depend on the layout as long as both sides use it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tahaluf.errors import InvalidInput

__all__ = [
    "HASH_BITS",
    "HASH_WORDS",
    "as_hash_words",
    "as_ids",
    "check_max_distance",
    "hashes_from_hex",
    "hashes_to_hex",
]

HASH_BITS = 256
HASH_WORDS = 4

_BIG_ENDIAN_U64 = np.dtype(">u8")


def hashes_from_hex(values: Iterable[str]) -> np.ndarray:
    """64-hex strings -> ``(N, 4)`` uint64 (case-insensitive)."""
    values = list(values)
    raw = bytearray()
    for row, text in enumerate(values):
        if not isinstance(text, str) or len(text) != 64:
            raise InvalidInput(f"PDQ hash #{row} is not 64 hex digits: {text!r:.80}")
        try:
            raw += bytes.fromhex(text)
        except ValueError as exc:
            raise InvalidInput(f"PDQ hash #{row} is not hex: {text!r:.80}") from exc
    words = np.frombuffer(bytes(raw), dtype=_BIG_ENDIAN_U64).reshape(len(values), HASH_WORDS)
    return words.astype(np.uint64)


def hashes_to_hex(hashes: np.ndarray) -> list[str]:
    """``(N, 4)`` uint64 (or ``(N, 32)`` uint8) -> lowercase 64-hex strings."""
    words = as_hash_words(hashes)
    raw = words.astype(_BIG_ENDIAN_U64).tobytes()
    return [raw[i : i + 32].hex() for i in range(0, len(raw), 32)]


def as_hash_words(hashes: np.ndarray, name: str = "hashes") -> np.ndarray:
    """Validate a hash batch and return it as a C-contiguous ``(N, 4)`` uint64.

    Accepts ``(N, 4)`` uint64 or ``(N, 32)`` uint8 (bytes in hex order).
    """
    arr = np.asarray(hashes)
    if arr.ndim != 2:
        raise InvalidInput(f"{name} must be a 2-D array, got shape {arr.shape}")
    if arr.dtype == np.uint8 and arr.shape[1] == 32:
        big = np.ascontiguousarray(arr).view(_BIG_ENDIAN_U64)
        return big.astype(np.uint64)
    if arr.dtype != np.uint64 or arr.shape[1] != HASH_WORDS:
        raise InvalidInput(
            f"{name} must be (N, 4) uint64 or (N, 32) uint8, got {arr.shape} {arr.dtype}"
        )
    return np.ascontiguousarray(arr)


def as_ids(ids: np.ndarray, count: int | None = None) -> np.ndarray:
    """Validate an id batch: 1-D integers that fit int64 (``count`` of them if given)."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise InvalidInput(f"ids must be a 1-D integer array, got {arr.shape} {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise InvalidInput("ids must fit in int64")
    if count is not None and arr.shape[0] != count:
        raise InvalidInput(f"got {arr.shape[0]} ids for {count} hashes")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_max_distance(max_distance: int) -> int:
    """A Hamming threshold must be an integer in 0..256."""
    if isinstance(max_distance, bool) or not isinstance(max_distance, (int, np.integer)):
        raise InvalidInput(f"max_distance must be an integer, got {max_distance!r}")
    value = int(max_distance)
    if not 0 <= value <= HASH_BITS:
        raise InvalidInput(f"max_distance must be in 0..{HASH_BITS}, got {value}")
    return value
