"""The wire form of feedback and feeds, shared by ``/v1/feedback``, ``/v1/feed`` and ``tahaluf feedback``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tahaluf.services.feedback import FeedbackGiven, FeedPage, ItemFeedback

__all__ = [
    "FeedEntryOut",
    "FeedOut",
    "FeedbackOut",
    "ItemFeedbackOut",
    "OpinionOut",
    "feed_out",
    "feedback_out",
    "item_feedback_out",
]


class FeedbackOut(BaseModel):
    bank: str
    external_id: str
    member: str
    opinion: str
    reason: str
    disputed: bool = Field(description="the item now has conflicting feedback")
    became_disputed: bool = Field(description="this opinion made it disputed (its owner was notified)")


class OpinionOut(BaseModel):
    member: str
    opinion: str
    reason: str
    updated_at: str


class ItemFeedbackOut(BaseModel):
    bank: str
    external_id: str
    disputed: bool
    feedback: list[OpinionOut]


class FeedEntryOut(BaseModel):
    id: int
    kind: str = Field(description="item.disputed or review.decided")
    payload: dict[str, object]
    created_at: str


class FeedOut(BaseModel):
    entries: list[FeedEntryOut]
    next_after: int | None = None


def feedback_out(g: FeedbackGiven) -> FeedbackOut:
    return FeedbackOut(bank=g.bank, external_id=g.external_id, member=g.member, opinion=g.opinion, reason=g.reason,
                       disputed=g.disputed, became_disputed=g.became_disputed)


def item_feedback_out(f: ItemFeedback) -> ItemFeedbackOut:
    return ItemFeedbackOut(bank=f.bank, external_id=f.external_id, disputed=f.disputed,
                           feedback=[OpinionOut(member=e.member, opinion=e.opinion, reason=e.reason,
                                                updated_at=e.updated_at.isoformat()) for e in f.feedback])


def feed_out(page: FeedPage) -> FeedOut:
    return FeedOut(entries=[FeedEntryOut(id=e.id, kind=e.kind, payload=e.payload, created_at=e.created_at.isoformat())
                            for e in page.entries], next_after=page.next_after)
