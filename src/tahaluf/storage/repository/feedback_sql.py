"""Feedback on bank items and the members' feeds: storage queries.

An item is *disputed* when members disagree about it: the bank's owner
vouches for every item it added (an implicit ``agree``), so one ``disagree``
or ``false_positive`` from any member is a conflict.

Feedback is one opinion per member per item (an upsert). The item row is
locked while an opinion is stored (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite write transactions are serial anyway), so "the item just became
disputed" is decided once, however many members answer at the same time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select

from tahaluf.ports.feedback import FeedbackRecord, FeedRecord
from tahaluf.ports.transactions import AuditNote, FeedNote
from tahaluf.ports.vocabulary import NEGATIVE_OPINIONS, OPINIONS
from tahaluf.storage.models import BankItem, Feedback, FeedEntry, Member, table
from tahaluf.ports.clock import now
from tahaluf.storage.repository.hub_sql import HubStore
from tahaluf.storage.repository.listing_sql import disputed_clause
from tahaluf.storage.repository.rows import as_utc as _utc
from tahaluf.storage.repository.sql import Store

__all__ = [
    "NEGATIVE_OPINIONS", "OPINIONS", "AuditNote", "FeedNote", "FeedbackRecord", "FeedRecord", "FeedbackStore",
    "disputed_among", "disputed_clause", "upsert_feedback", "list_feedback", "add_feed_entries", "list_feed",
]

_feedback = table(Feedback)
_feed = table(FeedEntry)
_items = table(BankItem)
_members = table(Member)



def disputed_among(store: Store, item_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(item_ids))
    out: set[int] = set()
    with store.connection() as conn:
        for start in range(0, len(ids), 900):
            part = ids[start : start + 900]
            rows = conn.execute(
                select(_feedback.c.item_id)
                .where(_feedback.c.item_id.in_(part), _feedback.c.opinion.in_(NEGATIVE_OPINIONS))
                .distinct()
            ).all()
            out.update(r[0] for r in rows)
    return out


def _is_disputed(conn: Connection, item_id: int) -> bool:
    return bool(conn.execute(select(exists().where(
        _feedback.c.item_id == item_id, _feedback.c.opinion.in_(NEGATIVE_OPINIONS)))).scalar())


def upsert_feedback(
    hubstore: HubStore, item_id: int, member_id: int, opinion: str, reason: str, *,
    audit: AuditNote, on_disputed: FeedNote | None = None,
) -> tuple[bool, bool]:
    """Store the member's opinion on the item (replacing its earlier one).

    Returns (disputed before, disputed after). When the item becomes disputed,
    ``on_disputed`` entries are added; the audit entry (with ``disputed``
    added to its details) is appended in the same transaction.
    """
    with hubstore.store.transaction() as conn:
        conn.execute(select(_items.c.id).where(_items.c.id == item_id).with_for_update())
        before = _is_disputed(conn, item_id)
        conn.execute(delete(_feedback).where(_feedback.c.item_id == item_id, _feedback.c.member_id == member_id))
        conn.execute(insert(_feedback).values(item_id=item_id, member_id=member_id, opinion=opinion, reason=reason,
                                              updated_at=now()))
        after = _is_disputed(conn, item_id)
        if after and not before and on_disputed is not None:
            add_feed_entries(conn, on_disputed.member_ids, on_disputed.kind, on_disputed.payload)
        hubstore.append_audit(audit.actor, audit.action, audit.target, {**audit.details, "disputed": after},
                              conn=conn)
    return before, after


def list_feedback(store: Store, item_id: int) -> list[FeedbackRecord]:
    """Every member's opinion on an item, oldest change first."""
    with store.connection() as conn:
        rows = conn.execute(
            select(_feedback, _members.c.name.label("member"))
            .join(_members, _members.c.id == _feedback.c.member_id)
            .where(_feedback.c.item_id == item_id)
            .order_by(_feedback.c.updated_at, _feedback.c.id)
        ).all()
    return [FeedbackRecord(r.item_id, r.member_id, r.member, r.opinion, r.reason, _utc(r.updated_at)) for r in rows]


def add_feed_entries(conn: Connection, member_ids: Iterable[int], kind: str, payload: dict[str, Any]) -> None:
    """One feed entry per member (in the caller's transaction)."""
    at = now()
    rows = [dict(member_id=m, kind=kind, payload=payload, created_at=at) for m in sorted(set(member_ids))]
    if rows:
        conn.execute(insert(_feed), rows)


def list_feed(store: Store, member_id: int, *, after_id: int = 0, limit: int = 100) -> list[FeedRecord]:
    with store.connection() as conn:
        rows = conn.execute(
            select(_feed).where(_feed.c.member_id == member_id, _feed.c.id > after_id)
            .order_by(_feed.c.id).limit(limit)
        ).all()
    return [FeedRecord(r.id, r.kind, dict(r.payload or {}), _utc(r.created_at)) for r in rows]


class FeedbackStore:
    """The feedback port on SQL (the functions above, bound to one hub database)."""

    def __init__(self, hubstore: HubStore) -> None:
        self.hubstore = hubstore

    def upsert(
        self, item_id: int, member_id: int, opinion: str, reason: str, *,
        audit: AuditNote, on_disputed: FeedNote | None = None,
    ) -> tuple[bool, bool]:
        return upsert_feedback(self.hubstore, item_id, member_id, opinion, reason, audit=audit,
                               on_disputed=on_disputed)

    def list_feedback(self, item_id: int) -> list[FeedbackRecord]:
        return list_feedback(self.hubstore.store, item_id)

    def disputed_among(self, item_ids: Iterable[int]) -> set[int]:
        return disputed_among(self.hubstore.store, item_ids)

    def list_feed(self, member_id: int, *, after_id: int = 0, limit: int = 100) -> list[FeedRecord]:
        return list_feed(self.hubstore.store, member_id, after_id=after_id, limit=limit)
