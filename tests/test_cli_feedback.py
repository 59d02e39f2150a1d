"""``tahaluf feedback``: opinions on bank items and the member's feed from the
command line, with the same rules, notifications and JSON as the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_review import cli, lines
from test_hub_reviews import MD5, Hubby, running_hub


@pytest.fixture
def hub_db(tmp_path: Path) -> Iterator[tuple[Hubby, str]]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    with running_hub(url) as h:
        r = h.post("alpha", "/v1/banks/alpha-known/items", json={"items": [
            {"external_id": "poster-1", "signals": [{"type": "md5", "value": MD5}]}]})
        assert r.json()["imported"] == 1, r.text
        yield h, url


def test_a_dispute_from_the_command_line_tells_the_owner(hub_db: tuple[Hubby, str]) -> None:
    h, url = hub_db
    agreed = lines(cli(url, "feedback", "give", "alpha-known", "poster-1", "--as", "beta", "--opinion", "agree",
                       "--reason", "compared with the demo-entity archive"))[0]
    assert agreed == {"bank": "alpha-known", "external_id": "poster-1", "member": "beta", "opinion": "agree",
                      "reason": "compared with the demo-entity archive", "disputed": False,
                      "became_disputed": False}
    result = cli(url, "feedback", "give", "alpha-known", "poster-1", "--as", "rev", "--opinion", "false_positive",
                 "--reason", "a weather report of demo-entity")
    disputed = lines(result)[0]
    assert disputed["disputed"] and disputed["became_disputed"]
    assert "now disputed" in result.stderr
    # the owner's feed, through the CLI and the API alike
    feed = lines(cli(url, "feedback", "feed", "--as", "alpha"))
    assert [(e["kind"], e["payload"]["by"], e["payload"]["opinion"]) for e in feed] == [
        ("item.disputed", "rev", "false_positive")]
    assert feed == h.get("alpha", "/v1/feed").json()["entries"]
    shown = lines(cli(url, "feedback", "show", "alpha-known", "poster-1", "--as", "watcher"))[0]
    assert shown == h.get("watcher", "/v1/feedback", params={"bank": "alpha-known", "external_id": "poster-1"}
                          ).json()
    assert shown["disputed"] and [(f["member"], f["opinion"]) for f in shown["feedback"]] == [
        ("beta", "agree"), ("rev", "false_positive")]
    audit = [(e["actor"], e["action"]) for e in lines(cli(url, "audit", "list", "--limit", "1000"))]
    assert [a for a in audit if a[1] == "feedback.give"] == [("beta", "feedback.give"), ("rev", "feedback.give")]


def test_bad_feedback_is_one_line(hub_db: tuple[Hubby, str]) -> None:
    _, url = hub_db
    missing = cli(url, "feedback", "give", "alpha-known", "poster-9", "--as", "beta", "--opinion", "agree",
                  "--reason", "x")
    assert missing.exit_code == 4 and "has no item 'poster-9'" in missing.stderr
    refused = cli(url, "feedback", "give", "alpha-known", "poster-1", "--as", "scanner", "--opinion", "agree",
                  "--reason", "x")
    assert refused.exit_code == 6 and refused.stderr.startswith("error: member 'scanner'")
    hidden = cli(url, "feedback", "show", "beta-private", "poster-1", "--as", "alpha")
    assert hidden.exit_code == 4
    empty = cli(url, "feedback", "give", "alpha-known", "poster-1", "--as", "beta", "--opinion", "agree",
                "--reason", "  ")
    assert empty.exit_code == 2 and "needs a reason" in empty.stderr
