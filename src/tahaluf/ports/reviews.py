"""The review-queue port: submissions, tasks, claims and decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tahaluf.ports.banks import ItemRow
from tahaluf.ports.transactions import AuditNote, FeedNote
from tahaluf.ports.vocabulary import OPEN_STATUSES

__all__ = [
    "DecisionRecord", "NewSubmission", "NewTask", "ReviewRepository", "ReviewedItem", "SubmissionRecord",
    "TaskRecord",
]


@dataclass(frozen=True, slots=True)
class NewTask:
    source: str  # "submission" | "match"
    member_id: int | None
    dedupe_key: str | None
    signals: list[dict[str, Any]]
    matches: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ReviewedItem:
    """The bank item a decision adds, with the audit entry of that addition (its details
    get ``imported`` and ``duplicates`` when stored)."""

    bank_id: int
    row: ItemRow
    audit: AuditNote


@dataclass(frozen=True, slots=True)
class NewSubmission:
    member_id: int
    kind: str  # "content" | "text" | "url"
    signals: list[dict[str, Any]]
    sha256: str | None = None
    text: str | None = None
    url: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SubmissionRecord:
    id: int
    member_id: int | None
    kind: str
    sha256: str | None
    text: str | None
    url: str | None
    note: str | None
    signals: list[dict[str, Any]]
    created_at: datetime
    task_id: int | None = None
    task_status: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    id: int
    task_id: int
    member_id: int | None
    decision: str
    reason: str
    labels: dict[str, Any]
    bank: str | None
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: int
    source: str
    submission_id: int | None
    member_id: int | None
    signals: list[dict[str, Any]]
    matches: list[dict[str, Any]]
    status: str
    claimed_by: int | None
    claim_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    decisions: tuple[DecisionRecord, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def claim_holder(self, at: datetime) -> int | None:
        """The member holding an unexpired claim at ``at`` (None: free)."""
        if self.claimed_by is None or self.claim_expires_at is None or self.claim_expires_at <= at:
            return None
        return self.claimed_by


@runtime_checkable
class ReviewRepository(Protocol):
    """The review queue: each change commits with its audit entry (and feed, item) at once."""

    def add_submission(self, sub: NewSubmission, task: NewTask, audit: AuditNote) -> tuple[int, int, bool]: ...

    def list_submissions(self, member_id: int | None, *, after_id: int, limit: int) -> list[SubmissionRecord]: ...

    def get_submissions(self, ids: Sequence[int]) -> dict[int, SubmissionRecord]: ...

    def held_keys(self, keys: Sequence[str]) -> set[str]: ...

    def add_tasks(self, tasks: Sequence[NewTask], actor: str) -> list[int]: ...

    def get_task(self, task_id: int) -> TaskRecord | None: ...

    def list_tasks(
        self, statuses: Sequence[str], *, after_id: int, limit: int, submissions_of: int | None = None
    ) -> list[TaskRecord]: ...

    def claim(self, task_id: int, member_id: int, expires_at: datetime, audit: AuditNote) -> bool: ...

    def release(self, task_id: int, holder: int, audit: AuditNote) -> bool: ...

    def decide(
        self, task: TaskRecord, member_id: int, decision: str, new_status: str, *, reason: str,
        labels: dict[str, Any], bank: str | None, audit: AuditNote, feed: FeedNote | None = None,
        item: ReviewedItem | None = None,
    ) -> bool: ...
