"""Hub storage on the same database as the banks: members and API keys, bank
sharing, hub settings and the hash-chained audit log.

:class:`HubStore` wraps a :class:`~tahaluf.storage.Store` and uses its
transactions, so the same SQLite file or PostgreSQL database holds both.
Audit appends are serialised (``BEGIN IMMEDIATE`` on SQLite, a transaction
advisory lock on PostgreSQL) and take ``id = last id + 1`` explicitly, so the
chain has no gaps even when a transaction rolls back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from tahaluf.audit import (
    GENESIS,
    SIGN_EVERY,
    AuditRecord,
    SignedHead,
    canonical_json,
    entry_hash_v2,
    head_message,
    same_json,
)
from tahaluf.errors import Conflict, NotFound, StorageError
from tahaluf.ports.clock import now
from tahaluf.ports.hub import AuditCheck, KeyRecord, MemberRecord
from tahaluf.storage.audit_check import verify_audit_log
from tahaluf.storage.audit_key import AuditKey, key_path_for
from tahaluf.storage.models import (
    ApiKey,
    AuditEntry,
    AuditSignature,
    Bank,
    BankShare,
    HubSetting,
    Member,
    table,
)
from tahaluf.storage.repository.sql import Store
from tahaluf.storage.repository.rows import as_utc as _utc

__all__ = ["HubStore", "MemberRecord", "KeyRecord", "AuditCheck", "now"]  # records and now(): from tahaluf.ports

_members = table(Member)
_keys = table(ApiKey)
_shares = table(BankShare)
_settings = table(HubSetting)
_audit = table(AuditEntry)
_signatures = table(AuditSignature)
_banks = table(Bank)
_AUDIT_LOCK = 7_412_001  # pg_advisory_xact_lock key for audit appends
_BANK_NAMES_LOCK = 7_412_002  # pg_advisory_xact_lock key for bank creations (names per owner)



def _member(row: Any) -> MemberRecord:
    return MemberRecord(row.id, row.name, tuple(row.roles or ()), bool(row.enabled), _utc(row.created_at))


def _audit_record(row: Any) -> AuditRecord:
    text_ = row.details_text
    differs = False
    if text_ is not None:
        try:
            details = json.loads(text_)
        except ValueError:  # edited into something that is not JSON: verify reports it
            details = {}
        differs = not same_json(details, row.details)
    else:
        details = dict(row.details or {})
    return AuditRecord(
        row.id, _utc(row.at), row.actor, row.action, row.target, details, row.prev_hash, row.hash, text_, differs
    )


class HubStore:
    """Members, keys, shares, settings and audit entries of one database.

    ``key`` signs heads of the audit chain (default: the file named by
    :func:`tahaluf.storage.audit_key.key_path_for`, read or created when first needed).
    """

    def __init__(self, store: Store, key: AuditKey | None = None) -> None:
        self.store = store
        self.key = key if key is not None else AuditKey(key_path_for(store.url))

    # -- members ------------------------------------------------------------
    def add_member(self, name: str, roles: Sequence[str], key_hash: str, prefix: str) -> MemberRecord:
        try:
            with self.store.transaction() as conn:
                member_id = conn.execute(
                    insert(_members).values(name=name, roles=list(roles), enabled=True, created_at=now())
                ).inserted_primary_key[0]
                conn.execute(
                    insert(_keys).values(member_id=member_id, key_hash=key_hash, prefix=prefix, created_at=now())
                )
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise Conflict(f"member {name!r} already exists") from exc
            raise
        found = self.get_member(name)
        assert found is not None
        return found

    def get_member(self, name: str) -> MemberRecord | None:
        with self.store.connection() as conn:
            row = conn.execute(select(_members).where(_members.c.name == name)).first()
        return _member(row) if row is not None else None

    def get_members(self, member_ids: Sequence[int]) -> dict[int, MemberRecord]:
        if not member_ids:
            return {}
        with self.store.connection() as conn:
            rows = conn.execute(select(_members).where(_members.c.id.in_(list(set(member_ids))))).all()
        return {r.id: _member(r) for r in rows}

    def list_members(self) -> list[MemberRecord]:
        with self.store.connection() as conn:
            rows = conn.execute(select(_members).order_by(_members.c.name)).all()
        return [_member(r) for r in rows]

    def set_member_enabled(self, name: str, enabled: bool) -> MemberRecord:
        with self.store.transaction() as conn:
            done = conn.execute(update(_members).where(_members.c.name == name).values(enabled=enabled)).rowcount
        if not done:
            raise NotFound(f"no member named {name!r} (see `tahaluf member list`)")
        found = self.get_member(name)
        assert found is not None
        return found

    def rotate_key(self, member_id: int, key_hash: str, prefix: str) -> None:
        """Revoke every key of the member and store the new one, in one transaction."""
        with self.store.transaction() as conn:
            conn.execute(
                update(_keys).where(_keys.c.member_id == member_id, _keys.c.revoked_at.is_(None)).values(
                    revoked_at=now()
                )
            )
            conn.execute(insert(_keys).values(member_id=member_id, key_hash=key_hash, prefix=prefix, created_at=now()))

    def keys_of(self, member_id: int) -> list[KeyRecord]:
        with self.store.connection() as conn:
            rows = conn.execute(select(_keys).where(_keys.c.member_id == member_id).order_by(_keys.c.id)).all()
        return [
            KeyRecord(r.id, r.member_id, r.prefix, _utc(r.created_at), _utc(r.revoked_at) if r.revoked_at else None)
            for r in rows
        ]

    # -- bank sharing -------------------------------------------------------
    def set_bank_shares(self, bank_id: int, member_ids: Sequence[int], *, conn: Connection | None = None) -> None:
        """Replace the bank's share list (in ``conn``'s transaction when given)."""
        if conn is None:
            with self.store.transaction() as own:
                return self.set_bank_shares(bank_id, member_ids, conn=own)
        conn.execute(delete(_shares).where(_shares.c.bank_id == bank_id))
        if member_ids:
            conn.execute(insert(_shares), [{"bank_id": bank_id, "member_id": m} for m in sorted(set(member_ids))])
        return None

    def lock_bank_names(self, conn: Connection) -> list[tuple[str, str | None]]:
        """Serialise bank creations (a transaction advisory lock on PostgreSQL; SQLite's write
        transaction already does) and return every bank's ``(key, owner)``."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BANK_NAMES_LOCK})
        return [(r.name, r.owner) for r in conn.execute(select(_banks.c.name, _banks.c.owner)).all()]

    def bank_shares(self) -> dict[int, list[str]]:
        """Member names each bank is shared with, by bank id (only banks with shares)."""
        with self.store.connection() as conn:
            rows = conn.execute(
                select(_shares.c.bank_id, _members.c.name)
                .join(_members, _members.c.id == _shares.c.member_id)
                .order_by(_members.c.name)
            ).all()
        out: dict[int, list[str]] = {}
        for bank_id, name in rows:
            out.setdefault(bank_id, []).append(name)
        return out

    # -- settings -----------------------------------------------------------
    def get_settings(self) -> dict[str, Any]:
        with self.store.connection() as conn:
            rows = conn.execute(select(_settings.c.key, _settings.c.value)).all()
        return {k: v for k, v in rows}

    def put_settings(self, values: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            for key, value in values.items():
                conn.execute(delete(_settings).where(_settings.c.key == key))
                conn.execute(insert(_settings).values(key=key, value=value, updated_at=now()))

    # -- audit --------------------------------------------------------------
    def append_audit(
        self, actor: str, action: str, target: str, details: dict[str, Any] | None = None,
        *, conn: Connection | None = None,
    ) -> AuditRecord:
        """Append one entry to the chain (in ``conn``'s transaction when given)."""
        if conn is not None:
            return self._append(conn, actor, action, target, details or {})
        with self.store.transaction() as own:
            return self._append(own, actor, action, target, details or {})

    def _append(self, conn: Connection, actor: str, action: str, target: str, details: dict[str, Any]) -> AuditRecord:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})
        last = conn.execute(
            select(_audit.c.id, _audit.c.hash, _audit.c.details_text).order_by(_audit.c.id.desc()).limit(1)
        ).first()
        entry_id = (last.id + 1) if last is not None else 1
        prev = last.hash if last is not None else GENESIS
        at = now()
        details_text = canonical_json(details)  # what is hashed is what is stored, byte for byte
        plain = json.loads(details_text)
        digest = entry_hash_v2(prev, entry_id, at, actor, action, target, details_text)
        conn.execute(
            insert(_audit).values(
                id=entry_id, at=at, actor=actor, action=action, target=target, details=plain,
                details_text=details_text, prev_hash=prev, hash=digest,
            )
        )
        # the first entry in this format, and every SIGN_EVERY-th, gets a signed head in
        # the same transaction: `audit verify` can then require them
        if entry_id % SIGN_EVERY == 0 or last is None or last.details_text is None:
            self._sign(conn, entry_id, digest)
        return AuditRecord(entry_id, at, actor, action, target, plain, prev, digest, details_text)

    def _sign(self, conn: Connection, entry_id: int, entry_hash: str) -> SignedHead:
        public = self.key.public_key
        signature = self.key.sign(head_message(entry_id, entry_hash))
        at = now()
        conn.execute(insert(_signatures).values(entry_id=entry_id, entry_hash=entry_hash, signed_at=at,
                                                public_key=public, signature=signature))
        return SignedHead(entry_id, entry_hash, at, public, signature)

    def sign_head(self) -> SignedHead | None:
        """Sign the current head with the hub's key (unless it already is); None: empty log."""
        with self.store.transaction() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})
            last = conn.execute(select(_audit.c.id, _audit.c.hash).order_by(_audit.c.id.desc()).limit(1)).first()
            if last is None:
                return None
            public = self.key.public_key
            done = conn.execute(select(_signatures).where(
                _signatures.c.entry_id == last.id, _signatures.c.entry_hash == last.hash,
                _signatures.c.public_key == public)).first()
            if done is not None:
                return SignedHead(done.entry_id, done.entry_hash, _utc(done.signed_at), done.public_key,
                                  done.signature)
            return self._sign(conn, last.id, last.hash)

    def signed_heads(self) -> list[SignedHead]:
        with self.store.connection() as conn:
            rows = conn.execute(select(_signatures).order_by(_signatures.c.entry_id, _signatures.c.id)).all()
        return [SignedHead(r.entry_id, r.entry_hash, _utc(r.signed_at), r.public_key, r.signature) for r in rows]

    def iter_audit(self, *, after_id: int = 0, batch_size: int = 5000) -> Iterator[AuditRecord]:
        cursor = after_id
        while True:
            with self.store.connection() as conn:
                rows = conn.execute(
                    select(_audit).where(_audit.c.id > cursor).order_by(_audit.c.id).limit(batch_size)
                ).all()
            if not rows:
                return
            for row in rows:
                yield _audit_record(row)
            cursor = rows[-1].id

    def list_audit(
        self, *, after_id: int = 0, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> list[AuditRecord]:
        query = select(_audit).where(_audit.c.id > after_id)
        if actor is not None:
            query = query.where(_audit.c.actor == actor)
        if action is not None:
            query = query.where(_audit.c.action == action)
        with self.store.connection() as conn:
            rows = conn.execute(query.order_by(_audit.c.id).limit(limit)).all()
        return [_audit_record(r) for r in rows]

    def verify_audit(
        self, *, recorded_head: tuple[int | None, str] | None = None, trusted_keys: Sequence[str] | None = None,
    ) -> AuditCheck:
        """Walk the whole chain and check the signed heads against ``trusted_keys``
        (default: this hub's own key) and ``recorded_head`` (from ``audit head``)."""
        return verify_audit_log(self, self.key, recorded_head=recorded_head, trusted_keys=trusted_keys)

    def audit_head(self) -> AuditRecord | None:
        with self.store.connection() as conn:
            row = conn.execute(select(_audit).order_by(_audit.c.id.desc()).limit(1)).first()
        return _audit_record(row) if row is not None else None
