"""The HTTP side of webhooks: signing, the guarded client and one signed POST.

Every call has a hard deadline (connect, TLS, request and answer together),
reads at most 64 KiB of the answer, follows no redirect and, unless
``allow_private_networks``, connects only to public IP addresses (checked
on the resolved address, so DNS tricks cannot reach the hub's own network).
:func:`verify_signature` is what a receiver runs (``docs/webhooks.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import time
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from tahaluf import __version__
from tahaluf.services.webhooks.addresses import is_public
from tahaluf.ports.webhooks import DeliveryJob

__all__ = [
    "MAX_RESPONSE_BYTES",
    "SIGNATURE_TOLERANCE_S",
    "TIMEOUT_S",
    "make_client",
    "post",
    "sign",
    "verify_signature",
]

log = logging.getLogger("tahaluf.webhooks")

#: hard deadline of one call: connect, TLS, request and answer together
TIMEOUT_S = 5.0
MAX_RESPONSE_BYTES = 64 * 1024
#: receivers reject timestamps further than this from their clock (replays)
SIGNATURE_TOLERANCE_S = 300.0


# -- signatures ------------------------------------------------------------------
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


# -- the guarded client ------------------------------------------------------------
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
        public = [a for a in addresses if is_public(a)]
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


def post(client: httpx.Client, job: DeliveryJob, *, timeout_s: float = TIMEOUT_S) -> str | None:
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
