"""``tahaluf demo``: what ``make run`` runs — build demo banks, scan a demo inbox, report.

Everything is the project's own neutral demo content (generated pictures and
video, hand-written posts), labelled with the fictional ``demo-entity``. The
banks ``demo-known`` and ``demo-allow`` (and the ``demo-admin`` member) are
recreated on every run in the demo's own database, ``demo.db`` in the user
data folder, never in the default database that ``serve`` and the other
commands use; ``--db`` (or ``TAHALUF_DB``) names another one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import platformdirs
import typer
from rich.console import Console
from rich.table import Table

from tahaluf import banks
from tahaluf.bootstrap import open_hub
from tahaluf.cli.bank import get_store
from tahaluf.cli.hub_cmd import cli_actor, hub_config, prepare, serve_hub
from tahaluf.cli.output import fail
from tahaluf.config import HubConfig
from tahaluf.demo import demo_content_dir
from tahaluf.errors import StorageError, TahalufError
from tahaluf.reports import HtmlReport
from tahaluf.services.banking import add_content
from tahaluf.services.hashing import HashOptions, iter_inputs
from tahaluf.services.matching import MatchEngine
from tahaluf.services.parallel import default_jobs
from tahaluf.services.scanning import ScanResult, scan

KNOWN, ALLOW = "demo-known", "demo-allow"


def _recreate_banks(store) -> None:  # noqa: ANN001
    for name in (KNOWN, ALLOW):
        if store.get_bank(name) is not None:
            banks.delete_bank(store, name)
    banks.create_bank(store, KNOWN, "known", labels={"entity": "demo-entity", "tier": "promotional"})
    banks.create_bank(store, ALLOW, "allow", labels={"tags": ["news"]})


def _verdict(r: ScanResult) -> str:
    if r.error:
        return f"[yellow]error[/]: {r.error}"
    if r.allowed:
        return "[green]allow-listed[/] (do not action)"
    if r.actionable:
        return "[red]matches known[/] → review"
    return "no match"


def _evidence(r: ScanResult) -> str:
    parts = []
    for m in r.matches[:3]:
        score = f"d={m.distance}" if m.distance is not None else f"sim={m.similarity:.2f}"
        rel = m.evidence.get("relation") or ("crop/variant" if m.evidence.get("bank_variant") else "")
        ext = Path(m.external_id).name if "/" in m.external_id else m.external_id
        parts.append(f"{m.bank}:{ext} {m.signal_type} {score} {rel}".strip())
    return "\n".join(parts)


ADMIN = "demo-admin"


def demo_db_path() -> Path:
    """The demo's own database file: ``demo.db`` beside the default ``tahaluf.db``."""
    return Path(platformdirs.user_data_dir("tahaluf")) / "demo.db"


def demo_db_url() -> str:
    return f"sqlite:///{demo_db_path()}"


def _use_demo_db(ctx: typer.Context) -> str:
    """Point the command at the demo database unless --db / TAHALUF_DB named one; returns its name."""
    if getattr(ctx.obj, "db_url", None) or os.environ.get("TAHALUF_DB"):
        return "the database given by --db"
    ctx.obj.db_url = demo_db_url()
    path = demo_db_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(StorageError(f"cannot create the folder of the demo database {path}: {exc.strerror}"))
    return f"the demo database {path}"


def _demo_admin_key(store) -> str:  # noqa: ANN001
    """A fresh key for the demo admin member (created on first run)."""
    hub = open_hub(HubConfig(snapshot=False), store=store)
    if hub.hubstore.get_member(ADMIN) is None:
        return hub.accounts.add_member(cli_actor(), ADMIN, ["admin"]).api_key
    hub.accounts.set_enabled(cli_actor(), ADMIN, True)
    return hub.accounts.rotate_key(cli_actor(), ADMIN)


def demo_command(
    ctx: typer.Context,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Then start the hub on the demo banks.")] = False,
    host: Annotated[str, typer.Option(help="Address for --serve.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for --serve.")] = 8000,
) -> None:
    """Build the demo banks from the shipped demo content, scan the demo inbox, print the report
    (with --serve: then run the hub on them and print its URL and an admin API key)."""
    console = Console()
    root = demo_content_dir().parent
    where = _use_demo_db(ctx)
    try:
        store = get_store(ctx)
    except TahalufError as exc:
        fail(exc)
    try:
        _recreate_banks(store)
        jobs = default_jobs()
        known = add_content(store, KNOWN, iter_inputs([str(root / "content")], relative_ids=True),
                            added_by="demo", hash_opts=HashOptions(bank_crops=True), jobs=jobs)
        allow = add_content(store, ALLOW, iter_inputs([str(root / "allow")], relative_ids=True), added_by="demo",
                            jobs=jobs)
        console.print(f"in {where}:")
        console.print(f"[bold]{KNOWN}[/]: {known.summary()}   [bold]{ALLOW}[/]: {allow.summary()}")
        engine = MatchEngine(store).load()
        table = Table(title=f"tahaluf demo: scan of {root / 'inbox'}", show_lines=True)
        for col in ("input", "verdict", "evidence (best matches)"):
            table.add_column(col, overflow="fold")
        html = HtmlReport(store, title="tahaluf demo scan")
        inbox = iter_inputs([str(root / "inbox")])
        for r in scan(inbox, engine, hash_opts=HashOptions(trim_borders=True), jobs=jobs, keep_text=True):
            name = Path(r.input).name if r.path and r.input == r.path else r.input
            table.add_row(name, _verdict(r), _evidence(r))
            html.add(r)
        console.print(table)
        out = Path(platformdirs.user_data_dir("tahaluf")) / "demo-report.html"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(html.render(), encoding="utf-8")
            console.print(f"HTML report: {out}")
        except OSError as exc:
            console.print(f"(could not write the HTML report: {exc.strerror})")
        if not serve:
            console.print("Next: [bold]tahaluf scan PATH[/], [bold]tahaluf bank --help[/], [bold]tahaluf --help[/].")
            return
        key = _demo_admin_key(store)
    except TahalufError as exc:
        fail(exc)
    finally:
        store.close()
    _serve(ctx, console, key, host, port)


def _serve(ctx: typer.Context, console: Console, key: str, host: str, port: int) -> None:
    url = f"http://{host}:{port}"
    console.print(f"\n[bold]tahaluf hub[/] serving the demo banks at [bold]{url}[/]  (API docs: {url}/docs)")
    console.print(f"admin API key ({ADMIN}): [bold]{key}[/]")
    console.print(f"try:  curl -H 'Authorization: Bearer {key}' {url}/v1/banks")
    console.print("stop with Ctrl-C")
    try:
        config = hub_config(ctx)
        prepare(config)
        serve_hub(config, host, port, workers=1, deliver=True)
    except TahalufError as exc:
        fail(exc)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
