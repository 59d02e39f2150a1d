"""tahaluf: fingerprint, match, review and share verified propaganda signals."""

from tahaluf.errors import (
    Conflict,
    ContentTooLarge,
    DecodeError,
    ExchangeError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StorageError,
    TahalufError,
    Timeout,
    UnsupportedContent,
)
from tahaluf.signals.base import Signal

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Signal",
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
