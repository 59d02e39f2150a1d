"""What a bank file format is: a name, a reader, a writer and a sniffer.

A format is one module of :mod:`tahaluf.formats` holding a :class:`BankFormat`
as ``FORMAT``; :mod:`tahaluf.formats.registry` finds it, and the CLI's
``--format`` choices, the API and :mod:`tahaluf.services.bank_files` look it up
by name. Readers validate line by line (a bad line is that line's error, the
rest is stored) and commit one chunk at a time, so an interrupted import keeps
what it committed and can be re-run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tahaluf.banks import DEFAULT_CHUNK, BatchHook, ImportReport, ItemError, Progress
from tahaluf.labels import LabelVocabulary
from tahaluf.ports.banks import BankRecord, Repository

__all__ = ["BankFormat", "Export", "ReadOptions", "numbered_lines"]


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read a file: who and where from (provenance), the label vocabulary,
    and the options some formats take (see :attr:`BankFormat.takes_labels`)."""

    added_by: str | None = None
    source: str | None = None
    vocabulary: LabelVocabulary | None = None
    #: type of lines that hold only a value (formats with ``takes_signal_type``)
    default_type: str | None = None
    #: labels given to every item (formats with ``takes_labels``)
    labels: Mapping[str, Any] | None = None
    chunk_size: int = DEFAULT_CHUNK
    progress: Progress | None = None
    on_batch: BatchHook | None = None


def _nothing_left_out() -> int:
    return 0


@dataclass(slots=True)
class Export:
    """An export: its lines (no newline), what a line after the header holds
    (``items`` or ``signals``), how many lines are header, and a function giving
    the number of signals left out so far (those the format has no type for)."""

    lines: Iterator[str]
    unit: str = "items"
    header_lines: int = 0
    left_out: Callable[[], int] = field(default=_nothing_left_out)


class BankFormat(ABC):
    """A bank file format. Subclasses set the class attributes and implement
    :meth:`read` and :meth:`write`."""

    #: the name given to ``--format`` and the API's ``format``
    name: ClassVar[str]
    #: one line for ``--help`` and the API docs
    help: ClassVar[str]
    #: True if :attr:`ReadOptions.labels` applies (otherwise the file carries its labels)
    takes_labels: ClassVar[bool] = False
    #: True if :attr:`ReadOptions.default_type` applies
    takes_signal_type: ClassVar[bool] = False
    #: True if a file may start with a bank header (see :meth:`header`)
    has_header: ClassVar[bool] = False
    #: media type of an export (the API's Content-Type)
    media_type: ClassVar[str] = "text/plain"

    def sniff(self, first_line: str) -> bool:
        """True if a file starting with ``first_line`` looks like this format."""
        return False

    def header(self, first_line: str | bytes) -> Any:
        """The bank header (:class:`tahaluf.formats.jsonl.BankHeader`) a file of this
        format starts with, None if it has none: a file with a header can create
        its bank when there is none."""
        return None

    @abstractmethod
    def read(self, repo: Repository, bank: str | BankRecord, lines: Iterable[str | bytes],
             options: ReadOptions) -> ImportReport:
        """Import ``lines`` into ``bank``."""

    @abstractmethod
    def write(self, repo: Repository, bank: str | BankRecord, *, shared_with: Sequence[str] = (),
              exported_by: str | None = None) -> Export:
        """Export ``bank`` (``shared_with``: the members it is shared with)."""


def numbered_lines(lines: Iterable[str | bytes]) -> Iterator[tuple[int, str | ItemError]]:
    """Number the lines (from 1) and decode those given as bytes: a line that is not
    UTF-8 becomes that line's error instead of ending the whole import."""
    for number, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, ItemError(number, None, f"line {number}: not UTF-8 text (byte {exc.start + 1})")
                continue
        yield number, line
