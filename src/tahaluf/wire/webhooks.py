"""The wire form of webhooks and their deliveries, shared by ``/v1/webhooks`` and ``tahaluf webhooks``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tahaluf.services.webhooks import (
    Deliveries,
    DeliveryRecord,
    Registered,
    WebhookRecord,
)

__all__ = [
    "DeliveryOut",
    "DeliveryPage",
    "WebhookCreated",
    "WebhookList",
    "WebhookOut",
    "created_out",
    "delivery_out",
    "delivery_page",
    "webhook_list",
    "webhook_out",
]


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


def webhook_out(w: WebhookRecord) -> WebhookOut:
    return WebhookOut.model_validate(w.to_json())


def created_out(r: Registered) -> WebhookCreated:
    return WebhookCreated.model_validate({**r.webhook.to_json(), "secret": r.secret, "warnings": r.warnings})


def webhook_list(found: list[WebhookRecord]) -> WebhookList:
    return WebhookList(webhooks=[webhook_out(w) for w in found])


def delivery_out(d: DeliveryRecord) -> DeliveryOut:
    return DeliveryOut.model_validate(d.to_json())


def delivery_page(page: Deliveries) -> DeliveryPage:
    return DeliveryPage(deliveries=[delivery_out(d) for d in page.deliveries], next_after=page.next_after)
