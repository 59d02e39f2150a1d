"""Bank files: ``POST /v1/banks/{name}/import`` and ``GET /v1/banks/{name}/export``,
in any format of :mod:`tahaluf.formats` (the same service, rules and audit as
``tahaluf bank import|export``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tahaluf.access import Capability, Principal
from tahaluf.api.deps import get_hub, require
from tahaluf.api.routes.common import make_router
from tahaluf.formats import registry as formats
from tahaluf.labels import parse_label_args
from tahaluf.services.bank_files import BankImport, hub_export, hub_import
from tahaluf.services.hub import Hub

router = make_router("banks")
_reader = require(Capability.READ)
_curator = require(Capability.CURATE)

_FORMAT_HELP = "; ".join(f"`{f.name}`: {f.help}" for f in formats.registered())
#: the formats registered when the API was built, for the spec (the registry decides per request)
_FORMAT_ENUM = {"enum": formats.names()}
_FILE_BODY = {"requestBody": {"required": True, "description": "the file", "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "text/plain": {"schema": {"type": "string"}}}}}


class LineError(BaseModel):
    line: int
    message: str


class ImportOut(BaseModel):
    imported: int
    duplicates: int
    error_count: int
    errors: list[LineError]
    #: the bank created from the file's header, if any
    created: str | None = None
    notes: list[str]


def _import_out(result: BankImport) -> ImportOut:
    report = result.report
    return ImportOut(
        imported=report.imported, duplicates=report.duplicates, error_count=report.error_count,
        errors=[LineError(line=e.line, message=e.message) for e in report.errors],
        created=result.created.name if result.created is not None else None, notes=result.notes,
    )


@router.post("/banks/{name}/import", summary="Import a bank file into a bank", response_model=ImportOut,
             openapi_extra=_FILE_BODY)
async def import_file(
    name: str,
    request: Request,
    format: Annotated[str, Query(min_length=1, max_length=40, description=_FORMAT_HELP,
                                 json_schema_extra=_FORMAT_ENUM)],
    who: Annotated[Principal, Depends(_curator)],
    hub: Annotated[Hub, Depends(get_hub)],
    signal_type: Annotated[str | None, Query(max_length=40, description="type of lines holding only a value "
                                                                       "(formats that take one)")] = None,
    label: Annotated[list[str] | None, Query(
        max_length=20, description="key=value label of every item, repeatable (formats that take labels)",
    )] = None,
) -> ImportOut:
    """The request body is the file. A tahaluf export (jsonl) whose bank header names no bank
    of yours creates it (owned by you); otherwise the bank must exist and be yours to change.
    Each bad line is that line's error; the rest is imported (re-running skips what is there)."""
    labels = parse_label_args(label or [])
    body = await request.body()
    result = await run_in_threadpool(hub_import, hub, who, name, body.splitlines(keepends=True), fmt=format,
                                     source=f"api:{name}.{format}", default_type=signal_type, labels=labels)
    return _import_out(result)


def _export_text(hub: Hub, who: Principal, name: str, fmt: str) -> tuple[str, int]:
    export = hub_export(hub, who, name, fmt=fmt)
    text = "".join(line + "\n" for line in export.lines)
    return text, export.left_out()


@router.get("/banks/{name}/export", summary="Export a bank as a file", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}, "text/plain": {}},
                             "description": "the file; header X-Tahaluf-Left-Out: signals the format has no type for"}})
async def export_file(
    name: str,
    who: Annotated[Principal, Depends(_reader)],
    hub: Annotated[Hub, Depends(get_hub)],
    format: Annotated[str, Query(min_length=1, max_length=40, description=_FORMAT_HELP,
                                 json_schema_extra=_FORMAT_ENUM)] = "jsonl",
) -> Response:
    """The whole bank in one response (jsonl: lossless, with its header)."""
    form = formats.get(format)
    text, left_out = await run_in_threadpool(_export_text, hub, who, name, form.name)
    return Response(text, media_type=form.media_type, headers={"X-Tahaluf-Left-Out": str(left_out)})
