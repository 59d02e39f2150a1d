"""The feedback port: members' opinions on bank items, disputes, and members' feeds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tahaluf.ports.transactions import AuditNote, FeedNote

__all__ = ["FeedRecord", "FeedbackRecord", "FeedbackRepository"]


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    item_id: int
    member_id: int
    member: str
    opinion: str
    reason: str
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"member": self.member, "opinion": self.opinion, "reason": self.reason,
                "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True, slots=True)
class FeedRecord:
    id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "payload": self.payload, "created_at": self.created_at.isoformat()}


@runtime_checkable
class FeedbackRepository(Protocol):
    """Opinions on bank items (one per member per item) and members' feeds."""

    def upsert(
        self, item_id: int, member_id: int, opinion: str, reason: str, *,
        audit: AuditNote, on_disputed: FeedNote | None = None,
    ) -> tuple[bool, bool]:
        """Store the opinion; (disputed before, disputed after). The audit entry, and the
        feed entries when the item becomes disputed, commit with it."""
        ...

    def list_feedback(self, item_id: int) -> list[FeedbackRecord]: ...

    def disputed_among(self, item_ids: Iterable[int]) -> set[int]: ...

    def list_feed(self, member_id: int, *, after_id: int = 0, limit: int = 100) -> list[FeedRecord]: ...
