"""Sealed evidence blobs in a folder, and where that folder and the keys live.

``<folder>/<sha256[:2]>/<sha256>`` holds the sealed blob (see
:mod:`tahaluf.storage.evidence_keys`). Each write goes to a temporary file in
the same folder, is flushed with ``fsync`` and renamed over the blob (then the
folder is synced): a crash leaves the old blob or the new one, never half of
one. Partial writes (``.tmp`` files) left by a crash are removed by
:meth:`FileBlobStore.older_than` once they are an hour old.

Where (first that applies): the configured folder (``TAHALUF_EVIDENCE_DIR``);
``<database file>.evidence/`` beside an SQLite database; else
``<user data dir>/tahaluf/evidence/<database key>/``. Never the working folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from pathlib import Path

import platformdirs
from sqlalchemy.engine import URL

from tahaluf.errors import NotFound, StorageError
from tahaluf.storage.engine import sqlite_path
from tahaluf.storage.evidence_keys import FileKeyring, seal, sealed_key_id, unseal

__all__ = ["ENV_DIR", "ENV_KEY_FILE", "FileBlobStore", "MemoryBlobStore", "evidence_dir_for", "evidence_key_path_for"]

ENV_DIR = "TAHALUF_EVIDENCE_DIR"
ENV_KEY_FILE = "TAHALUF_EVIDENCE_KEY_FILE"

_SHA = re.compile(r"^[0-9a-f]{64}$")
#: partial writes older than this are debris of a crash
_STALE_TMP_S = 3600.0


def _db_key(url: URL) -> str:
    canonical = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    return hashlib.sha256(canonical.render_as_string(hide_password=False).encode("utf-8")).hexdigest()[:16]


def evidence_dir_for(url: URL, configured: str | None = None) -> Path:
    """The blob folder of the hub on database ``url`` (``configured``, else ``TAHALUF_EVIDENCE_DIR``)."""
    configured = configured or os.environ.get(ENV_DIR)
    if configured:
        return Path(configured).expanduser()
    database = sqlite_path(url) if url.get_backend_name() == "sqlite" else None
    if database is not None:
        return Path(f"{database}.evidence")
    return Path(platformdirs.user_data_dir("tahaluf")) / "evidence" / _db_key(url)


def evidence_key_path_for(url: URL, configured: str | None = None) -> Path:
    """The evidence key file of the hub on database ``url`` (``configured``, else ``TAHALUF_EVIDENCE_KEY_FILE``)."""
    configured = configured or os.environ.get(ENV_KEY_FILE)
    if configured:
        return Path(configured).expanduser()
    database = sqlite_path(url) if url.get_backend_name() == "sqlite" else None
    if database is not None:
        return Path(f"{database}.evidence-keys")
    return Path(platformdirs.user_data_dir("tahaluf")) / f"evidence-{_db_key(url)}.keys"


def _check_sha(sha256: str) -> str:
    if not _SHA.match(sha256):
        raise StorageError(f"not an evidence address: {sha256!r}")
    return sha256


class FileBlobStore:
    """Sealed blobs in ``folder`` (created on first write, mode 0700)."""

    def __init__(self, folder: Path, keyring: FileKeyring) -> None:
        self.folder = folder
        self._keyring = keyring

    @property
    def keyring(self) -> FileKeyring:
        return self._keyring

    def _path(self, sha256: str) -> Path:
        return self.folder / _check_sha(sha256)[:2] / sha256

    def _write(self, path: Path, sealed: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(sealed)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write evidence to {self.folder}: {exc.strerror}") from exc

    def _read(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"the evidence blob {sha256} is missing from the evidence folder") from None
        except OSError as exc:
            raise StorageError(f"cannot read evidence {sha256}: {exc.strerror}") from exc

    def put(self, sha256: str, data: bytes) -> str:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StorageError("evidence bytes do not match their SHA-256 address")
        key = self._keyring.current()
        self._write(self._path(sha256), seal(key, sha256, data))
        return key.id

    def has(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def get(self, sha256: str) -> bytes:
        return unseal(self._keyring.keys(), sha256, self._read(sha256))

    def reseal(self, sha256: str) -> str:
        sealed = self._read(sha256)
        key = self._keyring.current()
        if sealed_key_id(sealed, sha256) == key.id:
            unseal([key], sha256, sealed)  # still check it opens
            return key.id
        plain = unseal(self._keyring.keys(), sha256, sealed)
        self._write(self._path(sha256), seal(key, sha256, plain))
        return key.id

    def delete(self, sha256: str) -> bool:
        try:
            self._path(sha256).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete evidence {sha256}: {exc.strerror}") from exc
        return True

    def older_than(self, age_s: float) -> list[str]:
        if not self.folder.is_dir():
            return []
        cutoff = time.time() - age_s
        stale_tmp = time.time() - max(age_s, _STALE_TMP_S)
        found: list[str] = []
        for sub in sorted(self.folder.iterdir()):
            if not sub.is_dir():
                continue
            for entry in sorted(sub.iterdir()):
                try:
                    mtime = entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                if entry.name.endswith(".tmp"):
                    if mtime < stale_tmp:
                        entry.unlink(missing_ok=True)
                elif _SHA.match(entry.name) and mtime < cutoff:
                    found.append(entry.name)
        return found


class MemoryBlobStore:
    """The same sealed blobs kept in a dict (tests, in-memory hubs)."""

    def __init__(self, keyring: FileKeyring) -> None:
        self._keyring = keyring
        self.blobs: dict[str, tuple[bytes, float]] = {}

    @property
    def keyring(self) -> FileKeyring:
        return self._keyring

    def _read(self, sha256: str) -> bytes:
        found = self.blobs.get(_check_sha(sha256))
        if found is None:
            raise NotFound(f"the evidence blob {sha256} is missing")
        return found[0]

    def put(self, sha256: str, data: bytes) -> str:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StorageError("evidence bytes do not match their SHA-256 address")
        key = self._keyring.current()
        self.blobs[sha256] = (seal(key, sha256, data), time.time())
        return key.id

    def has(self, sha256: str) -> bool:
        return sha256 in self.blobs

    def get(self, sha256: str) -> bytes:
        return unseal(self._keyring.keys(), sha256, self._read(sha256))

    def reseal(self, sha256: str) -> str:
        plain = self.get(sha256)
        key = self._keyring.current()
        self.blobs[sha256] = (seal(key, sha256, plain), time.time())
        return key.id

    def delete(self, sha256: str) -> bool:
        return self.blobs.pop(sha256, None) is not None

    def older_than(self, age_s: float) -> list[str]:
        cutoff = time.time() - age_s
        return sorted(s for s, (_b, at) in self.blobs.items() if at < cutoff)
