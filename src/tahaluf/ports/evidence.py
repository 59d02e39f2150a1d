"""The evidence ports: submitted media kept for review, encrypted, content-addressed.

Three narrow interfaces:

* :class:`EvidenceRepository` — the metadata in the database: one row per
  blob (``sha256``, size, media type, the key it is sealed with) and one per
  submission linking it to its blob, with its retention and legal hold.
* :class:`BlobStore` — the sealed bytes themselves (a folder of files, or
  memory), addressed by the SHA-256 of the plaintext.
* :class:`Keyring` — the AES-GCM keys (the first is current). Secrets never
  leave storage: services see key ids only.

A blob is written and deleted inside the database transaction that links or
unlinks it, under :meth:`EvidenceRepository.lock`: a crash between the two
leaves a blob file no row names (swept by the purge after an hour), never a
row half written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "BlobRecord", "BlobStore", "EvidenceRecord", "EvidenceRepository", "Keyring", "KeyringInfo", "NewEvidence",
]


@dataclass(frozen=True, slots=True)
class NewEvidence:
    sha256: str  # of the plaintext, hex
    size: int  # plaintext bytes
    media_type: str
    key_id: str  # the key the blob was sealed with


@dataclass(frozen=True, slots=True)
class BlobRecord:
    sha256: str
    size: int
    media_type: str
    key_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """A submission's evidence: its blob, retention and legal hold (``purged_at``: gone since)."""

    submission_id: int
    member_id: int | None
    sha256: str
    size: int
    media_type: str
    key_id: str | None  # None once purged
    retain_until: datetime
    hold: bool
    hold_reason: str | None
    hold_by: str | None
    hold_at: datetime | None
    created_at: datetime
    purged_at: datetime | None = None


@runtime_checkable
class EvidenceRepository(Protocol):
    """Evidence metadata. Calls made inside ``uow.change()`` join its transaction."""

    def lock(self) -> None:
        """Serialise evidence changes until the open transaction ends (blob writes and deletes)."""
        ...

    def link(self, submission_id: int, blob: NewEvidence, retain_until: datetime) -> bool:
        """Link a submission to a blob (the blob row made if new; a purged link made live again, with
        this retention and no hold); False if it has a live link already."""
        ...

    def get(self, submission_id: int) -> EvidenceRecord | None: ...

    def blob(self, sha256: str) -> BlobRecord | None: ...

    def set_hold(self, submission_id: int, hold: bool, reason: str | None, by: str | None, at: datetime) -> bool: ...

    def set_retention(self, submission_id: int, retain_until: datetime) -> bool: ...

    def expired(self, at: datetime, limit: int) -> list[EvidenceRecord]:
        """Live (not purged) evidence past ``retain_until`` and not on hold."""
        ...

    def mark_purged(self, submission_ids: Sequence[int], at: datetime) -> list[str]:
        """Mark these links purged; delete and return the blobs no live link names any more."""
        ...

    def known(self, shas: Sequence[str]) -> set[str]:
        """Which of these blobs have a row."""
        ...

    def blobs_not_under(self, key_id: str, *, after: str, limit: int) -> list[BlobRecord]:
        """Blob rows sealed with another key than ``key_id``, in sha256 order after ``after``."""
        ...

    def set_key(self, sha256: str, key_id: str) -> None: ...

    def keys_in_use(self) -> dict[str, int]:
        """Blob count per key id."""
        ...


@dataclass(frozen=True, slots=True)
class KeyringInfo:
    source: str  # "file" | "environment" | "memory"
    path: str | None
    current: str
    key_ids: tuple[str, ...]  # current first


@runtime_checkable
class Keyring(Protocol):
    def info(self) -> KeyringInfo:
        """The keys (created on first use when none exist)."""
        ...

    def rotate(self) -> KeyringInfo:
        """A new current key; the old ones still decrypt."""
        ...

    def remove(self, key_id: str) -> KeyringInfo:
        """Forget a key that is not current (the caller checks no blob needs it)."""
        ...


@runtime_checkable
class BlobStore(Protocol):
    """Sealed blobs addressed by the SHA-256 of their plaintext (AAD: the address and key id)."""

    @property
    def keyring(self) -> Keyring: ...

    def put(self, sha256: str, data: bytes) -> str:
        """Seal ``data`` with the current key and store it (atomically); the key id."""
        ...

    def has(self, sha256: str) -> bool: ...

    def get(self, sha256: str) -> bytes:
        """The plaintext; NotFound when absent, StorageError when it fails its integrity check."""
        ...

    def reseal(self, sha256: str) -> str:
        """Re-encrypt a blob with the current key (atomically); the key id."""
        ...

    def delete(self, sha256: str) -> bool: ...

    def older_than(self, age_s: float) -> list[str]:
        """Blobs stored longer than ``age_s`` ago (stale partial writes are removed on the way)."""
        ...
