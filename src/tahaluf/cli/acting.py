"""What the commands that act for a member share: ``--as MEMBER``, ``--json`` and the hub they act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import BaseModel

from tahaluf.access import Principal
from tahaluf.cli.hub_cmd import _hub
from tahaluf.cli.output import print_json_line
from tahaluf.services.acting import member_principal
from tahaluf.services.hub import Hub

__all__ = ["AfterOpt", "AsOpt", "JsonOpt", "LimitOpt", "acting", "print_model"]

AsOpt = Annotated[str, typer.Option(
    "--as", envvar="TAHALUF_AS", help="The member (organisation) to act as, with its roles (or TAHALUF_AS).",
)]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line (the API's JSON).")]
AfterOpt = Annotated[int, typer.Option("--after", min=0, help="Id to start after (the previous page's next_after).")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="Page size (at most the hub's max_page).")]


@contextmanager
def acting(ctx: typer.Context, member: str) -> Iterator[tuple[Hub, Principal]]:
    """The hub's database and the member's principal; errors end the command in one line."""
    with _hub(ctx) as hub:
        yield hub, member_principal(hub, member)


def print_model(model: BaseModel) -> None:
    """One wire object as a JSON line, exactly as the API returns it."""
    print_json_line(model.model_dump(mode="json"))
