"""The webhooks port in memory: registrations and the delivery queue with leases."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tahaluf.errors import Conflict
from tahaluf.ports.webhooks import DeliveryJob, DeliveryRecord, WebhookRecord
from tahaluf.storage.memory.state import MemoryState, Tables

__all__ = ["MemoryWebhooks"]

_ERROR_CHARS = 500


def _delivery(row: dict[str, Any]) -> DeliveryRecord:
    return DeliveryRecord(row["id"], row["webhook_id"], row["event"], row["status"], row["attempts"],
                          row["next_attempt_at"], row["last_error"], row["created_at"], row["delivered_at"])


class MemoryWebhooks:
    """Webhooks and their deliveries in one :class:`MemoryState`."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def _record(self, t: Tables, row: dict[str, Any]) -> WebhookRecord:
        return WebhookRecord(row["id"], row["member_id"], t.members[row["member_id"]]["name"], row["url"],
                             tuple(row["events"]), row["enabled"], row["created_at"])

    def _live(self, t: Tables, hook: dict[str, Any] | None) -> bool:
        return hook is not None and hook["enabled"] and t.members[hook["member_id"]]["enabled"]

    # -- registrations --------------------------------------------------------
    def add(
        self, member_id: int, url: str, secret: str, events: Sequence[str], *, max_per_member: int
    ) -> WebhookRecord:
        """Register a webhook (Conflict when the member already has ``max_per_member``)."""
        with self.state.change() as t:
            if sum(1 for h in t.webhooks.values() if h["member_id"] == member_id) >= max_per_member:
                raise Conflict(f"a member may register at most {max_per_member} webhooks; delete one first")
            hook_id = self.state.next_id("webhooks")
            t.webhooks[hook_id] = {"id": hook_id, "member_id": member_id, "url": url, "secret": secret,
                                   "events": list(events), "enabled": True, "created_at": self.state.now()}
            return self._record(t, t.webhooks[hook_id])

    def get(self, webhook_id: int) -> WebhookRecord | None:
        with self.state.read() as t:
            row = t.webhooks.get(webhook_id)
            return self._record(t, row) if row is not None else None

    def list_webhooks(self, member_id: int | None = None) -> list[WebhookRecord]:
        with self.state.read() as t:
            return [self._record(t, t.webhooks[i]) for i in sorted(t.webhooks)
                    if member_id is None or t.webhooks[i]["member_id"] == member_id]

    def delete(self, webhook_id: int) -> bool:
        with self.state.change() as t:
            for delivery_id in [i for i, d in t.deliveries.items() if d["webhook_id"] == webhook_id]:
                del t.deliveries[delivery_id]
            return t.webhooks.pop(webhook_id, None) is not None

    def subscriptions(self, member_id: int) -> list[tuple[int, tuple[str, ...]]]:
        with self.state.read() as t:
            return [(i, tuple(h["events"])) for i, h in sorted(t.webhooks.items())
                    if h["member_id"] == member_id and self._live(t, h)]

    # -- the outbox -----------------------------------------------------------
    def enqueue(
        self, webhook_ids: Sequence[int], event: str, payload: dict[str, Any], at: datetime, *, conn: Any = None,
    ) -> int:
        """One pending delivery per webhook that still exists and is enabled, of an enabled member."""
        with self.state.change() as t:
            count = 0
            for hook_id in sorted(set(webhook_ids)):
                if not self._live(t, t.webhooks.get(hook_id)):
                    continue
                delivery_id = self.state.next_id("deliveries")
                t.deliveries[delivery_id] = {
                    "id": delivery_id, "webhook_id": hook_id, "event": event, "payload": copy.deepcopy(payload),
                    "status": "pending", "attempts": 0, "next_attempt_at": at, "last_error": None,
                    "created_at": at, "delivered_at": None,
                }
                count += 1
            return count

    def claim_due(self, at: datetime, *, limit: int, lease_s: float) -> list[DeliveryJob]:
        lease = at + timedelta(seconds=lease_s)
        with self.state.change() as t:
            due = sorted(
                (d for d in t.deliveries.values()
                 if d["status"] == "pending" and d["next_attempt_at"] <= at
                 and self._live(t, t.webhooks.get(d["webhook_id"]))),
                key=lambda d: (d["next_attempt_at"], d["id"]),
            )[:limit]
            jobs = []
            for d in due:
                d["next_attempt_at"] = lease
                hook = t.webhooks[d["webhook_id"]]
                jobs.append(DeliveryJob(d["id"], d["webhook_id"], hook["url"], hook["secret"], d["event"],
                                        copy.deepcopy(d["payload"]), d["attempts"], d["created_at"], lease))
            return jobs

    def _finish(self, job: DeliveryJob, **values: Any) -> bool:
        with self.state.change() as t:
            d = t.deliveries.get(job.id)
            if d is None or (d["status"], d["attempts"], d["next_attempt_at"]) != ("pending", job.attempts, job.lease):
                return False
            d.update(values)
            return True

    def record_success(self, job: DeliveryJob, at: datetime) -> bool:
        return self._finish(job, status="delivered", attempts=job.attempts + 1, delivered_at=at)

    def record_failure(self, job: DeliveryJob, error: str, retry_at: datetime | None) -> bool:
        values: dict[str, Any] = {"attempts": job.attempts + 1, "last_error": error[:_ERROR_CHARS]}
        if retry_at is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = retry_at
        return self._finish(job, **values)

    def release(self, job: DeliveryJob, at: datetime) -> bool:
        return self._finish(job, next_attempt_at=at)

    def deliveries(
        self, webhook_id: int, *, after: int = 0, limit: int = 100, status: str | None = None
    ) -> list[DeliveryRecord]:
        with self.state.read() as t:
            rows = [t.deliveries[i] for i in sorted(t.deliveries)
                    if i > after and t.deliveries[i]["webhook_id"] == webhook_id
                    and (status is None or t.deliveries[i]["status"] == status)]
            return [_delivery(r) for r in rows[:limit]]

    def purge(self, before: datetime) -> int:
        with self.state.change() as t:
            old = [i for i, d in t.deliveries.items()
                   if d["status"] in ("delivered", "failed") and d["created_at"] < before]
            for i in old:
                del t.deliveries[i]
            return len(old)
