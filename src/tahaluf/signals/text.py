"""The ``text`` signal: a shareable set of hashed character shingles.

A post is normalised (:func:`tahaluf.signals.normalize.normalize_text`), cut
into every run of :data:`SHINGLE_CHARS` consecutive code points, and each run
is hashed to 32 bits. The signal is the sorted set of distinct hashes. Two
sketches give an exact Jaccard :func:`similarity` and an exact
:func:`containment` (a known text quoted inside a longer post, a truncated
repost) of their shingle sets; no raw text is needed to compare them.

Value layout, version 1 (``"t1:"`` prefix; see ``docs/text-signal.md``)::

    "t1:" + base64url_nopad(uint32 little-endian hashes, strictly increasing)

Shingle hash (all arithmetic modulo 2**64, ``c_j`` the code points)::

    h = 0;  for c in c_0 .. c_4:  h = h * MUL + c
    h = fmix64(h ^ SEED);  hash = h >> 32

where ``fmix64`` is MurmurHash3's 64-bit finaliser. A normalised text shorter
than 5 code points is padded with spaces on the right to 5 (one shingle).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tahaluf.errors import ContentTooLarge, InvalidInput
from tahaluf.signals.base import Signal
from tahaluf.signals.normalize import NORMALIZATION_VERSION, normalize_text

__all__ = [
    "TEXT_VERSION",
    "SHINGLE_CHARS",
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MIN_SIMILARITY",
    "DEFAULT_MIN_CONTAINMENT",
    "MIN_CONTAINED_SHINGLES",
    "TextSketch",
    "text_signal",
    "text_sketch",
    "text_sketches",
    "similarity",
    "containment",
    "shingle_hashes",
    "window_hashes",
    "text_signals",
    "intersection_size",
]

TEXT_VERSION = 1
SHINGLE_CHARS = 5
#: thresholds measured in docs/text-signal.md (bench/text_quality.py)
DEFAULT_MIN_SIMILARITY = 0.4
DEFAULT_MIN_CONTAINMENT = 0.5
#: containment is evidence only when the contained text has this many
#: shingles (~45 characters): a few words are contained in many posts
MIN_CONTAINED_SHINGLES = 40
#: inputs longer than this many code points raise ContentTooLarge
DEFAULT_MAX_CHARS = 100_000
_PREFIX = f"t{TEXT_VERSION}:"

_MUL = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime
_SEED = np.uint64(0x7461686166756C31)  # b"tahaful1"
_FMIX_C1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_C2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 fmix64, in place on a uint64 array."""
    h ^= h >> _S33
    h *= _FMIX_C1
    h ^= h >> _S33
    h *= _FMIX_C2
    h ^= h >> _S33
    return h


def _window_hashes(cps: np.ndarray, n: int) -> np.ndarray:
    """uint32 hash of every window of ``n`` code points of a uint64 array."""
    count = cps.size - n + 1
    h = cps[:count].copy()
    for j in range(1, n):
        h *= _MUL
        h += cps[j : j + count]
    h ^= _SEED
    return (_fmix64(h) >> _S32).astype(np.uint32)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort + neighbour mask; faster than np.unique)."""
    a = np.sort(a)
    keep = np.empty(a.size, dtype=bool)
    keep[:1] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _codepoints(normalised: str, n: int) -> np.ndarray:
    padded = normalised.ljust(n)
    return np.frombuffer(padded.encode("utf-32-le"), dtype="<u4").astype(np.uint64)


def window_hashes(normalised: str, n: int = SHINGLE_CHARS) -> np.ndarray:
    """The uint32 hash of the shingle starting at each position (in text order).

    ``normalised`` must already be normalised and at least ``n`` code points
    long; used to show which passage two texts share.
    """
    return _window_hashes(_codepoints(normalised, n), n)


def shingle_hashes(normalised: str, n: int = SHINGLE_CHARS) -> np.ndarray:
    """Sorted distinct uint32 hashes of the ``n``-code-point shingles.

    ``normalised`` must already be normalised; this is the kernel that
    :func:`text_sketch` uses (exposed for benchmarks and other signals).
    """
    return _sorted_unique(window_hashes(normalised, n))


@dataclass(frozen=True, slots=True, eq=False)
class TextSketch:
    """Sorted distinct uint32 shingle hashes of one normalised text."""

    hashes: np.ndarray  # dtype uint32, shape (k,), strictly increasing, k >= 1

    def __len__(self) -> int:
        return int(self.hashes.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TextSketch):
            return NotImplemented
        return bool(np.array_equal(self.hashes, other.hashes))

    def __hash__(self) -> int:
        return hash(self.hashes.tobytes())

    def to_value(self) -> str:
        """The signal value: ``"t1:" + base64url(uint32 LE hashes)``."""
        raw = self.hashes.astype("<u4", copy=False).tobytes()
        return _PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def from_value(cls, value: str) -> TextSketch:
        """Parse a signal value; InvalidInput if malformed or another version."""
        if not isinstance(value, str) or not value.startswith(_PREFIX):
            head = value[:8] if isinstance(value, str) else type(value).__name__
            raise InvalidInput(
                f"text signal value must start with {_PREFIX!r} "
                f"(version {TEXT_VERSION}, {SHINGLE_CHARS}-char shingles); got {head!r}"
            )
        body = value[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("text signal value is not valid base64url") from exc
        if not raw or len(raw) % 4:
            raise InvalidInput("text signal value must hold a whole, non-empty uint32 array")
        hashes = np.frombuffer(raw, dtype="<u4").astype(np.uint32)
        if hashes.size > 1 and not bool(np.all(hashes[1:] > hashes[:-1])):
            raise InvalidInput("text signal hashes must be strictly increasing")
        return cls(hashes)


def _check_size(text: str, max_chars: int) -> None:
    if not isinstance(text, str):
        raise InvalidInput(f"text must be a str, got {type(text).__name__}")
    if len(text) > max_chars:
        raise ContentTooLarge(
            f"text has {len(text)} characters, more than the limit of {max_chars}"
        )


def _normalise_checked(text: str, max_chars: int) -> str:
    _check_size(text, max_chars)
    normalised = normalize_text(text)
    if not normalised:
        raise InvalidInput(
            "text is empty after normalisation (only punctuation, emoji, "
            "URLs, mentions, marks or white space)"
        )
    return normalised


def text_sketch(text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> TextSketch:
    """Normalise ``text`` and return its :class:`TextSketch`."""
    return TextSketch(shingle_hashes(_normalise_checked(text, max_chars)))


def text_signal(text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> Signal:
    """The ``text`` :class:`Signal` of a post.

    Raises ContentTooLarge when ``text`` has more than ``max_chars`` code
    points (no silent truncation) and InvalidInput when nothing is left after
    normalisation.
    """
    sketch = text_sketch(text, max_chars=max_chars)
    return _signal_of(sketch)


def _signal_of(sketch: TextSketch) -> Signal:
    extra = {
        "version": TEXT_VERSION,
        "normalization": NORMALIZATION_VERSION,
        "shingle_chars": SHINGLE_CHARS,
        "shingles": len(sketch),
    }
    return Signal("text", sketch.to_value(), extra)


def text_sketches(
    texts: Sequence[str], *, max_chars: int = DEFAULT_MAX_CHARS
) -> list[TextSketch]:
    """Sketches of many texts, equal to ``[text_sketch(t) for t in texts]``.

    Faster than the loop: the shingles of a chunk of texts are hashed in one
    numpy pass over their concatenated code points and sorted once.
    """
    normalised = [_normalise_checked(t, max_chars) for t in texts]
    out: list[TextSketch] = []
    for begin in range(0, len(normalised), _BATCH):
        out.extend(_sketch_chunk(normalised[begin : begin + _BATCH]))
    return out


_BATCH = 2048  # texts per numpy pass (bounds the temporary arrays)


def _sketch_chunk(normalised: list[str]) -> list[TextSketch]:
    n = SHINGLE_CHARS
    padded = [t.ljust(n) for t in normalised]
    lengths = np.fromiter((len(p) for p in padded), dtype=np.int64, count=len(padded))
    cps = np.frombuffer("".join(padded).encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    hashes = _window_hashes(cps, n)
    ends = np.cumsum(lengths)
    owner = np.repeat(np.arange(len(padded), dtype=np.int64), lengths)[: hashes.size]
    # keep the windows that lie wholly inside one text
    valid = np.arange(hashes.size) + n <= ends[owner]
    keys = (owner[valid].astype(np.uint64) << _S32) | hashes[valid].astype(np.uint64)
    keys = _sorted_unique(keys)
    cuts = np.searchsorted(keys >> _S32, np.arange(1, len(padded), dtype=np.uint64))
    return [TextSketch(part.astype(np.uint32)) for part in np.split(keys, cuts)]


def text_signals(texts: Sequence[str], *, max_chars: int = DEFAULT_MAX_CHARS) -> list[Signal]:
    """``[text_signal(t) for t in texts]``, through :func:`text_sketches`."""
    return [_signal_of(s) for s in text_sketches(texts, max_chars=max_chars)]


def _check_pair(a: TextSketch, b: TextSketch) -> None:
    if not isinstance(a, TextSketch) or not isinstance(b, TextSketch):
        raise InvalidInput("similarity and containment take two TextSketch objects")


def _overlap(a: TextSketch, b: TextSketch) -> int:
    return intersection_size(a.hashes, b.hashes)


def intersection_size(a: np.ndarray, b: np.ndarray) -> int:
    """Number of common values of two sorted arrays of distinct values."""
    if a.size > b.size:
        a, b = b, a
    if not a.size:
        return 0
    pos = np.searchsorted(b, a)
    np.minimum(pos, b.size - 1, out=pos)
    return int(np.count_nonzero(b[pos] == a))


def similarity(a: TextSketch, b: TextSketch) -> float:
    """Jaccard similarity of the two shingle sets, in [0, 1], symmetric."""
    _check_pair(a, b)
    inter = _overlap(a, b)
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0


def containment(a: TextSketch, b: TextSketch) -> float:
    """Fraction of ``a``'s shingles found in ``b`` (1.0 when a is quoted in b)."""
    _check_pair(a, b)
    return _overlap(a, b) / len(a) if len(a) else 1.0
