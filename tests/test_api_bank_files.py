"""Bank import and export over the API: ``POST /v1/banks/{name}/import`` and
``GET /v1/banks/{name}/export`` follow the rules of ``tahaluf bank import|export``
(same service): each bad line is that line's error, a tahaluf export creates its
bank, only the bank's owner imports into it, every chunk is audited."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tahaluf.api.app import create_app
from tahaluf.bootstrap import open_hub
from tahaluf.config import HubConfig
from tahaluf.services.hub import Hub

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the test client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

PDQ = "f" * 64
MD5 = "0123456789abcdef" * 2
PYTX_FILE = f"pdq {PDQ}\nmd5 {MD5}\nnot-a-type 42\n".encode()


class Api:
    def __init__(self, hub: Hub, client: TestClient, keys: dict[str, str]) -> None:
        self.hub, self.client, self.keys = hub, client, keys

    def call(self, method: str, path: str, who: str, **kwargs: object):  # noqa: ANN201
        return self.client.request(method, path, headers={"Authorization": f"Bearer {self.keys[who]}"}, **kwargs)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False, rate_limit_per_s=0))
    keys = {name: hub.accounts.add_member("cli:test", name, roles)[1]
            for name, roles in (("alpha", ["curator"]), ("beta", ["curator"]), ("reader", ["viewer"]))}
    with TestClient(create_app(hub.config, hub=hub, load=False)) as client:
        a = Api(hub, client, keys)
        made = a.call("POST", "/v1/banks", "alpha", json={"name": "weather", "labels": {"entity": "demo-entity"},
                                                          "visibility": "all"})
        assert made.status_code == 201, made.text
        yield a
    hub.close()


def test_import_reports_each_bad_line_and_audits_the_chunk(api: Api) -> None:
    resp = api.call("POST", "/v1/banks/weather/import", "alpha", params={"format": "pytx", "label": "tags=demo"},
                    content=PYTX_FILE)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["imported"], body["duplicates"], body["error_count"], body["created"]) == (2, 0, 1, None)
    assert body["errors"][0]["line"] == 3 and "not-a-type" in body["errors"][0]["message"]
    again = api.call("POST", "/v1/banks/weather/import", "alpha", params={"format": "pytx"}, content=PYTX_FILE)
    assert (again.json()["imported"], again.json()["duplicates"]) == (0, 2)
    entries = api.hub.hubstore.list_audit(action="item.import")
    assert [(e.actor, e.target, e.details["format"], e.details["imported"]) for e in entries][-2:] in (
        [("alpha", "bank:weather", "pytx", 2), ("alpha", "bank:weather", "pytx", 0)],
        [("alpha", "bank:weather", "pytx", 0), ("alpha", "bank:weather", "pytx", 2)],
    )


def test_export_then_import_creates_the_bank_as_it_was(api: Api) -> None:
    api.call("POST", "/v1/banks/weather/import", "alpha", params={"format": "pytx"}, content=PYTX_FILE)
    exported = api.call("GET", "/v1/banks/weather/export", "reader")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/x-ndjson")
    header, *items = exported.text.splitlines()
    assert json.loads(header)["tahaluf_bank"] == 1 and len(items) == 2
    assert json.loads(header)["provenance"]["exported_by"] == "reader"

    copied = api.call("POST", "/v1/banks/weather-copy/import", "beta", params={"format": "jsonl"},
                      content=exported.content)
    assert copied.status_code == 200, copied.text
    assert (copied.json()["created"], copied.json()["imported"]) == ("weather-copy", 2)
    assert copied.json()["notes"] == ["owner 'alpha': the bank belongs to beta, who imported it"]
    record = api.hub.store.get_bank("weather-copy")
    assert record is not None and (record.owner, record.kind) == ("beta", "known")
    assert record.default_labels == {"entity": "demo-entity"}
    again = api.call("GET", "/v1/banks/weather-copy/export", "beta").text.splitlines()[1:]
    assert [json.loads(i)["signals"] for i in again] == [json.loads(i)["signals"] for i in items]


def test_pytx_export_counts_what_it_leaves_out(api: Api) -> None:
    api.call("POST", "/v1/banks/weather/import", "alpha", params={"format": "pytx"}, content=PYTX_FILE)
    resp = api.call("GET", "/v1/banks/weather/export", "alpha", params={"format": "pytx"})
    assert resp.status_code == 200 and resp.text == f"pdq {PDQ}\n"
    assert resp.headers["x-tahaluf-left-out"] == "1"  # the md5 of a photo: pytx has no type for it


def test_import_follows_the_cli_rules(api: Api) -> None:
    def error(resp) -> tuple[int, str]:  # noqa: ANN001
        return resp.status_code, resp.json()["error"]["code"]

    imp = "/v1/banks/weather/import"
    assert error(api.call("POST", imp, "beta", params={"format": "pytx"}, content=PYTX_FILE)) == (
        403, "permission_denied")  # beta sees alpha's bank but may not change it
    assert error(api.call("POST", imp, "reader", params={"format": "pytx"}, content=PYTX_FILE))[0] == 403
    assert error(api.call("POST", imp, "alpha", params={"format": "csv"}, content=PYTX_FILE)) == (
        400, "invalid_input")
    assert error(api.call("POST", imp, "alpha", params={"format": "jsonl", "label": "tags=x"}, content=b"{}")) == (
        400, "invalid_input")  # a tahaluf export carries its labels
    assert error(api.call("POST", "/v1/banks/ghost/import", "alpha", params={"format": "pytx"},
                          content=PYTX_FILE)) == (404, "not_found")
    assert error(api.call("GET", "/v1/banks/ghost/export", "alpha")) == (404, "not_found")
    assert api.hub.store.get_bank("ghost") is None
