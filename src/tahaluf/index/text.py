"""In-memory index of ``text`` sketches: near-duplicates and containment.

Storage: every sketch lives in one flat ``uint32`` array (``_flat``) with
``int64`` offsets per slot; a slot also records its item id and whether it
is alive. An item id maps to its slot through a dict.

Candidates come from an inverted index over the *rarest* hashes of each
sketch: an item with ``n`` hashes is posted under its ``max(min_keys,
n / key_density)`` hashes of lowest document frequency (ties broken by hash
value). Frequencies are counted, as they are added, in a table of
``2**22`` counters indexed by the low hash bits. Rare shingles are the
informative ones (a post's unusual word pairs, not "in the"), so the
postings are short; and the rarest hashes of a shared passage are, for both
the bank item and the query, rare globally: a truncated repost, a quote in a
long article or an edited copy shares about the same fraction of an item's
keys as of its shingles (MinHash banding loses containment).

A query looks up all its hashes and gathers at most ``max_postings``
postings, shortest posting lists first (the longest are stop-keys for
candidate generation only), counts the hits per slot and sends the
``max_verify`` candidates with most hits to exact verification:
similarity and containment in both directions on the full sketches. Results
are therefore never wrong; a match can be missed only when its shared part
holds too few sampled keys (see ``docs/text-index.md`` for the measured rate).

Postings: compacted CSR arrays (sorted distinct ``uint32`` keys, ``int64``
starts, ``int32`` slots) plus a small dict for items added one by one, merged
into the CSR part when it grows past ``compact_every`` items. Removal marks
the slot dead; dead postings and sketch space are reclaimed at compaction.
A key, once chosen for an item, stays (frequencies are not re-ranked; they
are not decremented on removal either: they only order keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tahaluf.errors import InvalidInput
from tahaluf.signals.text import (
    DEFAULT_MIN_CONTAINMENT,
    DEFAULT_MIN_SIMILARITY,
    MIN_CONTAINED_SHINGLES,
    TextSketch,
)

__all__ = ["TextIndex", "TextMatch"]

_MIN_KEYS = 4  # shortest posting lists a query always reads, whatever the budget
_DF_BITS = 22  # document-frequency table: 2**22 uint32 counters (16 MB)
_DF_MASK = np.uint32((1 << _DF_BITS) - 1)
_DF_CAP = (1 << 20) - 1  # frequencies above this rank equal (then by hash value)
_CHUNK = 4096  # items ranked per sort (12 bits of the sort key)
_SIGMAS = 3.0  # verify candidates down to this many standard deviations below the needed hits
_LOW16 = np.uint32(0xFFFF)


@dataclass(frozen=True, slots=True)
class TextMatch:
    item_id: int
    similarity: float
    query_in_item: float  # containment of the query in the bank item
    item_in_query: float  # containment of the bank item in the query


class _Grow:
    """A growable 1-D numpy array (capacity grows by a quarter)."""

    __slots__ = ("data", "size")

    def __init__(self, dtype: type, capacity: int = 1024) -> None:
        self.data = np.zeros(capacity, dtype=dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + values.size
        if end > self.data.size:
            bigger = np.zeros(max(end, self.data.size * 5 // 4 + 1024), dtype=self.data.dtype)
            bigger[: self.size] = self.data[: self.size]
            self.data = bigger
        self.data[self.size : end] = values
        self.size = end

    def view(self) -> np.ndarray:
        return self.data[: self.size]

    def replace(self, values: np.ndarray) -> None:
        self.data, self.size = values.copy(), values.size


def _csr(keys: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct sorted keys, int64 starts, int32 slots grouped by key)."""
    order = np.argsort(keys, kind="stable")
    keys, slots = keys[order], slots[order].astype(np.int32)
    new = np.empty(keys.size, dtype=bool)
    new[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    first = np.flatnonzero(new)
    return keys[first], np.append(first, keys.size).astype(np.int64), slots


def _segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for every (s, n)."""
    total = int(lengths.sum())
    shift = starts - (np.cumsum(lengths) - lengths)
    return np.repeat(shift, lengths) + np.arange(total, dtype=np.int64)


class TextIndex:
    """item id -> TextSketch, queried by similarity and containment."""

    def __init__(
        self,
        *,
        key_density: int = 8,
        min_keys: int = 24,
        max_postings: int = 2_000,
        max_verify: int = 48,
        compact_every: int = 20_000,
    ) -> None:
        if key_density < 1 or min_keys < 1 or max_postings < 1 or max_verify < 1:
            raise InvalidInput("TextIndex parameters must be positive")
        self._density, self._min_keys = key_density, min_keys
        self._budget, self._max_verify = max_postings, max_verify
        self._compact_every = compact_every
        self._slot_of: dict[int, int] = {}
        self._flat = _Grow(np.uint32, 1 << 16)  # every sketch, slot after slot
        self._off = _Grow(np.int64)  # start of each slot in _flat (plus the end)
        self._off.extend(np.zeros(1, dtype=np.int64))
        self._ids = _Grow(np.int64)  # item id of each slot
        self._alive = _Grow(np.bool_)
        self._df = np.zeros(1 << _DF_BITS, dtype=np.uint32)
        self._keys = np.zeros(0, dtype=np.uint32)  # CSR postings
        self._starts = np.zeros(1, dtype=np.int64)
        self._slots = np.zeros(0, dtype=np.int32)
        self._fresh: dict[int, list[int]] = {}  # key -> slots added one by one
        self._fresh_items = 0
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # add_many postings
        self._dead = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._slot_of

    @property
    def nbytes(self) -> int:
        """Bytes held by the numpy arrays (sketches, offsets, frequencies, postings)."""
        arrays = [self._flat.data, self._off.data, self._ids.data, self._alive.data,
                  self._df, self._keys, self._starts, self._slots]
        return sum(a.nbytes for a in arrays)

    # -- adding and removing ------------------------------------------------

    def _append(self, item_ids: Sequence[int], sketches: Sequence[TextSketch]) -> int:
        """Store sketches in new slots and count their hashes; the first new slot."""
        for sketch in sketches:
            if not isinstance(sketch, TextSketch):
                raise InvalidInput("TextIndex takes TextSketch objects")
        for item_id in item_ids:
            self.remove(item_id)
        first = self._ids.size
        sizes = np.fromiter((s.hashes.size for s in sketches), dtype=np.int64, count=len(sketches))
        new = np.concatenate([s.hashes for s in sketches]).astype(np.uint32)
        self._flat.extend(new)
        self._off.extend(self._off.data[first] + np.cumsum(sizes))
        self._ids.extend(np.asarray(item_ids, dtype=np.int64))
        self._alive.extend(np.ones(len(sketches), dtype=np.bool_))
        self._slot_of.update(zip(item_ids, range(first, first + len(item_ids))))
        if new.size < 1 << 16:
            np.add.at(self._df, new & _DF_MASK, 1)
        for lo in range(0, new.size if new.size >= 1 << 16 else 0, 1 << 22):  # bounded temporaries
            part = new[lo : lo + (1 << 22)] & _DF_MASK
            self._df += np.bincount(part, minlength=self._df.size).astype(np.uint32)
        return first

    def _rarest(self, first: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """(key, slot) postings of slots first..end-1: each item's rarest
        hashes, and its hashes with ``h % key_density == 0``."""
        parts_k, parts_s = [], []
        off = self._off.data
        for lo in range(first, end, _CHUNK):
            hi = min(lo + _CHUNK, end)
            flat = self._flat.data[off[lo] : off[hi]]
            sizes = off[lo + 1 : hi + 1] - off[lo:hi]
            owner = np.repeat(np.arange(hi - lo, dtype=np.uint64), sizes)
            df = np.minimum(self._df[flat & _DF_MASK], _DF_CAP).astype(np.uint64)
            comp = np.sort((owner << np.uint64(52)) | (df << np.uint64(32)) | flat)
            rank = np.arange(comp.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            want = np.maximum(self._min_keys, -(-sizes // self._density))
            keep = (rank < np.repeat(want, sizes)) | (flat % np.uint32(self._density) == 0)
            parts_k.append((comp[keep] & np.uint64(0xFFFFFFFF)).astype(np.uint32))
            parts_s.append((comp[keep] >> np.uint64(52)).astype(np.int32) + lo)
        return np.concatenate(parts_k), np.concatenate(parts_s)

    def add(self, item_id: int, sketch: TextSketch) -> None:
        """Add (or replace) the sketch of ``item_id``; cheap to interleave with queries."""
        slot = self._append([item_id], [sketch])
        for key in self._rarest(slot, slot + 1)[0].tolist():
            self._fresh.setdefault(key, []).append(slot)
        self._fresh_items += 1
        if self._fresh_items >= max(self._compact_every, len(self._slot_of) // 8):
            self._compact()

    def add_many(self, item_ids: Sequence[int], sketches: Sequence[TextSketch]) -> None:
        """Bulk load (or replace); the postings are merged once, at the next query.

        Frequencies count the whole batch before each item's keys are chosen.
        """
        if len(item_ids) != len(sketches):
            raise InvalidInput("add_many needs as many item ids as sketches")
        if len(set(item_ids)) != len(item_ids):
            raise InvalidInput("add_many got the same item id twice")
        if not item_ids:
            return
        first = self._append(item_ids, sketches)
        self._pending.append(self._rarest(first, self._ids.size))

    def remove(self, item_id: int) -> bool:
        """Forget ``item_id``; False if it was not indexed."""
        slot = self._slot_of.pop(item_id, None)
        if slot is None:
            return False
        self._alive.data[slot] = False
        self._dead += 1
        if self._dead > max(1_000, len(self._slot_of) // 4):
            self._compact()
        return True

    # -- compaction ---------------------------------------------------------

    def _compact(self) -> None:
        """Merge fresh and pending postings into the CSR part; drop dead slots."""
        parts = [(np.repeat(self._keys, np.diff(self._starts)), self._slots), *self._pending]
        parts += [(np.full(len(v), k, dtype=np.uint32), np.asarray(v, dtype=np.int32))
                  for k, v in self._fresh.items()]
        keys = np.concatenate([k for k, _ in parts])
        slots = np.concatenate([v for _, v in parts])
        keep = self._alive.view()[slots]
        keys, slots = keys[keep], slots[keep]
        if self._dead * 4 > self._ids.size:
            slots = self._compact_store()[slots]
        self._keys, self._starts, self._slots = _csr(keys, slots)
        self._fresh, self._fresh_items, self._pending = {}, 0, []

    def _compact_store(self) -> np.ndarray:
        """Rewrite the flat sketch store without dead slots; old slot -> new slot."""
        alive = self._alive.view()
        live = np.flatnonzero(alive)
        off = self._off.view()
        sizes = off[live + 1] - off[live]
        self._flat.replace(self._flat.view()[_segments(off[live], sizes)])
        self._off.replace(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
        self._ids.replace(self._ids.view()[live])
        self._alive.replace(np.ones(live.size, dtype=np.bool_))
        self._slot_of = dict(zip(self._ids.view().tolist(), range(live.size)))
        self._dead = 0
        return (np.cumsum(alive) - 1).astype(np.int32)

    # -- querying -----------------------------------------------------------

    def _gather(self, q: np.ndarray) -> np.ndarray:
        """Slots posted under the query's hashes, shortest lists first, at most
        ``max_postings`` per 256 query hashes."""
        keys = self._keys
        if not keys.size:
            return self._slots[:0]
        pos = np.searchsorted(keys, q)
        np.minimum(pos, keys.size - 1, out=pos)
        pos = pos[keys[pos] == q]
        begin = self._starts[pos]
        lengths = self._starts[pos + 1] - begin
        budget = self._budget * max(1, q.size // 256)  # long queries read more
        if int(lengths.sum()) > budget:
            order = np.argsort(lengths, kind="stable")
            fits = int(np.searchsorted(np.cumsum(lengths[order]), budget, side="right"))
            take = order[: max(fits, _MIN_KEYS)]
            begin, lengths = begin[take], lengths[take]
        return self._slots[_segments(begin, lengths)]

    def _candidates(
        self, q: np.ndarray, min_similarity: float, min_containment: float
    ) -> np.ndarray:
        """Live candidate slots worth verifying, most promising first."""
        slots = self._gather(q)
        if self._fresh:
            extra = [hit for key in q.tolist() if (hit := self._fresh.get(key))]
            if extra:
                slots = np.concatenate([slots, np.concatenate(extra).astype(np.int32)])
        if not slots.size:
            return slots
        slots, hits = np.unique(slots, return_counts=True)
        live = self._alive.data[slots]
        slots, hits = slots[live], hits[live]
        # an item sharing a fraction f of its shingles shares about f of its
        # sampled keys (binomial; often more of its rarest keys): keep the
        # candidates within _SIGMAS standard deviations of what the weakest
        # possible match has; verify the ones at or above it, and the best
        # max_verify of the others
        off = self._off.data
        nb = off[slots + 1] - off[slots]
        unbiased = np.where(nb <= self._min_keys, nb, nb / self._density)
        need = unbiased * self._weakest(q.size, nb, min_similarity, min_containment)
        score = hits / need
        strong = np.flatnonzero(score >= 1.0)
        weak = np.flatnonzero((score < 1.0) & (hits >= need - _SIGMAS * np.sqrt(need)))
        if weak.size > self._max_verify:
            weak = weak[np.argsort(-score[weak], kind="stable")[: self._max_verify]]
        return slots[np.concatenate([strong, weak])]

    @staticmethod
    def _weakest(nq: int, nb: np.ndarray, min_similarity: float, min_containment: float) -> np.ndarray:
        """Smallest fraction of each bank item's shingles a match can share."""
        s = min_similarity
        need = s / (1.0 + s) * (nq + nb)  # similarity >= s needs this overlap
        if nq >= MIN_CONTAINED_SHINGLES:
            need = np.minimum(need, min_containment * nq)
        need = np.where(nb >= MIN_CONTAINED_SHINGLES, np.minimum(need, min_containment * nb), need)
        return np.clip(need / nb, 1e-9, 1.0)

    def query(
        self,
        sketch: TextSketch,
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
        min_containment: float = DEFAULT_MIN_CONTAINMENT,
    ) -> list[TextMatch]:
        """Bank items with similarity >= min_similarity, or containment
        >= min_containment in either direction where the contained side has
        at least MIN_CONTAINED_SHINGLES shingles; best first."""
        if not isinstance(sketch, TextSketch):
            raise InvalidInput("TextIndex.query takes a TextSketch")
        if self._pending:
            self._compact()
        q = sketch.hashes
        slots = self._candidates(q, min_similarity, min_containment)
        return self._verify(q, slots, min_similarity, min_containment)

    def _verify(
        self, q: np.ndarray, slots: np.ndarray, min_similarity: float, min_containment: float
    ) -> list[TextMatch]:
        """Exact similarity and containments of q against candidate slots."""
        if not slots.size:
            return []
        off = self._off.data
        begin = off[slots]
        sizes = off[slots + 1] - begin
        flat = self._flat.data[_segments(begin, sizes)]
        table = np.zeros(1 << 16, dtype=np.bool_)  # low 16 bits of the query hashes
        table[q & _LOW16] = True
        maybe = np.flatnonzero(table[flat & _LOW16])
        pos = np.searchsorted(q, flat[maybe])
        np.minimum(pos, q.size - 1, out=pos)
        shared = maybe[q[pos] == flat[maybe]]
        seg = np.cumsum(sizes) - sizes
        inter = np.bincount(np.searchsorted(seg, shared, side="right") - 1, minlength=slots.size)
        sim = inter / (q.size + sizes - inter)
        q_in, o_in = inter / q.size, inter / sizes
        ok = (sim >= min_similarity) | (
            (q_in >= min_containment) & (q.size >= MIN_CONTAINED_SHINGLES)
        ) | ((o_in >= min_containment) & (sizes >= MIN_CONTAINED_SHINGLES))
        ids = self._ids.data[slots]
        out = [
            TextMatch(int(ids[i]), float(sim[i]), float(q_in[i]), float(o_in[i]))
            for i in np.flatnonzero(ok).tolist()
        ]
        out.sort(key=lambda m: (-max(m.similarity, m.query_in_item, m.item_in_query), m.item_id))
        return out
