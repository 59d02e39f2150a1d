"""Accounts of organisations: members, several API keys per member (each with
its own roles and label), role changes, removing a member, and who a key
belongs to (:meth:`AccountService.authenticate`, cached per worker). The HTTP
API and the CLI call these; the rules and the audit entries live here and behind
the :class:`~tahaluf.ports.accounts.AccountRepository` port, once.

A *member* is an organisation: it owns banks, submissions, feedback and
webhooks, and visibility and sharing are per member. It acts through *keys*:
a key's roles are a subset of its member's (``None``: all of them, following
role changes). A request acts for the key's member with the key's roles.
Only admins (or the command line, which is the hub operator) manage members,
keys and bank ownership. See docs/hub.md, "Members, keys and roles".
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from tahaluf.access import Capability, Principal, check_org_name, check_roles
from tahaluf.errors import InvalidInput, NotFound
from tahaluf.services.audit import AuditService
from tahaluf.services.banks import BankService
from tahaluf.ports.accounts import AccountRepository, KeyInfo, NewKey
from tahaluf.ports.clock import now
from tahaluf.ports.hub import HubRepository, MemberRecord

__all__ = [
    "AccountService", "NewMember", "KeyList", "IssuedKey", "new_api_key", "hash_key", "check_label", "MAX_LABEL",
]

KEY_PREFIX = "thf_"
#: a key label: 1 to 64 printable characters
MAX_LABEL = 64
#: a key's ``last_used_at`` is written at most this often (per key and worker)
KEY_USE_RESOLUTION_S = 60.0


def new_api_key() -> str:
    """A new API key: ``thf_`` + 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """How keys are stored: SHA-256 (keys are random, so no salt or stretching is needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_label(label: str | None) -> str | None:
    if label is None:
        return None
    label = label.strip()
    if not label or len(label) > MAX_LABEL or not label.isprintable():
        raise InvalidInput(f"a key label is 1-{MAX_LABEL} printable characters, not {label!r}")
    return label


class NewMember(NamedTuple):
    """A member just added, and its first key (shown once)."""

    member: MemberRecord
    api_key: str


class IssuedKey(NamedTuple):
    """A key just given to a member (``api_key`` shown once)."""

    member: MemberRecord
    info: KeyInfo
    api_key: str


class KeyList(NamedTuple):
    member: MemberRecord
    keys: list[KeyInfo]


@dataclass(slots=True)
class _CachedKey:
    principal: Principal | None
    expires: float


def _admin(actor: Principal | str) -> str:
    """The audit actor's name, after checking that a principal is an admin."""
    if isinstance(actor, Principal):
        actor.require(Capability.ADMIN)
        return actor.name
    return actor


class AccountService:
    """Members and keys. ``actor`` is a :class:`Principal` (checked) or, for the
    command line, the audit name of the hub operator."""

    def __init__(self, hubstore: HubRepository, accounts: AccountRepository, audit: AuditService, banks: BankService,
                 cache_s: float) -> None:
        self.hubstore = hubstore
        self.store = accounts
        self.audit = audit
        self.banks = banks
        self.cache_s = cache_s
        self._keys: dict[str, _CachedKey] = {}
        #: key id -> when this worker last saw it used, not yet written
        self.key_use: dict[int, Any] = {}

    # -- who is calling ---------------------------------------------------------
    def authenticate(self, key: str | None) -> Principal | None:
        """The member holding ``key`` (None: missing, unknown, revoked or disabled)."""
        if not key:
            return None
        digest = hash_key(key)
        at = time.monotonic()
        hit = self._keys.get(digest)
        if hit is not None and hit.expires > at:
            return hit.principal
        principal = self.principal_for_key(digest)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[digest] = _CachedKey(principal, at + self.cache_s)
        return principal

    def principal_for_key(self, digest: str) -> Principal | None:
        """The key's member with the key's roles (None: unknown, revoked or disabled).
        Notes when the key was used; :meth:`flush_key_use` writes it later, from the
        worker's refresh loop, so a request never waits for a write."""
        found = self.store.key_holder(digest)
        if found is None:
            return None
        member, key = found
        at = now()
        if key.last_used_at is None or (at - key.last_used_at).total_seconds() > KEY_USE_RESOLUTION_S:
            self.key_use[key.id] = at
        return Principal(member.id, member.name, key.roles(member.roles), key.id)

    def flush_key_use(self) -> None:
        """Write the last use of the keys noted since the previous flush (one transaction)."""
        if self.key_use:
            pending, self.key_use = self.key_use, {}
            self.store.touch_keys(pending)

    def forget_keys(self) -> None:
        self._keys.clear()

    # -- members ------------------------------------------------------------------
    def add_member(self, actor: Principal | str, name: str, roles: Sequence[str]) -> NewMember:
        """Create a member and its first key (shown once, stored hashed)."""
        _admin(actor)
        name = check_org_name(name)
        clean = check_roles(roles)
        key = new_api_key()
        with self.audit.change():
            member = self.hubstore.add_member(name, clean, hash_key(key), key[:8])
            self.audit.append(actor, "member.add", f"member:{name}", {"roles": clean})
        return NewMember(member, key)

    def list_members(self, actor: Principal | str) -> list[MemberRecord]:
        _admin(actor)
        return self.hubstore.list_members()

    def directory(self, actor: Principal) -> list[str]:
        """Every member's name: the coalition's roster, open to every member, so that naming
        a member to share a bank with (and being told there is no such member) reveals
        nothing the caller cannot see."""
        return [m.name for m in self.hubstore.list_members()]

    def member(self, name: str) -> MemberRecord:
        found = self.hubstore.get_member(name)
        if found is None:
            raise NotFound(f"no member named {name!r} (see `tahaluf member list`)")
        return found

    def set_enabled(self, actor: Principal | str, name: str, enabled: bool) -> MemberRecord:
        _admin(actor)
        with self.audit.change():
            member = self.hubstore.set_member_enabled(name, enabled)
            self.audit.append(actor, "member.enable" if enabled else "member.disable", f"member:{name}")
        self.forget_keys()
        return member

    def set_roles(self, actor: Principal | str, member: str, roles: Sequence[str]) -> MemberRecord:
        """Change the roles a member (and so its keys) may hold; see :meth:`AccountStore.set_roles`."""
        who = _admin(actor)
        clean = check_roles(roles)
        if isinstance(actor, Principal) and actor.name == member and "admin" not in clean:
            raise InvalidInput("an admin cannot take the admin role from its own organisation "
                               "(ask another admin, or use the command line)")
        record = self.store.set_roles(member, clean, who)
        self.forget_keys()
        return record

    def remove(self, actor: Principal | str, member: str, *, transfer_banks_to: str | None = None) -> dict[str, Any]:
        """Delete a member (refused while it owns banks, unless they move to ``transfer_banks_to``)."""
        who = _admin(actor)
        if isinstance(actor, Principal) and actor.name == member:
            raise InvalidInput("an admin cannot remove its own organisation (ask another admin, or use the "
                               "command line)")
        details = self.store.remove_member(member, who, transfer_banks_to=transfer_banks_to)
        self.forget_keys()
        self.banks.forget()
        return {"member": member, **details}

    # -- keys -----------------------------------------------------------------------
    def rotate_key(self, actor: Principal | str, name: str) -> str:
        """Revoke the member's keys and return a new one. A member rotating its own key
        (not as an admin) replaces only the key it called with, keeping its roles."""
        if isinstance(actor, Principal) and actor.name != name:
            actor.require(Capability.ADMIN)
        if isinstance(actor, Principal) and not actor.is_admin and actor.key_id is not None:
            return self.rotate_own_key(actor)
        member = self.member(name)
        key = new_api_key()
        with self.audit.change():
            self.hubstore.rotate_key(member.id, hash_key(key), key[:8])
            self.audit.append(actor, "key.rotate", f"member:{name}", {"prefix": key[:8]})
        self.forget_keys()
        return key

    def rotate_own_key(self, actor: Principal) -> str:
        """Replace the key ``actor`` called with (same roles and label); its other keys stay."""
        if actor.key_id is None:
            raise InvalidInput("no key to rotate: this caller did not use an API key")
        key = new_api_key()
        self.store.replace_key(actor.key_id, NewKey(hash_key(key), key[:8]), actor.name)
        self.forget_keys()
        return key

    def add_key(self, actor: Principal | str, member: str, roles: Sequence[str] | None = None,
                label: str | None = None) -> IssuedKey:
        """Give a member another key (roles: a subset of the member's; none given: all of
        them, following role changes). Returns the key itself, shown once."""
        who = _admin(actor)
        clean = check_roles(roles) if roles else None
        key = new_api_key()
        record, info = self.store.add_key(member, NewKey(hash_key(key), key[:8], clean, check_label(label)), who)
        return IssuedKey(record, info, key)

    def list_keys(self, actor: Principal | str, member: str) -> KeyList:
        """A member's keys, revoked ones too (never the keys themselves: only their prefixes)."""
        _admin(actor)
        record = self.member(member)
        return KeyList(record, self.store.keys_of(record.id))

    def revoke_key(self, actor: Principal | str, member: str, key: str) -> tuple[MemberRecord, KeyInfo]:
        """Revoke one key of a member, named by its id or its prefix (e.g. ``thf_AbCd``)."""
        who = _admin(actor)
        out = self.store.revoke_key(member, key.strip(), who)
        self.forget_keys()
        return out
