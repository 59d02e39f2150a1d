"""``/docs``: Swagger UI served from the package, never from a CDN.

FastAPI's default page loads Swagger UI's JavaScript and CSS from a CDN, so it
is blank on a hub without Internet access. The assets ship with tahaluf
(``static/swagger-ui``, Apache-2.0, see its README), gzip-compressed, and are
served under ``/docs/assets/``. ReDoc is turned off (``redoc_url=None``).
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

__all__ = ["ASSETS", "install_docs"]

STATIC = Path(__file__).with_name("static") / "swagger-ui"
#: name served -> (file in STATIC, media type, stored gzip-compressed)
ASSETS = {
    "swagger-ui-bundle.js": ("swagger-ui-bundle.js.gz", "text/javascript; charset=utf-8", True),
    "swagger-ui.css": ("swagger-ui.css.gz", "text/css; charset=utf-8", True),
    "favicon-32x32.png": ("favicon-32x32.png", "image/png", False),
}
PREFIX = "/docs/assets"


@lru_cache(maxsize=len(ASSETS))
def _read(name: str) -> bytes:
    return (STATIC / ASSETS[name][0]).read_bytes()


def install_docs(app: FastAPI) -> None:
    """Add ``/docs`` and its assets to an app created with ``docs_url=None, redoc_url=None``."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to the public validator either
        )

    @app.get(PREFIX + "/{name}", include_in_schema=False)
    async def swagger_asset(name: str, request: Request) -> Response:
        if name not in ASSETS:
            return Response(status_code=404)
        _, media_type, compressed = ASSETS[name]
        headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
        data = _read(name)
        if compressed:
            if "gzip" in request.headers.get("accept-encoding", ""):
                headers["Content-Encoding"] = "gzip"
            else:
                data = gzip.decompress(data)
        return Response(data, media_type=media_type, headers=headers)
