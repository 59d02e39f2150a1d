"""Banks as members see them: creating, changing, deleting and giving away
banks, their visibility and sharing, and each bank's name for each member
(see :mod:`tahaluf.services.bank_names`). The API and the command line call
:class:`BankService`; the command line acts as the hub operator (an audit
name instead of a :class:`Principal`) and names banks by their stored key."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tahaluf.access import Capability, Principal
from tahaluf.banks import bank_stats, get_bank, new_bank
from tahaluf.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tahaluf.labels import LabelVocabulary, default_vocabulary
from tahaluf.services.audit import AuditService
from tahaluf.services.bank_names import (
    KEY_CHARS,
    QUALIFIER,
    bank_label,
    qualified_name,
    resolve_bank,
    short_name,
)
from tahaluf.ports.accounts import AccountRepository
from tahaluf.ports.banks import BankRecord, Repository
from tahaluf.ports.hub import HubRepository
from tahaluf.ports.vocabulary import VISIBILITIES

__all__ = ["BankService", "BankView", "StoredBank", "Transferred"]


@dataclass(frozen=True, slots=True)
class BankView:
    """A bank as a member sees it (``label``: its name for that member)."""

    record: BankRecord
    shared_with: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        b = self.record
        out = {
            "name": self.label or b.name,
            "kind": b.kind,
            "owner": b.owner,
            "visibility": b.visibility,
            "shared_with": list(self.shared_with),
            "default_labels": b.default_labels,
            "signal_types": b.signal_types,
            "pdq_max_distance": b.pdq_max_distance,
            "created_at": b.created_at.isoformat(),
        }
        if self.counts:
            out["counts"] = self.counts
        return out


@dataclass(frozen=True, slots=True)
class Transferred:
    #: the bank's name for everyone after the move (``owner:name``)
    bank: str
    owner: str | None

    def to_json(self) -> dict[str, Any]:
        return {"bank": self.bank, "owner": self.owner}


@dataclass(frozen=True, slots=True)
class StoredBank:
    """A bank as the hub operator sees it (by stored key), with its item counts."""

    record: BankRecord
    counts: dict[str, int]


def _check_visibility(visibility: str) -> None:
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")


class BankService:
    """Bank CRUD, sharing and visibility, with a per-worker cache of the bank list
    and share lists (refreshed every ``cache_s`` and after :meth:`forget`)."""

    def __init__(self, store: Repository, hubstore: HubRepository, accounts: AccountRepository,
                 audit: AuditService, vocabulary: LabelVocabulary, cache_s: float) -> None:
        self.store = store
        self.hubstore = hubstore
        self.accounts = accounts
        self.audit = audit
        self.vocabulary = vocabulary
        self.cache_s = cache_s
        self._shares: dict[int, list[str]] = {}
        self._banks: list[BankRecord] = []
        self._shares_at = 0.0

    # -- the cached bank list -----------------------------------------------------
    def forget(self) -> None:
        """Read bank owners, visibility and shares again at the next use (after a change)."""
        self._shares_at = 0.0

    def _bank_shares(self) -> dict[int, list[str]]:
        now = time.monotonic()
        if now - self._shares_at > self.cache_s:
            self._shares_at = now  # before reading: an invalidation during the read (0.0) wins
            self._shares = self.hubstore.bank_shares()
            self._banks = self.store.list_banks()
        return self._shares

    def by_name(self) -> dict[str, BankRecord]:
        """Every bank by stored key (the cached list)."""
        self._bank_shares()
        return {b.name: b for b in self._banks}

    # -- what a member sees -------------------------------------------------------------
    def visible(self, actor: Principal, *, cached: bool = False) -> list[BankView]:
        """The banks ``actor`` may see, each labelled with its name for ``actor``; ``cached``
        (the lookup path) uses the worker's bank list instead of reading the database."""
        shares = self._bank_shares()
        records = self._banks if cached else self.store.list_banks()
        seen = [b for b in records if actor.sees_bank(b.owner, b.visibility, shares.get(b.id, ()))]
        by_short: dict[str, list[BankRecord]] = {}
        for b in seen:
            by_short.setdefault(short_name(b.name), []).append(b)
        return [BankView(b, tuple(shares.get(b.id, ())), label=bank_label(actor, b, by_short[short_name(b.name)]))
                for b in seen]

    def visible_names(self, actor: Principal) -> set[str]:
        """Stored keys (as matches carry them) of the banks ``actor`` sees."""
        return {v.record.name for v in self.visible(actor, cached=True)}

    def labels(self, actor: Principal) -> dict[str, str]:
        """Stored key -> the name ``actor`` is shown, for the banks it sees (cached list)."""
        return {v.record.name: v.label or v.record.name for v in self.visible(actor, cached=True)}

    def get(self, actor: Principal, name: str) -> BankView:
        """The bank ``name`` names for ``actor``; NotFound when it names no bank ``actor``
        may see, exactly as for a name no bank has."""
        shares = self._bank_shares()
        seen = [b for b in self.store.list_banks() if actor.sees_bank(b.owner, b.visibility, shares.get(b.id, ()))]
        found = resolve_bank(actor, name, seen)
        if found is None:
            raise NotFound(f"no bank named {name!r}")
        return BankView(found, tuple(shares.get(found.id, ())), label=bank_label(actor, found, seen))

    def show(self, actor: Principal, name: str) -> BankView:
        """:meth:`get` with the bank's item counts."""
        view = self.get(actor, name)
        return replace(view, counts=bank_stats(self.store, view.record))

    def for_change(self, actor: Principal, name: str) -> BankView:
        """The bank if ``actor`` may change it (curator owning it, or admin)."""
        actor.require(Capability.CURATE)
        view = self.get(actor, name)
        if not actor.owns_bank(view.record.owner):
            raise PermissionDenied(f"bank {view.label or name!r} belongs to {view.record.owner or 'the hub operator'}; "
                                   "only its owner or an admin may change it")
        return view

    # -- changes ----------------------------------------------------------------------
    def create(
        self,
        actor: Principal,
        name: str,
        kind: str = "known",
        labels: Mapping[str, Any] | None = None,
        *,
        visibility: str = "private",
        shared_with: Sequence[str] = (),
        signal_types: Sequence[str] | None = None,
        pdq_max_distance: int = 31,
        vocabulary: Any = None,
    ) -> BankView:
        """Create a bank owned by ``actor``: the bank, its owner, visibility, shares and
        audit entry are one transaction, so no one ever sees it otherwise.

        Names are scoped per owner: Conflict only when ``actor`` already owns a bank of
        that name. Another member's bank of the same name (visible or not) changes nothing
        in the answer; the new bank is then stored under the key ``owner:name``."""
        actor.require(Capability.CURATE)
        _check_visibility(visibility)
        member_ids = self._member_ids(shared_with)
        spec = new_bank(name, kind, labels, signal_types=signal_types, pdq_max_distance=pdq_max_distance,
                        vocabulary=vocabulary or self.vocabulary, owner=actor.name, visibility=visibility)
        room = KEY_CHARS - len(actor.name) - len(QUALIFIER)
        if len(name) > room:  # whatever other banks exist: the answer must not depend on them
            raise InvalidInput(f"bank name too long: a bank of {actor.name!r} may have a name of at most "
                               f"{max(room, 0)} characters")
        with self.store.transaction() as conn:
            taken = self.hubstore.lock_bank_names(conn)
            if any(owner == actor.name and short_name(key) == name for key, owner in taken):
                raise Conflict(f"you already have a bank named {name!r}")
            if name in {key for key, _ in taken}:
                spec = replace(spec, name=f"{actor.name}{QUALIFIER}{name}")
            record = self.store.create_bank(spec, conn=conn)
            if member_ids:
                self.hubstore.set_bank_shares(record.id, member_ids, conn=conn)
            self.hubstore.append_audit(actor.name, "bank.create", f"bank:{record.name}",
                                       {"kind": kind, "visibility": visibility, "shared_with": sorted(shared_with)},
                                       conn=conn)
        self.forget()
        return self.get(actor, f"{actor.name}{QUALIFIER}{name}")

    def create_as_operator(
        self,
        actor: str,
        name: str,
        kind: str = "known",
        labels: Mapping[str, Any] | None = None,
        *,
        owner: str | None = None,
        visibility: str = "all",
        pdq_max_distance: int = 31,
        vocabulary: LabelVocabulary | None = None,
    ) -> BankRecord:
        """Create a bank from the command line (the hub operator, audited as ``actor``):
        stored under ``name`` itself, owned by ``owner`` (None: the hub operator)."""
        if owner is not None and self.hubstore.get_member(owner) is None:
            raise InvalidInput(f"no member named {owner!r} (see `tahaluf member list`)")
        spec = new_bank(name, kind, labels, pdq_max_distance=pdq_max_distance,
                        vocabulary=vocabulary or self.vocabulary, owner=owner, visibility=visibility)
        with self.audit.change():  # the bank and its audit entry commit together
            record = self.store.create_bank(spec)
            self.audit.append(actor, "bank.create", f"bank:{name}",
                              {"kind": kind, "visibility": visibility, "owner": owner})
        self.forget()
        return record

    def update(
        self,
        actor: Principal,
        name: str,
        *,
        labels: Mapping[str, Any] | None = None,
        visibility: str | None = None,
        shared_with: Sequence[str] | None = None,
        pdq_max_distance: int | None = None,
        vocabulary: Any = None,
    ) -> BankView:
        view = self.for_change(actor, name)
        changes: dict[str, Any] = {}
        default_labels = None
        if labels is not None:
            default_labels = (vocabulary or default_vocabulary()).validate(labels)
            changes["default_labels"] = default_labels
        if visibility is not None:
            _check_visibility(visibility)
            changes["visibility"] = visibility
        if pdq_max_distance is not None:
            if not 0 <= pdq_max_distance <= 256:
                raise InvalidInput("pdq_max_distance must be between 0 and 256")
            changes["pdq_max_distance"] = pdq_max_distance
        member_ids = self._member_ids(shared_with) if shared_with is not None else None
        with self.audit.change():
            self.store.update_bank(view.record.id, default_labels=default_labels, visibility=visibility,
                                   pdq_max_distance=pdq_max_distance)
            if member_ids is not None and shared_with is not None:
                self.hubstore.set_bank_shares(view.record.id, member_ids)
                changes["shared_with"] = sorted(shared_with)
            self.audit.append(actor, "bank.update", f"bank:{view.record.name}", changes)
        self.forget()
        return self.get(actor, qualified_name(view.record))

    def delete(self, actor: Principal | str, name: str) -> BankRecord:
        """Delete a bank and its items (a member: one it may change; the command line:
        by stored key)."""
        if isinstance(actor, Principal):
            record = self.for_change(actor, name).record
        else:
            record = self.stored(name)
        with self.audit.change():
            self.store.delete_bank(record.id)
            self.audit.append(actor, "bank.delete", f"bank:{name if isinstance(actor, str) else record.name}")
        self.forget()
        return record

    def transfer(self, actor: Principal | str, bank: str, to: str) -> Transferred:
        """Give a bank (its items, visibility and shares) to another member (admins only)."""
        if isinstance(actor, Principal):
            actor.require(Capability.ADMIN)
        who = actor.name if isinstance(actor, Principal) else actor
        # an admin names the bank as the API does (plain or owner:name); the command line by its stored key
        key = self.get(actor, bank).record.name if isinstance(actor, Principal) else bank
        self.accounts.transfer_bank(key, to, who)
        self.forget()
        record = self.store.get_bank(key)
        # the bank's name for everyone after the move (owner:name): the old owner's qualifier no longer names it
        moved = qualified_name(record) if record is not None else bank
        return Transferred(moved, record.owner if record else to)

    def operator_list(self) -> list[StoredBank]:
        """Every bank with its counts (the command line: the hub operator sees all)."""
        return [StoredBank(b, bank_stats(self.store, b)) for b in self.store.list_banks()]

    def operator_show(self, key: str) -> StoredBank:
        record = self.stored(key)
        return StoredBank(record, bank_stats(self.store, record))

    def stored(self, key: str) -> BankRecord:
        """The bank stored under ``key`` (the command line's name for it)."""
        return get_bank(self.store, key)

    def _member_ids(self, names: Sequence[str]) -> list[int]:
        ids = []
        for n in names:
            member = self.hubstore.get_member(n)
            if member is None:
                raise InvalidInput(f"cannot share with {n!r}: no such member (see GET /v1/directory)")
            ids.append(member.id)
        return ids
