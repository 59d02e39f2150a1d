"""Banks and items on the wire (``/v1/banks...``, ``tahaluf bank ... --json``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tahaluf.banks import ImportReport
from tahaluf.ports.banks import BankRecord
from tahaluf.services.banks import BankView, Transferred
from tahaluf.services.curation import ItemView

__all__ = ["BankOut", "BankList", "ItemErrorOut", "AddReport", "ItemOut", "ItemPageOut", "StoredBankOut",
           "TransferredOut", "bank_out", "bank_list_out", "report_out", "item_out", "item_page_out",
           "stored_bank_out", "transferred_out"]


class BankOut(BaseModel):
    name: str
    kind: str
    owner: str | None
    visibility: str
    shared_with: list[str]
    default_labels: dict[str, Any]
    signal_types: list[str]
    pdq_max_distance: int
    created_at: str
    counts: dict[str, int] | None = None


class BankList(BaseModel):
    banks: list[BankOut]


class ItemErrorOut(BaseModel):
    position: int
    external_id: str | None
    message: str


class AddReport(BaseModel):
    imported: int
    duplicates: int
    errors: list[ItemErrorOut]


class ItemOut(BaseModel):
    item_id: int
    external_id: str
    labels: dict[str, Any]
    own_labels: dict[str, Any]
    enabled: bool
    added_by: str
    source: str | None
    added_at: str
    disputed: bool | None = None
    signals: list[dict[str, Any]] = Field(default_factory=list)


class ItemPageOut(BaseModel):
    items: list[ItemOut]
    next_after: int | None = None


class StoredBankOut(BaseModel):
    """A bank as the hub operator sees it on the command line (by stored key, with counts)."""

    name: str
    kind: str
    default_labels: dict[str, Any]
    signal_types: list[str]
    pdq_max_distance: int
    owner: str | None
    visibility: str
    created_at: str
    counts: dict[str, int]


class TransferredOut(BaseModel):
    bank: str
    owner: str | None


def bank_out(view: BankView) -> BankOut:
    return BankOut.model_validate(view.to_json())


def bank_list_out(views: list[BankView]) -> BankList:
    return BankList(banks=[bank_out(v) for v in views])


def report_out(report: ImportReport) -> AddReport:
    return AddReport.model_validate({
        "imported": report.imported,
        "duplicates": report.duplicates,
        "errors": [{"position": e.line, "external_id": e.external_id, "message": e.message} for e in report.errors],
    })


def item_out(view: ItemView) -> ItemOut:
    item = view.record
    return ItemOut(item_id=item.id, external_id=item.external_id, labels=view.labels, own_labels=item.labels,
                   enabled=item.enabled, added_by=item.added_by, source=item.source,
                   added_at=item.added_at.isoformat(), disputed=view.disputed,
                   signals=[{"type": s.signal_type, "value": s.value} for s in item.signals])


def item_page_out(items: list[ItemView], next_after: int | None) -> ItemPageOut:
    return ItemPageOut(items=[item_out(i) for i in items], next_after=next_after)


def stored_bank_out(bank: BankRecord, counts: dict[str, int]) -> StoredBankOut:
    return StoredBankOut(name=bank.name, kind=bank.kind, default_labels=bank.default_labels,
                         signal_types=bank.signal_types, pdq_max_distance=bank.pdq_max_distance, owner=bank.owner,
                         visibility=bank.visibility, created_at=bank.created_at.isoformat(), counts=counts)


def transferred_out(moved: Transferred) -> TransferredOut:
    return TransferredOut(bank=moved.bank, owner=moved.owner)
