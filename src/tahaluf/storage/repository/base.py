"""The bank repository's records and protocol, now in :mod:`tahaluf.ports.banks`.

Re-exported here for the modules that still import them from storage.
"""

from tahaluf.ports.banks import (
    AddOutcome,
    BankRecord,
    BankRepository,
    ChangeRecord,
    ItemPreviewRecord,
    ItemRecord,
    ItemRow,
    NewBank,
    PdqBatch,
    Repository,
    ScanJobRecord,
    ScanRecord,
    SignalRecord,
    SignalRow,
)

__all__ = [
    "AddOutcome",
    "BankRecord",
    "BankRepository",
    "ChangeRecord",
    "ItemPreviewRecord",
    "ItemRecord",
    "ItemRow",
    "NewBank",
    "PdqBatch",
    "Repository",
    "ScanJobRecord",
    "ScanRecord",
    "SignalRecord",
    "SignalRow",
]
