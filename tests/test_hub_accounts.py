"""Accounts of organisations (issue 11, point 8), through the HTTP API on SQLite and
PostgreSQL: several keys per organisation with their own roles, key revocation
and rotation, role changes, removing a member, moving a bank to another member,
an admin releasing a review claim, and validated organisation names."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from neutral_posts import OTHER_EN, POST_EN
from tahaluf.access import Principal
from tahaluf.api.app import create_app
from tahaluf.errors import InvalidInput
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import Hub, HubConfig

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the test client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
REASON = "checked against the demo-entity weather guide"


@dataclass
class Api:
    hub: Hub
    client: TestClient
    keys: dict[str, str]

    def call(self, key: str, method: str, path: str, **kw: Any) -> Any:
        return self.client.request(method, path, headers={"Authorization": f"Bearer {self.keys.get(key, key)}"},
                                   **kw)

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        return self.call("boss", method, path, **kw)

    def audit(self, action: str) -> list[dict[str, Any]]:
        r = self.admin("GET", "/v1/audit", params={"action": action, "limit": 1000})
        assert r.status_code == 200, r.text
        return r.json()["entries"]

    def new_key(self, member: str, roles: list[str] | None, label: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if roles is not None:
            body["roles"] = roles
        if label is not None:
            body["label"] = label
        r = self.admin("POST", f"/v1/members/{member}/keys", json=body)
        assert r.status_code == 201, r.text
        return r.json()


@contextmanager
def running(db_url: str) -> Iterator[Api]:
    cfg = HubConfig(db=db_url, snapshot=False, refresh_interval_s=0.05, rate_limit_per_s=0)
    hub = open_hub(cfg)
    keys = {}
    for name, roles in {"boss": ["admin"], "alpha": ["curator", "reviewer"], "beta": ["curator", "reviewer"],
                        "scanner": ["matcher"], "rev": ["reviewer"]}.items():
        keys[name] = hub.accounts.add_member("cli:test", name, roles)[1]
    # other members' submissions are reviewed by admins and designated reviewers only (docs/review.md)
    hub.hubstore.put_settings({"review_submission_reviewers": ["alpha", "beta", "rev"]})
    try:
        with TestClient(create_app(cfg, hub=hub)) as client:
            deadline = time.monotonic() + 30
            while client.get("/health/ready").status_code != 200:
                assert time.monotonic() < deadline, "the hub never became ready"
                time.sleep(0.02)
            yield Api(hub, client, keys)
    finally:
        hub.close()


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    with running(db_url) as a:
        yield a


def _me(api: Api, key: str) -> Any:
    return api.call(key, "GET", "/v1/me")


def _submit(api: Api, key: str, text: str) -> int:
    r = api.call(key, "POST", "/v1/submissions", json={"text": text})
    assert r.status_code == 201, r.text
    return int(r.json()["task"]["id"])


# -- several keys, each with its own roles --------------------------------------------------------
def test_an_organisation_holds_a_curator_key_and_a_reviewer_key(api: Api) -> None:
    curator = api.new_key("alpha", ["curator"], "bank upkeep")
    reviewer = api.new_key("alpha", ["reviewer"], "review desk")
    assert (curator["member"], curator["roles"], curator["label"]) == ("alpha", ["curator"], "bank upkeep")
    assert _me(api, reviewer["api_key"]).json()["roles"] == ["reviewer"]
    assert _me(api, curator["api_key"]).json()["roles"] == ["curator"]

    # the curator key makes alpha's private bank; the reviewer key may not
    made = api.call(curator["api_key"], "POST", "/v1/banks", json={"name": "alpha-weather", "visibility": "private"})
    assert made.status_code == 201, made.text
    assert made.json()["owner"] == "alpha"
    refused = api.call(reviewer["api_key"], "POST", "/v1/banks", json={"name": "alpha-other"})
    assert refused.status_code == 403

    # the reviewer key confirms into its own organisation's private bank
    task = _submit(api, "scanner", POST_EN)
    r = api.call(reviewer["api_key"], "POST", f"/v1/reviews/{task}/decision",
                 json={"decision": "confirm", "reason": REASON, "bank": "alpha-weather",
                       "labels": {"entity": "demo-entity"}})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.json()["decisions"][0]["member"] == "alpha"
    item = api.call(curator["api_key"], "GET", f"/v1/banks/alpha-weather/items/review-{task}")
    assert item.status_code == 200 and item.json()["added_by"] == "alpha"
    # ... and the curator key cannot review
    assert api.call(curator["api_key"], "GET", "/v1/reviews").status_code == 403

    deadline = time.monotonic() + 10  # each worker writes the keys' last use from its refresh loop
    while not all((keys := api.admin("GET", "/v1/members/alpha/keys").json()["keys"])[i]["last_used_at"]
                  for i in (1, 2)):
        assert time.monotonic() < deadline, keys
        time.sleep(0.05)
    assert [(k["label"], k["roles"], k["inherits_roles"]) for k in keys] == [
        (None, ["curator", "reviewer"], True), ("bank upkeep", ["curator"], False),
        ("review desk", ["reviewer"], False)]
    assert all(k["created_by"] == "boss" for k in keys[1:])
    assert all("api_key" not in k and "key_hash" not in k for k in keys)
    added = api.audit("key.add")
    assert [(e["actor"], e["target"], e["details"]["roles"]) for e in added] == [
        ("boss", "member:alpha", ["curator"]), ("boss", "member:alpha", ["reviewer"])]


def test_a_key_cannot_hold_a_role_its_organisation_does_not(api: Api) -> None:
    before = api.admin("GET", "/v1/members/alpha/keys").json()
    r = api.admin("POST", "/v1/members/alpha/keys", json={"roles": ["admin"]})
    assert r.status_code == 400 and "does not hold role admin" in r.json()["error"]["message"]
    assert api.admin("POST", "/v1/members/nobody/keys", json={}).status_code == 404
    assert api.admin("POST", "/v1/members/alpha/keys", json={"label": "   "}).status_code == 400
    assert api.admin("GET", "/v1/members/alpha/keys").json() == before


def test_revoking_one_key_leaves_the_others_working(api: Api) -> None:
    first = api.keys["alpha"]
    second = api.new_key("alpha", ["reviewer"], "night shift")
    third = api.new_key("alpha", None, "pipeline")
    r = api.admin("POST", f"/v1/members/alpha/keys/{second['prefix']}/revoke")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == second["id"] and r.json()["revoked_at"]
    assert _me(api, second["api_key"]).status_code == 401
    assert _me(api, first).status_code == 200 and _me(api, third["api_key"]).status_code == 200
    again = api.admin("POST", f"/v1/members/alpha/keys/{second['id']}/revoke")
    assert again.status_code == 409 and "already revoked" in again.json()["error"]["message"]
    assert api.admin("POST", "/v1/members/alpha/keys/thf_zzzz/revoke").status_code == 404
    # another member's key is not alpha's to revoke
    beta_key = api.admin("GET", "/v1/members/beta/keys").json()["keys"][0]["id"]
    assert api.admin("POST", f"/v1/members/alpha/keys/{beta_key}/revoke").status_code == 404
    assert _me(api, "beta").status_code == 200
    [entry] = api.audit("key.revoke")
    assert entry["details"]["key"] == second["id"] and entry["target"] == "member:alpha"


def test_a_member_rotating_its_own_key_replaces_only_that_key_with_the_same_roles(api: Api) -> None:
    reviewer = api.new_key("alpha", ["reviewer"], "review desk")
    r = api.call(reviewer["api_key"], "POST", "/v1/members/alpha/key")
    assert r.status_code == 200, r.text
    new = r.json()["api_key"]
    assert _me(api, reviewer["api_key"]).status_code == 401
    assert _me(api, new).json()["roles"] == ["reviewer"]  # no more than the key it replaces
    assert _me(api, "alpha").json()["roles"] == ["curator", "reviewer"]  # the other key still works
    keys = api.admin("GET", "/v1/members/alpha/keys").json()["keys"]
    assert [(k["label"], k["revoked_at"] is None) for k in keys] == [
        (None, True), ("review desk", False), ("review desk", True)]


# -- role changes ---------------------------------------------------------------------------------
def test_changing_an_organisations_roles_changes_what_its_keys_may_do(api: Api) -> None:
    both = api.new_key("alpha", ["curator", "reviewer"], "both")
    curator = api.new_key("alpha", ["curator"], "curator only")
    r = api.admin("PUT", "/v1/members/alpha/roles", json={"roles": ["reviewer", "viewer"]})
    assert r.status_code == 200 and r.json()["roles"] == ["reviewer", "viewer"], r.text
    assert _me(api, "alpha").json()["roles"] == ["reviewer", "viewer"]  # the first key follows
    assert _me(api, both["api_key"]).json()["roles"] == ["reviewer"]  # narrowed
    assert _me(api, curator["api_key"]).status_code == 401  # left with no role: revoked
    assert api.call("alpha", "POST", "/v1/banks", json={"name": "alpha-new"}).status_code == 403
    [entry] = api.audit("member.roles")
    assert entry["details"] == {"roles": ["reviewer", "viewer"], "previous": ["curator", "reviewer"],
                                "keys_narrowed": [both["id"]], "keys_revoked": [curator["id"]]}
    # giving a role back does not widen a key that had roles of its own
    assert api.admin("PUT", "/v1/members/alpha/roles", json={"roles": ["curator", "reviewer"]}).status_code == 200
    assert _me(api, "alpha").json()["roles"] == ["curator", "reviewer"]
    assert _me(api, both["api_key"]).json()["roles"] == ["reviewer"]
    # refused: unknown roles, unknown member, a non-admin, an admin demoting its own organisation
    assert api.admin("PUT", "/v1/members/alpha/roles", json={"roles": ["owner"]}).status_code == 422
    assert api.admin("PUT", "/v1/members/nobody/roles", json={"roles": ["viewer"]}).status_code == 404
    assert api.call("beta", "PUT", "/v1/members/alpha/roles", json={"roles": ["viewer"]}).status_code == 403
    assert api.admin("PUT", "/v1/members/boss/roles", json={"roles": ["viewer"]}).status_code == 400
    assert _me(api, "boss").json()["roles"] == ["admin"]


# -- removal and transfer -------------------------------------------------------------------------
def _alpha_with_history(api: Api) -> dict[str, Any]:
    """alpha owns a bank shared with beta, made a submission, gave feedback and has a webhook."""
    r = api.call("alpha", "POST", "/v1/banks", json={"name": "alpha-markets", "visibility": "members",
                                                     "shared_with": ["beta"], "labels": {"entity": "demo-entity"}})
    assert r.status_code == 201, r.text
    r = api.call("beta", "POST", "/v1/banks", json={"name": "beta-library", "visibility": "all"})
    assert r.status_code == 201, r.text
    r = api.call("beta", "POST", "/v1/banks/beta-library/items",
                 json={"items": [{"external_id": "shelf-1", "signals": [{"type": "md5", "value": "1" * 32}]}]})
    assert r.status_code == 200, r.text
    r = api.call("alpha", "POST", "/v1/feedback", json={"bank": "beta-library", "external_id": "shelf-1",
                                                        "opinion": "false_positive", "reason": "a library photo"})
    assert r.status_code == 200, r.text
    r = api.call("alpha", "POST", "/v1/webhooks", json={"url": "https://hooks.example.org/alpha",
                                                        "events": ["review.decided"]})
    assert r.status_code == 201, r.text
    return {"task": _submit(api, "alpha", OTHER_EN)}


def test_removing_a_member_that_owns_banks_is_refused_until_they_move(api: Api) -> None:
    made = _alpha_with_history(api)
    before = (api.admin("GET", "/v1/members").json(), api.admin("GET", "/v1/audit/verify").json()["entries"])
    r = api.admin("DELETE", "/v1/members/alpha")
    assert r.status_code == 409 and "alpha-markets" in r.json()["error"]["message"], r.text
    assert (api.admin("GET", "/v1/members").json(), api.admin("GET", "/v1/audit/verify").json()["entries"]) == before
    assert _me(api, "alpha").status_code == 200
    assert api.admin("DELETE", "/v1/members/alpha", params={"transfer_banks_to": "nobody"}).status_code == 400

    r = api.admin("DELETE", "/v1/members/alpha", params={"transfer_banks_to": "beta"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["banks_transferred"], out["transferred_to"], out["keys"]) == (["alpha-markets"], "beta", 1)
    assert (out["webhooks_deleted"], out["feedback_deleted"], out["submissions_kept"]) == (1, 1, 1)
    assert _me(api, "alpha").status_code == 401
    assert "alpha" not in {m["name"] for m in api.admin("GET", "/v1/members").json()["members"]}
    bank = api.call("beta", "GET", "/v1/banks/alpha-markets").json()
    assert (bank["owner"], bank["visibility"], bank["shared_with"]) == ("beta", "members", [])
    assert api.call("beta", "PATCH", "/v1/banks/alpha-markets", json={"visibility": "all"}).status_code == 200
    # history stays, without the member; its feedback and webhooks are gone
    task = api.call("rev", "GET", f"/v1/reviews/{made['task']}").json()
    assert task["member"] is None and task["submission"]["text"] == OTHER_EN
    opinions = api.call("beta", "GET", "/v1/feedback", params={"bank": "beta-library", "external_id": "shelf-1"})
    assert opinions.status_code == 200 and "alpha" not in opinions.text
    hooks = api.admin("GET", "/v1/webhooks", params={"all": "true"}).json()
    assert "hooks.example.org/alpha" not in str(hooks)
    assert [e["details"]["to"] for e in api.audit("bank.transfer")] == ["beta"]
    [removed] = api.audit("member.remove")
    assert removed["target"] == "member:alpha" and removed["details"]["banks_transferred"] == ["alpha-markets"]
    assert api.admin("GET", "/v1/audit/verify").json()["ok"] is True
    # the name can be used again; the new alpha owns nothing of the old one
    again = api.admin("POST", "/v1/members", json={"name": "alpha", "roles": ["curator"]})
    assert again.status_code == 201
    assert api.call(again.json()["api_key"], "GET", "/v1/banks/alpha-markets").json()["owner"] == "beta"
    assert api.admin("DELETE", "/v1/members/boss").status_code == 400  # not one's own organisation


def test_an_admin_moves_a_bank_to_another_member(api: Api) -> None:
    assert api.call("alpha", "POST", "/v1/banks", json={"name": "alpha-rain", "visibility": "private"}
                    ).status_code == 201
    assert api.call("beta", "GET", "/v1/banks/alpha-rain").status_code == 404
    assert api.call("alpha", "POST", "/v1/banks/alpha-rain/transfer", json={"to": "beta"}).status_code == 403
    assert api.admin("POST", "/v1/banks/alpha-rain/transfer", json={"to": "nobody"}).status_code == 400
    assert api.admin("POST", "/v1/banks/no-such-bank/transfer", json={"to": "beta"}).status_code == 404
    r = api.admin("POST", "/v1/banks/alpha-rain/transfer", json={"to": "beta"})
    assert r.status_code == 200 and r.json()["owner"] == "beta", r.text
    assert api.call("alpha", "GET", "/v1/banks/alpha-rain").status_code == 404
    assert api.call("beta", "PATCH", "/v1/banks/alpha-rain", json={"labels": {"tier": "promotional"}}
                    ).status_code == 200
    assert api.admin("POST", "/v1/banks/alpha-rain/transfer", json={"to": "beta"}).status_code == 409
    [entry] = api.audit("bank.transfer")
    assert (entry["actor"], entry["target"], entry["details"]) == ("boss", "bank:alpha-rain",
                                                                   {"from": "alpha", "to": "beta"})


def test_a_bank_moves_by_its_qualified_name_and_never_gives_its_receiver_two_of_one_name(api: Api) -> None:
    # bank names are scoped per owner: alpha and beta may each have a bank named "rain"
    for member in ("alpha", "beta"):
        r = api.call(member, "POST", "/v1/banks", json={"name": "rain", "visibility": "private"})
        assert r.status_code == 201, r.text
    r = api.admin("POST", "/v1/banks/alpha:rain/transfer", json={"to": "beta"})
    assert r.status_code == 409 and "already has a bank named 'rain'" in r.json()["error"]["message"], r.text
    assert api.call("alpha", "GET", "/v1/banks/rain").status_code == 200  # nothing moved
    assert api.call("beta", "DELETE", "/v1/banks/rain").status_code in (200, 204)
    r = api.admin("POST", "/v1/banks/alpha:rain/transfer", json={"to": "beta"})
    assert r.status_code == 200 and r.json()["owner"] == "beta", r.text
    assert api.call("alpha", "GET", "/v1/banks/rain").status_code == 404
    assert api.call("beta", "GET", "/v1/banks/rain").status_code == 200


# -- claims -----------------------------------------------------------------------------------------
def test_an_admin_releases_a_claim_at_once(api: Api) -> None:
    task = _submit(api, "scanner", POST_EN)
    assert api.call("alpha", "POST", f"/v1/reviews/{task}/claim").status_code == 200
    assert api.call("beta", "POST", f"/v1/reviews/{task}/claim").status_code == 409
    assert api.call("beta", "POST", f"/v1/reviews/{task}/release").status_code == 403  # not its claim
    assert api.call("scanner", "POST", f"/v1/reviews/{task}/release").status_code == 403  # no review role
    r = api.admin("POST", f"/v1/reviews/{task}/release")
    assert r.status_code == 200 and r.json()["claimed_by"] is None, r.text
    assert api.admin("POST", f"/v1/reviews/{task}/release").status_code == 409  # nothing to release
    assert api.call("beta", "POST", f"/v1/reviews/{task}/claim").json()["claimed_by"] == "beta"
    assert api.call("beta", "POST", f"/v1/reviews/{task}/release").status_code == 200  # its holder may
    assert [(e["actor"], e["target"], e["details"]) for e in api.audit("review.release")] == [
        ("boss", f"review:{task}", {"claimed_by": "alpha"}), ("beta", f"review:{task}", {"claimed_by": "beta"})]
    r = api.call("rev", "POST", f"/v1/reviews/{task}/decision", json={"decision": "escalate", "reason": REASON})
    assert r.status_code == 200 and r.json()["status"] == "escalated"
    r = api.admin("POST", f"/v1/reviews/{task}/release")
    assert r.status_code == 409 and "not claimed" in r.json()["error"]["message"]


def test_a_decided_task_has_no_claim_to_release(api: Api) -> None:
    task = _submit(api, "scanner", POST_EN)
    r = api.call("alpha", "POST", f"/v1/reviews/{task}/decision", json={"decision": "reject", "reason": REASON})
    assert r.status_code == 200
    r = api.admin("POST", f"/v1/reviews/{task}/release")
    assert r.status_code == 409 and "already rejected" in r.json()["error"]["message"]
    assert api.admin("POST", "/v1/reviews/999999/release").status_code == 404


# -- names -------------------------------------------------------------------------------------------
BAD_NAMES = ["org/x", "Org", "a b", ".hidden", "-dash", "x" * 64, "", "ümlaut", "tab\tname"]


@SQLITE_ONLY
def test_organisation_names_are_checked_at_every_entry_point(api: Api) -> None:
    for name in BAD_NAMES:
        with pytest.raises(InvalidInput, match="invalid organisation name"):
            api.hub.accounts.add_member("cli:test", name, ["viewer"])
        r = api.admin("POST", "/v1/members", json={"name": name, "roles": ["viewer"]})
        assert r.status_code == 422 and r.json()["error"]["message"].startswith("name: "), (name, r.text)
    assert {m.name for m in api.hub.hubstore.list_members()} == {"boss", "alpha", "beta", "scanner", "rev"}
    for good in ("ngo-1.demo_2", "a", "9" * 63):
        member, _key = api.hub.accounts.add_member("cli:test", good, ["viewer"])
        assert member.name == good


def test_a_principal_made_in_process_equals_the_one_its_key_gives(api: Api) -> None:
    """Two keys of one organisation with the same roles act as the same member."""
    other = api.new_key("alpha", None)
    a, b = api.hub.accounts.authenticate(api.keys["alpha"]), api.hub.accounts.authenticate(other["api_key"])
    assert a is not None and b is not None and a.key_id != b.key_id
    assert a == b == Principal(a.member_id, "alpha", ("curator", "reviewer"))
