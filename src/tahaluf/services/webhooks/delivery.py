"""Delivering webhook calls: :func:`deliver_due` sends what is due, once, and
records the outcome; :func:`run_deliverer` loops over it in its own process
(``tahaluf webhooks deliver``), never inside a web worker.

Delivery is at least once: a receiver deduplicates by ``delivery_id``. A
failed call is retried with back-off (:func:`backoff_s`) up to
:data:`MAX_ATTEMPTS` times. Safe to run in several processes or hosts at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from tahaluf.errors import TahalufError
from tahaluf.ports.webhooks import DeliveryJob, WebhookRepository, utc
from tahaluf.services.webhooks.transport import TIMEOUT_S, make_client, post

__all__ = ["KEEP_DELIVERIES_S", "LEASE_S", "MAX_ATTEMPTS", "backoff_s", "deliver_due", "run_deliverer"]

log = logging.getLogger("tahaluf.webhooks")

#: attempts before a delivery is given up (``failed``): about 3.4 hours of retries
MAX_ATTEMPTS = 12
BACKOFF_BASE_S = 10.0
BACKOFF_CAP_S = 3600.0
#: how long a claimed delivery stays reserved for its deliverer
LEASE_S = 120.0
_LEASE_MARGIN_S = 10.0  # room for clock skew between deliverer hosts
KEEP_DELIVERIES_S = 7 * 86400.0


def backoff_s(attempts: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``attempts`` failed attempts: 10 s doubling, ±20 % jitter, at most 1 h."""
    base = BACKOFF_BASE_S * 2.0 ** min(max(attempts, 1) - 1, 30)
    return min(BACKOFF_CAP_S, base * (0.8 + 0.4 * rng()))


# -- delivering ------------------------------------------------------------------------
def _attempt(hooks: WebhookRepository, client: httpx.Client, job: DeliveryJob, clock: Callable[[], datetime],
             claimed: float, timeout_s: float, max_attempts: int) -> bool | None:
    """Send one claimed delivery and record it: True delivered, False failed, None given back unsent."""
    if time.monotonic() - claimed + timeout_s + _LEASE_MARGIN_S > LEASE_S:
        hooks.release(job, clock())  # our claim would run out mid-call: let the next round take it
        return None
    error = post(client, job, timeout_s=timeout_s)
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
    hooks: WebhookRepository, now: datetime | None, client: httpx.Client | None, max_batch: int, max_attempts: int,
    timeout_s: float, workers: int, allow_private_networks: bool,
) -> tuple[int, int]:
    """One round: (claimed, delivered)."""
    start = utc(now) if now is not None else datetime.now(UTC)
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
    hooks: WebhookRepository, *, now: datetime | None = None, client: httpx.Client | None = None, max_batch: int = 100,
    max_attempts: int = MAX_ATTEMPTS, timeout_s: float = TIMEOUT_S, workers: int = 4,
    allow_private_networks: bool = False,
) -> int:
    """Send up to ``max_batch`` due deliveries once (``workers`` at a time); returns how many were delivered.

    ``now`` (default: the current time) decides what is due and when failed
    ones are retried; ``client`` (default: :func:`make_client`) is the HTTP
    client. Safe to run in several processes or hosts at once.
    """
    return _deliver(hooks, now, client, max_batch, max_attempts, timeout_s, workers, allow_private_networks)[1]


def run_deliverer(
    hooks: WebhookRepository, *, interval_s: float = 1.0, stop: threading.Event | None = None, max_batch: int = 100,
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
                claimed, _ = _deliver(hooks, None, client, max_batch, MAX_ATTEMPTS, timeout_s, workers,
                                      allow_private_networks)
                if time.monotonic() >= next_purge:
                    hooks.purge(datetime.now(UTC) - timedelta(seconds=keep_s))
                    next_purge = time.monotonic() + 3600.0
            except TahalufError as exc:
                log.warning("webhook delivery round failed (retrying): %s", exc.message)
            if claimed < max_batch:
                stop.wait(interval_s)
