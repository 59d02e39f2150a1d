"""``tahaluf webhooks add | list | show | delete | deliveries``: members' webhooks
from the command line, with the same rules, audit entries and JSON as the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_review import cli, lines
from test_hub_reviews import Hubby, running_hub

from tahaluf.services import webhooks


@pytest.fixture
def hub_db(tmp_path: Path) -> Iterator[tuple[Hubby, str]]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    with running_hub(url) as h:
        yield h, url


def test_a_member_manages_its_webhooks_from_the_command_line(hub_db: tuple[Hubby, str]) -> None:
    h, url = hub_db
    added = cli(url, "webhooks", "add", "https://hooks.example.org/tahaluf", "--as", "alpha",
                "-e", "review.decided", "-e", "match")
    created = lines(added)[0]
    assert created["member"] == "alpha" and created["events"] == ["match", "review.decided"]  # canonical order
    assert created["secret"].startswith("whsec_") and created["warnings"] == [] and added.stderr == ""
    hook_id = created["id"]

    shown = lines(cli(url, "webhooks", "show", str(hook_id), "--as", "alpha"))[0]
    assert shown == h.get("alpha", f"/v1/webhooks/{hook_id}").json()
    assert "secret" not in shown
    assert lines(cli(url, "webhooks", "list", "--as", "alpha", "--json")) == [shown]
    assert lines(cli(url, "webhooks", "list", "--as", "beta", "--json")) == []
    assert lines(cli(url, "webhooks", "list", "--as", "boss", "--all", "--json")) == [shown]
    table = cli(url, "webhooks", "list", "--as", "alpha")
    assert table.exit_code == 0 and "alpha" in table.stdout and "match" in table.stdout

    # an event for alpha lands in the outbox and shows up as a pending delivery
    webhooks.emit(h.hub, h.hub.hubstore.get_member("alpha").id, "match", {"count": 1})
    pending = lines(cli(url, "webhooks", "deliveries", str(hook_id), "--as", "alpha", "--status", "pending"))
    assert [(d["event"], d["status"], d["attempts"]) for d in pending] == [("match", "pending", 0)]
    assert pending == h.get("alpha", f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]

    other = cli(url, "webhooks", "show", str(hook_id), "--as", "beta")
    assert other.exit_code == 4 and f"no webhook {hook_id}" in other.stderr  # existence not revealed
    gone = cli(url, "webhooks", "delete", str(hook_id), "--as", "alpha")
    assert gone.exit_code == 0 and f"webhook {hook_id}" in gone.stderr
    assert h.get("alpha", f"/v1/webhooks/{hook_id}").status_code == 404
    audit = [(e["actor"], e["action"]) for e in lines(cli(url, "audit", "list", "--limit", "1000"))]
    assert [a for a in audit if a[1].startswith("webhook.")] == [("alpha", "webhook.add"), ("alpha", "webhook.delete")]


def test_bad_webhooks_are_refused_in_one_line(hub_db: tuple[Hubby, str]) -> None:
    _, url = hub_db
    private = cli(url, "webhooks", "add", "http://127.0.0.1:9/hook", "--as", "alpha", "-e", "match")
    assert private.exit_code == 0 and "warning: 127.0.0.1 is a private or loopback address" in private.stderr
    bad = cli(url, "webhooks", "add", "ftp://hooks.example.org/x", "--as", "alpha", "-e", "match")
    assert bad.exit_code == 2 and "must start with http:// or https://" in bad.stderr
    unknown = cli(url, "webhooks", "add", "https://hooks.example.org/x", "--as", "alpha", "-e", "everything")
    assert unknown.exit_code == 2  # refused by the option's choices
    not_admin = cli(url, "webhooks", "list", "--as", "alpha", "--all")
    assert not_admin.exit_code == 6
