"""Match signals against every enabled bank: the in-memory indexes and their upkeep.

:class:`MatchEngine` builds one index per registered signal type
(:meth:`SignalType.new_index`: the PDQ range index, the text shingle index,
the vPDQ frame index, value lookups for the exact types) from the repository,
then follows the repository's change log with a cursor
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


from tahaluf.banks import ItemInfo, item_info
from tahaluf.errors import InvalidInput, StorageError
from tahaluf.index.pdq import PDQIndex
from tahaluf.signal_types import registry
from tahaluf.signal_types.base import (
    SLOTS_PER_ITEM,
    Hit,
    MatchContext,
    MatchOptions,
    TypeIndex,
)
from tahaluf.ports.banks import Repository
from tahaluf.signals.base import Signal

__all__ = ["MatchOptions", "Match", "MatchEngine", "SLOTS_PER_ITEM"]

#: the thresholds a match runs with when none are given (MatchOptions is frozen)
DEFAULT_OPTIONS = MatchOptions()

log = logging.getLogger("tahaluf.matching")

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
        kind = registry.find(self.signal_type)
        if kind is None:  # a stored result of a type no longer registered
            return float(self.similarity) if self.similarity is not None else 1.0
        return kind.score(self.distance, self.similarity)

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


class MatchEngine:
    """The indexes of every enabled bank item, kept current from the change log."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._reset()

    def _reset(self) -> None:
        #: one index per registered signal type, by type name
        self.indexes: dict[str, TypeIndex] = {t.name: t.new_index() for t in registry.registered()}
        self._types_version = registry.version()
        self.cursor = 0
        self.snapshot_cursor: int | None = None
        #: change-log ids skipped over, with when to stop asking for them
        self._gaps: dict[int, float] = {}
        #: how many refreshes saw a bank created, changed or deleted
        self.bank_changes = 0
        self._bank_pdq: dict[str, int] = {}
        self._info_cache: dict[int, ItemInfo] = {}

    @property
    def pdq(self) -> PDQIndex:
        """The PDQ range index (snapshots, benchmarks)."""
        return self.indexes["pdq"].index  # type: ignore[attr-defined]

    def index_sizes(self) -> dict[str, int]:
        """Values (or items, for exact and vPDQ indexes) held per signal type."""
        return {name: len(index) for name, index in self.indexes.items()}

    # -- building ---------------------------------------------------------

    def load(self, *, snapshot_dir: str | os.PathLike[str] | None = None) -> MatchEngine:
        """Build every index from the repository (or a PDQ snapshot plus the log since)."""
        if self._types_version != registry.version():  # a type was registered since
            self._reset()
        self.cursor = self.repo.last_change_id()
        self._refresh_banks()
        self.snapshot_cursor = None
        loaded_pdq = snapshot_dir is not None and self._load_pdq_snapshot(Path(snapshot_dir))
        for name, index in self.indexes.items():
            if not (name == "pdq" and loaded_pdq):
                index.load(self.repo, _warn)
        self.refresh()
        return self

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
        for index in self.indexes.values():
            index.remove(ids)
        for item_id in ids:
            self._info_cache.pop(item_id, None)

    def _apply_items(self, item_ids: set[int], items: dict[int, Any]) -> None:
        """Replace the indexed signals of ``item_ids`` by those of ``items`` (the
        enabled ones that still exist); each type's rows are added in one batch."""
        self._remove_items(item_ids)
        rows: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for item_id, item in items.items():
            if not item.enabled:
                continue
            slots: dict[str, int] = defaultdict(int)
            for sig in item.signals:
                k = slots[sig.signal_type]
                if k < SLOTS_PER_ITEM:
                    slots[sig.signal_type] = k + 1
                    rows[sig.signal_type].append((item_id, k, sig.value))
        for signal_type, found in rows.items():
            index = self.indexes.get(signal_type)
            if index is not None:
                index.add(found, _warn)

    # -- matching ------------------------------------------------------------

    def match(self, signals: Sequence[Signal], opts: MatchOptions = DEFAULT_OPTIONS) -> list[Match]:
        """Every bank item matching any of ``signals``: one match per item, strongest first."""
        return self.match_many([signals], opts)[0]

    def match_many(
        self, inputs: Sequence[Sequence[Signal]], opts: MatchOptions = DEFAULT_OPTIONS
    ) -> list[list[Match]]:
        """:meth:`match` for many inputs at once (each type's queries in one batch)."""
        hits: list[list[Hit]] = [[] for _ in inputs]
        queries: dict[str, list[tuple[int, Signal]]] = defaultdict(list)
        for n, signals in enumerate(inputs):
            for sig in signals:
                if sig.type in self.indexes:
                    queries[sig.type].append((n, sig))
        ctx = MatchContext(opts, self._bank_pdq)
        for signal_type, asked in queries.items():
            found = self.indexes[signal_type].query([sig for _, sig in asked], ctx)
            for (n, _), per_query in zip(asked, found, strict=True):
                hits[n] += per_query
        infos = self._infos([h.item_id for per_input in hits for h in per_input])  # one lookup per batch
        return [self._resolve(h, opts, infos) for h in hits]

    def _infos(self, item_ids: Iterable[int]) -> dict[int, ItemInfo]:
        missing = [i for i in set(item_ids) if i not in self._info_cache]
        if missing:
            self._info_cache.update(item_info(self.repo, missing))
        return {i: self._info_cache[i] for i in item_ids if i in self._info_cache}

    def _resolve(self, hits: list[Hit], opts: MatchOptions, infos: dict[int, ItemInfo]) -> list[Match]:
        """One match per bank item: its strongest signal, the others named in evidence."""
        by_item: dict[int, list[Match]] = defaultdict(list)
        for h in hits:
            info = infos.get(h.item_id)
            if info is None or not info.enabled:
                continue
            kind = registry.find(h.signal_type)
            if kind is not None and not kind.within_bank_limit(h, self._bank_pdq.get(info.bank, 31), opts):
                continue
            by_item[h.item_id].append(Match(info.bank, info.bank_kind, h.item_id, info.external_id,
                                            h.signal_type, info.labels, h.distance, h.similarity, h.evidence))
        out = []
        for found in by_item.values():
            found.sort(key=lambda m: (-m.score, _evidence_rank(m.signal_type)))
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
            self.indexes["pdq"].index = PDQIndex.load(path, mmap=True)  # type: ignore[attr-defined]
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


def _evidence_rank(signal_type: str) -> int:
    kind = registry.find(signal_type)
    return kind.evidence_rank if kind is not None else 99


def _warn(item_id: int, signal_type: str, exc: InvalidInput) -> None:
    """A stored signal an index could not load (stored by an older version, or written
    to the database by hand) is skipped and logged, never fatal."""
    log.warning("item %d: %s signal not indexed: %s", item_id, signal_type, exc.message)


def _match_order(m: Match) -> tuple[float, int, int]:
    return (-m.score, 0 if m.bank_kind == "allow" else 1, m.item_id)
