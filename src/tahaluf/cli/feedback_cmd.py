"""Feedback on bank items from the command line: ``tahaluf feedback give | show | feed``.

Each command calls one :class:`FeedbackService` operation as the ``--as``
member and prints the result through :mod:`tahaluf.wire.feedback`.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from tahaluf.cli.acting import AfterOpt, AsOpt, LimitOpt, acting, print_model
from tahaluf.services.feedback import FeedbackService
from tahaluf.wire.feedback import feed_out, feedback_out, item_feedback_out

__all__ = ["feedback_app", "register"]

feedback_app = typer.Typer(no_args_is_help=True, add_completion=False)

BankArg = Annotated[str, typer.Argument(help="Bank name.")]
ItemArg = Annotated[str, typer.Argument(help="The item's external id.")]


class Opinion(str, Enum):
    agree = "agree"
    disagree = "disagree"
    false_positive = "false_positive"


@feedback_app.command("give")
def feedback_give(
    ctx: typer.Context,
    bank: BankArg,
    item: ItemArg,
    member: AsOpt,
    opinion: Annotated[Opinion, typer.Option("--opinion", help="agree, disagree or false_positive.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to the bank's owner).")],
) -> None:
    """Give (or change) the member's opinion on an item; a negative one tells the bank's owner."""
    with acting(ctx, member) as (hub, who):
        out = feedback_out(FeedbackService(hub).give(who, bank, item, opinion.value, reason))
    if out.became_disputed:
        typer.echo(f"item {out.external_id} of {out.bank} is now disputed; its owner was told", err=True)
    print_model(out)


@feedback_app.command("show")
def feedback_show(ctx: typer.Context, bank: BankArg, item: ItemArg, member: AsOpt) -> None:
    """Every member's opinion on an item, and whether it is disputed (JSON)."""
    with acting(ctx, member) as (hub, who):
        print_model(item_feedback_out(FeedbackService(hub).show(who, bank, item)))


@feedback_app.command("feed")
def feedback_feed(ctx: typer.Context, member: AsOpt, after: AfterOpt = 0, limit: LimitOpt = 100) -> None:
    """The member's feed (its items disputed, its submissions' reviews decided), one JSON entry per line."""
    with acting(ctx, member) as (hub, who):
        page = feed_out(FeedbackService(hub).feed(who, after_id=after, limit=limit))
    for entry in page.entries:
        print_model(entry)
    if page.next_after is not None:
        typer.echo(f"more: --after {page.next_after}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback", help="Opinions on bank items and each member's feed.")
