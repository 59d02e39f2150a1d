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
* more than ``max_operators`` content operators to read ->
  :class:`~tahaluf.errors.ContentTooLarge`;
* ``timeout_s`` exceeded -> :class:`~tahaluf.errors.Timeout`.

Bounds: a small PDF can make a reader work for hours (2,000 pages that all
draw one compressed stream of 600,000 operators: pypdf parses the stream anew
for every page, seconds each). Work is bounded by pages (``max_pages``),
output (``max_chars``) and content operators read in all (``max_operators``):
each page's streams, and the forms it draws, are counted on their raw bytes
before pypdf parses them (a parse cannot be interrupted, so none may start
that would pass the budget), then operators are counted exactly as they are
interpreted. Time is bounded by ``timeout_s``, checked before each page and
every 1,024 operators; a page's parse runs to its end, which the operator
budget keeps short. Pages whose content has no text or form operator are
skipped unparsed.

pypdf reports the problems it repairs through :mod:`logging` (``pypdf.*``
loggers). While :func:`extract_pdf_text` runs, those records are dropped by a
filter keyed on a context variable, so nothing reaches stderr and other
threads' pypdf logging is untouched. pypdf uses :mod:`warnings` only for
deprecated API, which this module does not call.

Right-to-left text: pypdf assumes that glyphs are drawn in visual order (what
PDF producers write for Arabic) and reverses runs of right-to-left characters,
so each run comes out in logical order; producers draw a right-to-left line as
several runs, left to right, and those are put back in reading order by their
positions (:mod:`tahaluf.signals.pdf_order`; measured on Chromium and
LibreOffice PDFs in ``docs/text-signal.md``). A PDF whose content stream holds
Arabic in logical order comes out reversed; this cannot be told apart from the
file alone. Arabic presentation forms (U+FB50-U+FEFF), which some producers
map glyphs to, are folded to the letters.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import logging
import pkgutil
import re
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tahaluf.errors import ContentTooLarge, DecodeError, InvalidInput, Timeout, UnsupportedContent
from tahaluf.signals.pdf_order import (
    TextRun,
    fold_presentation_forms,
    has_rtl,
    logical_page_text,
    run_from_visitor,
)

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_OPERATORS",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_TIMEOUT_S",
    "extract_pdf_text",
]

#: Pages read by default; later pages are ignored.
DEFAULT_MAX_PAGES = 2_000
#: Characters returned by default; the text is cut there.
DEFAULT_MAX_CHARS = 2_000_000
#: Content operators read by default, all pages and forms together (about
#: 1,000 a page of dense text; pypdf reads 100,000-150,000 a second).
DEFAULT_MAX_OPERATORS = 2_000_000
#: Seconds one PDF may take by default.
DEFAULT_TIMEOUT_S = 120.0
#: The clock is read every this many operators.
_CLOCK_EVERY = 1024

_LITERAL_STRING = re.compile(rb"\((?:[^()\\]|\\.)*\)", re.DOTALL)
_HEX_STRING = re.compile(rb"<[0-9A-Fa-f\s]*>")
# an operator is a keyword after a delimiter (a name's "/" is not one): bytes are
# mapped to " " (delimiter), "A" (a keyword's first character) or "0", then " A" counted
_OPERATOR_CLASSES = bytes(
    32 if b in b" \t\r\n\f\x00[]()<>{}" else 65 if chr(b).isalpha() and b < 128 or b in b"'\"" else 48
    for b in range(256)
)
# operators that show text or draw a form (which may show text)
_TEXT_OR_FORM_OPERATOR = re.compile(rb"(?<![^\s\]\)>])(?:Tj|TJ|'|\"|Do)(?![^\s\[\]()<>{}/%])")

_PAGE_SEPARATOR = "\n\n"
# Exceptions that pypdf lets escape from malformed files besides its own.
_CORRUPT_ERRORS: tuple[type[Exception], ...] = (
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
    max_operators: int = DEFAULT_MAX_OPERATORS,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> str:
    """Return the text of the first ``max_pages`` pages, at most ``max_chars`` long.

    Work is bounded by ``max_operators`` content operators read in all (more:
    :class:`ContentTooLarge`) and time by ``timeout_s`` (more: :class:`Timeout`).
    """
    if max_pages < 1 or max_chars < 1 or max_operators < 1:
        raise ValueError("max_pages, max_chars and max_operators must be positive")
    if timeout_s is not None and not timeout_s >= 0:
        raise ValueError("timeout_s must not be negative")
    if not data:
        raise DecodeError("not a PDF: the file is empty (0 bytes)")
    if bytes(data[:1024]).find(b"%PDF-") < 0:
        raise DecodeError("not a PDF: no '%PDF-' header in the first 1024 bytes")
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    limits = _Limits(max_pages, max_chars, max_operators, timeout_s, deadline)
    with _quiet_pypdf() as log:
        try:
            return _extract(bytes(data), limits)
        except _pypdf_errors() as exc:
            raise _translate(exc, log) from exc
        except _CORRUPT_ERRORS as exc:
            raise DecodeError(f"corrupt PDF: {_first_line(exc, log)}") from exc


def _extract(
    data: bytes, limits: _Limits
) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        raise InvalidInput("PDF is encrypted with a password; give the decrypted file")
    budget = _Budget(limits)
    parts: list[str] = []
    used = 0
    for number, page in enumerate(reader.pages, start=1):
        if number > limits.max_pages or used >= limits.max_chars:
            break
        budget.page = number
        budget.check_time()
        estimate = budget.estimate(page)
        if estimate is None:
            continue  # nothing on this page can show text
        budget.check_room(estimate)
        text = _page_text(page, budget)
        if text:
            parts.append(text)
            used += len(text) + len(_PAGE_SEPARATOR)
    return _PAGE_SEPARATOR.join(parts)[: limits.max_chars]


def _page_text(page: Any, budget: _Budget) -> str:
    """The page's text in reading order (right-to-left lines repaired, see pdf_order)."""
    runs: list[TextRun] = []

    def collect(text: str, cm: Any, tm: Any, _font: Any, font_size: Any) -> None:
        if text:
            runs.append(run_from_visitor(text, cm, tm, font_size or 0.0))

    text = page.extract_text(visitor_operand_before=budget.visit, visitor_text=collect) or ""
    if has_rtl(text):
        ordered = logical_page_text(runs)
        # the runs pypdf reported hold all its text (else keep its own order)
        if _letters(ordered) >= _letters(text):
            text = ordered
    return fold_presentation_forms(text).strip()


def _letters(text: str) -> int:
    return sum(not ch.isspace() for ch in text)


@dataclass(frozen=True, slots=True)
class _Limits:
    max_pages: int
    max_chars: int
    max_operators: int
    timeout_s: float | None
    deadline: float | None


class _Budget:
    """Work and time spent on one PDF; raises once either is used up.

    Operators are counted twice over: estimated on the raw bytes of a page's
    content streams (and the forms it draws) before pypdf parses them, since
    parsing cannot be interrupted, and counted exactly as pypdf interprets
    them (forms drawn many times included), with the clock read every
    :data:`_CLOCK_EVERY` operators.
    """

    def __init__(self, limits: _Limits) -> None:
        self.limits = limits
        self.page = 0
        self.operators = 0
        self._estimates: dict[object, int] = {}

    def check_time(self) -> None:
        limits = self.limits
        if limits.deadline is not None and time.monotonic() >= limits.deadline:
            raise Timeout(
                f"PDF text extraction took more than {limits.timeout_s:g} s (stopped at page {self.page})"
            )

    def check_room(self, more: int) -> None:
        if self.operators + more > self.limits.max_operators:
            raise ContentTooLarge(
                f"PDF text extraction stopped at page {self.page}: more than "
                f"{self.limits.max_operators:,} content operators to read (the limit)"
            )

    def visit(self, _operator: object, _operands: object, _cm: object, _tm: object) -> None:
        self.operators += 1
        if self.operators > self.limits.max_operators:
            self.check_room(0)
        if self.operators % _CLOCK_EVERY == 0:
            self.check_time()

    def estimate(self, page: Any) -> int | None:
        """Operators in the page's content and forms; None when it cannot show text."""
        streams: list[tuple[object, bytes]] = [("page", _content_bytes(page))]
        streams += [(key, data) for key, data in _form_bytes(page)]
        if not any(data and _TEXT_OR_FORM_OPERATOR.search(data) for _key, data in streams):
            return None
        total = 0
        for key, data in streams:
            cached = self._estimates.get(key) if key != "page" else None
            if cached is None:
                cached = _count_operators(data)
                if key != "page":
                    self._estimates[key] = cached
            total += cached
        return total


def _content_bytes(page: Any) -> bytes:
    contents = page.get_contents()
    return b"" if contents is None else bytes(contents.get_data())


def _form_bytes(page: Any) -> Iterator[tuple[object, bytes]]:
    """(identity, decoded bytes) of the form XObjects a page's resources name."""
    from pypdf.generic import IndirectObject

    resources: Any = page.get("/Resources")  # pypdf's PDF objects: dictionaries, arrays, references...
    resources = resources.get_object() if resources is not None else None
    xobjects: Any = resources.get("/XObject") if hasattr(resources, "get") else None
    xobjects = xobjects.get_object() if xobjects is not None else None
    if not hasattr(xobjects, "items"):
        return
    for _name, ref in xobjects.items():
        obj = ref.get_object()
        if getattr(obj, "get", None) is None or obj.get("/Subtype") != "/Form":
            continue
        key = (ref.idnum, ref.generation) if isinstance(ref, IndirectObject) else id(obj)
        try:
            data = bytes(obj.get_data())
        except (*_pypdf_errors(), *_CORRUPT_ERRORS):
            continue  # pypdf skips a form it cannot decode, with a warning
        yield key, data


def _count_operators(data: bytes) -> int:
    """Operator keywords in a content stream, strings left out (an upper bound:
    binary inline image data can only add to it)."""
    for _ in range(2):  # innermost strings first, then those that held them
        data = _LITERAL_STRING.sub(b" ", data)
    data = b" " + _HEX_STRING.sub(b" ", data).translate(_OPERATOR_CLASSES)
    return data.count(b" A")


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
