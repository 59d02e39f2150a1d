"""Verifying an audit log through its port: the chain, the signed heads, a recorded head.

Shared by every implementation of :class:`tahaluf.ports.hub.AuditLog` (SQL and
memory): it reads the log only through ``iter_audit`` and ``signed_heads``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from tahaluf.audit import AuditRecord, SignedHead, check_recorded_head, check_signed_heads, verify_chain
from tahaluf.ports.hub import AuditCheck
from tahaluf.storage.audit_key import verify_signature

__all__ = ["SigningKey", "verify_audit_log"]


class SigningKey(Protocol):
    """The hub's audit-signing key (an Ed25519 key, public half in hex)."""

    @property
    def public_key(self) -> str: ...

    def sign(self, message: bytes) -> str: ...

    def exists(self) -> bool: ...


class _Readable(Protocol):
    def iter_audit(self, *, after_id: int = 0, batch_size: int = 5000) -> Iterator[AuditRecord]: ...

    def signed_heads(self) -> list[SignedHead]: ...


def verify_audit_log(
    log: _Readable, key: SigningKey, *, recorded_head: tuple[int | None, str] | None = None,
    trusted_keys: Sequence[str] | None = None,
) -> AuditCheck:
    """Walk the whole chain and check the signed heads against ``trusted_keys``
    (default: ``key``'s public half) and ``recorded_head`` (from ``audit head``)."""
    heads = log.signed_heads()
    if trusted_keys is None:
        trusted_keys = [key.public_key] if key.exists() else []
    wanted = {h.entry_id for h in heads}
    if recorded_head is not None and recorded_head[0] is not None:
        wanted.add(recorded_head[0])
    hashes: dict[int, str] = {}
    by_hash: dict[str, int] = {}
    count, last, first_v2 = 0, None, None

    def entries() -> Iterator[AuditRecord]:
        nonlocal count, last, first_v2
        for e in log.iter_audit():
            count += 1
            last = e
            if first_v2 is None and e.details_text is not None:
                first_v2 = e.id
            if e.id in wanted:
                hashes[e.id] = e.hash
            if recorded_head is not None and e.hash == recorded_head[1]:
                by_hash[e.hash] = e.id
            yield e

    problems = verify_chain(entries())
    signed_problems, good = check_signed_heads(
        heads, hashes, last.id if last else 0, list(trusted_keys), verify_signature, first_v2_id=first_v2)
    problems.extend(signed_problems)
    if recorded_head is not None:
        found = check_recorded_head(recorded_head, hashes, by_hash)
        if found:
            problems.append(found)
    good_ids = [h.entry_id for h in heads if hashes.get(h.entry_id) == h.entry_hash
                and h.public_key in trusted_keys]
    return AuditCheck(count, last, problems, good, max(good_ids) if good_ids else None)
