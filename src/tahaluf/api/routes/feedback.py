"""Feedback on bank items and each member's feed: ``/v1/feedback``, ``/v1/feed``.

Each route calls one :class:`FeedbackService` operation and returns its result
through :mod:`tahaluf.wire.feedback`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query
from pydantic import Field

from tahaluf.access import Capability, Principal
from tahaluf.api.deps import get_hub, principal, require
from tahaluf.api.routes.common import Strict, make_router
from tahaluf.services.feedback import FeedbackService
from tahaluf.services.hub import Hub
from tahaluf.wire.feedback import (
    FeedbackOut,
    FeedOut,
    ItemFeedbackOut,
    feed_out,
    feedback_out,
    item_feedback_out,
)

router = make_router("feedback")
_giver = require(Capability.FEEDBACK)
_reader = require(Capability.READ)


class FeedbackIn(Strict):
    bank: str = Field(min_length=1, max_length=128)
    external_id: str = Field(min_length=1, max_length=1024)
    opinion: Literal["agree", "disagree", "false_positive"]
    reason: str = Field(min_length=1, max_length=10_000, pattern=r"\S")


@router.post("/feedback", summary="Give (or change) an opinion on an item", response_model=FeedbackOut)
def give(body: FeedbackIn, who: Principal = Depends(_giver), hub: Hub = Depends(get_hub)) -> FeedbackOut:
    return feedback_out(FeedbackService(hub).give(who, body.bank, body.external_id, body.opinion, body.reason))


@router.get("/feedback", summary="Every opinion on an item", response_model=ItemFeedbackOut)
def on_item(
    bank: Annotated[str, Query(min_length=1, max_length=128)],
    external_id: Annotated[str, Query(min_length=1, max_length=1024)],
    who: Principal = Depends(_reader),
    hub: Hub = Depends(get_hub),
) -> ItemFeedbackOut:
    return item_feedback_out(FeedbackService(hub).show(who, bank, external_id))


@router.get("/feed", summary="The caller's feed (its items disputed, its reviews decided)", response_model=FeedOut)
def my_feed(
    after: Annotated[int, Query(ge=0, le=2**62, description="id to start after (next_after)")] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000, description="page size (at most the hub's max_page)")] = 100,
    who: Principal = Depends(principal),
    hub: Hub = Depends(get_hub),
) -> FeedOut:
    return feed_out(FeedbackService(hub).feed(who, after_id=after, limit=limit))
