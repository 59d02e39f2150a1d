"""The /v1 routers, one module per area (each can be switched on separately)."""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["register_routes"]


def register_routes(app: FastAPI) -> None:
    from tahaluf.api.routes import admin, bank_files, banks, feedback, matching, reviews, webhooks

    for module in (matching, banks, bank_files, admin, reviews, feedback, webhooks):
        app.include_router(module.router, prefix="/v1")
    app.state.match_hooks = [*getattr(app.state, "match_hooks", []), *reviews.MATCH_HOOKS]
