"""Every error leaves the API as ``{"error": {"code", "message"}}`` with a 4xx/5xx status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from tahaluf.errors import StorageError, TahalufError

__all__ = ["ErrorBody", "ERROR_RESPONSES", "error_response", "install_error_handlers"]

log = logging.getLogger("tahaluf.api")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Bad request (malformed JSON, invalid value, wrong hash length)",
    401: "Missing or unknown API key",
    403: "The key's roles do not allow this",
    404: "Not found (or not visible to this member)",
    409: "Conflict (e.g. the name is taken)",
    413: "Request or content too large",
    415: "Unsupported content type",
    422: "Request fields invalid (unknown field, wrong type, out of range)",
    429: "Rate limit exceeded for this key",
    503: "Not ready (indexes loading) or storage unavailable",
}
#: declared on every /v1 route so that clients (and schemathesis) know the error shape
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in _DESCRIPTIONS.items()
}

_HTTP_CODES = {
    400: "invalid_input", 401: "unauthorized", 403: "permission_denied", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "content_too_large", 415: "unsupported_content",
    422: "invalid_request", 429: "rate_limited", 503: "unavailable",
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "invalid_input", "request body is not valid JSON"
    parts = []
    for e in errors[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{where}: {msg}")
    return 422, "invalid_request", "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TahalufError)
    async def _tahaluf(req: Request, exc: TahalufError) -> JSONResponse:
        if isinstance(exc, StorageError) and exc.__cause__ is not None:
            # translated from the database driver: the message names the database (host,
            # user, path), which is for the operator's log, not for members
            log.warning("storage error on %s %s: %s", req.method, req.url.path, exc.message)
            return error_response(exc.http_status, exc.code, "storage unavailable; retry shortly "
                                  "(the server log has the details)")
        return error_response(exc.http_status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message = _validation_message(exc)
        return error_response(status, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", req.method, req.url.path)
        return error_response(500, "internal_error", "internal error; the server log has the details")
