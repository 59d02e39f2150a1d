"""Submissions and the review queue through the HTTP API, on SQLite and PostgreSQL:
submit -> task -> claim -> expiry -> reclaim -> decide, the two-person rule,
tasks from strong lookups (once per member and content), roles and bad input."""

from __future__ import annotations

import io
import re
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import event

from neutral_posts import OTHER_EN, POST_AR, POST_EN
from hubproc import READY_TIMEOUT_S, SETTLE_S
from tahaluf.access import Principal
from tahaluf.api.app import create_app
from tahaluf.services import reviews
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import Hub, HubConfig
from tahaluf.services.scanning import ScanResult
from tahaluf.storage.repository.feedback_sql import AuditNote
from tahaluf.storage.repository.reviews_sql import NewSubmission, NewTask, ReviewStore

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the test client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

MD5 = "0123456789abcdef0123456789abcdef"
#: for tests whose subject does not depend on the database
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@dataclass
class Hubby:
    """A running hub app and one API key per member."""

    hub: Hub
    client: TestClient
    keys: dict[str, str]

    def h(self, member: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[member]}"}

    def get(self, member: str, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.h(member), **kw)

    def post(self, member: str, path: str, **kw: Any) -> Any:
        return self.client.post(path, headers=self.h(member), **kw)

    def settings(self, **values: Any) -> None:
        r = self.client.put("/v1/settings", headers=self.h("boss"), json={"settings": values})
        assert r.status_code == 200, r.text

    def wait_match(self, member: str, path: str, bank: str, external_id: str, **kw: Any) -> dict[str, Any]:
        """Look up until the refresh loop has indexed the item (at most SETTLE_S)."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            r = self.post(member, path, **kw) if "json" in kw or "files" in kw else self.get(member, path, **kw)
            assert r.status_code == 200, r.text
            got = r.json()
            if any(m["bank"] == bank and m["external_id"] == external_id for m in got["matches"]):
                return got
            assert time.monotonic() < deadline, f"{bank}/{external_id} never matched: {got}"
            time.sleep(0.05)


MEMBERS = {
    "boss": ["admin"],
    "alpha": ["curator", "reviewer"],  # owns banks and reviews
    "beta": ["curator", "reviewer"],
    "rev": ["reviewer"],  # reviews, owns nothing
    "cur": ["curator"],
    "scanner": ["matcher"],
    "watcher": ["viewer"],
}


#: the members whose reviewers review every member's submissions (the hub's setting)
DESIGNATED = ["alpha", "beta", "rev"]
BANKS = (("alpha-known", "known", "all"), ("alpha-private", "known", "private"), ("alpha-allow", "allow", "all"),
         ("beta-known", "known", "all"), ("beta-private", "known", "private"))


@contextmanager
def running_hub(db_url: str) -> Iterator[Hubby]:
    """A hub with MEMBERS and BANKS (each bank owned by the member its name starts with)."""
    cfg = HubConfig(db=db_url, snapshot=False, refresh_interval_s=0.05)
    hub = open_hub(cfg)
    keys, members = {}, {}
    for name, roles in MEMBERS.items():
        member, keys[name] = hub.accounts.add_member("cli", name, roles)
        members[name] = Principal(member.id, name, member.roles)
    for name, kind, visibility in BANKS:
        hub.banks.create(members[name.split("-")[0]], name, kind, visibility=visibility)
    hub.hubstore.put_settings({"review_submission_reviewers": DESIGNATED})
    try:
        with TestClient(create_app(cfg, hub=hub)) as client:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while client.get("/health/ready").status_code != 200:
                assert time.monotonic() < deadline, "the hub never became ready"
                time.sleep(0.02)
            yield Hubby(hub, client, keys)
    finally:
        hub.close()


@pytest.fixture
def hubby(db_url: str) -> Iterator[Hubby]:
    with running_hub(db_url) as h:
        yield h


def _submit_text(h: Hubby, member: str, text: str, note: str | None = None) -> int:
    r = h.post(member, "/v1/submissions", json={"text": text, "note": note})
    assert r.status_code == 201, r.text
    return int(r.json()["task"]["id"])


def _decide(h: Hubby, member: str, task_id: int, decision: str, bank: str | None = None, **extra: Any) -> Any:
    body = {"decision": decision, "reason": "reviewed against the demo-entity guide", **extra}
    if bank is not None:
        body["bank"] = bank
    return h.post(member, f"/v1/reviews/{task_id}/decision", json=body)


def _audit_actions(h: Hubby) -> list[str]:
    r = h.get("boss", "/v1/audit", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["entries"]]


# -- who sees a submission ----------------------------------------------------------
def _sees_task(h: Hubby, member: str, task_id: int) -> bool:
    """Whether ``member`` sees the task (listed and shown); one it does not see is answered
    exactly as a task that does not exist, when shown, claimed or decided."""
    listed = task_id in [t["id"] for t in h.get(member, "/v1/reviews", params={"status": "all"}).json()["tasks"]]
    shown = h.get(member, f"/v1/reviews/{task_id}")
    assert listed == (shown.status_code == 200), (member, task_id, listed, shown.text)
    if not listed:
        for r in (shown, h.post(member, f"/v1/reviews/{task_id}/claim"), _decide(h, member, task_id, "escalate")):
            assert r.status_code == 404, r.text
            assert r.json()["error"] == {"code": "not_found", "message": f"no review task {task_id}"}, r.text
    return listed


@pytest.mark.parametrize("designated", [[], ["rev"]], ids=["nobody designated", "rev designated"])
def test_a_submission_is_seen_by_its_member_and_the_designated_reviewers_only(
    hubby: Hubby, designated: list[str]
) -> None:
    h = hubby
    h.settings(review_submission_reviewers=designated)
    alpha_task = _submit_text(h, "alpha", POST_EN, "seen in the market newsletter")
    beta_task = _submit_text(h, "beta", OTHER_EN, "seen in the library bulletin")
    seen = {(m, t): _sees_task(h, m, t) for m in ("boss", "alpha", "beta", "rev") for t in (alpha_task, beta_task)}
    rev_sees = "rev" in designated
    assert seen == {
        ("boss", alpha_task): True, ("boss", beta_task): True,  # an admin sees every submission
        ("alpha", alpha_task): True, ("alpha", beta_task): False,  # a member its own
        ("beta", alpha_task): False, ("beta", beta_task): True,
        ("rev", alpha_task): rev_sees, ("rev", beta_task): rev_sees,  # a reviewer the hub designates: all
    }
    for member, text, note in (("beta", POST_EN, "newsletter"), ("alpha", OTHER_EN, "bulletin")):
        listing = h.get(member, "/v1/reviews", params={"status": "all"}).text
        assert text not in listing and note not in listing


def test_a_decision_names_the_bank_as_each_reader_knows_it(hubby: Hubby) -> None:
    """beta owns a bank named like alpha's (names are scoped per owner): a confirmation by
    beta into "alpha-known" goes to beta's own bank, and each reader is shown it by its name."""
    h = hubby
    r = h.post("beta", "/v1/banks", json={"name": "alpha-known", "labels": {"entity": "demo-entity"}})
    assert r.status_code == 201 and r.json()["owner"] == "beta", r.text
    task_id = _submit_text(h, "scanner", POST_EN)
    r = _decide(h, "beta", task_id, "confirm", "alpha-known", labels={"entity": "demo-entity"})
    assert r.status_code == 200, r.text
    assert [d["bank"] for d in r.json()["decisions"]] == ["alpha-known"]  # beta's own
    assert h.get("beta", f"/v1/banks/alpha-known/items/review-{task_id}").status_code == 200
    assert h.get("alpha", f"/v1/banks/alpha-known/items/review-{task_id}").status_code == 404  # not alpha's
    shown = h.get("boss", f"/v1/reviews/{task_id}").json()  # the admin sees both banks
    assert [d["bank"] for d in shown["decisions"]] == ["beta:alpha-known"]
    assert [d["bank"] for d in h.get("alpha", f"/v1/reviews/{task_id}").json()["decisions"]] == [None]


def test_the_designated_reviewers_setting_is_checked(hubby: Hubby) -> None:
    h = hubby
    for bad in ("rev", [1], [""], ["x" * 129], ["m"] * 1001):
        r = h.client.put("/v1/settings", headers=h.h("boss"), json={"settings": {"review_submission_reviewers": bad}})
        assert r.status_code == 400, (bad, r.text)
    h.settings(review_submission_reviewers=["rev"])
    got = h.get("boss", "/v1/settings").json()["settings"]["review_submission_reviewers"]
    assert got == ["rev"]


# -- the whole path ---------------------------------------------------------------
def test_submission_claim_expiry_reclaim_confirm_then_lookup_matches(hubby: Hubby) -> None:
    h = hubby
    r = h.post("scanner", "/v1/submissions", json={"text": POST_EN, "note": "seen in a market group"})
    assert r.status_code == 201, r.text
    task_id = r.json()["task"]["id"]
    assert r.json()["task"]["new"] is True
    mine = h.get("scanner", "/v1/submissions").json()["submissions"]
    assert [(s["kind"], s["text"], s["task"]["id"]) for s in mine] == [("text", POST_EN, task_id)]
    assert h.get("alpha", "/v1/submissions").json()["submissions"] == []  # others' are not listed
    assert len(h.get("boss", "/v1/submissions").json()["submissions"]) == 1  # an admin sees all

    task = h.get("rev", f"/v1/reviews/{task_id}").json()
    assert (task["source"], task["status"], task["member"]) == ("submission", "pending", "scanner")
    assert task["submission"]["text"] == POST_EN and task["submission"]["note"] == "seen in a market group"
    assert [s["type"] for s in task["signals"]] == ["text"]

    r = h.post("alpha", f"/v1/reviews/{task_id}/claim")
    assert r.status_code == 200 and r.json()["claimed_by"] == "alpha" and r.json()["claim_expires_at"]
    r = h.post("beta", f"/v1/reviews/{task_id}/claim")
    assert r.status_code == 409 and "alpha" in r.json()["error"]["message"]
    assert _decide(h, "beta", task_id, "confirm", "beta-private").status_code == 409
    h.settings(review_claim_ttl_s=1)
    assert h.post("alpha", f"/v1/reviews/{task_id}/claim").status_code == 200  # the holder renews: 1 s left
    assert h.post("beta", f"/v1/reviews/{task_id}/claim").status_code == 409
    time.sleep(1.05)  # alpha's claim expires: the task is back in the queue
    assert h.get("rev", f"/v1/reviews/{task_id}").json()["claimed_by"] is None
    r = h.post("beta", f"/v1/reviews/{task_id}/claim")
    assert r.status_code == 200 and r.json()["claimed_by"] == "beta"
    h.settings(review_claim_ttl_s=900)

    r = _decide(h, "beta", task_id, "confirm", "beta-private", labels={"entity": "demo-entity"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "confirmed" and done["claimed_by"] is None
    assert [(d["member"], d["decision"], d["bank"]) for d in done["decisions"]] == [
        ("beta", "confirm", "beta-private")]
    item = h.get("beta", f"/v1/banks/beta-private/items/review-{task_id}").json()
    assert item["labels"]["entity"] == "demo-entity" and item["added_by"] == "beta"
    got = h.wait_match("beta", "/v1/lookup/text", "beta-private", f"review-{task_id}", json={"text": POST_EN})
    assert got["actionable"] is True
    assert h.get("scanner", "/v1/submissions").json()["submissions"][0]["task"]["status"] == "confirmed"
    feed = h.get("scanner", "/v1/feed").json()["entries"]
    assert [(e["kind"], e["payload"]["status"]) for e in feed] == [("review.decided", "confirmed")]
    assert {"submission.add", "review.claim", "review.decide", "item.add"} <= set(_audit_actions(h))
    assert _decide(h, "beta", task_id, "reject").status_code == 409  # already decided


def test_reject_into_an_allow_bank_escalate_and_bank_checks(hubby: Hubby) -> None:
    h = hubby
    r = h.post("scanner", "/v1/submissions", json={"url": "https://news.example.org/weather/rabat?utm_source=x"})
    assert r.status_code == 201, r.text
    url_task = r.json()["task"]["id"]
    assert h.get("rev", f"/v1/reviews/{url_task}").json()["submission"]["url"].startswith("https://news.")
    assert _decide(h, "alpha", url_task, "reject", "alpha-known").status_code == 400  # not an allow bank
    r = _decide(h, "alpha", url_task, "reject", "alpha-allow")
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    assert h.get("alpha", f"/v1/banks/alpha-allow/items/review-{url_task}").status_code == 200

    text_task = _submit_text(h, "scanner", OTHER_EN)
    r = _decide(h, "rev", text_task, "escalate")
    assert r.status_code == 200 and r.json()["status"] == "escalated"
    open_ids = [t["id"] for t in h.get("rev", "/v1/reviews").json()["tasks"]]
    assert text_task in open_ids and url_task not in open_ids
    assert [t["id"] for t in h.get("rev", "/v1/reviews", params={"status": "escalated"}).json()["tasks"]] == [
        text_task]
    assert [t["id"] for t in h.get("rev", "/v1/reviews", params={"status": "rejected"}).json()["tasks"]] == [
        url_task]
    r = _decide(h, "boss", text_task, "confirm", "alpha-private")  # an admin may add to any bank
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert [d["decision"] for d in r.json()["decisions"]] == ["escalate", "confirm"]

    # confirm adds to a known bank the reviewer's member owns (or any, for an admin)
    other = _submit_text(h, "scanner", POST_EN)
    assert _decide(h, "rev", other, "confirm", "alpha-known").status_code == 403  # visible, not its own
    assert _decide(h, "alpha", other, "confirm", "beta-private").status_code == 404  # not visible
    assert _decide(h, "alpha", other, "confirm", "no-such-bank").status_code == 404
    assert _decide(h, "alpha", other, "confirm").status_code == 400  # confirm needs a bank
    assert _decide(h, "alpha", other, "confirm", "alpha-allow").status_code == 400
    assert _decide(h, "alpha", other, "confirm", "alpha-known", labels={"tier": "no-such-tier"}).status_code == 400
    assert h.get("rev", f"/v1/reviews/{other}").json()["status"] == "pending"  # nothing was recorded


def test_two_person_rule_for_shared_banks(hubby: Hubby) -> None:
    h = hubby
    h.settings(review_two_person_rule=True)
    task_id = _submit_text(h, "scanner", POST_AR)
    r = _decide(h, "alpha", task_id, "confirm", "alpha-known", labels={"entity": "demo-entity"})  # shared: two
    assert r.status_code == 200 and r.json()["status"] == "pending_second"
    assert h.get("alpha", f"/v1/banks/alpha-known/items/review-{task_id}").status_code == 404
    assert _decide(h, "alpha", task_id, "confirm", "alpha-known").status_code == 409  # same member twice
    pending = h.get("rev", "/v1/reviews", params={"status": "pending_second"}).json()["tasks"]
    assert [t["id"] for t in pending] == [task_id]
    r = _decide(h, "rev", task_id, "confirm", "alpha-known")  # a second member who sees the bank
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
    assert [d["member"] for d in r.json()["decisions"]] == ["alpha", "rev"]
    assert h.get("alpha", f"/v1/banks/alpha-known/items/review-{task_id}").json()["labels"] == {
        "entity": "demo-entity"}  # the first confirmation's labels

    private = _submit_text(h, "scanner", OTHER_EN)
    r = _decide(h, "alpha", private, "confirm", "alpha-private")  # private banks need one
    assert r.status_code == 200 and r.json()["status"] == "confirmed"


@SQLITE_ONLY
def test_content_submission_keeps_signals_only(hubby: Hubby) -> None:
    h = hubby
    rng = np.random.default_rng(7)
    pixels = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    photo = np.kron(pixels, np.ones((4, 4, 1), dtype=np.uint8))  # 256 x 256 blocks
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG")
    files = {"file": ("market-stall.png", buf.getvalue(), "image/png")}
    r = h.post("scanner", "/v1/submissions/content", files=files, data={"note": "poster"})
    assert r.status_code == 201, r.text
    task_id = r.json()["task"]["id"]
    sub = h.get("scanner", "/v1/submissions").json()["submissions"][0]
    assert sub["kind"] == "content" and sub["text"] is None and sub["url"] is None and len(sub["sha256"]) == 64
    assert {"pdq", "md5", "sha256"} <= {s["type"] for s in sub["signals"]}
    pdq = next(s for s in sub["signals"] if s["type"] == "pdq")
    assert set(pdq) <= {"type", "value", "quality", "crop"}  # no query variants stored
    r = _decide(h, "alpha", task_id, "confirm", "alpha-private")
    assert r.status_code == 200, r.text
    h.wait_match("alpha", "/v1/lookup/content", "alpha-private", f"review-{task_id}", files=files)


# -- tasks from lookups -------------------------------------------------------------
def test_strong_lookups_become_one_task_per_member_and_content(hubby: Hubby) -> None:
    h = hubby
    r = h.post("alpha", "/v1/banks/alpha-known/items",
               json={"items": [{"external_id": "poster-1", "signals": [{"type": "md5", "value": MD5}]}]})
    assert r.json()["imported"] == 1, r.text
    h.wait_match("scanner", "/v1/lookup", "alpha-known", "poster-1", params={"type": "md5", "value": MD5})
    h.get("scanner", "/v1/lookup", params={"type": "md5", "value": MD5})
    batch = [{"type": "md5", "value": MD5}, {"type": "md5", "value": MD5}, {"type": "md5", "value": "f" * 32}]
    assert h.post("scanner", "/v1/lookup", json={"signals": batch}).status_code == 200
    tasks = h.get("rev", "/v1/reviews").json()["tasks"]
    assert [(t["source"], t["member"]) for t in tasks] == [("match", "scanner")]
    assert tasks[0]["signals"] == [{"type": "md5", "value": MD5}]
    assert [m["external_id"] for m in tasks[0]["matches"]] == ["poster-1"]
    assert h.get("watcher", "/v1/feed").status_code == 200

    h.get("alpha", "/v1/lookup", params={"type": "md5", "value": MD5})  # another member: its own task
    assert [t["member"] for t in h.get("rev", "/v1/reviews").json()["tasks"]] == ["scanner", "alpha"]
    assert _decide(h, "rev", tasks[0]["id"], "reject").status_code == 200
    h.get("scanner", "/v1/lookup", params={"type": "md5", "value": MD5})  # decided: not queued again
    assert [t["member"] for t in h.get("rev", "/v1/reviews").json()["tasks"]] == ["alpha"]
    h.settings(review_match_min_score=1.1)  # off
    h.get("beta", "/v1/lookup", params={"type": "md5", "value": MD5})
    assert len(h.get("rev", "/v1/reviews").json()["tasks"]) == 1

    h.post("alpha", "/v1/banks/alpha-allow/items",
           json={"items": [{"external_id": "report-1", "signals": [{"type": "md5", "value": MD5}]}]})
    h.wait_match("beta", "/v1/lookup", "alpha-allow", "report-1", params={"type": "md5", "value": MD5})
    h.settings(review_match_min_score=0.5)  # an allow-bank match as strong as the known one: no task
    got = h.get("beta", "/v1/lookup", params={"type": "md5", "value": MD5}).json()
    assert got["allowed"] is True and len(got["matches"]) == 2
    assert len(h.get("rev", "/v1/reviews").json()["tasks"]) == 1
    assert "review.queue" in _audit_actions(h)


def test_submissions_of_the_same_content_share_the_open_task(hubby: Hubby) -> None:
    h = hubby
    first = _submit_text(h, "scanner", POST_EN)
    again = h.post("scanner", "/v1/submissions", json={"text": POST_EN})
    assert again.json()["task"] == {"id": first, "new": False}
    other = h.post("alpha", "/v1/submissions", json={"text": POST_EN}).json()["task"]  # another member
    assert other["new"] is True
    assert _decide(h, "rev", first, "reject").status_code == 200
    third = h.post("scanner", "/v1/submissions", json={"text": POST_EN}).json()["task"]  # decided: afresh
    assert third["new"] is True and third["id"] not in (first, other["id"])
    subs = h.get("scanner", "/v1/submissions").json()["submissions"]
    assert [s["task"]["id"] for s in subs] == [first, third["id"]]  # the repeat stored nothing new


def test_racing_workers_queue_one_task(hubby: Hubby) -> None:
    """Lookups and submissions of the same content racing in several threads make one task."""
    h = hubby
    store = ReviewStore(h.hub.hubstore)
    signals = [{"type": "md5", "value": MD5}]
    key = reviews.dedupe_key(5, signals)
    task = NewTask("match", None, key, signals, [])
    sub_task = NewTask("submission", None, reviews.dedupe_key(6, signals), signals, [])
    sub = NewSubmission(h.hub.hubstore.get_member("scanner").id, "text", signals, text="x")
    note = AuditNote("scanner", "submission.add", "submission")
    with ThreadPoolExecutor(8) as pool:
        queued = list(pool.map(lambda _: store.add_tasks([task], "scanner"), range(8)))
        submitted = list(pool.map(lambda _: store.add_submission(sub, sub_task, note), range(8)))
    assert sorted(len(ids) for ids in queued) == [0] * 7 + [1]
    assert len({task_id for _, task_id, _ in submitted}) == 1
    assert len({sub_id for sub_id, _, _ in submitted}) == 1  # the repeats stored nothing
    assert sorted(new for _, _, new in submitted) == [False] * 7 + [True]
    assert len(store.list_tasks(("pending",), after_id=0, limit=100)) == 2


@SQLITE_ONLY
def test_lookups_without_matches_do_not_touch_the_database(hubby: Hubby) -> None:
    h = hubby
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(h.hub.store.engine, "before_cursor_execute", listener)
    try:
        who = Principal(1, "scanner", ("matcher",))
        reviews.queue_matches(h.hub, who, [ScanResult("x", "md5"), ScanResult("y", "text")])
        reviews.notify_matches(h.hub, who, [ScanResult("x", "md5")])
    finally:
        event.remove(h.hub.store.engine, "before_cursor_execute", listener)
    assert statements == []


# -- roles and bad input -------------------------------------------------------------
def test_roles(hubby: Hubby) -> None:
    h = hubby
    task_id = _submit_text(h, "alpha", POST_EN)
    assert h.post("watcher", "/v1/submissions", json={"text": POST_EN}).status_code == 403
    assert h.get("watcher", "/v1/submissions").status_code == 403
    for member in ("scanner", "watcher"):
        assert h.get(member, "/v1/reviews").status_code == 403
        assert h.get(member, f"/v1/reviews/{task_id}").status_code == 403
        assert h.post(member, f"/v1/reviews/{task_id}/claim").status_code == 403
        assert _decide(h, member, task_id, "escalate").status_code == 403
    assert h.client.get("/v1/reviews").status_code == 401
    assert h.client.post("/v1/submissions", json={"text": POST_EN}).status_code == 401
    # a reviewer sees no matches in banks hidden from it
    h.post("beta", "/v1/banks/beta-private/items",
           json={"items": [{"external_id": "b-1", "signals": [{"type": "md5", "value": MD5}]}]})
    h.wait_match("beta", "/v1/lookup", "beta-private", "b-1", params={"type": "md5", "value": MD5})
    [seen_by_rev] = [t for t in h.get("rev", "/v1/reviews").json()["tasks"] if t["source"] == "match"]
    assert seen_by_rev["matches"] == [] and seen_by_rev["hidden_matches"] == 1
    assert len(h.get("beta", f"/v1/reviews/{seen_by_rev['id']}").json()["matches"]) == 1


#: capability each operation needs (None: any member)
OPERATIONS = {
    ("POST", "/v1/submissions"): "submit",
    ("POST", "/v1/submissions/content"): "submit",
    ("GET", "/v1/submissions"): "submit",
    ("GET", "/v1/reviews"): "review",
    ("GET", "/v1/reviews/{}"): "review",
    ("POST", "/v1/reviews/{}/claim"): "review",
    ("POST", "/v1/reviews/{}/release"): "review",  # its holder or an admin; others 409 (free) or 403
    ("POST", "/v1/reviews/{}/decision"): "review",
    ("POST", "/v1/feedback"): "feedback",
    ("GET", "/v1/feedback"): "read",
    ("GET", "/v1/feed"): None,
}


def _call(h: Hubby, member: str, method: str, path: str, task_id: int) -> Any:
    url = path.replace("{}", str(task_id))
    if path == "/v1/submissions/content":
        return h.post(member, url, files={"file": ("post.txt", OTHER_EN.encode(), "text/plain")})
    if path == "/v1/submissions" and method == "POST":
        return h.post(member, url, json={"text": OTHER_EN})
    if path.endswith("/decision"):
        return _decide(h, member, task_id, "escalate")
    if path == "/v1/feedback" and method == "POST":
        return h.post(member, url, json={"bank": "alpha-known", "external_id": "poster-1", "opinion": "agree",
                                         "reason": "seen before"})
    if path == "/v1/feedback":
        return h.get(member, url, params={"bank": "alpha-known", "external_id": "poster-1"})
    return h.get(member, url) if method == "GET" else h.post(member, url)


@SQLITE_ONLY
def test_role_matrix(hubby: Hubby) -> None:
    """Every operation of these routers, for every role: 403 exactly when the role lacks the capability."""
    h = hubby
    spec = h.client.get("/openapi.json").json()
    routed = {(m.upper(), re.sub(r"\{[^}]+\}", "{}", p)) for p, ops in spec["paths"].items() for m, op in ops.items()
              if {"reviews", "feedback"} & set(op.get("tags", ()))}
    assert routed == set(OPERATIONS)
    h.post("alpha", "/v1/banks/alpha-known/items",
           json={"items": [{"external_id": "poster-1", "signals": [{"type": "md5", "value": MD5}]}]})
    task_id = _submit_text(h, "alpha", POST_EN)
    caps = {name: Principal(0, name, tuple(roles)).capabilities for name, roles in MEMBERS.items()}
    for (method, path), cap in OPERATIONS.items():
        for member in ("boss", "cur", "rev", "scanner", "watcher"):
            r = _call(h, member, method, path, task_id)
            may = cap is None or cap in caps[member]
            assert (r.status_code != 403) == may, f"{member} {method} {path}: {r.status_code} {r.text}"
            if may:  # (a claim held by an earlier member of the loop is a conflict)
                assert r.status_code in (200, 201, 409), f"{member} {method} {path}: {r.status_code} {r.text}"
            else:
                assert r.json()["error"]["code"] == "permission_denied"


@SQLITE_ONLY
def test_bad_input_is_a_4xx_json_error(hubby: Hubby) -> None:
    h = hubby
    task_id = _submit_text(h, "scanner", POST_EN)
    cases = [
        (h.post("scanner", "/v1/submissions", json={"text": POST_EN, "url": "https://example.org"}), 422),
        (h.post("scanner", "/v1/submissions", json={}), 422),
        (h.post("scanner", "/v1/submissions", json={"text": POST_EN, "colour": "red"}), 422),
        (h.post("scanner", "/v1/submissions", json={"url": "not a url at all"}), 400),
        (h.client.post("/v1/submissions", content=b"{",
                       headers={**h.h("scanner"), "content-type": "application/json"}), 400),
        (_decide(h, "rev", task_id, "approve"), 422),
        (h.post("rev", f"/v1/reviews/{task_id}/decision", json={"decision": "reject"}), 422),
        (_decide(h, "rev", task_id, "reject", reason=" "), 422),
        (_decide(h, "rev", 999_999, "reject"), 404),
        (h.post("rev", "/v1/reviews/999999/claim"), 404),
        (h.get("rev", "/v1/reviews/0"), 422),
        (h.get("rev", f"/v1/reviews/{2**70}"), 422),
        (h.get("rev", "/v1/reviews", params={"status": "lost"}), 422),
        (h.get("rev", "/v1/reviews", params={"after": -1}), 422),
        (h.get("rev", "/v1/reviews", params={"limit": 0}), 422),
        (_decide(h, "rev", task_id, "escalate", "alpha-known"), 400),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert set(response.json()["error"]) == {"code", "message"}


@SQLITE_ONLY
def test_queue_pages(hubby: Hubby) -> None:
    h = hubby
    ids = [_submit_text(h, "scanner", f"{POST_EN} Stall number {n} opens at {n + 6} in the morning.")
           for n in range(5)]
    seen, after = [], 0
    while after is not None:
        page = h.get("rev", "/v1/reviews", params={"after": after, "limit": 2}).json()
        assert len(page["tasks"]) <= 2
        seen += [t["id"] for t in page["tasks"]]
        after = page["next_after"]
    assert seen == ids
