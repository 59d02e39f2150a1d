"""The plumbing of the SQL store: engine, transactions that nest, errors translated.

Every part of :class:`~tahaluf.storage.Store` (banks and items, listings,
signals, the change log, scan jobs) derives from :class:`SqlBase`, so all of
them share its connections and its open write transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from tahaluf.errors import NotFound
from tahaluf.ports.clock import now
from tahaluf.storage.engine import WRITE, describe_url, translate_errors
from tahaluf.storage.models import Bank, ChangeLog, table
from tahaluf.storage.repository.base import BankRecord
from tahaluf.storage.repository.rows import bank_record

__all__ = ["SqlBase"]

_banks = table(Bank)
_changes = table(ChangeLog)


class SqlBase:
    """A connection to a tahaluf database and its transactions."""

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

    def __enter__(self) -> Self:
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
        conn.execute(insert(_changes).values(bank_id=bank_id, item_id=item_id, op=op, at=now()))

    def _bank_by_id(self, conn: Connection, bank_id: int) -> BankRecord:
        row = conn.execute(select(_banks).where(_banks.c.id == bank_id)).first()
        if row is None:
            raise NotFound(f"no bank with id {bank_id}")
        return bank_record(row)

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
