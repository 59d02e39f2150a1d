"""The review-queue port in memory: submissions, tasks (one open task per dedupe key), claims, decisions.

Each change commits with its audit entry (and its feed entries and added item)
at once, as :class:`~tahaluf.storage.repository.reviews_sql.ReviewStore` does.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tahaluf.ports.reviews import (
    DecisionRecord,
    NewSubmission,
    NewTask,
    ReviewedItem,
    SubmissionRecord,
    TaskRecord,
)
from tahaluf.ports.transactions import AuditNote, FeedNote
from tahaluf.ports.vocabulary import OPEN_STATUSES
from tahaluf.storage.memory.banks import MemoryRepository
from tahaluf.storage.memory.feedback import add_feed_entries
from tahaluf.storage.memory.hub import MemoryHub
from tahaluf.storage.memory.state import Tables

__all__ = ["MemoryReviews"]


def _decision(row: dict[str, Any]) -> DecisionRecord:
    return DecisionRecord(row["id"], row["task_id"], row["member_id"], row["decision"], row["reason"],
                          copy.deepcopy(row["labels"]), row["bank"], row["decided_at"])


def _submission(row: dict[str, Any], task_id: int | None = None, task_status: str | None = None) -> SubmissionRecord:
    return SubmissionRecord(row["id"], row["member_id"], row["kind"], row["sha256"], row["text"], row["url"],
                            row["note"], copy.deepcopy(row["signals"]), row["created_at"], task_id, task_status)


def _claim_free(task: dict[str, Any], member_id: int, at: datetime) -> bool:
    return (task["claimed_by"] is None or task["claimed_by"] == member_id or task["claim_expires_at"] is None
            or task["claim_expires_at"] <= at)


class MemoryReviews:
    """Submissions, tasks and decisions of the hub's memory state."""

    def __init__(self, hub: MemoryHub, banks: MemoryRepository) -> None:
        self.hub = hub
        self.banks = banks
        self.state = hub.state

    def _audit(self, note: AuditNote | None) -> None:
        if note is not None:
            self.hub.append_audit(note.actor, note.action, note.target, dict(note.details))

    def _task(self, t: Tables, row: dict[str, Any]) -> TaskRecord:
        decisions = [_decision(d) for _i, d in sorted(t.decisions.items()) if d["task_id"] == row["id"]]
        return TaskRecord(row["id"], row["source"], row["submission_id"], row["member_id"],
                          copy.deepcopy(row["signals"]), copy.deepcopy(row["matches"]), row["status"],
                          row["claimed_by"], row["claim_expires_at"], row["created_at"], row["updated_at"],
                          tuple(decisions))

    def _insert_task(self, t: Tables, task: NewTask, at: datetime, submission_id: int | None = None) -> int | None:
        """A new pending task; None when its dedupe key is held (SQL: ON CONFLICT DO NOTHING)."""
        if task.dedupe_key is not None and any(r["dedupe_key"] == task.dedupe_key for r in t.tasks.values()):
            return None
        task_id = self.state.next_id("tasks")
        t.tasks[task_id] = {
            "id": task_id, "source": task.source, "submission_id": submission_id, "member_id": task.member_id,
            "dedupe_key": task.dedupe_key, "signals": copy.deepcopy(task.signals),
            "matches": copy.deepcopy(task.matches), "status": "pending", "claimed_by": None,
            "claim_expires_at": None, "created_at": at, "updated_at": at,
        }
        return task_id

    # -- submissions ----------------------------------------------------------
    def add_submission(self, sub: NewSubmission, task: NewTask, audit: AuditNote) -> tuple[int, int, bool]:
        """Store a submission and queue its task: (submission id, task id, whether both are new)."""
        at = self.state.now()
        with self.state.change() as t:
            held = next((r for r in t.tasks.values() if task.dedupe_key and r["dedupe_key"] == task.dedupe_key),
                        None)
            if held is not None and held["status"] in OPEN_STATUSES and held["submission_id"] is not None:
                sub_id, task_id, created = int(held["submission_id"]), int(held["id"]), False
            else:
                sub_id = self.state.next_id("submissions")
                t.submissions[sub_id] = {
                    "id": sub_id, "member_id": sub.member_id, "kind": sub.kind, "sha256": sub.sha256,
                    "text": sub.text, "url": sub.url, "note": sub.note, "signals": copy.deepcopy(sub.signals),
                    "created_at": at,
                }
                if held is not None and held["status"] in OPEN_STATUSES:
                    held.update(submission_id=sub_id, updated_at=at)
                    task_id, created = int(held["id"]), False
                else:
                    if held is not None:
                        held["dedupe_key"] = None
                    new_id = self._insert_task(t, task, at, sub_id)
                    assert new_id is not None  # the key was just freed
                    task_id, created = new_id, True
            self._audit(AuditNote(audit.actor, audit.action, f"submission:{sub_id}",
                                  {**audit.details, "task": task_id, "new": created}))
        return sub_id, task_id, created

    def list_submissions(self, member_id: int | None, *, after_id: int, limit: int) -> list[SubmissionRecord]:
        with self.state.read() as t:
            out: list[SubmissionRecord] = []
            for sub_id in sorted(t.submissions):
                row = t.submissions[sub_id]
                if sub_id <= after_id or (member_id is not None and row["member_id"] != member_id):
                    continue
                tasks = [r for _i, r in sorted(t.tasks.items()) if r["submission_id"] == sub_id]
                out.extend(_submission(row, r["id"], r["status"]) for r in tasks)
                if not tasks:  # SQL: an outer join
                    out.append(_submission(row))
            return out[:limit]

    def get_submissions(self, ids: Sequence[int]) -> dict[int, SubmissionRecord]:
        with self.state.read() as t:
            return {i: _submission(t.submissions[i]) for i in set(ids) if i in t.submissions}

    # -- tasks from lookups -------------------------------------------------------
    def held_keys(self, keys: Sequence[str]) -> set[str]:
        wanted = set(keys)
        with self.state.read() as t:
            return {r["dedupe_key"] for r in t.tasks.values() if r["dedupe_key"] in wanted}

    def add_tasks(self, tasks: Sequence[NewTask], actor: str) -> list[int]:
        """Queue tasks whose key is free (others are skipped); the ids of those created."""
        at = self.state.now()
        created: list[int] = []
        with self.state.change() as t:
            for task in tasks:
                new_id = self._insert_task(t, task, at)
                if new_id is not None:
                    created.append(new_id)
                    self._audit(AuditNote(actor, "review.queue", f"review:{new_id}",
                                          {"source": task.source, "matches": len(task.matches)}))
        return created

    # -- reading tasks --------------------------------------------------------------
    def get_task(self, task_id: int) -> TaskRecord | None:
        with self.state.read() as t:
            row = t.tasks.get(task_id)
            return self._task(t, row) if row is not None else None

    def list_tasks(self, statuses: Sequence[str], *, after_id: int, limit: int,
                   submissions_of: int | None = None) -> list[TaskRecord]:
        with self.state.read() as t:
            rows = [r for _i, r in sorted(t.tasks.items())
                    if r["id"] > after_id and r["status"] in statuses
                    and (submissions_of is None or r["submission_id"] is None or r["member_id"] == submissions_of)]
            return [self._task(t, r) for r in rows[:limit]]

    # -- claims and decisions ---------------------------------------------------------
    def claim(self, task_id: int, member_id: int, expires_at: datetime, audit: AuditNote) -> bool:
        at = self.state.now()
        with self.state.change() as t:
            row = t.tasks.get(task_id)
            if row is None or row["status"] not in OPEN_STATUSES or not _claim_free(row, member_id, at):
                return False
            row.update(claimed_by=member_id, claim_expires_at=expires_at, updated_at=at)
            self._audit(audit)
        return True

    def release(self, task_id: int, holder: int, audit: AuditNote) -> bool:
        at = self.state.now()
        with self.state.change() as t:
            row = t.tasks.get(task_id)
            if (row is None or row["status"] not in OPEN_STATUSES or row["claimed_by"] != holder
                    or row["claim_expires_at"] is None or row["claim_expires_at"] <= at):
                return False
            row.update(claimed_by=None, claim_expires_at=None, updated_at=at)
            self._audit(audit)
        return True

    def decide(
        self, task: TaskRecord, member_id: int, decision: str, new_status: str, *, reason: str,
        labels: dict[str, Any], bank: str | None, audit: AuditNote, feed: FeedNote | None = None,
        item: ReviewedItem | None = None,
    ) -> bool:
        """Record a decision, add its ``item`` and move the task to ``new_status``, all at once;
        False (nothing stored) when the task changed meanwhile."""
        at = self.state.now()
        with self.state.change() as t:
            row = t.tasks.get(task.id)
            if row is None or row["status"] != task.status or not _claim_free(row, member_id, at):
                return False
            row.update(status=new_status, claimed_by=None, claim_expires_at=None, updated_at=at)
            if item is not None:
                outcome = self.banks.add_items(item.bank_id, [item.row])
                self._audit(AuditNote(item.audit.actor, item.audit.action, item.audit.target, {
                    **item.audit.details, "imported": len(outcome.added), "duplicates": len(outcome.duplicates)}))
            decision_id = self.state.next_id("decisions")
            t.decisions[decision_id] = {
                "id": decision_id, "task_id": task.id, "member_id": member_id, "decision": decision,
                "reason": reason, "labels": copy.deepcopy(labels), "bank": bank, "decided_at": at,
            }
            self._audit(audit)
            if feed is not None:
                add_feed_entries(self.hub, t, feed.member_ids, feed.kind, feed.payload)
        return True
