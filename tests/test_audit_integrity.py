"""The audit log under crashes and re-encoding databases: a change and its audit
entry commit together (checked with real ``kill -9`` of an import and of a
server), and what is hashed is exactly what is stored."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hubproc import add_member, hub_env, run_cli, start_hub
from tahaluf.access import Principal
from tahaluf.bootstrap import open_hub, sql_ports
from tahaluf.services.hub import Hub, HubConfig
from tahaluf.signals.base import Signal
from tahaluf.storage import open_store
from tahaluf.storage.repository.webhooks_sql import WebhookStore


def _count(db_url: str, sql: str) -> int:
    with open_store(db_url) as store, store.connection() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def _import_entries(db_url: str) -> list[dict[str, Any]]:
    with open_store(db_url) as store:
        hub = open_hub(HubConfig(db=db_url, snapshot=False), store=store)
        return [e.to_json() for e in hub.hubstore.list_audit(limit=100_000) if e.action == "item.import"]


def test_an_import_killed_mid_way_leaves_no_item_without_its_audit_entry(db_url: str, tmp_path: Path) -> None:
    rng = random.Random(9)
    src = tmp_path / "hashes.txt"
    lines, kill_at = (150_000, 40_000) if db_url.startswith("sqlite") else (60_000, 20_000)
    with src.open("w") as f:
        for _ in range(lines):
            f.write(f"pdq {rng.getrandbits(256):064x}\n")
    assert run_cli(db_url, "bank", "create", "weather").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "tahaluf", "--db", db_url, "bank", "import", "weather", str(src),
                             "--format", "pytx"], env=hub_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _count(db_url, "SELECT count(*) FROM bank_items") < kill_at:  # a chunk or two committed
            assert proc.poll() is None, "the import ended before it could be killed; make the file larger"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    items = _count(db_url, "SELECT count(*) FROM bank_items")
    assert 0 < items < lines
    audited = sum(e["details"]["imported"] for e in _import_entries(db_url))
    assert audited == items  # every stored item is covered by an entry of its own chunk
    verified = run_cli(db_url, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    # re-running the import completes it, and the audit still covers every item
    again = run_cli(db_url, "bank", "import", "weather", str(src), "--format", "pytx", timeout_s=300)
    assert again.returncode == 0, again.stderr
    assert _count(db_url, "SELECT count(*) FROM bank_items") == lines
    assert sum(e["details"]["imported"] for e in _import_entries(db_url)) == lines


@pytest.mark.slow
@pytest.mark.postgres
def test_a_hub_killed_during_writes_leaves_no_item_without_its_audit_entry(tmp_path: Path) -> None:
    """Concurrent API adds, the server killed (SIGKILL, whole process group) while they
    run: every item stored must be named by an ``item.add`` entry."""
    from conftest import pg_schema_url

    for db in pg_schema_url():
        key = add_member(db, "org-admin", "admin", "curator")
        hub = start_hub(db, tmp_path / "hub", workers=2)
        stop = threading.Event()

        def writer(n: int) -> None:
            with httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
                i = 0
                while not stop.is_set():
                    try:
                        http.post("/v1/banks/markets/items", json={"items": [
                            {"external_id": f"w{n}-{i}", "signals": [{"type": "md5", "value": f"{n:04x}{i:028x}"}]}
                        ]})
                    except httpx.HTTPError:
                        return
                    i += 1

        with httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {key}"}) as http:
            assert http.post("/v1/banks", json={"name": "markets"}).status_code in (200, 201)
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        try:
            while _count(db, "SELECT count(*) FROM bank_items") < 150:
                time.sleep(0.01)
            hub.kill()
        finally:
            stop.set()
            for t in threads:
                t.join()
        with open_store(db) as store, store.connection() as conn:
            stored = {r[0] for r in conn.execute(text("SELECT external_id FROM bank_items"))}
        h = open_hub(HubConfig(db=db, snapshot=False))
        try:
            named = {x for e in h.hubstore.list_audit(limit=100_000) if e.action == "item.add"
                     and e.details.get("imported") for x in e.details["external_ids"]}
            assert stored and stored <= named, sorted(stored - named)[:10]
            assert h.hubstore.verify_audit().problems == []
        finally:
            h.close()


def _admin(hub: Hub) -> Principal:
    member, _key = hub.accounts.add_member("cli:test", "org-admin", ["admin"])
    return Principal(member.id, member.name, tuple(member.roles))


def test_a_negative_zero_setting_does_not_break_verify(db_url: str) -> None:
    hub = open_hub(HubConfig(db=db_url, snapshot=False))
    try:
        admin = _admin(hub)
        hub.settings.update(admin, {"review_match_min_score": -0.0})
        hub.settings.update(admin, {"review_match_min_score": 0.9})
        check = hub.hubstore.verify_audit()
        assert check.problems == [] and check.entries == 3
    finally:
        hub.close()


def test_details_a_json_column_would_rewrite_still_verify(db_url: str) -> None:
    hub = open_hub(HubConfig(db=db_url, snapshot=False))
    try:
        details = {"zeta": -0.0, "alpha": [1.0, 0.1, 1e300, 2**70, -(2**63)], "e\u0301": "cafe\u0301",
                   "nan": float("nan"), "nul": "a\x00b", "lone": "\ud800", "nested": {"b": 2, "a": 1}}
        written = hub.audit.append("cli:test", "settings.update", "settings", details)
        check = hub.hubstore.verify_audit()
        assert check.problems == []
        [entry] = hub.hubstore.list_audit()
        assert entry.hash == written.hash
        assert entry.details["alpha"][3] == 2**70 and entry.details["nan"] == "nan"
        assert entry.details["e\u0301"] == "cafe\u0301"  # not normalised
        assert entry.details["nul"] == "a\ufffdb" and entry.details["lone"] == "\ufffd"  # no JSON type keeps them
    finally:
        hub.close()


def test_entries_written_before_0005_still_verify(db_url: str) -> None:
    """A log written by the old code (details only in the JSON column, the legacy
    hash) verifies after the upgrade, with new entries chained after it."""
    from alembic import command
    from sqlalchemy import create_engine

    from tahaluf.audit import GENESIS, entry_hash
    from tahaluf.storage.engine import WRITE, _alembic_config, resolve_url

    engine = create_engine(resolve_url(db_url))
    cfg = _alembic_config()
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        from datetime import UTC, datetime

        prev = GENESIS
        for n in range(1, 4):
            at = datetime(2026, 11, 30, 12, 0, n, tzinfo=UTC)
            details = {"roles": ["viewer"], "n": n, "score": 0.5}
            digest = entry_hash(prev, n, at, "cli:op", "member.add", f"member:org-{n}", details)
            conn.execute(text("INSERT INTO audit_log (id, at, actor, action, target, details, prev_hash, hash) "
                              "VALUES (:id, :at, 'cli:op', 'member.add', :t, :d, :p, :h)"),
                         {"id": n, "at": at, "t": f"member:org-{n}", "d": json.dumps(details), "p": prev,
                          "h": digest})
            prev = digest
    engine.dispose()
    hub = open_hub(HubConfig(db=db_url, snapshot=False))  # migrates to 0005
    try:
        hub.audit.append("cli:op", "settings.update", "settings", {"lookup_exclude_disputed": True})
        check = hub.hubstore.verify_audit()
        assert check.problems == [] and check.entries == 4
        assert check.last_signed == 4  # the first entry in the new format is signed
    finally:
        hub.close()


class _AuditDown(Exception):
    pass


@pytest.fixture
def failing_audit(monkeypatch: pytest.MonkeyPatch):
    """Make every audit append fail, as a crash between the change and its entry would."""
    from tahaluf.storage.repository.hub_sql import HubStore

    def fail(self: HubStore, *args: object, **kwargs: object) -> None:
        raise _AuditDown("the audit entry could not be written")

    return lambda: monkeypatch.setattr(HubStore, "append_audit", fail)


def test_no_change_is_kept_when_its_audit_entry_cannot_be_written(db_url: str, failing_audit) -> None:
    from tahaluf.banks import NewItem
    from tahaluf.services import webhooks

    hub = open_hub(HubConfig(db=db_url, snapshot=False))
    try:
        admin = _admin(hub)
        hub.banks.create(admin, "markets")
        before = hub.hubstore.audit_head()
        failing_audit()
        attempts = [
            lambda: hub.accounts.add_member(admin, "org-new", ["viewer"]),
            lambda: hub.settings.update(admin, {"review_match_min_score": 0.5}),
            lambda: hub.banks.create(admin, "weather"),
            lambda: hub.banks.update(admin, "markets", visibility="members"),
            lambda: hub.accounts.rotate_key(admin, "org-admin"),
            lambda: hub.accounts.set_enabled(admin, "org-admin", False),
            lambda: hub.curation.add_signal_items(admin, "markets", [
                NewItem("item-1", [Signal("md5", "0" * 32)], {"entity": "demo-entity"})]),
            lambda: webhooks.register(hub, admin, "https://example.org/hook", ["review.decided"]),
            lambda: hub.banks.delete(admin, "markets"),
        ]
        for attempt in attempts:
            with pytest.raises(_AuditDown):
                attempt()
        assert [m.name for m in hub.hubstore.list_members()] == ["org-admin"]
        assert hub.accounts.member("org-admin").enabled
        assert hub.hubstore.get_settings() == {}
        assert [b.name for b in hub.store.list_banks()] == ["markets"]
        assert hub.store.get_bank("markets").visibility == "private"
        assert hub.store.count_items(hub.store.get_bank("markets").id)["items"] == 0
        assert len(hub.hubstore.keys_of(hub.accounts.member("org-admin").id)) == 1
        assert WebhookStore(hub.store).list_webhooks() == []
        assert hub.hubstore.audit_head() == before
    finally:
        hub.close()


def test_an_import_chunk_is_not_kept_without_its_audit_entry(db_url: str, failing_audit) -> None:
    from tahaluf import banks
    from tahaluf.formats.pytx import import_pytx
    from tahaluf.services.banking import audited_batches

    with open_store(db_url) as store:
        banks.create_bank(store, "weather")
        failing_audit()
        hook = audited_batches(sql_ports(store).hub, "cli:test", "item.import", "bank:weather", {"file": "x"})
        with pytest.raises(_AuditDown):
            import_pytx(store, "weather", [f"pdq {n:064x}\n" for n in range(1, 101)], on_batch=hook)
        assert banks.bank_stats(store, "weather")["items"] == 0
