"""The accounts port: API keys with their own roles, role changes, removals and bank transfers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tahaluf.access import key_roles
from tahaluf.ports.hub import MemberRecord

__all__ = ["AccountRepository", "KeyInfo", "NewKey"]


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key to store: its hash and display prefix, its own roles (None: the member's) and label."""

    key_hash: str
    prefix: str
    roles: list[str] | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    member_id: int
    prefix: str
    label: str | None
    #: the key's own roles; None: all its member's roles
    own_roles: tuple[str, ...] | None
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def roles(self, member_roles: Sequence[str]) -> tuple[str, ...]:
        """The roles this key acts with."""
        return key_roles(member_roles, self.own_roles)

    def to_json(self, member: MemberRecord) -> dict[str, Any]:
        return {
            "id": self.id,
            "member": member.name,
            "prefix": self.prefix,
            "label": self.label,
            "roles": list(self.roles(member.roles)),
            "inherits_roles": self.own_roles is None,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@runtime_checkable
class AccountRepository(Protocol):
    """API keys, roles, member removal and bank transfer; each change audited in its transaction."""

    def key_holder(self, key_hash: str) -> tuple[MemberRecord, KeyInfo] | None: ...

    def touch_keys(self, used: dict[int, datetime]) -> None: ...

    def keys_of(self, member_id: int) -> list[KeyInfo]: ...

    def add_key(self, member_name: str, key: NewKey, actor: str) -> tuple[MemberRecord, KeyInfo]: ...

    def revoke_key(self, member_name: str, selector: str, actor: str) -> tuple[MemberRecord, KeyInfo]: ...

    def replace_key(self, key_id: int, key: NewKey, actor: str) -> KeyInfo: ...

    def set_roles(self, member_name: str, roles: Sequence[str], actor: str) -> MemberRecord: ...

    def transfer_bank(self, bank_name: str, to_name: str, actor: str) -> None: ...

    def remove_member(self, name: str, actor: str, *, transfer_banks_to: str | None = None) -> dict[str, Any]: ...
