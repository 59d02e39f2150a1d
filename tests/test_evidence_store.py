"""The sealed blob folder and its keyring: what is on disk, tampering, wrong keys, rotation and rekey."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from evidence_helpers import submit_bytes

from tahaluf.bootstrap import memory_ports, open_hub
from tahaluf.config import HubConfig
from tahaluf.errors import Conflict, InvalidInput, StorageError
from tahaluf.services.evidence import EvidenceService
from tahaluf.services.hub import Hub
from tahaluf.storage.evidence_blobs import FileBlobStore, evidence_dir_for, evidence_key_path_for
from tahaluf.storage.evidence_keys import FileKeyring
from tahaluf.storage.engine import resolve_url

#: neutral generated content: a sentence repeated, so any plaintext leak is easy to find
PLAIN = b"The weekly market opens at seven; bring your own bags. " * 200


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs", FileKeyring(tmp_path / "keys"))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_bytes_on_disk_are_sealed_not_the_plaintext(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sha = _sha(PLAIN)
    key_id = store.put(sha, PLAIN)
    [blob] = _files(tmp_path / "blobs")
    on_disk = blob.read_bytes()
    assert blob.name == sha and key_id == store.keyring.info().current
    assert on_disk != PLAIN and b"weekly market" not in on_disk and PLAIN[:32] not in on_disk
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600
    assert store.get(sha) == PLAIN
    keys = tmp_path / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert base64.b64encode(PLAIN[:24]).decode() not in keys.read_text()


def test_the_same_content_is_stored_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sha = _sha(PLAIN)
    store.put(sha, PLAIN)
    store.put(sha, PLAIN)
    assert len(_files(tmp_path / "blobs")) == 1
    with pytest.raises(StorageError, match="do not match"):
        store.put(sha, PLAIN + b"!")


def test_a_tampered_blob_is_an_error_not_garbage(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sha = _sha(PLAIN)
    store.put(sha, PLAIN)
    [blob] = _files(tmp_path / "blobs")
    raw = bytearray(blob.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    blob.write_bytes(bytes(raw))
    with pytest.raises(StorageError, match="failed its integrity check"):
        store.get(sha)
    # a blob copied to another address does not open there either (the AAD binds its address)
    other = _sha(b"another sentence about the library")
    store.put(sha, PLAIN)
    (tmp_path / "blobs" / other[:2]).mkdir(exist_ok=True)
    (tmp_path / "blobs" / other[:2] / other).write_bytes(blob.read_bytes())
    with pytest.raises(StorageError, match="failed its integrity check"):
        store.get(other)


def test_a_wrong_or_missing_key_is_an_error(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sha = _sha(PLAIN)
    key_id = store.put(sha, PLAIN)
    wrong = base64.b64encode(os.urandom(32)).decode()
    same_id_other_key = FileBlobStore(tmp_path / "blobs", FileKeyring(None, f"{key_id}:{wrong}"))
    with pytest.raises(StorageError, match="failed its integrity check"):
        same_id_other_key.get(sha)
    unknown = FileBlobStore(tmp_path / "blobs", FileKeyring(None, f"other:{wrong}"))
    with pytest.raises(StorageError, match="not in the keyring"):
        unknown.get(sha)


def test_keys_from_the_environment_are_read_only(tmp_path: Path) -> None:
    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    ring = FileKeyring(tmp_path / "unused", f"new:{k1}, old:{k2}")
    info = ring.info()
    assert (info.source, info.current, info.key_ids) == ("environment", "new", ("new", "old"))
    assert not (tmp_path / "unused").exists()
    with pytest.raises(InvalidInput, match="TAHALUF_EVIDENCE_KEYS"):
        ring.rotate()
    for bad in ("nocolon", "a:notbase64!", f"a:{base64.b64encode(b'short').decode()}", f"a:{k1},a:{k2}", " "):
        with pytest.raises(StorageError):
            FileKeyring(None, bad).info()


def test_rotation_then_rekey_moves_every_blob_and_frees_the_old_key(tmp_path: Path) -> None:
    cfg = HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False,
                    evidence_dir=str(tmp_path / "blobs"), evidence_key_file=str(tmp_path / "keys"))
    hub = open_hub(cfg)
    try:
        from_submissions = _submit_three(hub)
        svc = EvidenceService(hub)
        old = hub.ports.blobs.keyring.info().current
        new = svc.rotate_key("cli:test").current
        assert new != old and hub.ports.blobs.keyring.info().key_ids == (new, old)
        for sha in from_submissions:  # old blobs still open with the old key
            assert hub.ports.blobs.get(sha)
        with pytest.raises(Conflict, match="rekey"):
            svc.remove_key("cli:test", old)
        report = svc.rekey("cli:test")
        assert (report.rekeyed, report.missing) == (3, [])
        assert hub.ports.evidence.keys_in_use() == {new: 3}
        for blob in _files(tmp_path / "blobs"):
            assert new.encode() in blob.read_bytes()[:80]
        svc.remove_key("cli:test", old)
        assert FileKeyring(tmp_path / "keys").info().key_ids == (new,)  # as a fresh process reads it
        fresh = FileBlobStore(tmp_path / "blobs", FileKeyring(tmp_path / "keys"))
        assert sorted(fresh.get(sha) for sha in from_submissions) == sorted(_CONTENTS)
        assert svc.rekey("cli:test").rekeyed == 0  # nothing left to move
    finally:
        hub.close()


_CONTENTS = [f"Sentence {n} about the weather in the valley.".encode() * 50 for n in range(3)]


def _submit_three(hub: Hub) -> list[str]:
    return [submit_bytes(hub, "alpha", data, suffix=".txt").sha256 for data in _CONTENTS]


def test_default_locations_are_beside_the_database_never_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAHALUF_EVIDENCE_DIR", raising=False)
    monkeypatch.delenv("TAHALUF_EVIDENCE_KEY_FILE", raising=False)
    url = resolve_url(f"sqlite:///{tmp_path / 'hub.db'}")
    assert evidence_dir_for(url) == Path(f"{tmp_path / 'hub.db'}.evidence")
    assert evidence_key_path_for(url) == Path(f"{tmp_path / 'hub.db'}.evidence-keys")
    pg = resolve_url("postgresql://postgres@127.0.0.1/test")
    assert not str(evidence_dir_for(pg)).startswith(os.getcwd() + os.sep) or os.getcwd() == "/"
    assert evidence_dir_for(pg).is_absolute() and evidence_key_path_for(pg).is_absolute()
    assert evidence_dir_for(url, "/srv/evidence") == Path("/srv/evidence")


def test_memory_hub_keeps_sealed_evidence_too() -> None:
    hub = open_hub(HubConfig(snapshot=False), ports=memory_ports())
    try:
        got = submit_bytes(hub, "alpha", PLAIN, suffix=".txt")
        sealed = hub.ports.blobs.blobs[got.sha256][0]  # type: ignore[attr-defined]
        assert b"weekly market" not in sealed and hub.ports.blobs.get(got.sha256) == PLAIN
    finally:
        hub.close()


def test_a_rotation_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    server = FileKeyring(tmp_path / "keys")
    first = server.info().current
    operator = FileKeyring(tmp_path / "keys")  # the command line, another process
    new = operator.rotate().current
    assert server.info().current == new and server.info().key_ids == (new, first)
