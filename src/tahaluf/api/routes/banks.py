"""Banks and their items: ``/v1/banks`` and ``/v1/banks/{name}/items``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from tahaluf import jsonbound
from tahaluf.access import Capability, Principal
from tahaluf.api.deps import get_hub, require
from tahaluf.api.routes.common import SIGNAL_TYPE, SignalIn, Strict, make_router
from tahaluf.api.routes.matching import hash_upload, _content_error
from tahaluf.banks import ImportReport, NewItem, bank_stats
from tahaluf.errors import InvalidInput
from tahaluf.services import accounts, curation
from tahaluf.services.banking import bank_signals_of
from tahaluf.services.hashing import HashOptions
from tahaluf.services.hub import Hub
from tahaluf.signals.base import Signal

router = make_router("banks")
_reader = require(Capability.READ)
_curator = require(Capability.CURATE)
_admin = require(Capability.ADMIN)

Visibility = Literal["private", "members", "all"]
NAME = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class BankIn(Strict):
    name: str = NAME
    kind: Literal["known", "allow"] = "known"
    labels: dict[str, Any] = Field(default_factory=dict, description="default labels of the bank's items")
    visibility: Visibility = "private"
    shared_with: list[str] = Field(default_factory=list, max_length=1000,
                                   description="members who may see it when visibility is `members`")
    signal_types: list[SIGNAL_TYPE] | None = None
    pdq_max_distance: int = Field(31, ge=0, le=256)


class BankPatch(Strict):
    labels: dict[str, Any] | None = None
    visibility: Visibility | None = None
    shared_with: list[str] | None = Field(None, max_length=1000)
    pdq_max_distance: int | None = Field(None, ge=0, le=256)


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


class ItemIn(Strict):
    external_id: str = Field(min_length=1, max_length=1024)
    signals: list[SignalIn] = Field(min_length=1, max_length=64)
    labels: dict[str, Any] = Field(default_factory=dict)


class ItemsIn(Strict):
    items: list[ItemIn] = Field(min_length=1, description="up to max_batch (default 1,000) items")


class ItemError(BaseModel):
    position: int
    external_id: str | None
    message: str


class AddReport(BaseModel):
    imported: int
    duplicates: int
    errors: list[ItemError]


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


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_after: int | None = None


class ItemPatch(Strict):
    labels: dict[str, Any] | None = None
    enabled: bool | None = None


def _report(report: ImportReport) -> dict[str, Any]:
    return {
        "imported": report.imported,
        "duplicates": report.duplicates,
        "errors": [{"position": e.line, "external_id": e.external_id, "message": e.message} for e in report.errors],
    }


@router.get("/banks", summary="Banks this member may see", response_model=BankList)
async def list_banks(who: Principal = Depends(_reader), hub: Hub = Depends(get_hub)) -> JSONResponse:
    return JSONResponse({"banks": [v.to_json() for v in hub.visible_banks(who)]})


@router.post("/banks", summary="Create a bank (owned by the calling member)", status_code=201,
             response_model=BankOut)
async def create_bank(body: BankIn, who: Principal = Depends(_curator), hub: Hub = Depends(get_hub)) -> JSONResponse:
    view = hub.create_bank(who, body.name, body.kind, body.labels, visibility=body.visibility,
                           shared_with=body.shared_with, signal_types=body.signal_types,
                           pdq_max_distance=body.pdq_max_distance, vocabulary=hub.vocabulary)
    return JSONResponse(view.to_json(), status_code=201)


@router.get("/banks/{name}", summary="One bank, with item counts", response_model=BankOut)
async def show_bank(name: str, who: Principal = Depends(_reader), hub: Hub = Depends(get_hub)) -> JSONResponse:
    view = hub.bank(who, name)
    out = view.to_json()
    out["counts"] = bank_stats(hub.store, view.record)
    return JSONResponse(out)


@router.patch("/banks/{name}", summary="Change a bank's labels, sharing or threshold", response_model=BankOut)
async def update_bank(name: str, body: BankPatch, who: Principal = Depends(_curator),
                      hub: Hub = Depends(get_hub)) -> JSONResponse:
    view = hub.update_bank(who, name, labels=body.labels, visibility=body.visibility,
                           shared_with=body.shared_with, pdq_max_distance=body.pdq_max_distance,
                           vocabulary=hub.vocabulary)
    return JSONResponse(view.to_json())


@router.delete("/banks/{name}", summary="Delete a bank and its items", status_code=204,
               response_class=Response)
async def delete_bank(name: str, who: Principal = Depends(_curator), hub: Hub = Depends(get_hub)) -> Response:
    hub.delete_bank(who, name)
    return Response(status_code=204)


class TransferIn(Strict):
    to: str = Field(min_length=1, max_length=128, description="the member to give the bank to")


@router.post("/banks/{name}/transfer", summary="Give a bank to another member (admins)", response_model=BankOut)
def transfer_bank(
    name: str,
    body: Annotated[TransferIn, Body(openapi_examples={"to another member": {"value": {"to": "ngo-b"}}})],
    who: Principal = Depends(_admin), hub: Hub = Depends(get_hub),
) -> JSONResponse:
    moved = accounts.transfer_bank(hub, who, name, body.to)
    return JSONResponse(hub.bank(who, moved["bank"]).to_json())


@router.get("/banks/{name}/items", summary="A page of a bank's items, filtered", response_model=ItemPage)
async def list_items(
    name: str,
    after: Annotated[int, Query(ge=0, le=2**62, description="item_id to start after (next_after)")] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000, description="page size (at most the hub's max_page)")] = 100,
    label: Annotated[list[str] | None, Query(max_length=20, description="key=value, repeatable")] = None,
    entity: Annotated[str | None, Query(max_length=256)] = None,
    added_after: datetime | None = None,
    added_before: datetime | None = None,
    enabled: bool | None = None,
    disputed: bool | None = None,
    who: Principal = Depends(_reader),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    flt = curation.ItemFilter(label or [], entity=entity, added_after=added_after, added_before=added_before,
                              enabled=enabled, disputed=disputed)
    page, next_after = curation.list_items(hub, who, name, flt, after_id=after, limit=limit)
    return JSONResponse({"items": page, "next_after": next_after})


@router.post("/banks/{name}/items", summary="Add items given as signals", response_model=AddReport)
async def add_items(name: str, body: ItemsIn, who: Principal = Depends(_curator),
                    hub: Hub = Depends(get_hub)) -> JSONResponse:
    if len(body.items) > hub.config.max_batch:
        raise InvalidInput(f"{len(body.items)} items in one request; the limit is {hub.config.max_batch}")
    items = [NewItem(i.external_id, [Signal(s.type, s.value) for s in i.signals], i.labels) for i in body.items]
    report = curation.add_signal_items(hub, who, name, items, vocabulary=hub.vocabulary)
    return JSONResponse(_report(report))


@router.post("/banks/{name}/items/content", summary="Upload content and add it as an item",
             response_model=AddReport)
async def add_content(
    name: str,
    file: Annotated[UploadFile, File(description="a photo, video, PDF or text file")],
    external_id: Annotated[str, Form(min_length=1, max_length=1024, pattern=r"^[^\x00]+$")],
    labels: Annotated[str, Form(max_length=10_000, description="labels as a JSON object")] = "{}",
    who: Principal = Depends(_curator),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    try:
        parsed = jsonbound.loads(labels, what="labels")
    except ValueError:
        raise InvalidInput("labels must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("labels must be a JSON object")
    hub.bank_for_change(who, name)  # refuse before hashing
    result = await hash_upload(hub, file, HashOptions(bank_crops=True))
    if result.error:
        raise _content_error(result)
    report = curation.add_content_item(hub, who, name, external_id, bank_signals_of(result), parsed,
                                       vocabulary=hub.vocabulary)
    return JSONResponse(_report(report))


@router.get("/banks/{name}/items/{external_id:path}", summary="One item", response_model=ItemOut)
async def show_item(name: str, external_id: str, who: Principal = Depends(_reader),
                    hub: Hub = Depends(get_hub)) -> JSONResponse:
    return JSONResponse(curation.get_item(hub, who, name, external_id))


@router.patch("/banks/{name}/items/{external_id:path}", summary="Change an item's labels or enable it",
              response_model=ItemOut)
async def update_item(name: str, external_id: str, body: ItemPatch, who: Principal = Depends(_curator),
                      hub: Hub = Depends(get_hub)) -> JSONResponse:
    return JSONResponse(curation.update_item(hub, who, name, external_id, labels=body.labels,
                                             enabled=body.enabled, vocabulary=hub.vocabulary))


@router.delete("/banks/{name}/items/{external_id:path}", summary="Delete an item", status_code=204,
               response_class=Response)
async def delete_item(name: str, external_id: str, who: Principal = Depends(_curator),
                      hub: Hub = Depends(get_hub)) -> Response:
    curation.remove_item(hub, who, name, external_id)
    return Response(status_code=204)
