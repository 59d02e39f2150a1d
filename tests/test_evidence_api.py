"""Evidence through the HTTP API: who may open it, every view audited with its reason,
previews made on the server (greyscale, blurred, smaller; a strip for videos), the original
only as a download, legal holds and the purge."""

from __future__ import annotations

import io
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from evidence_helpers import photo_bytes, video_bytes
from hubproc import READY_TIMEOUT_S
from PIL import Image
from typer.testing import CliRunner

from tahaluf.api.app import create_app
from tahaluf.bootstrap import open_hub
from tahaluf.cli.main import app as cli_app
from tahaluf.services.hub import Hub, HubConfig

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

MEMBERS = {
    "boss": ["admin"],
    "alpha": ["curator", "reviewer"],  # submits
    "rev": ["reviewer"],  # designated: reviews every member's submissions
    "other-rev": ["reviewer"],  # a reviewer the hub does not designate
    "beta": ["curator"],  # another member
    "watcher": ["viewer"],
}
WHY = "checking the match against the demo-entity guide"


@dataclass
class Api:
    hub: Hub
    client: TestClient
    keys: dict[str, str]
    url: str

    def call(self, member: str, method: str, path: str, **kw: Any) -> Any:
        return self.client.request(method, path, headers={"Authorization": f"Bearer {self.keys[member]}"}, **kw)

    def submit(self, member: str, name: str, data: bytes, mime: str) -> int:
        r = self.call(member, "POST", "/v1/submissions/content", files={"file": (name, data, mime)})
        assert r.status_code == 201, r.text
        return int(r.json()["submission_id"])

    def audit(self) -> list[dict[str, Any]]:
        r = self.call("boss", "GET", "/v1/audit", params={"limit": 1000})
        assert r.status_code == 200, r.text
        return list(r.json()["entries"])


@contextmanager
def running(url: str) -> Iterator[Api]:
    cfg = HubConfig(db=url, snapshot=False, refresh_interval_s=0.05)
    hub = open_hub(cfg)
    keys = {}
    for name, roles in MEMBERS.items():
        _m, keys[name] = hub.accounts.add_member("cli", name, roles)
    hub.hubstore.put_settings({"review_submission_reviewers": ["rev"]})
    try:
        with TestClient(create_app(cfg, hub=hub)) as client:
            api = Api(hub, client, keys, url)
            deadline = time.monotonic() + READY_TIMEOUT_S
            while client.get("/health/ready").status_code != 200:
                assert time.monotonic() < deadline, "the hub never became ready"
                time.sleep(0.02)
            yield api
    finally:
        hub.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running(f"sqlite:///{tmp_path / 'hub.db'}") as a:
        yield a


@pytest.fixture
def api_on_each_backend(db_url: str) -> Iterator[Api]:
    with running(db_url) as a:
        yield a


def _hf_energy(img: Image.Image) -> float:
    """Mean absolute Laplacian of the grey image: how much fine detail it holds."""
    a = np.asarray(img.convert("L"), dtype=np.float64)
    lap = 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    return float(np.abs(lap).mean())


def test_who_may_open_evidence(api_on_each_backend: Api) -> None:
    api = api_on_each_backend
    sub = api.submit("alpha", "stalls.png", photo_bytes(1), "image/png")
    ghost = sub + 1000
    paths = ["/v1/submissions/{}/evidence", "/v1/submissions/{}/evidence/preview",
             "/v1/submissions/{}/evidence/original"]
    want = {"alpha": 200, "boss": 200, "rev": 200, "beta": 404, "other-rev": 404, "watcher": 403}
    for member, status in want.items():
        for path in paths:
            r = api.call(member, "GET", path.format(sub), params={"reason": WHY})
            assert r.status_code == status, (member, path, r.text)
            if status == 404:  # exactly as for a submission that does not exist
                missing = api.call(member, "GET", path.format(ghost), params={"reason": WHY})
                assert missing.status_code == 404
                assert r.json()["error"]["message"].replace(str(sub), "N") == \
                    missing.json()["error"]["message"].replace(str(ghost), "N")
    viewers = {e["actor"] for e in api.audit() if e["action"] in ("evidence.preview", "evidence.reveal")}
    assert viewers == {"alpha", "boss", "rev"}


def test_every_view_is_audited_with_its_reason(api: Api) -> None:
    data = photo_bytes(2)
    sub = api.submit("alpha", "valley.png", data, "image/png")
    assert api.call("rev", "GET", f"/v1/submissions/{sub}/evidence/preview").status_code == 422  # no reason
    assert api.call("rev", "GET", f"/v1/submissions/{sub}/evidence/original", params={"reason": " "}).status_code \
        == 422
    before = len(api.audit())
    assert api.call("rev", "GET", f"/v1/submissions/{sub}/evidence/preview", params={"reason": WHY}).status_code == 200
    orig = api.call("boss", "GET", f"/v1/submissions/{sub}/evidence/original",
                    params={"reason": "preparing the transparency report"})
    assert orig.status_code == 200 and orig.content == data
    assert orig.headers["content-type"] == "image/png"
    assert orig.headers["x-content-type-options"] == "nosniff" and orig.headers["cache-control"] == "no-store"
    assert re.fullmatch(r'attachment; filename="submission-\d+-[0-9a-f]{12}\.png"',
                        orig.headers["content-disposition"])
    entries = api.audit()[before:]
    views = [(e["actor"], e["action"], e["target"], e["details"]["reason"], e["details"]["sha256"]) for e in entries]
    sha = api.call("alpha", "GET", f"/v1/submissions/{sub}/evidence").json()["sha256"]
    assert views == [("rev", "evidence.preview", f"submission:{sub}", WHY, sha),
                     ("boss", "evidence.reveal", f"submission:{sub}", "preparing the transparency report", sha)]
    assert all(e["at"] for e in entries)
    done = CliRunner().invoke(cli_app, ["--db", api.url, "audit", "verify"])
    assert done.exit_code == 0, done.stderr
    assert "audit log intact" in done.stderr


def test_a_photo_preview_is_greyscale_blurred_and_smaller(api: Api) -> None:
    data = photo_bytes(3, size=(640, 480))
    sub = api.submit("alpha", "market.png", data, "image/png")
    r = api.call("alpha", "GET", f"/v1/submissions/{sub}/evidence/preview", params={"reason": WHY})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    preview = Image.open(io.BytesIO(r.content))
    original = Image.open(io.BytesIO(data))
    assert preview.format == "JPEG" and preview.mode == "L"
    assert max(preview.size) <= 320 and preview.size[0] < original.size[0]
    same_size = original.convert("L").resize(preview.size, Image.Resampling.LANCZOS)
    assert _hf_energy(preview) < 0.25 * _hf_energy(same_size), (_hf_energy(preview), _hf_energy(same_size))
    assert len(r.content) < len(data)


def test_a_video_preview_is_a_strip_of_blurred_frames(api: Api) -> None:
    data = video_bytes()
    sub = api.submit("alpha", "shapes.mp4", data, "video/mp4")
    meta = api.call("alpha", "GET", f"/v1/submissions/{sub}/evidence").json()
    assert meta["media_type"] == "video/mp4" and meta["size"] == len(data)
    r = api.call("alpha", "GET", f"/v1/submissions/{sub}/evidence/preview", params={"reason": WHY})
    assert r.status_code == 200, r.text
    strip = Image.open(io.BytesIO(r.content))
    assert strip.mode == "L" and strip.size[0] >= 5 * strip.size[1]  # six frames side by side
    frames = [np.asarray(strip)[:, x:x + 80] for x in range(0, strip.size[0] - 80, 100)]
    assert len(frames) >= 5 and any(f.std() > 2 for f in frames)  # not blank
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0)).to_image()
    assert strip.size[1] == frame.size[1]  # frames at their size (never enlarged), side by side
    assert _hf_energy(strip) < 0.1 * _hf_energy(frame), (_hf_energy(strip), _hf_energy(frame))


def test_corrupt_or_unpreviewable_content_gets_a_clear_error(api: Api) -> None:
    broken = photo_bytes(4)[:300]
    r = api.call("alpha", "POST", "/v1/submissions/content", files={"file": ("poster.png", broken, "image/png")})
    assert r.status_code in (415, 422) and set(r.json()["error"]) == {"code", "message"}, r.text
    assert "Traceback" not in r.text
    sub = api.submit("alpha", "notes.txt", b"Stall number 4 opens at nine in the morning.\n" * 3, "text/plain")
    r = api.call("alpha", "GET", f"/v1/submissions/{sub}/evidence/preview", params={"reason": WHY})
    assert r.status_code == 415 and "no preview for text/plain" in r.json()["error"]["message"]
    assert api.call("alpha", "GET", f"/v1/submissions/{sub}/evidence/original", params={"reason": WHY}).status_code \
        == 200


def test_a_corrupt_blob_gives_a_clear_error(api: Api, tmp_path: Path) -> None:
    sub = api.submit("alpha", "pattern.png", photo_bytes(5), "image/png")
    sha = api.call("alpha", "GET", f"/v1/submissions/{sub}/evidence").json()["sha256"]
    blob = next(p for p in Path(api.hub.ports.blobs.folder).rglob(sha))  # type: ignore[attr-defined]
    raw = bytearray(blob.read_bytes())
    raw[-5] ^= 0xFF
    blob.write_bytes(bytes(raw))
    r = api.call("alpha", "GET", f"/v1/submissions/{sub}/evidence/original", params={"reason": WHY})
    assert r.status_code == 503 and "failed its integrity check" in r.json()["error"]["message"], r.text
    assert r.json()["error"]["code"] == "storage_error"


def test_holds_retention_and_purge_through_the_api(api: Api) -> None:
    kept = api.submit("alpha", "hills.png", photo_bytes(6), "image/png")
    gone = api.submit("alpha", "shapes.png", photo_bytes(7), "image/png")
    meta = api.call("alpha", "GET", f"/v1/submissions/{gone}/evidence").json()
    assert meta["hold"] == {"on": False, "reason": None, "by": None, "at": None} and meta["purged_at"] is None
    assert api.call("alpha", "POST", f"/v1/submissions/{kept}/evidence/hold",
                    json={"reason": "court order"}).status_code == 403
    held = api.call("boss", "POST", f"/v1/submissions/{kept}/evidence/hold", json={"reason": "court order 7"})
    assert held.status_code == 200 and held.json()["hold"]["on"] is True and held.json()["hold"]["by"] == "boss"
    past = {"retain_until": "2020-01-01T00:00:00+00:00", "reason": "the member asked for deletion"}
    for sub in (kept, gone):
        assert api.call("boss", "PUT", f"/v1/submissions/{sub}/evidence/retention", json=past).status_code == 200
    dry = api.call("boss", "POST", "/v1/evidence/purge", json={"dry_run": True}).json()
    assert dry["dry_run"] is True and dry["submissions"] == [gone]
    assert api.call("rev", "POST", "/v1/evidence/purge").status_code == 403
    done = api.call("boss", "POST", "/v1/evidence/purge").json()
    assert done["submissions"] == [gone] and len(done["blobs"]) == 1
    after = api.call("alpha", "GET", f"/v1/submissions/{gone}/evidence").json()
    assert after["purged_at"] is not None
    r = api.call("alpha", "GET", f"/v1/submissions/{gone}/evidence/original", params={"reason": WHY})
    assert r.status_code == 404 and "purged" in r.json()["error"]["message"]
    released = api.call("boss", "DELETE", f"/v1/submissions/{kept}/evidence/hold", params={"reason": "case closed"})
    assert released.status_code == 200 and released.json()["hold"]["on"] is False
    assert api.call("boss", "POST", "/v1/evidence/purge").json()["submissions"] == [kept]
    actions = [e["action"] for e in api.audit()]
    assert {"evidence.hold", "evidence.release", "evidence.retain", "evidence.purge"} <= set(actions)


def test_the_same_content_from_two_members_is_stored_once(api: Api) -> None:
    data = photo_bytes(8)
    mine = api.submit("alpha", "stalls.png", data, "image/png")
    theirs = api.submit("beta", "stalls-again.png", data, "image/png")
    assert mine != theirs
    folder = Path(api.hub.ports.blobs.folder)  # type: ignore[attr-defined]
    sha = api.call("alpha", "GET", f"/v1/submissions/{mine}/evidence").json()["sha256"]
    assert api.call("beta", "GET", f"/v1/submissions/{theirs}/evidence").json()["sha256"] == sha
    assert [p.name for p in folder.rglob(sha)] == [sha]
    for member, sub in (("alpha", mine), ("beta", theirs)):  # each opens its own, not the other's
        assert api.call(member, "GET", f"/v1/submissions/{sub}/evidence/original", params={"reason": WHY}
                        ).content == data
    assert api.call("beta", "GET", f"/v1/submissions/{mine}/evidence").status_code == 404
