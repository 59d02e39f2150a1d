"""The unit-of-work port: a change and the audit entry that records it commit together.

``with uow.change() as change: ...; change.audit(note)`` — everything the block
stores, and the audit entries it appends, commit at the end of the block or
not at all (an exception rolls all of it back).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["AuditNote", "Change", "FeedNote", "UnitOfWork"]


@dataclass(frozen=True, slots=True)
class AuditNote:
    """An audit entry to append in the same transaction as a change."""

    actor: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedNote:
    """Feed entries (one per member) to add in the same transaction as a change."""

    member_ids: Sequence[int]
    kind: str
    payload: dict[str, Any]


class Change(Protocol):
    """An open change: what it stores, and its audit entries, commit together."""

    @property
    def conn(self) -> Any:
        """The backend's transaction handle, for ports that take ``conn=`` (opaque to services)."""
        ...

    def audit(self, note: AuditNote) -> None:
        """Append ``note`` to the audit log as part of this change."""
        ...


class UnitOfWork(Protocol):
    """Opens changes; nested ``change()`` blocks join the open one."""

    def change(self) -> AbstractContextManager[Change]: ...
