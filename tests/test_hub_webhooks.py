"""Webhooks: registration API and its role checks, the outbox, signed delivery
to a real local HTTP receiver, retries with back-off, giving up, receivers
that misbehave, and two deliverers never sending one delivery twice.
Everything runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update

from hubproc import SETTLE_S
from tahaluf.access import Principal
from tahaluf.errors import InvalidInput, PermissionDenied
from tahaluf.services import webhooks
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import Hub, HubConfig
from tahaluf.storage import open_store
from tahaluf.storage.models import WebhookDelivery
from tahaluf.storage.repository.webhooks_sql import WebhookStore

pytestmark = pytest.mark.filterwarnings(  # fastapi's TestClient on httpx (not httpx2)
    "ignore:Using `httpx` with `starlette.testclient` is deprecated:starlette.exceptions.StarletteDeprecationWarning"
)
_deliveries = WebhookDelivery.__table__
PAYLOAD = {"matches": [{"bank": "demo-bank", "external_id": "market-post-1", "score": 1.0}], "count": 1,
           "note": "سوق الخضار مفتوح اليوم"}


# -- a real receiver -------------------------------------------------------------
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST; ``answers`` are the statuses to give, in order."""

    def __init__(self, *, default: int = 204, delay_s: float = 0.0) -> None:
        self.requests: list[Received] = []
        self.answers: list[int] = []
        self.default = default
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.handle_error = lambda *_: None  # type: ignore[method-assign] # clients hanging up on purpose
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def next_status(self) -> int:
        with self.lock:
            return self.answers.pop(0) if self.answers else self.default

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rx.lock:
                rx.requests.append(Received(self.path, dict(self.headers.items()), body))
            if rx.delay_s:
                time.sleep(rx.delay_s)
            behave = getattr(self, "_" + self.path.strip("/"), None)
            if behave is not None:
                behave()
                return
            self.send_response(rx.next_status())
            self.send_header("Content-Length", "0")
            self.end_headers()

        # receivers that misbehave
        def _redirect(self) -> None:
            self.send_response(302)
            self.send_header("Location", "/hook")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _huge(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            chunk = b"x" * (1 << 20)
            for _ in range(1024):
                self.wfile.write(chunk)

        def _slow(self) -> None:
            time.sleep(5)
            self.send_response(204)
            self.end_headers()

        def _drip(self) -> None:  # a header line every 0.2 s, for ever
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(100):
                self.wfile.write(b"X-Slow: a\r\n")
                self.wfile.flush()
                time.sleep(0.2)

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    yield rx
    rx.close()


@pytest.fixture
def hub(store) -> Iterator[Hub]:  # noqa: ANN001
    h = open_hub(HubConfig(snapshot=False, refresh_interval_s=0.05), store=store)
    yield h
    h.close()


def _member(hub: Hub, name: str, roles: list[str]) -> tuple[Principal, str]:
    member, key = hub.accounts.add_member("cli:test", name, roles)
    return Principal(member.id, member.name, member.roles), key


def _rows(hub: Hub) -> list[Any]:
    with hub.store.connection() as conn:
        return conn.execute(select(_deliveries).order_by(_deliveries.c.id)).all()


def _deliver(hub: Hub, **kwargs: Any) -> int:
    return webhooks.deliver_due(hub.ports.webhooks, allow_private_networks=True, **kwargs)


def _later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# -- signatures and back-off (no database) ------------------------------------------
def test_a_signature_verifies_and_any_change_breaks_it() -> None:
    secret, ts, body = webhooks.new_secret(), str(int(time.time())), b'{"event":"match","data":{}}'
    header = webhooks.sign(secret, ts, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert webhooks.verify_signature(secret, ts, body, header)
    assert webhooks.verify_signature(secret, ts, body.decode(), header)
    assert not webhooks.verify_signature(secret, ts, body + b" ", header)
    assert not webhooks.verify_signature(webhooks.new_secret(), ts, body, header)
    assert not webhooks.verify_signature(secret, str(int(ts) + 1), body, header)
    assert not webhooks.verify_signature(secret, ts, body, "sha256=" + "0" * 64)
    for garbage in ("", "sha256=", "md5=abc", "sha256=é"):
        assert not webhooks.verify_signature(secret, ts, body, garbage)
    assert not webhooks.verify_signature(secret, "soon", body, header)


def test_an_old_timestamp_is_refused_as_a_replay() -> None:
    secret, body = "whsec_test", b"{}"
    old = str(int(time.time()) - 3600)
    header = webhooks.sign(secret, old, body)
    assert not webhooks.verify_signature(secret, old, body, header)
    assert webhooks.verify_signature(secret, old, body, header, tolerance_s=None)
    assert webhooks.verify_signature(secret, old, body, header, now=int(old) + 10)


def test_backoff_doubles_with_jitter_and_is_capped_at_an_hour() -> None:
    assert [webhooks.backoff_s(n, rng=lambda: 0.5) for n in range(1, 6)] == [10, 20, 40, 80, 160]
    assert webhooks.backoff_s(1, rng=lambda: 0.0) == pytest.approx(8.0)
    assert webhooks.backoff_s(1, rng=lambda: 1.0) == pytest.approx(12.0)
    assert webhooks.backoff_s(9, rng=lambda: 1.0) == pytest.approx(3072.0)
    assert webhooks.backoff_s(10, rng=lambda: 0.0) == 3600.0
    assert webhooks.backoff_s(1000) == 3600.0


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "garbage", "http://", "https://:80/x",
                                 "http://user:pw@example.org/", "http://example.org:99999/", "http://ex ample.org/",
                                 "javascript:alert(1)", "http://[::1/", "https://example.org/#frag", ""])
def test_only_plain_http_and_https_urls_are_accepted(url: str) -> None:
    with pytest.raises(InvalidInput):
        webhooks.check_url(url)


def test_good_urls_are_accepted() -> None:
    for url in ("https://hooks.example.org/tahaluf?x=1", "http://10.0.0.5:8080/in", "https://[2001:db8::1]/h"):
        assert webhooks.check_url(url) == url


# -- emit -> deliver ------------------------------------------------------------------
def test_an_event_is_delivered_once_signed_and_the_signature_pins_the_body(hub: Hub, receiver: Receiver) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    hook, secret = webhooks.register(hub, who, receiver.url(), ["match", "review.decided"])
    webhooks.emit(hub, who.member_id, "match", PAYLOAD)
    assert _deliver(hub) == 1
    assert _deliver(hub) == 0  # nothing is sent twice
    [req] = receiver.requests
    h = {k.lower(): v for k, v in req.headers.items()}
    assert h["content-type"] == "application/json"
    assert h["x-tahaluf-event"] == "match"
    assert webhooks.verify_signature(secret, h["x-tahaluf-timestamp"], req.body, h["x-tahaluf-signature"])
    tampered = req.body.replace(b"market-post-1", b"market-post-2")
    assert not webhooks.verify_signature(secret, h["x-tahaluf-timestamp"], tampered, h["x-tahaluf-signature"])
    sent = json.loads(req.body)
    assert sent["event"] == "match" and sent["data"] == PAYLOAD
    assert str(sent["delivery_id"]) == h["x-tahaluf-delivery"]
    assert datetime.fromisoformat(sent["created_at"]) <= datetime.now(UTC)
    [row] = webhooks.deliveries_of(hub, who, hook.id)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)
    assert row.id == sent["delivery_id"]


def test_only_subscribed_events_of_the_member_are_queued(hub: Hub, receiver: Receiver) -> None:
    alpha, _ = _member(hub, "alpha", ["curator"])
    beta, _ = _member(hub, "beta", ["viewer"])
    webhooks.register(hub, alpha, receiver.url("/a1"), ["review.decided"])
    webhooks.register(hub, alpha, receiver.url("/a2"), ["review.decided", "match"])
    webhooks.register(hub, beta, receiver.url("/b"), ["match"])
    webhooks.emit(hub, alpha.member_id, "match", {"n": 1})
    webhooks.emit(hub, alpha.member_id, "review.decided", {"n": 2})
    webhooks.emit(hub, alpha.member_id, "feedback.disputed", {"n": 3})
    assert _deliver(hub) == 3
    got = sorted((r.path, json.loads(r.body)["data"]["n"]) for r in receiver.requests)
    assert got == [("/a1", 2), ("/a2", 1), ("/a2", 2)]
    with pytest.raises(InvalidInput):
        webhooks.emit(hub, alpha.member_id, "member.add", {})


def test_emit_for_a_member_without_webhooks_is_one_small_query_then_cached(hub: Hub) -> None:
    who, _ = _member(hub, "alpha", ["matcher"])
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(sql)

    event.listen(hub.store.engine, "before_cursor_execute", seen)
    try:
        for _ in range(20):
            webhooks.emit(hub, who.member_id, "match", PAYLOAD)
    finally:
        event.remove(hub.store.engine, "before_cursor_execute", seen)
    touching = [s for s in statements if "webhook" in s.lower()]
    assert len(touching) == 1 and touching[0].lstrip().upper().startswith("SELECT")
    assert _rows(hub) == []


def test_a_webhook_deleted_elsewhere_within_the_cache_time_gets_nothing(hub: Hub, receiver: Receiver) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    hook, _ = webhooks.register(hub, who, receiver.url(), ["match"])
    webhooks.emit(hub, who.member_id, "match", {"n": 1})  # warms the cache
    WebhookStore(hub.store).delete(hook.id)  # as another worker would, behind this one's cache
    webhooks.emit(hub, who.member_id, "match", {"n": 2})
    assert _rows(hub) == []


def test_a_failed_call_is_retried_with_backoff_then_delivered(hub: Hub, receiver: Receiver) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    hook, secret = webhooks.register(hub, who, receiver.url(), ["match"])
    receiver.answers = [500, 503]
    webhooks.emit(hub, who.member_id, "match", PAYLOAD)
    t0 = _later(1)
    assert _deliver(hub, now=t0) == 0
    [row] = webhooks.deliveries_of(hub, who, hook.id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert t0 + timedelta(seconds=7.9) <= row.next_attempt_at <= t0 + timedelta(seconds=13)
    assert _deliver(hub, now=t0 + timedelta(seconds=5)) == 0 and len(receiver.requests) == 1  # not due yet
    t1 = row.next_attempt_at
    assert _deliver(hub, now=t1) == 0
    [row] = webhooks.deliveries_of(hub, who, hook.id)
    assert (row.attempts, row.last_error) == (2, "HTTP 503")
    assert t1 + timedelta(seconds=15.9) <= row.next_attempt_at <= t1 + timedelta(seconds=25)  # doubled
    assert _deliver(hub, now=row.next_attempt_at) == 1
    [row] = webhooks.deliveries_of(hub, who, hook.id)
    assert (row.status, row.attempts) == ("delivered", 3)
    ids = {json.loads(r.body)["delivery_id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and ids == {row.id}  # the same delivery, retried
    last = receiver.requests[-1]
    h = {k.lower(): v for k, v in last.headers.items()}
    assert webhooks.verify_signature(secret, h["x-tahaluf-timestamp"], last.body, h["x-tahaluf-signature"])


def test_a_delivery_is_given_up_after_max_attempts(hub: Hub, receiver: Receiver) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    hook, _ = webhooks.register(hub, who, receiver.url(), ["match"])
    receiver.default = 500
    webhooks.emit(hub, who.member_id, "match", PAYLOAD)
    at = _later(1)
    for _ in range(3):
        assert _deliver(hub, now=at, max_attempts=3) == 0
        at += timedelta(hours=2)
    [row] = webhooks.deliveries_of(hub, who, hook.id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "HTTP 500")
    assert row.to_json()["next_attempt_at"] is None
    assert _deliver(hub, now=at + timedelta(days=1)) == 0
    assert len(receiver.requests) == 3
    assert [d.id for d in webhooks.deliveries_of(hub, who, hook.id, status="failed")] == [row.id]
    assert webhooks.deliveries_of(hub, who, hook.id, status="pending") == []


def test_the_default_schedule_gives_up_after_a_few_hours(hub: Hub, receiver: Receiver) -> None:
    total = sum(webhooks.backoff_s(n, rng=lambda: 0.5) for n in range(1, webhooks.MAX_ATTEMPTS))
    assert 2 * 3600 < total < 6 * 3600


def test_private_addresses_are_refused_unless_allowed(hub: Hub, receiver: Receiver) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    hook, _ = webhooks.register(hub, who, receiver.url(), ["match"])
    local, _ = webhooks.register(hub, who, receiver.url().replace("127.0.0.1", "localhost"), ["match"])
    webhooks.emit(hub, who.member_id, "match", PAYLOAD)
    assert webhooks.deliver_due(hub.ports.webhooks) == 0
    assert receiver.requests == []
    for h in (hook, local):
        [row] = webhooks.deliveries_of(hub, who, h.id)
        assert row.attempts == 1 and "not a public address" in (row.last_error or "")


@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
    "64:ff9b:1::a00:5",  # local-use NAT64 prefix
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "::a00:5",  # IPv4-compatible 10.0.0.5
])
def test_translated_and_tunnelled_private_addresses_are_refused(hub: Hub, address: str) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    hook, _ = webhooks.register(hub, who, f"http://[{address}]:8080/hook", ["match"])
    webhooks.emit(hub, who.member_id, "match", PAYLOAD)
    assert webhooks.deliver_due(hub.ports.webhooks) == 0
    [row] = webhooks.deliveries_of(hub, who, hook.id)
    assert row.attempts == 1 and "not a public address" in (row.last_error or ""), row.last_error


def test_a_disabled_member_gets_no_deliveries_until_enabled_again(hub: Hub, receiver: Receiver) -> None:
    alpha, _ = _member(hub, "alpha", ["curator"])
    webhooks.register(hub, alpha, receiver.url(), ["feedback.disputed"])
    webhooks.emit(hub, alpha.member_id, "feedback.disputed", {"reason": "the market report is a forecast"})
    hub.accounts.set_enabled("cli:test", "alpha", False)
    assert _deliver(hub, now=_later(1)) == 0  # queued before: waits
    webhooks.emit(hub, alpha.member_id, "feedback.disputed", {"reason": "the weather map is old"})  # cached subs
    assert _deliver(hub, now=_later(2)) == 0
    assert receiver.requests == []
    assert len(_rows(hub)) == 1  # nothing queued while disabled
    hub.accounts.set_enabled("cli:test", "alpha", True)
    assert _deliver(hub, now=_later(3)) == 1
    [got] = receiver.requests
    assert json.loads(got.body)["data"]["reason"] == "the market report is a forecast"


def test_a_lost_claim_cannot_overwrite_the_new_owner(hub: Hub, receiver: Receiver) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    webhooks.register(hub, who, receiver.url(), ["match"])
    webhooks.emit(hub, who.member_id, "match", PAYLOAD)
    hooks = WebhookStore(hub.store)
    at = _later(1)
    [first] = hooks.claim_due(at, limit=10, lease_s=60)
    assert hooks.claim_due(at + timedelta(seconds=30), limit=10, lease_s=60) == []  # still leased
    [second] = hooks.claim_due(at + timedelta(seconds=61), limit=10, lease_s=60)  # the first deliverer died
    assert first.id == second.id
    assert not hooks.record_failure(first, "late", at + timedelta(seconds=70))
    assert hooks.record_success(second, at + timedelta(seconds=62))
    [row] = _rows(hub)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)


def _self_signed(tmp: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return ctx


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[Receiver]:
    rx = Receiver()
    ctx = _self_signed(tmp_path)
    rx.server.socket = ctx.wrap_socket(rx.server.socket, server_side=True)
    yield rx
    rx.close()


def test_misbehaving_receivers_cannot_stall_or_break_delivery(
    hub: Hub, receiver: Receiver, tls_receiver: Receiver
) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    paths = ["/hook", "/redirect", "/huge", "/slow", "/drip"]
    hooks = {p: webhooks.register(hub, who, receiver.url(p), ["match"])[0] for p in paths}
    hooks["tls"] = webhooks.register(hub, who, tls_receiver.url().replace("http:", "https:"), ["match"])[0]
    webhooks.emit(hub, who.member_id, "match", PAYLOAD)
    started = time.monotonic()
    with webhooks.make_client(allow_private_networks=True, timeout_s=1.0) as client:
        delivered = webhooks.deliver_due(hub.ports.webhooks, client=client, timeout_s=1.0, workers=6)
    took = time.monotonic() - started
    assert delivered == 2  # /hook, and /huge (it answered 200; its endless body is not read)
    assert took < 3.5, f"one bad receiver held the round for {took:.1f} s"
    state = {p: webhooks.deliveries_of(hub, who, h.id)[0] for p, h in hooks.items()}
    assert state["/hook"].status == state["/huge"].status == "delivered"
    assert "redirects are not followed" in (state["/redirect"].last_error or "")
    assert "timed out" in (state["/slow"].last_error or "")
    assert "timed out" in (state["/drip"].last_error or "")
    assert "CERTIFICATE_VERIFY_FAILED" in (state["tls"].last_error or "")
    assert all(s.status == "pending" and s.attempts == 1 for p, s in state.items() if p not in ("/hook", "/huge"))
    assert len([r for r in receiver.requests if r.path == "/hook"]) == 1  # the redirect was not followed


def test_run_deliverer_delivers_until_stopped(hub: Hub, receiver: Receiver) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    webhooks.register(hub, who, receiver.url(), ["match"])
    stop = threading.Event()
    worker = threading.Thread(target=webhooks.run_deliverer, args=(hub.ports.webhooks,),
                              kwargs={"interval_s": 0.05, "stop": stop, "allow_private_networks": True})
    worker.start()
    try:
        for n in range(3):
            webhooks.emit(hub, who.member_id, "match", {"n": n})
        deadline = time.monotonic() + SETTLE_S
        while len(receiver.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive()
    assert sorted(json.loads(r.body)["data"]["n"] for r in receiver.requests) == [0, 1, 2]


def test_two_deliverers_never_send_one_delivery_twice(db_url: str, hub: Hub) -> None:
    rx = Receiver(delay_s=0.01)
    try:
        who, _ = _member(hub, "alpha", ["curator"])
        for i in range(5):
            webhooks.register(hub, who, rx.url(f"/h{i}"), ["match"])
        for n in range(10):
            webhooks.emit(hub, who.member_id, "match", {"n": n})
        assert len(_rows(hub)) == 50
        start = threading.Barrier(2)
        done: list[int] = []

        def deliverer() -> None:
            with open_store(db_url) as own:
                start.wait()
                total = 0
                hooks = WebhookStore(own)
                while (sent := webhooks.deliver_due(hooks, max_batch=4, workers=2, allow_private_networks=True)):
                    total += sent
                done.append(total)

        threads = [threading.Thread(target=deliverer) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        ids = [json.loads(r.body)["delivery_id"] for r in rx.requests]
        assert len(ids) == 50 and len(set(ids)) == 50
        assert sum(done) == 50 and min(done) > 0  # both took part
        assert {(r.status, r.attempts) for r in _rows(hub)} == {("delivered", 1)}
    finally:
        rx.close()


def test_old_finished_deliveries_are_purged(hub: Hub, receiver: Receiver) -> None:
    who, _ = _member(hub, "alpha", ["curator"])
    webhooks.register(hub, who, receiver.url(), ["match"])
    for n in range(3):
        webhooks.emit(hub, who.member_id, "match", {"n": n})
    assert _deliver(hub) == 3
    webhooks.emit(hub, who.member_id, "match", {"n": 3})  # pending: never purged
    with hub.store.transaction() as conn:
        conn.execute(update(_deliveries).values(created_at=datetime.now(UTC) - timedelta(days=30)))
    assert WebhookStore(hub.store).purge(datetime.now(UTC) - timedelta(days=7)) == 3
    assert [r.status for r in _rows(hub)] == ["pending"]


# -- the HTTP API ------------------------------------------------------------------------
@pytest.fixture
def api(hub: Hub) -> Iterator[Callable[..., Any]]:
    from fastapi.testclient import TestClient

    from tahaluf.api.app import create_app

    with TestClient(create_app(hub.config, hub=hub)) as client:

        def call(method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
            headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {key}"} if key else {})}
            return client.request(method, path, headers=headers, **kwargs)

        yield call


def test_api_registration_listing_and_deletion_with_role_checks(hub: Hub, api: Callable[..., Any]) -> None:
    _, alpha = _member(hub, "alpha", ["matcher"])
    _, beta = _member(hub, "beta", ["viewer"])
    _, admin = _member(hub, "root", ["admin"])
    body = {"url": "https://hooks.example.org/in", "events": ["match", "review.decided"]}
    assert api("POST", "/v1/webhooks", json=body).status_code == 401
    assert api("GET", "/v1/webhooks").status_code == 401
    assert api("POST", "/v1/webhooks", "thf_wrong", json=body).status_code == 401

    r = api("POST", "/v1/webhooks", alpha, json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["secret"].startswith("whsec_") and made["member"] == "alpha"
    assert made["events"] == ["match", "review.decided"]
    hook = made["id"]

    listed = api("GET", "/v1/webhooks", alpha).json()["webhooks"]
    assert [w["id"] for w in listed] == [hook] and "secret" not in listed[0]
    assert "secret" not in api("GET", f"/v1/webhooks/{hook}", alpha).json()
    assert api("GET", f"/v1/webhooks/{hook}/deliveries", alpha).json() == {"deliveries": [], "next_after": None}

    # another member neither sees nor deletes it, and cannot tell it exists
    assert api("GET", "/v1/webhooks", beta).json() == {"webhooks": []}
    for method, path in (("GET", f"/v1/webhooks/{hook}"), ("DELETE", f"/v1/webhooks/{hook}"),
                         ("GET", f"/v1/webhooks/{hook}/deliveries"), ("GET", "/v1/webhooks/999999")):
        r = api(method, path, beta)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert api("GET", "/v1/webhooks?all=true", beta).status_code == 403

    # admins see and delete every member's
    every = api("GET", "/v1/webhooks?all=true", admin).json()["webhooks"]
    assert [(w["id"], w["member"]) for w in every] == [(hook, "alpha")]
    assert api("GET", "/v1/webhooks", admin).json() == {"webhooks": []}
    assert api("DELETE", f"/v1/webhooks/{hook}", admin).status_code == 204
    assert api("GET", f"/v1/webhooks/{hook}", alpha).status_code == 404

    r = api("POST", "/v1/webhooks", beta, json=body)
    assert r.status_code == 201
    assert api("DELETE", f"/v1/webhooks/{r.json()['id']}", beta).status_code == 204

    actions = [(e.actor, e.action) for e in hub.hubstore.iter_audit() if e.action.startswith("webhook.")]
    assert actions == [("alpha", "webhook.add"), ("root", "webhook.delete"),
                       ("beta", "webhook.add"), ("beta", "webhook.delete")]
    assert not any("whsec_" in json.dumps(e.details) for e in hub.hubstore.iter_audit())


BAD_REGISTRATIONS = [
    ({"url": "ftp://example.org/in", "events": ["match"]}, 400),
    ({"url": "garbage", "events": ["match"]}, 400),
    ({"url": "https://u:p@example.org/", "events": ["match"]}, 400),
    ({"url": "https://example.org/in", "events": ["member.add"]}, 422),
    ({"url": "https://example.org/in", "events": []}, 422),
    ({"url": "https://example.org/in"}, 422),
    ({"url": "https://example.org/in", "events": ["match"], "secret": "mine"}, 422),
    ({"url": "https://example.org/" + "a" * 3000, "events": ["match"]}, 422),
]


def test_api_bad_registrations_get_a_json_error(hub: Hub, api: Callable[..., Any]) -> None:
    _, key = _member(hub, "alpha", ["reviewer"])
    for body, status in BAD_REGISTRATIONS:
        r = api("POST", "/v1/webhooks", key, json=body)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()["error"]) == {"code", "message"}
    r = api("POST", "/v1/webhooks", key, content=b'{"url": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
    assert api("GET", "/v1/webhooks", key).json() == {"webhooks": []}


def test_api_out_of_range_ids_and_pages_are_4xx(hub: Hub, api: Callable[..., Any]) -> None:
    _, key = _member(hub, "alpha", ["viewer"])
    for path in ("/v1/webhooks/0", "/v1/webhooks/99999999999999", "/v1/webhooks/x",
                 "/v1/webhooks/1/deliveries?limit=0", "/v1/webhooks/1/deliveries?status=lost"):
        r = api("GET", path, key)
        assert 400 <= r.status_code < 500 and "error" in r.json(), path


def test_api_deliveries_page_through_status_and_errors(hub: Hub, api: Callable[..., Any],
                                                       receiver: Receiver) -> None:
    who, key = _member(hub, "alpha", ["curator"])
    hook, _ = webhooks.register(hub, who, receiver.url(), ["match"])
    receiver.answers = [500]
    for n in range(3):
        webhooks.emit(hub, who.member_id, "match", {"n": n})
    assert _deliver(hub, workers=1) == 2
    first = api("GET", f"/v1/webhooks/{hook.id}/deliveries?limit=2", key).json()
    second = api("GET", f"/v1/webhooks/{hook.id}/deliveries?limit=2&after={first['next_after']}", key).json()
    rows = first["deliveries"] + second["deliveries"]
    assert second["next_after"] is None and len(rows) == 3
    assert sorted((d["status"], d["attempts"], d["last_error"]) for d in rows) == [
        ("delivered", 1, None), ("delivered", 1, None), ("pending", 1, "HTTP 500")]
    pending = api("GET", f"/v1/webhooks/{hook.id}/deliveries?status=pending", key).json()["deliveries"]
    assert len(pending) == 1 and dt.datetime.fromisoformat(pending[0]["next_attempt_at"]) > datetime.now(UTC)


def test_every_role_may_register_but_a_member_is_limited(hub: Hub) -> None:
    for role in ("admin", "curator", "reviewer", "matcher", "viewer"):
        who, _ = _member(hub, f"m-{role}", [role])
        webhooks.register(hub, who, "https://hooks.example.org/in", ["match"])
    who, _ = _member(hub, "many", ["viewer"])
    for _ in range(webhooks.MAX_WEBHOOKS_PER_MEMBER):
        webhooks.register(hub, who, "https://hooks.example.org/in", ["match"])
    with pytest.raises(Exception, match="at most"):
        webhooks.register(hub, who, "https://hooks.example.org/in", ["match"])
    nobody = Principal(who.member_id, "many", ())
    with pytest.raises(PermissionDenied):
        webhooks.register(hub, nobody, "https://hooks.example.org/in", ["match"])


def test_the_documented_receiver_check_accepts_what_the_hub_signs() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "webhooks.md").read_text(encoding="utf-8")
    code = doc.split("### Verifying in Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), scope)  # noqa: S102 - our own documentation
    documented = scope["verify_signature"]
    secret, ts, body = webhooks.new_secret(), str(int(time.time())), json.dumps(PAYLOAD).encode()
    header = webhooks.sign(secret, ts, body)
    assert documented(secret, ts, body, header)
    assert not documented(secret, ts, body + b"\n", header)
    assert not documented(secret, str(int(ts) - 3600), body, webhooks.sign(secret, str(int(ts) - 3600), body))
