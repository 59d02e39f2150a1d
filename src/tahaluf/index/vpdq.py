"""vPDQ video matching: which indexed videos share enough frames with a query.

A video is a sequence of frames, each a PDQ hash (one row of an ``(F, 4)``
uint64 array, the layout of :mod:`tahaluf.index.pdq_codec`) and a PDQ quality
(``(F,)`` uint8, 0-100). :class:`VPDQIndex` answers with exactly the result of
python-threatexchange's ``match_VPDQ_hash_brute`` applied to every indexed
video (``threatexchange/extensions/vpdq/vpdq_brute_matcher.py``):

1. each side is deduplicated (the first frame with a given hash is kept),
   then frames with quality below ``quality_threshold`` are dropped: in that
   order, so a hash whose first occurrence is low quality is dropped even if
   it repeats later at high quality;
2. ``query_match_pct`` = 100 * (query frames within ``max_distance`` bits of
   any frame of the video) / (query frames), ``index_match_pct`` likewise
   with the video's frames; both are computed as ``count * 100 / total``;
3. a video matches when both are at or above their thresholds.

Where the reference would divide by zero (no frame left after filtering),
the query returns no matches, and an indexed video with no frame left never
matches. Frames are compared as bits, so hex spelling (upper or lower case)
does not matter.

Algorithm (see docs/vpdq-matching.md): the bank's frame hashes are one
``(4, U)`` array, each distinct hash once after :meth:`VPDQIndex.compact`.
A query makes one vectorised pass over the U bank hashes
(:func:`frame_pairs_within`), giving the sparse set of (query frame, bank
hash) pairs within ``max_distance``; a pass over the F frame records turns it
into per-video counts. Cost per query: O(Q * U) bit operations for Q query
frames, plus O(F + P log P) for P matching pairs. ``add`` appends, ``remove``
tombstones; compaction runs once a quarter of the stored frames are dead.
Not thread-safe for concurrent writers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tahaluf import jsonbound
from tahaluf.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "DEFAULT_INDEX_MATCH_PCT",
    "DEFAULT_MAX_DISTANCE",
    "DEFAULT_QUALITY_THRESHOLD",
    "DEFAULT_QUERY_MATCH_PCT",
    "VPDQIndex",
    "VPDQMatch",
    "arrays_from_frames",
    "dedupe_frames",
    "frame_pairs_within",
    "frames_from_value",
]

#: python-threatexchange's vPDQ defaults (``vpdq_util.py``)
DEFAULT_MAX_DISTANCE = 31
DEFAULT_QUALITY_THRESHOLD = 50
DEFAULT_QUERY_MATCH_PCT = 80.0
DEFAULT_INDEX_MATCH_PCT = 0.0

_HASH_WORDS = 4
_HASH_BITS = 256
_BIG_ENDIAN_U64 = np.dtype(">u8")
#: elements of the (query x bank) distance block computed at once (~1 MB of uint8)
_BLOCK_ELEMENTS = 1 << 20
_COMPACT_DEAD_FRACTION = 0.25
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class VPDQMatch:
    """One matching video: the percentages of the reference's rule."""

    item_id: int
    query_match_pct: float
    index_match_pct: float


class _FrameLike(Protocol):
    pdq_hex: str
    quality: int


# ---------------------------------------------------------------- frame arrays


def frames_from_value(value: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a ``vpdq`` signal value into ``(pdq (F, 4) uint64, quality (F,) uint8)``.

    The value is python-threatexchange's ``VPDQSignal`` serialisation, as
    written by :func:`tahaluf.signals.video.video_signal`: a JSON list of
    ``"pdq_hex,quality,timestamp"`` strings. (The reference ``.txt`` format is
    read by :func:`tahaluf.signals.video.parse_vpdq`; pass its result to
    :func:`arrays_from_frames`.) Raises :class:`InvalidInput` naming the
    first bad element.
    """
    try:
        items = jsonbound.loads(value or "[]", what="vPDQ value")
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"vPDQ value is not JSON: {exc.msg} at char {exc.pos}") from exc
    except RecursionError as exc:  # "[[[[...]]]]" nested past the parser's depth
        raise InvalidInput("vPDQ value is nested too deeply (a flat JSON list of frames is expected)") from exc
    if not isinstance(items, list):
        raise InvalidInput("vPDQ value must be a JSON list of 'pdq_hex,quality,timestamp'")
    hexes: list[str] = []
    qualities: list[int] = []
    for number, item in enumerate(items):
        pdq_hex, quality = _parse_feature(item, number)
        hexes.append(pdq_hex)
        qualities.append(quality)
    return _words_from_hex(hexes), np.array(qualities, dtype=np.uint8)


def arrays_from_frames(frames: Iterable[_FrameLike]) -> tuple[np.ndarray, np.ndarray]:
    """``(pdq, quality)`` arrays from objects with ``pdq_hex`` and ``quality``.

    E.g. the :class:`~tahaluf.signals.video.FrameHash` list of ``hash_video``
    or ``parse_vpdq``.
    """
    hexes: list[str] = []
    qualities: list[int] = []
    for number, frame in enumerate(frames):
        if not 0 <= frame.quality <= 100:
            raise InvalidInput(f"vPDQ frame #{number}: quality {frame.quality} not in 0..100")
        hexes.append(frame.pdq_hex)
        qualities.append(frame.quality)
    return _words_from_hex(hexes), np.array(qualities, dtype=np.uint8)


def _parse_feature(item: object, number: int) -> tuple[str, int]:
    """One ``"hex,quality,timestamp"`` element, validated as pytx's ``from_str``."""
    parts = item.split(",") if isinstance(item, str) else []
    if len(parts) != 3:
        raise InvalidInput(
            f"vPDQ frame #{number}: expected 'pdq_hex,quality,timestamp', got {item!r:.90}"
        )
    pdq_hex, quality_text, time_text = parts
    try:
        quality = int(quality_text)
        timestamp = float(time_text)
    except ValueError as exc:
        raise InvalidInput(
            f"vPDQ frame #{number}: bad quality or timestamp in {item!r:.90}"
        ) from exc
    if not 0 <= quality <= 100 or not timestamp >= 0:
        raise InvalidInput(
            f"vPDQ frame #{number}: quality or timestamp out of range in {item!r:.90}"
        )
    return pdq_hex, quality


def _words_from_hex(hexes: list[str]) -> np.ndarray:
    raw = bytearray()
    for number, text in enumerate(hexes):
        if not isinstance(text, str) or len(text) != 64:
            raise InvalidInput(
                f"vPDQ frame #{number}: PDQ hash is not 64 hex digits: {text!r:.80}"
            )
        try:
            raw += bytes.fromhex(text)
        except ValueError as exc:
            raise InvalidInput(f"vPDQ frame #{number}: PDQ hash is not hex: {text!r:.80}") from exc
    words = np.frombuffer(bytes(raw), dtype=_BIG_ENDIAN_U64).reshape(len(hexes), _HASH_WORDS)
    return words.astype(np.uint64)


def _check_frames(pdq: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pdq = np.asarray(pdq)
    quality = np.asarray(quality)
    if pdq.ndim != 2 or pdq.shape[1] != _HASH_WORDS or pdq.dtype != np.uint64:
        raise InvalidInput(f"frame hashes must be (F, 4) uint64, got {pdq.shape} {pdq.dtype}")
    if quality.shape != (len(pdq),) or not np.issubdtype(quality.dtype, np.integer):
        raise InvalidInput(
            f"frame qualities must be ({len(pdq)},) integers, got {quality.shape} {quality.dtype}"
        )
    if quality.size and (int(quality.min()) < 0 or int(quality.max()) > 100):
        raise InvalidInput("frame qualities must be in 0..100")
    return np.ascontiguousarray(pdq), quality.astype(np.uint8)


def dedupe_frames(pdq: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the first frame of each distinct hash, in their original order."""
    pdq, quality = _check_frames(pdq, quality)
    if not len(pdq):
        return pdq, quality
    _, first = np.unique(pdq, axis=0, return_index=True)
    first.sort()
    return pdq[first], quality[first]


# ---------------------------------------------------------------- distance kernel


def frame_pairs_within(
    queries: np.ndarray, bank_words: np.ndarray, max_distance: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (query row, bank column) pair within ``max_distance`` bits.

    ``queries`` is ``(Q, 4)`` uint64; ``bank_words`` the bank hashes
    transposed, ``(4, U)`` uint64 (C-contiguous, so each word is one stream).
    Returns two int64 arrays sorted by bank column, then query row. Exact
    brute force: the first two words are compared densely (their distance
    never exceeds the total, so pairs above ``max_distance`` after two words
    are out), the survivors finish on the last two words.
    """
    n_queries, n_bank = len(queries), bank_words.shape[1]
    rows_out: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    cols_out: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    if not n_queries or not n_bank:
        return rows_out[0], cols_out[0]
    block = min(n_bank, max(1, _BLOCK_ELEMENTS // n_queries))
    q0, q1 = queries[:, 0:1], queries[:, 1:2]
    # preallocated buffers: the dense pass is memory bound, fresh arrays cost 2-3x
    xor_buf = np.empty((n_queries, block), dtype=np.uint64)
    near_buf = np.empty((n_queries, block), dtype=np.uint8)
    bits_buf = np.empty((n_queries, block), dtype=np.uint8)
    mask_buf = np.empty((n_queries, block), dtype=bool)
    for start in range(0, n_bank, block):
        width = min(block, n_bank - start)
        b = bank_words[:, start : start + width]
        xor, near, bits, mask = (buf[:, :width] for buf in (xor_buf, near_buf, bits_buf, mask_buf))
        np.bitwise_count(np.bitwise_xor(q0, b[0], out=xor), out=near)
        np.bitwise_count(np.bitwise_xor(q1, b[1], out=xor), out=bits)
        np.add(near, bits, out=near)  # at most 128: fits uint8
        if not np.less_equal(near, max_distance, out=mask).any():
            continue
        rows, cols = np.divmod(np.flatnonzero(mask), width)  # 20x faster than 2-D nonzero
        dist = near[rows, cols].astype(np.int16)
        dist += np.bitwise_count(queries[rows, 2] ^ b[2, cols])
        dist += np.bitwise_count(queries[rows, 3] ^ b[3, cols])
        keep = dist <= max_distance
        rows_out.append(rows[keep])
        cols_out.append(cols[keep] + start)
    rows, cols = np.concatenate(rows_out), np.concatenate(cols_out)
    order = np.lexsort((rows, cols))
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


# ---------------------------------------------------------------- index


class VPDQIndex:
    """Incremental vPDQ index over videos identified by integer ids.

    Storage, about 49 bytes per stored frame: the frame hashes (``(4, U)``
    uint64, word-major so each word is one contiguous stream) and one record
    per (video, distinct hash of that video): hash row (int64), video slot
    (int64) and the quality of the hash's first frame in the video (uint8).
    """

    def __init__(self) -> None:
        self._words = np.empty((_HASH_WORDS, 0), dtype=np.uint64)
        self._n_hashes = 0
        self._frame_row = np.empty(0, dtype=np.int64)
        self._frame_slot = np.empty(0, dtype=np.int64)
        self._frame_quality = np.empty(0, dtype=np.uint8)
        self._n_frames = 0
        self._slot_of_item: dict[int, int] = {}
        self._slot_items = np.empty(0, dtype=np.int64)
        self._slot_alive = np.empty(0, dtype=bool)
        self._n_slots = 0
        self._dead_frames = 0

    def __len__(self) -> int:
        return len(self._slot_of_item)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._slot_of_item

    @property
    def stored_hashes(self) -> int:
        """Hashes the distance pass scans: distinct ones right after :meth:`compact`."""
        return self._n_hashes

    def add(self, item_id: int, frames: tuple[np.ndarray, np.ndarray]) -> None:
        """Index one video: ``frames = (pdq (F, 4) uint64, quality (F,) uint8)``.

        Raises :class:`Conflict` if ``item_id`` is already indexed and
        :class:`InvalidInput` for malformed arrays or a video without frames.
        """
        item_id = int(item_id)
        if not _INT64_MIN <= item_id <= _INT64_MAX:
            raise InvalidInput(f"video id {item_id} does not fit in int64")
        if item_id in self._slot_of_item:
            raise Conflict(f"video {item_id} is already in the vPDQ index")
        pdq, quality = dedupe_frames(*frames)
        if not len(pdq):
            raise InvalidInput(f"video {item_id} has no frames")
        rows = self._append_hashes(pdq)
        slot = self._new_slot(item_id)
        self._append_frames(rows, np.full(len(rows), slot, dtype=np.int64), quality)

    def remove(self, item_id: int) -> None:
        """Forget one video; raises :class:`NotFound` if it is not indexed."""
        slot = self._slot_of_item.pop(int(item_id), None)
        if slot is None:
            raise NotFound(f"video {item_id} is not in the vPDQ index")
        self._slot_alive[slot] = False
        self._dead_frames += int(np.count_nonzero(self._frame_slot[: self._n_frames] == slot))
        if self._dead_frames > _COMPACT_DEAD_FRACTION * self._n_frames:
            self.compact()

    def query(
        self,
        frames_pdq: np.ndarray,
        frames_quality: np.ndarray,
        *,
        max_distance: int = DEFAULT_MAX_DISTANCE,
        quality_threshold: int = DEFAULT_QUALITY_THRESHOLD,
        query_match_pct: float = DEFAULT_QUERY_MATCH_PCT,
        index_match_pct: float = DEFAULT_INDEX_MATCH_PCT,
    ) -> list[VPDQMatch]:
        """Videos matching a query video under the reference's rule, best first.

        Sorted by ``query_match_pct``, then ``index_match_pct`` (both
        descending), then ``item_id``. An empty list when no query frame is
        left after dedupe and the quality filter.
        """
        if not (isinstance(max_distance, int | np.integer) and 0 <= max_distance <= _HASH_BITS):
            raise InvalidInput(f"max_distance must be an integer in 0..256, got {max_distance!r}")
        pdq, quality = dedupe_frames(frames_pdq, frames_quality)
        query = pdq[quality >= quality_threshold]
        if not len(query) or not self._slot_of_item:
            return []
        usable = self._usable_frames(quality_threshold)
        video_frames = np.bincount(self._frame_slot[: self._n_frames][usable],
                                   minlength=self._n_slots)
        q_rows, h_rows = frame_pairs_within(query, self._words[:, : self._n_hashes], max_distance)
        index_hits, query_hits = self._count_hits(q_rows, h_rows, usable, len(query))
        return self._decide(
            video_frames, index_hits, query_hits, len(query), query_match_pct, index_match_pct
        )

    # ------------------------------------------------------------ internals

    def _append_hashes(self, pdq: np.ndarray) -> np.ndarray:
        """Store hashes as new rows (merged with equal ones by :meth:`compact`)."""
        start, end = self._n_hashes, self._n_hashes + len(pdq)
        if end > self._words.shape[1]:
            grown = np.empty((_HASH_WORDS, max(end, 2 * self._words.shape[1], 1024)), np.uint64)
            grown[:, :start] = self._words[:, :start]
            self._words = grown
        self._words[:, start:end] = pdq.T
        self._n_hashes = end
        return np.arange(start, end, dtype=np.int64)

    def _new_slot(self, item_id: int) -> int:
        slot = self._n_slots
        if slot == len(self._slot_items):
            size = max(64, 2 * slot)
            self._slot_items = np.resize(self._slot_items, size)
            self._slot_alive = np.resize(self._slot_alive, size)
        self._slot_items[slot] = item_id
        self._slot_alive[slot] = True
        self._slot_of_item[item_id] = slot
        self._n_slots += 1
        return slot

    def _append_frames(self, rows: np.ndarray, slots: np.ndarray, quality: np.ndarray) -> None:
        end = self._n_frames + len(rows)
        if end > len(self._frame_row):
            size = max(end, 2 * len(self._frame_row), 4096)
            self._frame_row = np.resize(self._frame_row, size)
            self._frame_slot = np.resize(self._frame_slot, size)
            self._frame_quality = np.resize(self._frame_quality, size)
        self._frame_row[self._n_frames : end] = rows
        self._frame_slot[self._n_frames : end] = slots
        self._frame_quality[self._n_frames : end] = quality
        self._n_frames = end

    def _usable_frames(self, quality_threshold: int) -> np.ndarray:
        """Mask of stored frames of live videos at or above the quality threshold."""
        n = self._n_frames
        alive = self._slot_alive[self._frame_slot[:n]]
        return alive & (self._frame_quality[:n] >= quality_threshold)

    def _count_hits(
        self, q_rows: np.ndarray, h_rows: np.ndarray, usable: np.ndarray, n_query: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per video slot: bank frames matched, query frames matched."""
        n = self._n_frames
        hit_hash = np.zeros(self._n_hashes, dtype=bool)
        hit_hash[h_rows] = True
        frames = np.flatnonzero(usable & hit_hash[self._frame_row[:n]])
        slots = self._frame_slot[frames]
        index_hits = np.bincount(slots, minlength=self._n_slots)
        # join frames with the (query, hash) pairs of their hash: pairs are sorted by hash
        frame_rows = self._frame_row[frames]
        lo = np.searchsorted(h_rows, frame_rows, side="left")
        hi = np.searchsorted(h_rows, frame_rows, side="right")
        counts = hi - lo
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        pair_idx = starts + np.arange(int(counts.sum()))
        keys = np.unique(np.repeat(slots, counts) * n_query + q_rows[pair_idx])
        query_hits = np.bincount(keys // n_query, minlength=self._n_slots)
        return index_hits, query_hits

    def _decide(
        self,
        video_frames: np.ndarray,
        index_hits: np.ndarray,
        query_hits: np.ndarray,
        n_query: int,
        query_match_pct: float,
        index_match_pct: float,
    ) -> list[VPDQMatch]:
        live = self._slot_alive[: self._n_slots] & (video_frames > 0)
        if query_match_pct > 0 or index_match_pct > 0:
            live &= query_hits > 0  # a video sharing no frame cannot reach the thresholds
        matches = []
        for slot in np.flatnonzero(live).tolist():
            q_pct = int(query_hits[slot]) * 100 / n_query
            i_pct = int(index_hits[slot]) * 100 / int(video_frames[slot])
            if q_pct >= query_match_pct and i_pct >= index_match_pct:
                matches.append(VPDQMatch(int(self._slot_items[slot]), q_pct, i_pct))
        matches.sort(key=lambda m: (-m.query_match_pct, -m.index_match_pct, m.item_id))
        return matches

    def compact(self) -> None:
        """Drop removed videos' frames and store each distinct hash once.

        Runs by itself once a quarter of the stored frames are dead; call it
        after a bulk load so that videos sharing identical frames (re-uploads)
        are scanned once. O(F log F) for F stored frames.
        """
        n = self._n_frames
        keep = self._slot_alive[self._frame_slot[:n]]
        live_slots = np.flatnonzero(self._slot_alive[: self._n_slots])
        new_slot = np.full(self._n_slots, -1, dtype=np.int64)
        new_slot[live_slots] = np.arange(len(live_slots))
        hashes = self._words[:, self._frame_row[:n][keep]].T
        distinct, inverse = np.unique(hashes, axis=0, return_inverse=True)
        self._words = np.ascontiguousarray(distinct.T)
        self._n_hashes = len(distinct)
        self._frame_row = inverse.reshape(-1).astype(np.int64)
        self._frame_slot = new_slot[self._frame_slot[:n][keep]]
        self._frame_quality = self._frame_quality[:n][keep]
        self._n_frames = len(self._frame_row)
        self._slot_items = self._slot_items[live_slots]
        self._slot_alive = np.ones(len(live_slots), dtype=bool)
        self._n_slots = len(live_slots)
        self._slot_of_item = {int(item): i for i, item in enumerate(self._slot_items)}
        self._dead_frames = 0
