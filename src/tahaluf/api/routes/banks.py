"""Banks and their items: ``/v1/banks`` and ``/v1/banks/{name}/items``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import Field

from tahaluf import jsonbound
from tahaluf.access import Capability, Principal
from tahaluf.api.deps import get_hub, require
from tahaluf.api.routes.common import SIGNAL_TYPE, SignalIn, Strict, make_router
from tahaluf.api.uploads import content_error, hash_upload
from tahaluf.banks import NewItem
from tahaluf.errors import InvalidInput
from tahaluf.services.curation import ItemFilter
from tahaluf.services.banking import bank_signals_of
from tahaluf.services.hashing import HashOptions
from tahaluf.services.hub import Hub
from tahaluf.signals.base import Signal
from tahaluf.wire.banks import (AddReport, BankList, BankOut, ItemOut, ItemPageOut, bank_list_out, bank_out, item_out,
                                item_page_out, report_out)

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


class ItemIn(Strict):
    external_id: str = Field(min_length=1, max_length=1024)
    signals: list[SignalIn] = Field(min_length=1, max_length=64)
    labels: dict[str, Any] = Field(default_factory=dict)


class ItemsIn(Strict):
    items: list[ItemIn] = Field(min_length=1, description="up to max_batch (default 1,000) items")


class ItemPatch(Strict):
    labels: dict[str, Any] | None = None
    enabled: bool | None = None


@router.get("/banks", summary="Banks this member may see", response_model=BankList, response_model_exclude_unset=True)
async def list_banks(who: Principal = Depends(_reader), hub: Hub = Depends(get_hub)) -> BankList:
    return bank_list_out(hub.banks.visible(who))


@router.post("/banks", summary="Create a bank (owned by the calling member)", status_code=201,
             response_model=BankOut, response_model_exclude_unset=True)
async def create_bank(body: BankIn, who: Principal = Depends(_curator), hub: Hub = Depends(get_hub)) -> BankOut:
    view = hub.banks.create(who, body.name, body.kind, body.labels, visibility=body.visibility,
                           shared_with=body.shared_with, signal_types=body.signal_types,
                           pdq_max_distance=body.pdq_max_distance, vocabulary=hub.vocabulary)
    return bank_out(view)


@router.get("/banks/{name}", summary="One bank, with item counts", response_model=BankOut,
            response_model_exclude_unset=True)
async def show_bank(name: str, who: Principal = Depends(_reader), hub: Hub = Depends(get_hub)) -> BankOut:
    return bank_out(hub.banks.show(who, name))


@router.patch("/banks/{name}", summary="Change a bank's labels, sharing or threshold", response_model=BankOut,
              response_model_exclude_unset=True)
async def update_bank(name: str, body: BankPatch, who: Principal = Depends(_curator),
                      hub: Hub = Depends(get_hub)) -> BankOut:
    view = hub.banks.update(who, name, labels=body.labels, visibility=body.visibility,
                            shared_with=body.shared_with, pdq_max_distance=body.pdq_max_distance,
                            vocabulary=hub.vocabulary)
    return bank_out(view)


@router.delete("/banks/{name}", summary="Delete a bank and its items", status_code=204,
               response_class=Response)
async def delete_bank(name: str, who: Principal = Depends(_curator), hub: Hub = Depends(get_hub)) -> Response:
    hub.banks.delete(who, name)
    return Response(status_code=204)


class TransferIn(Strict):
    to: str = Field(min_length=1, max_length=128, description="the member to give the bank to")


@router.post("/banks/{name}/transfer", summary="Give a bank to another member (admins)", response_model=BankOut,
             response_model_exclude_unset=True)
def transfer_bank(
    name: str,
    body: Annotated[TransferIn, Body(openapi_examples={"to another member": {"value": {"to": "ngo-b"}}})],
    who: Principal = Depends(_admin), hub: Hub = Depends(get_hub),
) -> BankOut:
    moved = hub.banks.transfer(who, name, body.to)
    return bank_out(hub.banks.get(who, moved.bank))


@router.get("/banks/{name}/items", summary="A page of a bank's items, filtered", response_model=ItemPageOut,
            response_model_exclude_unset=True)
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
) -> ItemPageOut:
    flt = ItemFilter(label or [], entity=entity, added_after=added_after, added_before=added_before,
                              enabled=enabled, disputed=disputed)
    page, next_after = hub.curation.list_items(who, name, flt, after_id=after, limit=limit)
    return item_page_out(page, next_after)


@router.post("/banks/{name}/items", summary="Add items given as signals", response_model=AddReport,
             response_model_exclude_unset=True)
async def add_items(name: str, body: ItemsIn, who: Principal = Depends(_curator),
                    hub: Hub = Depends(get_hub)) -> AddReport:
    if len(body.items) > hub.config.max_batch:
        raise InvalidInput(f"{len(body.items)} items in one request; the limit is {hub.config.max_batch}")
    items = [NewItem(i.external_id, [Signal(s.type, s.value) for s in i.signals], i.labels) for i in body.items]
    report = hub.curation.add_signal_items(who, name, items, vocabulary=hub.vocabulary)
    return report_out(report)


@router.post("/banks/{name}/items/content", summary="Upload content and add it as an item",
             response_model=AddReport, response_model_exclude_unset=True)
async def add_content(
    name: str,
    file: Annotated[UploadFile, File(description="a photo, video, PDF or text file")],
    external_id: Annotated[str, Form(min_length=1, max_length=1024, pattern=r"^[^\x00]+$")],
    labels: Annotated[str, Form(max_length=10_000, description="labels as a JSON object")] = "{}",
    who: Principal = Depends(_curator),
    hub: Hub = Depends(get_hub),
) -> AddReport:
    try:
        parsed = jsonbound.loads(labels, what="labels")
    except ValueError:
        raise InvalidInput("labels must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("labels must be a JSON object")
    hub.banks.for_change(who, name)  # refuse before hashing
    result = await hash_upload(hub, file, HashOptions(bank_crops=True))
    if result.error:
        raise content_error(result)
    report = hub.curation.add_content_item(who, name, external_id, bank_signals_of(result), parsed,
                                       vocabulary=hub.vocabulary)
    return report_out(report)


@router.get("/banks/{name}/items/{external_id:path}", summary="One item", response_model=ItemOut,
            response_model_exclude_unset=True)
async def show_item(name: str, external_id: str, who: Principal = Depends(_reader),
                    hub: Hub = Depends(get_hub)) -> ItemOut:
    return item_out(hub.curation.get_item(who, name, external_id))


@router.patch("/banks/{name}/items/{external_id:path}", summary="Change an item's labels or enable it",
              response_model=ItemOut, response_model_exclude_unset=True)
async def update_item(name: str, external_id: str, body: ItemPatch, who: Principal = Depends(_curator),
                      hub: Hub = Depends(get_hub)) -> ItemOut:
    return item_out(hub.curation.update_item(who, name, external_id, labels=body.labels,
                                             enabled=body.enabled, vocabulary=hub.vocabulary))


@router.delete("/banks/{name}/items/{external_id:path}", summary="Delete an item", status_code=204,
               response_class=Response)
async def delete_item(name: str, external_id: str, who: Principal = Depends(_curator),
                      hub: Hub = Depends(get_hub)) -> Response:
    hub.curation.remove_item(who, name, external_id)
    return Response(status_code=204)
