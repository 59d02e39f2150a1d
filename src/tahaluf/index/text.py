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
candidate generation only), counts the hits per slot and sends to exact
verification the candidates whose hits reach what the weakest match would
show, the ``max_verify`` best of those just below, and the ``max_ranked``
with 2+ hits in the shortest lists (ties at either cut-off are all kept);
similarity and containment are computed exactly on the full sketches
(:mod:`tahaluf.index.text_verify`: the match rule and the exact overlap).
Results are therefore never wrong; a match can be missed (see
``docs/text-index.md`` for the measured rate). ``query_many`` does all of
this for a batch of queries in one call of the numba kernels of
``tahaluf.index.text_kernels``, or, without numba, with one set of numpy
calls that gives the same lists; ``query`` is a batch of one.

Postings: compacted CSR arrays (sorted distinct ``uint32`` keys, ``int64``
starts, ``int32`` slots) plus a small dict for items added one by one, merged
into the CSR part when it grows past ``compact_every`` items. Removal marks
the slot dead; dead postings and sketch space are reclaimed at compaction.
A key, once chosen for an item, stays (frequencies are not re-ranked; they
are not decremented on removal either: they only order keys).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tahaluf.errors import InvalidInput

try:  # compiled kernels; the numpy path below gives the same answers, slower
    from tahaluf.index import text_kernels as _kernels
except ImportError:  # pragma: no cover - numba missing or unsupported platform
    _kernels = None  # type: ignore[assignment]
from tahaluf.index.text_verify import (
    TextMatch,
    overlap,
    segments,
    verified_matches,
    weakest_overlap,
)
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


class _Grow:
    """A growable 1-D numpy array (capacity grows by a quarter)."""

    __slots__ = ("data", "size")

    def __init__(self, dtype: type, capacity: int = 1024) -> None:
        self.data: np.ndarray = np.zeros(capacity, dtype=dtype)
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


class TextIndex:
    """item id -> TextSketch, queried by similarity and containment."""

    def __init__(
        self,
        *,
        key_density: int = 8,
        min_keys: int = 24,
        max_postings: int = 3_000,
        max_verify: int = 48,
        max_ranked: int = 16,
        compact_every: int = 20_000,
    ) -> None:
        if min(key_density, min_keys, max_postings, max_verify, max_ranked) < 1:
            raise InvalidInput("TextIndex parameters must be positive")
        self._density, self._min_keys = key_density, min_keys
        self._budget, self._max_verify, self._max_ranked = max_postings, max_verify, max_ranked
        self._compact_every = compact_every
        self._slot_of: dict[int, int] = {}
        self._flat = _Grow(np.uint32, 1 << 16)  # every sketch, slot after slot
        self._off = _Grow(np.int64)  # start of each slot in _flat (plus the end)
        self._off.extend(np.zeros(1, dtype=np.int64))
        self._ids = _Grow(np.int64)  # item id of each slot
        self._size = _Grow(np.int32)  # hashes per slot; -1: removed
        self._df = np.zeros(1 << _DF_BITS, dtype=np.uint32)
        self._keys = np.zeros(0, dtype=np.uint32)  # CSR postings
        self._starts = np.zeros(1, dtype=np.int64)
        self._slots = np.zeros(0, dtype=np.int32)
        self._fresh: dict[int, list[int]] = {}  # key -> slots added one by one
        self._fresh_items = 0
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # add_many postings
        self._dead = 0
        self._fresh_csr: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # _fresh as CSR arrays
        self._state: tuple[np.ndarray, int] | None = None  # kernel scratch: stamp per slot
        self._use_kernels = _kernels is not None  # False: the numpy path (tests compare both)

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._slot_of

    @property
    def nbytes(self) -> int:
        """Bytes held by the numpy arrays (sketches, offsets, frequencies, postings)."""
        arrays = [self._flat.data, self._off.data, self._ids.data, self._size.data,
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
        self._size.extend(sizes.astype(np.int32))
        self._slot_of.update(zip(item_ids, range(first, first + len(item_ids)), strict=True))
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
        self._fresh_items, self._fresh_csr = self._fresh_items + 1, None
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
        self._size.data[slot] = -1
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
        keep = self._size.view()[slots] >= 0
        keys, slots = keys[keep], slots[keep]
        if self._dead * 4 > self._ids.size:
            slots = self._compact_store()[slots]
        self._keys, self._starts, self._slots = _csr(keys, slots)
        self._fresh, self._fresh_items, self._pending, self._fresh_csr = {}, 0, [], None

    def _compact_store(self) -> np.ndarray:
        """Rewrite the flat sketch store without dead slots; old slot -> new slot."""
        alive = self._size.view() >= 0
        live = np.flatnonzero(alive)
        off = self._off.view()
        sizes = off[live + 1] - off[live]
        self._flat.replace(self._flat.view()[segments(off[live], sizes)])
        self._off.replace(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
        self._ids.replace(self._ids.view()[live])
        self._size.replace(sizes.astype(np.int32))
        self._slot_of = dict(zip(self._ids.view().tolist(), range(live.size), strict=True))
        self._dead = 0
        return (np.cumsum(alive) - 1).astype(np.int32)

    # -- querying -----------------------------------------------------------

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
        return self.query_many([sketch], min_similarity, min_containment)[0]

    def query_many(
        self,
        sketches: Sequence[TextSketch],
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
        min_containment: float = DEFAULT_MIN_CONTAINMENT,
    ) -> list[list[TextMatch]]:
        """``[query(s, ...) for s in sketches]``, computed for all the sketches
        at once (one kernel call, or a few dozen numpy calls, per 512 queries)."""
        for sketch in sketches:
            if not isinstance(sketch, TextSketch):
                raise InvalidInput("TextIndex.query_many takes TextSketch objects")
        if self._pending:
            self._compact()
        out: list[list[TextMatch]] = []
        for lo in range(0, len(sketches), _BATCH):
            batch = _Batch(sketches[lo : lo + _BATCH])
            if _kernels is not None and self._use_kernels:
                pq, ps, inter = self._pairs_compiled(batch, min_similarity, min_containment)
            else:
                pq, ps, inter = self._pairs_numpy(batch, min_similarity, min_containment)
            off = self._off.data
            out.extend(verified_matches(batch.count, pq, self._ids.data[ps], inter, batch.sizes[pq],
                                        off[ps + 1] - off[ps], min_similarity, min_containment))
        return out

    def _pairs_numpy(
        self, b: _Batch, min_similarity: float, min_containment: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, slot, overlap) of the candidates chosen for verification."""
        pq, ps, hits, weight = self._hits(b)
        pq, ps = self._select(b, pq, ps, hits, weight, min_similarity, min_containment)
        off = self._off.data
        return pq, ps, overlap(b.keyed(), b.q, pq, off[ps], off[ps + 1] - off[ps], self._flat.data)

    def _pairs_compiled(
        self, b: _Batch, min_similarity: float, min_containment: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same pairs as ``_pairs_numpy`` (bar pairs that cannot match), by the kernels."""
        assert _kernels is not None
        pos = _kernels.lookup(self._keys, b.by_hash)
        found = pos >= 0
        fresh = self._fresh_arrays()
        n_slots = self._ids.size
        state, stamp = self._state if self._state is not None else (np.zeros(0, dtype=np.int64), 0)
        self._state = None  # taken: a concurrent query allocates its own
        if state.size < n_slots or stamp + b.count >= 1 << 31:
            state, stamp = np.full(self._ids.data.size, -1, dtype=np.int64), 0
        params = np.array([min_similarity, min_containment, _SIGMAS, self._density], dtype=np.float64)
        limits = np.array([self._budget, _MIN_KEYS, self._min_keys, self._max_verify, self._max_ranked,
                           MIN_CONTAINED_SHINGLES, _WEIGHT], dtype=np.int64)
        pairs = _kernels.query_batch(
            b.q, b.qoff, b.by_hash_owner[found], pos[found], b.by_hash[found], self._starts, self._slots,
            *fresh, self._size.data, self._off.data, self._flat.data, state, stamp, params, limits)
        self._state = (state, stamp + b.count)
        return pairs

    def _fresh_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The one-by-one segment as CSR arrays (keys, starts, slots), cached."""
        if self._fresh_csr is None:
            keys = np.array(sorted(self._fresh), dtype=np.uint32)
            lists = [self._fresh[k] for k in keys.tolist()]
            starts = np.concatenate([[0], np.cumsum([len(v) for v in lists])]).astype(np.int64)
            slots = np.array([s for v in lists for s in v], dtype=np.int32)
            self._fresh_csr = (keys, starts, slots)
        return self._fresh_csr

    def _gather(self, b: _Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, slot, weight) of the postings under each query's hashes,
        shortest lists first, at most ``max_postings`` per 256 hashes of a query."""
        keys = self._keys
        if not keys.size:
            return np.zeros(0, dtype=np.int64), self._slots[:0], np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(keys, b.by_hash)  # sorted needles: cache-friendly
        np.minimum(pos, keys.size - 1, out=pos)
        found = keys[pos] == b.by_hash
        pos, who = pos[found], b.by_hash_owner[found]
        begin = self._starts[pos]
        lengths = self._starts[pos + 1] - begin
        order = np.argsort((who << 40) | lengths, kind="stable")  # by query, then length
        who, begin, lengths = who[order], begin[order], lengths[order]
        counts = np.bincount(who, minlength=b.count)
        group = np.repeat(np.cumsum(counts) - counts, counts)  # first entry of each query
        cum = np.cumsum(lengths)
        within = cum - (cum[group] - lengths[group])  # lengths read so far by this query
        budget = self._budget * np.maximum(1, b.sizes // 256)  # long queries read more
        take = (within <= budget[who]) | (np.arange(who.size) - group < _MIN_KEYS)
        who, begin, lengths = who[take], begin[take], lengths[take]
        weight = np.repeat(_WEIGHT // lengths, lengths)  # rarer lists weigh more
        return np.repeat(who, lengths), self._slots[segments(begin, lengths)], weight

    def _hits(self, b: _Batch) -> tuple[np.ndarray, ...]:
        """Distinct (query, live slot) pairs sorted by query then slot, with
        their number of postings and the sum of their postings' weights."""
        who, slots, weight = self._gather(b)
        if self._fresh:
            extra = [(who, slots.astype(np.int64), weight)]
            for k in range(b.count):
                for key in b.q[b.off[k] : b.off[k + 1]].tolist():
                    if hit := self._fresh.get(key):
                        extra.append((np.full(len(hit), k, dtype=np.int64),
                                      np.asarray(hit, dtype=np.int64), np.full(len(hit), _WEIGHT // len(hit))))
            who, slots, weight = (np.concatenate(part) for part in zip(*extra, strict=True))
        # one sort: query (9 bits) | slot (31 bits) | weight (23 bits)
        pairs = np.sort((who << 54) | (slots.astype(np.int64) << 23) | weight)
        weight = pairs & (2 * _WEIGHT - 1)
        pairs >>= 23
        new = np.empty(pairs.size, dtype=bool)
        new[:1] = True
        np.not_equal(pairs[1:], pairs[:-1], out=new[1:])
        first = np.flatnonzero(new)
        hits = np.diff(np.append(first, pairs.size))
        weight = np.add.reduceat(weight, first) if first.size else weight
        pairs = pairs[first]
        pq, ps = pairs >> 31, pairs & 0x7FFFFFFF
        live = self._size.data[ps] >= 0
        return pq[live], ps[live], hits[live], weight[live]

    def _select(
        self, b: _Batch, pq: np.ndarray, ps: np.ndarray, hits: np.ndarray, weight: np.ndarray,
        min_similarity: float, min_containment: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (query, slot) pairs worth verifying."""
        # an item sharing a fraction f of its shingles shares about f of its
        # sampled keys (binomial; often more of its rarest keys): keep the
        # candidates within _SIGMAS standard deviations of what the weakest
        # possible match has; verify the ones at or above it, and the best
        # max_verify of the others per query
        off = self._off.data
        nb = off[ps + 1] - off[ps]
        unbiased = np.where(nb <= self._min_keys, nb, nb / self._density)
        need = unbiased * weakest_overlap(b.sizes[pq], nb, min_similarity, min_containment)
        score = hits / need
        strong = score >= 1.0
        weak = np.flatnonzero(~strong & (hits >= need - _SIGMAS * np.sqrt(need)))
        strong[_best(weak, pq, score, self._max_verify, b.count)] = True
        # the read was cut by the budget: also verify the max_ranked pairs with
        # 2+ hits and the largest weight (hits in short lists)
        ranked = np.flatnonzero(~strong & (hits >= 2))
        strong[_best(ranked, pq, weight, self._max_ranked, b.count)] = True
        return pq[strong], ps[strong]


_BATCH = 512  # queries per pass (bounds the temporaries; 9 bits of the hit sort key)
_WEIGHT = 1 << 22  # a posting weighs _WEIGHT // (length of its list)


class _Batch:
    """A batch of query sketches, concatenated."""

    __slots__ = ("count", "sizes", "off", "qoff", "q", "owner", "by_hash", "by_hash_owner")

    def __init__(self, sketches: Sequence[TextSketch]) -> None:
        self.count = len(sketches)
        self.sizes = np.fromiter((s.hashes.size for s in sketches), dtype=np.int64, count=self.count)
        self.qoff = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.off = self.qoff.tolist()
        self.q = np.concatenate([s.hashes for s in sketches]).astype(np.uint32, copy=False)
        self.owner = np.repeat(np.arange(self.count, dtype=np.int64), self.sizes)
        mixed = np.sort((self.q.astype(np.int64) << 9) | self.owner)  # by hash, then query
        self.by_hash, self.by_hash_owner = (mixed >> 9).astype(np.uint32), mixed & 511

    def keyed(self) -> np.ndarray:
        """``query << 32 | hash``, sorted (by query, then hash)."""
        return (self.owner << 32) | self.q.astype(np.int64)


def _best(rows: np.ndarray, pq: np.ndarray, score: np.ndarray, most: int, count: int) -> np.ndarray:
    """The ``most`` rows of highest score per query, and every row tied with
    the last of them (so the choice does not depend on the rows' order)."""
    counts = np.bincount(pq[rows], minlength=count)
    if not counts.size or counts.max() <= most:
        return rows
    order = rows[np.lexsort((-score[rows], pq[rows]))]
    first = np.cumsum(counts) - counts
    rank = np.arange(order.size) - np.repeat(first, counts)
    cut = np.full(count, -np.inf)
    big = counts > most
    cut[big] = score[order[first[big] + most - 1]]
    return order[(rank < most) | (score[order] >= cut[pq[order]])]
