"""The one check for hex digests (md5, sha256, PDQ, URL hashes, audit hashes)."""

from __future__ import annotations

import re

__all__ = ["is_hex", "is_lower_hex"]

_HEX = re.compile(r"[0-9a-fA-F]+")
_LOWER_HEX = re.compile(r"[0-9a-f]+")


def is_hex(value: object, length: int | None = None) -> bool:
    """True if ``value`` is a string of hex digits (either case), ``length`` of them when given."""
    return (isinstance(value, str) and (length is None or len(value) == length)
            and _HEX.fullmatch(value) is not None)


def is_lower_hex(value: object, length: int | None = None) -> bool:
    """:func:`is_hex` with lower-case digits only (the canonical form of a stored digest)."""
    return (isinstance(value, str) and (length is None or len(value) == length)
            and _LOWER_HEX.fullmatch(value) is not None)
