"""Bulk insert of bank items for SQLite, the hot path of large imports.

Kept apart from :mod:`.sql` because it talks to the driver directly:
multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (one round trip per
few thousand items, duplicates skipped by the unique index) and
``executemany`` for signals and change-log rows. It runs inside the caller's
write transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from tahaluf.storage.models import BankItem, table
from tahaluf.storage.repository.base import ItemRow

__all__ = ["sqlite_add_items"]

_items = table(BankItem)


def sqlite_add_items(conn: Connection, bank_id: int, items: Sequence[ItemRow]) -> dict[str, int]:
    """The bulk path for SQLite: driver-level multi-row INSERT ... RETURNING and executemany.

    Values are converted with the columns' own SQLAlchemy bind processors, so
    rows read back exactly as if written through the ORM.
    """
    dialect = conn.dialect
    ts = _items.c.added_at.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
    ts_cache: dict[datetime, Any] = {}

    def when(value: datetime) -> Any:
        if value not in ts_cache:
            ts_cache[value] = ts(value)
        return ts_cache[value]

    rows = [
        (bank_id, it.external_id, json.dumps(it.labels), it.added_by, it.source, when(it.added_at), int(it.enabled))
        for it in items
    ]
    limit = conn.connection.dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
    per = max(1, min(limit // 7, 4000))
    ids: dict[str, int] = {}
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        sql = (
            "INSERT INTO bank_items (bank_id, external_id, labels, added_by, source, added_at, enabled) VALUES "
            + ",".join(["(?,?,?,?,?,?,?)"] * len(part))
            + " ON CONFLICT (bank_id, external_id) DO NOTHING RETURNING external_id, id"
        )
        ids.update((ext, item_id) for ext, item_id in conn.exec_driver_sql(sql, tuple(v for row in part for v in row)))
    signal_rows = [
        (ids[it.external_id], s.signal_type, s.value, s.pdq, json.dumps(s.extra) if s.extra else None)
        for it in items
        if it.external_id in ids
        for s in it.signals
    ]
    if signal_rows:
        conn.exec_driver_sql(
            "INSERT INTO item_signals (item_id, signal_type, value, pdq, extra) VALUES (?,?,?,?,?)", signal_rows
        )
    if ids:
        at = when(datetime.now(UTC))
        conn.exec_driver_sql(
            "INSERT INTO change_log (bank_id, item_id, op, at) VALUES (?,?,?,?)",
            [(bank_id, item_id, "add", at) for item_id in ids.values()],
        )
    return ids
