"""The FastAPI application: ``create_app(config)`` (or ``app_from_env()`` for uvicorn workers).

On start the indexes load in a background thread: ``/health/live`` answers at
once, ``/health/ready`` (and every lookup) says 503 until they are loaded.
Each worker then applies the change log every ``refresh_interval_s`` in a
background thread, so a change made through any worker (or host) is seen
within about a second, without reloading and without pausing lookups.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from tahaluf import __version__, jsonbound
from tahaluf.api import metrics
from tahaluf.api.deps import RateLimiter
from tahaluf.api.docs_ui import install_docs
from tahaluf.api.errors import error_response, install_error_handlers
from tahaluf.api.routes import register_routes
from tahaluf.errors import TahalufError
from tahaluf.bootstrap import open_hub
from tahaluf.config import HubConfig
from tahaluf.services.hub import Hub

__all__ = ["create_app", "app_from_env"]

log = logging.getLogger("tahaluf.api")


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes`` (declared or streamed).

    A streamed (chunked) body is cut off as soon as it passes the limit; the
    app may turn the interruption into an error of its own (FastAPI answers
    400 when it cannot read a body), so any response started after the cut
    is replaced by the 413.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(scope, receive, send)
                    return
        seen = 0
        state = {"too_big": False, "refused": False}

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    state["too_big"] = True
                    raise _TooBig()
            return message

        async def guarded(message: Any) -> None:
            if not state["too_big"]:
                await send(message)
            elif not state["refused"]:
                state["refused"] = True
                await self._refuse(scope, receive, send)

        try:
            await self.app(scope, limited, guarded)
        except _TooBig:
            if not state["refused"]:
                state["refused"] = True
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Any, receive: Any, send: Any) -> None:
        resp = error_response(413, "content_too_large", f"request body over the limit of {self.max_bytes:,} bytes")
        await resp(scope, receive, send)


class _TooBig(Exception):
    pass


class RejectNul:
    """ASGI middleware: 400 for a NUL character in the path or query string.

    No name, id or filter value may hold one, and PostgreSQL refuses them in
    text columns, so they are turned away before they reach the database.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"")
            if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
                resp = error_response(400, "invalid_input", "NUL characters are not allowed in the URL")
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


class JsonDepthLimit:
    """ASGI middleware: 400 for a JSON request body nested deeper than ``max_depth``.

    The body (already bounded by :class:`BodyLimit`) is read whole, measured
    with :func:`tahaluf.jsonbound.check_depth` before anything parses it, then
    handed on unchanged. Multipart and form bodies (uploads) pass untouched;
    their JSON fields are bounded where they are parsed.
    """

    def __init__(self, app: Any, max_depth: int = jsonbound.DEFAULT_MAX_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        content_type = dict(scope.get("headers", ())).get(b"content-type", b"").lower()
        if content_type.startswith((b"multipart/", b"application/x-www-form-urlencoded")):
            await self.app(scope, receive, send)
            return
        messages, body = [], bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            jsonbound.check_depth(bytes(body), self.max_depth, what="request body")
        except jsonbound.JsonTooDeep as exc:
            await error_response(400, exc.code, exc.message)(scope, receive, send)
            return

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _start_loading(app: FastAPI, hub: Hub) -> None:
    def work() -> None:
        try:
            hub.load()
        except TahalufError as exc:
            app.state.load_error = exc.message
            log.error("could not load the indexes: %s", exc.message)

    threading.Thread(target=work, name="tahaluf-load", daemon=True).start()


async def _refresh_loop(hub: Hub, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        if not hub.ready:
            continue
        try:
            await asyncio.to_thread(hub.refresh)
        except TahalufError as exc:  # the database went away: keep serving, retry next tick
            log.warning("index refresh failed: %s", exc.message)
        except Exception:  # noqa: BLE001 - a bug here must not stop this worker's upkeep for good
            log.exception("index refresh failed; retrying at the next tick")


def create_app(config: HubConfig | None = None, *, hub: Hub | None = None, load: bool = True) -> FastAPI:
    """The hub app. ``hub`` may be given (tests); ``load=False`` leaves loading to the caller."""
    config = config or (hub.config if hub else HubConfig.from_env())
    hub = hub or open_hub(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if load and not hub.ready:
            _start_loading(app, hub)
        task = asyncio.create_task(_refresh_loop(hub, config.refresh_interval_s))
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(
        title="tahaluf hub",
        version=__version__,
        description="Hash, match, curate, review and share verified propaganda signals. "
        "Every /v1 operation needs `Authorization: Bearer <API key>`.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by install_docs: no CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.hub = hub
    app.state.config = config
    app.state.limiter = RateLimiter(config.rate_limit_per_s, config.rate_burst)
    app.state.load_error = None
    install_error_handlers(app)
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(JsonDepthLimit)
    app.add_middleware(RejectNul)
    app.add_middleware(BodyLimit, max_bytes=config.max_request_bytes)

    @app.get("/health/live", tags=["health"], summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"], summary="Indexes loaded; lookups are answered",
             responses={503: {"description": "still loading, or loading failed"}})
    async def ready() -> Response:
        if hub.ready:
            return JSONResponse({"status": "ready", "cursor": hub.lookup.engine.cursor})
        status = "failed: " + app.state.load_error if app.state.load_error else "loading"
        return JSONResponse({"status": status}, status_code=503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics of this worker",
             response_class=Response)
    async def prometheus() -> Response:
        return metrics.render(hub)

    register_routes(app, config.routers)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` workers: configuration from ``TAHALUF_*``."""
    return create_app(HubConfig.from_env())
