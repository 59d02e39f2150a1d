"""Feedback on bank items through the HTTP API, on SQLite and PostgreSQL: one
opinion per member per item, disputed items, the owner's feed, lookups that
leave disputed items out, roles and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from test_hub_reviews import MD5, SQLITE_ONLY, Hubby, running_hub


@pytest.fixture
def hubby(db_url: str) -> Iterator[Hubby]:
    with running_hub(db_url) as h:
        r = h.post("alpha", "/v1/banks/alpha-known/items", json={"items": [
            {"external_id": "poster-1", "signals": [{"type": "md5", "value": MD5}]},
            {"external_id": "poster-2", "signals": [{"type": "md5", "value": "ab" * 16}]},
        ]})
        assert r.json()["imported"] == 2, r.text
        yield h


def _give(h: Hubby, member: str, opinion: str, external_id: str = "poster-1", bank: str = "alpha-known",
          reason: str = "compared with the demo-entity archive") -> Any:
    return h.post(member, "/v1/feedback",
                  json={"bank": bank, "external_id": external_id, "opinion": opinion, "reason": reason})


def _feed(h: Hubby, member: str) -> list[dict[str, Any]]:
    r = h.get(member, "/v1/feed")
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_conflicting_feedback_disputes_the_item_and_tells_its_owner(hubby: Hubby) -> None:
    h = hubby
    r = _give(h, "beta", "agree")
    assert r.status_code == 200 and r.json()["disputed"] is False, r.text
    assert _feed(h, "alpha") == []

    r = _give(h, "beta", "false_positive")  # beta changes its mind: one opinion per member
    assert r.status_code == 200 and r.json()["disputed"] is True and r.json()["became_disputed"] is True
    [entry] = _feed(h, "alpha")
    assert entry["kind"] == "item.disputed"
    assert {k: entry["payload"][k] for k in ("bank", "external_id", "by", "opinion")} == {
        "bank": "alpha-known", "external_id": "poster-1", "by": "beta", "opinion": "false_positive"}
    assert _feed(h, "beta") == []  # only the owner hears about it

    r = _give(h, "rev", "disagree")  # already disputed: no second notification
    assert r.status_code == 200 and r.json()["became_disputed"] is False
    assert len(_feed(h, "alpha")) == 1

    listed = h.get("watcher", "/v1/feedback", params={"bank": "alpha-known", "external_id": "poster-1"}).json()
    assert listed["disputed"] is True
    assert sorted((f["member"], f["opinion"]) for f in listed["feedback"]) == [
        ("beta", "false_positive"), ("rev", "disagree")]
    item = h.get("alpha", "/v1/banks/alpha-known/items/poster-1").json()
    assert item["disputed"] is True
    disputed = h.get("alpha", "/v1/banks/alpha-known/items", params={"disputed": "true"}).json()["items"]
    assert [i["external_id"] for i in disputed] == ["poster-1"]

    for member in ("beta", "rev"):  # both take it back: no longer disputed; a new dispute notifies again
        assert _give(h, member, "agree").json()["disputed"] is (member == "beta")
    assert _give(h, "beta", "disagree").json()["became_disputed"] is True
    assert len(_feed(h, "alpha")) == 2

    audit = h.get("boss", "/v1/audit", params={"action": "feedback.give", "limit": 100}).json()["entries"]
    assert len(audit) == 6 and audit[1]["details"]["disputed"] is True


def test_lookups_can_leave_disputed_items_out(hubby: Hubby) -> None:
    h = hubby
    h.wait_match("scanner", "/v1/lookup", "alpha-known", "poster-1", params={"type": "md5", "value": MD5})
    assert _give(h, "beta", "false_positive").json()["disputed"] is True

    def found(**params: Any) -> list[str]:
        r = h.get("scanner", "/v1/lookup", params={"type": "md5", "value": MD5, **params})
        assert r.status_code == 200, r.text
        return [m["external_id"] for m in r.json()["matches"]]

    assert found(exclude_disputed="true") == []
    assert found(exclude_disputed="false") == ["poster-1"]
    assert found() == ["poster-1"]  # the hub's default (lookup_exclude_disputed) is off
    r = h.post("scanner", "/v1/lookup", json={"signals": [{"type": "md5", "value": MD5}], "exclude_disputed": True})
    assert r.json()["results"][0]["matches"] == []
    h.settings(lookup_exclude_disputed=True)
    assert found() == []
    assert found(exclude_disputed="false") == ["poster-1"]


def test_feedback_needs_the_role_and_a_visible_item(hubby: Hubby) -> None:
    h = hubby
    h.post("alpha", "/v1/banks/alpha-private/items",
           json={"items": [{"external_id": "secret-1", "signals": [{"type": "md5", "value": MD5}]}]})
    assert _give(h, "scanner", "agree").status_code == 403  # matchers give no feedback
    assert _give(h, "watcher", "agree").status_code == 403  # nor do viewers
    assert _give(h, "beta", "agree", "secret-1", "alpha-private").status_code == 404  # a bank it cannot see
    assert _give(h, "beta", "agree", "no-such-item").status_code == 404
    assert _give(h, "alpha", "agree", "secret-1", "alpha-private").status_code == 200  # the owner may
    assert h.get("beta", "/v1/feedback", params={"bank": "alpha-private", "external_id": "secret-1"}).status_code \
        == 404
    assert h.get("scanner", "/v1/feedback", params={"bank": "alpha-known", "external_id": "poster-1"}).status_code \
        == 403
    assert h.client.get("/v1/feed").status_code == 401
    assert _feed(h, "scanner") == []  # every member has a feed


@SQLITE_ONLY
def test_feedback_follows_bank_visibility(hubby: Hubby) -> None:
    """Owner, a member the bank is shared with, another member and an admin, for each visibility."""
    h = hubby
    r = h.post("alpha", "/v1/banks", json={"name": "alpha-shared", "visibility": "members", "shared_with": ["beta"]})
    assert r.status_code == 201, r.text
    sees = {"alpha-private": {"alpha", "boss"}, "alpha-shared": {"alpha", "beta", "boss"},
            "alpha-known": {"alpha", "beta", "rev", "boss"}}
    for bank, members in sees.items():
        assert h.post("alpha", f"/v1/banks/{bank}/items", json={"items": [
            {"external_id": "vis-1", "signals": [{"type": "md5", "value": "cd" * 16}]}]}).json()["imported"] == 1
        for member in ("alpha", "beta", "rev", "boss"):
            want = 200 if member in members else 404
            given = _give(h, member, "agree", "vis-1", bank)
            listed = h.get(member, "/v1/feedback", params={"bank": bank, "external_id": "vis-1"})
            assert (given.status_code, listed.status_code) == (want, want), f"{member} on {bank}: {given.text}"
        opinions = h.get("alpha", "/v1/feedback", params={"bank": bank, "external_id": "vis-1"}).json()
        assert sorted(f["member"] for f in opinions["feedback"]) == sorted(members)


@SQLITE_ONLY
def test_bad_feedback_is_a_4xx_json_error(hubby: Hubby) -> None:
    h = hubby
    body = {"bank": "alpha-known", "external_id": "poster-1", "opinion": "agree", "reason": "seen before"}
    cases = [
        (h.post("beta", "/v1/feedback", json={**body, "opinion": "love"}), 422),
        (h.post("beta", "/v1/feedback", json={**body, "reason": ""}), 422),
        (h.post("beta", "/v1/feedback", json={**body, "reason": "   "}), 422),
        (h.post("beta", "/v1/feedback", json={**body, "stars": 5}), 422),
        (h.post("beta", "/v1/feedback", json={k: v for k, v in body.items() if k != "bank"}), 422),
        (h.get("beta", "/v1/feedback", params={"bank": "alpha-known"}), 422),
        (h.get("beta", "/v1/feed", params={"after": -1}), 422),
        (h.get("beta", "/v1/feed", params={"limit": 10**9}), 422),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert set(response.json()["error"]) == {"code", "message"}


@SQLITE_ONLY
def test_the_feed_pages(hubby: Hubby) -> None:
    h = hubby
    for n in range(2):
        assert _give(h, "beta", "disagree", f"poster-{n + 1}").json()["became_disputed"] is True
    first = h.get("alpha", "/v1/feed", params={"limit": 1}).json()
    assert len(first["entries"]) == 1 and first["next_after"] == first["entries"][0]["id"]
    rest = h.get("alpha", "/v1/feed", params={"after": first["next_after"], "limit": 1}).json()
    assert [e["payload"]["external_id"] for e in first["entries"] + rest["entries"]] == ["poster-1", "poster-2"]
    assert rest["next_after"] is None
