"""Feedback on bank items (``agree``, ``disagree``, ``false_positive``) and the
members' feeds.

A member gives one opinion per item it can see (a new one replaces the old).
An item with a negative opinion is *disputed* (the bank's owner vouches for
its items, so that is a conflict; see
:mod:`tahaluf.storage.repository.feedback_sql`); when an item becomes
disputed, its bank's owner (the admins, for the hub operator's banks) gets an
``item.disputed`` entry in its feed and a ``feedback.disputed`` webhook event. Lookups may leave disputed items out.
"""

from __future__ import annotations

from typing import Any

from tahaluf.access import Capability, Principal
from tahaluf.errors import InvalidInput, NotFound
from tahaluf.services.bank_names import short_name
from tahaluf.services.hub import BankView, Hub
from tahaluf.services.reviews import emit_event
from tahaluf.storage import ItemRecord
from tahaluf.storage.repository.feedback_sql import (
    OPINIONS,
    AuditNote,
    FeedNote,
    list_feed,
    list_feedback,
    upsert_feedback,
)

__all__ = ["OPINIONS", "give_feedback", "item_feedback", "feed"]


def _item(hub: Hub, who: Principal, bank: str, external_id: str) -> tuple[BankView, ItemRecord]:
    """The bank and the item, if ``who`` may see the bank (else NotFound)."""
    view = hub.bank(who, bank)
    item = hub.store.get_item(view.record.id, external_id)
    if item is None:
        raise NotFound(f"bank {bank!r} has no item {external_id!r}")
    return view, item


def _owner_ids(hub: Hub, owner: str | None) -> list[int]:
    """Who hears about a bank's items: its owner, or every enabled admin for the operator's banks."""
    if owner is not None:
        member = hub.hubstore.get_member(owner)
        return [member.id] if member is not None else []
    return [m.id for m in hub.hubstore.list_members() if m.enabled and "admin" in m.roles]


def give_feedback(hub: Hub, who: Principal, bank: str, external_id: str, opinion: str, reason: str
                  ) -> dict[str, Any]:
    """Store ``who``'s opinion on an item it can see; notify the owner if it became disputed."""
    who.require(Capability.FEEDBACK)
    if opinion not in OPINIONS:
        raise InvalidInput(f"opinion must be one of {', '.join(OPINIONS)}, not {opinion!r}")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("feedback needs a reason")
    view, item = _item(hub, who, bank, external_id)
    owner, bank = view.record.owner, view.label or bank
    target = f"bank:{view.record.name}/item:{external_id}"
    notify = FeedNote(
        [m for m in _owner_ids(hub, owner) if m != who.member_id], "item.disputed",
        {"bank": short_name(view.record.name), "external_id": external_id, "item_id": item.id, "by": who.name, "opinion": opinion,
         "reason": reason},
    )
    before, after = upsert_feedback(
        hub.hubstore, item.id, who.member_id, opinion, reason,
        audit=AuditNote(who.name, "feedback.give", target, {"opinion": opinion, "reason": reason}),
        on_disputed=notify,
    )
    if after and not before:
        for member_id in notify.member_ids:
            emit_event(hub, member_id, "feedback.disputed", notify.payload)
    return {"bank": bank, "external_id": external_id, "member": who.name, "opinion": opinion, "reason": reason,
            "disputed": after, "became_disputed": after and not before}


def item_feedback(hub: Hub, who: Principal, bank: str, external_id: str) -> dict[str, Any]:
    """Every member's opinion on an item ``who`` can see, and whether it is disputed."""
    who.require(Capability.READ)
    view, item = _item(hub, who, bank, external_id)
    entries = list_feedback(hub.store, item.id)
    return {"bank": view.label or bank, "external_id": external_id, "disputed": item.id in hub.disputed_items({item.id}),
            "feedback": [e.to_json() for e in entries]}


def feed(hub: Hub, who: Principal, *, after_id: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the caller's own feed (every member has one)."""
    limit = max(1, min(limit, hub.config.max_page))
    entries = list_feed(hub.store, who.member_id, after_id=after_id, limit=limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    return [e.to_json() for e in entries], (entries[-1].id if more else None)
