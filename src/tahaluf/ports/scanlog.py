"""The scan-log port: results of scan jobs (resumable by input digest) and item previews."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

__all__ = ["ItemPreviewRecord", "ScanJobRecord", "ScanLog", "ScanRecord"]


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One input scanned by a job: its results (one per post of a JSONL file).

    ``results`` is None for inputs scanned before results were kept.
    """

    job: str
    sha256: str
    scanned_at: datetime
    results: list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class ScanJobRecord:
    name: str
    inputs: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True, slots=True)
class ItemPreviewRecord:
    """What the HTML report may show of a bank item: a JPEG thumbnail and/or its text.

    Written only by tahaluf itself from content it hashed, never from imported data.
    """

    item_id: int
    image: bytes | None = None
    text: str | None = None


@runtime_checkable
class ScanLog(Protocol):
    """Scan jobs (``scan --job NAME``) and what a report may show of bank items."""

    def record_scan(self, job: str, sha256: str, results: list[dict[str, Any]]) -> bool: ...

    def scanned(self, job: str, sha256s: Iterable[str]) -> set[str]: ...

    def iter_scan_results(self, job: str) -> Iterator[ScanRecord]: ...

    def list_scan_jobs(self) -> list[ScanJobRecord]: ...

    def clear_scan_job(self, job: str) -> int: ...

    def set_item_previews(self, previews: Sequence[ItemPreviewRecord]) -> None: ...

    def get_item_previews(self, item_ids: Iterable[int]) -> dict[int, ItemPreviewRecord]: ...
