"""Feedback on bank items (``agree``, ``disagree``, ``false_positive``) and the
members' feeds.

A member gives one opinion per item it can see (a new one replaces the old).
An item with a negative opinion is *disputed* (the bank's owner vouches for
its items, so that is a conflict; see
:class:`~tahaluf.ports.feedback.FeedbackRepository`); when an item becomes
disputed, its bank's owner (the admins, for the hub operator's banks) gets an
``item.disputed`` entry in its feed and a ``feedback.disputed`` webhook event. Lookups may leave disputed items out.

:class:`FeedbackService` (give, show, feed) is what the API and the CLI call;
``tahaluf.wire.feedback`` renders its typed results.
"""

from __future__ import annotations

from dataclasses import dataclass

from tahaluf.access import Capability, Principal
from tahaluf.errors import InvalidInput, NotFound
from tahaluf.ports.banks import ItemRecord
from tahaluf.ports.feedback import FeedbackRecord, FeedRecord
from tahaluf.ports.transactions import AuditNote, FeedNote
from tahaluf.ports.vocabulary import OPINIONS
from tahaluf.services.bank_names import short_name
from tahaluf.services.hub import BankView, Hub
from tahaluf.services.webhooks import Notifier

__all__ = ["OPINIONS", "FeedPage", "FeedbackGiven", "FeedbackService", "ItemFeedback"]


@dataclass(frozen=True, slots=True)
class FeedbackGiven:
    bank: str
    external_id: str
    member: str
    opinion: str
    reason: str
    disputed: bool  # the item now has conflicting feedback
    became_disputed: bool  # this opinion made it disputed (its owner was notified)


@dataclass(frozen=True, slots=True)
class ItemFeedback:
    bank: str
    external_id: str
    disputed: bool
    feedback: list[FeedbackRecord]


@dataclass(frozen=True, slots=True)
class FeedPage:
    entries: list[FeedRecord]
    next_after: int | None


class FeedbackService:
    """Opinions on bank items and the members' feeds, for one hub."""

    def __init__(self, hub: Hub, notifier: Notifier | None = None) -> None:
        self.hub = hub
        self.notifier = notifier if notifier is not None else Notifier(hub)

    def give(self, who: Principal, bank: str, external_id: str, opinion: str, reason: str) -> FeedbackGiven:
        """Store ``who``'s opinion on an item it can see; notify the owner if it became disputed."""
        who.require(Capability.FEEDBACK)
        if opinion not in OPINIONS:
            raise InvalidInput(f"opinion must be one of {', '.join(OPINIONS)}, not {opinion!r}")
        reason = reason.strip()
        if not reason:
            raise InvalidInput("feedback needs a reason")
        view, item = self._item(who, bank, external_id)
        owner, bank = view.record.owner, view.label or bank
        target = f"bank:{view.record.name}/item:{external_id}"
        notify = FeedNote(
            [m for m in self._owner_ids(owner) if m != who.member_id], "item.disputed",
            {"bank": short_name(view.record.name), "external_id": external_id, "item_id": item.id, "by": who.name,
             "opinion": opinion, "reason": reason},
        )
        before, after = self.hub.ports.feedback.upsert(
            item.id, who.member_id, opinion, reason,
            audit=AuditNote(who.name, "feedback.give", target, {"opinion": opinion, "reason": reason}),
            on_disputed=notify,
        )
        if after and not before:
            for member_id in notify.member_ids:
                self.notifier.send(member_id, "feedback.disputed", notify.payload)
        return FeedbackGiven(bank, external_id, who.name, opinion, reason, after, after and not before)

    def show(self, who: Principal, bank: str, external_id: str) -> ItemFeedback:
        """Every member's opinion on an item ``who`` can see, and whether it is disputed."""
        who.require(Capability.READ)
        view, item = self._item(who, bank, external_id)
        entries = self.hub.ports.feedback.list_feedback(item.id)
        disputed = item.id in self.hub.lookup.disputed_items({item.id})
        return ItemFeedback(view.label or bank, external_id, disputed, entries)

    def feed(self, who: Principal, *, after_id: int = 0, limit: int = 100) -> FeedPage:
        """One page of the caller's own feed (every member has one)."""
        limit = max(1, min(limit, self.hub.config.max_page))
        entries = self.hub.ports.feedback.list_feed(who.member_id, after_id=after_id, limit=limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        return FeedPage(entries, entries[-1].id if more else None)

    def _item(self, who: Principal, bank: str, external_id: str) -> tuple[BankView, ItemRecord]:
        """The bank and the item, if ``who`` may see the bank (else NotFound)."""
        view = self.hub.banks.get(who, bank)
        item = self.hub.store.get_item(view.record.id, external_id)
        if item is None:
            raise NotFound(f"bank {bank!r} has no item {external_id!r}")
        return view, item

    def _owner_ids(self, owner: str | None) -> list[int]:
        """Who hears about a bank's items: its owner, or every enabled admin for the operator's banks."""
        if owner is not None:
            member = self.hub.hubstore.get_member(owner)
            return [member.id] if member is not None else []
        return [m.id for m in self.hub.hubstore.list_members() if m.enabled and "admin" in m.roles]
