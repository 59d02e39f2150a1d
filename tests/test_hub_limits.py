"""Bad input and limits through the hub API: oversized bodies (declared or
chunked), malformed JSON, unknown fields, wrong hash lengths, oversized
batches, pagination abuse, content whose bytes are not what its name says,
empty uploads, NUL characters and non-finite numbers, rate limits per key, and
keys that stop working when their member is disabled or the key is rotated.
Each is a 4xx with the body ``{"error": {"code", "message"}}``; never a 5xx."""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from neutral_posts import OTHER_EN, POST_EN
from hubproc import READY_TIMEOUT_S, SETTLE_S
from tahaluf.api.app import create_app
from tahaluf.errors import StorageError
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import Hub, HubConfig

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the test client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

MD5 = "0123456789abcdef0123456789abcdef"
LIMIT = 10_000
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@dataclass
class Api:
    hub: Hub
    client: TestClient
    keys: dict[str, str]

    def auth(self, member: str = "boss") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[member]}"}

    def call(self, method: str, path: str, member: str = "boss", **kw: Any) -> Any:
        headers = {**self.auth(member), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, str]:
    """``resp`` is ``status`` with a well-formed error body; returns its ``error``."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:300]}"
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert all(isinstance(v, str) and v for v in body["error"].values()), body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


@contextmanager
def running(url: str, **config: Any) -> Iterator[Api]:
    """A hub app on ``url`` with members boss (admin), alpha (curator), scanner (matcher)."""
    settings = {"snapshot": False, "refresh_interval_s": 0.05, "max_request_bytes": LIMIT, "max_batch": 5,
                "max_page": 3, "rate_limit_per_s": 0, **config}
    hub = open_hub(HubConfig(db=url, **settings))
    keys = {name: hub.accounts.add_member("cli:test", name, roles)[1]
            for name, roles in (("boss", ["admin"]), ("alpha", ["curator"]), ("scanner", ["matcher"]))}
    with TestClient(create_app(hub.config, hub=hub)) as client:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not hub.ready:
            assert time.monotonic() < deadline, "the hub never became ready"
            time.sleep(0.02)
        api = Api(hub, client, keys)
        r = api.call("POST", "/v1/banks", "alpha", json={"name": "alpha-bank", "labels": {"entity": "demo-entity"}})
        assert r.status_code == 201, r.text
        r = api.call("POST", "/v1/banks/alpha-bank/items", "alpha",
                     json={"items": [{"external_id": "item-1", "signals": [{"type": "md5", "value": MD5}]}]})
        assert r.json()["imported"] == 1, r.text
        yield api
    hub.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running(f"sqlite:///{tmp_path_factory.mktemp('limits') / 'hub.db'}") as a:
        yield a


# -- request size ---------------------------------------------------------------------


def test_a_body_over_the_limit_gets_413(api: Api) -> None:
    resp = api.call("POST", "/v1/hash/text", json={"text": "a" * (LIMIT + 1)})
    assert "content-length" in resp.request.headers
    assert "10,000 bytes" in assert_error(resp, 413, "content_too_large")["message"]
    upload = api.call("POST", "/v1/hash", files={"file": ("big.txt", b"market " * LIMIT, "text/plain")})
    assert_error(upload, 413, "content_too_large")
    # just under the limit is fine
    assert api.call("POST", "/v1/hash/text", json={"text": OTHER_EN}).status_code == 200


def _chunks(total: int, size: int = 1000) -> Iterator[bytes]:
    yield b'{"text": "'
    for _ in range(total // size):
        yield b"a" * size
    yield b'"}'


def test_a_chunked_body_over_the_limit_gets_413(api: Api) -> None:
    resp = api.call("POST", "/v1/hash/text", content=_chunks(LIMIT * 3), headers={"content-type": "application/json"})
    assert "content-length" not in resp.request.headers and resp.request.headers["transfer-encoding"] == "chunked"
    assert_error(resp, 413, "content_too_large")

    def multipart() -> Iterator[bytes]:
        yield b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
        for _ in range(30):
            yield b"weather " * 125
        yield b"\r\n--b0undary--\r\n"

    upload = api.call("POST", "/v1/hash", content=multipart(),
                      headers={"content-type": "multipart/form-data; boundary=b0undary"})
    assert_error(upload, 413, "content_too_large")
    small = api.call("POST", "/v1/hash/text", content=_chunks(2000), headers={"content-type": "application/json"})
    assert small.status_code == 200, small.text


# -- malformed requests ------------------------------------------------------------------

JSON_ROUTES = [("POST", "/v1/lookup"), ("POST", "/v1/lookup/text"), ("POST", "/v1/banks"),
               ("PATCH", "/v1/banks/alpha-bank"), ("POST", "/v1/banks/alpha-bank/items"), ("POST", "/v1/members"),
               ("PUT", "/v1/settings")]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("body", [b"{not json", b'{"a": 1', b"\xff\xfe", b"[" * 5000])
def test_malformed_json_gets_400(api: Api, method: str, path: str, body: bytes) -> None:
    resp = api.call(method, path, content=body, headers={"content-type": "application/json"})
    assert_error(resp, 400, "invalid_input")


@pytest.mark.parametrize(("method", "path", "body", "where"), [
    ("POST", "/v1/lookup/text", {"text": POST_EN, "colour": "blue"}, "colour"),
    ("POST", "/v1/lookup", {"signals": [{"type": "md5", "value": MD5, "bogus": 1}]}, "signals.0.bogus"),
    ("POST", "/v1/banks", {"name": "b-unknown", "owner": "boss"}, "owner"),
    ("PATCH", "/v1/banks/alpha-bank", {"kind": "allow"}, "kind"),
    ("POST", "/v1/banks/alpha-bank/items",
     {"items": [{"external_id": "x", "signals": [{"type": "md5", "value": MD5}], "extra": True}]}, "items.0.extra"),
    ("PATCH", "/v1/banks/alpha-bank/items/item-1", {"enable": True}, "enable"),
    ("POST", "/v1/members", {"name": "m-unknown", "roles": ["viewer"], "admin": True}, "admin"),
    ("PUT", "/v1/settings", {"settings": {"review_claim_ttl_s": 60}, "force": True}, "force"),
])
def test_unknown_fields_get_422(api: Api, method: str, path: str, body: dict[str, Any], where: str) -> None:
    err = assert_error(api.call(method, path, json=body), 422, "invalid_request")
    assert f"{where}: unknown field" in err["message"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/lookup", {"signals": "md5"}),
    ("POST", "/v1/lookup", {"signals": []}),
    ("POST", "/v1/lookup", {"signals": [{"type": "ahash", "value": MD5}]}),
    ("POST", "/v1/lookup/text", {"text": ""}),
    ("POST", "/v1/banks", {"name": "has space"}),
    ("POST", "/v1/banks", {"name": "b-dist", "pdq_max_distance": 10**30}),
    ("POST", "/v1/members", {"name": "m-role", "roles": ["owner"]}),
    ("POST", "/v1/lookup", [1, 2]),
])
def test_fields_of_the_wrong_type_or_range_get_422(api: Api, method: str, path: str, body: Any) -> None:
    assert_error(api.call(method, path, json=body), 422, "invalid_request")


# -- hashes and batches ----------------------------------------------------------------------

BAD_VALUES = [
    ("md5", MD5[:-1]), ("md5", MD5 + "0"), ("md5", "z" * 32), ("md5", " "),
    ("sha256", "ab" * 31), ("sha256", "g" * 64), ("pdq", "f" * 63), ("pdq", "f" * 65), ("pdq", "-" * 64),
    ("text", "t1:!!!"), ("text", "t1:"), ("vpdq", "[1, 2"), ("vpdq", '{"frames": 1}'),
]


@pytest.mark.parametrize(("stype", "value"), BAD_VALUES)
def test_wrong_hash_values_get_400_single_and_in_a_batch(api: Api, stype: str, value: str) -> None:
    err = assert_error(api.call("GET", "/v1/lookup", params={"type": stype, "value": value}), 400, "invalid_input")
    assert stype in err["message"].lower() or "empty" in err["message"]
    batch = {"signals": [{"type": "md5", "value": MD5}, {"type": stype, "value": value}]}
    err = assert_error(api.call("POST", "/v1/lookup", json=batch), 400, "invalid_input")
    assert err["message"].startswith("signals[1]: ")


def test_batches_over_max_batch_get_400(api: Api) -> None:
    five = {"signals": [{"type": "md5", "value": MD5}] * 5}
    assert api.call("POST", "/v1/lookup", json=five).status_code == 200
    six = {"signals": five["signals"] * 2}
    assert "the limit is 5" in assert_error(api.call("POST", "/v1/lookup", json=six), 400)["message"]
    items = {"items": [{"external_id": f"many-{i}", "signals": [{"type": "md5", "value": MD5}]} for i in range(6)]}
    assert_error(api.call("POST", "/v1/banks/alpha-bank/items", "alpha", json=items), 400, "invalid_input")
    assert api.hub.store.get_item(api.hub.store.get_bank("alpha-bank").id, "many-0") is None  # type: ignore[union-attr]


def test_malformed_bank_signals_are_refused_and_posts_become_sketches(api: Api) -> None:
    """A text or vPDQ value the indexes cannot read is refused (it would stop every
    worker's index refresh and load); a text post is stored as its sketch, a URL as its hash."""
    items = {"items": [
        {"external_id": "bad-sketch", "signals": [{"type": "text", "value": "t1:!!"}]},
        {"external_id": "a-post", "signals": [{"type": "text", "value": POST_EN}]},
        {"external_id": "bad-vpdq", "signals": [{"type": "vpdq", "value": "[]"}]},
        {"external_id": "bad-md5", "signals": [{"type": "md5", "value": "abc"}]},
        {"external_id": "a-url", "signals": [{"type": "url", "value": "https://example.org/weather?day=1"}]},
    ]}
    report = api.call("POST", "/v1/banks/alpha-bank/items", "alpha", json=items).json()
    assert report["imported"] == 2
    assert [(e["position"], e["external_id"]) for e in report["errors"]] == [
        (1, "bad-sketch"), (3, "bad-vpdq"), (4, "bad-md5")]
    deadline = time.monotonic() + SETTLE_S
    while True:
        found = api.call("POST", "/v1/lookup/text", json={"text": POST_EN}).json()["matches"]
        if [m["external_id"] for m in found] == ["a-post"]:
            break
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    by_url = api.call("GET", "/v1/lookup", params={"type": "url", "value": "HTTPS://example.org/weather?day=1"})
    assert [m["external_id"] for m in by_url.json()["matches"]] == ["a-url"]
    fresh = open_hub(api.hub.config)
    fresh.load()  # a new worker still loads the indexes
    fresh.close()


# -- pagination ------------------------------------------------------------------------------

ABUSE = [{"limit": 0}, {"limit": 10**9}, {"limit": -5}, {"limit": "ten"}, {"after": -1}, {"after": 2**62},
         {"after": 2**63}, {"after": 10**30}, {"after": "1.5"}, {"limit": 1, "after": 2**62}]


def _listings(api: Api) -> list[str]:
    """Every GET /v1 operation with a ``limit`` or ``after`` query parameter, from the live spec."""
    spec = api.client.get("/openapi.json").json()
    out = []
    for path, ops in spec["paths"].items():
        params = {p["name"] for p in ops.get("get", {}).get("parameters", []) if p["in"] == "query"}
        if path.startswith("/v1/") and params & {"limit", "after"}:
            out.append(re.sub(r"\{name\}", "alpha-bank", re.sub(r"\{[a-z_]+_id\}", "1", path)))
    return out


def test_pagination_abuse_gets_422_or_an_empty_page(api: Api) -> None:
    listings = _listings(api)
    assert {"/v1/banks/alpha-bank/items", "/v1/audit"} <= set(listings)
    for path in listings:
        for params in ABUSE:
            resp = api.call("GET", path, params=params)
            where = f"GET {path} {params}"
            assert resp.status_code in (200, 404, 422), f"{where}: {resp.status_code} {resp.text[:200]}"
            if resp.status_code != 200:
                assert_error(resp, resp.status_code)
            elif params.get("after", 0) >= 2**62:
                pages = [v for v in resp.json().values() if isinstance(v, list)]
                assert pages == [[]] and resp.json()["next_after"] is None, where


def test_pages_follow_next_after_to_the_end(api: Api) -> None:
    items = {"items": [{"external_id": f"page-{i}", "signals": [{"type": "md5", "value": f"{i:032x}"}]}
                       for i in range(5)]}
    assert api.call("POST", "/v1/banks", "alpha", json={"name": "paged"}).status_code == 201
    assert api.call("POST", "/v1/banks/paged/items", "alpha", json=items).json()["imported"] == 5
    for limit, sizes in ((2, [2, 2, 1]), (100, [3, 2])):  # a limit over max_page (3) gets max_page
        seen, got, after = [], [], 0
        while after is not None:
            page = api.call("GET", "/v1/banks/paged/items", params={"limit": limit, "after": after}).json()
            got.append(len(page["items"]))
            seen += [i["external_id"] for i in page["items"]]
            after = page["next_after"]
        assert seen == [f"page-{i}" for i in range(5)] and got == sizes


# -- uploads ------------------------------------------------------------------------------------

UPLOADS = [("POST", "/v1/hash", {}), ("POST", "/v1/lookup/content", {}),
           ("POST", "/v1/banks/alpha-bank/items/content", {"external_id": "upload-1"})]


@pytest.mark.parametrize(("method", "path", "form"), UPLOADS)
def test_random_bytes_named_like_a_photo_get_415(api: Api, method: str, path: str, form: dict[str, str]) -> None:
    noise = os.urandom(4096)
    resp = api.call(method, path, "boss", files={"file": ("holiday.jpg", noise, "image/jpeg")}, data=form)
    assert resp.status_code in (415, 422), resp.text
    assert_error(resp, resp.status_code)


@pytest.mark.parametrize(("method", "path", "form"), UPLOADS)
def test_an_empty_upload_gets_400(api: Api, method: str, path: str, form: dict[str, str]) -> None:
    resp = api.call(method, path, "boss", files={"file": ("empty.jpg", b"", "image/jpeg")}, data=form)
    assert "empty" in assert_error(resp, 400, "invalid_input")["message"]


def test_an_upload_without_a_file_gets_422(api: Api) -> None:
    assert_error(api.call("POST", "/v1/hash", data={"other": "x"}), 422, "invalid_request")


# -- characters and numbers no field may hold ----------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_nul_characters_are_refused_on_every_backend(db_url: str) -> None:
    """PostgreSQL refuses NUL in text; the API refuses it first, with a 4xx."""
    with running(db_url) as api:
        for path, params in [("/v1/banks/a%00b", None), ("/v1/banks/alpha-bank/items/x%00y", None),
                             ("/v1/banks/alpha-bank/items", {"entity": "a\x00b"}),
                             ("/v1/audit", {"actor": "a\x00b"})]:
            assert_error(api.call("GET", path, params=params), 400, "invalid_input")
        assert_error(api.call("POST", "/v1/members/a%00/key"), 400, "invalid_input")
        for method, path, body in [
            ("POST", "/v1/banks/alpha-bank/items",
             {"items": [{"external_id": "x\x00y", "signals": [{"type": "md5", "value": MD5}]}]}),
            ("POST", "/v1/banks", {"name": "b2", "shared_with": ["a\x00"]}),
            ("PUT", "/v1/settings", {"settings": {"a\x00": 1}}),
            ("POST", "/v1/lookup/text", {"text": "market\x00day"}),
        ]:
            assert "NUL" in assert_error(api.call(method, path, json=body), 422, "invalid_request")["message"]
        upload = api.call("POST", "/v1/banks/alpha-bank/items/content", "alpha",
                          files={"file": ("post.txt", POST_EN.encode(), "text/plain")}, data={"external_id": "a\x00"})
        assert_error(upload, 422, "invalid_request")
        assert api.call("GET", "/v1/banks/alpha-bank").status_code == 200


@pytest.mark.parametrize("raw", [b'{"settings": {"review_match_min_score": NaN}}',
                                 b'{"settings": {"review_match_min_score": Infinity}}',
                                 b'{"settings": {"review_match_min_score": -Infinity}}'])
def test_non_finite_numbers_are_refused(api: Api, raw: bytes) -> None:
    resp = api.call("PUT", "/v1/settings", content=raw, headers={"content-type": "application/json"})
    assert_error(resp, 422, "invalid_request")
    assert api.call("GET", "/v1/settings").status_code == 200


@pytest.mark.parametrize("settings", [{"review_claim_ttl_s": 10**30}, {"review_claim_ttl_s": 0},
                                      {"review_match_min_score": 2}, {"review_match_min_score": 10**400},
                                      {"review_match_min_score": -0.5}])
def test_settings_out_of_range_get_400(api: Api, settings: dict[str, Any]) -> None:
    before = api.call("GET", "/v1/settings").json()
    assert_error(api.call("PUT", "/v1/settings", json={"settings": settings}), 400, "invalid_input")
    assert api.call("GET", "/v1/settings").json() == before


# -- routes, methods and storage errors ------------------------------------------------------------


def test_unknown_routes_and_methods_get_json_errors(api: Api) -> None:
    assert_error(api.call("GET", "/v1/nowhere"), 404, "not_found")
    assert_error(api.call("DELETE", "/v1/me"), 405, "method_not_allowed")


def test_database_errors_do_not_reveal_the_database(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        try:
            raise OSError("connection refused")
        except OSError as exc:
            raise StorageError("cannot use database postgresql://hub@10.0.0.5/tahaluf: connection refused") from exc

    monkeypatch.setattr(api.hub.store, "list_banks", broken)
    err = assert_error(api.call("GET", "/v1/banks"), 503, "storage_error")
    assert "10.0.0.5" not in err["message"] and "retry" in err["message"]


# -- rate limits and keys ------------------------------------------------------------------------


@SQLITE_ONLY
def test_the_rate_limit_is_per_key(db_url: str) -> None:
    with running(db_url, rate_limit_per_s=5, rate_burst=5) as api:
        started = time.monotonic()
        codes = []
        while 429 not in codes:
            assert len(codes) < 60, codes
            codes.append(api.call("GET", "/v1/me", "scanner").status_code)
        elapsed = time.monotonic() - started
        assert set(codes[:-1]) == {200} and 5 <= len(codes) - 1 <= 5 + 5 * elapsed + 1, (codes, elapsed)
        limited = api.call("GET", "/v1/me", "scanner")
        err = assert_error(limited, 429, "rate_limited")
        wait_s = int(limited.headers["retry-after"])
        assert 1 <= wait_s <= 2 and "retry" in err["message"]
        assert api.call("GET", "/v1/me", "alpha").status_code == 200  # another key is not limited
        time.sleep(wait_s)
        assert api.call("GET", "/v1/me", "scanner").status_code == 200


@SQLITE_ONLY
def test_a_disabled_member_and_a_rotated_key_stop_working_on_every_worker(db_url: str) -> None:
    """Worker B caches nothing (key_cache_s=0): a change made through worker A applies at once."""
    with running(db_url, key_cache_s=0) as api:
        other = open_hub(HubConfig(db=db_url, snapshot=False, key_cache_s=0, rate_limit_per_s=0))
        with TestClient(create_app(other.config, hub=other, load=False)) as worker_b:
            def me(key: str) -> int:
                return worker_b.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code

            alpha = api.keys["alpha"]
            assert me(alpha) == 200
            assert api.call("POST", "/v1/members/alpha/disable").json()["enabled"] is False
            assert_error(worker_b.get("/v1/me", headers={"Authorization": f"Bearer {alpha}"}), 401, "unauthorized")
            assert api.call("GET", "/v1/me", "alpha").status_code == 401
            assert api.call("POST", "/v1/members/alpha/enable").json()["enabled"] is True
            assert me(alpha) == 200

            rotated = api.call("POST", "/v1/members/alpha/key")
            assert rotated.status_code == 200
            new = rotated.json()["api_key"]
            assert me(alpha) == 401 and api.call("GET", "/v1/me", "alpha").status_code == 401
            assert me(new) == 200
        other.close()

