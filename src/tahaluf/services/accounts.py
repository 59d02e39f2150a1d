"""Accounts of organisations: several API keys per member, each with its own
roles and label; role changes; removing a member; moving a bank to another
member. The HTTP API and the CLI call these; the rules and the audit entries
live here and in :mod:`tahaluf.storage.repository.accounts_sql`, once.

A *member* is an organisation: it owns banks, submissions, feedback and
webhooks, and visibility and sharing are per member. It acts through *keys*:
a key's roles are a subset of its member's (``None``: all of them, following
role changes). A request acts for the key's member with the key's roles.
Only admins (or the command line, which is the hub operator) manage members,
keys and bank ownership. See docs/hub.md, "Members, keys and roles".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tahaluf.access import Capability, Principal, check_roles
from tahaluf.errors import InvalidInput
from tahaluf.services.bank_names import qualified_name
from tahaluf.services.hub import Hub, hash_key, new_api_key
from tahaluf.storage.repository.accounts_sql import AccountStore, KeyInfo, NewKey
from tahaluf.ports.clock import now
from tahaluf.storage.repository.hub_sql import MemberRecord

__all__ = [
    "accounts", "principal_for_key", "flush_key_use", "add_key", "list_keys", "revoke_key", "rotate_own_key",
    "set_member_roles", "remove_member", "transfer_bank", "check_label",
]

#: a key label: 1 to 64 printable characters
MAX_LABEL = 64
#: a key's ``last_used_at`` is written at most this often (per key and worker)
KEY_USE_RESOLUTION_S = 60.0


def accounts(hub: Hub) -> AccountStore:
    return AccountStore(hub.hubstore)


def principal_for_key(hub: Hub, digest: str) -> Principal | None:
    """The key's member with the key's roles (None: unknown, revoked or disabled).
    Notes when the key was used; :func:`flush_key_use` writes it later, from the
    worker's refresh loop, so a request never waits for a write."""
    found = accounts(hub).key_holder(digest)
    if found is None:
        return None
    member, key = found
    at = now()
    if key.last_used_at is None or (at - key.last_used_at).total_seconds() > KEY_USE_RESOLUTION_S:
        hub.key_use[key.id] = at
    return Principal(member.id, member.name, key.roles(member.roles), key.id)


def flush_key_use(hub: Hub) -> None:
    """Write the last use of the keys noted since the previous flush (one transaction)."""
    pending, hub.key_use = hub.key_use, {}
    accounts(hub).touch_keys(pending)


def _admin(actor: Principal | str) -> str:
    """The audit actor's name, after checking that a principal is an admin."""
    if isinstance(actor, Principal):
        actor.require(Capability.ADMIN)
        return actor.name
    return actor


def check_label(label: str | None) -> str | None:
    if label is None:
        return None
    label = label.strip()
    if not label or len(label) > MAX_LABEL or not label.isprintable():
        raise InvalidInput(f"a key label is 1-{MAX_LABEL} printable characters, not {label!r}")
    return label


def add_key(hub: Hub, actor: Principal | str, member: str, roles: Sequence[str] | None = None,
            label: str | None = None) -> tuple[MemberRecord, KeyInfo, str]:
    """Give a member another key (roles: a subset of the member's; none given: all of
    them, following role changes). Returns the key itself, shown once."""
    who = _admin(actor)
    clean = check_roles(roles) if roles else None
    key = new_api_key()
    record, info = accounts(hub).add_key(member, NewKey(hash_key(key), key[:8], clean, check_label(label)), who)
    return record, info, key


def list_keys(hub: Hub, actor: Principal | str, member: str) -> tuple[MemberRecord, list[KeyInfo]]:
    """A member's keys, revoked ones too (never the keys themselves: only their prefixes)."""
    _admin(actor)
    record = hub.member(member)
    return record, accounts(hub).keys_of(record.id)


def revoke_key(hub: Hub, actor: Principal | str, member: str, key: str) -> tuple[MemberRecord, KeyInfo]:
    """Revoke one key of a member, named by its id or its prefix (e.g. ``thf_AbCd``)."""
    who = _admin(actor)
    out = accounts(hub).revoke_key(member, key.strip(), who)
    hub.forget_keys()
    return out


def rotate_own_key(hub: Hub, actor: Principal) -> str:
    """Replace the key ``actor`` called with (same roles and label); its other keys stay."""
    if actor.key_id is None:
        raise InvalidInput("no key to rotate: this caller did not use an API key")
    key = new_api_key()
    accounts(hub).replace_key(actor.key_id, NewKey(hash_key(key), key[:8]), actor.name)
    hub.forget_keys()
    return key


def set_member_roles(hub: Hub, actor: Principal | str, member: str, roles: Sequence[str]) -> MemberRecord:
    """Change the roles a member (and so its keys) may hold; see :meth:`AccountStore.set_roles`."""
    who = _admin(actor)
    clean = check_roles(roles)
    if isinstance(actor, Principal) and actor.name == member and "admin" not in clean:
        raise InvalidInput("an admin cannot take the admin role from its own organisation "
                           "(ask another admin, or use the command line)")
    record = accounts(hub).set_roles(member, clean, who)
    hub.forget_keys()
    return record


def remove_member(hub: Hub, actor: Principal | str, member: str, *,
                  transfer_banks_to: str | None = None) -> dict[str, Any]:
    """Delete a member (refused while it owns banks, unless they move to ``transfer_banks_to``)."""
    who = _admin(actor)
    if isinstance(actor, Principal) and actor.name == member:
        raise InvalidInput("an admin cannot remove its own organisation (ask another admin, or use the "
                           "command line)")
    details = accounts(hub).remove_member(member, who, transfer_banks_to=transfer_banks_to)
    hub.forget_keys()
    hub.forget_banks()
    return {"member": member, **details}


def transfer_bank(hub: Hub, actor: Principal | str, bank: str, to: str) -> dict[str, Any]:
    """Give a bank (its items, visibility and shares) to another member (admins only)."""
    who = _admin(actor)
    # an admin names the bank as the API does (plain or owner:name); the command line by its stored key
    key = hub.bank(actor, bank).record.name if isinstance(actor, Principal) else bank
    accounts(hub).transfer_bank(key, to, who)
    hub.forget_banks()
    record = hub.store.get_bank(key)
    # the bank's name for everyone after the move (owner:name): the old owner's qualifier no longer names it
    moved = qualified_name(record) if record is not None else bank
    return {"bank": moved, "owner": record.owner if record else to}
