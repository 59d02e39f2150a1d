"""The ``tahaluf`` command line (Typer + Rich). Thin: every command calls a service."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated, Optional

import typer

from tahaluf import __version__
from tahaluf.cli.output import fail
from tahaluf.errors import TahalufError

app = typer.Typer(
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
) -> None:
    ctx.obj = AppContext(db_url=db, labels_path=labels)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _register_subcommands() -> None:
    from tahaluf.cli import demo_cmd, hash_cmd, hub_cmd, scan_cmd

    hash_cmd.register(app)
    scan_cmd.register(app)
    demo_cmd.register(app)
    hub_cmd.register(app)
    try:
        from tahaluf.cli.bank import bank_app
    except ImportError:  # the bank commands land with the matching engine
        return
    from tahaluf.cli import accounts_cmd

    accounts_cmd.register(bank_app)
    app.add_typer(bank_app, name="bank", help="Create, fill, import and export banks.")


_register_subcommands()


def _numba_cache_where_writable() -> None:
    """Compiled index kernels are cached next to the code; when tahaluf is
    installed read-only, cache them in the user cache folder instead (numba
    reads NUMBA_CACHE_DIR when it is first imported, on the first lookup)."""
    import os
    from pathlib import Path

    index_dir = Path(__file__).resolve().parents[1] / "index"
    if "NUMBA_CACHE_DIR" not in os.environ and not os.access(index_dir, os.W_OK):
        import platformdirs

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
