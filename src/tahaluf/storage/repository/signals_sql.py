"""Signals for indexes and exact lookups in SQL, and the change log indexes follow.

Streaming reads (``iter_signals``, ``iter_pdq``) page by primary key, so no
transaction or cursor stays open between batches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, func, select, text, true

from tahaluf.ports.vocabulary import EXACT_TYPES
from tahaluf.signal_types.registry import type_enabled
from tahaluf.storage.models import EXACT_TYPES_SQL, Bank, BankItem, ChangeLog, ItemSignal, StoreMeta, table
from tahaluf.storage.repository.base import ChangeRecord, PdqBatch, SignalRecord
from tahaluf.storage.repository.rows import as_utc, bank_record, chunks
from tahaluf.storage.repository.sql_base import SqlBase

__all__ = ["SignalsSql"]

_banks = table(Bank)
_items = table(BankItem)
_signals = table(ItemSignal)
_changes = table(ChangeLog)
_meta = table(StoreMeta)


class SignalsSql(SqlBase):
    """Signals and the change log, for :class:`~tahaluf.storage.Store`."""

    # -- signals for indexes -------------------------------------------------
    def _banks_with(self, conn: Connection, signal_type: str, bank_ids: Sequence[int] | None) -> list[int]:
        banks = [bank_record(r) for r in conn.execute(select(_banks)).all()]
        wanted = set(bank_ids) if bank_ids is not None else None
        return [b.id for b in banks if type_enabled(signal_type, b.signal_types) and (wanted is None or b.id in wanted)]

    def _signal_page(
        self, signal_type: str, bank_ids: Sequence[int] | None, include_disabled: bool, after: int, limit: int
    ) -> list[Any]:
        with self._read() as conn:
            banks = self._banks_with(conn, signal_type, bank_ids)
            if not banks:
                return []
            query = (
                select(
                    _signals.c.id, _signals.c.item_id, _items.c.bank_id,
                    _signals.c.value, _signals.c.pdq, _signals.c.extra,
                )
                .join(_items, _items.c.id == _signals.c.item_id)
                .where(_signals.c.signal_type == signal_type, _signals.c.id > after, _items.c.bank_id.in_(banks))
                .order_by(_signals.c.id)
                .limit(limit)
            )
            if not include_disabled:
                query = query.where(_items.c.enabled.is_(True))
            return list(conn.execute(query).all())

    def iter_signals(
        self,
        signal_type: str,
        *,
        bank_ids: Sequence[int] | None = None,
        include_disabled: bool = False,
        batch_size: int = 10_000,
    ) -> Iterator[list[SignalRecord]]:
        """Batches of signals of one type from enabled items of banks that enable the type."""
        after = 0
        while rows := self._signal_page(signal_type, bank_ids, include_disabled, after, batch_size):
            yield [SignalRecord(r[0], r[1], r[2], signal_type, r[3], r[4], r[5]) for r in rows]
            after = rows[-1][0]

    def iter_pdq(self, *, bank_ids: Sequence[int] | None = None, batch_size: int = 50_000) -> Iterator[PdqBatch]:
        """PDQ hashes as raw bytes, for loading an index without parsing hex."""
        after = 0
        while rows := self._signal_page("pdq", bank_ids, False, after, batch_size):
            yield PdqBatch([r[1] for r in rows], [r[2] for r in rows], b"".join(r[4] for r in rows))
            after = rows[-1][0]

    def find_signals(self, signal_type: str, values: Sequence[str]) -> list[SignalRecord]:
        """Exact lookup of values among enabled items of banks that enable the type."""
        out: list[SignalRecord] = []
        with self._read() as conn:
            banks = self._banks_with(conn, signal_type, None)
            for part in chunks(list(dict.fromkeys(values))) if banks else ():
                rows = conn.execute(
                    select(_signals.c.id, _signals.c.item_id, _items.c.bank_id, _signals.c.value, _signals.c.pdq,
                           _signals.c.extra)
                    .join(_items, _items.c.id == _signals.c.item_id)
                    .where(
                        _signals.c.signal_type == signal_type,
                        text(EXACT_TYPES_SQL) if signal_type in EXACT_TYPES else true(),
                        _signals.c.value.in_(part),
                        _items.c.enabled.is_(True),
                        _items.c.bank_id.in_(banks),
                    )
                    .order_by(_signals.c.id)
                )
                out.extend(SignalRecord(r[0], r[1], r[2], signal_type, r[3], r[4], r[5]) for r in rows)
        return out

    def items_with_signal(self, bank_id: int, signal_type: str, values: Sequence[str]) -> dict[str, str]:
        if signal_type not in EXACT_TYPES:
            raise ValueError(f"{signal_type} is not an exact-match type")
        found: dict[str, str] = {}
        with self._read() as conn:
            for part in chunks(list(dict.fromkeys(values))):
                rows = conn.execute(
                    select(_signals.c.value, _items.c.external_id)
                    .join(_items, _items.c.id == _signals.c.item_id)
                    .where(_signals.c.signal_type == signal_type, text(EXACT_TYPES_SQL),
                           _signals.c.value.in_(part), _items.c.bank_id == bank_id)
                    .order_by(_items.c.id)
                )
                for value, ext in rows:
                    found.setdefault(value, ext)
        return found

    # -- change log ------------------------------------------------------------
    def changes_since(self, cursor: int, *, limit: int = 10_000) -> list[ChangeRecord]:
        with self._read() as conn:
            rows = conn.execute(
                select(_changes).where(_changes.c.id > cursor).order_by(_changes.c.id).limit(limit)
            ).all()
        return [ChangeRecord(r.id, r.bank_id, r.item_id, r.op, as_utc(r.at)) for r in rows]

    def changes_in(self, ids: Sequence[int]) -> list[ChangeRecord]:
        """The change-log entries with these ids that exist (now)."""
        rows: list[Any] = []
        with self._read() as conn:
            for part in chunks(list(ids)):
                rows.extend(conn.execute(select(_changes).where(_changes.c.id.in_(part))).all())
        rows.sort(key=lambda r: r.id)
        return [ChangeRecord(r.id, r.bank_id, r.item_id, r.op, as_utc(r.at)) for r in rows]

    def last_change_id(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.coalesce(func.max(_changes.c.id), 0))).scalar_one())

    def log_mark(self, change_id: int) -> str:
        """A digest of this database's identity (``store_meta.database_id``) and of its
        change-log entry ``change_id`` (id, bank, item, op and time; none for 0 or a
        missing entry). Equal marks: the same database, whose log still holds the same
        entry there, so the log after it bridges to now. A restored older copy (whose
        entry ``change_id`` is missing or was written anew) or another database gives
        another mark."""
        with self._read() as conn:
            database_id = conn.execute(select(_meta.c.value).where(_meta.c.key == "database_id")).scalar()
            row = conn.execute(select(_changes).where(_changes.c.id == change_id)).first() if change_id else None
        entry = None if row is None else [row.id, row.bank_id, row.item_id, row.op, as_utc(row.at).isoformat()]
        return hashlib.sha256(json.dumps([database_id, change_id, entry]).encode()).hexdigest()
