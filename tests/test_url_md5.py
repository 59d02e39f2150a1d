"""python-threatexchange's ``url_md5`` signal (issue 11, point 5): a pytx data
set of URL MD5s imports, and a post or a lookup with an equivalent URL (one
pytx normalises alike) matches it, in the CLI and over the API."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from threatexchange.signal_type.url_md5 import UrlMD5Signal
from typer.testing import CliRunner

from hubproc import READY_TIMEOUT_S
from tahaluf import banks
from tahaluf.api.app import create_app
from tahaluf.cli.main import app
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import HubConfig
from tahaluf.signals.url import url_signal
from tahaluf.storage import open_store

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the test client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

runner = CliRunner()
BANKED = "https://example.org/weather/today?city=Tunis"
# the same address as pytx sees it (lower-cased, scheme removed), not as tahaluf's url signal does
POSTED = "HTTP://EXAMPLE.ORG/Weather/Today?City=TUNIS"


def test_a_pytx_url_md5_line_matches_a_post_and_a_lookup_of_an_equivalent_url(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'links.db'}"
    with open_store(db) as store:
        # a bank made before url_md5 existed lists its types; url_md5 comes with url
        banks.create_bank(store, "links", labels={"entity": "demo-entity"}, signal_types=["url"])
    pytx_file = tmp_path / "links.txt"
    pytx_file.write_text(f"url_md5 {UrlMD5Signal.hash_from_str(BANKED)} 'Weather links' INVESTIGATION_SEED\n",
                         encoding="utf-8")
    imported = runner.invoke(app, ["--db", db, "bank", "import", "links", str(pytx_file), "--format", "pytx"])
    assert imported.exit_code == 0, imported.output
    assert url_signal(POSTED).value != url_signal(BANKED).value  # only url_md5 can match it

    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"id": "post-1", "url": POSTED}) + "\n"
                     + json.dumps({"id": "post-2", "url": "https://example.org/markets/prices"}) + "\n",
                     encoding="utf-8")
    scanned = runner.invoke(app, ["--db", db, "scan", "-q", "-j", "1", str(posts)])
    results = {r["input"]: r for r in map(json.loads, scanned.stdout.splitlines())}
    assert [(m["bank"], m["signal_type"]) for m in results["post-1"]["matches"]] == [("links", "url_md5")]
    assert results["post-2"]["matches"] == []

    looked = runner.invoke(app, ["--db", db, "lookup", "--type", "url_md5", "-"],
                           input=f"{POSTED}\n{UrlMD5Signal.hash_from_str(POSTED)}\nnot a url\n")
    lines = [json.loads(x) for x in looked.stdout.splitlines()]
    assert [len(x["matches"]) for x in lines[:2]] == [1, 1]
    assert "error" in lines[2] and not lines[2]["matches"]


def test_api_lookup_of_a_url_md5(tmp_path: Path) -> None:
    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False, refresh_interval_s=0.05,
                        rate_limit_per_s=0))
    key = hub.accounts.add_member("cli:test", "alpha", ["curator", "matcher"])[1]
    auth = {"Authorization": f"Bearer {key}"}
    value = UrlMD5Signal.hash_from_str(BANKED)
    with TestClient(create_app(hub.config, hub=hub)) as client:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not hub.ready:
            assert time.monotonic() < deadline, "the hub never became ready"
            time.sleep(0.02)
        made = client.post("/v1/banks", headers=auth, json={"name": "links", "labels": {"entity": "demo-entity"},
                                                            "signal_types": ["url"]})
        assert made.status_code == 201, made.text
        added = client.post("/v1/banks/links/items", headers=auth, json={
            "items": [{"external_id": "link-1", "signals": [{"type": "url_md5", "value": value.upper()}]}]})
        assert added.status_code in (200, 201), added.text

        def lookup(v: str) -> Any:
            return client.get("/v1/lookup", headers=auth, params={"type": "url_md5", "value": v})

        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (found := lookup(UrlMD5Signal.hash_from_str(POSTED))).json().get("matches"):
            assert time.monotonic() < deadline, found.text
            time.sleep(0.05)
        assert [m["external_id"] for m in found.json()["matches"]] == ["link-1"]
        assert lookup(POSTED).json()["matches"][0]["external_id"] == "link-1"  # a URL is hashed first
        bad = lookup("0123")
        assert bad.status_code == 400, bad.text
        assert "url_md5" in bad.json()["error"]["message"]
    hub.close()
