"""The wire form of evidence (``/v1/submissions/{id}/evidence``, ``/v1/evidence``, ``tahaluf evidence``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tahaluf.ports.evidence import EvidenceRecord, KeyringInfo
from tahaluf.services.evidence import PurgeReport, RekeyReport

__all__ = ["EvidenceOut", "HoldOut", "KeysOut", "PurgeOut", "RekeyOut", "evidence_out", "keys_out", "purge_out",
           "rekey_out"]


class HoldOut(BaseModel):
    on: bool
    reason: str | None = None
    by: str | None = None
    at: str | None = None


class EvidenceOut(BaseModel):
    submission_id: int
    sha256: str = Field(description="SHA-256 of the original bytes (the evidence's address)")
    media_type: str
    size: int = Field(description="bytes of the original")
    retain_until: str = Field(description="when the purge removes it (unless on hold)")
    hold: HoldOut
    created_at: str
    purged_at: str | None = Field(None, description="when the purge removed it (then only this record stays)")


class PurgeOut(BaseModel):
    dry_run: bool
    submissions: list[int] = Field(description="submissions whose evidence was (dry run: would be) purged")
    blobs: list[str] = Field(description="blobs deleted (sha256)")
    orphans: list[str] = Field(description="blob files no submission named, swept")


class KeysOut(BaseModel):
    source: str
    path: str | None
    current: str
    keys: list[dict[str, object]] = Field(description="[{id, current, blobs}] (ids only, never the keys)")


class RekeyOut(BaseModel):
    key: str
    rekeyed: int
    missing: list[str]


def evidence_out(e: EvidenceRecord) -> EvidenceOut:
    return EvidenceOut(
        submission_id=e.submission_id, sha256=e.sha256, media_type=e.media_type, size=e.size,
        retain_until=e.retain_until.isoformat(),
        hold=HoldOut(on=e.hold, reason=e.hold_reason, by=e.hold_by, at=e.hold_at.isoformat() if e.hold_at else None),
        created_at=e.created_at.isoformat(), purged_at=e.purged_at.isoformat() if e.purged_at else None,
    )


def purge_out(r: PurgeReport) -> PurgeOut:
    return PurgeOut(dry_run=r.dry_run, submissions=r.submissions, blobs=r.blobs, orphans=r.orphans)


def keys_out(info: KeyringInfo, counts: dict[str, int]) -> KeysOut:
    return KeysOut(source=info.source, path=info.path, current=info.current,
                   keys=[{"id": k, "current": k == info.current, "blobs": counts.get(k, 0)} for k in info.key_ids])


def rekey_out(r: RekeyReport) -> RekeyOut:
    return RekeyOut(key=r.key_id, rekeyed=r.rekeyed, missing=r.missing)
