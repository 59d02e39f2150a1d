"""One storage contract, run against SQLite and the PostgreSQL server.

PostgreSQL tests use a fresh schema per test in the ``test`` database (so
parallel runs never collide) and are skipped only when the server is
unreachable outside CI; under CI=true they fail instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import pg_schema_url

from tahaluf.errors import Conflict, InvalidInput, NotFound, StorageError
from tahaluf.storage import (
    ItemRow,
    NewBank,
    Repository,
    SignalRow,
    open_store,
    resolve_url,
)
from tahaluf.storage.memory import MemoryRepository

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    """Every contract test runs on the in-memory repository, SQLite and PostgreSQL
    (never skipped under CI=true: see ``conftest.pg_schema_url``)."""
    if request.param == "memory":
        with MemoryRepository() as memory:
            yield memory
        return
    if request.param == "sqlite":
        yield from _opened(f"sqlite:///{tmp_path / 'tahaluf.db'}")
        return
    for url in pg_schema_url():  # one URL; its schema is dropped afterwards
        yield from _opened(url)


def _opened(url: str) -> Iterator[Repository]:
    with open_store(url) as sql:
        yield sql


def _pdq(n: int) -> str:
    return f"{n:064x}"


def _item(ext: str, *signals: SignalRow, enabled: bool = True, labels: dict | None = None) -> ItemRow:
    return ItemRow(ext, labels or {}, list(signals), "tester", "unit-test", T0, enabled)


def _pdq_signal(n: int) -> SignalRow:
    value = _pdq(n)
    return SignalRow("pdq", value, bytes.fromhex(value), {"quality": 90})


def _bank(store: Repository, name: str = "demo", types: list[str] | None = None) -> int:
    bank = store.create_bank(NewBank(name, "known", {"entity": "demo-entity"}, types or ["pdq", "md5", "text"]))
    return bank.id


def test_store_implements_the_repository_protocol(store: Repository) -> None:
    assert isinstance(store, Repository)


def test_bank_round_trip_and_unique_name(store: Repository) -> None:
    created = store.create_bank(NewBank("news", "allow", {"language": "ar"}, ["pdq"], pdq_max_distance=20))
    got = store.get_bank("news")
    assert got == created
    assert (got.kind, got.default_labels, got.signal_types, got.pdq_max_distance) == (
        "allow", {"language": "ar"}, ["pdq"], 20)
    assert got.created_at.tzinfo is not None
    with pytest.raises(Conflict, match="already exists"):
        store.create_bank(NewBank("news", "known", {}, ["pdq"]))
    assert [b.name for b in store.list_banks()] == ["news"]


def test_add_items_stores_signals_and_is_idempotent(store: Repository) -> None:
    bank_id = _bank(store)
    first = store.add_items(bank_id, [_item("a", _pdq_signal(1)),
                                      _item("b", _pdq_signal(2), SignalRow("md5", "f" * 32))])
    assert sorted(first.added) == ["a", "b"] and first.duplicates == []
    again = store.add_items(bank_id, [_item("b", _pdq_signal(9)), _item("c", _pdq_signal(3)),
                                      _item("c", _pdq_signal(4))])
    assert list(again.added) == ["c"]
    assert sorted(again.duplicates) == ["b", "c"]
    item_b = store.get_item(bank_id, "b")
    assert item_b is not None
    assert [(s.signal_type, s.value) for s in item_b.signals] == [("pdq", _pdq(2)), ("md5", "f" * 32)]
    assert item_b.signals[0].pdq == bytes.fromhex(_pdq(2)) and item_b.signals[0].extra == {"quality": 90}
    assert item_b.added_at == T0 and item_b.added_by == "tester" and item_b.source == "unit-test"
    assert store.count_items(bank_id) == {"items": 3, "enabled": 3, "pdq": 3, "md5": 1}


def test_same_external_id_in_two_banks_is_two_items(store: Repository) -> None:
    one, two = _bank(store, "one"), _bank(store, "two")
    assert store.add_items(one, [_item("x", _pdq_signal(1))]).added
    assert store.add_items(two, [_item("x", _pdq_signal(1))]).added


def test_iter_signals_skips_disabled_items_and_banks_without_the_type(store: Repository) -> None:
    bank_id = _bank(store)
    no_pdq = _bank(store, "md5-only", ["md5"])
    store.add_items(bank_id, [_item(f"i{n}", _pdq_signal(n)) for n in range(25)])
    store.add_items(no_pdq, [_item("z", _pdq_signal(99))])
    assert store.set_item_enabled(bank_id, "i3", False) is True
    assert store.set_item_enabled(bank_id, "i3", False) is False
    batches = list(store.iter_signals("pdq", batch_size=10))
    values = [s.value for batch in batches for s in batch]
    assert [len(b) for b in batches] == [10, 10, 4]
    assert sorted(values) == sorted(_pdq(n) for n in range(25) if n != 3)
    with_disabled = [s for b in store.iter_signals("pdq", include_disabled=True) for s in b]
    assert len(with_disabled) == 25
    pdq = list(store.iter_pdq(batch_size=7))
    raw = b"".join(b.hashes for b in pdq)
    assert len(raw) == 24 * 32 and sum(len(b.item_ids) for b in pdq) == 24
    assert bytes.fromhex(_pdq(0)) in {raw[i : i + 32] for i in range(0, len(raw), 32)}


def test_find_signals_exact_lookup(store: Repository) -> None:
    bank_id = _bank(store)
    store.add_items(bank_id, [_item("a", SignalRow("md5", "a" * 32)), _item("b", SignalRow("md5", "b" * 32))])
    found = store.find_signals("md5", ["b" * 32, "c" * 32])
    assert [(s.value, s.bank_id) for s in found] == [("b" * 32, bank_id)]
    store.set_item_enabled(bank_id, "b", False)
    assert store.find_signals("md5", ["b" * 32]) == []


def test_change_log_follows_every_change_with_a_cursor(store: Repository) -> None:
    start = store.last_change_id()
    bank_id = _bank(store)
    added = store.add_items(bank_id, [_item("a", _pdq_signal(1)), _item("b", _pdq_signal(2))]).added
    store.set_item_enabled(bank_id, "a", False)
    store.set_item_enabled(bank_id, "a", True)
    store.set_item_labels(bank_id, "b", {"tags": ["x"]})
    store.delete_item(bank_id, "b")
    store.delete_bank(bank_id)
    changes = store.changes_since(start)
    assert [(c.op, c.item_id) for c in changes] == [
        ("add", None),  # the bank
        ("add", added["a"]), ("add", added["b"]), ("disable", added["a"]), ("enable", added["a"]),
        ("update", added["b"]), ("delete", added["b"]),
        ("delete", added["a"]), ("delete", None),  # a deleted bank names each item it still had
    ]
    assert [c.id for c in changes] == sorted(c.id for c in changes)
    assert store.changes_since(changes[4].id, limit=2) == changes[5:7]
    assert store.last_change_id() == changes[-1].id


def test_delete_bank_cascades_items_and_signals(store: Repository) -> None:
    bank_id = _bank(store)
    store.add_items(bank_id, [_item("a", _pdq_signal(1), SignalRow("md5", "a" * 32))])
    store.delete_bank(bank_id)
    assert store.get_bank("demo") is None
    assert list(store.iter_signals("pdq", include_disabled=True)) == []
    # a new bank with the same name starts empty
    new_id = _bank(store)
    assert store.count_items(new_id) == {"items": 0, "enabled": 0}
    with pytest.raises(NotFound):
        store.delete_bank(bank_id)


def test_missing_items_raise_not_found(store: Repository) -> None:
    bank_id = _bank(store)
    assert store.get_item(bank_id, "nope") is None
    with pytest.raises(NotFound):
        store.set_item_enabled(bank_id, "nope", False)
    with pytest.raises(NotFound):
        store.add_items(bank_id + 1000, [_item("a", _pdq_signal(1))])


def test_iter_items_and_get_items(store: Repository) -> None:
    bank_id = _bank(store)
    ids = store.add_items(bank_id, [_item(f"i{n}", _pdq_signal(n), labels={"tags": [str(n)]}) for n in range(5)]).added
    items = list(store.iter_items(bank_id, batch_size=2))
    assert [i.external_id for i in items] == [f"i{n}" for n in range(5)]
    assert items[4].labels == {"tags": ["4"]}
    got = store.get_items([ids["i1"], ids["i3"], 10**9])
    assert sorted(i.external_id for i in got.values()) == ["i1", "i3"]


def test_list_items_filters_by_labels_dates_and_state(store: Repository) -> None:
    bank_id = _bank(store)
    day = timedelta(days=1)
    rows = [
        ItemRow("plain", {}, [_pdq_signal(1)], "tester", None, T0),
        ItemRow("tagged", {"tags": ["weather", "rain"], "entity": "other-entity"}, [_pdq_signal(2)], "tester",
                None, T0 + day),
        ItemRow("entity", {"entity": "demo-entity"}, [_pdq_signal(3)], "tester", None, T0 + 2 * day, False),
    ]
    store.add_items(bank_id, rows)

    def ext(**filters: object) -> list[str]:
        return [i.external_id for i in store.list_items(bank_id, **filters)]  # type: ignore[arg-type]

    assert ext() == ["plain", "tagged", "entity"]
    assert ext(limit=2) == ["plain", "tagged"]
    first = store.list_items(bank_id, limit=1)[0]
    assert ext(after_id=first.id) == ["tagged", "entity"]
    assert ext(labels=[("tags", "rain", False)]) == ["tagged"]
    assert ext(labels=[("entity", "demo-entity", False)]) == ["entity"]
    # the bank's default label matches: items that do not replace it match too
    assert ext(labels=[("entity", "demo-entity", True)]) == ["plain", "entity"]
    assert ext(labels=[("tags", "weather", True)]) == ["plain", "tagged", "entity"]  # list labels unite
    assert ext(added_after=T0 + day) == ["tagged", "entity"]
    assert ext(added_before=T0 + day) == ["plain"]
    assert ext(enabled=False) == ["entity"]
    assert ext(disputed=False) == ["plain", "tagged", "entity"] and ext(disputed=True) == []
    with pytest.raises(InvalidInput):
        ext(labels=[("Bad Key", "x", False)])


def test_scan_jobs_keep_results_per_job_and_clear(store: Repository) -> None:
    a, b = "ab" * 32, "cd" * 32
    assert store.record_scan("june", a, [{"input": "a.jpg", "matches": []}]) is True
    assert store.record_scan("june", a, [{"input": "a.jpg", "matches": [1]}]) is False  # first result kept
    assert store.record_scan("june", b, [{"input": "b.jpg", "matches": []}]) is True
    assert store.record_scan("july", a, [{"input": "a.jpg", "matches": []}]) is True
    assert store.scanned("june", [a, b, "ef" * 32]) == {a, b}
    assert store.scanned("august", [a]) == set()
    got = list(store.iter_scan_results("june"))
    assert [(r.sha256, r.results[0]["input"], r.results[0]["matches"]) for r in got] == [
        (a, "a.jpg", []), (b, "b.jpg", [])]
    assert [(j.name, j.inputs) for j in store.list_scan_jobs()] == [("july", 1), ("june", 2)]
    assert store.clear_scan_job("june") == 2
    assert store.scanned("june", [a, b]) == set() and store.scanned("july", [a]) == {a}


def test_item_previews_are_stored_and_follow_their_item(store: Repository) -> None:
    from tahaluf.storage import ItemPreviewRecord

    bank_id = _bank(store)
    ids = store.add_items(bank_id, [_item(f"i{n}", _pdq_signal(n)) for n in range(2)]).added
    store.set_item_previews([ItemPreviewRecord(ids["i0"], image=b"\xff\xd8jpeg"),
                             ItemPreviewRecord(ids["i1"], text="نشرة الطقس")])
    got = store.get_item_previews([ids["i0"], ids["i1"], 10**9])
    assert got[ids["i0"]].image == b"\xff\xd8jpeg" and got[ids["i1"]].text == "نشرة الطقس"
    assert store.delete_item(bank_id, "i0")
    assert set(store.get_item_previews([ids["i0"], ids["i1"]])) == {ids["i1"]}


def test_migration_0007_moves_the_old_scan_log_to_the_default_job(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from tahaluf.storage.engine import _alembic_config, create_engine_for, resolve_url

    engine = create_engine_for(resolve_url(db_url))
    cfg = _alembic_config()
    with engine.connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")  # a store of the previous version, with one scanned input
        conn.execute(text("INSERT INTO scan_log (sha256, scanned_at, result) VALUES (:s, :t, :r)"),
                     {"s": "ab" * 32, "t": "2026-01-01T00:00:00+00:00", "r": '{"input": "x.jpg", "matches": 0}'})
    engine.dispose()
    with open_store(db_url) as s:
        assert s.scanned("default", ["ab" * 32]) == {"ab" * 32}
        [rec] = list(s.iter_scan_results("default"))
        assert rec.results is None and rec.scanned_at.year == 2026


def test_reopen_keeps_data_and_does_not_remigrate(db_url: str) -> None:
    with open_store(db_url) as s:
        _bank(s)
    with open_store(db_url) as s:
        assert [b.name for b in s.list_banks()] == ["demo"]


def test_long_text_values_are_stored(store: Repository) -> None:
    bank_id = _bank(store)
    long_text = "text:v1:" + "0123456789abcdef" * 1000
    store.add_items(bank_id, [_item("t", SignalRow("text", long_text))])
    assert [s.value for b in store.iter_signals("text") for s in b] == [long_text]


# -- SQLite specifics --------------------------------------------------------------
def test_sqlite_settings(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "x.db"
    with open_store(f"sqlite:///{path}", create_dirs=True) as s:  # the folders are made on request
        _bank(s)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'x.db'}") as s:
        bank_id = _bank(s)
        s.add_items(bank_id, [_item("a", _pdq_signal(1))])
        s.delete_bank(bank_id)
    conn = sqlite3.connect(tmp_path / "x.db")
    assert conn.execute("SELECT count(*) FROM item_signals").fetchone()[0] == 0
    conn.close()


def test_locked_database_gives_a_clear_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with open_store(f"sqlite:///{path}", busy_timeout_s=0.05) as s:
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageError, match="database is locked"):
                _bank(s)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert s.list_banks() == []


def test_unopenable_and_non_database_files_give_storage_errors(tmp_path: Path) -> None:
    not_db = tmp_path / "notes.txt"
    not_db.write_text("shopping list: rice, lentils, tomatoes\n" * 200)
    with pytest.raises(StorageError, match="not a SQLite database"):
        open_store(f"sqlite:///{not_db}")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="does not exist"):  # a mistyped path is not created
        open_store(f"sqlite:///{blocker / 'x.db'}")
    with pytest.raises(StorageError, match="cannot create the directory"):
        open_store(f"sqlite:///{blocker / 'x.db'}", create_dirs=True)


def test_read_only_database_gives_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    with open_store(f"sqlite:///{path}"):
        pass
    with open_store(f"sqlite:///file:{path}?mode=ro&uri=true") as s, pytest.raises(StorageError, match="read-only"):
        _bank(s)


def test_urls_are_resolved() -> None:
    assert resolve_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert resolve_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert resolve_url(None).get_backend_name() == "sqlite"
    assert str(resolve_url(None).database).endswith("tahaluf.db")
    with pytest.raises(StorageError, match="not a database URL"):
        resolve_url("not a url")


def test_unreachable_server_gives_storage_error() -> None:
    with pytest.raises(StorageError, match="cannot use database"):
        open_store("postgresql://postgres:secret@127.0.0.1:1/none?connect_timeout=2")


def _exact_index_sql(db_url: str) -> str:
    from sqlalchemy import text

    from tahaluf.storage.engine import create_engine_for, resolve_url

    engine = create_engine_for(resolve_url(db_url))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'ix_item_signals_exact'"))
        else:
            found = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_item_signals_exact' "
                                      "AND schemaname = current_schema()"))
        sql = found.scalar_one()
    engine.dispose()
    return str(sql)


def test_url_md5_is_an_exact_type_across_migration_0012(db_url: str) -> None:
    """url_md5 signals are stored, streamed and looked up exactly (in banks enabling ``url``), and
    migration 0012 puts them in the exact-value index of a store that holds data, both ways."""
    from alembic import command

    from tahaluf.storage.engine import _alembic_config, create_engine_for, resolve_url

    value = "95c3a3934d38b06959d4f6d5bfe48a79"
    with open_store(db_url) as s:
        bank_id = _bank(s, "links", ["url"])  # listed before url_md5 existed: it comes with url
        s.add_items(bank_id, [_item("link-1", SignalRow("url_md5", value), SignalRow("md5", "ab" * 16))])
    assert "url_md5" in _exact_index_sql(db_url)
    engine = create_engine_for(resolve_url(db_url))
    cfg = _alembic_config()
    with engine.connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    engine.dispose()
    assert "url_md5" not in _exact_index_sql(db_url) and "'url'" in _exact_index_sql(db_url)
    with open_store(db_url) as s:  # upgrades again, the data kept
        assert "url_md5" in _exact_index_sql(db_url)
        assert s.items_with_signal(bank_id, "url_md5", [value, "0" * 32]) == {value: "link-1"}
        assert [r.value for batch in s.iter_signals("url_md5") for r in batch] == [value]
        assert [r.value for batch in s.iter_signals("md5") for r in batch] == []  # md5 is not enabled
