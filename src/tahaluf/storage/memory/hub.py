"""The hub's ports in memory: members, bank shares, settings and the signed audit chain.

Same entries, hashes and signed heads as :class:`~tahaluf.storage.repository.hub_sql.HubStore`
(the v2 format, a signed head for the first entry and every ``SIGN_EVERY``-th),
so one verifier (:func:`tahaluf.storage.audit_check.verify_audit_log`) checks both.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tahaluf.audit import GENESIS, SIGN_EVERY, AuditRecord, SignedHead, canonical_json, entry_hash_v2, head_message
from tahaluf.errors import Conflict, NotFound
from tahaluf.ports.hub import AuditCheck, KeyRecord, MemberRecord, SigningKey
from tahaluf.storage.audit_check import verify_audit_log
from tahaluf.storage.memory.state import MemoryState, Tables

__all__ = ["MemoryAuditKey", "MemoryHub"]


class MemoryAuditKey:
    """An audit-signing key that lives only in memory (made on first use)."""

    #: kept in no file
    path: Path | None = None

    def __init__(self) -> None:
        self._key: Ed25519PrivateKey | None = None

    def _load(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = Ed25519PrivateKey.generate()
        return self._key

    @property
    def public_key(self) -> str:
        raw = self._load().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return raw.hex()

    def sign(self, message: bytes) -> str:
        return self._load().sign(message).hex()

    def exists(self) -> bool:
        return self._key is not None


def _member(row: dict[str, Any]) -> MemberRecord:
    return MemberRecord(row["id"], row["name"], tuple(row["roles"]), row["enabled"], row["created_at"])


class MemoryHub:
    """Members, shares, settings and audit entries of one :class:`MemoryState`."""

    def __init__(self, state: MemoryState, key: SigningKey | None = None) -> None:
        self.state = state
        self.key: SigningKey = key if key is not None else MemoryAuditKey()

    # -- members ------------------------------------------------------------
    def add_member(self, name: str, roles: Sequence[str], key_hash: str, prefix: str) -> MemberRecord:
        with self.state.change() as t:
            if any(m["name"] == name for m in t.members.values()):
                raise Conflict(f"member {name!r} already exists")
            member_id = self.state.next_id("members")
            t.members[member_id] = {"id": member_id, "name": name, "roles": list(roles), "enabled": True,
                                    "created_at": self.state.now()}
            self._add_key(t, member_id, key_hash, prefix)
            return _member(t.members[member_id])

    def _add_key(self, t: Tables, member_id: int, key_hash: str, prefix: str, *, roles: list[str] | None = None,
                 label: str | None = None, created_by: str | None = None) -> int:
        key_id = self.state.next_id("keys")
        t.keys[key_id] = {"id": key_id, "member_id": member_id, "key_hash": key_hash, "prefix": prefix,
                          "created_at": self.state.now(), "revoked_at": None, "roles": roles, "label": label,
                          "created_by": created_by, "last_used_at": None}
        return key_id

    def get_member(self, name: str) -> MemberRecord | None:
        with self.state.read() as t:
            return next((_member(m) for m in t.members.values() if m["name"] == name), None)

    def get_members(self, member_ids: Sequence[int]) -> dict[int, MemberRecord]:
        with self.state.read() as t:
            return {i: _member(t.members[i]) for i in set(member_ids) if i in t.members}

    def list_members(self) -> list[MemberRecord]:
        with self.state.read() as t:
            return sorted((_member(m) for m in t.members.values()), key=lambda m: m.name)

    def set_member_enabled(self, name: str, enabled: bool) -> MemberRecord:
        with self.state.change() as t:
            row = next((m for m in t.members.values() if m["name"] == name), None)
            if row is None:
                raise NotFound(f"no member named {name!r} (see `tahaluf member list`)")
            row["enabled"] = enabled
            return _member(row)

    def rotate_key(self, member_id: int, key_hash: str, prefix: str) -> None:
        """Revoke every key of the member and store the new one, at once."""
        with self.state.change() as t:
            for key in t.keys.values():
                if key["member_id"] == member_id and key["revoked_at"] is None:
                    key["revoked_at"] = self.state.now()
            self._add_key(t, member_id, key_hash, prefix)

    def keys_of(self, member_id: int) -> list[KeyRecord]:
        with self.state.read() as t:
            return [KeyRecord(k["id"], k["member_id"], k["prefix"], k["created_at"], k["revoked_at"])
                    for _i, k in sorted(t.keys.items()) if k["member_id"] == member_id]

    # -- bank sharing -------------------------------------------------------
    def set_bank_shares(self, bank_id: int, member_ids: Sequence[int], *, conn: Any = None) -> None:
        """Replace the bank's share list (joining the open change, if any)."""
        with self.state.change() as t:
            if bank_id not in t.banks or not set(member_ids) <= set(t.members):
                raise NotFound(f"no bank with id {bank_id} or no such member")  # SQL: a foreign-key violation
            if member_ids:
                t.shares[bank_id] = set(member_ids)
            else:
                t.shares.pop(bank_id, None)

    def lock_bank_names(self, conn: Any) -> list[tuple[str, str | None]]:
        """Every bank's ``(key, owner)``; the open change already serialises writers."""
        with self.state.read() as t:
            return [(b["name"], b["owner"]) for b in t.banks.values()]

    def bank_shares(self) -> dict[int, list[str]]:
        with self.state.read() as t:
            return {bank_id: sorted(t.members[m]["name"] for m in members)
                    for bank_id, members in t.shares.items() if members}

    # -- settings -----------------------------------------------------------
    def get_settings(self) -> dict[str, Any]:
        with self.state.read() as t:
            return copy.deepcopy(t.settings)

    def put_settings(self, values: dict[str, Any]) -> None:
        with self.state.change() as t:
            t.settings.update(copy.deepcopy(values))

    # -- audit --------------------------------------------------------------
    def append_audit(
        self, actor: str, action: str, target: str, details: dict[str, Any] | None = None, *, conn: Any = None,
    ) -> AuditRecord:
        """Append one entry to the chain (joining the open change, if any)."""
        with self.state.change() as t:
            last = t.audit[-1] if t.audit else None
            entry_id = last.id + 1 if last is not None else 1
            prev = last.hash if last is not None else GENESIS
            at = self.state.now()
            details_text = canonical_json(details or {})
            digest = entry_hash_v2(prev, entry_id, at, actor, action, target, details_text)
            record = AuditRecord(entry_id, at, actor, action, target, json.loads(details_text), prev, digest,
                                 details_text)
            t.audit.append(record)
            if entry_id % SIGN_EVERY == 0 or last is None:
                self._sign(t, entry_id, digest)
            return record

    def _sign(self, t: Tables, entry_id: int, entry_hash: str) -> SignedHead:
        head = SignedHead(entry_id, entry_hash, self.state.now(), self.key.public_key,
                          self.key.sign(head_message(entry_id, entry_hash)))
        t.signed.append(head)
        return head

    def sign_head(self) -> SignedHead | None:
        """Sign the current head (unless it already is); None: empty log."""
        with self.state.change() as t:
            if not t.audit:
                return None
            last = t.audit[-1]
            public = self.key.public_key
            for head in t.signed:
                if (head.entry_id, head.entry_hash, head.public_key) == (last.id, last.hash, public):
                    return head
            return self._sign(t, last.id, last.hash)

    def signed_heads(self) -> list[SignedHead]:
        with self.state.read() as t:
            return sorted(t.signed, key=lambda h: h.entry_id)

    def iter_audit(self, *, after_id: int = 0, batch_size: int = 5000) -> Iterator[AuditRecord]:
        with self.state.read() as t:
            entries = [e for e in t.audit if e.id > after_id]
        yield from entries

    def list_audit(
        self, *, after_id: int = 0, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> list[AuditRecord]:
        found = [e for e in self.iter_audit(after_id=after_id)
                 if (actor is None or e.actor == actor) and (action is None or e.action == action)]
        return found[:limit]

    def verify_audit(
        self, *, recorded_head: tuple[int | None, str] | None = None, trusted_keys: Sequence[str] | None = None,
    ) -> AuditCheck:
        return verify_audit_log(self, self.key, recorded_head=recorded_head, trusted_keys=trusted_keys)

    def audit_head(self) -> AuditRecord | None:
        with self.state.read() as t:
            return t.audit[-1] if t.audit else None
