"""The hash chain of the audit log (pure: no I/O).

Each entry's hash is ``sha256(prev_hash || canonical_json(entry))`` where the
canonical form covers ``id``, ``at`` (ISO 8601, UTC, microseconds), ``actor``,
``action``, ``target`` and ``details`` (JSON with sorted keys, no spaces,
UTF-8). The first entry's ``prev_hash`` is :data:`GENESIS`. Editing any field
of an entry breaks its hash; deleting or reordering entries breaks the next
entry's ``prev_hash`` link and the id sequence. Deleting entries at the end
of the log leaves a valid shorter chain: compare the head with one recorded
elsewhere (``tahaluf audit head`` / ``audit verify --head``) to catch that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["GENESIS", "AuditRecord", "entry_hash", "verify_chain", "canonical_time"]

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": canonical_time(self.at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def canonical_time(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    prev_hash: str, entry_id: int, at: datetime, actor: str, action: str, target: str, details: dict[str, Any]
) -> str:
    body = json.dumps(
        [entry_id, canonical_time(at), actor, action, target, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def verify_chain(entries: Iterable[AuditRecord], *, start_prev: str = GENESIS, start_id: int = 1) -> list[str]:
    """Every problem found walking ``entries`` in id order (empty: the chain holds)."""
    problems: list[str] = []
    prev = start_prev
    expected_id = start_id
    for e in entries:
        if e.id != expected_id:
            if e.id > expected_id:
                gap = f"{expected_id}" if e.id - 1 == expected_id else f"{expected_id}..{e.id - 1}"
                problems.append(f"entry {gap} missing (deleted?)")
            else:
                problems.append(f"entry {e.id} out of order")
        if e.prev_hash != prev:
            problems.append(f"entry {e.id}: link to the previous entry is broken")
        recomputed = entry_hash(e.prev_hash, e.id, e.at, e.actor, e.action, e.target, e.details)
        if recomputed != e.hash:
            problems.append(f"entry {e.id}: contents do not match its hash (edited?)")
        prev = e.hash
        expected_id = e.id + 1
    return problems
