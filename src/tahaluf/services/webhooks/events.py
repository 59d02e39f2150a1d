"""Webhook events: the outbox they are queued in and the notifier that writes them.

* :class:`Outbox` puts one delivery per subscribed webhook in
  ``webhook_deliveries``. It keeps each member's subscriptions for
  ``key_cache_s`` (2 s): for a member without webhooks an event costs at most
  one small query that often per worker. Registration changes call
  :meth:`Outbox.forget`.
* :class:`Notifier` is what services call: :meth:`Notifier.send` queues one
  event and logs (never raises) a failure, so a notification never undoes
  what it announces; :meth:`Notifier.matches` tells bank owners their items
  matched.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tahaluf.access import Principal
from tahaluf.errors import InvalidInput, TahalufError
from tahaluf.ports.banks import BankRepository
from tahaluf.ports.webhooks import WebhookRepository
from tahaluf.services.bank_names import short_name
from tahaluf.services.hub import Hub
from tahaluf.services.matching import Match
from tahaluf.services.scanning import ScanResult

__all__ = ["EVENTS", "Notifier", "Outbox", "emit", "outbox_for"]

log = logging.getLogger("tahaluf.webhooks")

#: what a webhook can subscribe to
EVENTS = ("match", "review.decided", "feedback.disputed")

Subs = tuple[tuple[int, tuple[str, ...]], ...]


class _Subscriptions:
    """member id -> its enabled webhooks ``(id, events)``, trusted for a few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[float, Subs]] = {}
        self._generation = 0

    def get(self, hooks: WebhookRepository, member_id: int, ttl_s: float) -> Subs:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(member_id)
            generation = self._generation
        if hit is not None and hit[0] > now:
            return hit[1]
        subs = tuple(hooks.subscriptions(member_id))
        with self._lock:
            if generation == self._generation:  # no registration changed while we read
                if len(self._entries) > 100_000:
                    self._entries.clear()
                self._entries[member_id] = (now + ttl_s, subs)
        return subs

    def forget(self, member_id: int) -> None:
        with self._lock:
            self._entries.pop(member_id, None)
            self._generation += 1


class Outbox:
    """The delivery outbox of one database, with its subscription cache."""

    def __init__(self, hooks: WebhookRepository, cache_s: float) -> None:
        self.hooks = hooks
        self.cache_s = cache_s
        self._subs = _Subscriptions()

    def put(self, member_id: int, event: str, payload: dict[str, Any], *, conn: Any = None) -> int:
        """Queue ``event`` for every enabled webhook of the member subscribed to it; how many were queued.

        ``conn``: a write connection, to queue in the same transaction as the
        change being announced. A webhook registered through another worker
        is seen within ``cache_s``.
        """
        if event not in EVENTS:
            raise InvalidInput(f"unknown webhook event {event!r}")
        subs = self._subs.get(self.hooks, member_id, self.cache_s)
        ids = [hook_id for hook_id, events in subs if event in events]
        if not ids:
            return 0
        try:
            json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"webhook payload for {event!r} is not JSON: {exc}") from exc
        self.hooks.enqueue(ids, event, payload, datetime.now(UTC), conn=conn)
        return len(ids)

    def forget(self, member_id: int) -> None:
        """Drop the member's cached subscriptions (its webhooks changed)."""
        self._subs.forget(member_id)


# One outbox per store, until the service container hands each service its outbox.
_OUTBOXES: weakref.WeakKeyDictionary[BankRepository, Outbox] = weakref.WeakKeyDictionary()
_OUTBOXES_LOCK = threading.Lock()


def outbox_for(hub: Hub) -> Outbox:
    """The outbox of the hub's store (one per store and process, shared by its services)."""
    with _OUTBOXES_LOCK:
        box = _OUTBOXES.get(hub.store)
        if box is None:
            box = _OUTBOXES[hub.store] = Outbox(hub.ports.webhooks, hub.config.key_cache_s)
        return box


def emit(hub: Hub, member_id: int, event: str, payload: dict[str, Any], *, conn: Any = None) -> None:
    """Queue ``event`` for the member's subscribed webhooks (see :meth:`Outbox.put`); raises on bad input."""
    outbox_for(hub).put(member_id, event, payload, conn=conn)


class Notifier:
    """Writes the webhook events of a hub's services (review decided, item disputed, items matched)."""

    def __init__(self, hub: Hub, outbox: Outbox | None = None) -> None:
        self.hub = hub
        self.outbox = outbox if outbox is not None else outbox_for(hub)

    def send(self, member_id: int, event: str, payload: dict[str, Any]) -> None:
        """Queue a webhook event; a failure is logged, never undoes what already happened."""
        try:
            self.outbox.put(member_id, event, payload)
        except TahalufError as exc:
            log.warning("could not queue %s webhook for member %s: %s", event, member_id, exc.message)

    def matches(self, who: Principal, results: Sequence[ScanResult]) -> None:
        """Send a ``match`` event to the owner of each bank whose items matched
        (one event per owner per request; not for the caller's own banks)."""
        by_bank: dict[str, list[Match]] = {}
        for res in results:
            for m in res.matches:
                by_bank.setdefault(m.bank, []).append(m)
        if not by_bank:
            return
        owners = {name: b.owner for name, b in self.hub.banks.by_name().items() if name in by_bank}
        per_owner: dict[str, list[dict[str, Any]]] = {}
        for bank, matches in by_bank.items():
            owner = owners.get(bank)
            if owner is None or owner == who.name:
                continue
            per_owner.setdefault(owner, []).extend(
                {"bank": short_name(m.bank), "external_id": m.external_id, "item_id": m.item_id,
                 "signal_type": m.signal_type, "score": round(m.score, 4)} for m in matches)  # the owner's name
        for owner, entries in per_owner.items():
            member = self.hub.hubstore.get_member(owner)
            if member is not None:
                self.send(member.id, "match", {"matches": entries[:100], "count": len(entries)})
