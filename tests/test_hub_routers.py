"""Routers per area switched by configuration (``TAHALUF_ROUTERS``): a hub that
only answers lookups exposes nothing else (404, and absent from /openapi.json)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tahaluf.api.app import create_app
from tahaluf.bootstrap import open_hub
from tahaluf.config import ROUTER_AREAS, HubConfig, parse_routers
from tahaluf.errors import InvalidInput

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

MD5 = "0" * 32


def test_routers_are_read_from_the_environment() -> None:
    assert HubConfig.from_env({}).routers == ROUTER_AREAS
    assert HubConfig.from_env({"TAHALUF_ROUTERS": "matching"}).routers == ("matching",)
    assert HubConfig.from_env({"TAHALUF_ROUTERS": " review , matching"}).routers == ("matching", "reviews", "feedback")
    assert parse_routers("curation,admin") == ("banks", "admin")
    assert parse_routers("all") == ROUTER_AREAS
    with pytest.raises(InvalidInput, match="unknown router 'nope'"):
        HubConfig.from_env({"TAHALUF_ROUTERS": "matching,nope"})


def test_a_matching_only_hub_exposes_nothing_else(tmp_path: Path) -> None:
    config = HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False, routers=("matching",))
    hub = open_hub(config)
    key = hub.accounts.add_member("cli:test", "demo-org", ["admin", "curator", "matcher"]).api_key
    hub.load()
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(config, hub=hub, load=False)) as client:
        assert client.get("/v1/lookup", params={"type": "md5", "value": MD5}, headers=auth).status_code == 200
        for method, path in (("GET", "/v1/banks"), ("GET", "/v1/members"), ("GET", "/v1/settings"),
                             ("GET", "/v1/submissions"), ("GET", "/v1/webhooks"), ("GET", "/v1/me")):
            assert client.request(method, path, headers=auth).status_code == 404, path
        paths = set(client.get("/openapi.json").json()["paths"])
        assert paths and all(p.startswith(("/v1/lookup", "/v1/hash", "/health", "/metrics")) for p in paths), paths
        assert client.get("/health/live").status_code == 200
    hub.close()


def test_every_router_is_on_by_default(tmp_path: Path) -> None:
    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False))
    with TestClient(create_app(hub.config, hub=hub, load=False)) as client:
        paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/v1/lookup", "/v1/banks", "/v1/members", "/v1/settings", "/v1/webhooks"} <= paths
    hub.close()
