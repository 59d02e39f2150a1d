"""Evidence metadata in memory (the same contract as ``evidence_sql``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tahaluf.ports.evidence import BlobRecord, EvidenceRecord, NewEvidence
from tahaluf.storage.memory.state import MemoryState, Tables

__all__ = ["MemoryEvidence"]


def _blob(row: dict[str, Any]) -> BlobRecord:
    return BlobRecord(row["sha256"], row["size"], row["media_type"], row["key_id"], row["created_at"])


class MemoryEvidence:
    """Blob rows and submissions' evidence links of one memory state."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def _record(self, t: Tables, row: dict[str, Any]) -> EvidenceRecord:
        sub = t.submissions.get(row["submission_id"], {})
        blob = t.evidence_blobs.get(row["sha256"]) if row["purged_at"] is None else None
        return EvidenceRecord(
            row["submission_id"], sub.get("member_id"), row["sha256"], row["size"], row["media_type"],
            blob["key_id"] if blob else None, row["retain_until"], row["hold"], row["hold_reason"],
            row["hold_by"], row["hold_at"], row["created_at"], row["purged_at"],
        )

    def lock(self) -> None:
        """The state's lock, held by the open change, already serialises every change."""

    def link(self, submission_id: int, blob: NewEvidence, retain_until: datetime) -> bool:
        at = self.state.now()
        with self.state.change() as t:
            if submission_id in t.evidence and t.evidence[submission_id]["purged_at"] is None:
                return False
            if blob.sha256 in t.evidence_blobs:
                t.evidence_blobs[blob.sha256]["key_id"] = blob.key_id
            else:
                t.evidence_blobs[blob.sha256] = {"sha256": blob.sha256, "size": blob.size,
                                                 "media_type": blob.media_type, "key_id": blob.key_id,
                                                 "created_at": at}
            t.evidence[submission_id] = {
                "submission_id": submission_id, "sha256": blob.sha256, "size": blob.size,
                "media_type": blob.media_type, "retain_until": retain_until, "hold": False, "hold_reason": None,
                "hold_by": None, "hold_at": None, "purged_at": None,
                "created_at": t.evidence[submission_id]["created_at"] if submission_id in t.evidence else at,
            }
        return True

    def get(self, submission_id: int) -> EvidenceRecord | None:
        with self.state.read() as t:
            row = t.evidence.get(submission_id)
            return self._record(t, row) if row is not None else None

    def blob(self, sha256: str) -> BlobRecord | None:
        with self.state.read() as t:
            row = t.evidence_blobs.get(sha256)
            return _blob(row) if row is not None else None

    def set_hold(self, submission_id: int, hold: bool, reason: str | None, by: str | None, at: datetime) -> bool:
        with self.state.change() as t:
            row = t.evidence.get(submission_id)
            if row is None:
                return False
            row.update(hold=hold, hold_reason=reason, hold_by=by, hold_at=at)
        return True

    def set_retention(self, submission_id: int, retain_until: datetime) -> bool:
        with self.state.change() as t:
            row = t.evidence.get(submission_id)
            if row is None:
                return False
            row["retain_until"] = retain_until
        return True

    def expired(self, at: datetime, limit: int) -> list[EvidenceRecord]:
        with self.state.read() as t:
            rows = [r for _i, r in sorted(t.evidence.items())
                    if r["purged_at"] is None and not r["hold"] and r["retain_until"] <= at]
            return [self._record(t, r) for r in rows[:limit]]

    def mark_purged(self, submission_ids: Sequence[int], at: datetime) -> list[str]:
        with self.state.change() as t:
            shas = set()
            for i in set(submission_ids):
                row = t.evidence.get(i)
                if row is not None and row["purged_at"] is None:
                    row["purged_at"] = at
                    shas.add(row["sha256"])
            live = {r["sha256"] for r in t.evidence.values() if r["purged_at"] is None}
            gone = sorted(s for s in shas if s not in live and s in t.evidence_blobs)
            for sha in gone:
                del t.evidence_blobs[sha]
        return gone

    def known(self, shas: Sequence[str]) -> set[str]:
        with self.state.read() as t:
            return {s for s in shas if s in t.evidence_blobs}

    def blobs_not_under(self, key_id: str, *, after: str, limit: int) -> list[BlobRecord]:
        with self.state.read() as t:
            rows = [r for s, r in sorted(t.evidence_blobs.items()) if r["key_id"] != key_id and s > after]
            return [_blob(r) for r in rows[:limit]]

    def set_key(self, sha256: str, key_id: str) -> None:
        with self.state.change() as t:
            if sha256 in t.evidence_blobs:
                t.evidence_blobs[sha256]["key_id"] = key_id

    def keys_in_use(self) -> dict[str, int]:
        with self.state.read() as t:
            out: dict[str, int] = {}
            for r in t.evidence_blobs.values():
                out[r["key_id"]] = out.get(r["key_id"], 0) + 1
            return out
