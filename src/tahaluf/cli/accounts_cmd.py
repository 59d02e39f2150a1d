"""Accounts of organisations from the command line: ``member roles``, ``member
remove``, ``key add``, ``key list``, ``key revoke`` and ``bank transfer``.

Each command parses its arguments, calls one function of
:mod:`tahaluf.services.accounts` (where the rules and audit entries live) and
prints the result. Registered on the ``member``, ``key`` and ``bank`` groups by
:func:`register`.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from tahaluf.access import ROLES
from tahaluf.cli.hub_cmd import _hub, cli_actor, key_app, member_app
from tahaluf.cli.output import print_json_line
from tahaluf.wire import dump
from tahaluf.wire.accounts import key_info_out

__all__ = ["register"]

RoleOpt = Annotated[list[str], typer.Option("--role", "-r", help=f"Role, repeatable: {', '.join(ROLES)}.")]


def member_roles(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Member (organisation) name.")],
    role: RoleOpt,
) -> None:
    """Change a member's roles. Its keys without roles of their own follow; keys with
    their own roles keep those still allowed (a key left with none is revoked)."""
    with _hub(ctx) as hub:
        member = hub.accounts.set_roles(cli_actor(), name, role)
    typer.echo(f"member {member.name}: {', '.join(member.roles)}", err=True)


def member_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Member (organisation) name.")],
    transfer_banks_to: Annotated[Optional[str], typer.Option(
        "--transfer-banks-to", help="Give the member's banks to this member (needed while it owns banks).",
    )] = None,
) -> None:
    """Remove a member: its keys, webhooks, feed, feedback and shares go; its
    submissions and review history stay without a member. Refused while it owns banks."""
    with _hub(ctx) as hub:
        out = hub.accounts.remove(cli_actor(), name, transfer_banks_to=transfer_banks_to)
    moved = out["banks_transferred"]
    typer.echo(f"member {name} removed ({out['keys']} key(s), {out['webhooks_deleted']} webhook(s), "
               f"{out['feedback_deleted']} feedback opinion(s) deleted"
               + (f"; {len(moved)} bank(s) now belong to {out['transferred_to']}" if moved else "") + ")", err=True)


def key_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Member (organisation) name.")],
    role: Annotated[Optional[list[str]], typer.Option(
        "--role", "-r", help="The key's roles, repeatable: a subset of the member's (default: all of them, "
                             "following role changes).",
    )] = None,
    label: Annotated[Optional[str], typer.Option(help="What the key is for (shown in `key list`).")] = None,
) -> None:
    """Give a member another API key and print it (shown once; only its hash is stored)."""
    with _hub(ctx) as hub:
        member, info, key = hub.accounts.add_key(cli_actor(), name, role or None, label)
    roles = info.roles(member.roles)
    Console(stderr=True).print(f"key {info.id} of [bold]{member.name}[/] ({', '.join(roles)}):")
    typer.echo(key)


def key_list(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Member (organisation) name.")],
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """List a member's keys (ids, prefixes, labels, roles, last use; revoked ones too)."""
    with _hub(ctx) as hub:
        member, keys = hub.accounts.list_keys(cli_actor(), name)
    if json_out:
        for k in keys:
            print_json_line(dump(key_info_out(k, member)))
        return
    table = Table("id", "prefix", "label", "roles", "last used", "revoked")
    for k in keys:
        roles = ", ".join(k.roles(member.roles)) + (" (all)" if k.own_roles is None else "")
        table.add_row(str(k.id), k.prefix, k.label or "", roles,
                      k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "-",
                      k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "")
    Console().print(table)


def key_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Member (organisation) name.")],
    key: Annotated[str, typer.Argument(help="The key's id or prefix (see `tahaluf key list`).")],
) -> None:
    """Revoke one key of a member; its other keys keep working."""
    with _hub(ctx) as hub:
        member, info = hub.accounts.revoke_key(cli_actor(), name, key)
    typer.echo(f"key {info.id} ({info.prefix}) of {member.name} revoked", err=True)


def bank_transfer(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank name.")],
    to: Annotated[str, typer.Option("--to", help="The member to give the bank to.")],
) -> None:
    """Give a bank (its items, visibility and sharing) to another member."""
    with _hub(ctx) as hub:
        out = hub.banks.transfer(cli_actor(), name, to)
    typer.echo(f"bank {out.bank} now belongs to {out.owner}", err=True)


def register(bank_app: typer.Typer | None = None) -> None:
    member_app.command("roles")(member_roles)
    member_app.command("remove")(member_remove)
    key_app.command("add")(key_add)
    key_app.command("list")(key_list)
    key_app.command("revoke")(key_revoke)
    if bank_app is not None:
        bank_app.command("transfer")(bank_transfer)
