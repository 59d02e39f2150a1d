"""``tahaluf review``: the review queue from the command line, acting ``--as`` a
member, with the same rules and the same JSON as the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from neutral_posts import POST_EN
from test_hub_reviews import Hubby, running_hub
from typer.testing import CliRunner

from tahaluf.cli.main import app

runner = CliRunner()


@pytest.fixture
def hub_db(tmp_path: Path) -> Iterator[tuple[Hubby, str]]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    with running_hub(url) as h:
        yield h, url


def cli(url: str, *args: str) -> Any:
    return runner.invoke(app, ["--db", url, *args])


def lines(result: Any) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _submit(h: Hubby) -> int:
    r = h.post("scanner", "/v1/submissions", json={"text": POST_EN, "note": "seen in the demo-entity newsletter"})
    assert r.status_code == 201, r.text
    return int(r.json()["task"]["id"])


def test_a_reviewer_works_the_queue_from_the_command_line(hub_db: tuple[Hubby, str]) -> None:
    h, url = hub_db
    task_id = _submit(h)
    hook = h.post("scanner", "/v1/webhooks", json={"url": "https://hooks.example.org/x", "events": ["review.decided"]})
    assert hook.status_code == 201, hook.text
    listed = lines(cli(url, "review", "list", "--as", "rev", "--json"))
    assert [t["id"] for t in listed] == [task_id] and listed[0]["status"] == "pending"
    assert listed[0]["submission"]["note"] == "seen in the demo-entity newsletter"

    claimed = lines(cli(url, "review", "claim", str(task_id), "--as", "rev"))[0]
    assert claimed["claimed_by"] == "rev" and claimed["claim_expires_at"]
    # the API sees the claim, and another reviewer is refused by the same rule
    assert h.get("alpha", f"/v1/reviews/{task_id}").json()["claimed_by"] == "rev"
    busy = cli(url, "review", "claim", str(task_id), "--as", "alpha")
    assert busy.exit_code == 5 and "is claimed by rev" in busy.stderr
    released = lines(cli(url, "review", "release", str(task_id), "--as", "rev"))[0]
    assert released["claimed_by"] is None

    decided = lines(cli(url, "review", "decide", str(task_id), "--as", "alpha", "--decision", "confirm",
                        "--bank", "alpha-private", "--reason", "matches the demo-entity guide",
                        "--label", "entity=demo-entity"))[0]
    assert decided["status"] == "confirmed"
    assert [(d["member"], d["decision"], d["bank"]) for d in decided["decisions"]] == [
        ("alpha", "confirm", "alpha-private")]
    # one serializer: the CLI prints exactly what the API returns
    shown = lines(cli(url, "review", "show", str(task_id), "--as", "alpha"))[0]
    assert shown == h.get("alpha", f"/v1/reviews/{task_id}").json() == decided
    # the decision wrote its item, its audit entry and the submitter's feed entry, as through the API
    item = h.get("alpha", "/v1/banks/alpha-private/items/review-" + str(task_id))
    assert item.status_code == 200, item.text
    audit = [(e["actor"], e["action"]) for e in lines(cli(url, "audit", "list", "--limit", "1000"))]
    assert [a for a in audit if a[1].startswith("review.")] == [
        ("rev", "review.claim"), ("rev", "review.release"), ("alpha", "review.decide")]
    # ... and the submitter's webhook event, queued by the same service whoever called it
    events = h.get("scanner", f"/v1/webhooks/{hook.json()['id']}/deliveries").json()["deliveries"]
    assert [(d["event"], d["status"]) for d in events] == [("review.decided", "pending")]
    feed = lines(cli(url, "feedback", "feed", "--as", "scanner"))
    assert [(e["kind"], e["payload"]["task"]) for e in feed] == [("review.decided", task_id)]

    subs = lines(cli(url, "review", "submissions", "--as", "scanner", "--json"))
    assert [(s["task"]["id"], s["task"]["status"]) for s in subs] == [(task_id, "confirmed")]
    assert subs == h.get("scanner", "/v1/submissions").json()["submissions"]
    assert lines(cli(url, "review", "list", "--as", "rev", "--json")) == []
    assert [t["id"] for t in lines(cli(url, "review", "list", "--as", "rev", "--status", "all", "--json"))] == [
        task_id]


def test_the_table_and_bad_members_and_roles(hub_db: tuple[Hubby, str]) -> None:
    h, url = hub_db
    task_id = _submit(h)
    table = cli(url, "review", "list", "--as", "boss")
    assert table.exit_code == 0 and str(task_id) in table.stdout and "pending" in table.stdout
    unknown = cli(url, "review", "list", "--as", "nobody")
    assert unknown.exit_code == 4 and unknown.stderr.startswith("error: no member 'nobody'")
    refused = cli(url, "review", "list", "--as", "scanner")
    assert refused.exit_code == 6 and "may not review" in refused.stderr
    missing = cli(url, "review", "show", "999", "--as", "rev")
    assert missing.exit_code == 4 and "no review task 999" in missing.stderr
    no_reason = cli(url, "review", "decide", str(task_id), "--as", "rev", "--decision", "escalate", "--reason", " ")
    assert no_reason.exit_code == 2 and "needs a reason" in no_reason.stderr
    assert "Traceback" not in no_reason.stderr + no_reason.stdout
