"""Webhooks: ``/v1/webhooks`` (register, list, show, delete) and their deliveries.

Each route calls one :class:`WebhookService` operation and returns its result
through :mod:`tahaluf.wire.webhooks`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path, Query
from fastapi.responses import Response
from pydantic import Field

from tahaluf.access import Principal
from tahaluf.api.deps import get_hub, principal
from tahaluf.api.routes.common import Strict, make_router
from tahaluf.services.hub import Hub
from tahaluf.services.webhooks import EVENTS, MAX_URL_CHARS, WebhookService
from tahaluf.wire.webhooks import (
    DeliveryPage,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    created_out,
    delivery_page,
    webhook_list,
    webhook_out,
)

router = make_router("webhooks")

Event = Literal["match", "review.decided", "feedback.disputed"]
WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the webhook's id")]


class WebhookIn(Strict):
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS,
                     description="http:// or https:// URL the hub POSTs each event to")
    events: list[Event] = Field(min_length=1, max_length=len(EVENTS), description="events to receive")


@router.post("/webhooks", summary="Register a webhook; returns its secret once", status_code=201,
             response_model=WebhookCreated)
async def add_webhook(body: WebhookIn, who: Principal = Depends(principal),
                      hub: Hub = Depends(get_hub)) -> WebhookCreated:
    return created_out(WebhookService(hub).add(who, body.url, body.events))


@router.get("/webhooks", summary="The calling member's webhooks (all members': admins, all=true)",
            response_model=WebhookList)
async def list_webhooks(
    all_members: Annotated[bool, Query(alias="all", description="every member's webhooks (admins only)")] = False,
    who: Principal = Depends(principal),
    hub: Hub = Depends(get_hub),
) -> WebhookList:
    return webhook_list(WebhookService(hub).list_webhooks(who, all_members=all_members))


@router.get("/webhooks/{webhook_id}", summary="One webhook", response_model=WebhookOut)
async def show_webhook(webhook_id: WebhookId, who: Principal = Depends(principal),
                       hub: Hub = Depends(get_hub)) -> WebhookOut:
    return webhook_out(WebhookService(hub).get(who, webhook_id))


@router.delete("/webhooks/{webhook_id}", summary="Delete a webhook and its deliveries", status_code=204,
               response_class=Response)
async def delete_webhook(webhook_id: WebhookId, who: Principal = Depends(principal),
                         hub: Hub = Depends(get_hub)) -> Response:
    WebhookService(hub).delete(who, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", summary="A page of a webhook's deliveries, oldest first",
            response_model=DeliveryPage)
async def list_deliveries(
    webhook_id: WebhookId,
    after: Annotated[int, Query(ge=0, le=2**62, description="delivery id to start after (next_after)")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    status: Literal["pending", "delivered", "failed"] | None = None,
    who: Principal = Depends(principal),
    hub: Hub = Depends(get_hub),
) -> DeliveryPage:
    return delivery_page(WebhookService(hub).delivery_page(who, webhook_id, after=after, limit=limit, status=status))
