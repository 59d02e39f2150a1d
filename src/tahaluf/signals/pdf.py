"""Text extraction from PDFs, for the ``text`` signal of a PDF.

:func:`extract_pdf_text` returns the text layer of the first ``max_pages``
pages (pypdf), pages separated by a blank line, cut at ``max_chars``. A PDF
without a text layer (a scan) gives ``""``: the caller decides what to do.

Errors, all :class:`~tahaluf.errors.InvalidInput` subclasses or ``Timeout``:

* zero bytes, corrupt or truncated -> :class:`~tahaluf.errors.DecodeError`;
* encrypted with a password (the empty password is tried first) ->
  :class:`~tahaluf.errors.InvalidInput`;
* AES encryption without the ``cryptography`` package ->
  :class:`~tahaluf.errors.UnsupportedContent`;
* ``timeout_s`` exceeded (checked between pages) -> :class:`~tahaluf.errors.Timeout`.

pypdf reports the problems it repairs through :mod:`logging` (``pypdf.*``
loggers). While :func:`extract_pdf_text` runs, those records are dropped by a
filter keyed on a context variable, so nothing reaches stderr and other
threads' pypdf logging is untouched. pypdf uses :mod:`warnings` only for
deprecated API, which this module does not call.

Right-to-left text: pypdf assumes that glyphs are drawn in visual order (what
PDF producers write for Arabic) and reverses runs of right-to-left characters,
so such PDFs come out in logical order. A PDF whose content stream holds
Arabic in logical order comes out reversed; this cannot be told apart from the
file alone. Producers that map glyphs to Arabic presentation forms
(U+FB50-U+FEFF) give those code points: the text normaliser folds them (NFKC).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import logging
import pkgutil
import struct
import time
import zlib
from collections.abc import Iterator

from tahaluf.errors import DecodeError, InvalidInput, Timeout, UnsupportedContent

__all__ = ["DEFAULT_MAX_CHARS", "DEFAULT_MAX_PAGES", "extract_pdf_text"]

#: Pages read by default; later pages are ignored.
DEFAULT_MAX_PAGES = 2_000
#: Characters returned by default; the text is cut there.
DEFAULT_MAX_CHARS = 2_000_000

_PAGE_SEPARATOR = "\n\n"
# Exceptions that pypdf lets escape from malformed files besides its own.
_CORRUPT_ERRORS = (
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    AssertionError,
    struct.error,
    zlib.error,
    RecursionError,
)

_capture: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "tahaluf_pdf_log_capture", default=None
)


class _CaptureFilter(logging.Filter):
    """Drop (and remember) pypdf log records while a capture is active."""

    def filter(self, record: logging.LogRecord) -> bool:
        sink = _capture.get()
        if sink is None:
            return True
        sink.append(record.getMessage())
        return False


_FILTER = _CaptureFilter("tahaluf.pdf")


def extract_pdf_text(
    data: bytes,
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_chars: int = DEFAULT_MAX_CHARS,
    timeout_s: float | None = None,
) -> str:
    """Return the text of the first ``max_pages`` pages, at most ``max_chars`` long."""
    if max_pages < 1 or max_chars < 1:
        raise ValueError("max_pages and max_chars must be positive")
    if not data:
        raise DecodeError("not a PDF: the file is empty (0 bytes)")
    if bytes(data[:1024]).find(b"%PDF-") < 0:
        raise DecodeError("not a PDF: no '%PDF-' header in the first 1024 bytes")
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with _quiet_pypdf() as log:
        try:
            return _extract(bytes(data), max_pages, max_chars, deadline, timeout_s)
        except _pypdf_errors() as exc:
            raise _translate(exc, log) from exc
        except _CORRUPT_ERRORS as exc:
            raise DecodeError(f"corrupt PDF: {_first_line(exc, log)}") from exc


def _extract(
    data: bytes, max_pages: int, max_chars: int, deadline: float | None, timeout_s: float | None
) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        raise InvalidInput("PDF is encrypted with a password; give the decrypted file")
    parts: list[str] = []
    used = 0
    for number, page in enumerate(reader.pages, start=1):
        if number > max_pages or used >= max_chars:
            break
        if deadline is not None and time.monotonic() >= deadline:
            raise Timeout(f"PDF text extraction took more than {timeout_s:g} s (page {number})")
        text = (page.extract_text() or "").strip()
        if text:
            parts.append(text)
            used += len(text) + len(_PAGE_SEPARATOR)
    return _PAGE_SEPARATOR.join(parts)[:max_chars]


def _pypdf_errors() -> tuple[type[Exception], ...]:
    from pypdf.errors import DependencyError, PyPdfError

    return (PyPdfError, DependencyError)


def _translate(exc: Exception, log: list[str]) -> InvalidInput:
    from pypdf.errors import DependencyError, EmptyFileError, FileNotDecryptedError

    if isinstance(exc, DependencyError):
        return UnsupportedContent(
            f"cannot read this PDF: {_first_line(exc, log)} (AES-encrypted PDFs need "
            "the 'cryptography' package)"
        )
    if isinstance(exc, FileNotDecryptedError):
        return InvalidInput("PDF is encrypted with a password; give the decrypted file")
    if isinstance(exc, EmptyFileError):
        return DecodeError("not a PDF: the file is empty")
    return DecodeError(f"corrupt or truncated PDF: {_first_line(exc, log)}")


def _first_line(exc: BaseException, log: list[str]) -> str:
    """One line describing the failure, with pypdf's first repair note if any."""
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if log and log[0] != message:
        message = f"{message} ({log[0].strip().splitlines()[0]})"
    return message[:300]


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[list[str]]:
    _install_filter()
    sink: list[str] = []
    token = _capture.set(sink)
    try:
        yield sink
    finally:
        _capture.reset(token)


def _install_filter() -> None:
    """Attach the capture filter to every ``pypdf`` module logger (idempotent).

    pypdf logs through ``logging.getLogger(__name__)`` of the module that
    repairs something, and imports some of those modules lazily, so the
    loggers of all its modules (found without importing them) get the filter.
    """
    for name in _pypdf_module_names():
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


@functools.cache
def _pypdf_module_names() -> tuple[str, ...]:
    import pypdf

    found = pkgutil.walk_packages(pypdf.__path__, "pypdf.", onerror=lambda _name: None)
    return ("pypdf", *sorted(info.name for info in found))
