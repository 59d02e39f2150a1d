"""The wire form of submissions and review tasks, shared by ``/v1/reviews`` and ``tahaluf review``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tahaluf.services.review_intake import match_json
from tahaluf.services.reviews import Page, SubmissionView, Submitted, TaskView

__all__ = [
    "SubmissionOut",
    "SubmissionPage",
    "SubmittedOut",
    "TaskOut",
    "TaskPage",
    "submission_out",
    "submission_page",
    "submitted_out",
    "task_out",
    "task_page",
]


class SubmittedOut(BaseModel):
    submission_id: int = Field(description="the earlier submission's id when its task is still open")
    task: dict[str, Any] = Field(description="{id, new}: new is false when an open task already had this content")
    matches: list[dict[str, Any]]
    signals: list[dict[str, Any]]


class SubmissionOut(BaseModel):
    id: int
    member: str | None
    kind: str
    sha256: str | None
    text: str | None
    url: str | None
    note: str | None
    signals: list[dict[str, Any]]
    created_at: str
    task: dict[str, Any] | None


class SubmissionPage(BaseModel):
    submissions: list[SubmissionOut]
    next_after: int | None = None


class TaskOut(BaseModel):
    id: int
    source: Literal["submission", "match"]
    status: str
    member: str | None
    submission: dict[str, Any] | None
    signals: list[dict[str, Any]]
    matches: list[dict[str, Any]] = Field(description="matches in banks the caller may see")
    hidden_matches: int = Field(description="matches in banks the caller may not see")
    claimed_by: str | None
    claim_expires_at: str | None
    created_at: str
    updated_at: str
    decisions: list[dict[str, Any]]


class TaskPage(BaseModel):
    tasks: list[TaskOut]
    next_after: int | None = None


def submitted_out(s: Submitted) -> SubmittedOut:
    return SubmittedOut(submission_id=s.submission_id, task={"id": s.task_id, "new": s.new},
                        matches=[match_json(m) for m in s.matches], signals=s.signals)


def submission_out(view: SubmissionView) -> SubmissionOut:
    sub = view.submission
    return SubmissionOut(
        id=sub.id, member=view.member, kind=sub.kind, sha256=sub.sha256, text=sub.text, url=sub.url, note=sub.note,
        signals=sub.signals, created_at=sub.created_at.isoformat(),
        task={"id": sub.task_id, "status": sub.task_status} if sub.task_id is not None else None,
    )


def submission_page(page: Page[SubmissionView]) -> SubmissionPage:
    return SubmissionPage(submissions=[submission_out(v) for v in page.items], next_after=page.next_after)


def task_out(t: TaskView) -> TaskOut:
    sub = t.submission
    return TaskOut(
        id=t.id, source=t.source, status=t.status, member=t.member,  # type: ignore[arg-type]
        submission=None if sub is None else {
            "id": sub.id, "kind": sub.kind, "sha256": sub.sha256, "text": sub.text, "url": sub.url, "note": sub.note,
        },
        signals=t.signals, matches=t.matches, hidden_matches=t.hidden_matches, claimed_by=t.claimed_by,
        claim_expires_at=t.claim_expires_at.isoformat() if t.claim_expires_at else None,
        created_at=t.created_at.isoformat(), updated_at=t.updated_at.isoformat(),
        decisions=[
            {"member": d.member, "decision": d.decision, "reason": d.reason, "labels": d.labels, "bank": d.bank,
             "decided_at": d.decided_at.isoformat()}
            for d in t.decisions
        ],
    )


def task_page(page: Page[TaskView]) -> TaskPage:
    return TaskPage(tasks=[task_out(t) for t in page.items], next_after=page.next_after)
