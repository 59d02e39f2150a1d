"""Hub commands: ``tahaluf serve``, ``member``, ``key``, ``audit``.

``serve`` runs the HTTP API (uvicorn, one or more worker processes) and,
unless ``--no-deliver``, a separate webhook-delivery process beside it.
Members and keys are managed here or through ``/v1/members``; keys are shown
once and stored only as hashes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Optional

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from tahaluf.access import ROLES
from tahaluf.audit import parse_head
from tahaluf.banks import default_added_by
from tahaluf.bootstrap import open_hub, sql_ports
from tahaluf.cli.output import fail, print_json_line, warn
from tahaluf.config import HubConfig
from tahaluf.errors import InvalidInput, TahalufError
from tahaluf.services.hub import Hub
from tahaluf.services.webhooks import deliver_due, run_deliverer
from tahaluf.storage import open_store
from tahaluf.wire import dump
from tahaluf.wire.accounts import member_out

__all__ = ["register", "member_app", "key_app", "audit_app", "cli_actor", "hub_config", "prepare", "serve_hub"]

member_app = typer.Typer(help="Add, list, enable, disable and remove hub members (organisations), change "
                         "their roles.", no_args_is_help=True)
key_app = typer.Typer(help="Add, list, revoke and rotate members' API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and verify the hash-chained audit log.", no_args_is_help=True)


ALLOW_PRIVATE_HELP = "Let webhooks call private and loopback addresses (tests, one-organisation hubs)."


def cli_actor() -> str:
    """The audit-log actor for changes made from this command line."""
    return f"cli:{default_added_by()}"


def hub_config(ctx: typer.Context, **overrides: object) -> HubConfig:
    obj = ctx.obj
    return HubConfig.from_env(None, db=getattr(obj, "db_url", None), labels=getattr(obj, "labels_path", None),
                              **overrides)


@contextmanager
def _hub(ctx: typer.Context) -> Iterator[Hub]:
    """The hub's database for one command: errors end the command in one line, always closed."""
    try:
        hub = open_hub(hub_config(ctx, snapshot=False))
    except TahalufError as exc:
        fail(exc)
    try:
        yield hub
    except TahalufError as exc:
        fail(exc)
    finally:
        hub.close()


# -- serve ---------------------------------------------------------------------
def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror} (pass --port)") from None


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _prepare_here(config: HubConfig) -> None:
    hub = open_hub(config)
    try:
        hub.prepare_snapshot()
    finally:
        hub.close()


def _prepare_child(config: HubConfig) -> None:
    try:
        _prepare_here(config)
    except TahalufError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        raise SystemExit(exc.exit_code) from None


def prepare(config: HubConfig) -> None:
    """Open and migrate the database once, and refresh the PDQ snapshot the workers
    will map. Done in a child process: building an index leaves memory behind in
    the process that built it, and the parent lives on as the server."""
    child = multiprocessing.get_context("spawn").Process(target=_prepare_child, args=(config,), daemon=True)
    child.start()
    child.join()
    if child.exitcode:
        raise typer.Exit(child.exitcode if child.exitcode > 0 else 1)


def serve_hub(
    config: HubConfig, host: str, port: int, workers: int, deliver: bool, allow_private_networks: bool = False
) -> None:
    """Run the API until interrupted (the configuration reaches workers as TAHALUF_* variables), with
    the webhook deliverer and the evidence purge (every ``evidence_purge_interval_s``) beside it."""
    _check_port(host, port)
    env = dict(os.environ)
    for key, value in (("TAHALUF_DB", config.db), ("TAHALUF_LABELS", config.labels)):
        if value:
            env[key] = value
        os.environ.update({key: value} if value else {})
    os.environ["TAHALUF_SNAPSHOT"] = "1" if config.snapshot else "0"
    helpers: list[subprocess.Popen[bytes]] = []
    if deliver:
        command = [sys.executable, "-m", "tahaluf", "webhooks", "deliver"]
        helpers.append(subprocess.Popen(command + (["--allow-private-networks"] if allow_private_networks else []),
                                        env=env))
    if config.evidence_purge_interval_s > 0:  # the evidence purge, beside the API (not in its workers)
        helpers.append(subprocess.Popen([sys.executable, "-m", "tahaluf", "evidence", "purge", "--every",
                                         str(max(1.0, config.evidence_purge_interval_s))], env=env))
    # uvicorn re-raises SIGTERM after shutting down; exit through `finally` instead
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run("tahaluf.api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", access_log=False, lifespan="on")
    finally:
        for helper in helpers:
            helper.send_signal(signal.SIGTERM)
        for helper in helpers:
            try:
                helper.wait(timeout=5)
            except subprocess.TimeoutExpired:
                helper.kill()


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (each holds the indexes).")] = 1,
    deliver: Annotated[bool, typer.Option("--deliver/--no-deliver", help="Also run the webhook deliverer.")] = True,
    allow_private_networks: Annotated[bool, typer.Option(
        "--allow-private-networks", help=ALLOW_PRIVATE_HELP,
    )] = False,
    private_webhooks: Annotated[bool, typer.Option(
        "--private-webhooks", hidden=True, help="Deprecated name of --allow-private-networks.",
    )] = False,
) -> None:
    """Run the hub's HTTP API (OpenAPI at /docs; health at /health/live and /health/ready)."""
    if private_webhooks:
        warn("--private-webhooks is deprecated: use --allow-private-networks")
    try:
        _check_port(host, port)
        config = hub_config(ctx)
        prepare(config)
        typer.echo(f"tahaluf hub on http://{host}:{port} (docs: http://{host}:{port}/docs, {workers} worker(s))",
                   err=True)
        serve_hub(config, host, port, workers, deliver, allow_private_networks or private_webhooks)
    except TahalufError as exc:
        fail(exc)


# -- members and keys ------------------------------------------------------------
@member_app.command("add")
def member_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Organisation name: lower-case letters, digits, '.', '_', '-'.")],
    role: Annotated[list[str], typer.Option("--role", "-r", help=f"Role, repeatable: {', '.join(ROLES)}.")],
) -> None:
    """Add a member and print its API key (shown once; only its hash is stored)."""
    with _hub(ctx) as hub:
        member, key = hub.accounts.add_member(cli_actor(), name, role)
    Console(stderr=True).print(f"member [bold]{member.name}[/] ({', '.join(member.roles)}); its API key:")
    typer.echo(key)


@member_app.command("list")
def member_list(
    ctx: typer.Context, json_out: Annotated[bool, typer.Option("--json", help="One JSON object per member.")] = False
) -> None:
    """List members, their roles and whether they are enabled."""
    with _hub(ctx) as hub:
        members = hub.accounts.list_members(cli_actor())
    if json_out:
        for m in members:
            print_json_line(dump(member_out(m)))
        return
    table = Table("name", "roles", "enabled", "created")
    for m in members:
        table.add_row(m.name, ", ".join(m.roles), "yes" if m.enabled else "no", m.created_at.strftime("%Y-%m-%d"))
    Console().print(table)


def _set_enabled(ctx: typer.Context, name: str, enabled: bool) -> None:
    with _hub(ctx) as hub:
        hub.accounts.set_enabled(cli_actor(), name, enabled)
    typer.echo(f"member {name} {'enabled' if enabled else 'disabled'}", err=True)


@member_app.command("disable")
def member_disable(ctx: typer.Context, name: str) -> None:
    """Disable a member: its keys stop working (within the workers' key cache time, 2 s)."""
    _set_enabled(ctx, name, False)


@member_app.command("enable")
def member_enable(ctx: typer.Context, name: str) -> None:
    """Enable a disabled member again."""
    _set_enabled(ctx, name, True)


@key_app.command("rotate")
def key_rotate(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Member name.")]) -> None:
    """Revoke all of a member's keys and print a new one (with all the member's roles)."""
    with _hub(ctx) as hub:
        key = hub.accounts.rotate_key(cli_actor(), name)
    typer.echo(key)


# -- audit -------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    head: Annotated[Optional[str], typer.Option(
        help="A head recorded earlier, as `tahaluf audit head` printed it "
        "('ID HASH', or the hash alone): it must still be in the chain.",
    )] = None,
    public_key: Annotated[Optional[str], typer.Option(
        "--public-key", help="Check signed heads against this key (hex, from `tahaluf audit public-key`) "
                             "instead of the hub's key file.")] = None,
) -> None:
    """Walk the audit chain and check the hub's signed heads; exit 9 when an entry was
    edited, deleted or reordered, or the chain was rewritten or cut short."""
    recorded = None
    if head is not None:
        try:
            recorded = parse_head(head)
        except ValueError:
            fail(InvalidInput(f"--head {head!r}: expected 'ID HASH' as `tahaluf audit head` prints it, or a hash"))
    with _hub(ctx) as hub:
        check = hub.audit.verify(cli_actor(), recorded_head=recorded,
                                 trusted_keys=[public_key.lower()] if public_key else None)
    for p in check.problems:
        typer.echo(f"audit: {p}", err=True)
    if check.problems:
        raise typer.Exit(9)
    last = check.last
    signed = (f"{check.signed_heads} signed heads, the last at entry {check.last_signed}"
              if check.last_signed else "no signed head")
    typer.echo(f"audit log intact: {check.entries} entries, head {last.id if last else 0} "
               f"{last.hash if last else '-'}; {signed}", err=True)


@audit_app.command("head")
def audit_head(ctx: typer.Context) -> None:
    """Sign the current head with the hub's key and print it as 'ID HASH' (record it
    elsewhere; `verify --head` checks that it is still in the chain)."""
    with _hub(ctx) as hub:
        signed = hub.audit.sign(cli_actor())
    typer.echo(f"{signed.entry_id} {signed.entry_hash}" if signed else "0 -")


@audit_app.command("sign")
def audit_sign(ctx: typer.Context) -> None:
    """Sign the current head with the hub's key (the hub also signs every 100th entry)."""
    with _hub(ctx) as hub:
        signed = hub.audit.sign(cli_actor())
    typer.echo(f"signed entry {signed.entry_id} {signed.entry_hash}" if signed else "the audit log is empty",
               err=True)


@audit_app.command("public-key")
def audit_public_key(ctx: typer.Context) -> None:
    """Print the hub's audit public key (hex; give it to auditors for `verify --public-key`)."""
    with _hub(ctx) as hub:
        key = hub.audit.public_key(cli_actor())
    typer.echo(key.public_key)
    typer.echo(f"key file: {key.path}", err=True)


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    after: Annotated[int, typer.Option(min=0, help="Start after this entry id.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Most entries to print.")] = 100,
) -> None:
    """Print audit entries as JSON lines."""
    with _hub(ctx) as hub:
        page = hub.audit.entries(cli_actor(), after=after, limit=limit)
    for e in page.entries:
        print_json_line(e.to_json())


webhooks_app = typer.Typer(help="Deliver webhook calls.", no_args_is_help=True)


@webhooks_app.command("deliver")
def webhooks_deliver(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between checks for due deliveries.")] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    allow_private_networks: Annotated[bool, typer.Option(
        "--allow-private-networks", help=ALLOW_PRIVATE_HELP,
    )] = False,
) -> None:
    """Send due webhook calls (signed, retried with back-off) until stopped; `serve` starts this for you."""
    try:
        store = open_store(hub_config(ctx).db)
    except TahalufError as exc:
        fail(exc)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if once:
            done = deliver_due(sql_ports(store).webhooks, allow_private_networks=allow_private_networks)
            typer.echo(f"delivered {done}", err=True)
        else:
            run_deliverer(sql_ports(store).webhooks, interval_s=interval, stop=stop,
                          allow_private_networks=allow_private_networks)
    except KeyboardInterrupt:
        pass
    except TahalufError as exc:
        fail(exc)
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(member_app, name="member", help="Add, list, enable, disable and remove hub members; change roles.")
    app.add_typer(key_app, name="key", help="Add, list, revoke and rotate members' API keys.")
    app.add_typer(audit_app, name="audit", help="Read and verify the audit log.")
    app.add_typer(webhooks_app, name="webhooks",
                  help="Members' webhooks (add, list, show, delete, deliveries) and their delivery (deliver).")
