"""The /v1 routers, one module per area, each switched on by configuration
(``HubConfig.routers``, ``TAHALUF_ROUTERS``): a router left out answers 404
and is absent from /openapi.json."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from tahaluf.api.routes import admin, bank_files, banks, evidence, feedback, matching, reviews, webhooks
from tahaluf.config import ROUTER_AREAS

__all__ = ["register_routes", "ROUTERS"]

#: area name (see :data:`tahaluf.config.ROUTER_AREAS`) -> its routers
ROUTERS = {
    "matching": (matching.router,),
    "banks": (banks.router, bank_files.router),
    "admin": (admin.router,),
    "reviews": (reviews.router, evidence.router),
    "feedback": (feedback.router,),
    "webhooks": (webhooks.router,),
}


def register_routes(app: FastAPI, areas: Sequence[str] = ROUTER_AREAS) -> None:
    for area in ROUTER_AREAS:
        if area in areas:
            for router in ROUTERS[area]:
                app.include_router(router, prefix="/v1")
