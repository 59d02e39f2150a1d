"""PDQ of a decoded photo: the hash and its eight dihedral versions, and hex <-> bits.

Shared by :mod:`tahaluf.signals.photo` (decoding) and the variant kernels
(:mod:`tahaluf.signals.photo_variants`, :mod:`tahaluf.signals.photo_canonical`),
so that none of them imports another for hashing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pdqhash

from tahaluf.errors import InvalidInput

__all__ = ["DIHEDRAL_ORDER", "bits_to_hex", "check_rgb", "hex_to_bits", "pdq_dihedral_from_rgb", "pdq_from_rgb"]

#: Order of the eight hashes returned by :func:`pdq_dihedral_from_rgb` and in
#: ``hash_photo(...).extra["dihedral"]`` (the order of the C++
#: ``pdqDihedralHash256esFromFloatLuma``, names as upstream's
#: ``reg-test-input/dih`` files). Entry ``i`` is, within a few bits, the hash
#: of the photo after this Pillow ``Image.transpose`` (verified by the tests):
#: original, ROTATE_90 (counter-clockwise), ROTATE_180, ROTATE_270,
#: FLIP_TOP_BOTTOM ("flipx"), FLIP_LEFT_RIGHT ("flipy"), TRANSPOSE,
#: TRANSVERSE.
DIHEDRAL_ORDER = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)

_HASH_BITS = 256
_HASH_HEX_CHARS = _HASH_BITS // 4


def pdq_from_rgb(arr: np.ndarray) -> tuple[str, int]:
    """PDQ hash (64 lowercase hex chars) and quality (0..100) of an RGB array.

    ``arr`` is ``(H, W, 3)`` uint8 with H, W >= 1. Raises :class:`InvalidInput`
    for any other shape or dtype.
    """
    bits, quality = pdqhash.compute(check_rgb(arr))
    return bits_to_hex(bits), int(quality)


def pdq_dihedral_from_rgb(arr: np.ndarray) -> tuple[list[str], int]:
    """The eight dihedral PDQ hashes (order: :data:`DIHEDRAL_ORDER`) and quality.

    Costs the same as :func:`pdq_from_rgb`; entry 0 equals its hash.
    """
    all_bits, quality = pdqhash.compute_dihedral(check_rgb(arr))
    return [bits_to_hex(bits) for bits in all_bits], int(quality)


def hex_to_bits(value: str) -> np.ndarray:
    """64 hex chars to a ``(256,)`` uint8 array of 0/1, most significant bit first."""
    if not isinstance(value, str) or len(value) != _HASH_HEX_CHARS:
        raise InvalidInput(f"a PDQ hash is {_HASH_HEX_CHARS} hex characters")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise InvalidInput("a PDQ hash contains only hex characters 0-9, a-f") from exc
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8))


def bits_to_hex(bits: Sequence[int] | np.ndarray) -> str:
    """256 bits (0/1, most significant first) to 64 lowercase hex chars."""
    arr = np.asarray(bits)
    if arr.shape != (_HASH_BITS,) or not np.isin(arr, (0, 1)).all():
        raise InvalidInput(f"a PDQ hash is {_HASH_BITS} bits of 0 or 1")
    return np.packbits(arr.astype(np.uint8)).tobytes().hex()


def check_rgb(arr: np.ndarray) -> np.ndarray:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8:
        raise InvalidInput("expected a numpy uint8 array")
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInput(f"expected an (H, W, 3) RGB array, got shape {arr.shape}")
    return arr
