"""The SQLAlchemy implementation of :class:`Repository` (SQLite and PostgreSQL).

Small operations use short transactions; :meth:`Store.add_items` stores a
whole batch in one transaction with executemany-style bulk inserts, so a
caller that feeds it chunks gets one commit per chunk. Streaming reads
(``iter_signals``, ``iter_pdq``, ``iter_items``) page by primary key, so no
transaction or cursor stays open between batches.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, literal, select, text, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from tahaluf.errors import Conflict, InvalidInput, NotFound, StorageError
from tahaluf.signal_types.registry import type_enabled
from tahaluf.storage.engine import WRITE, describe_url, translate_errors
from tahaluf.storage.repository.bulk import sqlite_add_items
from tahaluf.storage.models import (
    EXACT_TYPES, EXACT_TYPES_SQL, Bank, BankItem, ChangeLog, ItemSignal, StoreMeta, UtcDateTime,
)
from tahaluf.storage.repository.scanlog import ScanLogMixin
from tahaluf.storage.repository.base import (
    AddOutcome,
    BankRecord,
    ChangeRecord,
    ItemRecord,
    ItemRow,
    NewBank,
    PdqBatch,
    SignalRecord,
    SignalRow,
)

__all__ = ["Store"]

_LABEL_KEY = re.compile(r"[a-z_][a-z0-9_]{0,63}")
_IN_CHUNK = 900  # host parameters per IN (...) list, well under every backend's limit

_banks = Bank.__table__
_items = BankItem.__table__
_signals = ItemSignal.__table__
_changes = ChangeLog.__table__
_meta = StoreMeta.__table__


def as_utc(value: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite returns naive ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_utc = as_utc


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _bank_record(row: Any) -> BankRecord:
    return BankRecord(
        id=row.id,
        name=row.name,
        kind=row.kind,
        default_labels=dict(row.default_labels or {}),
        signal_types=list(row.signal_types or []),
        pdq_max_distance=row.pdq_max_distance,
        created_at=_utc(row.created_at),
        owner=row.owner,
        visibility=row.visibility,
    )


class Store(ScanLogMixin):
    """A tahaluf database. Create with :func:`tahaluf.storage.open_store`."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self.url = url
        self.where = describe_url(url)
        # PostgreSQL plans joins from table statistics; after a bulk load they
        # are stale until autovacuum catches up, so we ANALYZE on a geometric
        # schedule (each time the tables grew by half since the last one).
        self._added_since_analyze = 0
        self._rows_at_analyze = 0
        # the write transaction open in this thread, if any: nested writes and
        # reads join it, so that a change and its audit entry commit together
        self._open = threading.local()

    # -- plumbing ---------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def engine(self) -> Engine:
        return self._engine

    def transaction(self) -> Any:
        """A write transaction (``with store.transaction() as conn``), errors translated.

        Inside it, every other read and write of this store in the same thread
        (``add_items``, ``delete_bank``, a nested ``transaction()``...) joins it:
        what the block does commits together, or not at all.
        """
        return self._write()

    def connection(self) -> Any:
        """A read connection, errors translated (the open write transaction's, in one)."""
        return self._read()

    @property
    def in_transaction(self) -> bool:
        """Whether this thread has a write transaction of this store open."""
        return getattr(self._open, "conn", None) is not None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        joined = getattr(self._open, "conn", None)
        if joined is not None:
            with translate_errors(self.where):
                yield joined
            return
        with translate_errors(self.where):
            with self._engine.connect().execution_options(**{WRITE: True}) as conn:
                with conn.begin():
                    self._open.conn = conn
                    try:
                        yield conn
                    finally:
                        self._open.conn = None
        self._maybe_analyze(0)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        joined = getattr(self._open, "conn", None)
        with translate_errors(self.where):
            if joined is not None:
                yield joined
                return
            with self._engine.connect() as conn:
                yield conn

    def _insert(self, table: Any) -> Any:
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return insert(table)

    @staticmethod
    def _log(conn: Connection, bank_id: int, item_id: int | None, op: str) -> None:
        conn.execute(insert(_changes).values(bank_id=bank_id, item_id=item_id, op=op, at=_now()))

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
            created_at=_now(),
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
            bank_id = conn.execute(insert(_banks).values(**values)).inserted_primary_key[0]
        except IntegrityError as exc:
            raise Conflict(f"bank {bank.name!r} already exists") from exc
        self._log(conn, bank_id, None, "add")  # indexes learn its threshold, hubs its visibility
        return self._bank_by_id(conn, bank_id)

    def get_bank(self, name: str) -> BankRecord | None:
        with self._read() as conn:
            row = conn.execute(select(_banks).where(_banks.c.name == name)).first()
        return _bank_record(row) if row is not None else None

    def _bank_by_id(self, conn: Connection, bank_id: int) -> BankRecord:
        row = conn.execute(select(_banks).where(_banks.c.id == bank_id)).first()
        if row is None:
            raise NotFound(f"no bank with id {bank_id}")
        return _bank_record(row)

    def list_banks(self) -> list[BankRecord]:
        with self._read() as conn:
            rows = conn.execute(select(_banks).order_by(_banks.c.name)).all()
        return [_bank_record(r) for r in rows]

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
                    select(_items.c.bank_id, _items.c.id, literal("delete"), literal(_now(), UtcDateTime))
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
        for part in _chunks(external_ids):
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

    def _maybe_analyze(self, added: int) -> None:
        """Count added rows; ANALYZE when due (after the open transaction commits, if any)."""
        if self.dialect != "postgresql":
            return
        self._added_since_analyze += added
        if self.in_transaction or self._added_since_analyze < max(1000, self._rows_at_analyze // 2):
            return
        self._rows_at_analyze += self._added_since_analyze
        self._added_since_analyze = 0
        with self._write() as conn:
            conn.execute(text("ANALYZE bank_items, item_signals"))

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
            now = _now()
            conn.execute(
                insert(_changes),
                [dict(bank_id=bank_id, item_id=item_id, op="add", at=now) for item_id in ids.values()],
            )
        return ids

    def _insert_items(self, conn: Connection, bank_id: int, items: Sequence[ItemRow]) -> dict[str, int]:
        """Insert items not yet in the bank; return {external_id: id} of those inserted."""
        params = [
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

    def _signals_of(self, conn: Connection, item_ids: Sequence[int]) -> dict[int, list[SignalRow]]:
        out: dict[int, list[SignalRow]] = {i: [] for i in item_ids}
        for part in _chunks(item_ids):
            rows = conn.execute(
                select(_signals.c.item_id, _signals.c.signal_type, _signals.c.value, _signals.c.pdq, _signals.c.extra)
                .where(_signals.c.item_id.in_(part))
                .order_by(_signals.c.id)
            )
            for item_id, stype, value, pdq, extra in rows:
                out[item_id].append(SignalRow(stype, value, pdq, extra))
        return out

    def _item_records(self, conn: Connection, rows: Sequence[Any]) -> list[ItemRecord]:
        signals = self._signals_of(conn, [r.id for r in rows])
        return [
            ItemRecord(
                id=r.id,
                bank_id=r.bank_id,
                external_id=r.external_id,
                labels=dict(r.labels or {}),
                added_by=r.added_by,
                source=r.source,
                added_at=_utc(r.added_at),
                enabled=bool(r.enabled),
                signals=tuple(signals[r.id]),
            )
            for r in rows
        ]

    def get_item(self, bank_id: int, external_id: str) -> ItemRecord | None:
        with self._read() as conn:
            row = conn.execute(
                select(_items).where(_items.c.bank_id == bank_id, _items.c.external_id == external_id)
            ).first()
            return self._item_records(conn, [row])[0] if row is not None else None

    def get_items(self, item_ids: Iterable[int]) -> dict[int, ItemRecord]:
        ids = list(dict.fromkeys(item_ids))
        out: dict[int, ItemRecord] = {}
        with self._read() as conn:
            for part in _chunks(ids):
                rows = conn.execute(select(_items).where(_items.c.id.in_(part))).all()
                out.update((r.id, r) for r in self._item_records(conn, rows))
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
                records = self._item_records(conn, rows)
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
        """One page of a bank's items in id order, filtered.

        ``labels`` are ``(key, value, default_matches)``: an item matches when
        its own label ``key`` is or contains ``value``, or, when
        ``default_matches`` (the bank's default label does), when it adds
        nothing of its own that replaces it (list labels are united).
        """
        from tahaluf.labels import LIST_LABELS
        from tahaluf.storage.repository.feedback_sql import disputed_clause

        query = select(_items).where(_items.c.bank_id == bank_id, _items.c.id > after_id)
        for n, (key, value, default_matches) in enumerate(labels):
            clause = self._label_contains(key, f"lv{n}")
            if default_matches and key not in LIST_LABELS:
                clause = f"({clause} OR NOT {self._label_present(key)})"
            if not (default_matches and key in LIST_LABELS):
                query = query.where(text(clause).bindparams(**{f"lv{n}": value}))
        if added_after is not None:
            query = query.where(_items.c.added_at >= added_after)
        if added_before is not None:
            query = query.where(_items.c.added_at < added_before)
        if enabled is not None:
            query = query.where(_items.c.enabled.is_(enabled))
        if disputed is not None:
            clause = disputed_clause(_items.c.id)
            query = query.where(clause if disputed else ~clause)  # type: ignore[operator]
        with self._read() as conn:
            rows = conn.execute(query.order_by(_items.c.id).limit(limit)).all()
            return self._item_records(conn, rows)

    def _label_contains(self, key: str, param: str) -> str:
        """SQL true when the item's own label ``key`` is or contains ``:param``."""
        if not _LABEL_KEY.fullmatch(key):
            raise InvalidInput(f"not a label name: {key!r}")
        if self.dialect == "postgresql":
            return f"((bank_items.labels -> '{key}') ? :{param})"
        return f"EXISTS (SELECT 1 FROM json_each(bank_items.labels, '$.{key}') AS je WHERE je.value = :{param})"

    def _label_present(self, key: str) -> str:
        if self.dialect == "postgresql":
            return f"(bank_items.labels ? '{key}')"
        return f"(json_type(bank_items.labels, '$.{key}') IS NOT NULL)"

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

    # -- signals for indexes -------------------------------------------------
    def _banks_with(self, conn: Connection, signal_type: str, bank_ids: Sequence[int] | None) -> list[int]:
        banks = [_bank_record(r) for r in conn.execute(select(_banks)).all()]
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
            for part in _chunks(list(dict.fromkeys(values))) if banks else ():
                rows = conn.execute(
                    select(_signals.c.id, _signals.c.item_id, _items.c.bank_id, _signals.c.value, _signals.c.pdq, _signals.c.extra)
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
            for part in _chunks(list(dict.fromkeys(values))):
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
        return [ChangeRecord(r.id, r.bank_id, r.item_id, r.op, _utc(r.at)) for r in rows]

    def changes_in(self, ids: Sequence[int]) -> list[ChangeRecord]:
        """The change-log entries with these ids that exist (now)."""
        rows: list[Any] = []
        with self._read() as conn:
            for part in _chunks(list(ids)):
                rows.extend(conn.execute(select(_changes).where(_changes.c.id.in_(part))).all())
        rows.sort(key=lambda r: r.id)
        return [ChangeRecord(r.id, r.bank_id, r.item_id, r.op, _utc(r.at)) for r in rows]

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
        entry = None if row is None else [row.id, row.bank_id, row.item_id, row.op, _utc(row.at).isoformat()]
        return hashlib.sha256(json.dumps([database_id, change_id, entry]).encode()).hexdigest()

