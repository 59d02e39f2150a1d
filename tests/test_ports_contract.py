"""The storage ports' contract, run against the in-memory stores, SQLite and PostgreSQL.

The bank repository has its own suite (``test_storage_contract.py``); this one
covers the hub's ports: members, shares, settings, the audit log, the unit of
work, feedback and webhooks. PostgreSQL runs on a fresh schema per test and is
never skipped under CI=true (``conftest.pg_schema_url``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import pg_schema_url

from tahaluf.bootstrap import Ports, memory_ports, sql_ports
from tahaluf.errors import Conflict, InvalidInput, NotFound
from tahaluf.ports.accounts import AccountRepository, NewKey
from tahaluf.ports.banks import ItemRow, NewBank, Repository, SignalRow
from tahaluf.ports.evidence import BlobStore, EvidenceRepository
from tahaluf.ports.feedback import FeedbackRepository
from tahaluf.ports.hub import HubRepository
from tahaluf.ports.reviews import NewSubmission, NewTask, ReviewedItem, ReviewRepository
from tahaluf.ports.transactions import AuditNote, FeedNote
from tahaluf.ports.vocabulary import OPEN_STATUSES
from tahaluf.ports.webhooks import WebhookRepository
from tahaluf.storage import open_store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def ports(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ports]:
    if request.param == "memory":
        yield memory_ports()
        return
    if request.param == "sqlite":
        yield from _sql(f"sqlite:///{tmp_path / 'tahaluf.db'}")
        return
    for url in pg_schema_url():  # one URL; its schema is dropped afterwards
        yield from _sql(url)


def _sql(url: str) -> Iterator[Ports]:
    with open_store(url) as store:
        yield sql_ports(store)


def _bank_with_item(ports: Ports, name: str = "demo-bank") -> tuple[int, int]:
    bank = ports.banks.create_bank(NewBank(name, "known", {"entity": "demo-entity"}, ["md5"], owner="demo-org"))
    row = ItemRow("post-1", {}, [SignalRow("md5", "a" * 32)], "tester", None, T0)
    added = ports.banks.add_items(bank.id, [row]).added
    return bank.id, added["post-1"]


def test_every_port_implements_its_protocol(ports: Ports) -> None:
    assert isinstance(ports.banks, Repository)
    assert isinstance(ports.hub, HubRepository)
    assert isinstance(ports.feedback, FeedbackRepository)
    assert isinstance(ports.webhooks, WebhookRepository)
    assert isinstance(ports.accounts, AccountRepository)
    assert isinstance(ports.reviews, ReviewRepository)
    assert isinstance(ports.evidence, EvidenceRepository)  # its contract: tests/test_evidence_contract.py
    assert isinstance(ports.blobs, BlobStore)
    assert ports.clock.now().tzinfo is not None


def test_members_and_their_keys(ports: Ports) -> None:
    hub = ports.hub
    first = hub.add_member("demo-org", ["curator"], "h1" * 32, "tah_aaaa")
    hub.add_member("acme-demo", ["viewer"], "h2" * 32, "tah_bbbb")
    assert (first.name, first.roles, first.enabled) == ("demo-org", ("curator",), True)
    with pytest.raises(Conflict):
        hub.add_member("demo-org", ["viewer"], "h3" * 32, "tah_cccc")
    assert [m.name for m in hub.list_members()] == ["acme-demo", "demo-org"]
    assert hub.get_member("demo-org") == first and hub.get_member("nobody") is None
    assert hub.get_members([first.id, 10**6]) == {first.id: first}
    assert hub.set_member_enabled("demo-org", False).enabled is False
    with pytest.raises(NotFound):
        hub.set_member_enabled("nobody", True)
    hub.rotate_key(first.id, "h4" * 32, "tah_dddd")
    keys = hub.keys_of(first.id)
    assert [k.prefix for k in keys] == ["tah_aaaa", "tah_dddd"]
    assert keys[0].revoked_at is not None and keys[1].revoked_at is None


def test_bank_shares_are_replaced_and_follow_the_bank(ports: Ports) -> None:
    bank_id, _ = _bank_with_item(ports)
    a = ports.hub.add_member("demo-org", ["curator"], "h1" * 32, "tah_aaaa")
    b = ports.hub.add_member("acme-demo", ["viewer"], "h2" * 32, "tah_bbbb")
    ports.hub.set_bank_shares(bank_id, [a.id, b.id, a.id])
    assert ports.hub.bank_shares() == {bank_id: ["acme-demo", "demo-org"]}
    ports.hub.set_bank_shares(bank_id, [b.id])
    assert ports.hub.bank_shares() == {bank_id: ["acme-demo"]}
    with ports.uow.change() as change:
        assert ("demo-bank", "demo-org") in ports.hub.lock_bank_names(change.conn)
        ports.hub.set_bank_shares(bank_id, [], conn=change.conn)
    assert ports.hub.bank_shares() == {}
    ports.hub.set_bank_shares(bank_id, [a.id])
    ports.banks.delete_bank(bank_id)
    assert ports.hub.bank_shares() == {}


def test_settings_round_trip(ports: Ports) -> None:
    assert ports.hub.get_settings() == {}
    ports.hub.put_settings({"max_upload_mb": 20, "review": {"two_person": True}})
    ports.hub.put_settings({"max_upload_mb": 30})
    assert ports.hub.get_settings() == {"max_upload_mb": 30, "review": {"two_person": True}}


def test_audit_log_chains_lists_and_verifies(ports: Ports) -> None:
    hub = ports.hub
    assert hub.audit_head() is None and hub.sign_head() is None
    first = hub.append_audit("demo-org", "bank.create", "bank:demo-bank", {"kind": "known"})
    second = hub.append_audit("acme-demo", "item.add", "bank:demo-bank", {"count": 2})
    assert second.prev_hash == first.hash and second.id == first.id + 1
    assert hub.audit_head() == second
    assert [e.id for e in hub.iter_audit()] == [first.id, second.id]
    assert [e.action for e in hub.list_audit(actor="acme-demo")] == ["item.add"]
    assert [e.actor for e in hub.list_audit(action="bank.create")] == ["demo-org"]
    assert hub.list_audit(after_id=first.id, limit=5) == [second]
    assert first.details == {"kind": "known"}
    head = hub.sign_head()
    assert head is not None and head.entry_id == second.id
    assert hub.sign_head() == head  # already signed: the same head
    check = hub.verify_audit()
    assert check.problems == [] and check.entries == 2 and check.last_signed == second.id
    assert hub.verify_audit(recorded_head=(second.id, second.hash)).problems == []
    assert hub.verify_audit(recorded_head=(second.id, "0" * 64)).problems


def test_the_audit_log_shows_its_signing_key(ports: Ports) -> None:
    hub = ports.hub
    hub.append_audit("demo-org", "bank.create", "bank:demo-bank", {})
    head = hub.sign_head()
    key = hub.key
    assert head is not None and head.public_key == key.public_key and len(key.public_key) == 64
    assert key.exists()
    assert key.path is None or isinstance(key.path, Path)  # None: kept only in memory


def test_a_change_and_its_audit_entry_commit_together_or_not_at_all(ports: Ports) -> None:
    with ports.uow.change() as change:
        ports.banks.create_bank(NewBank("kept-bank", "known", {}, ["md5"]), conn=change.conn)
        change.audit(AuditNote("demo-org", "bank.create", "bank:kept-bank", {"kind": "known"}))
    head = ports.hub.audit_head()
    assert head is not None and head.target == "bank:kept-bank"
    assert ports.banks.get_bank("kept-bank") is not None
    with pytest.raises(RuntimeError, match="demo failure"):
        with ports.uow.change() as change:
            ports.banks.create_bank(NewBank("lost-bank", "known", {}, ["md5"]), conn=change.conn)
            change.audit(AuditNote("demo-org", "bank.create", "bank:lost-bank"))
            raise RuntimeError("demo failure")
    assert ports.banks.get_bank("lost-bank") is None
    assert ports.hub.audit_head() == head
    assert ports.hub.verify_audit().problems == []


def test_feedback_disputes_and_feeds(ports: Ports) -> None:
    bank_id, item_id = _bank_with_item(ports)
    owner = ports.hub.add_member("demo-org", ["curator"], "h1" * 32, "tah_aaaa")
    other = ports.hub.add_member("acme-demo", ["viewer"], "h2" * 32, "tah_bbbb")
    notify = FeedNote([owner.id, owner.id], "item.disputed", {"item": item_id})
    agree = AuditNote("acme-demo", "feedback.set", f"item:{item_id}", {"opinion": "agree"})
    assert ports.feedback.upsert(item_id, other.id, "agree", "", audit=agree, on_disputed=notify) == (False, False)
    assert ports.feedback.list_feed(owner.id) == []
    disagree = AuditNote("acme-demo", "feedback.set", f"item:{item_id}", {"opinion": "disagree"})
    assert ports.feedback.upsert(item_id, other.id, "disagree", "not a match", audit=disagree,
                                 on_disputed=notify) == (False, True)
    head = ports.hub.audit_head()
    assert head is not None and head.details == {"opinion": "disagree", "disputed": True}
    assert [(f.member, f.opinion, f.reason) for f in ports.feedback.list_feedback(item_id)] == [
        ("acme-demo", "disagree", "not a match")]
    assert ports.feedback.disputed_among([item_id, 10**6]) == {item_id}
    feed = ports.feedback.list_feed(owner.id)
    assert [(f.kind, f.payload) for f in feed] == [("item.disputed", {"item": item_id})]
    assert ports.feedback.list_feed(owner.id, after_id=feed[0].id) == []
    assert [i.id for i in ports.banks.list_items(bank_id, disputed=True)] == [item_id]
    assert ports.banks.list_items(bank_id, disputed=False) == []
    ports.banks.delete_item(bank_id, "post-1")
    assert ports.feedback.disputed_among([item_id]) == set()


def test_webhooks_queue_claim_finish_and_purge(ports: Ports) -> None:
    member = ports.hub.add_member("demo-org", ["curator"], "h1" * 32, "tah_aaaa")
    hooks = ports.webhooks
    hook = hooks.add(member.id, "https://demo.example/hook", "s3cret", ["match"], max_per_member=2)
    hooks.add(member.id, "https://demo.example/other", "s3cret", ["feed"], max_per_member=2)
    with pytest.raises(Conflict):
        hooks.add(member.id, "https://demo.example/third", "s3cret", ["match"], max_per_member=2)
    assert (hook.member, hook.events, hook.enabled) == ("demo-org", ("match",), True)
    assert hooks.get(hook.id) == hook and hooks.get(10**6) is None
    assert [h.url for h in hooks.list_webhooks(member.id)] == ["https://demo.example/hook",
                                                                "https://demo.example/other"]
    assert [s[1] for s in hooks.subscriptions(member.id)] == [("match",), ("feed",)]
    at = T0
    assert hooks.enqueue([hook.id, 10**6], "match", {"count": 1}, at) == 1
    assert hooks.claim_due(at - timedelta(seconds=1), limit=10, lease_s=30) == []
    jobs = hooks.claim_due(at, limit=10, lease_s=30)
    assert [(j.url, j.event, j.payload, j.attempts) for j in jobs] == [
        ("https://demo.example/hook", "match", {"count": 1}, 0)]
    assert hooks.claim_due(at, limit=10, lease_s=30) == []  # leased
    job = jobs[0]
    assert hooks.record_failure(job, "HTTP 500", at + timedelta(seconds=60)) is True
    assert hooks.record_failure(job, "HTTP 500", None) is False  # the claim was used up
    retry = hooks.claim_due(at + timedelta(seconds=60), limit=10, lease_s=30)
    assert [j.attempts for j in retry] == [1]
    assert hooks.record_success(retry[0], at + timedelta(seconds=61)) is True
    done = hooks.deliveries(hook.id)
    assert [(d.status, d.attempts, d.last_error) for d in done] == [("delivered", 2, "HTTP 500")]
    assert hooks.deliveries(hook.id, status="pending") == []
    ports.hub.set_member_enabled("demo-org", False)
    assert hooks.subscriptions(member.id) == []
    assert hooks.enqueue([hook.id], "match", {"count": 2}, at) == 0
    assert hooks.purge(at + timedelta(days=1)) == 1
    assert hooks.deliveries(hook.id) == []
    assert hooks.delete(hook.id) is True and hooks.delete(hook.id) is False


def test_keys_roles_and_authentication(ports: Ports) -> None:
    accounts = ports.accounts
    member = ports.hub.add_member("demo-org", ["curator", "reviewer"], "h1" * 32, "tah_aaaa")
    holder = accounts.key_holder("h1" * 32)
    assert holder is not None and holder[0] == member and holder[1].roles(member.roles) == ("curator", "reviewer")
    assert accounts.key_holder("nope") is None
    _, ci = accounts.add_key("demo-org", NewKey("h5" * 32, "tah_eeee", ["reviewer"], "ci"), "demo-admin")
    assert (ci.label, ci.own_roles, ci.created_by) == ("ci", ("reviewer",), "demo-admin")
    with pytest.raises(InvalidInput):
        accounts.add_key("demo-org", NewKey("h6" * 32, "tah_ffff", ["admin"]), "demo-admin")
    with pytest.raises(NotFound):
        accounts.add_key("nobody", NewKey("h6" * 32, "tah_ffff"), "demo-admin")
    accounts.touch_keys({ci.id: T0})
    accounts.touch_keys({ci.id: T0 - timedelta(days=1)})  # never moves back
    assert [k.last_used_at for k in accounts.keys_of(member.id)] == [None, T0]
    accounts.set_roles("demo-org", ["curator"], "demo-admin")
    head = ports.hub.audit_head()
    assert head is not None and head.details["keys_revoked"] == [ci.id]
    assert accounts.key_holder("h5" * 32) is None
    with pytest.raises(Conflict):
        accounts.revoke_key("demo-org", "tah_eeee", "demo-admin")
    first = accounts.keys_of(member.id)[0]
    successor = accounts.replace_key(first.id, NewKey("h7" * 32, "tah_gggg"), "demo-org")
    assert successor.prefix == "tah_gggg" and accounts.key_holder("h1" * 32) is None
    with pytest.raises(Conflict):
        accounts.replace_key(first.id, NewKey("h8" * 32, "tah_hhhh"), "demo-org")
    _, revoked = accounts.revoke_key("demo-org", str(successor.id), "demo-admin")
    assert revoked.revoked_at is not None and accounts.key_holder("h7" * 32) is None
    assert [e.action for e in ports.hub.list_audit()] == ["key.add", "member.roles", "key.rotate", "key.revoke"]


def test_transfer_and_remove_member(ports: Ports) -> None:
    owner = ports.hub.add_member("demo-org", ["curator"], "h1" * 32, "tah_aaaa")
    heir = ports.hub.add_member("acme-demo", ["curator"], "h2" * 32, "tah_bbbb")
    bank_id, _ = _bank_with_item(ports)
    ports.hub.set_bank_shares(bank_id, [heir.id])
    with pytest.raises(Conflict, match="owns 1 bank"):
        ports.accounts.remove_member("demo-org", "demo-admin")
    with pytest.raises(NotFound):
        ports.accounts.transfer_bank("no-bank", "acme-demo", "demo-admin")
    with pytest.raises(InvalidInput):
        ports.accounts.transfer_bank("demo-bank", "nobody", "demo-admin")
    before = ports.banks.last_change_id()
    details = ports.accounts.remove_member("demo-org", "demo-admin", transfer_banks_to="acme-demo")
    assert details["banks_transferred"] == ["demo-bank"] and details["transferred_to"] == "acme-demo"
    assert details["keys"] == 1 and details["webhooks_deleted"] == 0
    bank = ports.banks.get_bank("demo-bank")
    assert bank is not None and bank.owner == "acme-demo"
    assert ports.hub.bank_shares() == {}  # the new owner sees it as owner, not through a share
    assert [(c.op, c.item_id) for c in ports.banks.changes_since(before)] == [("update", None)]
    assert ports.hub.get_member("demo-org") is None and ports.hub.keys_of(owner.id) == []
    with pytest.raises(Conflict):
        ports.accounts.transfer_bank("demo-bank", "acme-demo", "demo-admin")
    assert [e.action for e in ports.hub.list_audit()] == ["bank.transfer", "member.remove"]


def test_review_queue_submissions_claims_and_decisions(ports: Ports) -> None:
    reviews = ports.reviews
    member = ports.hub.add_member("demo-org", ["reviewer"], "h1" * 32, "tah_aaaa")
    other = ports.hub.add_member("acme-demo", ["reviewer"], "h2" * 32, "tah_bbbb")
    bank = ports.banks.create_bank(NewBank("review-bank", "known", {}, ["md5"]))
    signals = [{"type": "md5", "value": "b" * 32}]
    note = AuditNote("demo-org", "review.submit", "submission")
    sub = NewSubmission(member.id, "text", signals, text="demo weather post")
    sub_id, task_id, created = reviews.add_submission(sub, NewTask("submission", member.id, "k1", signals, []), note)
    assert created is True
    assert reviews.add_submission(sub, NewTask("submission", member.id, "k1", signals, []), note) == (
        sub_id, task_id, False)
    queued = reviews.add_tasks([NewTask("match", None, "k2", signals, [{"bank": "review-bank"}]),
                                NewTask("match", None, "k1", signals, [])], "demo-hub")
    assert len(queued) == 1
    assert reviews.held_keys(["k1", "k2", "k3"]) == {"k1", "k2"}
    assert [(s.id, s.task_id, s.task_status) for s in reviews.list_submissions(member.id, after_id=0, limit=10)] \
        == [(sub_id, task_id, "pending")]
    assert reviews.get_submissions([sub_id, 10**6])[sub_id].text == "demo weather post"
    assert [t.id for t in reviews.list_tasks(OPEN_STATUSES, after_id=0, limit=10)] == [task_id, queued[0]]
    assert [t.id for t in reviews.list_tasks(OPEN_STATUSES, after_id=0, limit=10, submissions_of=other.id)] == [
        queued[0]]
    until = ports.clock.now() + timedelta(minutes=10)
    claim_note = AuditNote("demo-org", "review.claim", f"review:{task_id}")
    assert reviews.claim(task_id, member.id, until, claim_note) is True
    assert reviews.claim(task_id, other.id, until, claim_note) is False
    assert reviews.release(task_id, other.id, claim_note) is False
    task = reviews.get_task(task_id)
    assert task is not None and task.claim_holder(ports.clock.now()) == member.id
    row = ItemRow("submission-1", {}, [SignalRow("md5", "b" * 32)], "demo-org", "review", T0)
    item = ReviewedItem(bank.id, row, AuditNote("demo-org", "item.add", "bank:review-bank"))
    decided = reviews.decide(task, member.id, "confirm", "confirmed", reason="same post", labels={},
                             bank="review-bank", audit=AuditNote("demo-org", "review.decide", f"review:{task_id}"),
                             feed=FeedNote([member.id], "review.decided", {"task": task_id}), item=item)
    assert decided is True
    assert reviews.decide(task, member.id, "confirm", "confirmed", reason="", labels={}, bank=None,
                          audit=AuditNote("demo-org", "review.decide", f"review:{task_id}")) is False
    after = reviews.get_task(task_id)
    assert after is not None and after.status == "confirmed" and after.claimed_by is None
    assert [(d.decision, d.reason, d.member_id) for d in after.decisions] == [("confirm", "same post", member.id)]
    assert ports.banks.get_item(bank.id, "submission-1") is not None
    assert [f.kind for f in ports.feedback.list_feed(member.id)] == ["review.decided"]
    added = [e for e in ports.hub.list_audit(action="item.add")]
    assert [(e.details["imported"], e.details["duplicates"]) for e in added] == [(1, 0)]
    again = reviews.add_submission(sub, NewTask("submission", member.id, "k1", signals, []), note)
    assert again[2] is True and again[1] != task_id  # a decided task gives its key up
    assert ports.hub.verify_audit().problems == []
