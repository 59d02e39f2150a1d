"""``/docs`` works on a hub without Internet access: no external host, assets served by the hub."""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

from tahaluf.api.app import create_app
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import Hub, HubConfig

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the test client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient


def _client(tmp_path: Path) -> tuple[Hub, TestClient]:
    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False))
    return hub, TestClient(create_app(hub.config, hub=hub, load=False))


def test_docs_page_references_no_external_host_and_its_assets_are_served(tmp_path: Path) -> None:
    hub, client = _client(tmp_path)
    with client:
        page = client.get("/docs")
        assert page.status_code == 200
        html = page.text
        assert "SwaggerUIBundle" in html
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), html
        refs = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert len(refs) >= 3  # the script, the stylesheet, the icon
        for ref in refs:
            assert ref.startswith("/"), ref
            plain = client.get(ref, headers={"Accept-Encoding": "identity"})
            assert plain.status_code == 200, ref
            assert "content-encoding" not in plain.headers
            zipped = client.get(ref, headers={"Accept-Encoding": "gzip"})  # httpx decodes it
            assert zipped.content == plain.content
        bundle = client.get("/docs/assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "identity"})
        assert bundle.headers["content-type"].startswith("text/javascript")
        assert len(bundle.content) > 500_000 and b"SwaggerUIBundle" in bundle.content
        zipped = client.get("/docs/assets/swagger-ui.css", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"  # sent compressed, as stored
        assert client.get("/docs/assets/nothing.js").status_code == 404
        assert client.get("/redoc").status_code == 404  # turned off rather than loaded from a CDN
        assert client.get("/openapi.json").status_code == 200
    hub.close()


def test_vendored_assets_are_gzip_and_carry_their_licence() -> None:
    from tahaluf.api.docs_ui import ASSETS, STATIC

    for stored, _, compressed in ASSETS.values():
        data = (STATIC / stored).read_bytes()
        if compressed:
            assert gzip.decompress(data)
    assert "Apache License" in (STATIC / "LICENSE").read_text()
    assert sum(p.stat().st_size for p in STATIC.iterdir()) < 1_000_000
