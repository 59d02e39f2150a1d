"""Submissions and the review queue: ``/v1/submissions`` and ``/v1/reviews``.

Review queueing and owner notification run inside the lookup service (see
:func:`tahaluf.bootstrap.open_hub`), whoever calls. Each route parses, calls one :class:`ReviewService` operation
and returns its result through :mod:`tahaluf.wire.reviews`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, File, Form, Path, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import Field, model_validator

from tahaluf.access import Capability, Principal
from tahaluf.api.deps import get_hub, require
from tahaluf.api.routes.common import Strict, make_router
from tahaluf.api.uploads import content_error as _content_error, hash_upload_kept
from tahaluf.services.evidence import EvidenceUpload
from tahaluf.services.hashing import HashOptions
from tahaluf.services.hub import Hub
from tahaluf.services.reviews import (
    Decision,
    ReviewService,
)
from tahaluf.wire.reviews import (
    SubmissionPage,
    SubmittedOut,
    TaskOut,
    TaskPage,
    submission_page,
    submitted_out,
    task_out,
    task_page,
)

router = make_router("reviews")
_submitter = require(Capability.SUBMIT)
_reviewer = require(Capability.REVIEW)

_ID = Path(ge=1, le=2**62, description="review task id")
_AFTER = Query(ge=0, le=2**62, description="id to start after (the previous page's next_after)")
_LIMIT = Query(ge=1, le=100_000, description="page size (at most the hub's max_page)")
_NOTE = Field(None, max_length=2000, description="why the member suspects it (shown to reviewers)")
StatusFilter = Literal["open", "pending", "pending_second", "escalated", "confirmed", "rejected", "all"]


class SubmissionIn(Strict):
    text: str | None = Field(None, min_length=1, max_length=1_000_000, description="a text post")
    url: str | None = Field(None, min_length=1, max_length=8192, description="a URL")
    note: str | None = _NOTE

    @model_validator(mode="after")
    def _one_of(self) -> SubmissionIn:
        if (self.text is None) == (self.url is None):
            raise ValueError("give exactly one of text or url")
        return self


class DecisionIn(Strict):
    decision: Literal["confirm", "reject", "escalate"]
    reason: str = Field(min_length=1, max_length=10_000, pattern=r"\S")
    labels: dict[str, Any] = Field(default_factory=dict, description="labels of the item a decision adds")
    bank: str | None = Field(None, min_length=1, max_length=128,
                             description="confirm: the known bank to add to; reject: an allow bank (optional)")


@router.post("/submissions", summary="Submit a text post or a URL for review", status_code=201,
             response_model=SubmittedOut)
def submit(body: SubmissionIn, who: Principal = Depends(_submitter), hub: Hub = Depends(get_hub)) -> SubmittedOut:
    service = ReviewService(hub)
    if body.text is not None:
        return submitted_out(service.submit_text(who, body.text, body.note))
    return submitted_out(service.submit_url(who, body.url or "", body.note))


@router.post("/submissions/content", summary="Upload content for review (its bytes kept, sealed, as evidence)",
             status_code=201, response_model=SubmittedOut)
async def submit_content(
    file: Annotated[UploadFile, File(description="a photo, video, PDF or text file")],
    note: Annotated[str | None, Form(max_length=2000)] = None,
    who: Principal = Depends(_submitter),
    hub: Hub = Depends(get_hub),
) -> SubmittedOut:
    result, data = await hash_upload_kept(hub, file, HashOptions(trim_borders=True, bank_crops=True))
    if result.error:
        raise _content_error(result)
    upload = EvidenceUpload(data, file.filename)
    out = await run_in_threadpool(ReviewService(hub).submit_content, who, result, note, upload)
    return submitted_out(out)


@router.get("/submissions", summary="The caller's submissions (an admin's: everyone's)",
            response_model=SubmissionPage)
def list_submissions(
    after: Annotated[int, _AFTER] = 0, limit: Annotated[int, _LIMIT] = 100,
    who: Principal = Depends(_submitter), hub: Hub = Depends(get_hub),
) -> SubmissionPage:
    return submission_page(ReviewService(hub).submissions(who, after_id=after, limit=limit))


@router.get("/reviews", summary="The review queue", response_model=TaskPage)
def list_reviews(
    status: StatusFilter = "open", after: Annotated[int, _AFTER] = 0, limit: Annotated[int, _LIMIT] = 100,
    who: Principal = Depends(_reviewer), hub: Hub = Depends(get_hub),
) -> TaskPage:
    return task_page(ReviewService(hub).list_tasks(who, status, after_id=after, limit=limit))


@router.get("/reviews/{task_id}", summary="One review task with its decisions", response_model=TaskOut)
def show_review(task_id: Annotated[int, _ID], who: Principal = Depends(_reviewer),
                hub: Hub = Depends(get_hub)) -> TaskOut:
    return task_out(ReviewService(hub).show(who, task_id))


@router.post("/reviews/{task_id}/claim", summary="Claim a task (for review_claim_ttl_s seconds)",
             response_model=TaskOut)
def claim_review(task_id: Annotated[int, _ID], who: Principal = Depends(_reviewer),
                 hub: Hub = Depends(get_hub)) -> TaskOut:
    return task_out(ReviewService(hub).claim(who, task_id))


@router.post("/reviews/{task_id}/release", summary="Release a claim (its holder, or an admin)",
             response_model=TaskOut)
def release_review(task_id: Annotated[int, _ID], who: Principal = Depends(_reviewer),
                   hub: Hub = Depends(get_hub)) -> TaskOut:
    return task_out(ReviewService(hub).release(who, task_id))


@router.post("/reviews/{task_id}/decision", summary="Confirm, reject or escalate a task", response_model=TaskOut)
def decide_review(task_id: Annotated[int, _ID], body: DecisionIn, who: Principal = Depends(_reviewer),
                  hub: Hub = Depends(get_hub)) -> TaskOut:
    decision = Decision(body.decision, body.reason, body.labels, body.bank)
    return task_out(ReviewService(hub).decide(who, task_id, decision))
