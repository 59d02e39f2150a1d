"""In-memory index of ``text`` sketches: near-duplicates and containment.

Storage: every sketch lives in one flat ``uint32`` array (``_flat``) with
``int64`` offsets per slot; a slot also records its item id, whether it is
alive and its sampling modulus. An item id maps to its slot through a dict.

Candidates come from an inverted index over a *hash-value sample* of each
sketch: a bank item with ``n`` hashes is indexed under its hashes with
``h % m == 0``, where ``m`` is the largest power of two up to ``sample_mod``
that still leaves about :data:`_TARGET_KEYS` keys (``m = 1``, every hash,
for short items). A query looks up *all* its hashes, so it meets every item
through that item's own sample, and the sample of an intersection is the
intersection of the samples: a truncated repost or a quoted post shares the
same fraction of keys as of shingles (MinHash banding loses containment).

A query gathers at most ``max_postings`` postings, rarest keys first (very
common shingles are stop-keys for candidate generation only), counts the
hits per slot, estimates each candidate's intersection from its hits and
sends the most promising ``max_verify`` candidates to exact verification:
similarity and containment in both directions on the full sketches. Results
are therefore never wrong; a match can be missed only when its shared part
holds too few sampled keys (see ``docs/text-index.md`` for the measured rate).

Postings: compacted CSR arrays (sorted distinct ``uint32`` keys, ``int64``
starts, ``int32`` slots) plus a small dict for items added one by one, merged
into the CSR part when it grows past ``compact_every`` items. Removal marks
the slot dead; dead postings and sketch space are reclaimed at compaction.
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

_TARGET_KEYS = 24  # sampled keys an item keeps at least (smaller modulus if needed)
_MIN_KEYS = 4  # rarest keys a query always looks up, whatever the budget
_SLACK = 0.5  # a candidate is verified if its estimated overlap >= _SLACK x needed


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
        sample_mod: int = 8,
        max_postings: int = 2_000,
        max_verify: int = 64,
        compact_every: int = 20_000,
    ) -> None:
        if sample_mod < 1 or sample_mod & (sample_mod - 1) or sample_mod > 1 << 15:
            raise InvalidInput("sample_mod must be a power of two up to 32768")
        self._mod = sample_mod
        self._budget = max_postings
        self._max_verify = max_verify
        self._compact_every = compact_every
        self._slot_of: dict[int, int] = {}
        self._flat = _Grow(np.uint32, 1 << 16)  # every sketch, slot after slot
        self._off = _Grow(np.int64)  # start of each slot in _flat (plus the end)
        self._off.extend(np.zeros(1, dtype=np.int64))
        self._ids = _Grow(np.int64)  # item id of each slot
        self._alive = _Grow(np.bool_)
        self._smod = _Grow(np.uint16)  # sampling modulus of each slot
        self._keys = np.zeros(0, dtype=np.uint32)  # CSR postings
        self._starts = np.zeros(1, dtype=np.int64)
        self._slots = np.zeros(0, dtype=np.int32)
        self._fresh: dict[int, list[int]] = {}  # key -> slots added one by one
        self._fresh_items = 0
        self._pending: list[int] = []  # first slot of each add_many batch
        self._merged = 0  # slots below this are in the CSR part or dead
        self._dead = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._slot_of

    @property
    def nbytes(self) -> int:
        """Bytes held by the numpy arrays (sketches, offsets, postings)."""
        arrays = [self._flat.data, self._off.data, self._ids.data, self._alive.data,
                  self._smod.data, self._keys, self._starts, self._slots]
        return sum(a.nbytes for a in arrays)

    # -- adding and removing ------------------------------------------------

    def _mods(self, sizes: np.ndarray) -> np.ndarray:
        """Sampling modulus per sketch size: largest power of two <= sample_mod
        leaving at least _TARGET_KEYS expected keys (1 for short sketches)."""
        ratio = np.maximum(sizes // _TARGET_KEYS, 1)
        mods = 1 << np.floor(np.log2(ratio)).astype(np.int64)
        return np.minimum(mods, self._mod).astype(np.uint16)

    def _append(self, item_ids: Sequence[int], sketches: Sequence[TextSketch]) -> int:
        """Store sketches in new slots; the first new slot."""
        for sketch in sketches:
            if not isinstance(sketch, TextSketch):
                raise InvalidInput("TextIndex takes TextSketch objects")
        for item_id in item_ids:
            self.remove(item_id)
        first = self._ids.size
        sizes = np.fromiter((s.hashes.size for s in sketches), dtype=np.int64, count=len(sketches))
        if sketches:
            self._flat.extend(np.concatenate([s.hashes for s in sketches]).astype(np.uint32))
        self._off.extend(self._off.data[first] + np.cumsum(sizes))
        self._ids.extend(np.asarray(item_ids, dtype=np.int64))
        self._alive.extend(np.ones(len(sketches), dtype=np.bool_))
        self._smod.extend(self._mods(sizes))
        self._slot_of.update(zip(item_ids, range(first, first + len(item_ids))))
        return first

    def _index_keys(self, slot: int) -> np.ndarray:
        hashes = self._flat.data[self._off.data[slot] : self._off.data[slot + 1]]
        return hashes[hashes & np.uint32(int(self._smod.data[slot]) - 1) == 0]

    def add(self, item_id: int, sketch: TextSketch) -> None:
        """Add (or replace) the sketch of ``item_id``; cheap to interleave with queries."""
        slot = self._append([item_id], [sketch])
        for key in self._index_keys(slot).tolist():
            self._fresh.setdefault(key, []).append(slot)
        self._fresh_items += 1
        if self._fresh_items >= max(self._compact_every, len(self._slot_of) // 8):
            self._compact()

    def add_many(self, item_ids: Sequence[int], sketches: Sequence[TextSketch]) -> None:
        """Bulk load (or replace); the postings are merged once, at the next query."""
        if len(item_ids) != len(sketches):
            raise InvalidInput("add_many needs as many item ids as sketches")
        if len(set(item_ids)) != len(item_ids):
            raise InvalidInput("add_many got the same item id twice")
        self._pending.append(self._append(item_ids, sketches))

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

    def _bulk_postings(self, first: int) -> tuple[np.ndarray, np.ndarray]:
        """(key, slot) postings of every slot from ``first`` on."""
        lo = int(self._off.data[first])
        flat = self._flat.view()[lo:]
        sizes = np.diff(self._off.view()[first:])
        owner = np.repeat(np.arange(first, self._ids.size, dtype=np.int32), sizes)
        mask = np.repeat(self._smod.view()[first:].astype(np.uint32) - 1, sizes)
        keep = (flat & mask) == 0
        return flat[keep], owner[keep]

    def _compact(self) -> None:
        """Merge new slots into the CSR postings; drop dead slots."""
        if self._dead * 4 > self._ids.size:
            self._compact_store()
            keys, slots = self._bulk_postings(0)
        else:
            old = np.repeat(self._keys, np.diff(self._starts)), self._slots
            new = self._bulk_postings(self._merged)
            keys, slots = np.concatenate([old[0], new[0]]), np.concatenate([old[1], new[1]])
            keep = self._alive.view()[slots]
            keys, slots = keys[keep], slots[keep]
        self._keys, self._starts, self._slots = _csr(keys, slots)
        self._fresh, self._fresh_items, self._pending = {}, 0, []
        self._merged = self._ids.size

    def _compact_store(self) -> None:
        """Rewrite the flat sketch store without dead slots."""
        alive = self._alive.view()
        live = np.flatnonzero(alive)
        off = self._off.view()
        sizes = off[live + 1] - off[live]
        self._flat.replace(self._flat.view()[_segments(off[live], sizes)])
        self._off.replace(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
        self._ids.replace(self._ids.view()[live])
        self._smod.replace(self._smod.view()[live])
        self._alive.replace(np.ones(live.size, dtype=np.bool_))
        self._slot_of = dict(zip(self._ids.view().tolist(), range(live.size)))
        self._dead = 0

    # -- querying -----------------------------------------------------------

    def _gather(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots posted under the query's hashes (rarest keys first, at most
        the budget) and the query hashes that were looked up."""
        keys = self._keys
        if not keys.size:
            return self._slots[:0], q[:0]
        pos = np.searchsorted(keys, q)
        np.minimum(pos, keys.size - 1, out=pos)
        found = keys[pos] == q
        pos = pos[found]
        begin = self._starts[pos]
        lengths = self._starts[pos + 1] - begin
        probed = q[found]
        if int(lengths.sum()) > self._budget:
            order = np.argsort(lengths, kind="stable")
            fits = int(np.searchsorted(np.cumsum(lengths[order]), self._budget, side="right"))
            take = np.sort(order[: max(fits, _MIN_KEYS)])
            begin, lengths, probed = begin[take], lengths[take], probed[take]
        return self._slots[_segments(begin, lengths)], probed

    def _candidates(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct candidate slots, their hit counts, and the looked-up hashes."""
        slots, probed = self._gather(q)
        if self._fresh:
            extra = [hit for key in q.tolist() if (hit := self._fresh.get(key))]
            if extra:
                slots = np.concatenate([slots, np.concatenate(extra).astype(np.int32)])
                probed = q  # fresh keys are never skipped; the estimate stays conservative
        if not slots.size:
            return slots, slots, probed
        slots, hits = np.unique(slots, return_counts=True)
        return slots, hits, probed

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
        slots, hits, probed = self._candidates(q)
        if not slots.size:
            return []
        slots, hits = slots[self._alive.data[slots]], hits[self._alive.data[slots]]
        slots = self._shortlist(q.size, slots, hits, probed, min_similarity, min_containment)
        return self._verify(q, slots, min_similarity, min_containment)

    def _shortlist(
        self, nq: int, slots: np.ndarray, hits: np.ndarray, probed: np.ndarray,
        min_similarity: float, min_containment: float,
    ) -> np.ndarray:
        """Candidates worth verifying, most promising first, at most max_verify."""
        mods = self._smod.data[slots].astype(np.int64)
        # looked-up query hashes an item of each modulus can share: mod 1, 2, 4, ...
        levels = [int(np.count_nonzero(probed & np.uint32(m - 1) == 0))
                  for m in (1 << np.arange(self._mod.bit_length()))]
        seen = np.maximum(np.asarray(levels, dtype=np.float64)[np.log2(mods).astype(np.int64)], 1)
        est = hits * (nq / seen)  # estimated intersection size
        off = self._off.data
        nb = (off[slots + 1] - off[slots]).astype(np.float64)
        s = min_similarity
        need = s / (1.0 + s) * (nq + nb)  # similarity >= s needs at least this overlap
        if nq >= MIN_CONTAINED_SHINGLES:
            need = np.minimum(need, min_containment * nq)
        need = np.where(nb >= MIN_CONTAINED_SHINGLES, np.minimum(need, min_containment * nb), need)
        score = est / np.maximum(need, 1.0)
        ok = np.flatnonzero(score >= _SLACK)
        if ok.size > self._max_verify:
            ok = ok[np.argsort(-score[ok], kind="stable")[: self._max_verify]]
        return slots[ok]

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
        pos = np.searchsorted(q, flat)
        np.minimum(pos, q.size - 1, out=pos)
        shared = (q[pos] == flat).astype(np.int32)
        inter = np.add.reduceat(shared, np.cumsum(sizes) - sizes)
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
