"""What enters the review queue: members' submissions and strong lookup matches.

* A submission (a text post, a URL, a hashed upload) is matched against the
  banks the member may see, stored (the text or URL itself for those kinds;
  an upload's signals, and its bytes sealed in the evidence store for the
  reviewers entitled to see them: banks still share signals, never media)
  and queued as a task.
* A lookup whose best known-bank match reaches ``review_match_min_score`` is
  queued too (:func:`queue_matches`), once per member and content.

Both are deduplicated by :func:`dedupe_key` while a task is open.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tahaluf.access import Capability, Principal
from tahaluf.errors import InvalidInput, StorageError
from tahaluf.ports.reviews import NewSubmission, NewTask
from tahaluf.ports.transactions import AuditNote
from tahaluf.services.banking import bank_signals_of
from tahaluf.services.evidence import EvidenceUpload, keep
from tahaluf.services.hashing import HashResult
from tahaluf.services.hub import Hub
from tahaluf.services.matching import Match
from tahaluf.services.scanning import ScanResult
from tahaluf.services.webhooks import Notifier
from tahaluf.signals.base import Signal

__all__ = ["Submitted", "dedupe_key", "match_json", "queue_matches", "stored_signals", "submit"]


@dataclass(frozen=True, slots=True)
class Submitted:
    """A stored submission, its task (``new`` false: an open task already had this content) and its matches."""

    submission_id: int
    task_id: int
    new: bool
    matches: list[Match]
    signals: list[dict[str, Any]]


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


def match_json(m: Match) -> dict[str, Any]:
    """A match as a task stores it and a submission answer shows it (score rounded)."""
    return {**m.to_json(), "score": round(m.score, 4)}


def _best_known(matches: Sequence[Match]) -> float | None:
    return max((m.score for m in matches if m.bank_kind == "known"), default=None)


def submit(hub: Hub, notifier: Notifier, who: Principal, kind: str, result: HashResult, *,
           text: str | None = None, url: str | None = None, note: str | None = None,
           evidence: EvidenceUpload | None = None) -> Submitted:
    """Match a hashed submission, store it (with its ``evidence``, in the same transaction), queue its
    review task and tell matched banks' owners."""
    who.require(Capability.SUBMIT)
    if result.error:
        raise InvalidInput(result.error)
    if not result.signals:
        raise InvalidInput("nothing to submit: the content gave no signals")
    if not hub.ready:
        raise StorageError("the hub is still loading its indexes; retry shortly (see /health/ready)")
    [matches] = hub.lookup.match(who, [result.signals])
    signals = stored_signals(result.signals)
    sha = next((s.value for s in result.signals if s.type == "sha256"), None)
    sub = NewSubmission(who.member_id, kind, signals, sha256=sha, text=text, url=url, note=note)
    task = NewTask("submission", who.member_id, dedupe_key(who.member_id, signals), signals,
                   [match_json(m) for m in matches])
    with hub.ports.uow.change():
        if evidence is not None:
            hub.ports.evidence.lock()  # before the submission's own locks: the purge takes them in this order
        sub_id, task_id, created = hub.ports.reviews.add_submission(
            sub, task, AuditNote(who.name, "submission.add", "submission", {"kind": kind}))
        if evidence is not None:
            keep(hub, who, sub_id, evidence)
    notifier.matches(who, [ScanResult(kind, kind, matches=matches)])
    return Submitted(sub_id, task_id, created, hub.lookup.label_matches(who, matches), signals)


def queue_matches(hub: Hub, who: Principal, results: Sequence[ScanResult]) -> None:
    """Queue a review task for each looked-up input whose best known-bank match
    reaches ``review_match_min_score`` (not for allowed inputs, not twice).

    Results without matches cost nothing: the database is not touched.
    """
    matched = [r for r in results if r.matches and r.error is None]
    if not matched:
        return
    min_score = float(hub.settings.current()["review_match_min_score"])
    tasks: dict[str, NewTask] = {}
    for res in matched:
        best = _best_known(res.matches)
        if best is None or best < min_score or res.allowed:
            continue
        signals = stored_signals(res.signals)
        key = dedupe_key(who.member_id, signals)
        tasks.setdefault(key, NewTask("match", who.member_id, key, signals, [match_json(m) for m in res.matches]))
    if not tasks:
        return
    store = hub.ports.reviews
    held = store.held_keys(list(tasks))
    fresh = [t for k, t in tasks.items() if k not in held]
    if fresh:
        store.add_tasks(fresh, who.name)
