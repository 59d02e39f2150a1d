"""Webhook storage: registrations and the delivery outbox.

A delivery is *claimed* in one short transaction (``SELECT ... FOR UPDATE
SKIP LOCKED`` on PostgreSQL; on SQLite the ``BEGIN IMMEDIATE`` write
transaction serialises claims) by moving its ``next_attempt_at`` to a lease
expiry. That lease value is the claim's token: a result is recorded only
while the row still carries it, so a deliverer whose lease ran out (and whose
row another deliverer took over) can never overwrite the other's result.
No transaction stays open while a receiver is being called.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, literal, select, update

from tahaluf.errors import Conflict
from tahaluf.ports.webhooks import DeliveryJob, DeliveryRecord, WebhookRecord, utc
from tahaluf.ports.vocabulary import DELIVERY_STATUSES
from tahaluf.storage.models import Member, Webhook, WebhookDelivery, table
from tahaluf.storage.repository.sql import Store

__all__ = ["WebhookStore", "WebhookRecord", "DeliveryRecord", "DeliveryJob", "DELIVERY_STATUSES"]


_hooks = table(Webhook)
_deliveries = table(WebhookDelivery)
_members = table(Member)
_ERROR_CHARS = 500


def _webhook(row: Any) -> WebhookRecord:
    return WebhookRecord(row.id, row.member_id, row.member, row.url, tuple(row.events or ()),
                         bool(row.enabled), utc(row.created_at))


def _delivery(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        row.id, row.webhook_id, row.event, row.status, row.attempts, utc(row.next_attempt_at), row.last_error,
        utc(row.created_at), utc(row.delivered_at) if row.delivered_at is not None else None,
    )


def _hook_query() -> Any:
    return select(*_hooks.c, _members.c.name.label("member")).join(_members, _members.c.id == _hooks.c.member_id)


class WebhookStore:
    """Webhooks and their deliveries in one tahaluf database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- registrations --------------------------------------------------------
    def add(
        self, member_id: int, url: str, secret: str, events: Sequence[str], *, max_per_member: int
    ) -> WebhookRecord:
        """Register a webhook (Conflict when the member already has ``max_per_member``)."""
        with self.store.transaction() as conn:
            count = conn.execute(
                select(func.count()).select_from(_hooks).where(_hooks.c.member_id == member_id)
            ).scalar_one()
            if count >= max_per_member:
                raise Conflict(f"a member may register at most {max_per_member} webhooks; delete one first")
            hook_id = conn.execute(
                insert(_hooks).values(member_id=member_id, url=url, secret=secret, events=list(events),
                                      enabled=True, created_at=datetime.now(UTC))
            ).inserted_primary_key[0]
        found = self.get(int(hook_id))
        assert found is not None
        return found

    def get(self, webhook_id: int) -> WebhookRecord | None:
        with self.store.connection() as conn:
            row = conn.execute(_hook_query().where(_hooks.c.id == webhook_id)).first()
        return _webhook(row) if row is not None else None

    def list_webhooks(self, member_id: int | None = None) -> list[WebhookRecord]:
        """The webhooks of one member (``None``: of every member), oldest first."""
        query = _hook_query()
        if member_id is not None:
            query = query.where(_hooks.c.member_id == member_id)
        with self.store.connection() as conn:
            return [_webhook(r) for r in conn.execute(query.order_by(_hooks.c.id)).all()]

    def delete(self, webhook_id: int) -> bool:
        """Delete a webhook and (by cascade) its deliveries; False when it did not exist."""
        with self.store.transaction() as conn:
            conn.execute(delete(_deliveries).where(_deliveries.c.webhook_id == webhook_id))
            return bool(conn.execute(delete(_hooks).where(_hooks.c.id == webhook_id)).rowcount)

    def subscriptions(self, member_id: int) -> list[tuple[int, tuple[str, ...]]]:
        """``(webhook id, events)`` of the member's enabled webhooks (none while the member is disabled)."""
        with self.store.connection() as conn:
            rows = conn.execute(
                select(_hooks.c.id, _hooks.c.events)
                .join(_members, _members.c.id == _hooks.c.member_id)
                .where(_hooks.c.member_id == member_id, _hooks.c.enabled.is_(True), _members.c.enabled.is_(True))
            ).all()
        return [(r.id, tuple(r.events or ())) for r in rows]

    # -- the outbox -----------------------------------------------------------
    def enqueue(
        self, webhook_ids: Sequence[int], event: str, payload: dict[str, Any], at: datetime,
        *, conn: Connection | None = None,
    ) -> int:
        """One pending delivery per webhook that still exists and is enabled, of an enabled member
        (one statement)."""
        if not webhook_ids:
            return 0
        source = select(
            _hooks.c.id, literal(event, _deliveries.c.event.type),
            bindparam("payload", payload, type_=_deliveries.c.payload.type),
            literal("pending", _deliveries.c.status.type), literal(0, _deliveries.c.attempts.type),
            literal(at, _deliveries.c.next_attempt_at.type), literal(at, _deliveries.c.created_at.type),
        ).join(_members, _members.c.id == _hooks.c.member_id).where(
            _hooks.c.id.in_(list(webhook_ids)), _hooks.c.enabled.is_(True), _members.c.enabled.is_(True)
        )
        stmt = insert(_deliveries).from_select(
            ["webhook_id", "event", "payload", "status", "attempts", "next_attempt_at", "created_at"], source
        ).returning(_deliveries.c.id)  # counted from the rows: psycopg reports no rowcount for it
        if conn is not None:
            return len(conn.execute(stmt).all())
        with self.store.transaction() as own:
            return len(own.execute(stmt).all())

    def claim_due(self, at: datetime, *, limit: int, lease_s: float) -> list[DeliveryJob]:
        """Claim up to ``limit`` due deliveries of enabled webhooks of enabled members until
        ``at + lease_s`` (a disabled member's deliveries wait, unsent, until it is enabled again)."""
        lease = at + timedelta(seconds=lease_s)
        d = _deliveries
        query = (
            select(d.c.id, d.c.webhook_id, d.c.event, d.c.payload, d.c.attempts, d.c.created_at,
                   _hooks.c.url, _hooks.c.secret)
            .join(_hooks, _hooks.c.id == d.c.webhook_id)
            .join(_members, _members.c.id == _hooks.c.member_id)
            .where(d.c.status == "pending", d.c.next_attempt_at <= at, _hooks.c.enabled.is_(True),
                   _members.c.enabled.is_(True))
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=d)
        )
        with self.store.transaction() as conn:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(update(d).where(d.c.id.in_([r.id for r in rows])).values(next_attempt_at=lease))
        return [
            DeliveryJob(r.id, r.webhook_id, r.url, r.secret, r.event, dict(r.payload or {}), r.attempts,
                        utc(r.created_at), lease)
            for r in rows
        ]

    def _finish(self, job: DeliveryJob, **values: Any) -> bool:
        d = _deliveries
        with self.store.transaction() as conn:
            done = conn.execute(
                update(d)
                .where(d.c.id == job.id, d.c.status == "pending", d.c.attempts == job.attempts,
                       d.c.next_attempt_at == job.lease)
                .values(**values)
            ).rowcount
        return bool(done)

    def record_success(self, job: DeliveryJob, at: datetime) -> bool:
        """Mark a claimed delivery delivered (False: the claim had been lost)."""
        return self._finish(job, status="delivered", attempts=job.attempts + 1, delivered_at=at)

    def record_failure(self, job: DeliveryJob, error: str, retry_at: datetime | None) -> bool:
        """Count a failed attempt: retry at ``retry_at``, or give up (``None``)."""
        values: dict[str, Any] = {"attempts": job.attempts + 1, "last_error": error[:_ERROR_CHARS]}
        if retry_at is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = retry_at
        return self._finish(job, **values)

    def release(self, job: DeliveryJob, at: datetime) -> bool:
        """Give a claimed, unsent delivery back (due again at ``at``)."""
        return self._finish(job, next_attempt_at=at)

    def deliveries(
        self, webhook_id: int, *, after: int = 0, limit: int = 100, status: str | None = None
    ) -> list[DeliveryRecord]:
        d = _deliveries
        query = select(d).where(d.c.webhook_id == webhook_id, d.c.id > after)
        if status is not None:
            query = query.where(d.c.status == status)
        with self.store.connection() as conn:
            return [_delivery(r) for r in conn.execute(query.order_by(d.c.id).limit(limit)).all()]

    def purge(self, before: datetime) -> int:
        """Delete delivered and failed deliveries created before ``before``."""
        d = _deliveries
        with self.store.transaction() as conn:
            return int(conn.execute(
                delete(d).where(d.c.status.in_(("delivered", "failed")), d.c.created_at < before)
            ).rowcount or 0)
