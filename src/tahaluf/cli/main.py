"""The ``tahaluf`` command line (Typer + Rich). Thin: every command calls a service."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import platformdirs
import typer
from typer.core import TyperGroup

from tahaluf import __version__
from tahaluf.cli import (
    accounts_cmd,
    demo_cmd,
    evidence_cmd,
    feedback_cmd,
    hash_cmd,
    hub_cmd,
    review_cmd,
    scan_cmd,
    settings_cmd,
    webhooks_cmd,
)
from tahaluf.cli.bank import bank_app
from tahaluf.cli.output import fail
from tahaluf.errors import StorageError, TahalufError
from tahaluf.storage.engine import resolve_url, sqlite_path

#: the root command's options, which may also come after the sub-command
#: (``tahaluf bank list --db URL`` as well as ``tahaluf --db URL bank list``)
GLOBAL_VALUE_OPTIONS = ("--db", "--labels")
GLOBAL_FLAGS = ("--create",)


def _globals_first(args: list[str]) -> list[str]:
    """Move global options given after the sub-command in front of it (up to a ``--``)."""
    i = 0
    while i < len(args):  # skip the global options already in front
        tok = args[i]
        if tok in GLOBAL_VALUE_OPTIONS:
            i += 2
        elif tok in GLOBAL_FLAGS or tok.startswith(tuple(f"{o}=" for o in GLOBAL_VALUE_OPTIONS)):
            i += 1
        else:
            break
    front, rest, moved = args[:i], [], []
    j = i
    while j < len(args):
        tok = args[j]
        if tok == "--":
            rest.extend(args[j:])
            break
        if tok in GLOBAL_VALUE_OPTIONS and j + 1 < len(args):
            moved += args[j : j + 2]
            j += 2
            continue
        if tok in GLOBAL_FLAGS or tok.startswith(tuple(f"{o}=" for o in GLOBAL_VALUE_OPTIONS)):
            moved.append(tok)
        else:
            rest.append(tok)
        j += 1
    return front + moved + rest


class _RootGroup(TyperGroup):
    """The root group: the global options are accepted after the sub-command too."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _globals_first(list(args)))


app = typer.Typer(
    cls=_RootGroup,
    name="tahaluf",
    help="Fingerprint content and match it against banks of verified propaganda signals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class AppContext:
    """What the root command hands to sub-commands (``ctx.obj``)."""

    db_url: str | None
    labels_path: str | None = None


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        Optional[str],
        typer.Option(
            "--db",
            envvar="TAHALUF_DB",
            help="SQLAlchemy database URL (default: SQLite in the user data folder).",
        ),
    ] = None,
    labels: Annotated[
        Optional[str],
        typer.Option(
            "--labels",
            envvar="TAHALUF_LABELS",
            help="Label vocabulary TOML file (default: the shipped labels_default.toml).",
        ),
    ] = None,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create the folder of the --db SQLite file when it does not exist "
            "(otherwise refused: a mistyped path must not become a new, empty database).",
        ),
    ] = False,
) -> None:
    ctx.obj = AppContext(db_url=db, labels_path=labels)
    if create:
        _create_db_folder(ctx.obj)


def _create_db_folder(obj: AppContext) -> None:
    try:
        path = sqlite_path(resolve_url(obj.db_url))
    except TahalufError as exc:
        fail(exc)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(StorageError(f"cannot create the folder of {path}: {exc.strerror}"))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _register_subcommands() -> None:
    hash_cmd.register(app)
    scan_cmd.register(app)
    demo_cmd.register(app)
    hub_cmd.register(app)
    settings_cmd.register(app)
    accounts_cmd.register(bank_app)
    app.add_typer(bank_app, name="bank", help="Create, fill, import and export banks.")
    review_cmd.register(app)
    evidence_cmd.register(app)
    feedback_cmd.register(app)
    webhooks_cmd.register(hub_cmd.webhooks_app)


_register_subcommands()


def _numba_cache_where_writable() -> None:
    """Compiled index kernels are cached next to the code; when tahaluf is
    installed read-only, cache them in the user cache folder instead (numba
    reads NUMBA_CACHE_DIR when it is first imported, on the first lookup)."""
    index_dir = Path(__file__).resolve().parents[1] / "index"
    if "NUMBA_CACHE_DIR" not in os.environ and not os.access(index_dir, os.W_OK):
        os.environ["NUMBA_CACHE_DIR"] = str(Path(platformdirs.user_cache_dir("tahaluf")) / "numba")


def run() -> None:
    """Console-script entry point: one-line errors, never a traceback for bad input."""
    _numba_cache_where_writable()
    try:
        app(standalone_mode=True)
    except TahalufError as exc:  # raised outside a command body
        fail(exc)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
