"""The hash chain of the audit log and its signed heads (pure: no I/O).

Each entry's hash is ``sha256(prev_hash || body)``; the first entry's
``prev_hash`` is :data:`GENESIS`. Two body formats exist:

* **v2** (written since schema 0005): the entry's details are stored as their
  canonical JSON text (:func:`canonical_json`: sorted keys, no spaces, ASCII
  with ``\\u`` escapes, finite numbers only) and the body is
  ``[id,"at",actor,action,target,<that exact text>]``. The hash covers the
  bytes that are stored, so a database that re-encodes JSON (PostgreSQL's
  JSONB turns ``-0.0`` into ``0``, reorders keys, widens numbers) cannot make
  an intact entry look edited.
* **legacy** (entries written before 0005, ``details_text`` empty): the body
  is the JSON dump of ``[id, at, actor, action, target, details]`` re-made
  from the stored details (sorted keys, UTF-8). Kept so old logs still verify.

Editing any field of an entry breaks its hash; deleting or reordering entries
breaks the next entry's ``prev_hash`` link and the id sequence. Someone who
can write to the database can still recompute every later hash; the hub
therefore signs heads of the chain with a key kept outside the database
(:func:`head_message`, Ed25519), and :func:`check_signed_heads` tells a
rewritten or truncated chain from the one the hub signed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tahaluf.signals.hexdigits import is_lower_hex

__all__ = [
    "GENESIS",
    "SIGN_EVERY",
    "AuditRecord",
    "SignedHead",
    "canonical_json",
    "entry_hash",
    "entry_hash_v2",
    "verify_chain",
    "canonical_time",
    "head_message",
    "parse_head",
]

GENESIS = "0" * 64
#: the hub signs the head every this many entries (and on ``audit head`` / ``audit sign``)
SIGN_EVERY = 100


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
    #: the stored canonical JSON of ``details`` (v2 entries); None for legacy entries
    details_text: str | None = None
    #: the queryable JSON copy of a v2 entry's details says something else than its text
    copy_differs: bool = False

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


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A head of the chain (entry ``entry_id`` had hash ``entry_hash``) signed by the hub."""

    entry_id: int
    entry_hash: str
    signed_at: datetime
    public_key: str  # hex, Ed25519 raw public key
    signature: str  # hex


def canonical_time(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data: tuples become lists, keys text, and anything JSON
    cannot hold (NaN, infinities, other objects) its ``repr`` text, so that an
    audit entry can always be written and its text always parsed back."""
    if depth > 64:
        return repr(value)[:200]
    if isinstance(value, str):
        return _storable(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {_storable(str(k)): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    return repr(value)


def _storable(text: str) -> str:
    """``text`` with what no database's JSON type keeps (NUL, lone surrogates) as U+FFFD."""
    if text.isascii():
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def canonical_json(value: Any) -> str:
    """The one text of ``value`` that v2 entries store and hash: sorted keys, no
    spaces, ASCII only (``\\uXXXX`` escapes, so NUL and lone surrogates survive
    any database), numbers as Python writes them (shortest round-trip floats,
    ``-0.0`` kept, big integers exact), no NaN."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def entry_hash(
    prev_hash: str, entry_id: int, at: datetime, actor: str, action: str, target: str, details: dict[str, Any]
) -> str:
    """The legacy hash (entries written before schema 0005)."""
    body = json.dumps(
        [entry_id, canonical_time(at), actor, action, target, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def entry_hash_v2(
    prev_hash: str, entry_id: int, at: datetime, actor: str, action: str, target: str, details_text: str
) -> str:
    """The hash of a v2 entry: over the stored details text, byte for byte."""
    head = json.dumps([entry_id, canonical_time(at), actor, action, target], separators=(",", ":"),
                      ensure_ascii=True)
    body = head[:-1] + "," + details_text + "]"
    return hashlib.sha256((prev_hash + body).encode("utf-8", "surrogatepass")).hexdigest()


def record_hash(e: AuditRecord) -> str:
    """What ``e.hash`` must be, given its stored fields."""
    if e.details_text is not None:
        return entry_hash_v2(e.prev_hash, e.id, e.at, e.actor, e.action, e.target, e.details_text)
    return entry_hash(e.prev_hash, e.id, e.at, e.actor, e.action, e.target, e.details)


def verify_chain(entries: Iterable[AuditRecord], *, start_prev: str = GENESIS, start_id: int = 1) -> list[str]:
    """Every problem found walking ``entries`` in id order (empty: the chain holds)."""
    problems: list[str] = []
    prev = start_prev
    expected_id = start_id
    seen_v2 = False
    for e in entries:
        if e.id != expected_id:
            if e.id > expected_id:
                gap = f"{expected_id}" if e.id - 1 == expected_id else f"{expected_id}..{e.id - 1}"
                problems.append(f"entry {gap} missing (deleted?)")
            else:
                problems.append(f"entry {e.id} out of order")
        if e.prev_hash != prev:
            problems.append(f"entry {e.id}: link to the previous entry is broken")
        try:
            recomputed = record_hash(e)
        except (TypeError, ValueError):  # details no longer JSON-serialisable
            recomputed = ""
        if recomputed != e.hash:
            problems.append(f"entry {e.id}: contents do not match its hash (edited?)")
        if e.copy_differs:
            problems.append(f"entry {e.id}: its details column differs from the hashed details (edited?)")
        if e.details_text is None and seen_v2:
            problems.append(f"entry {e.id}: in the pre-0005 format after newer entries (rewritten?)")
        seen_v2 = seen_v2 or e.details_text is not None
        prev = e.hash
        expected_id = e.id + 1
    return problems


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON values are the same data, as far as a database's JSON
    type can tell (numbers by value: JSONB keeps ``-0.0`` as ``0``, ``1.0`` as ``1.0``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        try:
            return a == b or float(a) == float(b)
        except OverflowError:
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def head_message(entry_id: int, entry_hash: str) -> bytes:
    """The bytes the hub signs for a head: the entry's id and hash."""
    return f"tahaluf-audit-head:v1:{entry_id}:{entry_hash}".encode("ascii")


def parse_head(text: str) -> tuple[int | None, str]:
    """A recorded head as ``audit head`` prints it (``"16 <hash>"``) or just the
    hash: (id or None, hash). ValueError if it is neither."""
    parts = text.replace(":", " ").split()
    if len(parts) == 2 and parts[0].isdigit():
        entry_id, digest = int(parts[0]), parts[1].lower()
    elif len(parts) == 1:
        entry_id, digest = None, parts[0].lower()
    else:
        raise ValueError(text)
    if not is_lower_hex(digest, 64):
        raise ValueError(text)
    return entry_id, digest


def check_recorded_head(
    head: tuple[int | None, str], hashes: Mapping[int, str], by_hash: Mapping[str, int],
) -> str | None:
    """A problem, or None when the recorded head is still in the chain."""
    entry_id, digest = head
    if entry_id is None:
        if digest in by_hash:
            return None
        return f"the recorded head {digest} is not in the chain (entries edited or deleted?)"
    found = hashes.get(entry_id)
    if found == digest:
        return None
    if found is None:
        return f"the recorded head, entry {entry_id}, is gone (entries deleted from the end?)"
    return f"entry {entry_id} no longer has the recorded hash {digest} (entries edited or rewritten?)"


def check_signed_heads(
    heads: Sequence[SignedHead], hashes: Mapping[int, str], last_id: int, trusted_keys: Sequence[str],
    verify_signature: Any, *, first_v2_id: int | None,
) -> tuple[list[str], int]:
    """Problems with the signed heads, and how many were checked.

    ``hashes``: entry id -> hash of the chain as stored. Each signed head must
    carry a valid signature by a trusted key and name an entry that still has
    that hash. Every v2 entry whose id is a multiple of :data:`SIGN_EVERY`,
    and the first v2 entry, must have a signed head (the hub writes them in
    the entry's own transaction), so deleting signatures is noticed too.
    """
    problems: list[str] = []
    good: set[int] = set()
    for h in heads:
        if h.public_key not in trusted_keys:
            problems.append(f"signed head of entry {h.entry_id}: signed by an unknown key {h.public_key[:16]}...")
            continue
        if not verify_signature(h.public_key, h.signature, head_message(h.entry_id, h.entry_hash)):
            problems.append(f"signed head of entry {h.entry_id}: the signature does not verify (forged?)")
            continue
        found = hashes.get(h.entry_id)
        if found is None:
            problems.append(f"entry {h.entry_id}, a signed head, is gone (entries deleted?)")
        elif found != h.entry_hash:
            problems.append(f"entry {h.entry_id} differs from the head the hub signed (chain rewritten?)")
        else:
            good.add(h.entry_id)
    if first_v2_id is not None:
        due = {first_v2_id} | {i for i in range(SIGN_EVERY, last_id + 1, SIGN_EVERY) if i >= first_v2_id}
        missing = sorted(due - good - {h.entry_id for h in heads})
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
            problems.append(f"no signed head for entries {shown} (signatures deleted?)")
    return problems, len(good)
