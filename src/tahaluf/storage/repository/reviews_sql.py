"""Submissions, review tasks and review decisions: storage queries.

A task's ``dedupe_key`` (UNIQUE) names "this member's content": a task that
holds it blocks a second task for the same content from the same member.
Tasks are inserted with ``ON CONFLICT (dedupe_key) DO NOTHING``, so two
workers racing to queue the same content create one task and neither fails.
A submission takes the key over from a *decided* task (the old task keeps
its history, the new one is reviewed afresh); lookups never do.

Claims and decisions are conditional updates (``WHERE status = ... AND the
claim is free or ours``): the row count says whether we won a race. A
decision, the bank item it adds, their audit entries and any feed entry
commit in one transaction, and the item is written only after the guarded
update won: a reviewer who loses a race to decide a task adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tahaluf.errors import StorageError
from tahaluf.ports.reviews import (
    DecisionRecord,
    NewSubmission,
    NewTask,
    ReviewedItem,
    SubmissionRecord,
    TaskRecord,
)
from tahaluf.ports.vocabulary import DECISIONS, OPEN_STATUSES, TASK_STATUSES
from tahaluf.storage.repository.rows import as_utc as _utc
from tahaluf.storage.models import ReviewDecision, ReviewTask, Submission, table
from tahaluf.storage.repository.feedback_sql import AuditNote, FeedNote, add_feed_entries
from tahaluf.ports.clock import now
from tahaluf.storage.repository.hub_sql import HubStore

__all__ = [
    "TASK_STATUSES", "OPEN_STATUSES", "DECISIONS", "AuditNote", "FeedNote", "NewTask", "NewSubmission",
    "SubmissionRecord", "DecisionRecord", "TaskRecord", "ReviewedItem", "ReviewStore",
]


_subs = table(Submission)
_tasks = table(ReviewTask)
_decisions = table(ReviewDecision)



def _task(row: Any, decisions: Sequence[DecisionRecord] = ()) -> TaskRecord:
    return TaskRecord(
        row.id, row.source, row.submission_id, row.member_id, list(row.signals or []), list(row.matches or []),
        row.status, row.claimed_by, _utc(row.claim_expires_at) if row.claim_expires_at else None,
        _utc(row.created_at), _utc(row.updated_at), tuple(decisions),
    )


def _decision(row: Any) -> DecisionRecord:
    return DecisionRecord(row.id, row.task_id, row.member_id, row.decision, row.reason, dict(row.labels or {}),
                          row.bank, _utc(row.decided_at))


def _submission(row: Any, task_id: int | None = None, task_status: str | None = None) -> SubmissionRecord:
    return SubmissionRecord(row.id, row.member_id, row.kind, row.sha256, row.text, row.url, row.note,
                            list(row.signals or []), _utc(row.created_at), task_id, task_status)


def _insert_ignoring_duplicate_key(conn: Connection) -> Any:
    """``INSERT INTO review_tasks ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id``."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(_tasks).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(_tasks.c.id)


def _claim_free(member_id: int, at: datetime) -> Any:
    return or_(_tasks.c.claimed_by.is_(None), _tasks.c.claimed_by == member_id,
               _tasks.c.claim_expires_at.is_(None), _tasks.c.claim_expires_at <= at)


class ReviewStore:
    """Submissions, tasks and decisions of one database (audit entries through ``hubstore``)."""

    def __init__(self, hubstore: HubStore) -> None:
        self.hubstore = hubstore
        self.store = hubstore.store

    def _audit(self, conn: Connection, note: AuditNote | None) -> None:
        if note is not None:
            self.hubstore.append_audit(note.actor, note.action, note.target, note.details, conn=conn)

    def _task_values(self, task: NewTask, at: datetime, submission_id: int | None = None) -> dict[str, Any]:
        return dict(source=task.source, submission_id=submission_id, member_id=task.member_id,
                    dedupe_key=task.dedupe_key, signals=task.signals, matches=task.matches, status="pending",
                    claimed_by=None, claim_expires_at=None, created_at=at, updated_at=at)

    # -- submissions ----------------------------------------------------------
    def add_submission(self, sub: NewSubmission, task: NewTask, audit: AuditNote) -> tuple[int, int, bool]:
        """Store a submission and queue its task: (submission id, task id, whether both are new).

        While an open task holds the same dedupe key, that task is the answer:
        a match task without a submission is linked to this one; a task that
        has one already keeps it (nothing new is stored). A decided task gives
        its key up to a new task.
        """
        at = now()
        with self.store.transaction() as conn:
            for _attempt in range(2):  # a second pass only after losing an insert race
                held = conn.execute(
                    select(_tasks.c.id, _tasks.c.status, _tasks.c.submission_id)
                    .where(_tasks.c.dedupe_key == task.dedupe_key).with_for_update()
                ).first() if task.dedupe_key else None
                if held is not None and held.status in OPEN_STATUSES and held.submission_id is not None:
                    sub_id, task_id, created = int(held.submission_id), int(held.id), False
                    break
                sub_id = self._insert_submission(conn, sub, at)
                if held is not None and held.status in OPEN_STATUSES:
                    conn.execute(update(_tasks).where(_tasks.c.id == held.id).values(submission_id=sub_id,
                                                                                     updated_at=at))
                    task_id, created = int(held.id), False
                    break
                if held is not None:
                    conn.execute(update(_tasks).where(_tasks.c.id == held.id).values(dedupe_key=None))
                new_id = conn.execute(_insert_ignoring_duplicate_key(conn).values(
                    **self._task_values(task, at, sub_id))).scalar()
                if new_id is not None:
                    task_id, created = int(new_id), True
                    break
                conn.execute(delete(_subs).where(_subs.c.id == sub_id))  # lost the race: try again
            else:  # pragma: no cover - a key cannot be both free and taken twice in a row
                raise StorageError("could not queue the submission; retry")
            self._audit(conn, AuditNote(audit.actor, audit.action, f"submission:{sub_id}",
                                        {**audit.details, "task": task_id, "new": created}))
        return sub_id, task_id, created

    @staticmethod
    def _insert_submission(conn: Connection, sub: NewSubmission, at: datetime) -> int:
        return int(conn.execute(insert(_subs).values(
            member_id=sub.member_id, kind=sub.kind, sha256=sub.sha256, text=sub.text, url=sub.url, note=sub.note,
            signals=sub.signals, created_at=at,
        ).returning(_subs.c.id)).scalar_one())

    def list_submissions(self, member_id: int | None, *, after_id: int, limit: int) -> list[SubmissionRecord]:
        """Submissions in id order (``member_id`` None: everyone's), with their task."""
        query = (
            select(_subs, _tasks.c.id.label("task_id"), _tasks.c.status.label("task_status"))
            .outerjoin(_tasks, _tasks.c.submission_id == _subs.c.id)
            .where(_subs.c.id > after_id)
        )
        if member_id is not None:
            query = query.where(_subs.c.member_id == member_id)
        with self.store.connection() as conn:
            rows = conn.execute(query.order_by(_subs.c.id, _tasks.c.id).limit(limit)).all()
        return [_submission(r, r.task_id, r.task_status) for r in rows]

    def get_submissions(self, ids: Sequence[int]) -> dict[int, SubmissionRecord]:
        if not ids:
            return {}
        with self.store.connection() as conn:
            rows = conn.execute(select(_subs).where(_subs.c.id.in_(sorted(set(ids))))).all()
        return {r.id: _submission(r) for r in rows}

    # -- tasks from lookups -------------------------------------------------------
    def held_keys(self, keys: Sequence[str]) -> set[str]:
        """The dedupe keys some task already holds."""
        out: set[str] = set()
        with self.store.connection() as conn:
            for start in range(0, len(keys), 900):
                part = list(keys[start : start + 900])
                out.update(r[0] for r in conn.execute(select(_tasks.c.dedupe_key)
                                                      .where(_tasks.c.dedupe_key.in_(part))).all())
        return out

    def add_tasks(self, tasks: Sequence[NewTask], actor: str) -> list[int]:
        """Queue tasks whose key is free (others are skipped); the ids of those created."""
        at = now()
        created: list[int] = []
        with self.store.transaction() as conn:
            for task in tasks:
                new_id = conn.execute(_insert_ignoring_duplicate_key(conn).values(**self._task_values(task, at)))\
                    .scalar()
                if new_id is not None:
                    created.append(int(new_id))
                    self._audit(conn, AuditNote(actor, "review.queue", f"review:{new_id}",
                                                {"source": task.source, "matches": len(task.matches)}))
        return created

    # -- reading tasks --------------------------------------------------------------
    def _decisions_of(self, conn: Connection, task_ids: Sequence[int]) -> dict[int, list[DecisionRecord]]:
        out: dict[int, list[DecisionRecord]] = {}
        if not task_ids:
            return out
        rows = conn.execute(select(_decisions).where(_decisions.c.task_id.in_(list(task_ids)))
                            .order_by(_decisions.c.id)).all()
        for r in rows:
            out.setdefault(r.task_id, []).append(_decision(r))
        return out

    def get_task(self, task_id: int) -> TaskRecord | None:
        with self.store.connection() as conn:
            row = conn.execute(select(_tasks).where(_tasks.c.id == task_id)).first()
            if row is None:
                return None
            return _task(row, self._decisions_of(conn, [task_id]).get(task_id, ()))

    def list_tasks(self, statuses: Sequence[str], *, after_id: int, limit: int,
                   submissions_of: int | None = None) -> list[TaskRecord]:
        """Tasks with one of ``statuses``, in id order, with their decisions; ``submissions_of``:
        of the tasks with a submission, only this member's."""
        query = select(_tasks).where(_tasks.c.id > after_id, _tasks.c.status.in_(list(statuses)))
        if submissions_of is not None:
            query = query.where(or_(_tasks.c.submission_id.is_(None), _tasks.c.member_id == submissions_of))
        with self.store.connection() as conn:
            rows = conn.execute(query.order_by(_tasks.c.id).limit(limit)).all()
            decisions = self._decisions_of(conn, [r.id for r in rows])
        return [_task(r, decisions.get(r.id, ())) for r in rows]

    # -- claims and decisions ---------------------------------------------------------
    def claim(self, task_id: int, member_id: int, expires_at: datetime, audit: AuditNote) -> bool:
        """Claim an open task whose claim is free, expired or already ours; False if not."""
        at = now()
        with self.store.transaction() as conn:
            done = conn.execute(
                update(_tasks)
                .where(_tasks.c.id == task_id, _tasks.c.status.in_(OPEN_STATUSES), _claim_free(member_id, at))
                .values(claimed_by=member_id, claim_expires_at=expires_at, updated_at=at)
            ).rowcount
            if done:
                self._audit(conn, audit)
        return bool(done)

    def release(self, task_id: int, holder: int, audit: AuditNote) -> bool:
        """Clear ``holder``'s claim on an open task; False if the task or its claim changed."""
        at = now()
        with self.store.transaction() as conn:
            done = conn.execute(
                update(_tasks)
                .where(_tasks.c.id == task_id, _tasks.c.status.in_(OPEN_STATUSES), _tasks.c.claimed_by == holder,
                       _tasks.c.claim_expires_at > at)
                .values(claimed_by=None, claim_expires_at=None, updated_at=at)
            ).rowcount
            if done:
                self._audit(conn, audit)
        return bool(done)

    def decide(
        self, task: TaskRecord, member_id: int, decision: str, new_status: str, *, reason: str,
        labels: dict[str, Any], bank: str | None, audit: AuditNote, feed: FeedNote | None = None,
        item: ReviewedItem | None = None,
    ) -> bool:
        """Record a decision, add its ``item`` (if any) and move the task from its status to
        ``new_status`` (claim released), all in one transaction.

        False when the task changed meanwhile (another decision, or a claim by someone else):
        then nothing is stored, the item neither. The guarded update comes first, so on
        PostgreSQL a concurrent decision waits for the row lock and then finds the status changed.
        """
        at = now()
        with self.store.transaction() as conn:
            done = conn.execute(
                update(_tasks)
                .where(and_(_tasks.c.id == task.id, _tasks.c.status == task.status, _claim_free(member_id, at)))
                .values(status=new_status, claimed_by=None, claim_expires_at=None, updated_at=at)
            ).rowcount
            if not done:
                return False
            if item is not None:
                outcome = self.store.add_items_in(conn, item.bank_id, [item.row])
                self._audit(conn, AuditNote(item.audit.actor, item.audit.action, item.audit.target, {
                    **item.audit.details, "imported": len(outcome.added), "duplicates": len(outcome.duplicates)}))
            conn.execute(insert(_decisions).values(task_id=task.id, member_id=member_id, decision=decision,
                                                   reason=reason, labels=labels, bank=bank, decided_at=at))
            self._audit(conn, audit)
            if feed is not None:
                add_feed_entries(conn, feed.member_ids, feed.kind, feed.payload)
        return True
