"""Two reviewers deciding one task at once, through a real two-worker server, on SQLite
and PostgreSQL (issue 9, point 12).

One reviewer confirms the task into a known bank, the other rejects it into an allow
bank, both at the same instant on fresh connections (so on either worker). Exactly
one wins; the loser gets 409 and must leave nothing behind: its item in no bank, so
confirmed content is never also in an allow bank (where it would scan as allowed,
because allow wins ties) and rejected content never also in a known bank.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hubproc import HubProcess, add_member, start_hub

LABELS = {"entity": "demo-entity"}
REASON = "checked against the demo-entity guide"


@dataclass(frozen=True)
class RaceHub:
    hub: HubProcess
    keys: dict[str, str]  # alpha confirms, beta rejects

    def client(self, member: str, **kwargs: Any) -> httpx.Client:
        return self.hub.client(self.keys[member], **kwargs)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def race_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RaceHub]:
    from conftest import pg_schema_url

    work = tmp_path_factory.mktemp(f"races-{request.param}")
    schema = pg_schema_url() if request.param == "postgresql" else None
    url = next(schema) if schema is not None else f"sqlite:///{work / 'hub.db'}"
    try:
        keys = {"alpha": add_member(url, "alpha", "admin")}
        hub = start_hub(url, work / "hub", workers=2)
        try:
            with hub.client(keys["alpha"]) as http:
                resp = http.post("/v1/members", json={"name": "beta", "roles": ["admin"]})
                assert resp.status_code == 201, resp.text
                keys["beta"] = resp.json()["api_key"]
                for name, kind in (("race-known", "known"), ("race-allow", "allow")):
                    resp = http.post("/v1/banks", json={"name": name, "kind": kind, "labels": LABELS,
                                                        "visibility": "private"})
                    assert resp.status_code == 201, resp.text
            yield RaceHub(hub, keys)
        finally:
            hub.stop()
            hub.kill()
    finally:
        if schema is not None:
            schema.close()


def _submit(http: httpx.Client, n: int, run: str) -> int:
    resp = http.post("/v1/submissions", json={"url": f"https://weather.example.org/{run}/forecast-{n}",
                                              "note": "demo-entity race test"})
    assert resp.status_code == 201, resp.text
    return int(resp.json()["task"]["id"])


def _race(rh: RaceHub, task_id: int, clients: dict[str, httpx.Client]) -> dict[str, int]:
    """alpha confirms into the known bank while beta rejects into the allow bank: status codes."""
    bodies = {"alpha": {"decision": "confirm", "bank": "race-known", "reason": REASON},
              "beta": {"decision": "reject", "bank": "race-allow", "reason": REASON}}
    start = threading.Barrier(2)

    def decide(member: str) -> int:
        start.wait()
        return clients[member].post(f"/v1/reviews/{task_id}/decision", json=bodies[member]).status_code

    with ThreadPoolExecutor(2) as pool:
        codes = dict(zip(bodies, pool.map(decide, bodies)))
    return codes


def _has_item(http: httpx.Client, bank: str, task_id: int) -> bool:
    resp = http.get(f"/v1/banks/{bank}/items/review-{task_id}")
    assert resp.status_code in (200, 404), resp.text
    return resp.status_code == 200


def _run_races(rh: RaceHub, rounds: int, run: str) -> None:
    with rh.client("alpha") as http:
        tasks = [_submit(http, n, run) for n in range(rounds)]
    outcomes: dict[int, dict[str, int]] = {}
    clients = {m: rh.client(m, fresh_connections=True) for m in rh.keys}
    try:
        for task_id in tasks:
            outcomes[task_id] = _race(rh, task_id, clients)
    finally:
        for c in clients.values():
            c.close()
    wrong: list[str] = []
    with rh.client("alpha") as http:
        for task_id, codes in outcomes.items():
            assert sorted(codes.values()) == [200, 409], f"task {task_id}: {codes}"
            winner = "alpha" if codes["alpha"] == 200 else "beta"
            status = http.get(f"/v1/reviews/{task_id}").json()["status"]
            in_known, in_allow = _has_item(http, "race-known", task_id), _has_item(http, "race-allow", task_id)
            expected = ("confirmed", True, False) if winner == "alpha" else ("rejected", False, True)
            if (status, in_known, in_allow) != expected:
                wrong.append(f"task {task_id}: {winner} won, status {status}, in known bank {in_known}, "
                             f"in allow bank {in_allow}")
    assert not wrong, f"{len(wrong)} of {rounds} races left the loser's item behind:\n" + "\n".join(wrong)


def test_two_reviewers_deciding_one_task_leave_only_the_winners_item(race_hub: RaceHub) -> None:
    _run_races(race_hub, 25, "short")


@pytest.mark.slow
def test_two_reviewers_deciding_one_task_many_times(race_hub: RaceHub) -> None:
    _run_races(race_hub, 200, "long")
