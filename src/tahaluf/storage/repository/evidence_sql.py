"""Evidence metadata on SQL: blob rows and submissions' links, retention and holds.

Every method joins the write transaction open in this thread (``uow.change()``).
:meth:`EvidenceStore.lock` serialises evidence changes: a transaction advisory
lock on PostgreSQL; on SQLite every write transaction already holds the
database's write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update

from tahaluf.ports.clock import now
from tahaluf.ports.evidence import BlobRecord, EvidenceRecord, NewEvidence
from tahaluf.storage.models import EvidenceBlob, Submission, SubmissionEvidence, table
from tahaluf.storage.repository.rows import as_utc, chunks
from tahaluf.storage.repository.sql import Store

__all__ = ["EvidenceStore"]

_blobs = table(EvidenceBlob)
_links = table(SubmissionEvidence)
_subs = table(Submission)
_EVIDENCE_LOCK = 7_412_003  # pg_advisory_xact_lock key for evidence changes


def _record(row: Any) -> EvidenceRecord:
    return EvidenceRecord(
        row.submission_id, row.member_id, row.sha256, int(row.size), row.media_type, row.key_id,
        as_utc(row.retain_until), bool(row.hold), row.hold_reason, row.hold_by,
        as_utc(row.hold_at) if row.hold_at else None, as_utc(row.created_at),
        as_utc(row.purged_at) if row.purged_at else None,
    )


def _blob(row: Any) -> BlobRecord:
    return BlobRecord(row.sha256, int(row.size), row.media_type, row.key_id, as_utc(row.created_at))


_SELECT = (
    select(_links, _subs.c.member_id, _blobs.c.key_id)
    .join(_subs, _subs.c.id == _links.c.submission_id)
    .outerjoin(_blobs, (_blobs.c.sha256 == _links.c.sha256) & _links.c.purged_at.is_(None))
)


class EvidenceStore:
    """The evidence tables of one database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def lock(self) -> None:
        with self.store.transaction() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _EVIDENCE_LOCK})

    def link(self, submission_id: int, blob: NewEvidence, retain_until: datetime) -> bool:
        """Link (or link again, once purged) a submission to its blob; False if it has a live link."""
        at = now()
        with self.store.transaction() as conn:
            linked = conn.execute(select(_links.c.purged_at).where(_links.c.submission_id == submission_id)).first()
            if linked is not None and linked.purged_at is None:
                return False
            row = conn.execute(select(_blobs.c.sha256).where(_blobs.c.sha256 == blob.sha256)).first()
            if row is None:
                conn.execute(insert(_blobs).values(sha256=blob.sha256, size=blob.size, media_type=blob.media_type,
                                                   key_id=blob.key_id, created_at=at))
            else:
                conn.execute(update(_blobs).where(_blobs.c.sha256 == blob.sha256).values(key_id=blob.key_id))
            if linked is not None:  # purged, and submitted again while its task is open: kept anew
                conn.execute(update(_links).where(_links.c.submission_id == submission_id).values(
                    sha256=blob.sha256, size=blob.size, media_type=blob.media_type, retain_until=retain_until,
                    hold=False, hold_reason=None, hold_by=None, hold_at=None, purged_at=None))
                return True
            conn.execute(insert(_links).values(
                submission_id=submission_id, sha256=blob.sha256, size=blob.size, media_type=blob.media_type,
                retain_until=retain_until, hold=False, hold_reason=None, hold_by=None, hold_at=None,
                created_at=at, purged_at=None))
        return True

    def get(self, submission_id: int) -> EvidenceRecord | None:
        with self.store.connection() as conn:
            row = conn.execute(_SELECT.where(_links.c.submission_id == submission_id)).first()
        return _record(row) if row is not None else None

    def blob(self, sha256: str) -> BlobRecord | None:
        with self.store.connection() as conn:
            row = conn.execute(select(_blobs).where(_blobs.c.sha256 == sha256)).first()
        return _blob(row) if row is not None else None

    def set_hold(self, submission_id: int, hold: bool, reason: str | None, by: str | None, at: datetime) -> bool:
        with self.store.transaction() as conn:
            done = conn.execute(update(_links).where(_links.c.submission_id == submission_id).values(
                hold=hold, hold_reason=reason, hold_by=by, hold_at=at)).rowcount
        return bool(done)

    def set_retention(self, submission_id: int, retain_until: datetime) -> bool:
        with self.store.transaction() as conn:
            done = conn.execute(update(_links).where(_links.c.submission_id == submission_id)
                                .values(retain_until=retain_until)).rowcount
        return bool(done)

    def expired(self, at: datetime, limit: int) -> list[EvidenceRecord]:
        query = _SELECT.where(_links.c.purged_at.is_(None), _links.c.hold.is_(False), _links.c.retain_until <= at)
        with self.store.connection() as conn:
            rows = conn.execute(query.order_by(_links.c.submission_id).limit(limit)).all()
        return [_record(r) for r in rows]

    def mark_purged(self, submission_ids: Sequence[int], at: datetime) -> list[str]:
        ids = sorted(set(submission_ids))
        if not ids:
            return []
        gone: list[str] = []
        with self.store.transaction() as conn:
            shas: set[str] = set()
            for part in chunks(ids):
                shas.update(r[0] for r in conn.execute(select(_links.c.sha256).where(
                    _links.c.submission_id.in_(part), _links.c.purged_at.is_(None))).all())
                conn.execute(update(_links).where(_links.c.submission_id.in_(part), _links.c.purged_at.is_(None))
                             .values(purged_at=at))
            for part in chunks(sorted(shas)):
                live = {r[0] for r in conn.execute(select(_links.c.sha256).where(
                    _links.c.sha256.in_(part), _links.c.purged_at.is_(None))).all()}
                dead = [s for s in part if s not in live]
                if dead:
                    conn.execute(delete(_blobs).where(_blobs.c.sha256.in_(dead)))
                    gone.extend(dead)
        return gone

    def known(self, shas: Sequence[str]) -> set[str]:
        out: set[str] = set()
        with self.store.connection() as conn:
            for part in chunks(sorted(set(shas))):
                out.update(r[0] for r in conn.execute(select(_blobs.c.sha256).where(_blobs.c.sha256.in_(part))))
        return out

    def blobs_not_under(self, key_id: str, *, after: str, limit: int) -> list[BlobRecord]:
        with self.store.connection() as conn:
            rows = conn.execute(select(_blobs).where(_blobs.c.key_id != key_id, _blobs.c.sha256 > after)
                                .order_by(_blobs.c.sha256).limit(limit)).all()
        return [_blob(r) for r in rows]

    def set_key(self, sha256: str, key_id: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(update(_blobs).where(_blobs.c.sha256 == sha256).values(key_id=key_id))

    def keys_in_use(self) -> dict[str, int]:
        with self.store.connection() as conn:
            rows = conn.execute(select(_blobs.c.key_id, func.count()).group_by(_blobs.c.key_id)).all()
        return {r[0]: int(r[1]) for r in rows}
