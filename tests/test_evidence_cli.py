"""``tahaluf evidence``: keys, rekey, purge, holds; a real process killed (-9) between writing a
blob and committing its row; the purge that ``tahaluf serve`` runs by itself."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from evidence_helpers import member, photo_bytes, submit_bytes
from hubproc import SETTLE_S, add_member, hub_env, running_hub
from typer.testing import CliRunner

from tahaluf.bootstrap import open_hub
from tahaluf.cli.main import app
from tahaluf.config import HubConfig
from tahaluf.services.evidence import EvidenceService

runner = CliRunner()
TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A SQLite hub of its own, with its own evidence folder and key file (the CLI reads them from the env)."""
    monkeypatch.setenv("TAHALUF_EVIDENCE_DIR", str(tmp_path / "blobs"))
    monkeypatch.setenv("TAHALUF_EVIDENCE_KEY_FILE", str(tmp_path / "evidence.keys"))
    yield f"sqlite:///{tmp_path / 'hub.db'}", tmp_path


def cli(url: str, *args: str) -> Any:
    return runner.invoke(app, ["--db", url, *args])


def ok_json(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def _open(url: str) -> Any:
    return open_hub(HubConfig.from_env(None, db=url, snapshot=False))


def test_keys_rotate_rekey_and_remove_from_the_command_line(place: tuple[str, Path]) -> None:
    url, where = place
    keys = ok_json(cli(url, "evidence", "keys", "init", "--json"))
    assert keys["source"] == "file" and keys["path"] == str(where / "evidence.keys")
    assert stat.S_IMODE((where / "evidence.keys").stat().st_mode) == 0o600
    old = keys["current"]
    assert ok_json(cli(url, "evidence", "keys", "init", "--json"))["current"] == old  # init twice: the same keys
    hub = _open(url)
    try:
        kept = [submit_bytes(hub, "alpha", photo_bytes(n), suffix=".png") for n in (11, 12)]
    finally:
        hub.close()
    assert cli(url, "evidence", "keys", "rotate").exit_code == 0
    shown = ok_json(cli(url, "evidence", "keys", "show", "--json"))
    new = shown["current"]
    assert new != old and shown["keys"] == [{"id": new, "current": True, "blobs": 0},
                                            {"id": old, "current": False, "blobs": 2}]
    refused = cli(url, "evidence", "keys", "remove", old)
    assert refused.exit_code == 5 and "rekey" in refused.stderr
    assert ok_json(cli(url, "evidence", "rekey", "--json")) == {"key": new, "rekeyed": 2, "missing": []}
    assert cli(url, "evidence", "keys", "remove", old).exit_code == 0
    current = cli(url, "evidence", "keys", "remove", new)
    assert current.exit_code == 2 and "current" in current.stderr
    hub = _open(url)
    try:
        for k in kept:  # readable with the new key alone
            assert EvidenceService(hub).original("cli:test", k.submission_id, "after the rekey").data
    finally:
        hub.close()
    assert "evidence.rekey" in cli(url, "audit", "list", "--limit", "1000").stdout


def test_holds_and_purge_from_the_command_line(place: tuple[str, Path]) -> None:
    url, _where = place
    hub = _open(url)
    try:
        a, b = (submit_bytes(hub, "alpha", photo_bytes(n), suffix=".png") for n in (21, 22))
    finally:
        hub.close()
    held = ok_json(cli(url, "evidence", "hold", str(a.submission_id), "--reason", "court order 3"))
    assert held["hold"]["on"] is True and held["hold"]["reason"] == "court order 3"
    for sub in (a, b):
        assert cli(url, "evidence", "retain", str(sub.submission_id), "--until", "2020-01-01T00:00:00+00:00",
                   "--reason", "asked to delete").exit_code == 0
    assert cli(url, "evidence", "retain", "1", "--until", "soon", "--reason", "x").exit_code == 2
    assert ok_json(cli(url, "evidence", "purge", "--dry-run", "--json"))["submissions"] == [b.submission_id]
    assert ok_json(cli(url, "evidence", "purge", "--json"))["submissions"] == [b.submission_id]
    assert ok_json(cli(url, "evidence", "show", str(b.submission_id)))["purged_at"] is not None
    assert cli(url, "evidence", "release", str(a.submission_id), "--reason", "case closed").exit_code == 0
    assert ok_json(cli(url, "evidence", "purge", "--json"))["submissions"] == [a.submission_id]
    assert cli(url, "evidence", "hold", "999", "--reason", "x").exit_code == 4
    assert cli(url, "audit", "verify").exit_code == 0


_CHILD = """
import sys, time
sys.path[:0] = [{tests!r}, {src!r}]
from evidence_helpers import member, photo_bytes, submit_bytes
from tahaluf.bootstrap import open_hub
from tahaluf.config import HubConfig

hub = open_hub(HubConfig(db={url!r}, snapshot=False, evidence_dir={blobs!r}, evidence_key_file={keys!r}))
hub.load()
real_link = hub.ports.evidence.link

def link_then_hang(*args, **kwargs):
    out = real_link(*args, **kwargs)  # the row is written in the open transaction, not committed
    open({marker!r}, "w").write("blob written, row not committed")
    time.sleep(600)
    return out

hub.ports.evidence.link = link_then_hang
submit_bytes(hub, "alpha", photo_bytes(31), suffix=".png")
"""


def test_a_kill_between_the_blob_and_its_row_leaves_no_half_change(place: tuple[str, Path]) -> None:
    url, where = place
    hub = _open(url)
    try:
        member(hub, "alpha")
    finally:
        hub.close()
    marker = where / "marker"
    script = _CHILD.format(tests=str(TESTS), src=str(SRC), url=url, blobs=str(where / "blobs"),
                           keys=str(where / "evidence.keys"), marker=str(marker))
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=hub_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.communicate()[0].decode()
            assert time.monotonic() < deadline, "the child never reached the blob write"
            time.sleep(0.05)
        blobs = [p for p in (where / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) == 1  # the sealed blob is on disk
    finally:
        child.kill()  # SIGKILL: no cleanup, no rollback by the process itself
        child.communicate(timeout=30)
    assert child.returncode == -9
    hub = _open(url)
    try:
        assert hub.ports.reviews.list_submissions(None, after_id=0, limit=10) == []  # nothing half there
        assert hub.ports.evidence.get(1) is None and hub.ports.evidence.known([blobs[0].name]) == set()
        svc = EvidenceService(hub)
        assert svc.purge("cli:test").orphans == []  # too young: it might be a write about to commit
        assert blobs[0].exists()
    finally:
        hub.close()
    two_hours_ago = time.time() - 7200
    os.utime(blobs[0], (two_hours_ago, two_hours_ago))
    swept = ok_json(cli(url, "evidence", "purge", "--json"))
    assert swept["orphans"] == [blobs[0].name] and not blobs[0].exists()
    assert cli(url, "audit", "verify").exit_code == 0


def test_serve_purges_expired_evidence_by_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    env = hub_env(tmp_path / "cache", {"TAHALUF_EVIDENCE_PURGE_INTERVAL_S": "1",
                                       "TAHALUF_EVIDENCE_DIR": str(tmp_path / "blobs"),
                                       "TAHALUF_EVIDENCE_KEY_FILE": str(tmp_path / "evidence.keys")})
    boss = add_member(url, "boss", "admin")
    alpha = add_member(url, "alpha", "reviewer")
    with running_hub(url, tmp_path, env=env) as server:
        with server.client(alpha) as as_alpha, server.client(boss) as as_boss:
            r = as_alpha.post("/v1/submissions/content", files={"file": ("hills.png", photo_bytes(41), "image/png")})
            assert r.status_code == 201, r.text
            sub = r.json()["submission_id"]
            r = as_boss.put(f"/v1/submissions/{sub}/evidence/retention",
                            json={"retain_until": "2020-01-01T00:00:00+00:00", "reason": "asked to delete"})
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + SETTLE_S
            while as_alpha.get(f"/v1/submissions/{sub}/evidence").json()["purged_at"] is None:
                assert time.monotonic() < deadline, f"never purged:\n{server.log()}"
                time.sleep(0.2)
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
