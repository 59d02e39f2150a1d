"""Webhooks: ``/v1/webhooks`` (register, list, show, delete) and their deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from tahaluf.access import Principal
from tahaluf.api.deps import get_hub, principal
from tahaluf.api.routes.common import Strict, make_router
from tahaluf.services import webhooks
from tahaluf.services.hub import Hub

router = make_router("webhooks")

Event = Literal["match", "review.decided", "feedback.disputed"]
WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the webhook's id")]


class WebhookIn(Strict):
    url: str = Field(min_length=1, max_length=webhooks.MAX_URL_CHARS,
                     description="http:// or https:// URL the hub POSTs each event to")
    events: list[Event] = Field(min_length=1, max_length=len(webhooks.EVENTS), description="events to receive")


class WebhookOut(BaseModel):
    id: int
    member: str
    url: str
    events: list[str]
    enabled: bool
    created_at: str


class WebhookCreated(WebhookOut):
    secret: str = Field(description="signs every call (X-Tahaluf-Signature); shown only once")
    warnings: list[str] = Field(description="why calls to this URL may be refused (e.g. a private address)")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: int
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None = Field(description="when it is tried next (pending only)")
    last_error: str | None
    created_at: str
    delivered_at: str | None


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryOut]
    next_after: int | None = None


@router.post("/webhooks", summary="Register a webhook; returns its secret once", status_code=201,
             response_model=WebhookCreated)
async def add_webhook(body: WebhookIn, who: Principal = Depends(principal),
                      hub: Hub = Depends(get_hub)) -> JSONResponse:
    record, secret = webhooks.register(hub, who, body.url, body.events)
    return JSONResponse({**record.to_json(), "secret": secret, "warnings": webhooks.url_warnings(record.url)},
                        status_code=201)


@router.get("/webhooks", summary="The calling member's webhooks (all members': admins, all=true)",
            response_model=WebhookList)
async def list_webhooks(
    all_members: Annotated[bool, Query(alias="all", description="every member's webhooks (admins only)")] = False,
    who: Principal = Depends(principal),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    found = webhooks.webhooks_of(hub, who, all_members=all_members)
    return JSONResponse({"webhooks": [w.to_json() for w in found]})


@router.get("/webhooks/{webhook_id}", summary="One webhook", response_model=WebhookOut)
async def show_webhook(webhook_id: WebhookId, who: Principal = Depends(principal),
                       hub: Hub = Depends(get_hub)) -> JSONResponse:
    return JSONResponse(webhooks.webhook(hub, who, webhook_id).to_json())


@router.delete("/webhooks/{webhook_id}", summary="Delete a webhook and its deliveries", status_code=204,
               response_class=Response)
async def delete_webhook(webhook_id: WebhookId, who: Principal = Depends(principal),
                         hub: Hub = Depends(get_hub)) -> Response:
    webhooks.delete_webhook(hub, who, webhook_id)
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
) -> JSONResponse:
    found = webhooks.deliveries_of(hub, who, webhook_id, after=after, limit=limit + 1, status=status)
    page = found[:limit]
    return JSONResponse({"deliveries": [d.to_json() for d in page],
                         "next_after": page[-1].id if len(found) > limit else None})
