"""Registering webhooks: :class:`WebhookService` (add, list, show, delete, deliveries).

A member registers URLs the hub calls when its content matches, a review of
its submission is decided or one of its items is disputed. The secret that
signs the calls is returned once, at registration. Every change writes its
audit entry here and drops the member's cached subscriptions in the outbox.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from tahaluf.access import Capability, Principal
from tahaluf.errors import InvalidInput, NotFound, PermissionDenied
from tahaluf.ports.vocabulary import DELIVERY_STATUSES
from tahaluf.ports.webhooks import DeliveryRecord, WebhookRecord
from tahaluf.services.hub import Hub
from tahaluf.services.webhooks.addresses import check_url, url_warnings
from tahaluf.services.webhooks.events import EVENTS, Outbox, outbox_for

__all__ = [
    "MAX_WEBHOOKS_PER_MEMBER",
    "Deliveries",
    "Registered",
    "WebhookService",
    "check_events",
    "delete_webhook",
    "deliveries_of",
    "new_secret",
    "register",
    "webhook",
    "webhooks_of",
]

MAX_WEBHOOKS_PER_MEMBER = 10


@dataclass(frozen=True, slots=True)
class Registered:
    """A new webhook, its secret (shown only now) and why calls to it may be refused."""

    webhook: WebhookRecord
    secret: str
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class Deliveries:
    deliveries: list[DeliveryRecord]
    next_after: int | None


def new_secret() -> str:
    """A webhook secret: ``whsec_`` + 43 URL-safe characters (256 random bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def check_events(events: Sequence[str]) -> list[str]:
    """The events in their canonical order, else InvalidInput."""
    unknown = sorted(set(events) - set(EVENTS))
    if unknown or not events:
        raise InvalidInput(f"unknown event {', '.join(unknown) or '(none)'}: choose from {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in events]


def _require_member(actor: Principal) -> None:
    if not (actor.can(Capability.READ) or actor.can(Capability.MATCH)):
        raise PermissionDenied(f"member {actor.name!r} may not use webhooks")


class WebhookService:
    """Members' webhooks: what ``/v1/webhooks`` and ``tahaluf webhooks`` call."""

    def __init__(self, hub: Hub, outbox: Outbox | None = None) -> None:
        self.hub = hub
        self.outbox = outbox if outbox is not None else outbox_for(hub)
        self.hooks = hub.ports.webhooks

    def add(self, actor: Principal, url: str, events: Sequence[str]) -> Registered:
        """Register a webhook for ``actor``."""
        _require_member(actor)
        clean_url, clean_events = check_url(url), check_events(events)
        secret = new_secret()
        with self.hub.audit.change():
            record = self.hooks.add(actor.member_id, clean_url, secret, clean_events,
                                    max_per_member=MAX_WEBHOOKS_PER_MEMBER)
            self.hub.audit.append(actor, "webhook.add", f"webhook:{record.id}",
                                  {"url": clean_url, "events": clean_events})
        self.outbox.forget(actor.member_id)
        return Registered(record, secret, url_warnings(record.url))

    def list_webhooks(self, actor: Principal, *, all_members: bool = False) -> list[WebhookRecord]:
        """The actor's webhooks (``all_members``: every member's, admins only)."""
        _require_member(actor)
        if all_members:
            actor.require(Capability.ADMIN)
            return self.hooks.list_webhooks()
        return self.hooks.list_webhooks(actor.member_id)

    def get(self, actor: Principal, webhook_id: int) -> WebhookRecord:
        """One webhook of the actor (any, for admins); NotFound otherwise, existence not revealed."""
        _require_member(actor)
        found = self.hooks.get(webhook_id)
        if found is None or not (actor.is_admin or found.member_id == actor.member_id):
            raise NotFound(f"no webhook {webhook_id} (see GET /v1/webhooks)")
        return found

    def delete(self, actor: Principal, webhook_id: int) -> WebhookRecord:
        """Delete a webhook and its deliveries (its owner or an admin); returns what was deleted."""
        found = self.get(actor, webhook_id)
        with self.hub.audit.change():
            if not self.hooks.delete(found.id):
                raise NotFound(f"no webhook {webhook_id} (see GET /v1/webhooks)")
            self.hub.audit.append(actor, "webhook.delete", f"webhook:{found.id}",
                                  {"member": found.member, "url": found.url})
        self.outbox.forget(found.member_id)
        return found

    def deliveries(self, actor: Principal, webhook_id: int, *, after: int = 0, limit: int = 100,
                   status: str | None = None) -> list[DeliveryRecord]:
        """A webhook's deliveries in id order (after ``after``), optionally of one status."""
        found = self.get(actor, webhook_id)
        if status is not None and status not in DELIVERY_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(DELIVERY_STATUSES)}")
        return self.hooks.deliveries(found.id, after=after, limit=limit, status=status)

    def delivery_page(self, actor: Principal, webhook_id: int, *, after: int = 0, limit: int = 100,
                      status: str | None = None) -> Deliveries:
        """One page of :meth:`deliveries` and where the next one starts."""
        found = self.deliveries(actor, webhook_id, after=after, limit=limit + 1, status=status)
        page = found[:limit]
        return Deliveries(page, page[-1].id if len(found) > limit else None)


# -- the functions other code and the tests call ------------------------------------
def register(hub: Hub, actor: Principal, url: str, events: Sequence[str]) -> tuple[WebhookRecord, str]:
    """Register a webhook for ``actor``; returns it and its secret (shown only now)."""
    out = WebhookService(hub).add(actor, url, events)
    return out.webhook, out.secret


def webhooks_of(hub: Hub, actor: Principal, *, all_members: bool = False) -> list[WebhookRecord]:
    return WebhookService(hub).list_webhooks(actor, all_members=all_members)


def webhook(hub: Hub, actor: Principal, webhook_id: int) -> WebhookRecord:
    return WebhookService(hub).get(actor, webhook_id)


def delete_webhook(hub: Hub, actor: Principal, webhook_id: int) -> None:
    WebhookService(hub).delete(actor, webhook_id)


def deliveries_of(
    hub: Hub, actor: Principal, webhook_id: int, *, after: int = 0, limit: int = 100, status: str | None = None
) -> list[DeliveryRecord]:
    return WebhookService(hub).deliveries(actor, webhook_id, after=after, limit=limit, status=status)
