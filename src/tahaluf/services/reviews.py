"""The review queue: :class:`ReviewService` (submit, submissions, list, show,
claim, release, decide) and the match hooks every lookup runs.

* Members submit content (:mod:`tahaluf.services.review_intake`); strong
  lookup matches are queued by :func:`queue_matches`, and bank owners told
  by :func:`notify_matches`.
* Reviewers list, claim (for ``review_claim_ttl_s``) and decide
  (:mod:`tahaluf.services.review_decisions`). Every audit entry, feed entry
  and webhook event of the queue is written here, whoever calls.

Results are typed (:class:`TaskView`, :class:`SubmissionView`,
:class:`Page`); ``tahaluf.wire.reviews`` renders them for the API and the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from tahaluf.access import Capability, Principal
from tahaluf.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tahaluf.ports.reviews import SubmissionRecord, TaskRecord
from tahaluf.ports.transactions import AuditNote, FeedNote
from tahaluf.ports.vocabulary import DECISIONS, OPEN_STATUSES, TASK_STATUSES
from tahaluf.services.evidence import EvidenceUpload
from tahaluf.services.hashing import HashOptions, HashResult, hash_text, hash_url
from tahaluf.services.hub import Hub
from tahaluf.services.review_decisions import (
    Decision,
    first_labels,
    plan,
    reviewed_item,
)
from tahaluf.services.review_intake import (
    Submitted,
    dedupe_key,
    queue_matches,
    stored_signals,
    submit,
)
from tahaluf.services.scanning import ScanResult
from tahaluf.services.submission_access import submissions_seen_of
from tahaluf.services.webhooks import Notifier

__all__ = [
    "STATUS_FILTERS", "Decision", "DecisionView", "Page", "ReviewService", "SubmissionView", "Submitted",
    "TaskView", "dedupe_key", "notify_matches", "queue_matches", "stored_signals",
]

#: ``status`` filters of a queue listing: one status, every open one, or all
STATUS_FILTERS = ("open", *TASK_STATUSES, "all")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; ``next_after`` is where the next one starts (None: the last page)."""

    items: list[T]
    next_after: int | None


@dataclass(frozen=True, slots=True)
class SubmissionView:
    submission: SubmissionRecord
    member: str | None


@dataclass(frozen=True, slots=True)
class DecisionView:
    member: str | None
    decision: str
    reason: str
    labels: dict[str, Any]
    bank: str | None  # as the reader sees it (None: no bank, or one it may not see)
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task as one reader may see it: member names resolved, matches in banks it
    may not see left out (counted in ``hidden_matches``)."""

    id: int
    source: str
    status: str
    member: str | None
    submission: SubmissionRecord | None
    signals: list[dict[str, Any]]
    matches: list[dict[str, Any]]
    hidden_matches: int
    claimed_by: str | None
    claim_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    decisions: list[DecisionView]


def notify_matches(hub: Hub, who: Principal, results: Sequence[ScanResult]) -> None:
    """Send a ``match`` webhook event to the owner of each bank whose items matched
    (one event per owner per request; not for the caller's own banks)."""
    Notifier(hub).matches(who, results)


class ReviewService:
    """Submissions and the review queue of one hub."""

    def __init__(self, hub: Hub, notifier: Notifier | None = None) -> None:
        self.hub = hub
        self.notifier = notifier if notifier is not None else Notifier(hub)
        self.store = hub.ports.reviews
        self.clock = hub.ports.clock

    # -- intake ---------------------------------------------------------------------
    def submit_text(self, who: Principal, text: str, note: str | None = None) -> Submitted:
        return submit(self.hub, self.notifier, who, "text", hash_text(text, HashOptions()), text=text, note=note)

    def submit_url(self, who: Principal, url: str, note: str | None = None) -> Submitted:
        return submit(self.hub, self.notifier, who, "url", hash_url(url), url=url, note=note)

    def submit_content(self, who: Principal, result: HashResult, note: str | None = None,
                       evidence: EvidenceUpload | None = None) -> Submitted:
        """A hashed upload: its signals, and (given ``evidence``) its bytes sealed in the evidence store."""
        return submit(self.hub, self.notifier, who, "content", result, note=note, evidence=evidence)

    def after_lookup(self, who: Principal, results: Sequence[ScanResult]) -> None:
        """What every lookup triggers: strong matches queued, bank owners told."""
        queue_matches(self.hub, who, results)
        self.notifier.matches(who, results)

    def submissions(self, who: Principal, *, after_id: int = 0, limit: int = 100) -> Page[SubmissionView]:
        """The caller's submissions (an admin's: everyone's), one page."""
        who.require(Capability.SUBMIT)
        limit = self._page_limit(limit)
        subs = self.store.list_submissions(None if who.is_admin else who.member_id, after_id=after_id,
                                           limit=limit + 1)
        more = len(subs) > limit
        subs = subs[:limit]
        names = self._names([s.member_id for s in subs])
        views = [SubmissionView(s, names.get(s.member_id) if s.member_id is not None else None) for s in subs]
        return Page(views, subs[-1].id if more else None)

    # -- the queue ----------------------------------------------------------------------
    def list_tasks(self, who: Principal, status: str = "open", *, after_id: int = 0, limit: int = 100
             ) -> Page[TaskView]:
        """One page of the queue, filtered by status (see :data:`STATUS_FILTERS`); tasks of other
        members' submissions only for the reviewers the hub designates."""
        who.require(Capability.REVIEW)
        if status not in STATUS_FILTERS:
            raise InvalidInput(f"status must be one of {', '.join(STATUS_FILTERS)}, not {status!r}")
        statuses = {"open": OPEN_STATUSES, "all": TASK_STATUSES}.get(status, (status,))
        limit = self._page_limit(limit)
        tasks = self.store.list_tasks(statuses, after_id=after_id, limit=limit + 1,
                                      submissions_of=self._submissions_seen_of(who))
        more = len(tasks) > limit
        tasks = tasks[:limit]
        return Page(self._views(who, tasks), tasks[-1].id if more else None)

    def show(self, who: Principal, task_id: int) -> TaskView:
        who.require(Capability.REVIEW)
        return self._views(who, [self._task(who, task_id)])[0]

    def claim(self, who: Principal, task_id: int) -> TaskView:
        """Claim an open task for ``review_claim_ttl_s`` (again by the holder: extended)."""
        who.require(Capability.REVIEW)
        task = self._task(who, task_id)
        self._refuse_busy(who, task)
        ttl_s = int(self.hub.settings.current()["review_claim_ttl_s"])
        expires = self.clock.now() + timedelta(seconds=ttl_s)
        note = AuditNote(who.name, "review.claim", f"review:{task_id}", {"expires_at": expires.isoformat()})
        if not self.store.claim(task_id, who.member_id, expires, note):
            self._refuse_busy(who, self._task(who, task_id))
            raise Conflict(f"review task {task_id} changed meanwhile; reload it")
        return self.show(who, task_id)

    def release(self, who: Principal, task_id: int) -> TaskView:
        """Return a claimed task to the queue at once: by its holder, or by an admin
        (e.g. when a reviewer left). Conflict when it is not claimed or already decided."""
        who.require(Capability.REVIEW)
        task = self._task(who, task_id)
        if not task.is_open:
            raise Conflict(f"review task {task_id} is already {task.status}")
        holder = task.claim_holder(self.clock.now())
        if holder is None:
            raise Conflict(f"review task {task_id} is not claimed")
        if holder != who.member_id and not who.is_admin:
            raise PermissionDenied(f"review task {task_id} is claimed by another member; only it or an admin "
                                   "may release the claim")
        name = self._names([holder]).get(holder)
        note = AuditNote(who.name, "review.release", f"review:{task_id}", {"claimed_by": name})
        if not self.store.release(task_id, holder, note):
            raise Conflict(f"review task {task_id} changed meanwhile; reload it")
        return self.show(who, task_id)

    def decide(self, who: Principal, task_id: int, d: Decision) -> TaskView:
        """Record a reviewer's decision (see :mod:`tahaluf.services.review_decisions` and docs/review.md)."""
        who.require(Capability.REVIEW)
        if d.decision not in DECISIONS:
            raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}, not {d.decision!r}")
        reason = d.reason.strip()
        if not reason:
            raise InvalidInput("a decision needs a reason")
        hub = self.hub
        labels = hub.vocabulary.validate(d.labels or {})
        task = self._task(who, task_id)
        self._refuse_busy(who, task)
        if d.bank and d.decision != "escalate":  # stored by key: the same bank whoever reads the decision
            d = replace(d, bank=hub.banks.get(who, d.bank).record.name)
        step = plan(hub, who, task, d)
        item = None
        if step.add_to is not None:
            item = reviewed_item(hub, who, task, step.add_to, labels or first_labels(task, d.bank))
        details = {"decision": d.decision, "status": step.status, "reason": reason, "labels": labels,
                   "bank": d.bank, "item": item.row.external_id if item is not None else None}
        feed = None
        if step.status in ("confirmed", "rejected") and task.member_id is not None:
            feed = FeedNote([task.member_id], "review.decided", {"task": task.id, "status": step.status})
        ok = self.store.decide(task, who.member_id, d.decision, step.status, reason=reason, labels=labels,
                               bank=d.bank, audit=AuditNote(who.name, "review.decide", f"review:{task.id}", details),
                               feed=feed, item=item)
        if not ok:
            raise Conflict(f"review task {task.id} changed meanwhile; reload it and decide again")
        if task.member_id is not None:
            self.notifier.send(task.member_id, "review.decided", {
                "task": task.id, "submission": task.submission_id, "source": task.source, "decision": d.decision,
                "status": step.status, "labels": labels,
            })
        return self.show(who, task_id)

    # -- helpers --------------------------------------------------------------------------
    def _page_limit(self, limit: int) -> int:
        return max(1, min(limit, self.hub.config.max_page))

    def _names(self, member_ids: Sequence[int | None]) -> dict[int, str]:
        found = self.hub.hubstore.get_members([i for i in member_ids if i is not None])
        return {i: m.name for i, m in found.items()}

    def _views(self, who: Principal, tasks: Sequence[TaskRecord]) -> list[TaskView]:
        ids: list[int | None] = []
        for t in tasks:
            ids += [t.member_id, t.claimed_by, *(d.member_id for d in t.decisions)]
        names = self._names(ids)
        subs = self.store.get_submissions([t.submission_id for t in tasks if t.submission_id is not None])
        visible = self.hub.banks.labels(who)  # stored key -> the name the reader is shown
        at = self.clock.now()
        return [_view(t, names, visible, subs.get(t.submission_id or 0), at) for t in tasks]

    def _submissions_seen_of(self, who: Principal) -> int | None:
        """Whose submissions ``who`` may see in the queue: None for everyone's (admins and the
        members the ``review_submission_reviewers`` setting designates), else its member id."""
        return submissions_seen_of(self.hub, who)

    def _task(self, who: Principal, task_id: int) -> TaskRecord:
        """The task if ``who`` may see it; NotFound otherwise (existence is not revealed)."""
        task = self.store.get_task(task_id)
        only = self._submissions_seen_of(who) if task is not None else None
        if task is None or not (only is None or task.submission_id is None or task.member_id == only):
            raise NotFound(f"no review task {task_id}")
        return task

    def _refuse_busy(self, who: Principal, task: TaskRecord) -> None:
        """Conflict when the task is decided or someone else holds its claim."""
        if not task.is_open:
            raise Conflict(f"review task {task.id} is already {task.status}")
        holder = task.claim_holder(self.clock.now())
        if holder is not None and holder != who.member_id:
            name = self._names([holder]).get(holder, "another member")
            until = task.claim_expires_at.isoformat() if task.claim_expires_at else "?"
            raise Conflict(f"review task {task.id} is claimed by {name} until {until}")


def _view(task: TaskRecord, names: dict[int, str], visible: dict[str, str], sub: SubmissionRecord | None,
          at: datetime) -> TaskView:
    holder = task.claim_holder(at)
    shown = [{**m, "bank": visible[m["bank"]]} for m in task.matches if m.get("bank") in visible]
    return TaskView(
        id=task.id, source=task.source, status=task.status,
        member=names.get(task.member_id) if task.member_id is not None else None,
        submission=sub, signals=task.signals, matches=shown, hidden_matches=len(task.matches) - len(shown),
        claimed_by=names.get(holder) if holder is not None else None,
        claim_expires_at=task.claim_expires_at if holder is not None else None,
        created_at=task.created_at, updated_at=task.updated_at,
        decisions=[
            DecisionView(names.get(d.member_id) if d.member_id is not None else None, d.decision, d.reason,
                         d.labels, visible.get(d.bank) if d.bank else None, d.decided_at)
            for d in task.decisions
        ],
    )
