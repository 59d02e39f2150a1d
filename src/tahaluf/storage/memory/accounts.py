"""The accounts port in memory: keys with their own roles, role changes, removals, transfers.

Each change appends its audit entry in the same change, as
:class:`~tahaluf.storage.repository.accounts_sql.AccountStore` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tahaluf.errors import Conflict, InvalidInput, NotFound
from tahaluf.ports.accounts import KeyInfo, NewKey
from tahaluf.ports.hub import MemberRecord
from tahaluf.ports.vocabulary import ROLES
from tahaluf.storage.memory.hub import MemoryHub
from tahaluf.storage.memory.state import Tables

__all__ = ["MemoryAccounts"]


def _key(row: dict[str, Any]) -> KeyInfo:
    roles = row["roles"]
    return KeyInfo(row["id"], row["member_id"], row["prefix"], row["label"],
                   None if roles is None else tuple(roles), row["created_at"], row["created_by"],
                   row["last_used_at"], row["revoked_at"])


def _member(row: dict[str, Any]) -> MemberRecord:
    return MemberRecord(row["id"], row["name"], tuple(row["roles"]), row["enabled"], row["created_at"])


class MemoryAccounts:
    """Keys, roles, removals and transfers of the hub's memory state."""

    def __init__(self, hub: MemoryHub) -> None:
        self.hub = hub
        self.state = hub.state

    def _member_row(self, t: Tables, name: str) -> dict[str, Any]:
        row = next((m for m in t.members.values() if m["name"] == name), None)
        if row is None:
            raise NotFound(f"no member named {name!r} (see `tahaluf member list`)")
        return row

    # -- authentication -------------------------------------------------------------
    def key_holder(self, key_hash: str) -> tuple[MemberRecord, KeyInfo] | None:
        """The enabled member and its unrevoked key with this hash."""
        with self.state.read() as t:
            for key in t.keys.values():
                member = t.members[key["member_id"]]
                if key["key_hash"] == key_hash and key["revoked_at"] is None and member["enabled"]:
                    return _member(member), _key(key)
        return None

    def touch_keys(self, used: dict[int, datetime]) -> None:
        """Record when keys were last used (never moves a time back)."""
        with self.state.change() as t:
            for key_id, at in used.items():
                key = t.keys.get(key_id)
                if key is not None and (key["last_used_at"] is None or key["last_used_at"] < at):
                    key["last_used_at"] = at

    # -- keys -----------------------------------------------------------------------
    def keys_of(self, member_id: int) -> list[KeyInfo]:
        with self.state.read() as t:
            return [_key(k) for _i, k in sorted(t.keys.items()) if k["member_id"] == member_id]

    def add_key(self, member_name: str, key: NewKey, actor: str) -> tuple[MemberRecord, KeyInfo]:
        """Store a new key of the member; its roles must be among the member's."""
        with self.state.change() as t:
            member = _member(self._member_row(t, member_name))
            if key.roles is not None:
                beyond = [r for r in key.roles if r not in member.roles]
                if beyond:
                    raise InvalidInput(f"member {member.name!r} does not hold role {', '.join(beyond)} "
                                       f"(it holds {', '.join(member.roles)}); a key's roles are a subset of its "
                                       "organisation's")
            key_id = self.hub._add_key(t, member.id, key.key_hash, key.prefix,
                                       roles=None if key.roles is None else list(key.roles), label=key.label,
                                       created_by=actor)
            self.hub.append_audit(actor, "key.add", f"member:{member.name}",
                                  {"key": key_id, "prefix": key.prefix, "label": key.label, "roles": key.roles})
            return member, _key(t.keys[key_id])

    def _find_key(self, t: Tables, member: MemberRecord, selector: str) -> dict[str, Any]:
        mine = [k for _i, k in sorted(t.keys.items()) if k["member_id"] == member.id]
        if selector.isdigit():
            rows = [k for k in mine if k["id"] == int(selector)]
        else:
            rows = [k for k in mine if k["prefix"].startswith(selector)] if selector else []
        if not rows:
            raise NotFound(f"member {member.name!r} has no key {selector!r} (see `tahaluf key list {member.name}`)")
        live = [k for k in rows if k["revoked_at"] is None]
        if len(live) > 1:
            raise InvalidInput(f"{selector!r} names {len(live)} keys of {member.name!r}; give the key's id")
        return live[0] if live else rows[0]

    def revoke_key(self, member_name: str, selector: str, actor: str) -> tuple[MemberRecord, KeyInfo]:
        with self.state.change() as t:
            member = _member(self._member_row(t, member_name))
            key = self._find_key(t, member, selector)
            if key["revoked_at"] is not None:
                raise Conflict(f"key {key['id']} ({key['prefix']}…) of {member.name!r} was already revoked "
                               f"at {key['revoked_at'].isoformat()}")
            key["revoked_at"] = self.state.now()
            self.hub.append_audit(actor, "key.revoke", f"member:{member.name}",
                                  {"key": key["id"], "prefix": key["prefix"], "label": key["label"]})
            return member, _key(key)

    def replace_key(self, key_id: int, key: NewKey, actor: str) -> KeyInfo:
        """Revoke one key and store its successor with the same roles and label."""
        with self.state.change() as t:
            old = t.keys.get(key_id)
            if old is None or old["revoked_at"] is not None:
                raise Conflict("this key was revoked meanwhile")
            member = t.members[old["member_id"]]["name"]
            old["revoked_at"] = self.state.now()
            new_id = self.hub._add_key(t, old["member_id"], key.key_hash, key.prefix, roles=old["roles"],
                                       label=old["label"], created_by=actor)
            self.hub.append_audit(actor, "key.rotate", f"member:{member}",
                                  {"revoked": [key_id], "key": new_id, "prefix": key.prefix})
            return _key(t.keys[new_id])

    # -- roles ----------------------------------------------------------------------
    def set_roles(self, member_name: str, roles: Sequence[str], actor: str) -> MemberRecord:
        """Change a member's roles; keys with roles of their own keep only those still held
        (a key left with none is revoked)."""
        with self.state.change() as t:
            row = self._member_row(t, member_name)
            previous = list(row["roles"])
            row["roles"] = list(roles)
            narrowed, revoked = [], []
            for key_id, key in sorted(t.keys.items()):
                if key["member_id"] != row["id"] or key["revoked_at"] is not None or key["roles"] is None:
                    continue
                kept = [r for r in ROLES if r in key["roles"] and r in roles]
                if not kept:
                    key["revoked_at"] = self.state.now()
                    revoked.append(key_id)
                elif len(kept) != len(key["roles"]):
                    key["roles"] = kept
                    narrowed.append(key_id)
            self.hub.append_audit(actor, "member.roles", f"member:{row['name']}", {
                "roles": list(roles), "previous": previous, "keys_narrowed": narrowed, "keys_revoked": revoked,
            })
            return _member(row)

    # -- banks ------------------------------------------------------------------------
    def _transfer(self, t: Tables, bank: dict[str, Any], to: dict[str, Any], actor: str) -> None:
        short = bank["name"].rsplit(":", 1)[-1]
        for other in t.banks.values():
            if other["owner"] == to["name"] and other["name"].rsplit(":", 1)[-1] == short:
                raise Conflict(f"{to['name']!r} already has a bank named {short!r}; rename or delete one first")
        previous = bank["owner"]
        bank["owner"] = to["name"]
        t.shares.get(bank["id"], set()).discard(to["id"])
        t.changes[self.state.next_id("changes")] = (bank["id"], None, "update", self.state.now())
        self.hub.append_audit(actor, "bank.transfer", f"bank:{bank['name']}", {"from": previous, "to": to["name"]})

    def _to_member(self, t: Tables, name: str) -> dict[str, Any]:
        row = next((m for m in t.members.values() if m["name"] == name), None)
        if row is None:
            raise InvalidInput(f"cannot transfer to {name!r}: no such member")
        return row

    def transfer_bank(self, bank_name: str, to_name: str, actor: str) -> None:
        """Give a bank (its items, visibility and shares) to another member."""
        with self.state.change() as t:
            bank = next((b for b in t.banks.values() if b["name"] == bank_name), None)
            if bank is None:
                raise NotFound(f"no bank named {bank_name!r}")
            to = self._to_member(t, to_name)
            if bank["owner"] == to["name"]:
                raise Conflict(f"bank {bank_name!r} already belongs to {to['name']!r}")
            self._transfer(t, bank, to, actor)

    # -- removal ------------------------------------------------------------------------
    def remove_member(self, name: str, actor: str, *, transfer_banks_to: str | None = None) -> dict[str, Any]:
        """Delete a member (refused while it owns banks, unless they move to ``transfer_banks_to``);
        its keys, webhooks, feed, feedback and shares go with it; its submissions and tasks stay."""
        with self.state.change() as t:
            member = self._member_row(t, name)
            banks = sorted((b for b in t.banks.values() if b["owner"] == member["name"]), key=lambda b: b["name"])
            to = None
            if transfer_banks_to is not None:
                to = self._to_member(t, transfer_banks_to)
                if to["id"] == member["id"]:
                    raise InvalidInput(f"cannot transfer {name!r}'s banks to {name!r} itself")
            if banks and to is None:
                listed = ", ".join(b["name"] for b in banks[:10]) + (" …" if len(banks) > 10 else "")
                raise Conflict(f"member {name!r} owns {len(banks)} bank(s) ({listed}); transfer them first "
                               "(`--transfer-banks-to OTHER`, or `tahaluf bank transfer NAME --to OTHER`) "
                               "or delete them")
            for bank in banks:
                assert to is not None
                self._transfer(t, bank, to, actor)
            member_id = member["id"]
            details = {
                "roles": list(member["roles"]),
                "banks_transferred": [b["name"] for b in banks],
                "transferred_to": to["name"] if to is not None and banks else None,
                "keys": sum(1 for k in t.keys.values() if k["member_id"] == member_id),
                "webhooks_deleted": sum(1 for h in t.webhooks.values() if h["member_id"] == member_id),
                "feedback_deleted": sum(1 for (_i, m) in t.feedback if m == member_id),
                "submissions_kept": sum(1 for s in t.submissions.values() if s["member_id"] == member_id),
                "review_tasks_kept": sum(1 for r in t.tasks.values() if r["member_id"] == member_id),
            }
            self._forget(t, member_id)
            self.hub.append_audit(actor, "member.remove", f"member:{member['name']}", details)
        return details

    @staticmethod
    def _forget(t: Tables, member_id: int) -> None:
        """What SQL's foreign keys do: cascade keys, shares, webhooks, feed, feedback; keep the rest."""
        del t.members[member_id]
        for table in (t.keys, t.feed):
            for i in [i for i, row in table.items() if row["member_id"] == member_id]:
                del table[i]
        hooks = {i for i, h in t.webhooks.items() if h["member_id"] == member_id}
        for i in hooks:
            del t.webhooks[i]
        for i in [i for i, d in t.deliveries.items() if d["webhook_id"] in hooks]:
            del t.deliveries[i]
        for shared in t.shares.values():
            shared.discard(member_id)
        for key in [k for k in t.feedback if k[1] == member_id]:
            del t.feedback[key]
        for sub in t.submissions.values():
            if sub["member_id"] == member_id:
                sub["member_id"] = None
        for task in t.tasks.values():
            if task["member_id"] == member_id:
                task["member_id"] = None
            if task["claimed_by"] == member_id:
                task["claimed_by"] = None
        for decision in t.decisions.values():
            if decision["member_id"] == member_id:
                decision["member_id"] = None
