"""What a reviewer's decision does (see ``docs/review.md``).

``confirm`` adds the task's signals to a known bank (with the two-person rule:
the first confirmation leaves it ``pending_second``), ``reject`` may add them
to an allow bank, ``escalate`` leaves the task open for someone else.
:func:`plan` works out the new status and the bank; :func:`reviewed_item`
the item stored with the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tahaluf.access import Principal
from tahaluf.banks import NewItem, Provenance, item_row
from tahaluf.errors import Conflict, InvalidInput, PermissionDenied
from tahaluf.ports.reviews import ReviewedItem, TaskRecord
from tahaluf.ports.transactions import AuditNote
from tahaluf.services.bank_names import qualified_name
from tahaluf.services.curation import index_signal
from tahaluf.services.hub import BankView, Hub
from tahaluf.signals.base import Signal

__all__ = ["Decision", "Plan", "first_labels", "plan", "reviewed_item"]


@dataclass(frozen=True, slots=True)
class Decision:
    decision: str
    reason: str
    labels: dict[str, Any] = field(default_factory=dict)
    bank: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The status a decision leads to and the bank it adds the task's signals to."""

    status: str
    add_to: BankView | None = None


def _reviewed_bank(hub: Hub, who: Principal, name: str | None, kind: str, decision: str, *,
                   owner_needed: bool = True) -> BankView:
    """The bank a decision adds to: visible (else 404), of ``kind``, and (when
    ``owner_needed``) owned by the reviewer's member or the reviewer an admin (else 403)."""
    if not name:
        raise InvalidInput(f"{decision} needs a bank ({kind} bank to add the content to)")
    record = hub.store.get_bank(name)  # ``name`` is the stored key (see ReviewService.decide)
    view = hub.banks.get(who, qualified_name(record) if record is not None else name)
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


def plan(hub: Hub, who: Principal, task: TaskRecord, d: Decision) -> Plan:
    """The new status and bank of decision ``d`` on ``task`` (``d.bank`` a stored key)."""
    if d.decision == "escalate":
        if d.bank:
            raise InvalidInput("escalate takes no bank")
        return Plan("escalated")
    if d.decision == "reject":
        return Plan("rejected", _reviewed_bank(hub, who, d.bank, "allow", "reject") if d.bank else None)
    # the second confirmation of a two-person decision may come from any member
    # that sees the bank: the first one (the owner's or an admin's) proposed it
    earlier = _confirmers(task, d.bank) if d.bank and task.status == "pending_second" else set()
    view = _reviewed_bank(hub, who, d.bank, "known", "confirm", owner_needed=not earlier)
    if bool(hub.settings.current()["review_two_person_rule"]) and view.record.visibility != "private":
        if who.member_id in earlier:
            raise Conflict(f"member {who.name!r} already confirmed task {task.id}; "
                           "the two-person rule needs a second member")
        if not earlier:
            return Plan("pending_second")
    return Plan("confirmed", view)


def _signal(entry: dict[str, Any]) -> Signal:
    extra = {k: v for k, v in entry.items() if k not in ("type", "value")}
    return Signal(str(entry["type"]), str(entry["value"]), extra)


def reviewed_item(hub: Hub, who: Principal, task: TaskRecord, view: BankView, labels: dict[str, Any]
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


def first_labels(task: TaskRecord, bank: str | None) -> dict[str, Any]:
    """The labels of the confirmation a second one completes (two-person rule)."""
    if task.status != "pending_second":
        return {}
    return next((d.labels for d in reversed(task.decisions) if d.decision == "confirm" and d.bank == bank), {})
