"""The feedback port in memory: one opinion per member per item, disputes, members' feeds."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from tahaluf.errors import NotFound
from tahaluf.ports.feedback import FeedbackRecord, FeedRecord
from tahaluf.ports.transactions import AuditNote, FeedNote
from tahaluf.ports.vocabulary import NEGATIVE_OPINIONS
from tahaluf.storage.memory.hub import MemoryHub
from tahaluf.storage.memory.state import Tables

__all__ = ["MemoryFeedback", "add_feed_entries"]


def add_feed_entries(hub: MemoryHub, t: Tables, member_ids: Iterable[int], kind: str,
                     payload: dict[str, Any]) -> None:
    """One feed entry per member (in the open change)."""
    at = hub.state.now()
    for member_id in sorted(set(member_ids)):
        entry_id = hub.state.next_id("feed")
        t.feed[entry_id] = {"id": entry_id, "member_id": member_id, "kind": kind,
                            "payload": copy.deepcopy(payload), "created_at": at}


def _disputed(t: Tables, item_id: int) -> bool:
    return any(i == item_id and row[0] in NEGATIVE_OPINIONS for (i, _m), row in t.feedback.items())


class MemoryFeedback:
    """Feedback and feeds of the hub's :class:`~tahaluf.storage.memory.state.MemoryState`."""

    def __init__(self, hub: MemoryHub) -> None:
        self.hub = hub
        self.state = hub.state

    def upsert(
        self, item_id: int, member_id: int, opinion: str, reason: str, *,
        audit: AuditNote, on_disputed: FeedNote | None = None,
    ) -> tuple[bool, bool]:
        """Store the member's opinion (replacing its earlier one); (disputed before, after)."""
        with self.state.change() as t:
            if item_id not in t.items or member_id not in t.members:
                raise NotFound(f"no item {item_id} or member {member_id}")  # SQL: a foreign-key violation
            before = _disputed(t, item_id)
            t.feedback[(item_id, member_id)] = (opinion, reason, self.state.now(), self.state.next_id("feedback"))
            after = _disputed(t, item_id)
            if after and not before and on_disputed is not None:
                add_feed_entries(self.hub, t, on_disputed.member_ids, on_disputed.kind, on_disputed.payload)
            self.hub.append_audit(audit.actor, audit.action, audit.target, {**audit.details, "disputed": after})
        return before, after

    def list_feedback(self, item_id: int) -> list[FeedbackRecord]:
        """Every member's opinion on an item, oldest change first."""
        with self.state.read() as t:
            rows = sorted(((row[2], row[3], m, row) for (i, m), row in t.feedback.items() if i == item_id),
                          key=lambda r: (r[0], r[1]))
            return [FeedbackRecord(item_id, m, t.members[m]["name"], row[0], row[1], row[2])
                    for _at, _id, m, row in rows]

    def disputed_among(self, item_ids: Iterable[int]) -> set[int]:
        wanted = set(item_ids)
        with self.state.read() as t:
            return {i for (i, _m), row in t.feedback.items() if i in wanted and row[0] in NEGATIVE_OPINIONS}

    def list_feed(self, member_id: int, *, after_id: int = 0, limit: int = 100) -> list[FeedRecord]:
        with self.state.read() as t:
            rows = [t.feed[i] for i in sorted(t.feed) if i > after_id and t.feed[i]["member_id"] == member_id]
            return [FeedRecord(r["id"], r["kind"], copy.deepcopy(r["payload"]), r["created_at"])
                    for r in rows[:limit]]
