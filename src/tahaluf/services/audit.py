"""The hub's audit log as a service: append (in the caller's transaction),
read, verify the hash chain, sign its head, show the signing key. The API and
the command line call these; the chain itself is kept behind the
:class:`~tahaluf.ports.hub.AuditLog` port (its format in :mod:`tahaluf.audit`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tahaluf.access import Capability, Principal
from tahaluf.audit import AuditRecord, SignedHead
from tahaluf.ports.banks import BankRepository
from tahaluf.ports.hub import AuditCheck, HubRepository

__all__ = ["AuditService", "AuditPage", "PublicKey"]


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditRecord]
    #: entry id to continue after (None: no more)
    next_after: int | None


@dataclass(frozen=True, slots=True)
class PublicKey:
    #: Ed25519 public key, hex
    public_key: str
    #: where the hub keeps its key file
    path: str


def _admin(actor: Principal | str) -> None:
    if isinstance(actor, Principal):
        actor.require(Capability.ADMIN)


class AuditService:
    """Append, read, verify and sign the hash-chained audit log.

    Calling the service (``hub.audit.append(actor, action, target, details)``) appends an entry."""

    def __init__(self, hubstore: HubRepository, store: BankRepository) -> None:
        self.hubstore = hubstore
        self.store = store

    def append(self, actor: Principal | str, action: str, target: str,
               details: dict[str, Any] | None = None) -> AuditRecord:
        """Append an entry, in the transaction open in this thread (see :meth:`change`)."""
        who = actor.name if isinstance(actor, Principal) else actor
        return self.hubstore.append_audit(who, action, target, details or {})

    def change(self) -> Any:
        """One write transaction: ``with audit.change(): <change>; audit.append(...)`` commits
        the change and its audit entry together, or neither."""
        return self.store.transaction()

    def entries(self, actor: Principal | str, *, after: int = 0, limit: int = 100, actor_name: str | None = None,
                action: str | None = None) -> AuditPage:
        """A page of entries in order (admins, or the command line)."""
        _admin(actor)
        found = self.hubstore.list_audit(after_id=after, limit=limit + 1, actor=actor_name, action=action)
        more = len(found) > limit
        found = found[:limit]
        return AuditPage(found, found[-1].id if more and found else None)

    def verify(self, actor: Principal | str, *, recorded_head: tuple[int | None, str] | None = None,
               trusted_keys: Sequence[str] | None = None) -> AuditCheck:
        """Walk the chain and check the signed heads (see :meth:`HubStore.verify_audit`)."""
        _admin(actor)
        return self.hubstore.verify_audit(recorded_head=recorded_head, trusted_keys=trusted_keys)

    def sign(self, actor: Principal | str) -> SignedHead | None:
        """Sign the current head with the hub's key (None: the log is empty)."""
        _admin(actor)
        return self.hubstore.sign_head()

    def public_key(self, actor: Principal | str) -> PublicKey:
        """The hub's audit public key, for auditors' ``verify --public-key``."""
        _admin(actor)
        key = self.hubstore.key
        return PublicKey(key.public_key, str(key.path) if key.path is not None else "(in memory)")
