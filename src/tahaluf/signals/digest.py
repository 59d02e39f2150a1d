"""MD5 and SHA-256 digests of whole files, computed in one streaming pass.

The two exact-match signals every member already shares (and the ones the
industry's hash lists use): ``md5`` and ``sha256``, lower-case hex.
"""

from __future__ import annotations

import hashlib
import os

from tahaluf.errors import InvalidInput
from tahaluf.signals.base import Signal
from tahaluf.signals.hexdigits import is_lower_hex

__all__ = ["bytes_digests", "digest_signals", "file_digests"]



def file_digests(path: str | os.PathLike[str], *, chunk_bytes: int = 1 << 20) -> tuple[str, str]:
    """Return ``(md5_hex, sha256_hex)`` of the file at ``path``, read once in chunks.

    Raises :class:`~tahaluf.errors.InvalidInput` if the file cannot be read.
    """
    if chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    try:
        with open(path, "rb", buffering=0) as fh:
            while n := fh.readinto(buffer):
                md5.update(view[:n])
                sha256.update(view[:n])
    except OSError as exc:
        raise InvalidInput(f"cannot read {os.fspath(path)!r}: {exc.strerror or exc}") from exc
    return md5.hexdigest(), sha256.hexdigest()


def bytes_digests(data: bytes) -> tuple[str, str]:
    """Return ``(md5_hex, sha256_hex)`` of ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), hashlib.sha256(data).hexdigest()


def digest_signals(md5: str, sha256: str) -> list[Signal]:
    """The ``md5`` and ``sha256`` signals for two hex digests (case-insensitive)."""
    md5, sha256 = md5.lower(), sha256.lower()
    if not is_lower_hex(md5, 32):
        raise InvalidInput(f"not an MD5 hex digest: {md5[:80]!r}")
    if not is_lower_hex(sha256, 64):
        raise InvalidInput(f"not a SHA-256 hex digest: {sha256[:80]!r}")
    return [Signal("md5", md5), Signal("sha256", sha256)]
