"""Real service operations on the in-memory ports and on SQL, with the same assertions.

The services see storage only through :class:`tahaluf.ports.bundle.Ports`, so a
hub built with ``open_hub(ports=memory_ports())`` must behave as one on SQLite
or PostgreSQL: this is what makes the in-memory fake worth having.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import pg_schema_url

from tahaluf.access import Principal
from tahaluf.banks import NewItem
from tahaluf.bootstrap import memory_ports, open_hub
from tahaluf.errors import Conflict, PermissionDenied
from tahaluf.services.feedback import FeedbackService
from tahaluf.services.hub import Hub, HubConfig
from tahaluf.signals.base import Signal
from tahaluf.storage import open_store

CONFIG = HubConfig(snapshot=False)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    if request.param == "memory":
        opened = open_hub(CONFIG, ports=memory_ports())
        yield opened
        opened.close()
        return
    if request.param == "sqlite":
        yield from _sql_hub(f"sqlite:///{tmp_path / 'tahaluf.db'}")
        return
    for url in pg_schema_url():  # one URL; its schema is dropped afterwards
        yield from _sql_hub(url)


def _sql_hub(url: str) -> Iterator[Hub]:
    opened = open_hub(CONFIG, store=open_store(url))
    try:
        yield opened
    finally:
        opened.close()


def _member(hub: Hub, name: str, roles: list[str]) -> Principal:
    record = hub.accounts.add_member("cli:test", name, roles).member
    return Principal(record.id, record.name, record.roles)


def test_a_bank_is_created_and_audited_once(hub: Hub) -> None:
    owner = _member(hub, "demo-entity", ["curator"])
    view = hub.banks.create(owner, "demo-bank", labels={"entity": "demo-entity"}, visibility="members")
    assert (view.record.name, view.record.owner, view.record.visibility) == ("demo-bank", "demo-entity", "members")
    with pytest.raises(Conflict):
        hub.banks.create(owner, "demo-bank")
    entries = hub.audit.entries("cli:test").entries
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("cli:test", "member.add", "member:demo-entity"),
        ("demo-entity", "bank.create", "bank:demo-bank"),
    ]
    assert hub.audit.verify("cli:test").problems == []
    signed = hub.audit.sign("cli:test")
    assert signed is not None and signed.public_key == hub.audit.public_key("cli:test").public_key


def test_settings_are_checked_updated_and_audited(hub: Hub) -> None:
    reader = _member(hub, "demo-viewer", ["viewer"])
    with pytest.raises(PermissionDenied):
        hub.settings.update(reader, {"lookup_exclude_disputed": True})
    shown = hub.settings.update("cli:test", {"lookup_exclude_disputed": True})
    assert shown.values["lookup_exclude_disputed"] is True
    assert hub.settings.show("cli:test").values["lookup_exclude_disputed"] is True
    assert hub.audit.entries("cli:test").entries[-1].action == "settings.update"


def test_negative_feedback_disputes_an_item_and_tells_its_owner(hub: Hub) -> None:
    owner = _member(hub, "demo-entity", ["curator"])
    other = _member(hub, "demo-neighbour", ["reviewer"])
    hub.banks.create(owner, "demo-bank", visibility="all")
    hub.curation.add_signal_items(owner, "demo-bank", [NewItem("post-1", [Signal("md5", "a" * 32)])])
    given = FeedbackService(hub).give(other, "demo-bank", "post-1", "false_positive", "a neutral test reason")
    assert (given.disputed, given.became_disputed) == (True, True)
    shown = FeedbackService(hub).show(owner, "demo-bank", "post-1")
    assert shown.disputed and [f.opinion for f in shown.feedback] == ["false_positive"]
    feed = FeedbackService(hub).feed(owner).entries
    assert [e.kind for e in feed] == ["item.disputed"]
    assert hub.audit.entries("cli:test").entries[-1].action == "feedback.give"
