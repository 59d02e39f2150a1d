"""JSON from outside nested thousands of levels deep (issue 9 point 4): a clear
4xx or a per-item error on every entry point that parses JSON, never a 500 or
a crash, and nothing already stored lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neutral_posts import POST_EN
from tahaluf import jsonbound
from tahaluf.cli.main import app
from test_hub_limits import MD5, Api, assert_error, running

# far past Python's recursion limit: json.loads raises RecursionError on it
DEEP = 3000
DEEP_LIST = "[" * DEEP + "]" * DEEP
VPDQ = json.dumps(["f" * 64 + ",100,0.000"])


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running(f"sqlite:///{tmp_path_factory.mktemp('deep') / 'hub.db'}", max_request_bytes=100_000) as a:
        yield a


def _still_serving(api: Api) -> None:
    """The stored item is still there and lookups still answer."""
    stored = api.call("GET", "/v1/banks/alpha-bank/items/item-1", "alpha")
    assert stored.status_code == 200 and stored.json()["signals"][0]["value"] == MD5, stored.text
    ok = api.call("GET", "/v1/lookup", "scanner", params={"type": "vpdq", "value": VPDQ})
    assert ok.status_code == 200, ok.text


def test_deeply_nested_vpdq_values_get_400_on_lookups_and_adds(api: Api) -> None:
    one = api.call("GET", "/v1/lookup", "scanner", params={"type": "vpdq", "value": "[" * DEEP})
    assert "nested 3000 levels" in assert_error(one, 400, "invalid_input")["message"]
    batch = api.call("POST", "/v1/lookup", "scanner",
                     json={"signals": [{"type": "md5", "value": MD5}, {"type": "vpdq", "value": DEEP_LIST}]})
    assert "signals[1]" in assert_error(batch, 400, "invalid_input")["message"]
    add = api.call("POST", "/v1/banks/alpha-bank/items", "alpha", json={"items": [
        {"external_id": "deep", "signals": [{"type": "vpdq", "value": DEEP_LIST}]},
        {"external_id": "weather-clip", "signals": [{"type": "vpdq", "value": VPDQ}]}]})
    assert add.status_code == 200, add.text  # the bad item is an error on its own; the rest is added
    report = add.json()
    assert report["imported"] == 1 and [e["external_id"] for e in report["errors"]] == ["deep"]
    assert "vPDQ value is nested 3000 levels" in report["errors"][0]["message"]
    _still_serving(api)


def test_deeply_nested_request_bodies_get_400(api: Api) -> None:
    deep_labels = '{"x": ' * DEEP + "1" + "}" * DEEP
    bodies = [
        ("POST", "/v1/lookup", "scanner", '{"signals": ' + DEEP_LIST + "}"),
        ("POST", "/v1/banks/alpha-bank/items", "alpha",
         '{"items": [{"external_id": "deep", "signals": [{"type": "md5", "value": "' + MD5 + '"}], '
         '"labels": ' + deep_labels + "}]}"),
        ("POST", "/v1/banks", "alpha", '{"name": "deep-bank", "labels": ' + deep_labels + "}"),
    ]
    for method, path, member, body in bodies:
        resp = api.call(method, path, member, content=body.encode(), headers={"content-type": "application/json"})
        message = assert_error(resp, 400, "invalid_input")["message"]
        assert "request body is nested" in message and "limit is 64" in message, (path, message)
    # a string that merely holds brackets is not nesting
    text = api.call("POST", "/v1/hash/text", "scanner", json={"text": POST_EN + " [[[[" * 200})
    assert text.status_code == 200, text.text
    _still_serving(api)


def test_deeply_nested_labels_of_an_upload_get_400(api: Api) -> None:
    resp = api.call("POST", "/v1/banks/alpha-bank/items/content", "alpha",
                    files={"file": ("note.txt", POST_EN.encode(), "text/plain")},
                    data={"external_id": "note", "labels": DEEP_LIST})
    assert "labels is nested" in assert_error(resp, 400, "invalid_input")["message"]
    _still_serving(api)


def test_a_deeply_nested_jsonl_post_is_an_error_on_its_line_only(tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"id": "p1", "text": POST_EN}) + "\n"
                     + '{"id": "p2", "text": ' + DEEP_LIST + "}\n"
                     + json.dumps({"id": "p3", "text": POST_EN + " Again."}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["hash", "--jobs", "1", str(posts)])
    assert result.exit_code == 3, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("id") for o in lines] == ["p1", None, "p3"]
    assert lines[0]["error"] is None and lines[2]["error"] is None
    assert "line 2" in lines[1]["error"] and "nested 3001 levels" in lines[1]["error"]


def test_depth_ignores_brackets_inside_strings() -> None:
    assert jsonbound.json_depth('{"a": [1, {"b": "[[[[{{"}], "c": "\\"]]"}') == 3
    assert jsonbound.json_depth("42") == 0
    assert jsonbound.json_depth(b"[" * 10) == 10
    assert jsonbound.loads('[["x"]]', 2) == [["x"]]
    with pytest.raises(jsonbound.JsonTooDeep, match="nested 3 levels deep; the limit is 2"):
        jsonbound.loads('[[["x"]]]', 2)
