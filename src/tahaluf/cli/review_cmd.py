"""The review queue from the command line: ``tahaluf review list | show | claim |
release | decide | submissions``.

Each command parses its arguments, calls one :class:`ReviewService` operation
as the ``--as`` member (the same rules and audit entries as the API) and
prints the result through :mod:`tahaluf.wire.reviews`.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tahaluf.cli.acting import AfterOpt, AsOpt, JsonOpt, LimitOpt, acting, print_model
from tahaluf.labels import parse_label_args
from tahaluf.services.reviews import Decision, ReviewService
from tahaluf.wire.reviews import TaskOut, submission_out, task_out, task_page

__all__ = ["register", "review_app"]

review_app = typer.Typer(no_args_is_help=True, add_completion=False)

TaskArg = Annotated[int, typer.Argument(min=1, help="The review task's id (see `tahaluf review list`).")]


class StatusFilter(str, Enum):
    open = "open"
    pending = "pending"
    pending_second = "pending_second"
    escalated = "escalated"
    confirmed = "confirmed"
    rejected = "rejected"
    all = "all"


class DecisionKind(str, Enum):
    confirm = "confirm"
    reject = "reject"
    escalate = "escalate"


def _summary(task: TaskOut) -> str:
    claim = f", claimed by {task.claimed_by} until {task.claim_expires_at}" if task.claimed_by else ""
    return f"review task {task.id}: {task.status}{claim}"


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    member: AsOpt,
    status: Annotated[StatusFilter, typer.Option(help="Tasks of this status (open: pending, pending_second, "
                                                      "escalated; all: every one).")] = StatusFilter.open,
    after: AfterOpt = 0,
    limit: LimitOpt = 100,
    json_out: JsonOpt = False,
) -> None:
    """One page of the review queue (tasks of others' submissions: designated reviewers only)."""
    with acting(ctx, member) as (hub, who):
        page = task_page(ReviewService(hub).list_tasks(who, status.value, after_id=after, limit=limit))
    if json_out:
        for task in page.tasks:
            print_model(task)
    else:
        table = Table("id", "source", "status", "member", "matches", "claimed by", "created")
        for t in page.tasks:
            table.add_row(str(t.id), t.source, t.status, t.member or "", f"{len(t.matches)} (+{t.hidden_matches})"
                          if t.hidden_matches else str(len(t.matches)), t.claimed_by or "", t.created_at[:16])
        Console().print(table)
    if page.next_after is not None:
        typer.echo(f"more: --after {page.next_after}", err=True)


@review_app.command("show")
def review_show(ctx: typer.Context, task_id: TaskArg, member: AsOpt) -> None:
    """One review task with its matches and decisions (JSON)."""
    with acting(ctx, member) as (hub, who):
        print_model(task_out(ReviewService(hub).show(who, task_id)))


@review_app.command("claim")
def review_claim(ctx: typer.Context, task_id: TaskArg, member: AsOpt) -> None:
    """Claim a task for review_claim_ttl_s seconds (again by its holder: extended)."""
    with acting(ctx, member) as (hub, who):
        task = task_out(ReviewService(hub).claim(who, task_id))
    typer.echo(_summary(task), err=True)
    print_model(task)


@review_app.command("release")
def review_release(ctx: typer.Context, task_id: TaskArg, member: AsOpt) -> None:
    """Return a claimed task to the queue (its holder, or an admin)."""
    with acting(ctx, member) as (hub, who):
        task = task_out(ReviewService(hub).release(who, task_id))
    typer.echo(_summary(task), err=True)
    print_model(task)


@review_app.command("decide")
def review_decide(
    ctx: typer.Context,
    task_id: TaskArg,
    member: AsOpt,
    decision: Annotated[DecisionKind, typer.Option("--decision", "-d", help="confirm, reject or escalate.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the decision and in the audit log).")],
    bank: Annotated[str | None, typer.Option(
        "--bank", help="confirm: the known bank to add the content to; reject: an allow bank (optional).",
    )] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", "-l", help="Label of the item a decision adds, k=v, repeatable.",
    )] = None,
) -> None:
    """Confirm, reject or escalate a task (see docs/review.md)."""
    chosen = Decision(decision.value, reason, parse_label_args(label or []), bank)
    with acting(ctx, member) as (hub, who):
        task = task_out(ReviewService(hub).decide(who, task_id, chosen))
    typer.echo(_summary(task), err=True)
    print_model(task)


@review_app.command("submissions")
def review_submissions(
    ctx: typer.Context, member: AsOpt, after: AfterOpt = 0, limit: LimitOpt = 100, json_out: JsonOpt = False,
) -> None:
    """The member's submissions (an admin's: everyone's) and their tasks."""
    with acting(ctx, member) as (hub, who):
        page = ReviewService(hub).submissions(who, after_id=after, limit=limit)
    subs = [submission_out(v) for v in page.items]
    if json_out:
        for sub in subs:
            print_model(sub)
    else:
        table = Table("id", "member", "kind", "note", "task", "created")
        for s in subs:
            task = f"{s.task['id']} ({s.task['status']})" if s.task else ""
            table.add_row(str(s.id), s.member or "", s.kind, s.note or "", task, s.created_at[:16])
        Console().print(table)
    if page.next_after is not None:
        typer.echo(f"more: --after {page.next_after}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review", help="The review queue: list, show, claim, release, decide.")
