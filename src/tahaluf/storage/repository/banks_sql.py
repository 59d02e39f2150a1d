"""Banks and their items in SQL: create, update, delete, add, enable, label.

Small operations use short transactions; :meth:`BanksSql.add_items` stores a
whole batch in one transaction with executemany-style bulk inserts, so a
caller that feeds it chunks gets one commit per chunk. ``iter_items`` pages by
primary key, so no transaction or cursor stays open between batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from tahaluf.errors import Conflict, NotFound, StorageError
from tahaluf.ports.clock import now
from tahaluf.storage.models import Bank, BankItem, ChangeLog, ItemSignal, UtcDateTime, table
from tahaluf.storage.repository.base import AddOutcome, BankRecord, ItemRecord, ItemRow, NewBank
from tahaluf.storage.repository.bulk import sqlite_add_items
from tahaluf.storage.repository.rows import bank_record, chunks, item_records
from tahaluf.storage.repository.sql_base import SqlBase

__all__ = ["BanksSql"]

_banks = table(Bank)
_items = table(BankItem)
_signals = table(ItemSignal)
_changes = table(ChangeLog)


class BanksSql(SqlBase):
    """Banks and bank items, for :class:`~tahaluf.storage.Store`."""

    # -- banks --------------------------------------------------------------
    def create_bank(self, bank: NewBank, *, conn: Connection | None = None) -> BankRecord:
        """Store a bank with its owner and visibility (in ``conn``'s transaction when given,
        so that a caller can add its shares and audit entry before anyone sees it)."""
        values = dict(
            name=bank.name,
            kind=bank.kind,
            default_labels=bank.default_labels,
            signal_types=bank.signal_types,
            pdq_max_distance=bank.pdq_max_distance,
            owner=bank.owner,
            visibility=bank.visibility,
            created_at=now(),
        )
        if conn is None:
            try:
                with self._write() as own:
                    return self.create_bank(bank, conn=own)
            except StorageError as exc:
                if isinstance(exc.__cause__, IntegrityError):
                    raise Conflict(f"bank {bank.name!r} already exists") from exc
                raise
        try:
            bank_id = conn.execute(insert(_banks).values(**values).returning(_banks.c.id)).scalar_one()
        except IntegrityError as exc:
            raise Conflict(f"bank {bank.name!r} already exists") from exc
        self._log(conn, bank_id, None, "add")  # indexes learn its threshold, hubs its visibility
        return self._bank_by_id(conn, bank_id)

    def get_bank(self, name: str) -> BankRecord | None:
        with self._read() as conn:
            row = conn.execute(select(_banks).where(_banks.c.name == name)).first()
        return bank_record(row) if row is not None else None

    def list_banks(self) -> list[BankRecord]:
        with self._read() as conn:
            rows = conn.execute(select(_banks).order_by(_banks.c.name)).all()
        return [bank_record(r) for r in rows]

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
            changes["default_labels"] = default_labels
        if signal_types is not None:
            changes["signal_types"] = signal_types
        if pdq_max_distance is not None:
            changes["pdq_max_distance"] = pdq_max_distance
        with self._write() as conn:
            self._bank_by_id(conn, bank_id)
            if changes:
                conn.execute(update(_banks).where(_banks.c.id == bank_id).values(**changes))
                self._log(conn, bank_id, None, "update")
            return self._bank_by_id(conn, bank_id)

    def delete_bank(self, bank_id: int) -> None:
        """Delete a bank and its items; each item gets its own 'delete' change row,
        so that indexes following the log drop them without a rebuild."""
        with self._write() as conn:
            conn.execute(
                insert(_changes).from_select(
                    ["bank_id", "item_id", "op", "at"],
                    select(_items.c.bank_id, _items.c.id, literal("delete"), literal(now(), UtcDateTime))
                    .where(_items.c.bank_id == bank_id)
                    .order_by(_items.c.id),
                )
            )
            deleted = conn.execute(delete(_banks).where(_banks.c.id == bank_id)).rowcount
            if not deleted:
                raise NotFound(f"no bank with id {bank_id}")
            self._log(conn, bank_id, None, "delete")

    def count_items(self, bank_id: int) -> dict[str, int]:
        """``{"items": n, "enabled": n, "<signal type>": n, ...}`` for one bank."""
        with self._read() as conn:
            total, enabled = conn.execute(
                select(func.count(), func.count().filter(_items.c.enabled.is_(True))).where(
                    _items.c.bank_id == bank_id
                )
            ).one()
            per_type = conn.execute(
                select(_signals.c.signal_type, func.count())
                .join(_items, _items.c.id == _signals.c.item_id)
                .where(_items.c.bank_id == bank_id)
                .group_by(_signals.c.signal_type)
            ).all()
        counts = {"items": int(total), "enabled": int(enabled or 0)}
        counts.update({str(t): int(n) for t, n in per_type})
        return counts

    # -- items ----------------------------------------------------------------
    def _existing_ids(self, conn: Connection, bank_id: int, external_ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for part in chunks(external_ids):
            rows = conn.execute(
                select(_items.c.external_id, _items.c.id).where(
                    _items.c.bank_id == bank_id, _items.c.external_id.in_(part)
                )
            )
            found.update((ext, item_id) for ext, item_id in rows)
        return found

    def add_items(self, bank_id: int, items: Sequence[ItemRow]) -> AddOutcome:
        """Store new items (one transaction); existing external ids are duplicates."""
        with self._write() as conn:
            outcome = self.add_items_in(conn, bank_id, items)
        self._maybe_analyze(len(outcome.added))
        return outcome

    def add_items_in(self, conn: Connection, bank_id: int, items: Sequence[ItemRow]) -> AddOutcome:
        """:meth:`add_items` inside the caller's write transaction ``conn`` (which commits or
        rolls back the items with the rest of its work)."""
        unique: dict[str, ItemRow] = {}
        duplicates: list[str] = []
        for item in items:
            if item.external_id in unique:
                duplicates.append(item.external_id)
            else:
                unique[item.external_id] = item
        if not unique:
            return AddOutcome({}, duplicates)
        rows = list(unique.values())
        self._bank_by_id(conn, bank_id)
        if self.dialect == "sqlite":
            ids = sqlite_add_items(conn, bank_id, rows)
        else:
            ids = self._add_items_core(conn, bank_id, rows)
        duplicates.extend(ext for ext in unique if ext not in ids)
        return AddOutcome(ids, duplicates)

    def _add_items_core(self, conn: Connection, bank_id: int, items: Sequence[ItemRow]) -> dict[str, int]:
        ids = self._insert_items(conn, bank_id, items)
        signal_rows = [
            dict(item_id=ids[it.external_id], signal_type=s.signal_type, value=s.value, pdq=s.pdq, extra=s.extra)
            for it in items
            if it.external_id in ids
            for s in it.signals
        ]
        if signal_rows:
            conn.execute(insert(_signals), signal_rows)
        if ids:
            at = now()
            conn.execute(
                insert(_changes),
                [dict(bank_id=bank_id, item_id=item_id, op="add", at=at) for item_id in ids.values()],
            )
        return ids

    def _insert_items(self, conn: Connection, bank_id: int, items: Sequence[ItemRow]) -> dict[str, int]:
        """Insert items not yet in the bank; return {external_id: id} of those inserted."""
        params: list[dict[str, Any]] = [
            dict(
                bank_id=bank_id,
                external_id=it.external_id,
                labels=it.labels,
                added_by=it.added_by,
                source=it.source,
                added_at=it.added_at,
                enabled=it.enabled,
            )
            for it in items
        ]
        if self.dialect in ("sqlite", "postgresql"):
            stmt = (
                self._insert(_items)
                .on_conflict_do_nothing(index_elements=["bank_id", "external_id"])
                .returning(_items.c.external_id, _items.c.id)
            )
            return {ext: item_id for ext, item_id in conn.execute(stmt, params)}
        existing = self._existing_ids(conn, bank_id, [it.external_id for it in items])
        fresh = [p for p in params if p["external_id"] not in existing]
        if fresh:
            conn.execute(insert(_items), fresh)
        return self._existing_ids(conn, bank_id, [p["external_id"] for p in fresh])

    def get_item(self, bank_id: int, external_id: str) -> ItemRecord | None:
        with self._read() as conn:
            row = conn.execute(
                select(_items).where(_items.c.bank_id == bank_id, _items.c.external_id == external_id)
            ).first()
            return item_records(conn, [row])[0] if row is not None else None

    def get_items(self, item_ids: Iterable[int]) -> dict[int, ItemRecord]:
        ids = list(dict.fromkeys(item_ids))
        out: dict[int, ItemRecord] = {}
        with self._read() as conn:
            for part in chunks(ids):
                rows = conn.execute(select(_items).where(_items.c.id.in_(part))).all()
                out.update((r.id, r) for r in item_records(conn, rows))
        return out

    def iter_items(self, bank_id: int, *, batch_size: int = 1000) -> Iterator[ItemRecord]:
        last = 0
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    select(_items)
                    .where(_items.c.bank_id == bank_id, _items.c.id > last)
                    .order_by(_items.c.id)
                    .limit(batch_size)
                ).all()
                records = item_records(conn, rows)
            if not records:
                return
            yield from records
            last = records[-1].id

    def _item_id(self, conn: Connection, bank_id: int, external_id: str) -> int:
        item_id = conn.execute(
            select(_items.c.id).where(_items.c.bank_id == bank_id, _items.c.external_id == external_id)
        ).scalar()
        if item_id is None:
            raise NotFound(f"no item {external_id!r} in bank {bank_id}")
        return int(item_id)

    def set_item_enabled(self, bank_id: int, external_id: str, enabled: bool) -> bool:
        """Enable or disable an item; False when it already was. NotFound if missing."""
        with self._write() as conn:
            item_id = self._item_id(conn, bank_id, external_id)
            changed = conn.execute(
                update(_items).where(_items.c.id == item_id, _items.c.enabled.is_not(enabled)).values(enabled=enabled)
            ).rowcount
            if changed:
                self._log(conn, bank_id, item_id, "enable" if enabled else "disable")
        return bool(changed)

    def set_item_labels(self, bank_id: int, external_id: str, labels: dict[str, Any]) -> bool:
        with self._write() as conn:
            item_id = self._item_id(conn, bank_id, external_id)
            conn.execute(update(_items).where(_items.c.id == item_id).values(labels=labels))
            self._log(conn, bank_id, item_id, "update")
        return True

    def delete_item(self, bank_id: int, external_id: str) -> bool:
        with self._write() as conn:
            item_id = self._item_id(conn, bank_id, external_id)
            conn.execute(delete(_items).where(_items.c.id == item_id))
            self._log(conn, bank_id, item_id, "delete")
        return True
