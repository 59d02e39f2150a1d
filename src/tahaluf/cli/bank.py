"""`tahaluf bank ...`: create, list, show, delete, import and export banks.

A thin interface over :mod:`tahaluf.banks`: parse arguments, call the domain,
print. Errors are tahaluf errors, printed as one ``error: ...`` line on stderr
with the error's exit code.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tahaluf.bootstrap import open_hub, sql_ports
from tahaluf.cli.hash_cmd import expand_paths
from tahaluf.cli.hub_cmd import cli_actor, hub_config
from tahaluf.errors import InvalidInput, TahalufError
from tahaluf.formats import registry as formats
from tahaluf.labels import LabelVocabulary, default_vocabulary, load_vocabulary, parse_label_args
from tahaluf.services.bank_files import export_bank_file, import_bank_file
from tahaluf.services.banking import add_content, audited_batches
from tahaluf.services.hashing import HashOptions, iter_inputs
from tahaluf.services.hub import Hub
from tahaluf.services.parallel import default_jobs
from tahaluf.storage import Store, open_store
from tahaluf.wire import dump
from tahaluf.wire.banks import stored_bank_out

__all__ = ["bank_app", "get_store"]

#: exit status when some items or lines were rejected (the rest were stored)
EXIT_SOME_FAILED = 3

bank_app = typer.Typer(help="Manage banks of known and allowed content.", no_args_is_help=True)

F = TypeVar("F", bound=Callable[..., Any])


class Kind(str, Enum):
    known = "known"
    allow = "allow"


#: ``--format`` choices: the formats of :mod:`tahaluf.formats`
ImportFormat = Enum("ImportFormat", {name: name for name in formats.names()}, type=str)  # type: ignore[misc]
DEFAULT_EXPORT_FORMAT = ImportFormat("jsonl")


def _stderr() -> Console:
    return Console(stderr=True)


def _handles_errors(fn: F) -> F:
    """Render TahalufError as ``error: <message>`` on stderr and exit with its code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TahalufError as err:
            typer.echo(f"error: {err.message}", err=True)
            raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]


def get_store(ctx: typer.Context) -> Store:
    """Open the store named by the root app (``ctx.obj.db_url``), else TAHALUF_DB, else the default."""
    url = getattr(ctx.obj, "db_url", None) or os.environ.get("TAHALUF_DB") or None
    return open_store(url)


def get_vocabulary(ctx: typer.Context) -> LabelVocabulary:
    """The label vocabulary named by ``--labels`` / TAHALUF_LABELS, else the shipped one."""
    path = getattr(ctx.obj, "labels_path", None)
    return load_vocabulary(path) if path else default_vocabulary()


@contextmanager
def _store(ctx: typer.Context) -> Iterator[Store]:
    store = get_store(ctx)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _hub(ctx: typer.Context) -> Iterator[Hub]:
    """The hub's services over the command's database (always closed)."""
    hub = open_hub(hub_config(ctx, snapshot=False))
    try:
        yield hub
    finally:
        hub.close()


class Visibility(str, Enum):
    private = "private"
    members = "members"
    all = "all"


_REPEAT = "key=value (repeatable; lists comma-separated)"
LabelOpt = Annotated[
    list[str] | None,
    typer.Option("--label", "-l", help=f"Default label of the bank's items, {_REPEAT}."),
]
AddLabelOpt = Annotated[
    list[str] | None,
    typer.Option("--label", "-l", help=f"Label of each added item (beside the bank's default labels), {_REPEAT}."),
]
ItemLabelOpt = Annotated[
    list[str] | None,
    typer.Option("--label", "-l", help=f"The item's own label, {_REPEAT}; replaces its labels."),
]


@bank_app.command("create")
@_handles_errors
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank name.")],
    kind: Annotated[Kind, typer.Option(help="known: verified propaganda; allow: never actioned.")] = Kind.known,
    label: LabelOpt = None,
    pdq_max_distance: Annotated[int, typer.Option(help="PDQ match threshold (bits).")] = 31,
    visibility: Annotated[
        Visibility, typer.Option(help="Who sees it on the hub besides its owner and admins.")
    ] = Visibility.all,
    owner: Annotated[
        Optional[str], typer.Option(help="Hub member that owns it (default: the hub operator).")
    ] = None,
) -> None:
    """Create a bank."""
    labels = parse_label_args(label or [])
    with _hub(ctx) as hub:
        bank = hub.banks.create_as_operator(cli_actor(), name, kind.value, labels, owner=owner,
                                            visibility=visibility.value, pdq_max_distance=pdq_max_distance)
    typer.echo(f"created {bank.kind} bank {bank.name}")


@bank_app.command("list")
@_handles_errors
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per bank.")] = False,
) -> None:
    """List banks with their item counts."""
    with _hub(ctx) as hub:
        rows = [(b.record, b.counts) for b in hub.banks.operator_list()]
    if as_json:
        for bank, stats in rows:
            typer.echo(json.dumps(_bank_json(bank, stats), ensure_ascii=False))
        return
    table = Table("name", "kind", "items", "enabled", "labels")
    for bank, stats in rows:
        table.add_row(
            bank.name, bank.kind, str(stats["items"]), str(stats["enabled"]),
            json.dumps(bank.default_labels, ensure_ascii=False),
        )
    Console().print(table)


def _bank_json(bank: Any, stats: dict[str, int]) -> dict[str, Any]:
    return dump(stored_bank_out(bank, stats))


@bank_app.command("show")
@_handles_errors
def show(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Bank name.")]) -> None:
    """Show a bank's settings and counts (JSON)."""
    with _hub(ctx) as hub:
        shown = hub.banks.operator_show(name)
    typer.echo(json.dumps(_bank_json(shown.record, shown.counts), ensure_ascii=False, indent=2))


@bank_app.command("delete")
@_handles_errors
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a bank and all its items."""
    with _hub(ctx) as hub:
        bank = hub.banks.stored(name)
        if not yes and not typer.confirm(f"Delete bank {bank.name} and all its items?", err=True):
            raise InvalidInput("not deleted (confirm, or pass --yes)")
        hub.banks.delete(cli_actor(), name)
    typer.echo(f"deleted bank {name}")


@bank_app.command("add")
@_handles_errors
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank name.")],
    paths: Annotated[list[str], typer.Argument(help="Files, folders or JSONL posts ('-': paths from stdin).")],
    label: AddLabelOpt = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=0, help="Hashing processes (0: every core).")] = 0,
    no_crops: Annotated[
        bool, typer.Option("--no-crops", help="Do not also store the PDQ of standard crops of photos.")
    ] = False,
    no_previews: Annotated[
        bool, typer.Option("--no-previews", help="Store signals only: no thumbnail or text for scan reports.")
    ] = False,
) -> None:
    """Hash files, folders and JSONL posts ({"id","text"} or {"id","path"}) and add them to a bank.

    The external id is the file's name (its path relative to a folder given), or FILE.jsonl#ID for
    a post (FILE.jsonl#line-N without an id: post ids need only be unique within their file);
    re-adding skips items already there, and files whose content the bank already holds.
    A small thumbnail of each photo and video and the text of each post are kept
    in the database for scan reports (not exported, never shared) unless --no-previews.
    """
    labels = parse_label_args(label or [])
    err = _stderr()
    with _store(ctx) as store, Progress(
        SpinnerColumn(), TextColumn("adding"), BarColumn(), TextColumn("{task.completed:,} inputs"),
        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("add", total=None)
        report = add_content(
            store, name, iter_inputs(expand_paths(paths), relative_ids=True), labels=labels,
            hash_opts=HashOptions(bank_crops=not no_crops), jobs=jobs or default_jobs(), previews=not no_previews,
            vocabulary=get_vocabulary(ctx),
            on_result=lambda _res: bar.advance(task),
            on_batch=audited_batches(sql_ports(store).hub, cli_actor(), "item.add", f"bank:{name}",
                                     {"from": [str(p) for p in paths][:20]}),
        )
    for error in report.errors[:20]:
        typer.echo(f"warning: {error.external_id}: {error.message}", err=True)
    for ext, earlier in report.same_content[:20]:
        typer.echo(f"note: skipped {ext}: same content as item {earlier}", err=True)
    typer.echo(report.summary())
    if report.error_count:
        raise typer.Exit(EXIT_SOME_FAILED)


ItemArg = Annotated[str, typer.Argument(
    help="The item's external id (the file name, or FILE.jsonl#ID of a post, it was added with).",
)]


def _set_enabled(ctx: typer.Context, name: str, item: str, enabled: bool) -> None:
    word = "enabled" if enabled else "disabled"
    with _hub(ctx) as hub:
        changed = hub.curation.operator_set_enabled(cli_actor(), name, item, enabled)
    typer.echo(f"{word} {item}" if changed else f"{item} was already {word}")


@bank_app.command("disable")
@_handles_errors
def disable(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Bank name.")], item: ItemArg) -> None:
    """Stop matching one item (kept, and can be enabled again)."""
    _set_enabled(ctx, name, item, False)


@bank_app.command("enable")
@_handles_errors
def enable(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Bank name.")], item: ItemArg) -> None:
    """Match one disabled item again."""
    _set_enabled(ctx, name, item, True)


@bank_app.command("remove")
@_handles_errors
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Bank name.")], item: ItemArg) -> None:
    """Delete one item and its signals from a bank."""
    with _hub(ctx) as hub:
        hub.curation.operator_remove(cli_actor(), name, item)
    typer.echo(f"removed {item}")


@bank_app.command("label")
@_handles_errors
def label_item(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank name.")],
    item: ItemArg,
    label: ItemLabelOpt = None,
) -> None:
    """Replace one item's own labels (the bank's default labels still apply)."""
    labels = parse_label_args(label or [])
    with _hub(ctx) as hub:
        hub.curation.operator_relabel(cli_actor(), name, item, labels)
    typer.echo(f"labelled {item}")


def _read_lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes: the import decodes each on its own, so one line
    that is not UTF-8 is that line's error, not the end of the import."""
    try:
        with path.open("rb") as f:
            yield from f
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc


@bank_app.command("import")
@_handles_errors
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank name (created from the file's header if it has one).")],
    file: Annotated[Path, typer.Argument(help="File to import ('-' for stdin).")],
    fmt: Annotated[ImportFormat, typer.Option(
        "--format", "-f", help="; ".join(f"{f.name}: {f.help}" for f in formats.registered()) + ".")],
    signal_type: Annotated[
        str | None, typer.Option("--signal-type", help="pytx: type of lines that hold only a value (tx dataset -s).")
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", help="pytx: label every item key=value (repeatable; lists comma-separated)."),
    ] = None,
) -> None:
    """Import signals into a bank; re-running skips what is already there.

    A tahaluf export (jsonl) starts with its bank's header: imported under a
    name that is not taken, it creates the bank as it was (kind, default
    labels, threshold, visibility, owner and shares when those members exist);
    into an existing bank, only one of the same kind.
    """

    labels = parse_label_args(label or [])
    lines = sys.stdin.buffer if str(file) == "-" else _read_lines(file)
    err = _stderr()
    with _store(ctx) as store, Progress(
        SpinnerColumn(), TextColumn("importing {task.description}"), BarColumn(),
        TextColumn("{task.completed:,} lines"), TimeElapsedColumn(), console=err, transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(str(file), total=None)

        def progress(done: int) -> None:
            bar.update(task, completed=done)

        result = import_bank_file(
            sql_ports(store), name, lines, fmt=fmt.value, actor=cli_actor(), source=str(file),
            vocabulary=get_vocabulary(ctx), default_type=signal_type, labels=labels, progress=progress,
        )
    if result.created is not None:
        typer.echo(f"created {result.created.kind} bank {result.created.name} from the file's header", err=True)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    report = result.report
    for error in report.errors[:20]:
        typer.echo(f"warning: {error.message}", err=True)
    typer.echo(report.summary())
    if report.error_count:
        raise typer.Exit(EXIT_SOME_FAILED)


@bank_app.command("export")
@_handles_errors
def export(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Bank name.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file (default: stdout).")] = None,
    fmt: Annotated[ImportFormat, typer.Option(
        "--format", "-f", help="; ".join(f"{f.name}: {f.help}" for f in formats.registered()) + ".",
    )] = DEFAULT_EXPORT_FORMAT,
) -> None:
    """Export a bank (jsonl: import it elsewhere with `bank import NAME FILE --format jsonl`)."""

    with _store(ctx) as store:
        export = export_bank_file(sql_ports(store), name, fmt=fmt.value, exported_by=cli_actor())
        if out is None:
            for line in export.lines:
                typer.echo(line)
        else:
            try:
                with out.open("w", encoding="utf-8") as f:
                    count = sum(1 for line in export.lines if f.write(line + "\n"))
            except OSError as exc:
                raise InvalidInput(f"cannot write {out}: {exc.strerror}") from exc
            typer.echo(f"exported {count - export.header_lines} {export.unit} to {out}", err=True)
    if export.left_out():
        typer.echo(f"note: left out {export.left_out()} signals {fmt.value} has no type for (text sketches, URL "
                   "hashes, vPDQ, digests of photos and documents)", err=True)
