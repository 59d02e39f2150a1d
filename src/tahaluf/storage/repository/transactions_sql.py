"""The unit of work on SQL: one database transaction per change, audit entries inside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tahaluf.ports.transactions import AuditNote
from tahaluf.storage.repository.hub_sql import HubStore

__all__ = ["SqlChange", "SqlUnitOfWork"]


class SqlChange:
    """An open SQL change: its connection, and audit entries appended in it."""

    def __init__(self, hubstore: HubStore, conn: Any) -> None:
        self._hubstore = hubstore
        self._conn = conn

    @property
    def conn(self) -> Any:
        return self._conn

    def audit(self, note: AuditNote) -> None:
        self._hubstore.append_audit(note.actor, note.action, note.target, dict(note.details), conn=self._conn)


class SqlUnitOfWork:
    """Changes of one hub database (nested changes join the open transaction)."""

    def __init__(self, hubstore: HubStore) -> None:
        self._hubstore = hubstore

    @contextmanager
    def change(self) -> Iterator[SqlChange]:
        with self._hubstore.store.transaction() as conn:
            yield SqlChange(self._hubstore, conn)
