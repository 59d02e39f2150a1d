"""``tahaluf settings show|set``: the hub policies (``GET/PUT /v1/settings``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tahaluf.cli.hub_cmd import _hub, cli_actor
from tahaluf.cli.output import print_json_line
from tahaluf.services.settings import SettingsView, parse_setting
from tahaluf.wire import dump
from tahaluf.wire.settings import settings_out

__all__ = ["settings_app", "register"]

settings_app = typer.Typer(help="Show and change the hub's policies (as GET/PUT /v1/settings).",
                           no_args_is_help=True)


def _text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _present(view: SettingsView, json_out: bool) -> None:
    if json_out:
        print_json_line(dump(settings_out(view)))
        return
    table = Table("setting", "value", "meaning")
    for name, value in view.values.items():
        table.add_row(name, _text(value), view.help[name])
    Console().print(table)


@settings_app.command("show")
def settings_show(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object: settings and their help.")] = False,
) -> None:
    """Show the hub policies now in force."""
    with _hub(ctx) as hub:
        view = hub.settings.show(cli_actor())
    _present(view, json_out)


@settings_app.command("set")
def settings_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Setting name (see `tahaluf settings show`).")],
    value: Annotated[str, typer.Argument(help="New value: a number, true/false, or a comma-separated list.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the settings as one JSON object.")] = False,
) -> None:
    """Change one hub policy (audited, as PUT /v1/settings)."""
    with _hub(ctx) as hub:
        view = hub.settings.update(cli_actor(), {name: parse_setting(name, value)})
    if json_out:
        _present(view, json_out)
    else:
        typer.echo(f"{name} = {view.values[name]}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(settings_app, name="settings", help="Show and change the hub's policies.")
