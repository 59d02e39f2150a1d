"""The storage interface (:class:`Repository`) and its SQLAlchemy implementation."""

from tahaluf.storage.repository.base import (
    AddOutcome,
    BankRecord,
    ChangeRecord,
    ItemRecord,
    ItemRow,
    NewBank,
    PdqBatch,
    Repository,
    ItemPreviewRecord,
    ScanJobRecord,
    ScanRecord,
    SignalRecord,
    SignalRow,
)
from tahaluf.storage.repository.sql import Store

__all__ = [
    "AddOutcome",
    "BankRecord",
    "ChangeRecord",
    "ItemRecord",
    "ItemRow",
    "NewBank",
    "PdqBatch",
    "Repository",
    "ItemPreviewRecord",
    "ScanJobRecord",
    "ScanRecord",
    "SignalRecord",
    "SignalRow",
    "Store",
]
