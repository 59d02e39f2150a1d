"""Match signals against every enabled bank: the in-memory indexes and their upkeep.

:class:`MatchEngine` builds one index per signal type from the repository
(PDQ range index, text shingle index, vPDQ frame index, exact lookups for
md5/sha256/url), then follows the repository's change log with a cursor
(:meth:`MatchEngine.refresh`) so that added, disabled and deleted items are
applied incrementally, without a rebuild. A PDQ snapshot (a versioned binary
file, never pickle) makes a cold start with millions of hashes take seconds.

Index ids: an item may carry several signals of one type (a photo's PDQ and
the PDQ of its standard crops), so index ids are ``item_id * 16 + k`` for the
k-th signal of that type on the item (k < 16); ``id >> 4`` is the item.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import URL

from tahaluf.banks import ItemInfo, item_info
from tahaluf.errors import InvalidInput, StorageError
from tahaluf.index.exact import ExactIndex
from tahaluf.index.pdq import PDQIndex
from tahaluf.index.pdq_codec import hashes_from_hex
from tahaluf.index.text import TextIndex
from tahaluf.index.vpdq import VPDQIndex, frames_from_value
from tahaluf.signals.base import Signal
from tahaluf.signals.text import TextSketch
from tahaluf.storage.repository.base import Repository

__all__ = ["MatchOptions", "Match", "MatchEngine", "SLOTS_PER_ITEM", "EXACT_TYPES", "snapshot_dir_for"]

log = logging.getLogger("tahaluf.matching")

SLOTS_PER_ITEM = 16
EXACT_TYPES = ("md5", "sha256", "url", "url_md5")
#: on equal scores, the signal named as a match's evidence (exact copies first)
_TYPE_RANK = {"sha256": 0, "md5": 1, "url": 2, "url_md5": 3, "pdq": 4, "vpdq": 5, "text": 6}
_SNAPSHOT_VERSION = 2  # 2: tied to the database and its log (Repository.log_mark)
#: how long a change-log id skipped over is asked for again (see refresh)
GAP_RETRY_S = 30.0
_MAX_GAPS = 10_000


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None



@dataclass(frozen=True, slots=True)
class MatchOptions:
    """Thresholds for one match run (defaults follow the industry's)."""

    #: override every bank's PDQ threshold (None: each bank's own, default 31)
    pdq_max_distance: int | None = None
    text_min_similarity: float = 0.4
    text_min_containment: float = 0.5
    vpdq_max_distance: int = 31
    vpdq_query_match_pct: float = 80.0
    vpdq_index_match_pct: float = 0.0


@dataclass(frozen=True, slots=True)
class Match:
    """One bank item that matched, with its evidence."""

    bank: str
    bank_kind: str
    item_id: int
    external_id: str
    signal_type: str
    labels: dict[str, Any]
    distance: int | None = None
    similarity: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Strength of the match in [0, 1]: 1 - distance/64 for PDQ (31 -> 0.52),
        1 for exact signals, the Jaccard similarity for text, the share of
        query frames matched for vPDQ."""
        if self.similarity is not None:
            return float(self.similarity)
        if self.signal_type == "pdq" and self.distance is not None:
            return max(0.0, 1.0 - self.distance / 64)
        return 1.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bank": self.bank,
            "bank_kind": self.bank_kind,
            "item_id": self.item_id,
            "external_id": self.external_id,
            "signal_type": self.signal_type,
        }
        if self.distance is not None:
            out["distance"] = self.distance
        if self.similarity is not None:
            out["similarity"] = round(self.similarity, 4)
        out["evidence"] = self.evidence
        out["labels"] = self.labels
        return out


@dataclass(slots=True)
class _Hit:
    item_id: int
    signal_type: str
    distance: int | None = None
    similarity: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def _slot_ids(item_id: int) -> np.ndarray:
    base = item_id * SLOTS_PER_ITEM
    return np.arange(base, base + SLOTS_PER_ITEM, dtype=np.int64)


class MatchEngine:
    """The indexes of every enabled bank item, kept current from the change log."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._reset()

    def _reset(self) -> None:
        self.pdq = PDQIndex()
        self.text = TextIndex()
        self.vpdq = VPDQIndex()
        self.exact = {t: ExactIndex() for t in EXACT_TYPES}
        self.cursor = 0
        self.snapshot_cursor: int | None = None
        #: change-log ids skipped over, with when to stop asking for them
        self._gaps: dict[int, float] = {}
        #: how many refreshes saw a bank created, changed or deleted
        self.bank_changes = 0
        self._bank_pdq: dict[str, int] = {}
        self._info_cache: dict[int, ItemInfo] = {}

    # -- building ---------------------------------------------------------

    def load(self, *, snapshot_dir: str | os.PathLike[str] | None = None) -> MatchEngine:
        """Build every index from the repository (or a PDQ snapshot plus the log since)."""
        self.cursor = self.repo.last_change_id()
        self._refresh_banks()
        self.snapshot_cursor = None
        loaded_pdq = snapshot_dir is not None and self._load_pdq_snapshot(Path(snapshot_dir))
        if not loaded_pdq:
            self._load_pdq()
        for signal_type in ("text", "vpdq", *EXACT_TYPES):
            self._load_type(signal_type)
        self.refresh()
        return self

    def _load_type(self, signal_type: str) -> None:
        slot_count: dict[int, int] = defaultdict(int)
        for batch in self.repo.iter_signals(signal_type):
            for rec in batch:
                self._add_checked(rec.item_id, rec.signal_type, rec.value, slot_count)

    def _add_checked(self, item_id: int, signal_type: str, value: str, slot_count: dict[int, int]) -> None:
        """Index one stored signal; a malformed one (stored by an older version, or
        written to the database by hand) is skipped and logged, never fatal."""
        try:
            self._add_one(item_id, signal_type, value, slot_count)
        except InvalidInput as exc:
            log.warning("item %d: %s signal not indexed: %s", item_id, signal_type, exc.message)

    def _load_pdq(self) -> None:
        """Stream raw PDQ bytes (ordered by signal id, so an item's hashes are
        contiguous) and give the k-th hash of an item the id ``item*16 + k``.
        The rows are indexed in one ``add``: one segment, built once."""
        last_item, last_k = -1, -1
        all_ids: list[np.ndarray] = []
        all_hashes: list[np.ndarray] = []
        for batch in self.repo.iter_pdq():
            items = np.asarray(batch.item_ids, dtype=np.int64)
            if not len(items):
                continue
            hashes = np.frombuffer(batch.hashes, dtype=np.uint8).reshape(len(items), 32)
            pos = np.arange(len(items))
            new_run = np.ones(len(items), dtype=bool)
            new_run[1:] = items[1:] != items[:-1]
            run_start = np.maximum.accumulate(np.where(new_run, pos, 0))
            k = pos - run_start
            if items[0] == last_item:  # the item continues from the previous batch
                first_run = run_start == 0
                k[first_run] += last_k + 1
            keep = k < SLOTS_PER_ITEM  # more than 16 PDQ hashes on one item: keep the first 16
            all_ids.append(items[keep] * SLOTS_PER_ITEM + k[keep])
            all_hashes.append(hashes[keep])
            last_item, last_k = int(items[-1]), int(k[-1])
        if all_ids:
            self.pdq.add(np.concatenate(all_ids), np.concatenate(all_hashes))

    def _add_one(self, item_id: int, signal_type: str, value: str, slot_count: dict[int, int]) -> None:
        if signal_type in self.exact:
            self.exact[signal_type].add(item_id, value)
            return
        k = slot_count[item_id]
        if k >= SLOTS_PER_ITEM:
            return
        slot_count[item_id] = k + 1
        slot = item_id * SLOTS_PER_ITEM + k
        if signal_type == "text":  # (PDQ hashes are added in batches: _load_pdq, _apply_items)
            self.text.add(slot, TextSketch.from_value(value))
        elif signal_type == "vpdq":
            if item_id not in self.vpdq:
                self.vpdq.add(item_id, frames_from_value(value))

    # -- following the change log --------------------------------------------

    def refresh(self, *, lock: Any = None) -> int:
        """Apply every change since the cursor; returns how many were applied.

        Database reads happen outside ``lock`` (a ``threading.Lock``-like
        object, when the engine is shared between threads); the index changes
        of each batch happen inside it, so lookups wait only while the indexes
        change. On PostgreSQL a change-log id can become visible after a
        higher one (transactions commit out of order): ids skipped over are
        remembered and asked for again for :data:`GAP_RETRY_S` seconds, so a
        late commit is still applied.
        """
        guard = lock if lock is not None else _NoLock()
        applied = 0
        while True:
            changes = self.repo.changes_since(self.cursor)
            late = self._late_changes()
            if not changes and not late:
                return applied
            touched: set[int] = set()
            banks_changed = False
            for ch in [*late, *changes]:
                if ch.item_id is None:  # a bank was created, changed or deleted
                    banks_changed = True  # (a deleted bank's items have their own 'delete' rows)
                else:
                    touched.add(ch.item_id)
            if banks_changed:
                self.bank_changes += 1
                banks = {b.name: b.pdq_max_distance for b in self.repo.list_banks()}
                with guard:
                    self._bank_pdq = banks
                    self._info_cache.clear()
            items = self.repo.get_items(touched) if touched else {}
            with guard:
                self._apply_items(touched, items)
            # only now move the cursor: a failed read above leaves it, to retry
            for ch in changes:
                self._note_gaps(ch.id)
                self.cursor = max(self.cursor, ch.id)
            applied += len(changes) + len(late)
            if not changes:
                return applied

    def _note_gaps(self, change_id: int) -> None:
        if change_id > self.cursor + 1 and self.cursor > 0:
            deadline = time.monotonic() + GAP_RETRY_S
            for missing in range(self.cursor + 1, min(change_id, self.cursor + 1 + _MAX_GAPS)):
                self._gaps[missing] = deadline

    def _late_changes(self) -> list[Any]:
        if not self._gaps:
            return []
        now = time.monotonic()
        for gap in [g for g, deadline in self._gaps.items() if deadline < now]:
            del self._gaps[gap]
        if not self._gaps:
            return []
        found = self.repo.changes_in(sorted(self._gaps))
        for ch in found:
            self._gaps.pop(ch.id, None)
        return found

    def _refresh_banks(self) -> None:
        self._bank_pdq = {b.name: b.pdq_max_distance for b in self.repo.list_banks()}
        self._info_cache.clear()

    def _remove_items(self, item_ids: Iterable[int]) -> None:
        ids = sorted(item_ids)
        if not ids:
            return
        self.pdq.remove(np.concatenate([_slot_ids(i) for i in ids]))  # one pass for the whole batch
        for item_id in ids:
            for slot in _slot_ids(item_id).tolist():
                if slot in self.text:
                    self.text.remove(slot)
            if item_id in self.vpdq:
                self.vpdq.remove(item_id)
            for idx in self.exact.values():
                idx.remove(item_id)
            self._info_cache.pop(item_id, None)

    def _apply_items(self, item_ids: set[int], items: dict[int, Any]) -> None:
        """Replace the indexed signals of ``item_ids`` by those of ``items`` (the
        enabled ones that still exist); PDQ hashes are added in one batch."""
        self._remove_items(item_ids)
        pdq_ids: list[int] = []
        pdq_hex: list[str] = []
        for item_id, item in items.items():
            if not item.enabled:
                continue
            slot_count: dict[int, int] = defaultdict(int)
            for sig in item.signals:
                if sig.signal_type == "pdq" and slot_count[item_id] < SLOTS_PER_ITEM:
                    pdq_ids.append(item_id * SLOTS_PER_ITEM + slot_count[item_id])
                    pdq_hex.append(sig.value)
                    slot_count[item_id] += 1
                else:
                    self._add_checked(item_id, sig.signal_type, sig.value, slot_count)
        if pdq_ids:
            try:
                words = hashes_from_hex(pdq_hex)
            except InvalidInput as exc:  # one malformed stored hash: index the rest one by one
                log.warning("PDQ batch not indexed at once: %s", exc.message)
                for slot, value in zip(pdq_ids, pdq_hex):
                    self._add_pdq_checked(slot, value)
                return
            self.pdq.add(np.asarray(pdq_ids, dtype=np.int64), words)

    def _add_pdq_checked(self, slot: int, value: str) -> None:
        try:
            self.pdq.add(np.array([slot], dtype=np.int64), hashes_from_hex([value]))
        except InvalidInput as exc:
            log.warning("item %d: pdq signal not indexed: %s", slot // SLOTS_PER_ITEM, exc.message)

    # -- matching ------------------------------------------------------------

    def match(self, signals: Sequence[Signal], opts: MatchOptions = MatchOptions()) -> list[Match]:
        """Every bank item matching any of ``signals``: one match per item, strongest first."""
        return self.match_many([signals], opts)[0]

    def match_many(
        self, inputs: Sequence[Sequence[Signal]], opts: MatchOptions = MatchOptions()
    ) -> list[list[Match]]:
        """:meth:`match` for many inputs at once (PDQ and text are queried in one batch)."""
        hits: list[list[_Hit]] = [[] for _ in inputs]
        pdq: list[tuple[int, Signal]] = []
        text: list[tuple[int, Signal]] = []
        for n, signals in enumerate(inputs):
            for sig in signals:
                if sig.type in self.exact:
                    hits[n] += [_Hit(i, sig.type, distance=0) for i in self.exact[sig.type].query(sig.value)]
                elif sig.type == "pdq":
                    pdq.append((n, sig))
                elif sig.type == "text":
                    text.append((n, sig))
                elif sig.type == "vpdq":
                    hits[n] += self._vpdq_hits(sig, opts)
        for n, found in self._pdq_hits(pdq, opts):
            hits[n] += found
        for n, found in self._text_hits(text, opts):
            hits[n] += found
        infos = self._infos([h.item_id for per_input in hits for h in per_input])  # one lookup per batch
        return [self._resolve(h, opts, infos) for h in hits]

    def _pdq_threshold(self, opts: MatchOptions) -> int:
        if opts.pdq_max_distance is not None:
            return opts.pdq_max_distance
        return max(self._bank_pdq.values(), default=31)

    def _pdq_hits(self, queries: list[tuple[int, Signal]], opts: MatchOptions) -> list[tuple[int, list[_Hit]]]:
        """All PDQ queries in one index call: each photo's hash, its 8 dihedral
        hashes and its border/caption variants; best distance per bank item."""
        if not queries:
            return []
        owners: list[int] = []
        values: list[str] = []
        for q, (_, sig) in enumerate(queries):
            variants = [sig.value, *sig.extra.get("dihedral", [])[1:], *sig.extra.get("variants", [])]
            values += variants
            owners += [q] * len(variants)
        found = self.pdq.query(hashes_from_hex(values), self._pdq_threshold(opts))
        owner = np.asarray(owners, dtype=np.int64)[found.query_rows]
        best: list[dict[int, _Hit]] = [{} for _ in queries]
        for q, slot, dist in zip(owner.tolist(), found.ids.tolist(), found.distances.tolist()):
            item_id, k = divmod(slot, SLOTS_PER_ITEM)
            prev = best[q].get(item_id)
            if prev is None or dist < (prev.distance or 0):
                best[q][item_id] = _Hit(item_id, "pdq", distance=int(dist), evidence={"bank_variant": k})
        return [(queries[q][0], list(b.values())) for q, b in enumerate(best)]

    def _text_hits(self, queries: list[tuple[int, Signal]], opts: MatchOptions) -> list[tuple[int, list[_Hit]]]:
        if not queries:
            return []
        sketches = [TextSketch.from_value(sig.value) for _, sig in queries]
        args = (opts.text_min_similarity, opts.text_min_containment)
        if hasattr(self.text, "query_many"):
            results = self.text.query_many(sketches, *args)
        else:
            results = [self.text.query(sk, *args) for sk in sketches]
        return [(n, self._text_hit_list(found, opts)) for (n, _), found in zip(queries, results)]

    def _text_hit_list(self, found: Sequence[Any], opts: MatchOptions) -> list[_Hit]:
        best: dict[int, _Hit] = {}
        for m in found:
            item_id = m.item_id // SLOTS_PER_ITEM
            if item_id in best:
                continue
            best[item_id] = _Hit(
                item_id, "text", similarity=m.similarity,
                evidence={
                    "jaccard": round(m.similarity, 4),
                    "query_in_item": round(m.query_in_item, 4),
                    "item_in_query": round(m.item_in_query, 4),
                    "relation": _containment_evidence(m.query_in_item, m.item_in_query, opts),
                },
            )
        return list(best.values())

    def _vpdq_hits(self, sig: Signal, opts: MatchOptions) -> list[_Hit]:
        pdq, quality = frames_from_value(sig.value)
        found = self.vpdq.query(
            pdq, quality,
            max_distance=opts.vpdq_max_distance,
            query_match_pct=opts.vpdq_query_match_pct,
            index_match_pct=opts.vpdq_index_match_pct,
        )
        return [
            _Hit(m.item_id, "vpdq", similarity=m.query_match_pct / 100.0,
                 evidence={"query_match_pct": round(m.query_match_pct, 2),
                           "index_match_pct": round(m.index_match_pct, 2)})
            for m in found
        ]

    def _infos(self, item_ids: Iterable[int]) -> dict[int, ItemInfo]:
        missing = [i for i in set(item_ids) if i not in self._info_cache]
        if missing:
            self._info_cache.update(item_info(self.repo, missing))
        return {i: self._info_cache[i] for i in item_ids if i in self._info_cache}

    def _resolve(self, hits: list[_Hit], opts: MatchOptions, infos: dict[int, ItemInfo]) -> list[Match]:
        """One match per bank item: its strongest signal, the others named in evidence."""
        by_item: dict[int, list[Match]] = defaultdict(list)
        for h in hits:
            info = infos.get(h.item_id)
            if info is None or not info.enabled:
                continue
            if h.signal_type == "pdq":
                limit = opts.pdq_max_distance
                limit = self._bank_pdq.get(info.bank, 31) if limit is None else limit
                if h.distance is None or h.distance > limit:
                    continue
            by_item[h.item_id].append(Match(info.bank, info.bank_kind, h.item_id, info.external_id,
                                            h.signal_type, info.labels, h.distance, h.similarity, h.evidence))
        out = []
        for found in by_item.values():
            found.sort(key=lambda m: (-m.score, _TYPE_RANK.get(m.signal_type, 9)))
            best = found[0]
            others = sorted({m.signal_type for m in found[1:]} - {best.signal_type})
            if others:
                best = replace(best, evidence={**best.evidence, "also_matched": others})
            out.append(best)
        out.sort(key=_match_order)
        return out

    # -- snapshots -----------------------------------------------------------

    def save_snapshot(self, snapshot_dir: str | os.PathLike[str]) -> Path:
        """Write the PDQ index and the cursor it reflects; returns the index path."""
        folder = Path(snapshot_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "pdq.index"
        self.pdq.save(path)
        meta = {"version": _SNAPSHOT_VERSION, "cursor": self.cursor, "hashes": len(self.pdq),
                "banks": self._banks_fingerprint(), "log": self.repo.log_mark(self.cursor)}
        tmp = folder / "pdq.meta.json.tmp"
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        tmp.replace(folder / "pdq.meta.json")
        return path

    def _load_pdq_snapshot(self, folder: Path) -> bool:
        meta_path, path = folder / "pdq.meta.json", folder / "pdq.index"
        if not (meta_path.is_file() and path.is_file()):
            return False
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            cursor = int(meta["cursor"])
            # another database, this one recreated or restored from an older copy: the log
            # cannot bridge the gap (the entry at the snapshot's cursor must be the same one)
            if (meta.get("version") != _SNAPSHOT_VERSION or cursor > self.cursor
                    or meta.get("banks") != self._banks_fingerprint()
                    or meta.get("log") != self.repo.log_mark(cursor)):
                log.info("PDQ snapshot in %s is not of this database as it is now; rebuilding", folder)
                return False
            self.pdq = PDQIndex.load(path, mmap=True)
        except (ValueError, KeyError, TypeError, OSError, StorageError, InvalidInput):
            return False  # a bad snapshot only costs a rebuild
        self.cursor = self.snapshot_cursor = cursor
        return True

    def _banks_fingerprint(self) -> str:
        """Identifies the banks a snapshot was made from (ids, names, creation times)."""
        rows = sorted((b.id, b.name, b.created_at.isoformat()) for b in self.repo.list_banks())
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()

    def save_snapshot_if_stale(self, snapshot_dir: str | os.PathLike[str], *, min_hashes: int = 100_000) -> bool:
        """Refresh the snapshot when it lags the log (only worth it for big indexes)."""
        if len(self.pdq) < min_hashes or self.snapshot_cursor == self.cursor:
            return False
        try:
            self.save_snapshot(snapshot_dir)
        except (OSError, StorageError):
            return False  # a cache that cannot be written only costs speed
        self.snapshot_cursor = self.cursor
        return True


def snapshot_dir_for(db_url: str | URL) -> Path:
    """Where the PDQ snapshot of a database lives: the user cache folder, one per database.

    The key is the URL without its password (masked or not, it names the same
    database), with tahaluf's drivers, so that the hub and the CLI share a snapshot.
    """
    import platformdirs

    from tahaluf.storage.engine import resolve_url

    url = resolve_url(db_url)
    canonical = URL.create(url.drivername, url.username, None, url.host, url.port, url.database,
                           url.query).render_as_string(hide_password=False)
    key = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("tahaluf")) / "index" / key


def _containment_evidence(q_in: float, i_in: float, opts: MatchOptions) -> str:
    """How the query and the bank text relate, in words a reviewer can use."""
    if min(q_in, i_in) >= 0.9:
        return "near_duplicate"
    if q_in >= opts.text_min_containment and q_in > i_in:
        return "query_within_item"  # e.g. a truncated repost
    if i_in >= opts.text_min_containment and i_in > q_in:
        return "item_within_query"  # e.g. a known statement quoted in a longer post
    return "similar"


def _match_order(m: Match) -> tuple[float, int, int]:
    return (-m.score, 0 if m.bank_kind == "allow" else 1, m.item_id)
