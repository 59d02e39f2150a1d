"""Who may do what through the hub API: every /v1 operation of the matching,
banks and admin routers against every role, and every bank operation against
every bank visibility (private, shared with listed members, shared with all,
and the hub operator's banks). The expected answers are written out here, not
read from tahaluf.access, so the rules themselves are under test.

A member that may not see a bank gets 404 for it, exactly as for a bank that
does not exist; one that sees it but may not change it gets 403; a refused
request changes nothing and writes nothing to the audit log.
"""

from __future__ import annotations

import itertools
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from neutral_posts import OTHER_EN, POST_EN
from hubproc import READY_TIMEOUT_S, SETTLE_S
from tahaluf.access import Principal
from tahaluf.api.app import create_app
from tahaluf.banks import NewItem, add_items, create_bank
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import Hub, HubConfig
from tahaluf.signals.base import Signal
from tahaluf.signals.text import text_signal

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the test client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

#: the md5 of every bank's first item (lookups must only return the banks the caller sees)
ITEM_MD5 = "0123456789abcdef0123456789abcdef"
NEW_MD5 = "fedcba9876543210fedcba9876543210"
UPLOAD = ("post.txt", POST_EN.encode(), "text/plain")

# -- the rules, written out -----------------------------------------------------

#: member name -> roles; "curator" owns the test banks, "other" is a second curator (another organisation)
MEMBERS = {
    "admin": ["admin"],
    "curator": ["curator"],
    "other": ["curator"],
    "reviewer": ["reviewer"],
    "matcher": ["matcher"],
    "viewer": ["viewer"],
}
ALL = frozenset(MEMBERS)
#: which members hold each capability an operation needs ("any": every member with a valid key)
MAY = {
    "any": ALL,
    "read": frozenset({"admin", "curator", "other", "reviewer", "viewer"}),
    "match": frozenset({"admin", "curator", "other", "reviewer", "matcher"}),
    "curate": frozenset({"admin", "curator", "other"}),
    "admin": frozenset({"admin"}),
}
#: bank visibilities under test: owner (None: the hub operator), visibility, members it is shared with
BANKS: dict[str, tuple[str | None, str, tuple[str, ...]]] = {
    "private": ("curator", "private", ()),
    "members": ("curator", "members", ("other", "matcher")),
    "all": ("curator", "all", ()),
    "operator": (None, "all", ()),
    "operator-private": (None, "private", ()),
}
SEES = {
    "private": frozenset({"admin", "curator"}),
    "members": frozenset({"admin", "curator", "other", "matcher"}),
    "all": ALL,
    "operator": ALL,
    "operator-private": frozenset({"admin"}),
}
OWNS = {
    "private": frozenset({"admin", "curator"}),
    "members": frozenset({"admin", "curator"}),
    "all": frozenset({"admin", "curator"}),
    "operator": frozenset({"admin"}),
    "operator-private": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Call:
    """One API operation as the matrix sends it. ``{bank}``, ``{item}``, ``{member}``,
    ``{key}`` (the id of the member's first key) and ``{new}`` (a fresh name) are filled in
    per request; ``bank`` says whether the operation shows a bank's data ("read") or
    changes the bank ("change")."""

    method: str
    path: str
    need: str
    bank: str = ""
    json: Any = None
    params: dict[str, Any] | None = None
    upload: bool = False
    form: dict[str, str] | None = None
    body: bytes | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


CALLS = [
    # matching
    Call("GET", "/v1/lookup", "match", params={"type": "md5", "value": ITEM_MD5}),
    Call("POST", "/v1/lookup", "match", json={"signals": [{"type": "md5", "value": ITEM_MD5}]}),
    Call("POST", "/v1/lookup/text", "match", json={"text": POST_EN}),
    Call("POST", "/v1/lookup/content", "match", upload=True),
    Call("POST", "/v1/hash", "match", upload=True),
    Call("POST", "/v1/hash/text", "match", json={"text": POST_EN}),
    # banks
    Call("GET", "/v1/banks", "read"),
    Call("POST", "/v1/banks", "curate", json={"name": "{new}", "labels": {"entity": "demo-entity"}}),
    Call("GET", "/v1/banks/{bank}", "read", bank="read"),
    Call("PATCH", "/v1/banks/{bank}", "curate", bank="change", json={"labels": {"tier": "promotional"}}),
    Call("DELETE", "/v1/banks/{bank}", "curate", bank="change"),
    Call("GET", "/v1/banks/{bank}/items", "read", bank="read"),
    Call("POST", "/v1/banks/{bank}/items", "curate", bank="change",
         json={"items": [{"external_id": "{new}", "signals": [{"type": "md5", "value": NEW_MD5}]}]}),
    Call("POST", "/v1/banks/{bank}/items/content", "curate", bank="change", upload=True,
         form={"external_id": "{new}"}),
    Call("GET", "/v1/banks/{bank}/items/{item}", "read", bank="read"),
    Call("PATCH", "/v1/banks/{bank}/items/{item}", "curate", bank="change", json={"enabled": False}),
    Call("DELETE", "/v1/banks/{bank}/items/{item}", "curate", bank="change"),
    Call("POST", "/v1/banks/{bank}/transfer", "admin", bank="change", json={"to": "other"}),
    Call("GET", "/v1/banks/{bank}/export", "read", bank="read", params={"format": "jsonl"}),
    Call("POST", "/v1/banks/{bank}/import", "curate", bank="change", params={"format": "pytx"},
         body=b"md5 " + b"5" * 32 + b"\n"),
    # admin
    Call("GET", "/v1/me", "any"),
    Call("GET", "/v1/directory", "any"),
    Call("GET", "/v1/members", "admin"),
    Call("POST", "/v1/members", "admin", json={"name": "{new}", "roles": ["viewer"]}),
    Call("POST", "/v1/members/{member}/disable", "admin"),
    Call("POST", "/v1/members/{member}/enable", "admin"),
    Call("POST", "/v1/members/{member}/key", "admin"),  # of another member; one's own: see below
    Call("PUT", "/v1/members/{member}/roles", "admin", json={"roles": ["viewer", "matcher"]}),
    Call("DELETE", "/v1/members/{member}", "admin"),
    Call("GET", "/v1/members/{member}/keys", "admin"),
    Call("POST", "/v1/members/{member}/keys", "admin", json={"roles": ["viewer"], "label": "{new}"}),
    Call("POST", "/v1/members/{member}/keys/{key}/revoke", "admin"),
    Call("GET", "/v1/settings", "admin"),
    Call("PUT", "/v1/settings", "admin", json={"settings": {"review_claim_ttl_s": 900}}),
    Call("GET", "/v1/audit", "admin"),
    Call("GET", "/v1/audit/verify", "admin"),
    Call("POST", "/v1/audit/sign", "admin"),
    Call("GET", "/v1/audit/public-key", "admin"),
]
BANK_CALLS = [c for c in CALLS if c.bank]
TAGS = {"matching", "banks", "admin"}


def expected(call: Call, member: str, vis: str) -> int:
    """200 (any 2xx), 403 or 404 for ``member`` sending ``call`` about a bank of visibility ``vis``."""
    if member not in MAY[call.need]:
        return 403
    if call.bank and member not in SEES[vis]:
        return 404
    if call.bank == "change" and member not in OWNS[vis]:
        return 403
    return 200


# -- a hub with these members ---------------------------------------------------------------


@dataclass
class Env:
    hub: Hub
    client: TestClient
    keys: dict[str, str]
    who: dict[str, Principal]
    counter: Iterator[int] = field(default_factory=itertools.count)

    def new(self, what: str) -> str:
        return f"{what}-{next(self.counter)}"

    def bank(self, vis: str, name: str | None = None) -> str:
        """A new bank of visibility ``vis`` holding one item, ``item-1`` (md5 ITEM_MD5)."""
        owner, visibility, shared = BANKS[vis]
        name = name or self.new(vis)
        if owner is None:  # the hub operator's: made with the bank library, as `tahaluf bank create` does
            record = create_bank(self.hub.store, name, labels={"entity": "demo-entity"})
            self.hub.store.update_bank(record.id, visibility=visibility)
        else:
            self.hub.banks.create(self.who[owner], name, labels={"entity": "demo-entity"}, visibility=visibility,
                                 shared_with=list(shared))
        add_items(self.hub.store, name, [NewItem("item-1", [Signal("md5", ITEM_MD5)])], added_by="test")
        return name

    def send(self, call: Call, auth: str | None, *, bank: str = "", member: str = "") -> Any:
        key = str(self.hub.hubstore.keys_of(self.hub.accounts.member(member).id)[0].id) if member else ""
        names = {"bank": bank, "item": "item-1", "member": member, "key": key, "new": self.new("new")}
        kwargs: dict[str, Any] = {"headers": {"Authorization": auth} if auth else {}}
        if call.json is not None:
            kwargs["json"] = _fill(call.json, names)
        if call.params:
            kwargs["params"] = call.params
        if call.upload:
            kwargs["files"] = {"file": UPLOAD}
        if call.form:
            kwargs["data"] = _fill(call.form, names)
        if call.body is not None:
            kwargs["content"] = call.body
        return self.client.request(call.method, call.path.format(**names), **kwargs)

    def as_member(self, call: Call, caller: str, **kw: str) -> Any:
        return self.send(call, f"Bearer {self.keys[caller]}", **kw)

    def world(self, bank: str = "", member: str = "") -> dict[str, Any]:
        """What a refused request must leave as it was."""
        hub = self.hub
        record = hub.store.get_bank(bank) if bank else None
        head = hub.hubstore.audit_head()
        return {
            "bank": record and (record.owner, record.visibility, record.default_labels, record.pdq_max_distance),
            "items": record and [(i.external_id, i.enabled, i.labels)
                                 for i in hub.store.list_items(record.id, limit=100)],
            "members": [(m.name, m.enabled, m.roles) for m in hub.hubstore.list_members()],
            "member_keys": member and [(k.prefix, k.revoked_at) for k in hub.hubstore.keys_of(hub.accounts.member(member).id)],
            "settings": hub.hubstore.get_settings(),
            "audit_head": head and head.id,
        }


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


@contextmanager
def open_env(url: str) -> Iterator[Env]:
    hub = open_hub(HubConfig(db=url, snapshot=False, refresh_interval_s=0.05, rate_limit_per_s=0))
    keys, who = {}, {}
    for name, roles in MEMBERS.items():
        member, keys[name] = hub.accounts.add_member("cli:test", name, roles)
        who[name] = Principal(member.id, member.name, tuple(member.roles))
    with TestClient(create_app(hub.config, hub=hub)) as client:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not hub.ready:
            assert time.monotonic() < deadline, "the hub never became ready"
            time.sleep(0.02)
        yield Env(hub, client, keys, who)
    hub.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with open_env(f"sqlite:///{tmp_path_factory.mktemp('access') / 'hub.db'}") as e:
        yield e


def check_access(env: Env, call: Call, member: str, vis: str) -> None:
    """Send ``call`` as ``member`` about a new bank of visibility ``vis``; check the answer
    and, when refused, that nothing changed."""
    bank = env.bank(vis) if call.bank else ""
    target = env.hub.accounts.add_member("cli:test", env.new("target"), ["viewer"])[0].name if "{member}" in call.path else ""
    before = env.world(bank, target)
    resp = env.as_member(call, member, bank=bank, member=target)
    want = expected(call, member, vis)
    where = f"{call} as {member} on a {vis} bank"
    if want == 200:
        assert 200 <= resp.status_code < 300, f"{where}: {resp.status_code} {resp.text}"
        if call.bank == "read":
            assert "item-1" in resp.text or bank in resp.text, f"{where}: {resp.text}"
        return
    assert resp.status_code == want, f"{where}: expected {want}, got {resp.status_code} {resp.text}"
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == {403: "permission_denied", 404: "not_found"}[want]
    assert env.world(bank, target) == before, f"{where}: a refused request changed something"
    if want == 404:  # indistinguishable from a bank that does not exist
        ghost = env.new("ghost")
        missing = env.as_member(call, member, bank=ghost, member=target)
        assert missing.status_code == 404
        assert missing.json()["error"]["message"].replace(ghost, "B") == body["error"]["message"].replace(bank, "B")


# -- the matrix ---------------------------------------------------------------------


def test_every_operation_of_these_routers_is_in_the_matrix(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    routed = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if path.startswith("/v1/") and TAGS & set(op.get("tags", ()))
    }
    listed = {(c.method, re.sub(r"\{[^}]+\}", "{}", c.path)) for c in CALLS}
    assert routed == listed


def _cases() -> Iterator[Any]:
    for call in CALLS:
        for vis in BANKS if call.bank else ["all"]:
            for member in MEMBERS:
                yield pytest.param(call, member, vis, id=f"{call}-{vis}-{member}")


@pytest.mark.parametrize(("call", "member", "vis"), list(_cases()))
def test_each_role_and_bank_visibility(env: Env, call: Call, member: str, vis: str) -> None:
    check_access(env, call, member, vis)


@pytest.mark.parametrize("auth", ["none", "wrong", "not-bearer", "rotated", "disabled"])
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_a_missing_or_wrong_key_gets_401(env: Env, call: Call, auth: str) -> None:
    header = {"none": None, "wrong": "Bearer thf_not-a-key", "not-bearer": f"Basic {env.keys['admin']}"}.get(auth)
    if auth in ("rotated", "disabled"):
        name = env.new(auth)
        _, key = env.hub.accounts.add_member("cli:test", name, ["admin"])
        if auth == "rotated":
            env.hub.accounts.rotate_key("cli:test", name)
        else:
            env.hub.accounts.set_enabled("cli:test", name, False)
        header = f"Bearer {key}"
    bank = env.bank("all")
    before = env.world(bank, "viewer")
    resp = env.send(call, header, bank=bank, member="viewer")
    assert resp.status_code == 401, f"{call} with a {auth} key: {resp.status_code} {resp.text}"
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["error"]["code"] == "unauthorized"
    assert env.world(bank, "viewer") == before


def test_every_v1_operation_needs_a_key(env: Env) -> None:
    """Every /v1 operation in the live OpenAPI (other routers too) answers 401 without a key."""
    spec = env.client.get("/openapi.json").json()
    wrong = []
    for path, ops in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method in ops:
            url = re.sub(r"\{[^}]+\}", "1", path)
            resp = env.client.request(method.upper(), url)
            if resp.status_code != 401 or resp.json()["error"]["code"] != "unauthorized":
                wrong.append(f"{method.upper()} {path}: {resp.status_code}")
    assert not wrong


def test_the_bank_list_holds_exactly_the_banks_a_member_sees(env: Env) -> None:
    names = {vis: env.bank(vis) for vis in BANKS}
    for member in MEMBERS:
        resp = env.client.get("/v1/banks", headers={"Authorization": f"Bearer {env.keys[member]}"})
        if member not in MAY["read"]:
            assert resp.status_code == 403
            continue
        listed = {b["name"] for b in resp.json()["banks"]}
        assert listed & set(names.values()) == {names[v] for v in BANKS if member in SEES[v]}, member


def test_every_member_may_rotate_its_own_key(env: Env) -> None:
    for role in ("admin", "curator", "reviewer", "matcher", "viewer"):
        name = env.new(f"self-{role}")
        _, old = env.hub.accounts.add_member("cli:test", name, [role])
        resp = env.client.post(f"/v1/members/{name}/key", headers={"Authorization": f"Bearer {old}"})
        assert resp.status_code == 200, resp.text
        new = resp.json()["api_key"]
        assert env.client.get("/v1/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
        me = env.client.get("/v1/me", headers={"Authorization": f"Bearer {new}"})
        assert me.status_code == 200 and me.json()["name"] == name


# -- lookups see only visible banks ---------------------------------------------------------


def _matched_banks(env: Env, member: str, banks: set[str]) -> dict[str, set[str]]:
    """The banks among ``banks`` each kind of lookup returns for ``member`` (None: refused)."""
    auth = {"Authorization": f"Bearer {env.keys[member]}"}
    single = env.client.get("/v1/lookup", params={"type": "md5", "value": ITEM_MD5}, headers=auth)
    batch = env.client.post("/v1/lookup", json={"signals": [{"type": "md5", "value": ITEM_MD5}]}, headers=auth)
    text = env.client.post("/v1/lookup/text", json={"text": OTHER_EN}, headers=auth)
    out = {}
    for kind, resp in (("single", single), ("batch", batch), ("text", text)):
        if resp.status_code == 403:
            out[kind] = None
            continue
        assert resp.status_code == 200, resp.text
        result = resp.json()["results"][0] if kind == "batch" else resp.json()
        out[kind] = {m["bank"] for m in result["matches"]} & banks
    return out


def check_lookups(env: Env) -> None:
    """The same md5 and text in a bank of each visibility: each member's lookups return
    exactly the banks it may see."""
    names = {vis: env.bank(vis, env.new(f"lookup-{vis}")) for vis in BANKS}
    for name in names.values():
        add_items(env.hub.store, name, [NewItem("post", [text_signal(OTHER_EN)])], added_by="test")
    banks = set(names.values())
    deadline = time.monotonic() + SETTLE_S
    while _matched_banks(env, "admin", banks) != {"single": banks, "batch": banks, "text": banks}:
        assert time.monotonic() < deadline, "the new items never reached the index"
        time.sleep(0.05)
    for member in MEMBERS:
        got = _matched_banks(env, member, banks)
        if member not in MAY["match"]:
            assert got == {"single": None, "batch": None, "text": None}, member
            continue
        want = {names[v] for v in BANKS if member in SEES[v]}
        assert got == {"single": want, "batch": want, "text": want}, member


def test_lookups_return_only_banks_the_member_sees(env: Env) -> None:
    check_lookups(env)


def test_changing_the_sharing_changes_who_sees_the_bank_at_once(env: Env) -> None:
    bank = env.bank("private", env.new("moving"))
    curator = {"Authorization": f"Bearer {env.keys['curator']}"}

    def seen_by(member: str) -> tuple[int, bool]:
        auth = {"Authorization": f"Bearer {env.keys[member]}"}
        shown = env.client.get(f"/v1/banks/{bank}", headers=auth).status_code
        found = env.client.get("/v1/lookup", params={"type": "md5", "value": ITEM_MD5}, headers=auth)
        return shown, bank in {m["bank"] for m in found.json()["matches"]}

    deadline = time.monotonic() + SETTLE_S
    while not seen_by("curator")[1]:
        assert time.monotonic() < deadline, "the new item never reached the index"
        time.sleep(0.05)
    assert seen_by("other") == (404, False)
    steps = [
        ({"visibility": "members", "shared_with": ["other"]}, (200, True), (404, False)),
        ({"shared_with": ["reviewer"]}, (404, False), (200, True)),
        ({"visibility": "all"}, (200, True), (200, True)),
        ({"visibility": "private"}, (404, False), (404, False)),
    ]
    for patch, other, reviewer in steps:
        resp = env.client.patch(f"/v1/banks/{bank}", json=patch, headers=curator)
        assert resp.status_code == 200, resp.text
        assert seen_by("other") == other, patch
        assert seen_by("reviewer")[0] == reviewer[0], patch


# -- names that must not reveal what the caller cannot see -----------------------------------


def _as(env: Env, member: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.keys[member]}"}


def test_creating_a_bank_answers_alike_whether_or_not_a_hidden_bank_has_the_name(env: Env) -> None:
    """Bank names are scoped per owner: another member's private bank of the same name
    changes nothing in any answer to a member that cannot see it."""
    taken, free = env.new("weather-notes"), env.new("weather-notes")
    made = env.client.post("/v1/banks", json={"name": taken, "visibility": "private"}, headers=_as(env, "curator"))
    assert made.status_code == 201, made.text
    answers = {}
    for name in (taken, free):
        r = env.client.post("/v1/banks", json={"name": name, "labels": {"entity": "demo-entity"}},
                            headers=_as(env, "other"))
        answers[name] = (r.status_code, {k: v for k, v in r.json().items() if k != "created_at"})
    assert answers[taken] == (201, {**answers[free][1], "name": taken}), answers
    for member in ("other", "curator"):  # each is shown its own bank under the plain name
        r = env.client.get(f"/v1/banks/{taken}", headers=_as(env, member))
        assert (r.status_code, r.json()["name"], r.json()["owner"]) == (200, taken, member), r.text
        again = env.client.post("/v1/banks", json={"name": taken}, headers=_as(env, member))
        assert again.status_code == 409 and again.json()["error"]["message"] == (
            f"you already have a bank named {taken!r}"), again.text
    item = {"items": [{"external_id": "forecast-1", "signals": [{"type": "md5", "value": NEW_MD5}]}]}
    r = env.client.post(f"/v1/banks/{taken}/items", json=item, headers=_as(env, "other"))
    assert r.status_code == 200 and r.json()["imported"] == 1, r.text
    mine = env.client.get(f"/v1/banks/{taken}/items", headers=_as(env, "curator")).json()["items"]
    assert mine == []  # the item went to other's bank, not to the curator's of the same name
    listed = {b["name"]: b["owner"] for b in env.client.get("/v1/banks", headers=_as(env, "other")).json()["banks"]
              if taken in b["name"]}
    assert listed == {taken: "other"}  # nothing says another bank has the name
    # a member that sees both is shown them as owner:name, and a plain name names neither
    listed = {b["name"] for b in env.client.get("/v1/banks", headers=_as(env, "admin")).json()["banks"]}
    assert {f"curator:{taken}", f"other:{taken}"} <= listed and taken not in listed
    ambiguous = env.client.get(f"/v1/banks/{taken}", headers=_as(env, "admin"))
    assert ambiguous.status_code == 400 and f"other:{taken}" in ambiguous.json()["error"]["message"]
    r = env.client.get(f"/v1/banks/other:{taken}", headers=_as(env, "admin"))
    assert (r.status_code, r.json()["owner"], r.json()["counts"]["items"]) == (200, "other", 1), r.text
    deadline = time.monotonic() + 10
    while True:  # lookups name the bank as the caller knows it
        found = env.client.get("/v1/lookup", params={"type": "md5", "value": NEW_MD5}, headers=_as(env, "other"))
        banks = {m["bank"] for m in found.json()["matches"]}
        if taken in banks:
            break
        assert time.monotonic() < deadline, found.text
        time.sleep(0.05)
    found = env.client.get("/v1/lookup", params={"type": "md5", "value": NEW_MD5}, headers=_as(env, "admin"))
    assert f"other:{taken}" in {m["bank"] for m in found.json()["matches"]}


def test_sharing_with_an_unknown_member_reveals_nothing_hidden(env: Env) -> None:
    """Members are named in the directory every member may read, so "no such member"
    tells a curator nothing it cannot see."""
    roster = env.client.get("/v1/directory", headers=_as(env, "viewer"))
    assert roster.status_code == 200 and set(MEMBERS) <= set(roster.json()["members"]), roster.text
    ghost = env.new("nobody")
    r = env.client.post("/v1/banks", json={"name": env.new("markets"), "visibility": "members",
                                           "shared_with": [ghost]}, headers=_as(env, "curator"))
    assert r.status_code == 400 and ghost not in roster.json()["members"]
    assert r.json()["error"]["message"] == f"cannot share with {ghost!r}: no such member (see GET /v1/directory)"


# -- the same rules on both backends -------------------------------------------------------

PG_SUBSET = [c for c in CALLS if str(c) in {
    "GET /v1/banks/{bank}", "GET /v1/banks/{bank}/items/{item}", "PATCH /v1/banks/{bank}/items/{item}",
    "DELETE /v1/banks/{bank}", "POST /v1/members/{member}/disable",
}]


def test_access_rules_hold_on_each_backend(db_url: str) -> None:
    """A smaller matrix, and the lookups, on SQLite and PostgreSQL."""
    with open_env(db_url) as e:
        for call in PG_SUBSET:
            for vis in ("members", "operator-private") if call.bank else ["all"]:
                for member in ("admin", "curator", "other", "viewer"):
                    check_access(e, call, member, vis)
        check_lookups(e)
