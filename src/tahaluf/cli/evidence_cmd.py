"""The evidence store from the command line: ``tahaluf evidence keys init|show|rotate|remove``,
``rekey``, ``purge``, ``hold``, ``release``, ``retain``.

The operator acts here (audited as ``cli:<user>``); each command calls one
:class:`EvidenceService` operation. ``purge --every`` is the loop ``tahaluf
serve`` runs beside the API.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from typing import Annotated

import typer

from tahaluf.bootstrap import open_hub
from tahaluf.cli.acting import JsonOpt, print_model
from tahaluf.cli.hub_cmd import _hub, cli_actor, hub_config
from tahaluf.cli.output import fail, warn
from tahaluf.errors import InvalidInput, TahalufError
from tahaluf.services.evidence import EvidenceService
from tahaluf.wire.evidence import KeysOut, evidence_out, keys_out, purge_out, rekey_out

__all__ = ["evidence_app", "register"]

evidence_app = typer.Typer(no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="The evidence keyring: init, show, rotate, remove.", no_args_is_help=True)

SubArg = Annotated[int, typer.Argument(min=1, help="The submission's id (see `tahaluf review submissions`).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


def _print_keys(out: KeysOut, json_out: bool) -> None:
    if json_out:
        print_model(out)
        return
    where = out.path or f"({out.source})"
    typer.echo(f"evidence keys from {where}; current: {out.current}", err=True)
    for k in out.keys:
        typer.echo(f"{k['id']}\t{'current' if k['current'] else 'old'}\t{k['blobs']} blob(s)")


@keys_app.command("init")
def keys_init(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Create the evidence key file (mode 0600, one fresh key) unless keys exist; show them."""
    with _hub(ctx) as hub:
        out = keys_out(*EvidenceService(hub).keys(cli_actor()))
    _print_keys(out, json_out)


@keys_app.command("show")
def keys_show(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """The key ids (never the keys), which is current, and how many blobs each seals."""
    with _hub(ctx) as hub:
        out = keys_out(*EvidenceService(hub).keys(cli_actor()))
    _print_keys(out, json_out)


@keys_app.command("rotate")
def keys_rotate(ctx: typer.Context) -> None:
    """Add a new current key; old keys still decrypt (then `tahaluf evidence rekey`)."""
    with _hub(ctx) as hub:
        info = EvidenceService(hub).rotate_key(cli_actor())
    typer.echo(f"new current evidence key {info.current}; run `tahaluf evidence rekey` to move old blobs to it",
               err=True)


@keys_app.command("remove")
def keys_remove(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="An old key's id.")]) -> None:
    """Forget an old key (refused while a blob is still sealed with it)."""
    with _hub(ctx) as hub:
        EvidenceService(hub).remove_key(cli_actor(), key_id)
    typer.echo(f"evidence key {key_id} removed", err=True)


@evidence_app.command("rekey")
def rekey(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Re-encrypt every blob sealed with an old key under the current key (safe to run again)."""
    with _hub(ctx) as hub:
        out = rekey_out(EvidenceService(hub).rekey(cli_actor()))
    if json_out:
        print_model(out)
    else:
        typer.echo(f"{out.rekeyed} blob(s) now sealed with {out.key}"
                   + (f"; {len(out.missing)} missing from the folder" if out.missing else ""), err=True)


def _purge_once(ctx: typer.Context, dry_run: bool, json_out: bool) -> None:
    with _hub(ctx) as hub:
        out = purge_out(EvidenceService(hub).purge(cli_actor(), dry_run=dry_run))
    if json_out:
        print_model(out)
    else:
        verb = "would purge" if dry_run else "purged"
        typer.echo(f"{verb} the evidence of {len(out.submissions)} submission(s); {len(out.blobs)} blob(s), "
                   f"{len(out.orphans)} orphan file(s)", err=True)


def _purge_loop(ctx: typer.Context, every_s: float) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        try:
            hub = open_hub(hub_config(ctx, snapshot=False))
            try:
                EvidenceService(hub).purge(cli_actor())
            finally:
                hub.close()
        except TahalufError as exc:  # the database went away: try again at the next tick
            warn(f"evidence purge failed: {exc.message}")
        stop.wait(every_s)


@evidence_app.command("purge")
def purge(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
    every: Annotated[float | None, typer.Option(
        "--every", min=1.0, help="Purge every this many seconds until stopped (what `serve` runs).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove evidence past its retention (not on hold), blobs no submission links, and orphan blob
    files over an hour old (a crash between writing a blob and recording it)."""
    if every is not None:
        if dry_run:
            fail(InvalidInput("--every and --dry-run do not go together"))
        try:
            _purge_loop(ctx, every)
        except KeyboardInterrupt:
            pass
        return
    _purge_once(ctx, dry_run, json_out)


@evidence_app.command("hold")
def hold(ctx: typer.Context, submission: SubArg, reason: ReasonOpt) -> None:
    """Put a submission's evidence on legal hold: the purge leaves it until released."""
    with _hub(ctx) as hub:
        print_model(evidence_out(EvidenceService(hub).hold(cli_actor(), submission, reason)))


@evidence_app.command("release")
def release(ctx: typer.Context, submission: SubArg, reason: ReasonOpt) -> None:
    """Lift a legal hold (purged once past its retention)."""
    with _hub(ctx) as hub:
        print_model(evidence_out(EvidenceService(hub).release(cli_actor(), submission, reason)))


@evidence_app.command("retain")
def retain(
    ctx: typer.Context, submission: SubArg, reason: ReasonOpt,
    until: Annotated[str, typer.Option("--until", help="Keep until (ISO 8601 with its UTC offset).")],
) -> None:
    """Set how long one submission's evidence is kept."""
    try:
        when = datetime.fromisoformat(until)
    except ValueError:
        fail(InvalidInput(f"--until {until!r}: not an ISO 8601 time (e.g. 2027-01-31T00:00:00+00:00)"))
    with _hub(ctx) as hub:
        print_model(evidence_out(EvidenceService(hub).retain(cli_actor(), submission, when, reason)))


@evidence_app.command("show")
def show(ctx: typer.Context, submission: SubArg) -> None:
    """A submission's evidence record: hash, type, size, retention, hold (JSON)."""
    with _hub(ctx) as hub:
        print_model(evidence_out(EvidenceService(hub).show(cli_actor(), submission)))


def register(app: typer.Typer) -> None:
    evidence_app.add_typer(keys_app, name="keys")
    app.add_typer(evidence_app, name="evidence",
                  help="The evidence store: keys, rekey, purge, legal holds and retention.")
