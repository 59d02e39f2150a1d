"""Members' webhooks from the command line: ``tahaluf webhooks add | list | show |
delete | deliveries`` (beside ``webhooks deliver``, which sends the calls).

Each command calls one :class:`WebhookService` operation as the ``--as``
member and prints the result through :mod:`tahaluf.wire.webhooks`.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tahaluf.cli.acting import AfterOpt, AsOpt, JsonOpt, acting, print_model
from tahaluf.cli.output import warn
from tahaluf.services.webhooks import WebhookService
from tahaluf.wire.webhooks import created_out, delivery_page, webhook_list, webhook_out

__all__ = ["register"]

IdArg = Annotated[int, typer.Argument(min=1, help="The webhook's id (see `tahaluf webhooks list`).")]


class Event(str, Enum):
    match = "match"
    review_decided = "review.decided"
    feedback_disputed = "feedback.disputed"


class DeliveryStatus(str, Enum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


def webhooks_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="http:// or https:// URL the hub POSTs each event to.")],
    member: AsOpt,
    event: Annotated[list[Event], typer.Option("--event", "-e", help="An event to receive, repeatable.")],
) -> None:
    """Register a webhook; prints it with its secret (shown only now)."""
    with acting(ctx, member) as (hub, who):
        out = created_out(WebhookService(hub).add(who, url, [e.value for e in event]))
    for message in out.warnings:
        warn(message)
    print_model(out)


def webhooks_list(
    ctx: typer.Context,
    member: AsOpt,
    all_members: Annotated[bool, typer.Option("--all", help="Every member's webhooks (admins only).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """The member's webhooks."""
    with acting(ctx, member) as (hub, who):
        found = webhook_list(WebhookService(hub).list_webhooks(who, all_members=all_members))
    if json_out:
        for hook in found.webhooks:
            print_model(hook)
        return
    table = Table("id", "member", "url", "events", "enabled", "created")
    for w in found.webhooks:
        table.add_row(str(w.id), w.member, w.url, ", ".join(w.events), "yes" if w.enabled else "no",
                      w.created_at[:16])
    Console().print(table)


def webhooks_show(ctx: typer.Context, webhook_id: IdArg, member: AsOpt) -> None:
    """One webhook (JSON)."""
    with acting(ctx, member) as (hub, who):
        print_model(webhook_out(WebhookService(hub).get(who, webhook_id)))


def webhooks_delete(ctx: typer.Context, webhook_id: IdArg, member: AsOpt) -> None:
    """Delete a webhook and its deliveries (its member, or an admin)."""
    with acting(ctx, member) as (hub, who):
        gone = WebhookService(hub).delete(who, webhook_id)
    typer.echo(f"webhook {gone.id} ({gone.url}) of {gone.member} deleted", err=True)


def webhooks_deliveries(
    ctx: typer.Context,
    webhook_id: IdArg,
    member: AsOpt,
    status: Annotated[DeliveryStatus | None, typer.Option(help="Only deliveries of this status.")] = None,
    after: AfterOpt = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Page size.")] = 100,
) -> None:
    """A page of a webhook's deliveries, oldest first, one JSON object per line."""
    with acting(ctx, member) as (hub, who):
        page = delivery_page(WebhookService(hub).delivery_page(
            who, webhook_id, after=after, limit=limit, status=status.value if status else None))
    for d in page.deliveries:
        print_model(d)
    if page.next_after is not None:
        typer.echo(f"more: --after {page.next_after}", err=True)


def register(webhooks_app: typer.Typer) -> None:
    """Add the commands to the ``webhooks`` group (which has ``deliver``)."""
    webhooks_app.command("add")(webhooks_add)
    webhooks_app.command("list")(webhooks_list)
    webhooks_app.command("show")(webhooks_show)
    webhooks_app.command("delete")(webhooks_delete)
    webhooks_app.command("deliveries")(webhooks_deliveries)
