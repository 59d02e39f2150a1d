"""Hub storage on the same database as the banks: members and API keys, bank
sharing, hub settings and the hash-chained audit log.

:class:`HubStore` wraps a :class:`~tahaluf.storage.Store` and uses its
transactions, so the same SQLite file or PostgreSQL database holds both.
Audit appends are serialised (``BEGIN IMMEDIATE`` on SQLite, a transaction
advisory lock on PostgreSQL) and take ``id = last id + 1`` explicitly, so the
chain has no gaps even when a transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from tahaluf.audit import GENESIS, AuditRecord, entry_hash, verify_chain
from tahaluf.errors import Conflict, NotFound, StorageError
from tahaluf.storage.models import (
    ApiKey,
    AuditEntry,
    Bank,
    BankShare,
    HubSetting,
    Member,
)
from tahaluf.storage.repository.sql import Store
from tahaluf.storage.repository.sql import as_utc as _utc

__all__ = ["HubStore", "MemberRecord", "KeyRecord"]

_members = Member.__table__
_keys = ApiKey.__table__
_shares = BankShare.__table__
_settings = HubSetting.__table__
_audit = AuditEntry.__table__
_banks = Bank.__table__
_AUDIT_LOCK = 7_412_001  # pg_advisory_xact_lock key for audit appends
_BANK_NAMES_LOCK = 7_412_002  # pg_advisory_xact_lock key for bank creations (names per owner)



def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class MemberRecord:
    id: int
    name: str
    roles: tuple[str, ...]
    enabled: bool
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: int
    member_id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def _member(row: Any) -> MemberRecord:
    return MemberRecord(row.id, row.name, tuple(row.roles or ()), bool(row.enabled), _utc(row.created_at))


def _audit_record(row: Any) -> AuditRecord:
    return AuditRecord(
        row.id, _utc(row.at), row.actor, row.action, row.target, dict(row.details or {}), row.prev_hash, row.hash
    )


class HubStore:
    """Members, keys, shares, settings and audit entries of one database."""

    def __init__(self, store: Store) -> None:
        self.store = store

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

    def member_for_key(self, key_hash: str) -> MemberRecord | None:
        """The enabled member holding the unrevoked key with this hash."""
        with self.store.connection() as conn:
            row = conn.execute(
                select(_members)
                .join(_keys, _keys.c.member_id == _members.c.id)
                .where(_keys.c.key_hash == key_hash, _keys.c.revoked_at.is_(None), _members.c.enabled.is_(True))
            ).first()
        return _member(row) if row is not None else None

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
        last = conn.execute(select(_audit.c.id, _audit.c.hash).order_by(_audit.c.id.desc()).limit(1)).first()
        entry_id = (last.id + 1) if last is not None else 1
        prev = last.hash if last is not None else GENESIS
        at = now()
        digest = entry_hash(prev, entry_id, at, actor, action, target, details)
        conn.execute(
            insert(_audit).values(
                id=entry_id, at=at, actor=actor, action=action, target=target, details=details,
                prev_hash=prev, hash=digest,
            )
        )
        return AuditRecord(entry_id, at, actor, action, target, details, prev, digest)

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

    def verify_audit(self) -> tuple[int, AuditRecord | None, list[str]]:
        """Walk the whole chain: (entries, the last entry, problems found; empty when intact)."""
        count, last = 0, None

        def entries() -> Iterator[AuditRecord]:
            nonlocal count, last
            for e in self.iter_audit():
                count += 1
                last = e
                yield e

        problems = verify_chain(entries())
        return count, last, problems

    def audit_head(self) -> AuditRecord | None:
        with self.store.connection() as conn:
            row = conn.execute(select(_audit).order_by(_audit.c.id.desc()).limit(1)).first()
        return _audit_record(row) if row is not None else None
