"""Prometheus metrics of one worker: requests by route and status, latency, index sizes."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["MetricsMiddleware", "render"]

REGISTRY = CollectorRegistry()
REQUESTS = Counter("tahaluf_http_requests", "HTTP requests", ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "tahaluf_http_request_seconds", "HTTP request latency", ["route"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
INDEX_SIZE = Gauge("tahaluf_index_signals", "Signals in this worker's indexes", ["type"], registry=REGISTRY)
CURSOR = Gauge("tahaluf_change_cursor", "Last change-log id applied by this worker", registry=REGISTRY)
READY = Gauge("tahaluf_ready", "1 once the indexes are loaded", registry=REGISTRY)


class MetricsMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            # routes of included routers do not carry their prefix here (FastAPI >= 0.16x)
            if scope.get("path", "").startswith("/v1/") and not path.startswith("/v1"):
                path = "/v1" + path
            REQUESTS.labels(scope["method"], path, str(status["code"])).inc()
            LATENCY.labels(path).observe(time.perf_counter() - start)


def render(hub: Any) -> Response:
    engine = hub.lookup.engine
    READY.set(1 if hub.ready else 0)
    CURSOR.set(engine.cursor)
    for signal_type, size in engine.index_sizes().items():
        INDEX_SIZE.labels(signal_type).set(size)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
