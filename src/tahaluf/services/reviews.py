"""Submissions and the review queue.

* Members submit content, a text post or a URL they suspect
  (:func:`submit`). It is hashed, matched against the banks the member may
  see, stored (signals only for media: share signals, not content; the text
  or URL itself for those kinds) and queued as a review task.
* Lookups whose best known-bank match reaches the ``review_match_min_score``
  setting are queued too (:func:`queue_matches`, a match hook), once per
  member and content.
* Reviewers list, claim (for ``review_claim_ttl_s``) and decide
  (:func:`decide`): ``confirm`` adds the task's signals to a known bank,
  ``reject`` may add them to an allow bank, ``escalate`` leaves the task open
  for someone else. See ``docs/review.md``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tahaluf.access import Capability, Principal
from tahaluf.banks import NewItem, Provenance, item_row
from tahaluf.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StorageError, TahalufError
from tahaluf.services.banking import bank_signals_of
from tahaluf.services.curation import index_signal
from tahaluf.services.hashing import HashOptions, HashResult, hash_text, hash_url
from tahaluf.services.bank_names import qualified_name, short_name
from tahaluf.services.hub import BankView, Hub
from tahaluf.services.matching import Match
from tahaluf.services.scanning import ScanResult
from tahaluf.services.webhooks import emit
from tahaluf.signals.base import Signal
from tahaluf.storage.repository.feedback_sql import AuditNote, FeedNote
from tahaluf.storage.repository.hub_sql import now
from tahaluf.storage.repository.reviews_sql import (
    DECISIONS,
    OPEN_STATUSES,
    TASK_STATUSES,
    NewSubmission,
    NewTask,
    ReviewedItem,
    ReviewStore,
    SubmissionRecord,
    TaskRecord,
)

__all__ = [
    "STATUS_FILTERS", "Decision", "dedupe_key", "stored_signals", "submit", "submit_text", "submit_url",
    "submit_content", "list_submissions", "queue_matches", "notify_matches", "list_tasks", "get_task",
    "claim_task", "release_claim", "decide", "emit_event",
]

log = logging.getLogger("tahaluf.reviews")

#: ``status`` filters of a queue listing: one status, every open one, or all
STATUS_FILTERS = ("open", *TASK_STATUSES, "all")


def _reviews(hub: Hub) -> ReviewStore:
    return ReviewStore(hub.hubstore)


# -- signals and keys ---------------------------------------------------------
def stored_signals(signals: Sequence[Signal]) -> list[dict[str, Any]]:
    """Signals as a task stores them (a bank's form: PDQ with its quality and crops, no query variants)."""
    return [s.to_json() for s in bank_signals_of(HashResult(None, signals=list(signals)))]


def _primary(signals: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The signals that name the content (crops are extra PDQ hashes of the same photo)."""
    return [s for s in signals if "crop" not in s]


def dedupe_key(member_id: int, signals: Sequence[dict[str, Any]]) -> str:
    """sha256 of the member id and the sorted ``type:value`` of the content's signals."""
    values = sorted(f"{s['type']}:{s['value']}" for s in _primary(signals))
    return hashlib.sha256("\n".join([str(member_id), *values]).encode("utf-8")).hexdigest()


def _signal(entry: dict[str, Any]) -> Signal:
    extra = {k: v for k, v in entry.items() if k not in ("type", "value")}
    return Signal(str(entry["type"]), str(entry["value"]), extra)


def _match_json(m: Match) -> dict[str, Any]:
    return {**m.to_json(), "score": round(m.score, 4)}


def _best_known(matches: Sequence[Match]) -> float | None:
    return max((m.score for m in matches if m.bank_kind == "known"), default=None)


def emit_event(hub: Hub, member_id: int, event: str, payload: dict[str, Any]) -> None:
    """Queue a webhook event; a failure is logged, never undoes what already happened."""
    try:
        emit(hub, member_id, event, payload)
    except TahalufError as exc:
        log.warning("could not queue %s webhook for member %s: %s", event, member_id, exc.message)


# -- submissions ----------------------------------------------------------------
def submit(
    hub: Hub, who: Principal, kind: str, result: HashResult, *, text: str | None = None, url: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Match a hashed submission, store it and queue its review task."""
    who.require(Capability.SUBMIT)
    if result.error:
        raise InvalidInput(result.error)
    if not result.signals:
        raise InvalidInput("nothing to submit: the content gave no signals")
    if not hub.ready:
        raise StorageError("the hub is still loading its indexes; retry shortly (see /health/ready)")
    [matches] = hub.match(who, [result.signals])
    signals = stored_signals(result.signals)
    sha = next((s.value for s in result.signals if s.type == "sha256"), None)
    sub = NewSubmission(who.member_id, kind, signals, sha256=sha, text=text, url=url, note=note)
    task = NewTask("submission", who.member_id, dedupe_key(who.member_id, signals), signals,
                   [_match_json(m) for m in matches])
    sub_id, task_id, created = _reviews(hub).add_submission(
        sub, task, AuditNote(who.name, "submission.add", "submission", {"kind": kind}))
    notify_matches(hub, who, [ScanResult(kind, kind, matches=matches)])
    return {
        "submission_id": sub_id,
        "task": {"id": task_id, "new": created},
        "matches": [_match_json(m) for m in hub.label_matches(who, matches)],
        "signals": signals,
    }


def submit_text(hub: Hub, who: Principal, text: str, note: str | None = None) -> dict[str, Any]:
    return submit(hub, who, "text", hash_text(text, HashOptions()), text=text, note=note)


def submit_url(hub: Hub, who: Principal, url: str, note: str | None = None) -> dict[str, Any]:
    return submit(hub, who, "url", hash_url(url), url=url, note=note)


def submit_content(hub: Hub, who: Principal, result: HashResult, note: str | None = None) -> dict[str, Any]:
    """A hashed upload: only its signals are kept (share signals, not content)."""
    return submit(hub, who, "content", result, note=note)


def submission_json(sub: SubmissionRecord, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": sub.id,
        "member": names.get(sub.member_id) if sub.member_id is not None else None,
        "kind": sub.kind,
        "sha256": sub.sha256,
        "text": sub.text,
        "url": sub.url,
        "note": sub.note,
        "signals": sub.signals,
        "created_at": sub.created_at.isoformat(),
        "task": {"id": sub.task_id, "status": sub.task_status} if sub.task_id is not None else None,
    }


def _page_limit(hub: Hub, limit: int) -> int:
    return max(1, min(limit, hub.config.max_page))


def list_submissions(hub: Hub, who: Principal, *, after_id: int = 0, limit: int = 100
                     ) -> tuple[list[dict[str, Any]], int | None]:
    """The caller's submissions (an admin's: everyone's), one page."""
    who.require(Capability.SUBMIT)
    limit = _page_limit(hub, limit)
    subs = _reviews(hub).list_submissions(None if who.is_admin else who.member_id, after_id=after_id,
                                          limit=limit + 1)
    more = len(subs) > limit
    subs = subs[:limit]
    names = _names(hub, [s.member_id for s in subs])
    return [submission_json(s, names) for s in subs], (subs[-1].id if more else None)


# -- match hooks ------------------------------------------------------------------
def queue_matches(hub: Hub, who: Principal, results: Sequence[ScanResult]) -> None:
    """Queue a review task for each looked-up input whose best known-bank match
    reaches ``review_match_min_score`` (not for allowed inputs, not twice).

    Results without matches cost nothing: the database is not touched.
    """
    matched = [r for r in results if r.matches and r.error is None]
    if not matched:
        return
    min_score = float(hub.settings()["review_match_min_score"])
    tasks: dict[str, NewTask] = {}
    for res in matched:
        best = _best_known(res.matches)
        if best is None or best < min_score or res.allowed:
            continue
        signals = stored_signals(res.signals)
        key = dedupe_key(who.member_id, signals)
        tasks.setdefault(key, NewTask("match", who.member_id, key, signals, [_match_json(m) for m in res.matches]))
    if not tasks:
        return
    store = _reviews(hub)
    held = store.held_keys(list(tasks))
    fresh = [t for k, t in tasks.items() if k not in held]
    if fresh:
        store.add_tasks(fresh, who.name)


def notify_matches(hub: Hub, who: Principal, results: Sequence[ScanResult]) -> None:
    """Send a ``match`` webhook event to the owner of each bank whose items matched
    (one event per owner per request; not for the caller's own banks)."""
    by_bank: dict[str, list[Match]] = {}
    for res in results:
        for m in res.matches:
            by_bank.setdefault(m.bank, []).append(m)
    if not by_bank:
        return
    owners = {name: b.owner for name, b in hub.banks_by_name().items() if name in by_bank}
    per_owner: dict[str, list[dict[str, Any]]] = {}
    for bank, matches in by_bank.items():
        owner = owners.get(bank)
        if owner is None or owner == who.name:
            continue
        per_owner.setdefault(owner, []).extend(
            {"bank": short_name(m.bank), "external_id": m.external_id, "item_id": m.item_id,
             "signal_type": m.signal_type, "score": round(m.score, 4)} for m in matches)  # the owner's own name
    for owner, entries in per_owner.items():
        member = hub.hubstore.get_member(owner)
        if member is not None:
            emit_event(hub, member.id, "match", {"matches": entries[:100], "count": len(entries)})


# -- the queue ---------------------------------------------------------------------
def _names(hub: Hub, member_ids: Sequence[int | None]) -> dict[int, str]:
    return {i: m.name for i, m in hub.hubstore.get_members([i for i in member_ids if i is not None]).items()}


def _task_json(task: TaskRecord, names: dict[int, str], visible: dict[str, str], sub: SubmissionRecord | None,
               at: datetime) -> dict[str, Any]:
    """``visible``: stored key -> the name the reader is shown, for the banks it sees."""
    holder = task.claim_holder(at)
    shown = [{**m, "bank": visible[m["bank"]]} for m in task.matches if m.get("bank") in visible]
    return {
        "id": task.id,
        "source": task.source,
        "status": task.status,
        "member": names.get(task.member_id) if task.member_id is not None else None,
        "submission": None if sub is None else {
            "id": sub.id, "kind": sub.kind, "sha256": sub.sha256, "text": sub.text, "url": sub.url, "note": sub.note,
        },
        "signals": task.signals,
        "matches": shown,
        "hidden_matches": len(task.matches) - len(shown),
        "claimed_by": names.get(holder) if holder is not None else None,
        "claim_expires_at": task.claim_expires_at.isoformat() if holder is not None and task.claim_expires_at
        else None,
        "created_at": task.created_at.isoformat(),
        "updated_at": task.updated_at.isoformat(),
        "decisions": [
            {"member": names.get(d.member_id) if d.member_id is not None else None, "decision": d.decision,
             "reason": d.reason, "labels": d.labels, "bank": visible.get(d.bank) if d.bank else None,
             "decided_at": d.decided_at.isoformat()}
            for d in task.decisions
        ],
    }


def _render(hub: Hub, who: Principal, tasks: Sequence[TaskRecord]) -> list[dict[str, Any]]:
    ids: list[int | None] = []
    for t in tasks:
        ids += [t.member_id, t.claimed_by, *(d.member_id for d in t.decisions)]
    names = _names(hub, ids)
    subs = _reviews(hub).get_submissions([t.submission_id for t in tasks if t.submission_id is not None])
    visible = hub.bank_labels(who)
    at = now()
    return [_task_json(t, names, visible, subs.get(t.submission_id or 0), at) for t in tasks]


def _submissions_seen_of(hub: Hub, who: Principal) -> int | None:
    """Whose submissions ``who`` may see in the queue: None for everyone's (admins and the
    members the ``review_submission_reviewers`` setting designates), else its member id."""
    if who.is_admin or who.name in hub.settings()["review_submission_reviewers"]:
        return None
    return who.member_id


def _sees(hub: Hub, who: Principal, task: TaskRecord) -> bool:
    only = _submissions_seen_of(hub, who)
    return only is None or task.submission_id is None or task.member_id == only


def list_tasks(hub: Hub, who: Principal, status: str = "open", *, after_id: int = 0, limit: int = 100
               ) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the queue, filtered by status (see :data:`STATUS_FILTERS`); tasks of other
    members' submissions only for the reviewers the hub designates."""
    who.require(Capability.REVIEW)
    if status not in STATUS_FILTERS:
        raise InvalidInput(f"status must be one of {', '.join(STATUS_FILTERS)}, not {status!r}")
    statuses = {"open": OPEN_STATUSES, "all": TASK_STATUSES}.get(status, (status,))
    limit = _page_limit(hub, limit)
    tasks = _reviews(hub).list_tasks(statuses, after_id=after_id, limit=limit + 1,
                                     submissions_of=_submissions_seen_of(hub, who))
    more = len(tasks) > limit
    tasks = tasks[:limit]
    return _render(hub, who, tasks), (tasks[-1].id if more else None)


def _task(hub: Hub, who: Principal, task_id: int) -> TaskRecord:
    """The task if ``who`` may see it; NotFound otherwise (existence is not revealed)."""
    task = _reviews(hub).get_task(task_id)
    if task is None or not _sees(hub, who, task):
        raise NotFound(f"no review task {task_id}")
    return task


def get_task(hub: Hub, who: Principal, task_id: int) -> dict[str, Any]:
    who.require(Capability.REVIEW)
    return _render(hub, who, [_task(hub, who, task_id)])[0]


def _refuse_busy(hub: Hub, who: Principal, task: TaskRecord) -> None:
    """Conflict when the task is decided or someone else holds its claim."""
    if not task.is_open:
        raise Conflict(f"review task {task.id} is already {task.status}")
    holder = task.claim_holder(now())
    if holder is not None and holder != who.member_id:
        name = _names(hub, [holder]).get(holder, "another member")
        until = task.claim_expires_at.isoformat() if task.claim_expires_at else "?"
        raise Conflict(f"review task {task.id} is claimed by {name} until {until}")


def claim_task(hub: Hub, who: Principal, task_id: int) -> dict[str, Any]:
    """Claim an open task for ``review_claim_ttl_s`` (again by the holder: extended)."""
    who.require(Capability.REVIEW)
    task = _task(hub, who, task_id)
    _refuse_busy(hub, who, task)
    ttl_s = int(hub.settings()["review_claim_ttl_s"])
    expires = now() + timedelta(seconds=ttl_s)
    note = AuditNote(who.name, "review.claim", f"review:{task_id}", {"expires_at": expires.isoformat()})
    if not _reviews(hub).claim(task_id, who.member_id, expires, note):
        _refuse_busy(hub, who, _task(hub, who, task_id))
        raise Conflict(f"review task {task_id} changed meanwhile; reload it")
    return get_task(hub, who, task_id)


def release_claim(hub: Hub, who: Principal, task_id: int) -> dict[str, Any]:
    """Return a claimed task to the queue at once: by its holder, or by an admin
    (e.g. when a reviewer left). Conflict when it is not claimed or already decided."""
    who.require(Capability.REVIEW)
    task = _task(hub, who, task_id)
    if not task.is_open:
        raise Conflict(f"review task {task_id} is already {task.status}")
    holder = task.claim_holder(now())
    if holder is None:
        raise Conflict(f"review task {task_id} is not claimed")
    if holder != who.member_id and not who.is_admin:
        raise PermissionDenied(f"review task {task_id} is claimed by another member; only it or an admin "
                               "may release the claim")
    name = _names(hub, [holder]).get(holder)
    note = AuditNote(who.name, "review.release", f"review:{task_id}", {"claimed_by": name})
    if not _reviews(hub).release(task_id, holder, note):
        raise Conflict(f"review task {task_id} changed meanwhile; reload it")
    return get_task(hub, who, task_id)


# -- decisions ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Decision:
    decision: str
    reason: str
    labels: dict[str, Any] = field(default_factory=dict)
    bank: str | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    status: str
    add_to: BankView | None = None


def _reviewed_bank(hub: Hub, who: Principal, name: str | None, kind: str, decision: str, *,
                   owner_needed: bool = True) -> BankView:
    """The bank a decision adds to: visible (else 404), of ``kind``, and (when
    ``owner_needed``) owned by the reviewer's member or the reviewer an admin (else 403)."""
    if not name:
        raise InvalidInput(f"{decision} needs a bank ({kind} bank to add the content to)")
    record = hub.store.get_bank(name)  # ``name`` is the stored key (see decide)
    view = hub.bank(who, qualified_name(record) if record is not None else name)
    name = view.label or name
    if view.record.kind != kind:
        raise InvalidInput(f"bank {name!r} is a{'n' if view.record.kind == 'allow' else ''} "
                           f"{view.record.kind} bank; {decision} adds to a {kind} bank")
    if owner_needed and not who.owns_bank(view.record.owner):
        raise PermissionDenied(f"bank {name!r} belongs to {view.record.owner or 'the hub operator'}; a reviewer "
                               "may add to banks of its own member only (or be an admin)")
    return view


def _confirmers(task: TaskRecord, bank: str) -> set[int]:
    """Members whose confirmations into ``bank`` are the task's latest decisions."""
    out: set[int] = set()
    for d in reversed(task.decisions):
        if d.decision != "confirm" or d.bank != bank:
            break
        if d.member_id is not None:
            out.add(d.member_id)
    return out


def _plan(hub: Hub, who: Principal, task: TaskRecord, d: Decision) -> _Plan:
    if d.decision == "escalate":
        if d.bank:
            raise InvalidInput("escalate takes no bank")
        return _Plan("escalated")
    if d.decision == "reject":
        return _Plan("rejected", _reviewed_bank(hub, who, d.bank, "allow", "reject") if d.bank else None)
    # the second confirmation of a two-person decision may come from any member
    # that sees the bank: the first one (the owner's or an admin's) proposed it
    earlier = _confirmers(task, d.bank) if d.bank and task.status == "pending_second" else set()
    view = _reviewed_bank(hub, who, d.bank, "known", "confirm", owner_needed=not earlier)
    if bool(hub.settings()["review_two_person_rule"]) and view.record.visibility != "private":
        if who.member_id in earlier:
            raise Conflict(f"member {who.name!r} already confirmed task {task.id}; "
                           "the two-person rule needs a second member")
        if not earlier:
            return _Plan("pending_second")
    return _Plan("confirmed", view)


def _reviewed_item(hub: Hub, who: Principal, task: TaskRecord, view: BankView, labels: dict[str, Any]
                   ) -> ReviewedItem:
    """The task's signals as item ``review-<id>``, validated, to be stored with the decision
    (idempotent: a retry finds it there and counts a duplicate)."""
    signals = [index_signal(_signal(s)) for s in task.signals]  # refuses what an index could not load
    if not signals:
        raise InvalidInput(f"review task {task.id} has no signals to add")
    external_id = f"review-{task.id}"
    item = NewItem(external_id, signals, labels, Provenance(who.name, f"review:{task.id}"))
    try:
        row = item_row(item, added_by=who.name, vocabulary=hub.vocabulary)
    except InvalidInput as exc:
        raise InvalidInput(f"cannot add task {task.id} to bank {view.record.name!r}: {exc.message}") from exc
    return ReviewedItem(view.record.id, row, AuditNote(who.name, "item.add", f"bank:{view.record.name}",
                                                       {"external_ids": [external_id], "review": task.id}))


def _first_labels(task: TaskRecord, bank: str | None) -> dict[str, Any]:
    """The labels of the confirmation a second one completes (two-person rule)."""
    if task.status != "pending_second":
        return {}
    return next((d.labels for d in reversed(task.decisions) if d.decision == "confirm" and d.bank == bank), {})


def decide(hub: Hub, who: Principal, task_id: int, d: Decision) -> dict[str, Any]:
    """Record a reviewer's decision (see the module docstring and docs/review.md)."""
    who.require(Capability.REVIEW)
    if d.decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}, not {d.decision!r}")
    reason = d.reason.strip()
    if not reason:
        raise InvalidInput("a decision needs a reason")
    labels = hub.vocabulary.validate(d.labels or {})
    task = _task(hub, who, task_id)
    _refuse_busy(hub, who, task)
    if d.bank and d.decision != "escalate":  # stored by key: the same bank whoever reads the decision
        d = replace(d, bank=hub.bank(who, d.bank).record.name)
    plan = _plan(hub, who, task, d)
    item = None
    if plan.add_to is not None:
        item = _reviewed_item(hub, who, task, plan.add_to, labels or _first_labels(task, d.bank))
    details = {"decision": d.decision, "status": plan.status, "reason": reason, "labels": labels, "bank": d.bank,
               "item": item.row.external_id if item is not None else None}
    feed = None
    if plan.status in ("confirmed", "rejected") and task.member_id is not None:
        feed = FeedNote([task.member_id], "review.decided", {"task": task.id, "status": plan.status})
    ok = _reviews(hub).decide(task, who.member_id, d.decision, plan.status, reason=reason, labels=labels,
                              bank=d.bank, audit=AuditNote(who.name, "review.decide", f"review:{task.id}", details),
                              feed=feed, item=item)
    if not ok:
        raise Conflict(f"review task {task.id} changed meanwhile; reload it and decide again")
    if task.member_id is not None:
        emit_event(hub, task.member_id, "review.decided", {
            "task": task.id, "submission": task.submission_id, "source": task.source, "decision": d.decision,
            "status": plan.status, "labels": labels,
        })
    return get_task(hub, who, task_id)
