"""The audit log on the wire (``/v1/audit...``, ``tahaluf audit ...``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tahaluf.audit import SignedHead
from tahaluf.services.audit import AuditPage, PublicKey
from tahaluf.ports.hub import AuditCheck

__all__ = ["AuditOut", "AuditVerifyOut", "SignedHeadOut", "PublicKeyOut", "audit_out", "verify_out", "signed_out",
           "public_key_out"]


class AuditOut(BaseModel):
    entries: list[dict[str, Any]]
    next_after: int | None = None


class AuditVerifyOut(BaseModel):
    ok: bool
    entries: int
    head: str | None
    #: signed heads whose signature (by the hub's key) and entry check out
    signed_heads: int
    #: entry id of the last of them
    last_signed: int | None
    problems: list[str]


class SignedHeadOut(BaseModel):
    #: None: the audit log is empty
    entry_id: int | None
    entry_hash: str | None
    signed_at: str | None
    public_key: str | None
    signature: str | None


class PublicKeyOut(BaseModel):
    public_key: str


def audit_out(page: AuditPage) -> AuditOut:
    return AuditOut(entries=[e.to_json() for e in page.entries], next_after=page.next_after)


def verify_out(check: AuditCheck) -> AuditVerifyOut:
    return AuditVerifyOut(ok=not check.problems, entries=check.entries, head=check.last.hash if check.last else None,
                          signed_heads=check.signed_heads, last_signed=check.last_signed,
                          problems=check.problems[:100])


def signed_out(head: SignedHead | None) -> SignedHeadOut:
    if head is None:
        return SignedHeadOut(entry_id=None, entry_hash=None, signed_at=None, public_key=None, signature=None)
    return SignedHeadOut(entry_id=head.entry_id, entry_hash=head.entry_hash, signed_at=head.signed_at.isoformat(),
                         public_key=head.public_key, signature=head.signature)


def public_key_out(key: PublicKey) -> PublicKeyOut:
    return PublicKeyOut(public_key=key.public_key)
