"""The evidence ports' contract and the purge, on the in-memory stores, SQLite and PostgreSQL
(PostgreSQL on a fresh schema per test, never skipped under CI=true: ``conftest.pg_schema_url``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import pg_schema_url
from evidence_helpers import member, photo_bytes, submit_bytes

from tahaluf.bootstrap import Ports, memory_ports, open_hub, sql_ports
from tahaluf.config import HubConfig
from tahaluf.errors import NotFound
from tahaluf.ports.evidence import BlobStore, EvidenceRepository, Keyring, NewEvidence
from tahaluf.ports.reviews import NewSubmission, NewTask
from tahaluf.ports.transactions import AuditNote
from tahaluf.services.evidence import EvidenceService
from tahaluf.storage import open_store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
A = b"A neutral note about the opening hours of the library. " * 20
B = b"A neutral note about the weather in the valley. " * 20


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def ports(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ports]:
    if request.param == "memory":
        yield memory_ports()
        return
    urls = [f"sqlite:///{tmp_path / 'tahaluf.db'}"] if request.param == "sqlite" else pg_schema_url()
    for url in urls:  # one URL; a PostgreSQL schema is dropped afterwards
        with open_store(url) as store:
            yield sql_ports(store, evidence_dir=str(tmp_path / "blobs"), evidence_key_file=str(tmp_path / "keys"))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _submission(ports: Ports, member_id: int, n: int) -> int:
    sub = NewSubmission(member_id, "content", [{"type": "md5", "value": f"{n:032x}"}], sha256=None)
    task = NewTask("submission", member_id, f"key-{n}", sub.signals, [])
    sub_id, _task, _new = ports.reviews.add_submission(sub, task, AuditNote("tester", "submission.add", "submission"))
    return sub_id


def _keep(ports: Ports, sub_id: int, data: bytes, retain_until: datetime) -> None:
    with ports.uow.change():
        ports.evidence.lock()
        key_id = ports.blobs.put(_sha(data), data)
        ports.evidence.link(sub_id, NewEvidence(_sha(data), len(data), "text/plain", key_id), retain_until)


def test_every_evidence_port_implements_its_protocol(ports: Ports) -> None:
    assert isinstance(ports.evidence, EvidenceRepository)
    assert isinstance(ports.blobs, BlobStore)
    assert isinstance(ports.blobs.keyring, Keyring)


def test_links_holds_retention_and_purge_marks(ports: Ports) -> None:
    m = ports.hub.add_member("demo-org", ["reviewer"], "h1" * 32, "tah_aaaa")
    s1, s2, s3 = (_submission(ports, m.id, n) for n in range(3))
    later = T0 + timedelta(days=90)
    _keep(ports, s1, A, T0)
    _keep(ports, s2, A, later)  # the same content: one blob, two links
    _keep(ports, s3, B, T0)
    with ports.uow.change():
        assert ports.evidence.link(s1, NewEvidence(_sha(A), len(A), "text/plain", "k"), later) is False
    got = ports.evidence.get(s1)
    assert got is not None and (got.member_id, got.sha256, got.size, got.media_type) == (m.id, _sha(A), len(A),
                                                                                      "text/plain")
    assert got.retain_until == T0 and not got.hold and got.purged_at is None
    assert got.key_id == ports.blobs.keyring.info().current
    assert ports.evidence.get(999) is None
    assert ports.evidence.keys_in_use() == {got.key_id: 2}
    assert ports.evidence.known([_sha(A), _sha(B), "0" * 64]) == {_sha(A), _sha(B)}

    with ports.uow.change():
        assert ports.evidence.set_hold(s3, True, "court order 12", "admin-a", T0)
    held = ports.evidence.get(s3)
    assert held is not None and (held.hold, held.hold_reason, held.hold_by) == (True, "court order 12", "admin-a")
    assert [e.submission_id for e in ports.evidence.expired(T0, 100)] == [s1]  # s2 not due, s3 held
    with ports.uow.change():
        assert ports.evidence.mark_purged([s1], T0) == []  # A is still linked from s2
    purged = ports.evidence.get(s1)
    assert purged is not None and purged.purged_at == T0 and purged.key_id is None
    assert ports.evidence.blob(_sha(A)) is not None
    with ports.uow.change():
        assert ports.evidence.set_retention(s2, T0)
        assert ports.evidence.mark_purged([s2], T0) == [_sha(A)]  # its last live link
    assert ports.evidence.blob(_sha(A)) is None and ports.evidence.expired(T0, 100) == []
    with ports.uow.change():  # submitted again while its task is open: kept anew
        assert ports.evidence.link(s1, NewEvidence(_sha(A), len(A), "text/plain", "k2"), later) is True
    again = ports.evidence.get(s1)
    assert again is not None and again.purged_at is None and again.retain_until == later and again.key_id == "k2"
    assert [b.sha256 for b in ports.evidence.blobs_not_under("k2", after="", limit=10)] == [_sha(B)]
    assert [b.sha256 for b in ports.evidence.blobs_not_under(held.key_id or "", after="", limit=10)] == [_sha(A)]
    assert ports.evidence.blobs_not_under("other", after=max(_sha(A), _sha(B)), limit=10) == []


def test_a_failed_change_leaves_no_link(ports: Ports) -> None:
    m = ports.hub.add_member("demo-org", ["reviewer"], "h1" * 32, "tah_aaaa")
    sub = _submission(ports, m.id, 7)
    with pytest.raises(RuntimeError), ports.uow.change():
        ports.evidence.link(sub, NewEvidence(_sha(A), len(A), "text/plain", "k"), T0)
        raise RuntimeError("crash before the commit")
    assert ports.evidence.get(sub) is None and ports.evidence.blob(_sha(A)) is None


def test_the_purge_keeps_what_it_must(ports: Ports) -> None:
    hub = open_hub(HubConfig(snapshot=False), ports=ports)
    m = ports.hub.add_member("demo-org", ["reviewer"], "h1" * 32, "tah_aaaa")
    now = ports.clock.now()
    past, future = now - timedelta(days=1), now + timedelta(days=30)
    expired, shared_expired, shared_live, held, fresh = (_submission(ports, m.id, n) for n in range(5))
    _keep(ports, expired, b"expired " + A, past)
    _keep(ports, shared_expired, A, past)
    _keep(ports, shared_live, A, future)
    _keep(ports, held, B, past)
    _keep(ports, fresh, b"fresh " + B, future)
    svc = EvidenceService(hub)
    svc.hold("cli:test", held, "kept for a court case")
    orphan = b"a blob whose row never committed"
    ports.blobs.put(_sha(orphan), orphan)

    dry = svc.purge("cli:test", dry_run=True, orphan_age_s=0)
    assert dry.submissions == [expired, shared_expired] and ports.blobs.has(_sha(b"expired " + A))
    report = svc.purge("cli:test", orphan_age_s=0)
    assert report.submissions == [expired, shared_expired]
    assert report.blobs == [_sha(b"expired " + A)] and report.orphans == [_sha(orphan)]
    assert not ports.blobs.has(_sha(b"expired " + A)) and not ports.blobs.has(_sha(orphan))
    for kept in (A, B, b"fresh " + B):  # linked from a live submission, held, not yet due
        assert ports.blobs.has(_sha(kept))
    assert svc.original("cli:test", shared_live, "check the shared copy").data == A
    with pytest.raises(NotFound, match="purged"):
        svc.original("cli:test", shared_expired, "too late")
    assert svc.purge("cli:test", orphan_age_s=0).submissions == []  # nothing twice
    svc.release("cli:test", held, "the case is closed")
    assert svc.purge("cli:test").submissions == [held] and not ports.blobs.has(_sha(B))
    actions = [e.action for e in ports.hub.iter_audit()]
    assert actions.count("evidence.purge") == 3 and "evidence.hold" in actions and "evidence.release" in actions
    assert ports.hub.verify_audit().problems == []


def test_a_submission_racing_the_purge_never_links_a_missing_blob(ports: Ports) -> None:
    """The purge deletes a blob whose last link expired while another member submits the same
    content: whoever wins the evidence lock, a live link always has its blob."""
    hub = open_hub(HubConfig(snapshot=False), ports=ports)
    hub.load()
    data = photo_bytes(51)
    sha = _sha(data)
    first, second = member(hub, "first-org"), member(hub, "second-org")
    svc = EvidenceService(hub)
    for round_ in range(6):
        old = submit_bytes(hub, first, data, suffix=".png")
        assert svc.retain("cli:test", old.submission_id, T0, "expired for the test") is not None
        with ThreadPoolExecutor(2) as pool:
            purged = pool.submit(svc.purge, "cli:test")
            fresh = pool.submit(submit_bytes, hub, second, data, suffix=".png")
            purged.result(timeout=60)
            kept = fresh.result(timeout=60)
        record = ports.evidence.get(kept.submission_id)
        if record is not None and record.purged_at is None:
            assert ports.blobs.get(sha) == data, f"round {round_}: a live link without its blob"
        svc.retain("cli:test", kept.submission_id, T0, "expired for the test")
        svc.purge("cli:test")
        assert not ports.blobs.has(sha) and ports.evidence.blob(sha) is None
