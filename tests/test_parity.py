"""The command line and the API offer the same operations, through the same
services and the same wire format: settings, the audit log's signing, and the
lookup's match hooks whoever calls the lookup service."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from typer.testing import CliRunner

from tahaluf.access import Principal
from tahaluf.api.app import create_app
from tahaluf.bootstrap import open_hub
from tahaluf.cli.main import app
from tahaluf.config import HubConfig
from tahaluf.services.lookup import LookupEntry
from tahaluf.services.scanning import ScanResult
from tahaluf.signals.base import Signal

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def _setup(tmp_path: Path) -> tuple[str, CliRunner]:
    return f"sqlite:///{tmp_path / 'hub.db'}", CliRunner()


def test_settings_set_on_the_command_line_is_what_the_api_shows(tmp_path: Path) -> None:
    url, runner = _setup(tmp_path)
    done = runner.invoke(app, ["--db", url, "settings", "set", "review_two_person_rule", "true"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["--db", url, "settings", "set", "review_match_min_score", "0.9", "--json"])
    assert done.exit_code == 0, done.output
    from_cli = json.loads(done.stdout)
    hub = open_hub(HubConfig(db=url, snapshot=False))
    key = hub.accounts.add_member("cli:test", "demo-admin", ["admin"]).api_key
    with TestClient(create_app(hub.config, hub=hub, load=False)) as client:
        from_api = client.get("/v1/settings", headers={"Authorization": f"Bearer {key}"}).json()
    hub.close()
    assert from_cli == from_api
    assert from_api["settings"]["review_two_person_rule"] is True
    assert from_api["settings"]["review_match_min_score"] == 0.9
    shown = runner.invoke(app, ["--db", url, "settings", "show", "--json"])
    assert json.loads(shown.stdout) == from_api
    bad = runner.invoke(app, ["--db", url, "settings", "set", "review_claim_ttl_s", "soon"])
    assert bad.exit_code != 0 and "must be a int" in bad.stderr


def test_the_api_signs_the_audit_head_and_shows_the_key_the_cli_prints(tmp_path: Path) -> None:
    url, runner = _setup(tmp_path)
    hub = open_hub(HubConfig(db=url, snapshot=False))
    key = hub.accounts.add_member("cli:test", "demo-admin", ["admin"]).api_key
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(hub.config, hub=hub, load=False)) as client:
        signed = client.post("/v1/audit/sign", headers=auth)
        assert signed.status_code == 200, signed.text
        public = client.get("/v1/audit/public-key", headers=auth).json()["public_key"]
        assert signed.json()["entry_id"] == 1 and signed.json()["public_key"] == public
        check = client.get("/v1/audit/verify", headers=auth).json()
        assert check["ok"] and check["signed_heads"] == 1 and check["last_signed"] == 1
    hub.close()
    printed = runner.invoke(app, ["--db", url, "audit", "public-key"])
    assert printed.stdout.strip() == public


def test_every_caller_of_the_lookup_service_runs_the_match_hooks(tmp_path: Path) -> None:
    url, _ = _setup(tmp_path)
    hub = open_hub(HubConfig(db=url, snapshot=False))
    seen: list[int] = []
    hub.lookup.hooks.append(lambda who, results: seen.append(len(results)))
    hub.load()
    who = Principal(1, "demo-matcher", ("matcher",))
    [res] = hub.lookup.lookup(who, [LookupEntry(ScanResult("value", None), [Signal("md5", MD5)])])
    assert res.matches == [] and seen == [1]
    assert len(hub.lookup.hooks) == 2  # ReviewService.after_lookup (queueing, owner notification) and ours
    hub.close()
