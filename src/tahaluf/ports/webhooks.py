"""The webhooks port: registrations and the delivery queue (claimed with a lease)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

__all__ = ["DeliveryJob", "DeliveryRecord", "WebhookRecord", "WebhookRepository", "utc"]


def utc(value: datetime) -> datetime:
    """``value`` in UTC (naive values are taken to be UTC already, as SQLite returns them)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return utc(value).isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    """A registered webhook (its secret is never part of a record)."""

    id: int
    member_id: int
    member: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "member": self.member,
            "url": self.url,
            "events": list(self.events),
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One event for one webhook, as its owner sees it."""

    id: int
    webhook_id: int
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": _iso(self.next_attempt_at) if self.status == "pending" else None,
            "last_error": self.last_error,
            "created_at": _iso(self.created_at),
            "delivered_at": _iso(self.delivered_at),
        }


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """A claimed delivery: everything needed to send it, and the claim's token (``lease``)."""

    id: int
    webhook_id: int
    url: str
    secret: str
    event: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    lease: datetime


@runtime_checkable
class WebhookRepository(Protocol):
    """Webhook registrations and their delivery queue."""

    def add(
        self, member_id: int, url: str, secret: str, events: Sequence[str], *, max_per_member: int
    ) -> WebhookRecord: ...

    def get(self, webhook_id: int) -> WebhookRecord | None: ...

    def list_webhooks(self, member_id: int | None = None) -> list[WebhookRecord]: ...

    def delete(self, webhook_id: int) -> bool: ...

    def subscriptions(self, member_id: int) -> list[tuple[int, tuple[str, ...]]]: ...

    def enqueue(
        self, webhook_ids: Sequence[int], event: str, payload: dict[str, Any], at: datetime, *, conn: Any = None,
    ) -> int: ...

    def claim_due(self, at: datetime, *, limit: int, lease_s: float) -> list[DeliveryJob]: ...

    def record_success(self, job: DeliveryJob, at: datetime) -> bool: ...

    def record_failure(self, job: DeliveryJob, error: str, retry_at: datetime | None) -> bool: ...

    def release(self, job: DeliveryJob, at: datetime) -> bool: ...

    def deliveries(
        self, webhook_id: int, *, after: int = 0, limit: int = 100, status: str | None = None
    ) -> list[DeliveryRecord]: ...

    def purge(self, before: datetime) -> int: ...
