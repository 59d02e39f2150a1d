"""Accounts of organisations: API keys with their own roles and labels, role
changes, removing a member and moving a bank to another member.

Every change here is written in one transaction together with its audit entry
(:meth:`HubStore.append_audit` with ``conn=``), so a change is never stored
without its entry, nor an entry without its change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from tahaluf.access import ROLES
from tahaluf.errors import Conflict, InvalidInput, NotFound
from tahaluf.storage.models import (
    ApiKey,
    Bank,
    BankShare,
    ChangeLog,
    Feedback,
    Member,
    ReviewTask,
    Submission,
    Webhook,
    table,
)
from tahaluf.ports.accounts import KeyInfo, NewKey
from tahaluf.ports.clock import now
from tahaluf.storage.repository.hub_sql import HubStore, MemberRecord
from tahaluf.storage.repository.rows import as_utc as _utc

__all__ = ["AccountStore", "KeyInfo", "NewKey"]

_members = table(Member)
_keys = table(ApiKey)
_banks = table(Bank)
_shares = table(BankShare)
_changes = table(ChangeLog)


def _key(row: Any) -> KeyInfo:
    return KeyInfo(
        row.id, row.member_id, row.prefix, row.label, None if row.roles is None else tuple(row.roles),
        _utc(row.created_at), row.created_by, _utc(row.last_used_at) if row.last_used_at else None,
        _utc(row.revoked_at) if row.revoked_at else None,
    )


def _member(row: Any) -> MemberRecord:
    return MemberRecord(row.id, row.name, tuple(row.roles or ()), bool(row.enabled), _utc(row.created_at))


class AccountStore:
    """Keys, roles, removals and transfers of one database (audit entries through ``hubstore``)."""

    def __init__(self, hubstore: HubStore) -> None:
        self.hubstore = hubstore
        self.store = hubstore.store

    def _audit(self, conn: Connection, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
        self.hubstore.append_audit(actor, action, target, details, conn=conn)

    @staticmethod
    def _member_row(conn: Connection, name: str) -> MemberRecord:
        """The member, its row locked until the transaction ends (PostgreSQL; SQLite
        write transactions are serial): a removal, a role change and a new key of
        one member never interleave."""
        row = conn.execute(select(_members).where(_members.c.name == name).with_for_update()).first()
        if row is None:
            raise NotFound(f"no member named {name!r} (see `tahaluf member list`)")
        return _member(row)

    # -- authentication -------------------------------------------------------------
    def key_holder(self, key_hash: str) -> tuple[MemberRecord, KeyInfo] | None:
        """The enabled member and its unrevoked key with this hash."""
        with self.store.connection() as conn:
            row = conn.execute(
                select(_members, _keys.c.id.label("key_id"))
                .join(_keys, _keys.c.member_id == _members.c.id)
                .where(_keys.c.key_hash == key_hash, _keys.c.revoked_at.is_(None), _members.c.enabled.is_(True))
            ).first()
            if row is None:
                return None
            key = conn.execute(select(_keys).where(_keys.c.id == row.key_id)).one()
        return _member(row), _key(key)

    def touch_keys(self, used: dict[int, datetime]) -> None:
        """Record when keys were last used (``{key id: at}``; never moves a time back)."""
        if not used:
            return
        with self.store.transaction() as conn:
            for key_id, at in sorted(used.items()):
                conn.execute(update(_keys).where(
                    _keys.c.id == key_id, or_(_keys.c.last_used_at.is_(None), _keys.c.last_used_at < at),
                ).values(last_used_at=at))

    # -- keys -----------------------------------------------------------------------
    def keys_of(self, member_id: int) -> list[KeyInfo]:
        with self.store.connection() as conn:
            rows = conn.execute(select(_keys).where(_keys.c.member_id == member_id).order_by(_keys.c.id)).all()
        return [_key(r) for r in rows]

    def add_key(self, member_name: str, key: NewKey, actor: str) -> tuple[MemberRecord, KeyInfo]:
        """Store a new key of the member; its roles must be among the member's."""
        with self.store.transaction() as conn:
            member = self._member_row(conn, member_name)
            if key.roles is not None:
                beyond = [r for r in key.roles if r not in member.roles]
                if beyond:
                    raise InvalidInput(f"member {member.name!r} does not hold role {', '.join(beyond)} "
                                       f"(it holds {', '.join(member.roles)}); a key's roles are a subset of its "
                                       "organisation's")
            key_id = conn.execute(insert(_keys).values(
                member_id=member.id, key_hash=key.key_hash, prefix=key.prefix, created_at=now(),
                roles=key.roles, label=key.label, created_by=actor,
            )).inserted_primary_key[0]
            self._audit(conn, actor, "key.add", f"member:{member.name}",
                        {"key": key_id, "prefix": key.prefix, "label": key.label, "roles": key.roles})
            row = conn.execute(select(_keys).where(_keys.c.id == key_id)).one()
        return member, _key(row)

    def _find_key(self, conn: Connection, member: MemberRecord, selector: str) -> Any:
        """A key of ``member`` by id (digits) or by its prefix."""
        query = select(_keys).where(_keys.c.member_id == member.id)
        if selector.isdigit():
            rows = conn.execute(query.where(_keys.c.id == int(selector))).all()
        else:
            rows = [r for r in conn.execute(query).all() if r.prefix.startswith(selector)] if selector else []
        if not rows:
            raise NotFound(f"member {member.name!r} has no key {selector!r} (see `tahaluf key list {member.name}`)")
        live = [r for r in rows if r.revoked_at is None]
        if len(live) > 1:
            raise InvalidInput(f"{selector!r} names {len(live)} keys of {member.name!r}; give the key's id")
        return live[0] if live else rows[0]

    def revoke_key(self, member_name: str, selector: str, actor: str) -> tuple[MemberRecord, KeyInfo]:
        with self.store.transaction() as conn:
            member = self._member_row(conn, member_name)
            row = self._find_key(conn, member, selector)
            if row.revoked_at is not None:
                raise Conflict(f"key {row.id} ({row.prefix}…) of {member.name!r} was already revoked "
                               f"at {_utc(row.revoked_at).isoformat()}")
            conn.execute(update(_keys).where(_keys.c.id == row.id).values(revoked_at=now()))
            self._audit(conn, actor, "key.revoke", f"member:{member.name}",
                        {"key": row.id, "prefix": row.prefix, "label": row.label})
            done = conn.execute(select(_keys).where(_keys.c.id == row.id)).one()
        return member, _key(done)

    def replace_key(self, key_id: int, key: NewKey, actor: str) -> KeyInfo:
        """Revoke one key and store its successor with the same roles and label."""
        with self.store.transaction() as conn:
            old = conn.execute(select(_keys).where(_keys.c.id == key_id)).first()
            if old is None or old.revoked_at is not None:
                raise Conflict("this key was revoked meanwhile")
            member = conn.execute(select(_members.c.name).where(_members.c.id == old.member_id)).scalar_one()
            conn.execute(update(_keys).where(_keys.c.id == key_id).values(revoked_at=now()))
            new_id = conn.execute(insert(_keys).values(
                member_id=old.member_id, key_hash=key.key_hash, prefix=key.prefix, created_at=now(),
                roles=old.roles, label=old.label, created_by=actor,
            )).inserted_primary_key[0]
            self._audit(conn, actor, "key.rotate", f"member:{member}",
                        {"revoked": [key_id], "key": new_id, "prefix": key.prefix})
            row = conn.execute(select(_keys).where(_keys.c.id == new_id)).one()
        return _key(row)

    # -- roles ----------------------------------------------------------------------
    def set_roles(self, member_name: str, roles: Sequence[str], actor: str) -> MemberRecord:
        """Change a member's roles. Keys with roles of their own keep only those still
        held; a key left with none is revoked. Keys without roles of their own follow."""
        at = now()
        with self.store.transaction() as conn:
            member = self._member_row(conn, member_name)
            conn.execute(update(_members).where(_members.c.id == member.id).values(roles=list(roles)))
            narrowed, revoked = [], []
            for row in conn.execute(select(_keys).where(_keys.c.member_id == member.id,
                                                        _keys.c.revoked_at.is_(None),
                                                        _keys.c.roles.is_not(None))).all():
                kept = [r for r in ROLES if r in row.roles and r in roles]
                if not kept:
                    conn.execute(update(_keys).where(_keys.c.id == row.id).values(revoked_at=at))
                    revoked.append(row.id)
                elif len(kept) != len(row.roles):
                    conn.execute(update(_keys).where(_keys.c.id == row.id).values(roles=kept))
                    narrowed.append(row.id)
            self._audit(conn, actor, "member.roles", f"member:{member.name}", {
                "roles": list(roles), "previous": list(member.roles), "keys_narrowed": narrowed,
                "keys_revoked": revoked,
            })
            row = conn.execute(select(_members).where(_members.c.id == member.id)).one()
            return _member(row)

    # -- banks ------------------------------------------------------------------------
    def _transfer(self, conn: Connection, bank: Any, to: MemberRecord, actor: str) -> None:
        # bank names are scoped per owner (stored key: name, or owner:name): the receiver
        # must not end up with two banks of one name
        short = bank.name.rsplit(":", 1)[-1]
        for other in conn.execute(select(_banks.c.name).where(_banks.c.owner == to.name)).scalars():
            if other.rsplit(":", 1)[-1] == short:
                raise Conflict(f"{to.name!r} already has a bank named {short!r}; rename or delete one first")
        conn.execute(update(_banks).where(_banks.c.id == bank.id).values(owner=to.name))
        # the new owner sees its bank as owner, not through a share
        conn.execute(delete(_shares).where(_shares.c.bank_id == bank.id, _shares.c.member_id == to.id))
        conn.execute(insert(_changes).values(bank_id=bank.id, item_id=None, op="update", at=now()))
        self._audit(conn, actor, "bank.transfer", f"bank:{bank.name}", {"from": bank.owner, "to": to.name})

    def transfer_bank(self, bank_name: str, to_name: str, actor: str) -> None:
        """Give a bank (its items, visibility and shares) to another member."""
        with self.store.transaction() as conn:
            bank = conn.execute(select(_banks).where(_banks.c.name == bank_name)).first()
            if bank is None:
                raise NotFound(f"no bank named {bank_name!r}")
            to = self._to_member(conn, to_name)
            if bank.owner == to.name:
                raise Conflict(f"bank {bank_name!r} already belongs to {to.name!r}")
            self._transfer(conn, bank, to, actor)

    def _to_member(self, conn: Connection, name: str) -> MemberRecord:
        # shared lock: the receiving member cannot be removed before this commits
        row = conn.execute(select(_members).where(_members.c.name == name).with_for_update(read=True)).first()
        if row is None:
            raise InvalidInput(f"cannot transfer to {name!r}: no such member")
        return _member(row)

    # -- removal ------------------------------------------------------------------------
    def remove_member(self, name: str, actor: str, *, transfer_banks_to: str | None = None) -> dict[str, Any]:
        """Delete a member. Refused while it owns banks, unless they move to
        ``transfer_banks_to``. Its keys, webhooks (and their deliveries), feed,
        feedback and bank shares go with it; its submissions, review tasks and
        decisions stay, without a member. Returns what was removed or moved."""
        with self.store.transaction() as conn:
            member = self._member_row(conn, name)
            banks = conn.execute(select(_banks).where(_banks.c.owner == member.name).order_by(_banks.c.name)).all()
            to = None
            if transfer_banks_to is not None:
                to = self._to_member(conn, transfer_banks_to)
                if to.id == member.id:
                    raise InvalidInput(f"cannot transfer {name!r}'s banks to {name!r} itself")
            if banks and to is None:
                listed = ", ".join(b.name for b in banks[:10]) + (" …" if len(banks) > 10 else "")
                raise Conflict(f"member {name!r} owns {len(banks)} bank(s) ({listed}); transfer them first "
                               "(`--transfer-banks-to OTHER`, or `tahaluf bank transfer NAME --to OTHER`) "
                               "or delete them")
            for bank in banks:
                assert to is not None
                self._transfer(conn, bank, to, actor)

            def count(table: Any, column: Any) -> int:
                return int(conn.execute(select(func.count()).select_from(table).where(column == member.id))
                           .scalar_one())

            details = {
                "roles": list(member.roles),
                "banks_transferred": [b.name for b in banks],
                "transferred_to": to.name if to is not None and banks else None,
                "keys": count(_keys, _keys.c.member_id),
                "webhooks_deleted": count(table(Webhook), table(Webhook).c.member_id),
                "feedback_deleted": count(table(Feedback), table(Feedback).c.member_id),
                "submissions_kept": count(table(Submission), table(Submission).c.member_id),
                "review_tasks_kept": count(table(ReviewTask), table(ReviewTask).c.member_id),
            }
            # foreign keys do the rest: CASCADE (keys, shares, webhooks, feed, feedback),
            # SET NULL (submissions, review tasks, their claims and decisions)
            conn.execute(delete(_members).where(_members.c.id == member.id))
            self._audit(conn, actor, "member.remove", f"member:{member.name}", details)
        return details
