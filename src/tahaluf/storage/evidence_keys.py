"""The evidence keyring and the sealed-blob format (AES-256-GCM).

Keys are ``id:base64key`` entries, the first one current; they come from
(first that applies):

1. ``TAHALUF_EVIDENCE_KEYS`` (comma-separated entries; read-only: rotate by
   changing the variable);
2. the key file (``TAHALUF_EVIDENCE_KEY_FILE``, else ``<database file>.evidence-keys``
   beside an SQLite database, else ``<user data dir>/tahaluf/evidence-<db>.keys``):
   one entry per line, created mode 0600 with one fresh key on first use.

A sealed blob is ``TEV1 | len(key id) | key id | 12-byte nonce | ciphertext+tag``;
the AAD binds it to its address and key: ``tahaluf-evidence-v1 \\0 sha256 \\0 key id``.
Opening checks the tag and then the SHA-256 of the plaintext: a blob that was
altered, moved to another address or opened with the wrong key is an error,
never garbage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tahaluf.errors import InvalidInput, NotFound, StorageError
from tahaluf.ports.evidence import KeyringInfo

__all__ = ["ENV_KEYS", "EvidenceKey", "FileKeyring", "parse_keys", "seal", "sealed_key_id", "unseal"]

ENV_KEYS = "TAHALUF_EVIDENCE_KEYS"
_MAGIC = b"TEV1"
_AAD = b"tahaluf-evidence-v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NONCE = 12


@dataclass(frozen=True, slots=True)
class EvidenceKey:
    id: str
    secret: bytes = field(repr=False)


def parse_keys(text: str, where: str) -> list[EvidenceKey]:
    """``id:base64key`` entries separated by commas or lines (``#`` comments); 32-byte keys."""
    keys: list[EvidenceKey] = []
    lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
    for raw in ",".join(lines).split(","):
        entry = raw.strip()
        if not entry:
            continue
        key_id, sep, b64 = entry.partition(":")
        if not sep or not _KEY_ID.match(key_id.strip()):
            raise StorageError(f"{where}: each key is 'id:base64key' (id: letters, digits, '.', '_', '-')")
        try:
            secret = base64.b64decode(b64.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise StorageError(f"{where}: key {key_id.strip()!r} is not valid base64") from None
        if len(secret) != 32:
            raise StorageError(f"{where}: key {key_id.strip()!r} has {len(secret)} bytes; AES-256 needs 32")
        if any(k.id == key_id.strip() for k in keys):
            raise StorageError(f"{where}: key id {key_id.strip()!r} appears twice")
        keys.append(EvidenceKey(key_id.strip(), secret))
    if not keys:
        raise StorageError(f"{where}: no evidence key")
    return keys


def _new_key() -> EvidenceKey:
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return EvidenceKey(f"k{stamp}-{secrets.token_hex(3)}", AESGCM.generate_key(bit_length=256))


def _aad(sha256: str, key_id: str) -> bytes:
    return b"\0".join((_AAD, sha256.encode("ascii"), key_id.encode("ascii")))


def seal(key: EvidenceKey, sha256: str, data: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    kid = key.id.encode("ascii")
    return _MAGIC + bytes([len(kid)]) + kid + nonce + AESGCM(key.secret).encrypt(nonce, data, _aad(sha256, key.id))


def sealed_key_id(blob: bytes, sha256: str) -> str:
    if not blob.startswith(_MAGIC) or len(blob) < 5 + blob[4] + _NONCE + 16:
        raise StorageError(f"evidence {sha256} is not a sealed tahaluf blob (damaged or replaced)")
    try:
        return blob[5:5 + blob[4]].decode("ascii")
    except UnicodeDecodeError:
        raise StorageError(f"evidence {sha256} has a damaged header") from None


def unseal(keys: list[EvidenceKey], sha256: str, blob: bytes) -> bytes:
    key_id = sealed_key_id(blob, sha256)
    key = next((k for k in keys if k.id == key_id), None)
    if key is None:
        raise StorageError(f"evidence {sha256} is sealed with key {key_id!r}, which is not in the keyring")
    start = 5 + len(key_id)
    nonce, body = blob[start:start + _NONCE], blob[start + _NONCE:]
    try:
        plain = AESGCM(key.secret).decrypt(nonce, body, _aad(sha256, key_id))
    except InvalidTag:
        raise StorageError(f"evidence {sha256} failed its integrity check: the blob was altered, or key "
                           f"{key_id!r} is not the key it was sealed with") from None
    if hashlib.sha256(plain).hexdigest() != sha256:  # pragma: no cover - the AAD already binds the address
        raise StorageError(f"evidence {sha256} does not hash to its address")
    return plain


def _format(keys: list[EvidenceKey]) -> str:
    lines = ["# tahaluf evidence keys: id:base64key, the first is current. Keep secret; back up with the "
             "hub's configuration."]
    lines += [f"{k.id}:{base64.b64encode(k.secret).decode('ascii')}" for k in keys]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a 0600 file holding ``text``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write the evidence key file {path}: {exc.strerror}") from exc


class FileKeyring:
    """Keys from ``env_value`` (``TAHALUF_EVIDENCE_KEYS``), else the file at ``path``
    (created on first use), else (``path`` None) kept in memory."""

    def __init__(self, path: Path | None, env_value: str | None = None) -> None:
        self.path = path
        self.env_value = env_value or None
        self._keys: list[EvidenceKey] | None = None
        self._seen: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @property
    def source(self) -> str:
        return "environment" if self.env_value else "file" if self.path is not None else "memory"

    def keys(self) -> list[EvidenceKey]:
        """The keys, the current first; a key file changed by another process (a rotation
        from the command line while the server runs) is read again."""
        with self._lock:
            stamp = self._stamp()
            if self._keys is None or stamp != self._seen:
                self._keys = self._load()
                self._seen = self._stamp()
            return list(self._keys)

    def _stamp(self) -> tuple[int, int] | None:
        if self.env_value or self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    def current(self) -> EvidenceKey:
        return self.keys()[0]

    def _load(self) -> list[EvidenceKey]:
        if self.env_value:
            return parse_keys(self.env_value, ENV_KEYS)
        if self.path is None:
            return [_new_key()]
        try:
            return parse_keys(self.path.read_text(encoding="ascii"), str(self.path))
        except FileNotFoundError:
            keys = [_new_key()]
            _write_private(self.path, _format(keys))
            return keys
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"cannot read the evidence key file {self.path}: {exc}") from exc

    def info(self) -> KeyringInfo:
        keys = self.keys()
        return KeyringInfo(self.source, str(self.path) if self.path and not self.env_value else None, keys[0].id,
                           tuple(k.id for k in keys))

    def _replace(self, keys: list[EvidenceKey]) -> KeyringInfo:
        if self.env_value:
            raise InvalidInput(f"the evidence keys come from {ENV_KEYS}: change that variable instead")
        if self.path is not None:
            _write_private(self.path, _format(keys))
        with self._lock:
            self._keys = keys
            self._seen = self._stamp()
        return self.info()

    def rotate(self) -> KeyringInfo:
        return self._replace([_new_key(), *self.keys()])

    def remove(self, key_id: str) -> KeyringInfo:
        keys = self.keys()
        if keys[0].id == key_id:
            raise InvalidInput(f"key {key_id!r} is the current key; rotate first")
        if all(k.id != key_id for k in keys):
            raise NotFound(f"no evidence key {key_id!r}")
        return self._replace([k for k in keys if k.id != key_id])
