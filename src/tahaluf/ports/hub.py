"""The hub's storage ports: members, keys, bank shares, settings and the audit log."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tahaluf.audit import AuditRecord, SignedHead

__all__ = [
    "AuditCheck", "AuditLog", "HubRepository", "KeyRecord", "MemberRecord", "Members", "Settings", "Shares",
    "SigningKey",
]


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


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """What :meth:`HubStore.verify_audit` found."""

    entries: int
    last: AuditRecord | None
    problems: list[str]
    #: signed heads whose signature and entry both check out
    signed_heads: int
    #: the last of those (entry id), None when there is none
    last_signed: int | None


@runtime_checkable
class Members(Protocol):
    """Hub members and their (first) API keys."""

    def add_member(self, name: str, roles: Sequence[str], key_hash: str, prefix: str) -> MemberRecord: ...

    def get_member(self, name: str) -> MemberRecord | None: ...

    def get_members(self, member_ids: Sequence[int]) -> dict[int, MemberRecord]: ...

    def list_members(self) -> list[MemberRecord]: ...

    def set_member_enabled(self, name: str, enabled: bool) -> MemberRecord: ...

    def rotate_key(self, member_id: int, key_hash: str, prefix: str) -> None: ...

    def keys_of(self, member_id: int) -> list[KeyRecord]: ...


@runtime_checkable
class Shares(Protocol):
    """Which members a ``members``-visibility bank is shared with.

    ``conn`` is the open transaction of a :class:`~tahaluf.ports.transactions.UnitOfWork`
    change (None: a transaction of its own).
    """

    def set_bank_shares(self, bank_id: int, member_ids: Sequence[int], *, conn: Any = None) -> None: ...

    def lock_bank_names(self, conn: Any) -> list[tuple[str, str | None]]: ...

    def bank_shares(self) -> dict[int, list[str]]: ...


@runtime_checkable
class Settings(Protocol):
    """The hub's stored settings (one JSON value per name)."""

    def get_settings(self) -> dict[str, Any]: ...

    def put_settings(self, values: dict[str, Any]) -> None: ...


class SigningKey(Protocol):
    """The hub's audit-signing key (an Ed25519 key, public half in hex)."""

    @property
    def public_key(self) -> str: ...

    @property
    def path(self) -> Path | None:
        """Where the key is kept (None: only in memory)."""

    def sign(self, message: bytes) -> str: ...

    def exists(self) -> bool: ...


@runtime_checkable
class AuditLog(Protocol):
    """The hash-chained, periodically signed audit log."""

    @property
    def key(self) -> SigningKey:
        """The key that signs the heads."""

    def append_audit(
        self, actor: str, action: str, target: str, details: dict[str, Any] | None = None, *, conn: Any = None,
    ) -> AuditRecord: ...

    def sign_head(self) -> SignedHead | None: ...

    def signed_heads(self) -> list[SignedHead]: ...

    def iter_audit(self, *, after_id: int = 0, batch_size: int = 5000) -> Iterator[AuditRecord]: ...

    def list_audit(
        self, *, after_id: int = 0, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> list[AuditRecord]: ...

    def verify_audit(
        self, *, recorded_head: tuple[int | None, str] | None = None, trusted_keys: Sequence[str] | None = None,
    ) -> AuditCheck: ...

    def audit_head(self) -> AuditRecord | None: ...


@runtime_checkable
class HubRepository(Members, Shares, Settings, AuditLog, Protocol):
    """Everything the hub keeps besides banks: members, shares, settings, audit."""
