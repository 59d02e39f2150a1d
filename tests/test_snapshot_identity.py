"""A PDQ snapshot answers only for the database it was made from, as it is now
(issue 9, point 14), on SQLite and PostgreSQL.

The snapshot folder is chosen by URL, so after a backup of the database is
restored (a copied file; ``pg_dump`` / ``pg_restore``) and items are added, the
old snapshot sits next to a database whose item ids mean other items. The
snapshot records the database's identity and its change-log entry at the
snapshot's cursor; a restored older copy or another database must lead to a
rebuild, never to matches from the stale index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from tahaluf import banks
from tahaluf.banks import NewItem
from tahaluf.services.matching import MatchEngine
from tahaluf.signals.base import Signal
from tahaluf.storage import open_store, resolve_url
from tahaluf.storage.engine import MIGRATIONS_DIR, create_engine_for

LABELS = {"entity": "demo-entity"}
#: three PDQ hashes far apart (more than 31 bits from each other)
BASE, GONE, FRESH = "0" * 64, "f" * 64, "0f" * 32


@dataclass
class Backups:
    """``save()`` takes a backup of the database, ``restore()`` puts it back (nothing open)."""

    url: str
    save: Callable[[], None]
    restore: Callable[[], None]


def _sqlite_backups(tmp_path: Path) -> Iterator[Backups]:
    db = tmp_path / "hub.db"
    saved = tmp_path / "backup.db"

    def save() -> None:
        shutil.copyfile(db, saved)  # the store is closed: its WAL is checkpointed into the file

    def restore() -> None:
        for extra in ("-wal", "-shm"):
            Path(f"{db}{extra}").unlink(missing_ok=True)
        shutil.copyfile(saved, db)

    yield Backups(f"sqlite:///{db}", save, restore)


def _pg_backups(tmp_path: Path) -> Iterator[Backups]:
    from conftest import PG_ADMIN, pg_schema_url

    tools = [shutil.which("pg_dump"), shutil.which("pg_restore")]
    if None in tools:
        if os.environ.get("CI") == "true":
            pytest.fail("pg_dump and pg_restore are needed under CI")
        pytest.skip("pg_dump or pg_restore not installed")
    schemas = pg_schema_url()
    url = next(schemas)
    schema = parse_qs(urlsplit(url).query)["options"][0].split("=", 1)[1]
    dump = tmp_path / "backup.dump"
    base = ["--dbname", PG_ADMIN]

    def run(*args: str) -> None:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    def save() -> None:
        run(tools[0] or "pg_dump", *base, "--schema", schema, "--format", "custom", "--file", str(dump))

    def restore() -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        run(tools[1] or "pg_restore", *base, str(dump))

    try:
        yield Backups(url, save, restore)
    finally:
        schemas.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backups(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backups]:
    yield from (_sqlite_backups(tmp_path) if request.param == "sqlite" else _pg_backups(tmp_path))


def _add(url: str, external_id: str, pdq: str) -> None:
    with open_store(url) as store:
        report = banks.add_items(store, "weather", [NewItem(external_id, [Signal("pdq", pdq)], LABELS)])
        assert report.imported == 1


def _matches(engine: MatchEngine, pdq: str) -> list[str]:
    return [m.external_id for m in engine.match([Signal("pdq", pdq)])]


def test_a_restored_backup_is_not_answered_from_a_stale_snapshot(backups: Backups, tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    with open_store(backups.url) as store:
        banks.create_bank(store, "weather", "known", LABELS)
    _add(backups.url, "base", BASE)
    backups.save()
    _add(backups.url, "gone", GONE)  # after the backup: lost by the restore
    with open_store(backups.url) as store:
        engine = MatchEngine(store).load()
        assert _matches(engine, GONE) == ["gone"]
        engine.save_snapshot(snap)
    backups.restore()
    _add(backups.url, "fresh", FRESH)  # takes the id "gone" had
    with open_store(backups.url) as store:
        cold = MatchEngine(store).load(snapshot_dir=snap)
        assert _matches(cold, GONE) == [], "a hash no longer in the database matched"
        assert _matches(cold, FRESH) == ["fresh"]
        assert cold.snapshot_cursor is None, "the stale snapshot was used"
        assert _matches(cold, BASE) == ["base"]
        # the rebuilt snapshot is used by the next cold start, and answers the same
        cold.save_snapshot(snap)
        again = MatchEngine(store).load(snapshot_dir=snap)
        assert again.snapshot_cursor is not None
        assert (_matches(again, GONE), _matches(again, FRESH)) == ([], ["fresh"])


def test_a_snapshot_of_this_database_is_still_used_after_more_changes(store, tmp_path: Path) -> None:  # noqa: ANN001
    banks.create_bank(store, "weather", "known", LABELS)
    banks.add_items(store, "weather", [NewItem("base", [Signal("pdq", BASE)], LABELS)])
    MatchEngine(store).load().save_snapshot(tmp_path / "snap")
    banks.add_items(store, "weather", [NewItem("fresh", [Signal("pdq", FRESH)], LABELS)])
    cold = MatchEngine(store).load(snapshot_dir=tmp_path / "snap")
    assert cold.snapshot_cursor is not None
    assert (_matches(cold, BASE), _matches(cold, FRESH)) == (["base"], ["fresh"])


def test_databases_have_their_own_identity(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / name}" for name in ("one.db", "two.db")]
    marks = []
    for url in urls:
        with open_store(url) as store:
            marks.append(store.log_mark(0))
            assert store.log_mark(0) == marks[-1]  # stable
    assert marks[0] != marks[1]


def test_upgrading_an_existing_database_gives_it_an_identity(db_url: str) -> None:
    engine = create_engine_for(resolve_url(db_url))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn, conn.begin():  # a database of the previous schema, with a bank
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(text("INSERT INTO banks (name, kind, default_labels, signal_types, pdq_max_distance, "
                          "created_at, visibility) VALUES ('weather', 'known', '{}', '[\"pdq\"]', 31, "
                          "'2024-05-01 07:00:00', 'all')"))
    engine.dispose()
    with open_store(db_url) as store:
        assert [b.name for b in store.list_banks()] == ["weather"]
        with store.connection() as conn:
            ids = conn.execute(text("SELECT value FROM store_meta WHERE key = 'database_id'")).scalars().all()
        assert len(ids) == 1 and len(ids[0]) == 32
        assert store.log_mark(0) == store.log_mark(0)
