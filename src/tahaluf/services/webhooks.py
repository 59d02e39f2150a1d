"""Webhooks: members register URLs that the hub calls, signed with HMAC and
retried with back-off, when their content matches, a review of their
submission is decided or one of their items is disputed.

* :func:`register` / :func:`delete_webhook` / :func:`webhooks_of` /
  :func:`deliveries_of`: what the ``/v1/webhooks`` routes call.
* :func:`emit` puts one delivery per subscribed webhook in the outbox
  (``webhook_deliveries``). For a member without webhooks it costs at most
  one small query every ``key_cache_s`` (2 s) per worker.
* :func:`deliver_due` sends what is due, once, and records the outcome;
  :func:`run_deliverer` loops over it in its own process (``tahaluf webhooks
  deliver``), never inside a web worker.
* :func:`verify_signature` is what a receiver runs (``docs/webhooks.md``).

Delivery is at least once: a receiver deduplicates by ``delivery_id``.
Every call has a hard deadline (connect, TLS, request and answer together),
reads at most 64 KiB of the answer, follows no redirect and, unless
``allow_private_networks``, connects only to public IP addresses (checked
on the resolved address, so DNS tricks cannot reach the hub's own network).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpcore
import httpx

from tahaluf import __version__
from tahaluf.access import Capability, Principal
from tahaluf.errors import InvalidInput, NotFound, PermissionDenied, TahalufError
from tahaluf.storage.repository.webhooks_sql import (
    DELIVERY_STATUSES,
    DeliveryJob,
    DeliveryRecord,
    WebhookRecord,
    WebhookStore,
    utc,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from tahaluf.services.hub import Hub
    from tahaluf.storage import Store

__all__ = [
    "EVENTS", "MAX_ATTEMPTS", "register", "webhooks_of", "webhook", "delete_webhook", "deliveries_of",
    "emit", "sign", "verify_signature", "backoff_s", "check_url", "url_warnings", "make_client", "deliver_due",
    "run_deliverer",
]

log = logging.getLogger("tahaluf.webhooks")

#: what a webhook can subscribe to
EVENTS = ("match", "review.decided", "feedback.disputed")
#: attempts before a delivery is given up (``failed``): about 3.4 hours of retries
MAX_ATTEMPTS = 12
BACKOFF_BASE_S = 10.0
BACKOFF_CAP_S = 3600.0
#: hard deadline of one call: connect, TLS, request and answer together
TIMEOUT_S = 5.0
#: how long a claimed delivery stays reserved for its deliverer
LEASE_S = 120.0
_LEASE_MARGIN_S = 10.0  # room for clock skew between deliverer hosts
MAX_RESPONSE_BYTES = 64 * 1024
MAX_WEBHOOKS_PER_MEMBER = 10
MAX_URL_CHARS = 2048
#: receivers reject timestamps further than this from their clock (replays)
SIGNATURE_TOLERANCE_S = 300.0
KEEP_DELIVERIES_S = 7 * 86400.0


# -- signatures ------------------------------------------------------------------
def new_secret() -> str:
    """A webhook secret: ``whsec_`` + 43 URL-safe characters (256 random bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``: the X-Tahaluf-Signature header."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes | str, header: str,
    *, tolerance_s: float | None = SIGNATURE_TOLERANCE_S, now: float | None = None,
) -> bool:
    """True when ``header`` signs ``timestamp`` and the exact ``body`` with ``secret``,
    and ``timestamp`` (Unix seconds) is within ``tolerance_s`` of ``now`` (None: no age check)."""
    if not (isinstance(header, str) and isinstance(timestamp, str) and header.isascii()
            and timestamp.isascii() and timestamp.isdigit()):
        return False
    if tolerance_s is not None and abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, timestamp, raw), header.strip())


def backoff_s(attempts: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``attempts`` failed attempts: 10 s doubling, ±20 % jitter, at most 1 h."""
    base = BACKOFF_BASE_S * 2.0 ** min(max(attempts, 1) - 1, 30)
    return min(BACKOFF_CAP_S, base * (0.8 + 0.4 * rng()))


# -- registration ----------------------------------------------------------------
def check_url(url: str) -> str:
    """An http(s) URL with a host and without credentials, else InvalidInput."""
    url = url.strip()
    shown = url[:100]
    if not url or len(url) > MAX_URL_CHARS or any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidInput(f"webhook url must be 1-{MAX_URL_CHARS} printable characters without spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise InvalidInput(f"not a valid URL: {shown!r}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(f"webhook url must start with http:// or https://, not {shown!r}")
    if not parts.hostname:
        raise InvalidInput(f"webhook url has no host: {shown!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("webhook url must not carry a user or password; calls are signed with the secret")
    if parts.fragment:
        raise InvalidInput("webhook url must not have a #fragment")
    return url


def url_warnings(url: str) -> list[str]:
    """Why the deliverer may refuse a valid webhook URL (empty when it will try it).

    Without ``allow_private_networks`` the deliverer calls only public
    addresses; a URL naming a private or loopback address (or ``localhost``)
    is accepted, for hubs that allow them, but said to fail elsewhere.
    Host names are not resolved here: that happens at each call.
    """
    host = (urlsplit(url.strip()).hostname or "").rstrip(".").lower()
    try:
        private = not _is_public(host)
    except ValueError:  # a name, not an address
        private = host == "localhost" or host.endswith(".localhost")
    if not private:
        return []
    return [f"{host} is a private or loopback address: the hub calls it only when its deliverer allows "
            "private networks (tahaluf serve --allow-private-networks); otherwise every call fails"]


def check_events(events: Sequence[str]) -> list[str]:
    """The events in their canonical order, else InvalidInput."""
    unknown = sorted(set(events) - set(EVENTS))
    if unknown or not events:
        raise InvalidInput(f"unknown event {', '.join(unknown) or '(none)'}: choose from {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in events]


def _require_member(actor: Principal) -> None:
    if not (actor.can(Capability.READ) or actor.can(Capability.MATCH)):
        raise PermissionDenied(f"member {actor.name!r} may not use webhooks")


def register(hub: Hub, actor: Principal, url: str, events: Sequence[str]) -> tuple[WebhookRecord, str]:
    """Register a webhook for ``actor``; returns it and its secret (shown only now)."""
    _require_member(actor)
    clean_url, clean_events = check_url(url), check_events(events)
    secret = new_secret()
    with hub.change():
        record = WebhookStore(hub.store).add(actor.member_id, clean_url, secret, clean_events,
                                             max_per_member=MAX_WEBHOOKS_PER_MEMBER)
        hub.audit(actor, "webhook.add", f"webhook:{record.id}", {"url": clean_url, "events": clean_events})
    _subscriptions(hub.store).forget(actor.member_id)
    return record, secret


def webhooks_of(hub: Hub, actor: Principal, *, all_members: bool = False) -> list[WebhookRecord]:
    """The actor's webhooks (``all_members``: every member's, admins only)."""
    _require_member(actor)
    if all_members:
        actor.require(Capability.ADMIN)
        return WebhookStore(hub.store).list_webhooks()
    return WebhookStore(hub.store).list_webhooks(actor.member_id)


def webhook(hub: Hub, actor: Principal, webhook_id: int) -> WebhookRecord:
    """One webhook of the actor (any, for admins); NotFound otherwise, existence not revealed."""
    _require_member(actor)
    found = WebhookStore(hub.store).get(webhook_id)
    if found is None or not (actor.is_admin or found.member_id == actor.member_id):
        raise NotFound(f"no webhook {webhook_id} (see GET /v1/webhooks)")
    return found


def delete_webhook(hub: Hub, actor: Principal, webhook_id: int) -> None:
    """Delete a webhook and its deliveries (its owner or an admin)."""
    found = webhook(hub, actor, webhook_id)
    with hub.change():
        if not WebhookStore(hub.store).delete(found.id):
            raise NotFound(f"no webhook {webhook_id} (see GET /v1/webhooks)")
        hub.audit(actor, "webhook.delete", f"webhook:{found.id}", {"member": found.member, "url": found.url})
    _subscriptions(hub.store).forget(found.member_id)


def deliveries_of(
    hub: Hub, actor: Principal, webhook_id: int, *, after: int = 0, limit: int = 100, status: str | None = None
) -> list[DeliveryRecord]:
    """A webhook's deliveries in id order (after ``after``), optionally of one status."""
    found = webhook(hub, actor, webhook_id)
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(DELIVERY_STATUSES)}")
    return WebhookStore(hub.store).deliveries(found.id, after=after, limit=limit, status=status)


# -- emitting ----------------------------------------------------------------------
Subs = tuple[tuple[int, tuple[str, ...]], ...]


class _Subscriptions:
    """member id -> its enabled webhooks ``(id, events)``, trusted for a few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[float, Subs]] = {}
        self._generation = 0

    def get(self, hooks: WebhookStore, member_id: int, ttl_s: float) -> Subs:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(member_id)
            generation = self._generation
        if hit is not None and hit[0] > now:
            return hit[1]
        subs = tuple(hooks.subscriptions(member_id))
        with self._lock:
            if generation == self._generation:  # no registration changed while we read
                if len(self._entries) > 100_000:
                    self._entries.clear()
                self._entries[member_id] = (now + ttl_s, subs)
        return subs

    def forget(self, member_id: int) -> None:
        with self._lock:
            self._entries.pop(member_id, None)
            self._generation += 1


_CACHES: weakref.WeakKeyDictionary[Store, _Subscriptions] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _subscriptions(store: Store) -> _Subscriptions:
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = _Subscriptions()
        return cache


def emit(
    hub: Hub, member_id: int, event: str, payload: dict[str, Any], *, conn: Connection | None = None
) -> None:
    """Queue ``event`` for every enabled webhook of the member subscribed to it.

    ``conn``: a write connection, to queue in the same transaction as the
    change being announced. A webhook registered through another worker is
    seen within ``key_cache_s``.
    """
    if event not in EVENTS:
        raise InvalidInput(f"unknown webhook event {event!r}")
    hooks = WebhookStore(hub.store)
    subs = _subscriptions(hub.store).get(hooks, member_id, hub.config.key_cache_s)
    ids = [hook_id for hook_id, events in subs if event in events]
    if not ids:
        return
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"webhook payload for {event!r} is not JSON: {exc}") from exc
    hooks.enqueue(ids, event, payload, datetime.now(UTC), conn=conn)


# -- the HTTP client -----------------------------------------------------------------
#: monotonic deadline of the call being made in this thread (None: no deadline)
_DEADLINE: ContextVar[float | None] = ContextVar("tahaluf_webhook_deadline", default=None)


def _budget(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of the current call's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _GuardedStream(httpcore.NetworkStream):
    """A socket stream whose every read, write and handshake respects the call's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        budget = _budget(timeout, httpcore.ConnectTimeout)
        return _GuardedStream(self._inner.start_tls(ssl_context, server_hostname, budget))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: a network's own translator
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address reaches through a translator or tunnel
    (mapped, IPv4-compatible, NAT64, 6to4, Teredo server and client); None when it embeds none."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return None


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:  # translated to whatever the local network chooses: never known to be public
            return False
        if ip.ipv4_mapped is not None or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
            return _is_public(str(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)))
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not all(_is_public(str(v4)) for v4 in embedded):
            return False  # NAT64, 6to4 or Teredo towards a private address
    return ip.is_global and not ip.is_multicast


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves once, refuses non-public addresses (unless allowed) and connects to what it checked."""

    def __init__(self, allow_private_networks: bool) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_private = allow_private_networks

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if self._allow_private:
            return addresses
        public = [a for a in addresses if _is_public(a)]
        if not public:
            raise httpcore.ConnectError(f"{host} is not a public address ({', '.join(addresses)}); the hub "
                                        "calls only public addresses unless private networks are allowed")
        return public

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        error: Exception | None = None
        for address in self._addresses(host, port):
            try:
                budget = _budget(timeout, httpcore.ConnectTimeout)
                return _GuardedStream(self._inner.connect_tcp(address, port, budget, local_address, socket_options))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"cannot connect to {host}")


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over :class:`_GuardedBackend` (no proxies from the environment)."""

    def __init__(self, *, allow_private_networks: bool) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=64, max_keepalive_connections=16, keepalive_expiry=5.0,
            network_backend=_GuardedBackend(allow_private_networks),
        )


def make_client(*, allow_private_networks: bool = False, timeout_s: float = TIMEOUT_S) -> httpx.Client:
    """The HTTP client deliveries use (close it when done, or use it as a context manager)."""
    return httpx.Client(
        transport=_GuardedTransport(allow_private_networks=allow_private_networks),
        timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False,
        headers={"User-Agent": f"tahaluf-webhooks/{__version__}"},
    )


def _drain(resp: httpx.Response) -> None:
    """Read (and drop) at most MAX_RESPONSE_BYTES of the answer, so the connection can be reused."""
    seen = 0
    try:
        for chunk in resp.iter_raw():
            seen += len(chunk)
            if seen > MAX_RESPONSE_BYTES:
                return  # closing the response drops the connection
    except httpx.HTTPError as exc:  # the status is in; a broken body changes nothing
        log.debug("webhook answer body unreadable: %s", exc)


def _post(client: httpx.Client, job: DeliveryJob, *, timeout_s: float = TIMEOUT_S) -> str | None:
    """Send one delivery; None when the receiver answered 2xx, else what went wrong."""
    body = json.dumps({"event": job.event, "delivery_id": job.id, "created_at": job.created_at.isoformat(),
                       "data": job.payload}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Tahaluf-Event": job.event,
               "X-Tahaluf-Delivery": str(job.id), "X-Tahaluf-Timestamp": timestamp,
               "X-Tahaluf-Signature": sign(job.secret, timestamp, body)}
    token = _DEADLINE.set(time.monotonic() + timeout_s)
    try:
        with client.stream("POST", job.url, content=body, headers=headers) as resp:
            status = resp.status_code
            _drain(resp)
    except httpx.TimeoutException:
        return f"timed out: no complete answer within {timeout_s:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        _DEADLINE.reset(token)
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed; register the final URL"
    return f"HTTP {status}"


# -- delivering ------------------------------------------------------------------------
def _attempt(hooks: WebhookStore, client: httpx.Client, job: DeliveryJob, clock: Callable[[], datetime],
             claimed: float, timeout_s: float, max_attempts: int) -> bool | None:
    """Send one claimed delivery and record it: True delivered, False failed, None given back unsent."""
    if time.monotonic() - claimed + timeout_s + _LEASE_MARGIN_S > LEASE_S:
        hooks.release(job, clock())  # our claim would run out mid-call: let the next round take it
        return None
    error = _post(client, job, timeout_s=timeout_s)
    if error is None:
        hooks.record_success(job, clock())
        return True
    attempts = job.attempts + 1
    retry_at = clock() + timedelta(seconds=backoff_s(attempts)) if attempts < max_attempts else None
    hooks.record_failure(job, error, retry_at)
    log.info("webhook %d delivery %d attempt %d failed%s: %s", job.webhook_id, job.id, attempts,
             "" if retry_at else " (giving up)", error)
    return False


def _deliver(
    store: Store, now: datetime | None, client: httpx.Client | None, max_batch: int, max_attempts: int,
    timeout_s: float, workers: int, allow_private_networks: bool,
) -> tuple[int, int]:
    """One round: (claimed, delivered)."""
    start = utc(now) if now is not None else datetime.now(UTC)
    hooks = WebhookStore(store)
    jobs = hooks.claim_due(start, limit=max_batch, lease_s=LEASE_S)
    if not jobs:
        return 0, 0
    claimed = time.monotonic()

    def clock() -> datetime:  # ``now`` moved on by the real time spent since the claim
        return start + timedelta(seconds=time.monotonic() - claimed)

    http = client if client is not None else make_client(allow_private_networks=allow_private_networks,
                                                         timeout_s=timeout_s)
    try:
        with ThreadPoolExecutor(max(1, min(workers, len(jobs))), thread_name_prefix="tahaluf-webhook") as pool:
            results = list(pool.map(
                lambda job: _attempt(hooks, http, job, clock, claimed, timeout_s, max_attempts), jobs))
    finally:
        if client is None:
            http.close()
    return len(jobs), sum(1 for r in results if r is True)


def deliver_due(
    store: Store, *, now: datetime | None = None, client: httpx.Client | None = None, max_batch: int = 100,
    max_attempts: int = MAX_ATTEMPTS, timeout_s: float = TIMEOUT_S, workers: int = 4,
    allow_private_networks: bool = False,
) -> int:
    """Send up to ``max_batch`` due deliveries once (``workers`` at a time); returns how many were delivered.

    ``now`` (default: the current time) decides what is due and when failed
    ones are retried; ``client`` (default: :func:`make_client`) is the HTTP
    client. Safe to run in several processes or hosts at once.
    """
    return _deliver(store, now, client, max_batch, max_attempts, timeout_s, workers, allow_private_networks)[1]


def run_deliverer(
    store: Store, *, interval_s: float = 1.0, stop: threading.Event | None = None, max_batch: int = 100,
    timeout_s: float = TIMEOUT_S, workers: int = 4, allow_private_networks: bool = False,
    keep_s: float = KEEP_DELIVERIES_S,
) -> None:
    """Deliver until ``stop`` is set: a full batch is followed at once by the next, else wait ``interval_s``.

    Storage errors are logged and retried; finished deliveries older than
    ``keep_s`` are deleted once an hour.
    """
    stop = stop if stop is not None else threading.Event()
    next_purge = time.monotonic()
    with make_client(allow_private_networks=allow_private_networks, timeout_s=timeout_s) as client:
        while not stop.is_set():
            claimed = 0
            try:
                claimed, _ = _deliver(store, None, client, max_batch, MAX_ATTEMPTS, timeout_s, workers,
                                      allow_private_networks)
                if time.monotonic() >= next_purge:
                    WebhookStore(store).purge(datetime.now(UTC) - timedelta(seconds=keep_s))
                    next_purge = time.monotonic() + 3600.0
            except TahalufError as exc:
                log.warning("webhook delivery round failed (retrying): %s", exc.message)
            if claimed < max_batch:
                stop.wait(interval_s)
