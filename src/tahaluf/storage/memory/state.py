"""The state all in-memory stores share, and its unit of work.

One :class:`MemoryState` holds every table as plain Python containers. Each
operation of a memory store runs inside :meth:`MemoryState.change`: the
outermost change snapshots the state and restores it if the block raises, so
a change and its audit entries commit together, as on SQL. Nested changes
join the open one. A re-entrant lock serialises threads. Each outermost
change copies the whole state (simple and obviously all-or-nothing): meant
for tests and small trials, not for large banks.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tahaluf.audit import AuditRecord, SignedHead
from tahaluf.ports.clock import Clock, SystemClock
from tahaluf.ports.transactions import AuditNote

__all__ = ["MemoryChange", "MemoryState", "MemoryUnitOfWork", "Tables"]


@dataclass
class Tables:
    """Every "table" of a memory store; rows are dicts keyed by id."""

    banks: dict[int, dict[str, Any]] = field(default_factory=dict)
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    signals: dict[int, dict[str, Any]] = field(default_factory=dict)
    changes: dict[int, tuple[int, int | None, str, datetime]] = field(default_factory=dict)
    scans: list[dict[str, Any]] = field(default_factory=list)
    previews: dict[int, tuple[bytes | None, str | None]] = field(default_factory=dict)
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    keys: dict[int, dict[str, Any]] = field(default_factory=dict)
    shares: dict[int, set[int]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    signed: list[SignedHead] = field(default_factory=list)
    #: (item id, member id) -> (opinion, reason, updated at, row id)
    feedback: dict[tuple[int, int], tuple[str, str, datetime, int]] = field(default_factory=dict)
    feed: dict[int, dict[str, Any]] = field(default_factory=dict)
    submissions: dict[int, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    decisions: dict[int, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    deliveries: dict[int, dict[str, Any]] = field(default_factory=dict)
    evidence_blobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: submission id -> its evidence link
    evidence: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: the last id handed out per table (ids are never reused, as on SQL)
    last_ids: dict[str, int] = field(default_factory=dict)


class MemoryState:
    """The data of one in-memory "database"."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.database_id = uuid.uuid4().hex
        self.tables = Tables()
        self._lock = threading.RLock()
        self._depth = 0

    def next_id(self, table: str) -> int:
        value = self.tables.last_ids.get(table, 0) + 1
        self.tables.last_ids[table] = value
        return value

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def change(self) -> Iterator[Tables]:
        """The tables, changed all or nothing (nested calls join the outer change)."""
        with self._lock:
            snapshot = copy.deepcopy(self.tables) if self._depth == 0 else None
            self._depth += 1
            try:
                yield self.tables
            except BaseException:
                if snapshot is not None:
                    self.tables = snapshot
                raise
            finally:
                self._depth -= 1

    @contextmanager
    def read(self) -> Iterator[Tables]:
        """The tables, for reading under the lock."""
        with self._lock:
            yield self.tables


class MemoryChange:
    """An open memory change; audit entries go to the shared audit log."""

    def __init__(self, state: MemoryState, append_audit: Any) -> None:
        self._state = state
        self._append_audit = append_audit

    @property
    def conn(self) -> Any:
        return self._state.tables

    def audit(self, note: AuditNote) -> None:
        self._append_audit(note.actor, note.action, note.target, dict(note.details))


class MemoryUnitOfWork:
    """Changes of one memory state, with audit entries appended by ``append_audit``."""

    def __init__(self, state: MemoryState, append_audit: Any) -> None:
        self._state = state
        self._append_audit = append_audit

    @contextmanager
    def change(self) -> Iterator[MemoryChange]:
        with self._state.change():
            yield MemoryChange(self._state, self._append_audit)
