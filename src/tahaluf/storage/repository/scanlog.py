"""The scan-job log and bank item previews, as part of :class:`~tahaluf.storage.Store`.

A part of the SQLAlchemy store: it uses the ``_read``, ``_write`` and
``_insert`` of :class:`~.sql_base.SqlBase` (errors translated there).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select

from tahaluf.storage.models import ItemPreview, ScanJobResult, table
from tahaluf.storage.repository.base import ItemPreviewRecord, ScanJobRecord, ScanRecord
from tahaluf.storage.repository.sql_base import SqlBase

__all__ = ["ScanLogMixin"]

_results = table(ScanJobResult)
_previews = table(ItemPreview)
_IN_CHUNK = 900
_PAGE = 500


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ScanLogMixin(SqlBase):
    """Scan jobs (``scan --job NAME``) and item previews, for :class:`Store`."""

    # -- scan jobs --------------------------------------------------------
    def record_scan(self, job: str, sha256: str, results: list[dict[str, Any]]) -> bool:
        """Store the results of one input in ``job``; False (nothing changed) if already there."""
        with self._write() as conn:
            stmt = self._insert(_results).values(job=job, sha256=sha256, scanned_at=datetime.now(UTC),
                                                 results=results)
            stmt = stmt.on_conflict_do_nothing(index_elements=["job", "sha256"]).returning(_results.c.id)
            return conn.execute(stmt).first() is not None

    def scanned(self, job: str, sha256s: Iterable[str]) -> set[str]:
        """The digests among ``sha256s`` that ``job`` has already scanned."""
        keys = list(dict.fromkeys(sha256s))
        out: set[str] = set()
        with self._read() as conn:
            for start in range(0, len(keys), _IN_CHUNK):
                part = keys[start : start + _IN_CHUNK]
                q = select(_results.c.sha256).where(_results.c.job == job, _results.c.sha256.in_(part))
                out.update(conn.execute(q).scalars())
        return out

    def iter_scan_results(self, job: str) -> Iterator[ScanRecord]:
        """Every input ``job`` has scanned, in the order they were recorded."""
        last = 0
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    select(_results).where(_results.c.job == job, _results.c.id > last)
                    .order_by(_results.c.id).limit(_PAGE)
                ).all()
            for r in rows:
                yield ScanRecord(r.job, r.sha256, _utc(r.scanned_at),
                                 None if r.results is None else list(r.results))
            if len(rows) < _PAGE:
                return
            last = rows[-1].id

    def list_scan_jobs(self) -> list[ScanJobRecord]:
        with self._read() as conn:
            rows = conn.execute(
                select(_results.c.job, func.count(), func.min(_results.c.scanned_at), func.max(_results.c.scanned_at))
                .group_by(_results.c.job).order_by(_results.c.job)
            ).all()
        return [ScanJobRecord(job, int(n), _utc(first), _utc(last)) for job, n, first, last in rows]

    def clear_scan_job(self, job: str) -> int:
        """Forget ``job``'s history; returns the number of inputs forgotten."""
        with self._write() as conn:
            return int(conn.execute(delete(_results).where(_results.c.job == job)).rowcount or 0)

    # -- item previews ----------------------------------------------------
    def set_item_previews(self, previews: Sequence[ItemPreviewRecord]) -> None:
        """Store (or replace) the previews of these items."""
        if not previews:
            return
        with self._write() as conn:
            for p in previews:
                stmt = self._insert(_previews).values(item_id=p.item_id, image=p.image, text=p.text)
                conn.execute(stmt.on_conflict_do_update(index_elements=["item_id"],
                                                        set_=dict(image=p.image, text=p.text)))

    def get_item_previews(self, item_ids: Iterable[int]) -> dict[int, ItemPreviewRecord]:
        keys = list(dict.fromkeys(item_ids))
        out: dict[int, ItemPreviewRecord] = {}
        with self._read() as conn:
            for start in range(0, len(keys), _IN_CHUNK):
                part = keys[start : start + _IN_CHUNK]
                for r in conn.execute(select(_previews).where(_previews.c.item_id.in_(part))):
                    out[r.item_id] = ItemPreviewRecord(r.item_id, r.image, r.text)
        return out
