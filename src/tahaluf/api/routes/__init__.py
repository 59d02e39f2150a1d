"""The /v1 routers, one module per area (each can be switched on separately)."""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["register_routes"]


def register_routes(app: FastAPI) -> None:
    from tahaluf.api.routes import admin, banks, matching

    for module in (matching, banks, admin):
        app.include_router(module.router, prefix="/v1")
