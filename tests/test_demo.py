"""``make run``: the demo scan, then the demo hub with a printed URL and admin key."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hubproc import free_port, hub_env


def test_demo_scans_then_serves_the_demo_hub(tmp_path: Path, demo_dir: Path) -> None:
    port = free_port()
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    log = tmp_path / "demo.log"
    env = hub_env(tmp_path / "cache", {"COLUMNS": "200"})
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tahaluf", "--db", db, "demo", "--serve", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        key = None
        deadline = time.monotonic() + 180
        while key is None and time.monotonic() < deadline and proc.poll() is None:
            found = re.search(r"admin API key \(demo-admin\): (thf_\S+)", log.read_text())
            key = found.group(1) if found else None
            time.sleep(0.2)
        text = log.read_text()
        assert key, f"no admin key printed:\n{text}"
        assert f"http://127.0.0.1:{port}" in text
        assert "matches known" in text and "allow-listed" in text  # the scan report came first
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get("/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            banks = {b["name"]: b for b in client.get("/v1/banks").json()["banks"]}
            assert banks["demo-known"]["default_labels"]["entity"] == "demo-entity"
            assert "demo-allow" in banks
            photo = demo_dir.parent / "inbox" / "hills-small-lowq.jpg"
            with photo.open("rb") as fh:
                found = client.post("/v1/lookup/content", files={"file": (photo.name, fh, "image/jpeg")}).json()
            assert [m["bank"] for m in found["matches"]] == ["demo-known"]
            assert found["actionable"] is True
            assert client.get("/v1/banks", headers={"Authorization": "Bearer thf_wrong"}).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode in (0, 143, -signal.SIGTERM), log.read_text()
