"""Errors raised by tahaluf.

Every error that tahaluf raises on purpose derives from :class:`TahalufError`
and carries a stable machine-readable ``code``. Interfaces render them: the
CLI as one line on stderr and an exit status, the HTTP API as
``{"error": {"code", "message"}}`` with the matching HTTP status.

Foreign exceptions (Pillow, PyAV, pypdf, SQLAlchemy, ...) are translated at the
I/O boundary with ``raise ... from exc``; they never leak to a user.

    TahalufError                 code="error"
    ├── InvalidInput             code="invalid_input"       (bad content or request)
    │   ├── UnsupportedContent   code="unsupported_content" (type we cannot hash)
    │   ├── ContentTooLarge      code="content_too_large"   (pixel/byte/char limits)
    │   └── DecodeError          code="decode_error"        (corrupt or truncated media)
    ├── Timeout                  code="timeout"             (bounded work ran out of time)
    ├── NotFound                 code="not_found"
    ├── Conflict                 code="conflict"
    ├── PermissionDenied         code="permission_denied"
    ├── ExchangeError            code="exchange_error"
    └── StorageError             code="storage_error"
"""

from __future__ import annotations

__all__ = [
    "TahalufError",
    "InvalidInput",
    "UnsupportedContent",
    "ContentTooLarge",
    "DecodeError",
    "Timeout",
    "NotFound",
    "Conflict",
    "PermissionDenied",
    "ExchangeError",
    "StorageError",
]


class TahalufError(Exception):
    """Root of every error tahaluf raises on purpose."""

    code: str = "error"
    #: process exit status used by the CLI when this error ends a command
    exit_code: int = 1
    #: HTTP status used by the API
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TahalufError):
    code = "invalid_input"
    exit_code = 2
    http_status = 400


class UnsupportedContent(InvalidInput):
    code = "unsupported_content"
    http_status = 415


class ContentTooLarge(InvalidInput):
    code = "content_too_large"
    http_status = 413


class DecodeError(InvalidInput):
    code = "decode_error"
    http_status = 422


class Timeout(TahalufError):
    code = "timeout"
    exit_code = 3
    http_status = 504


class NotFound(TahalufError):
    code = "not_found"
    exit_code = 4
    http_status = 404


class Conflict(TahalufError):
    code = "conflict"
    exit_code = 5
    http_status = 409


class PermissionDenied(TahalufError):
    code = "permission_denied"
    exit_code = 6
    http_status = 403


class ExchangeError(TahalufError):
    code = "exchange_error"
    exit_code = 7
    http_status = 502


class StorageError(TahalufError):
    code = "storage_error"
    exit_code = 8
    http_status = 503
