"""Rows to records: conversions shared by the SQL stores (no store state here)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from tahaluf.storage.models import ItemSignal, table
from tahaluf.storage.repository.base import BankRecord, ItemRecord, SignalRow

__all__ = ["IN_CHUNK", "as_utc", "bank_record", "chunks", "item_records"]

IN_CHUNK = 900  # host parameters per IN (...) list, well under every backend's limit

_signals = table(ItemSignal)


def as_utc(value: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite returns naive ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def bank_record(row: Any) -> BankRecord:
    return BankRecord(
        id=row.id,
        name=row.name,
        kind=row.kind,
        default_labels=dict(row.default_labels or {}),
        signal_types=list(row.signal_types or []),
        pdq_max_distance=row.pdq_max_distance,
        created_at=as_utc(row.created_at),
        owner=row.owner,
        visibility=row.visibility,
    )


def _signals_of(conn: Connection, item_ids: Sequence[int]) -> dict[int, list[SignalRow]]:
    out: dict[int, list[SignalRow]] = {i: [] for i in item_ids}
    for part in chunks(item_ids):
        rows = conn.execute(
            select(_signals.c.item_id, _signals.c.signal_type, _signals.c.value, _signals.c.pdq, _signals.c.extra)
            .where(_signals.c.item_id.in_(part))
            .order_by(_signals.c.id)
        )
        for item_id, stype, value, pdq, extra in rows:
            out[item_id].append(SignalRow(stype, value, pdq, extra))
    return out


def item_records(conn: Connection, rows: Sequence[Any]) -> list[ItemRecord]:
    """``bank_items`` rows as records, with their signals (read in ``conn``)."""
    signals = _signals_of(conn, [r.id for r in rows])
    return [
        ItemRecord(
            id=r.id,
            bank_id=r.bank_id,
            external_id=r.external_id,
            labels=dict(r.labels or {}),
            added_by=r.added_by,
            source=r.source,
            added_at=as_utc(r.added_at),
            enabled=bool(r.enabled),
            signals=tuple(signals[r.id]),
        )
        for r in rows
    ]
