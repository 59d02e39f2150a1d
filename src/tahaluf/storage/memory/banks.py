"""The bank repository in memory: banks, items, signals, the change log, scan jobs, previews.

Pure Python (no SQL): it implements :class:`tahaluf.ports.banks.Repository`
and passes the same contract suite as the SQL store. Records returned are
copies; nothing a caller does to them changes the store.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from tahaluf.errors import Conflict, InvalidInput, NotFound, StorageError
from tahaluf.labels import LIST_LABELS
from tahaluf.ports.banks import (
    AddOutcome,
    BankRecord,
    ChangeRecord,
    ItemPreviewRecord,
    ItemRecord,
    ItemRow,
    NewBank,
    PdqBatch,
    ScanJobRecord,
    ScanRecord,
    SignalRecord,
    SignalRow,
)
from tahaluf.ports.vocabulary import EXACT_TYPES, NEGATIVE_OPINIONS
from tahaluf.signal_types.registry import type_enabled
from tahaluf.storage.memory.state import MemoryState, Tables

__all__ = ["MemoryRepository"]

_LABEL_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def _bank_record(row: dict[str, Any]) -> BankRecord:
    return BankRecord(
        row["id"], row["name"], row["kind"], copy.deepcopy(row["default_labels"]), list(row["signal_types"]),
        row["pdq_max_distance"], row["created_at"], row["owner"], row["visibility"],
    )


def _label_contains(labels: dict[str, Any], key: str, value: str) -> bool:
    """Whether the item's own label ``key`` is or contains ``value`` (as SQL's JSON operators)."""
    if key not in labels:
        return False
    own = labels[key]
    return value in own if isinstance(own, list) else own == value


def _check_label_key(key: str) -> None:
    if not (0 < len(key) <= 64 and set(key) <= _LABEL_KEY_CHARS and not key[0].isdigit()):
        raise InvalidInput(f"not a label name: {key!r}")


class MemoryRepository:
    """Banks and everything in them, held in a :class:`MemoryState`."""

    def __init__(self, state: MemoryState | None = None) -> None:
        self.state = state if state is not None else MemoryState()

    # -- plumbing ---------------------------------------------------------
    def __enter__(self) -> MemoryRepository:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release."""

    def transaction(self) -> AbstractContextManager[Tables]:
        """All or nothing: what the block stores is undone if it raises."""
        return self.state.change()

    @property
    def in_transaction(self) -> bool:
        return self.state.in_transaction

    def _log(self, t: Tables, bank_id: int, item_id: int | None, op: str) -> None:
        t.changes[self.state.next_id("changes")] = (bank_id, item_id, op, self.state.now())

    def _bank(self, t: Tables, bank_id: int) -> dict[str, Any]:
        row = t.banks.get(bank_id)
        if row is None:
            raise NotFound(f"no bank with id {bank_id}")
        return row

    def _item_record(self, t: Tables, row: dict[str, Any]) -> ItemRecord:
        signals = tuple(
            SignalRow(s["signal_type"], s["value"], s["pdq"], copy.deepcopy(s["extra"]))
            for s in sorted((s for s in t.signals.values() if s["item_id"] == row["id"]), key=lambda s: s["id"])
        )
        return ItemRecord(
            row["id"], row["bank_id"], row["external_id"], copy.deepcopy(row["labels"]), row["added_by"],
            row["source"], row["added_at"], row["enabled"], signals,
        )

    # -- banks --------------------------------------------------------------
    def create_bank(self, bank: NewBank, *, conn: Any = None) -> BankRecord:
        with self.state.change() as t:
            if any(b["name"] == bank.name for b in t.banks.values()):
                raise Conflict(f"bank {bank.name!r} already exists")
            bank_id = self.state.next_id("banks")
            t.banks[bank_id] = {
                "id": bank_id, "name": bank.name, "kind": bank.kind,
                "default_labels": copy.deepcopy(bank.default_labels), "signal_types": list(bank.signal_types),
                "pdq_max_distance": bank.pdq_max_distance, "created_at": self.state.now(),
                "owner": bank.owner, "visibility": bank.visibility,
            }
            self._log(t, bank_id, None, "add")
            return _bank_record(t.banks[bank_id])

    def get_bank(self, name: str) -> BankRecord | None:
        with self.state.read() as t:
            return next((_bank_record(b) for b in t.banks.values() if b["name"] == name), None)

    def list_banks(self) -> list[BankRecord]:
        with self.state.read() as t:
            return sorted((_bank_record(b) for b in t.banks.values()), key=lambda b: b.name)

    def update_bank(
        self,
        bank_id: int,
        *,
        default_labels: dict[str, Any] | None = None,
        signal_types: list[str] | None = None,
        pdq_max_distance: int | None = None,
        visibility: str | None = None,
    ) -> BankRecord:
        changes: dict[str, Any] = {}
        if visibility is not None:
            changes["visibility"] = visibility
        if default_labels is not None:
            changes["default_labels"] = copy.deepcopy(default_labels)
        if signal_types is not None:
            changes["signal_types"] = list(signal_types)
        if pdq_max_distance is not None:
            changes["pdq_max_distance"] = pdq_max_distance
        with self.state.change() as t:
            row = self._bank(t, bank_id)
            if changes:
                row.update(changes)
                self._log(t, bank_id, None, "update")
            return _bank_record(row)

    def delete_bank(self, bank_id: int) -> None:
        with self.state.change() as t:
            self._bank(t, bank_id)
            for item_id in sorted(i for i, row in t.items.items() if row["bank_id"] == bank_id):
                self._log(t, bank_id, item_id, "delete")
                self._drop_item(t, item_id)
            del t.banks[bank_id]
            t.shares.pop(bank_id, None)
            self._log(t, bank_id, None, "delete")

    def count_items(self, bank_id: int) -> dict[str, int]:
        with self.state.read() as t:
            items = {i for i, row in t.items.items() if row["bank_id"] == bank_id}
            counts = {"items": len(items), "enabled": sum(1 for i in items if t.items[i]["enabled"])}
            for s in t.signals.values():
                if s["item_id"] in items:
                    counts[s["signal_type"]] = counts.get(s["signal_type"], 0) + 1
        return counts

    # -- items ----------------------------------------------------------------
    def add_items(self, bank_id: int, items: Sequence[ItemRow]) -> AddOutcome:
        """Store new items (all or nothing); existing external ids are duplicates."""
        unique: dict[str, ItemRow] = {}
        duplicates: list[str] = []
        for item in items:
            if item.external_id in unique:
                duplicates.append(item.external_id)
            else:
                unique[item.external_id] = item
        if not unique:
            return AddOutcome({}, duplicates)
        added: dict[str, int] = {}
        with self.state.change() as t:
            self._bank(t, bank_id)
            taken = {row["external_id"] for row in t.items.values() if row["bank_id"] == bank_id}
            for ext, item in unique.items():
                if ext in taken:
                    duplicates.append(ext)
                    continue
                item_id = self.state.next_id("items")
                t.items[item_id] = {
                    "id": item_id, "bank_id": bank_id, "external_id": ext, "labels": copy.deepcopy(item.labels),
                    "added_by": item.added_by, "source": item.source, "added_at": item.added_at,
                    "enabled": item.enabled,
                }
                for s in item.signals:
                    signal_id = self.state.next_id("signals")
                    t.signals[signal_id] = {
                        "id": signal_id, "item_id": item_id, "signal_type": s.signal_type, "value": s.value,
                        "pdq": s.pdq, "extra": copy.deepcopy(s.extra),
                    }
                added[ext] = item_id
            for item_id in added.values():
                self._log(t, bank_id, item_id, "add")
        return AddOutcome(added, duplicates)

    def add_items_in(self, conn: Any, bank_id: int, items: Sequence[ItemRow]) -> AddOutcome:
        """:meth:`add_items` inside the open change ``conn`` (it joins it)."""
        return self.add_items(bank_id, items)

    def get_item(self, bank_id: int, external_id: str) -> ItemRecord | None:
        with self.state.read() as t:
            row = self._find_item(t, bank_id, external_id)
            return self._item_record(t, row) if row is not None else None

    def get_items(self, item_ids: Iterable[int]) -> dict[int, ItemRecord]:
        with self.state.read() as t:
            return {i: self._item_record(t, t.items[i]) for i in dict.fromkeys(item_ids) if i in t.items}

    def iter_items(self, bank_id: int, *, batch_size: int = 1000) -> Iterator[ItemRecord]:
        last = 0
        while True:
            with self.state.read() as t:
                ids = sorted(i for i, row in t.items.items() if row["bank_id"] == bank_id and i > last)[:batch_size]
                records = [self._item_record(t, t.items[i]) for i in ids]
            if not records:
                return
            yield from records
            last = records[-1].id

    def list_items(
        self,
        bank_id: int,
        *,
        after_id: int = 0,
        limit: int = 100,
        labels: Sequence[tuple[str, str, bool]] = (),
        added_after: datetime | None = None,
        added_before: datetime | None = None,
        enabled: bool | None = None,
        disputed: bool | None = None,
    ) -> list[ItemRecord]:
        """One page of a bank's items in id order, filtered (as the SQL store's ``list_items``)."""
        for key, _value, _default in labels:
            _check_label_key(key)
        with self.state.read() as t:
            disputed_ids = {i for (i, _m), (op, *_rest) in t.feedback.items() if op in NEGATIVE_OPINIONS}
            out: list[ItemRecord] = []
            for item_id in sorted(i for i, row in t.items.items() if row["bank_id"] == bank_id and i > after_id):
                row = t.items[item_id]
                if not self._label_filters_pass(row["labels"], labels):
                    continue
                if added_after is not None and row["added_at"] < added_after:
                    continue
                if added_before is not None and row["added_at"] >= added_before:
                    continue
                if enabled is not None and row["enabled"] is not enabled:
                    continue
                if disputed is not None and (item_id in disputed_ids) is not disputed:
                    continue
                out.append(self._item_record(t, row))
                if len(out) >= limit:
                    break
            return out

    @staticmethod
    def _label_filters_pass(own: dict[str, Any], labels: Sequence[tuple[str, str, bool]]) -> bool:
        for key, value, default_matches in labels:
            if default_matches and key in LIST_LABELS:
                continue
            ok = _label_contains(own, key, value)
            if default_matches and key not in LIST_LABELS:
                ok = ok or key not in own
            if not ok:
                return False
        return True

    def _find_item(self, t: Tables, bank_id: int, external_id: str) -> dict[str, Any] | None:
        return next((r for r in t.items.values() if r["bank_id"] == bank_id and r["external_id"] == external_id), None)

    def _item_id(self, t: Tables, bank_id: int, external_id: str) -> int:
        row = self._find_item(t, bank_id, external_id)
        if row is None:
            raise NotFound(f"no item {external_id!r} in bank {bank_id}")
        return int(row["id"])

    def _drop_item(self, t: Tables, item_id: int) -> None:
        del t.items[item_id]
        for signal_id in [i for i, s in t.signals.items() if s["item_id"] == item_id]:
            del t.signals[signal_id]
        t.previews.pop(item_id, None)
        for key in [k for k in t.feedback if k[0] == item_id]:
            del t.feedback[key]

    def set_item_enabled(self, bank_id: int, external_id: str, enabled: bool) -> bool:
        """Enable or disable an item; False when it already was. NotFound if missing."""
        with self.state.change() as t:
            item_id = self._item_id(t, bank_id, external_id)
            if t.items[item_id]["enabled"] is enabled:
                return False
            t.items[item_id]["enabled"] = enabled
            self._log(t, bank_id, item_id, "enable" if enabled else "disable")
        return True

    def set_item_labels(self, bank_id: int, external_id: str, labels: dict[str, Any]) -> bool:
        with self.state.change() as t:
            item_id = self._item_id(t, bank_id, external_id)
            t.items[item_id]["labels"] = copy.deepcopy(labels)
            self._log(t, bank_id, item_id, "update")
        return True

    def delete_item(self, bank_id: int, external_id: str) -> bool:
        with self.state.change() as t:
            item_id = self._item_id(t, bank_id, external_id)
            self._drop_item(t, item_id)
            self._log(t, bank_id, item_id, "delete")
        return True

    # -- signals for indexes -------------------------------------------------
    def _signals(self, t: Tables, signal_type: str, bank_ids: Sequence[int] | None,
                 include_disabled: bool) -> list[SignalRecord]:
        wanted = set(bank_ids) if bank_ids is not None else None
        banks = {b["id"] for b in t.banks.values()
                 if type_enabled(signal_type, b["signal_types"]) and (wanted is None or b["id"] in wanted)}
        out: list[SignalRecord] = []
        for signal_id in sorted(t.signals):
            s = t.signals[signal_id]
            item = t.items[s["item_id"]]
            if s["signal_type"] != signal_type or item["bank_id"] not in banks:
                continue
            if include_disabled or item["enabled"]:
                out.append(SignalRecord(signal_id, item["id"], item["bank_id"], signal_type, s["value"], s["pdq"],
                                        copy.deepcopy(s["extra"])))
        return out

    def iter_signals(
        self,
        signal_type: str,
        *,
        bank_ids: Sequence[int] | None = None,
        include_disabled: bool = False,
        batch_size: int = 10_000,
    ) -> Iterator[list[SignalRecord]]:
        """Batches of signals of one type from enabled items of banks that enable the type."""
        with self.state.read() as t:
            found = self._signals(t, signal_type, bank_ids, include_disabled)
        for start in range(0, len(found), batch_size):
            yield found[start : start + batch_size]

    def iter_pdq(self, *, bank_ids: Sequence[int] | None = None, batch_size: int = 50_000) -> Iterator[PdqBatch]:
        for batch in self.iter_signals("pdq", bank_ids=bank_ids, batch_size=batch_size):
            yield PdqBatch([s.item_id for s in batch], [s.bank_id for s in batch],
                           b"".join(s.pdq or b"" for s in batch))

    def find_signals(self, signal_type: str, values: Sequence[str]) -> list[SignalRecord]:
        """Exact lookup of values among enabled items of banks that enable the type."""
        wanted = set(values)
        with self.state.read() as t:
            return [s for s in self._signals(t, signal_type, None, False) if s.value in wanted]

    def items_with_signal(self, bank_id: int, signal_type: str, values: Sequence[str]) -> dict[str, str]:
        if signal_type not in EXACT_TYPES:
            raise ValueError(f"{signal_type} is not an exact-match type")
        wanted = set(values)
        found: dict[str, str] = {}
        with self.state.read() as t:
            hits = [(s["item_id"], s["value"]) for s in t.signals.values()
                    if s["signal_type"] == signal_type and s["value"] in wanted
                    and t.items[s["item_id"]]["bank_id"] == bank_id]
            for item_id, value in sorted(hits):
                found.setdefault(value, t.items[item_id]["external_id"])
        return found

    # -- change log ------------------------------------------------------------
    def changes_since(self, cursor: int, *, limit: int = 10_000) -> list[ChangeRecord]:
        with self.state.read() as t:
            ids = sorted(i for i in t.changes if i > cursor)[:limit]
            return [ChangeRecord(i, *t.changes[i]) for i in ids]

    def changes_in(self, ids: Sequence[int]) -> list[ChangeRecord]:
        with self.state.read() as t:
            return [ChangeRecord(i, *t.changes[i]) for i in sorted(set(ids)) if i in t.changes]

    def last_change_id(self) -> int:
        with self.state.read() as t:
            return max(t.changes, default=0)

    def log_mark(self, change_id: int) -> str:
        """A digest of this store's identity and of its change-log entry ``change_id``."""
        with self.state.read() as t:
            row = t.changes.get(change_id) if change_id else None
        entry = None if row is None else [change_id, row[0], row[1], row[2], row[3].isoformat()]
        return hashlib.sha256(json.dumps([self.state.database_id, change_id, entry]).encode()).hexdigest()

    # -- scan jobs and previews ---------------------------------------------------
    def record_scan(self, job: str, sha256: str, results: list[dict[str, Any]]) -> bool:
        with self.state.change() as t:
            if any(r["job"] == job and r["sha256"] == sha256 for r in t.scans):
                return False
            t.scans.append({"job": job, "sha256": sha256, "at": self.state.now(), "results": copy.deepcopy(results)})
        return True

    def scanned(self, job: str, sha256s: Iterable[str]) -> set[str]:
        wanted = set(sha256s)
        with self.state.read() as t:
            return {r["sha256"] for r in t.scans if r["job"] == job and r["sha256"] in wanted}

    def iter_scan_results(self, job: str) -> Iterator[ScanRecord]:
        with self.state.read() as t:
            rows = [r for r in t.scans if r["job"] == job]
        for r in rows:
            yield ScanRecord(r["job"], r["sha256"], r["at"], copy.deepcopy(r["results"]))

    def list_scan_jobs(self) -> list[ScanJobRecord]:
        jobs: dict[str, list[datetime]] = {}
        with self.state.read() as t:
            for r in t.scans:
                jobs.setdefault(r["job"], []).append(r["at"])
        return [ScanJobRecord(job, len(at), min(at), max(at)) for job, at in sorted(jobs.items())]

    def clear_scan_job(self, job: str) -> int:
        with self.state.change() as t:
            before = len(t.scans)
            t.scans[:] = [r for r in t.scans if r["job"] != job]
            return before - len(t.scans)

    def set_item_previews(self, previews: Sequence[ItemPreviewRecord]) -> None:
        with self.state.change() as t:
            for p in previews:
                if p.item_id not in t.items:  # SQL: a foreign-key violation
                    raise StorageError(f"no item with id {p.item_id} for a preview")
                t.previews[p.item_id] = (p.image, p.text)

    def get_item_previews(self, item_ids: Iterable[int]) -> dict[int, ItemPreviewRecord]:
        with self.state.read() as t:
            return {i: ItemPreviewRecord(i, *t.previews[i]) for i in dict.fromkeys(item_ids) if i in t.previews}
