"""The bank repository port: banks, items, signals and the change log, and their records.

:class:`BankRepository` is a :class:`typing.Protocol`; :class:`Repository` adds
the scan log (:class:`~tahaluf.ports.scanlog.ScanLog`). The SQL store
(:class:`tahaluf.storage.Store`, SQLite or PostgreSQL) and the in-memory one
(:class:`tahaluf.storage.memory.MemoryRepository`) implement it and are checked
by one contract suite (``tests/test_storage_contract.py``) run against all three.
Records are plain frozen dataclasses; nothing here imports SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tahaluf.ports.scanlog import ItemPreviewRecord, ScanJobRecord, ScanLog, ScanRecord

__all__ = [
    "BankRecord",
    "NewBank",
    "ItemRow",
    "SignalRow",
    "ItemRecord",
    "SignalRecord",
    "AddOutcome",
    "ChangeRecord",
    "PdqBatch",
    "BankRepository",
    "Repository",
    # re-exported from tahaluf.ports.scanlog
    "ScanRecord",
    "ScanJobRecord",
    "ItemPreviewRecord",
    "ScanLog",
]


@dataclass(frozen=True, slots=True)
class NewBank:
    name: str
    kind: str
    default_labels: dict[str, Any]
    signal_types: list[str]
    pdq_max_distance: int = 31
    owner: str | None = None
    visibility: str = "all"


@dataclass(frozen=True, slots=True)
class BankRecord:
    id: int
    name: str
    kind: str
    default_labels: dict[str, Any]
    signal_types: list[str]
    pdq_max_distance: int
    created_at: datetime
    owner: str | None = None
    #: ``private`` (owner only), ``members`` (owner and listed members), ``all``
    visibility: str = "all"


@dataclass(frozen=True, slots=True)
class SignalRow:
    """A validated signal ready to store; ``pdq`` holds the 32 raw bytes for PDQ."""

    signal_type: str
    value: str
    pdq: bytes | None = None
    extra: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ItemRow:
    """A validated bank item ready to store."""

    external_id: str
    labels: dict[str, Any]
    signals: Sequence[SignalRow]
    added_by: str
    source: str | None
    added_at: datetime
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """One stored signal, as streamed for index building."""

    id: int
    item_id: int
    bank_id: int
    signal_type: str
    value: str
    pdq: bytes | None = None
    extra: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ItemRecord:
    id: int
    bank_id: int
    external_id: str
    labels: dict[str, Any]
    added_by: str
    source: str | None
    added_at: datetime
    enabled: bool
    signals: tuple[SignalRow, ...] = ()


@dataclass(frozen=True, slots=True)
class AddOutcome:
    """What one ``add_items`` call stored: new item ids by external id, and duplicates."""

    added: dict[str, int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One change_log entry; ``item_id`` None means the whole bank."""

    id: int
    bank_id: int
    item_id: int | None
    op: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PdqBatch:
    """PDQ hashes for index building: ``hashes`` is ``len(item_ids) * 32`` bytes."""

    item_ids: list[int]
    bank_ids: list[int]
    hashes: bytes


@runtime_checkable
class BankRepository(Protocol):
    """Everything the bank domain needs from storage: banks, items, signals, the change log.

    Every method is its own transaction, unless called inside
    ``with repo.transaction():``, which they then join (so several changes,
    and the audit entry that records them, commit together). Errors are
    tahaluf errors only: ``Conflict`` for a duplicate bank name, ``NotFound``
    for a missing bank, ``StorageError`` for everything the database reports.
    """

    def transaction(self) -> Any: ...

    def create_bank(self, bank: NewBank, *, conn: Any = None) -> BankRecord: ...

    def get_bank(self, name: str) -> BankRecord | None: ...

    def list_banks(self) -> list[BankRecord]: ...

    def update_bank(
        self,
        bank_id: int,
        *,
        default_labels: dict[str, Any] | None = None,
        signal_types: list[str] | None = None,
        pdq_max_distance: int | None = None,
        visibility: str | None = None,
    ) -> BankRecord: ...

    def delete_bank(self, bank_id: int) -> None: ...

    def count_items(self, bank_id: int) -> dict[str, int]: ...

    def add_items(self, bank_id: int, items: Sequence[ItemRow]) -> AddOutcome: ...

    def get_item(self, bank_id: int, external_id: str) -> ItemRecord | None: ...

    def get_items(self, item_ids: Iterable[int]) -> dict[int, ItemRecord]: ...

    def iter_items(self, bank_id: int, *, batch_size: int = 1000) -> Iterator[ItemRecord]: ...

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
        """One page of a bank's items in id order, filtered. ``labels`` are ``(key, value,
        default_matches)``: the item's own label ``key`` is or contains ``value``, or, when
        the bank's default label matches, the item does not replace it (list labels unite)."""
        ...

    def set_item_enabled(self, bank_id: int, external_id: str, enabled: bool) -> bool: ...

    def set_item_labels(self, bank_id: int, external_id: str, labels: dict[str, Any]) -> bool: ...

    def delete_item(self, bank_id: int, external_id: str) -> bool: ...

    def iter_signals(
        self,
        signal_type: str,
        *,
        bank_ids: Sequence[int] | None = None,
        include_disabled: bool = False,
        batch_size: int = 10_000,
    ) -> Iterator[list[SignalRecord]]: ...

    def iter_pdq(self, *, bank_ids: Sequence[int] | None = None, batch_size: int = 50_000) -> Iterator[PdqBatch]: ...

    def find_signals(self, signal_type: str, values: Sequence[str]) -> list[SignalRecord]: ...

    def items_with_signal(self, bank_id: int, signal_type: str, values: Sequence[str]) -> dict[str, str]:
        """``{value: external id}`` of items of one bank (enabled or not) holding an
        exact-type signal with one of ``values`` (the first item per value)."""
        ...

    def changes_since(self, cursor: int, *, limit: int = 10_000) -> list[ChangeRecord]: ...

    def changes_in(self, ids: Sequence[int]) -> list[ChangeRecord]: ...

    def last_change_id(self) -> int: ...

    def log_mark(self, change_id: int) -> str: ...

    def close(self) -> None: ...


@runtime_checkable
class Repository(BankRepository, ScanLog, Protocol):
    """The bank repository with the scan log: what the scanning and reporting services use."""
