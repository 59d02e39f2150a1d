"""Isolation between members: a bank is born with its owner and visibility,
so no one else ever sees a private bank, even for a moment, and a failed
creation leaves nothing behind. The race runs against a real
``tahaluf serve --workers 2`` on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubproc import HubProcess, add_member, start_hub
from sqlalchemy import select

from tahaluf.access import Principal
from tahaluf.errors import StorageError
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import Hub, HubConfig
from tahaluf.storage.models import ChangeLog

LABELS = {"entity": "demo-entity"}


@pytest.fixture
def hub(store) -> Iterator[Hub]:  # noqa: ANN001
    h = open_hub(HubConfig(snapshot=False), store=store)
    yield h
    h.close()


def _member(hub: Hub, name: str, roles: list[str]) -> Principal:
    member, _ = hub.accounts.add_member("cli:test", name, roles)
    return Principal(member.id, member.name, member.roles)


def test_a_failed_creation_leaves_no_bank_behind(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    alpha = _member(hub, "alpha", ["curator"])
    beta = _member(hub, "beta", ["curator"])

    def broken(*_args: object, **_kwargs: object) -> None:
        raise StorageError("the database went away")

    monkeypatch.setattr(hub.hubstore, "append_audit", broken)
    with pytest.raises(StorageError):
        hub.banks.create(alpha, "weather-private", labels=LABELS, visibility="private", shared_with=["beta"])
    monkeypatch.undo()
    assert hub.store.get_bank("weather-private") is None
    assert [v.record.name for v in hub.banks.visible(beta)] == []
    again = hub.banks.create(alpha, "weather-private", labels=LABELS, visibility="private")
    assert (again.record.owner, again.record.visibility) == ("alpha", "private")


def test_a_bank_is_stored_with_its_owner_visibility_and_shares_at_once(hub: Hub) -> None:
    alpha = _member(hub, "alpha", ["curator"])
    _member(hub, "beta", ["viewer"])
    view = hub.banks.create(alpha, "markets-shared", labels=LABELS, visibility="members", shared_with=["beta"])
    assert (view.record.owner, view.record.visibility, view.shared_with) == ("alpha", "members", ("beta",))
    [entry] = hub.hubstore.list_audit(action="bank.create")
    assert (entry.actor, entry.target, entry.details["visibility"]) == ("alpha", "bank:markets-shared", "members")
    changes = ChangeLog.__table__
    with hub.store.connection() as conn:
        ops = conn.execute(select(changes.c.op).where(changes.c.bank_id == view.record.id)).scalars().all()
    assert ops == ["add"]  # no later "update" that would have made it private


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubProcess, str, str]]:
    from conftest import pg_schema_url

    schema = pg_schema_url()
    url = next(schema)
    try:
        alpha = add_member(url, "alpha", "curator")
        beta = add_member(url, "beta", "curator")
        server = start_hub(url, tmp_path_factory.mktemp("isolation"), workers=2)
        try:
            yield server, alpha, beta
        finally:
            server.kill()
    finally:
        schema.close()


@pytest.mark.slow
def test_no_member_ever_sees_another_members_private_bank_being_created(
    two_workers: tuple[HubProcess, str, str],
) -> None:
    """alpha creates private banks through both workers while beta lists banks through
    both workers without pause: beta never sees one of them."""
    server, alpha_key, beta_key = two_workers
    created: list[str] = []
    seen: set[str] = set()
    listings = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal listings
        with server.client(beta_key, fresh_connections=True) as http:
            while not done.is_set():
                resp = http.get("/v1/banks")
                assert resp.status_code == 200, resp.text
                seen.update(b["name"] for b in resp.json()["banks"])
                listings += 1

    watchers = [threading.Thread(target=watch, daemon=True) for _ in range(2)]
    for t in watchers:
        t.start()
    deadline = time.monotonic() + 25
    try:
        with server.client(alpha_key, fresh_connections=True) as http:
            for n in range(400):
                if time.monotonic() > deadline:
                    break
                name = f"alpha-weather-{n}"
                resp = http.post("/v1/banks", json={"name": name, "labels": LABELS, "visibility": "private"})
                assert resp.status_code == 201, resp.text
                created.append(name)
    finally:
        done.set()
        for t in watchers:
            t.join(30)
    assert len(created) >= 100 and listings >= 100, (len(created), listings)
    leaked = sorted(seen & set(created))
    print(f"beta listed banks {listings} times while alpha created {len(created)} private banks; "
          f"beta saw {len(leaked)} of them")
    assert leaked == [], f"beta saw {len(leaked)} of {len(created)} private banks: {leaked[:10]}"
