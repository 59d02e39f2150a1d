"""Request dependencies: the hub, the calling member (``Authorization: Bearer``)
and a per-key rate limit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tahaluf.access import Capability, Principal
from tahaluf.services.hub import Hub

__all__ = ["get_hub", "principal", "require", "RateLimiter"]

_bearer = HTTPBearer(auto_error=False, description="An API key from `tahaluf member add` or `key rotate`")


async def get_hub(request: Request) -> Hub:
    # async: a plain def would be run in the thread pool on every request
    return request.app.state.hub


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token bucket per key, in this worker process (``rate`` per second, ``burst`` deep)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            b = self._buckets[key] = _Bucket(float(self.burst), now)
        b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate


async def principal(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    """The member the request acts for: 401 without a valid key, 429 over its rate."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise HTTPException(401, "missing API key: send `Authorization: Bearer <key>`",
                            headers={"WWW-Authenticate": "Bearer"})
    hub: Hub = request.app.state.hub
    who = hub.accounts.authenticate(creds.credentials)
    if who is None:
        raise HTTPException(401, "unknown, revoked or disabled API key", headers={"WWW-Authenticate": "Bearer"})
    wait = request.app.state.limiter.allow(creds.credentials)
    if wait:
        raise HTTPException(429, f"rate limit exceeded for this key; retry in {wait:.2f} s",
                            headers={"Retry-After": str(max(1, round(wait)))})
    request.state.member = who.name
    return who


def require(capability: Capability) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the calling member, 403 unless it has ``capability``."""

    async def dep(who: Principal = Depends(principal)) -> Principal:
        who.require(capability)
        return who

    return dep
