"""Timestamps are instants on SQLite and PostgreSQL (issue 9, point 13).

A time given with a UTC offset (a JSONL ``added_at``, an ``added_after``
filter) means the same instant on both backends: stored as that instant in
UTC, compared as instants, read back as aware UTC datetimes. Rows that
earlier versions wrote to SQLite (naive UTC text) read back unchanged.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from tahaluf.formats.jsonl import import_jsonl
from tahaluf.storage import ItemRow, NewBank, SignalRow, Store, open_store

PLUS5 = timezone(timedelta(hours=5))
NOON_PLUS5 = datetime(2024, 5, 1, 12, 0, tzinfo=PLUS5)  # = 07:00 UTC
MD5 = "0123456789abcdef0123456789abcdef"


def _bank(store: Store) -> int:
    return store.create_bank(NewBank("weather", "known", {"entity": "demo-entity"}, ["md5"])).id


def _ids(store: Store, bank_id: int, **filters: datetime) -> list[str]:
    return [i.external_id for i in store.list_items(bank_id, **filters)]  # type: ignore[arg-type]


def test_a_jsonl_added_at_with_an_offset_is_stored_as_that_instant(store: Store) -> None:
    bank_id = _bank(store)
    line = json.dumps({"external_id": "forecast-1", "signals": [{"type": "md5", "value": MD5}],
                       "labels": {"entity": "demo-entity"},
                       "provenance": {"added_by": "tester", "added_at": "2024-05-01T12:00:00+05:00"}})
    report = import_jsonl(store, "weather", [line])
    assert (report.imported, report.error_count) == (1, 0)
    item = store.get_item(bank_id, "forecast-1")
    assert item is not None
    assert item.added_at == datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
    assert item.added_at.utcoffset() == timedelta(0)


def test_added_after_and_before_with_an_offset_compare_instants(store: Store) -> None:
    bank_id = _bank(store)
    store.add_items(bank_id, [ItemRow("forecast-1", {}, [SignalRow("md5", MD5)], "tester", None, NOON_PLUS5)])
    # 11:30+05:00 is 06:30 UTC: the item (07:00 UTC) was added after it
    assert _ids(store, bank_id, added_after=datetime(2024, 5, 1, 11, 30, tzinfo=PLUS5)) == ["forecast-1"]
    assert _ids(store, bank_id, added_after=datetime(2024, 5, 1, 12, 30, tzinfo=PLUS5)) == []
    # the same instants written in UTC and in another offset select the same items
    assert _ids(store, bank_id, added_after=datetime(2024, 5, 1, 6, 30, tzinfo=UTC)) == ["forecast-1"]
    assert _ids(store, bank_id, added_before=datetime(2024, 5, 1, 3, 30, tzinfo=timezone(timedelta(hours=-4)))) \
        == ["forecast-1"]  # 07:30 UTC
    assert _ids(store, bank_id, added_before=datetime(2024, 5, 1, 11, 30, tzinfo=PLUS5)) == []
    (item,) = store.list_items(bank_id)
    assert item.added_at == NOON_PLUS5 and item.added_at.tzinfo is not None


def test_sqlite_rows_written_by_earlier_versions_read_as_utc(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with open_store(url) as store:
        bank_id = _bank(store)
    with sqlite3.connect(tmp_path / "old.db") as raw:  # what earlier versions wrote: naive UTC text
        raw.execute("INSERT INTO bank_items (bank_id, external_id, labels, added_by, source, added_at, enabled) "
                    "VALUES (?, 'old-1', '{}', 'tester', NULL, '2024-05-01 07:00:00.000000', 1)", (bank_id,))
    with open_store(url) as store:
        item = store.get_item(bank_id, "old-1")
        assert item is not None and item.added_at == datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
        assert _ids(store, bank_id, added_after=datetime(2024, 5, 1, 11, 59, tzinfo=PLUS5)) == ["old-1"]
        assert _ids(store, bank_id, added_after=datetime(2024, 5, 1, 12, 1, tzinfo=PLUS5)) == []
        bank = store.get_bank("weather")
        assert bank is not None and bank.created_at.tzinfo is not None
