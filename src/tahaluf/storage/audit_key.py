"""The hub's audit-signing key: an Ed25519 private key in a file outside the
database, created on first use.

Where it lives (first that applies):

1. ``TAHALUF_AUDIT_KEY_FILE`` (a path);
2. for a SQLite database, ``<database file>.audit-key`` beside it (the hub's
   data folder);
3. otherwise ``<user data dir>/tahaluf/audit-signing.key``.

The file is PEM (PKCS#8, unencrypted), mode 0600. Back it up with the hub's
configuration, not with the database: whoever holds it can sign heads.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import platformdirs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import URL

from tahaluf.errors import StorageError
from tahaluf.storage.engine import sqlite_path

__all__ = ["AuditKey", "key_path_for", "verify_signature"]

ENV = "TAHALUF_AUDIT_KEY_FILE"


def key_path_for(url: URL) -> Path:
    """Where the signing key of the hub on database ``url`` lives."""
    configured = os.environ.get(ENV)
    if configured:
        return Path(configured).expanduser()
    database = sqlite_path(url) if url.get_backend_name() == "sqlite" else None  # an SQLite URI's file, too
    if database is not None:
        return Path(f"{database}.audit-key")
    return Path(platformdirs.user_data_dir("tahaluf")) / "audit-signing.key"


class AuditKey:
    """The private key at ``path`` (read, or created, on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: Ed25519PrivateKey | None = None

    def _load(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = _read_or_create(self.path)
        return self._key

    @property
    def public_key(self) -> str:
        """The raw public key, hex (64 characters)."""
        raw = self._load().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return raw.hex()

    def sign(self, message: bytes) -> str:
        return self._load().sign(message).hex()

    def exists(self) -> bool:
        return self._key is not None or self.path.exists()


def _read(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise StorageError(f"cannot read the audit signing key {path}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise StorageError(f"{path} is not an unencrypted PEM private key (the audit signing key)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise StorageError(f"{path} is not an Ed25519 key (the audit signing key)")
    return key


def _read_or_create(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return _read(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process made first
        except FileExistsError:
            return _read(path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the audit signing key {path}: {exc.strerror}") from exc
    return key


def verify_signature(public_key_hex: str, signature_hex: str, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True
