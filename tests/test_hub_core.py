"""The hub's pure rules and core service: audit chain, roles, settings, config,
and index upkeep that survives out-of-order commits on PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tahaluf.access import ROLES, Capability, Principal, check_roles
from tahaluf.audit import GENESIS, AuditRecord, entry_hash, verify_chain
from tahaluf.errors import InvalidInput, PermissionDenied
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import HubConfig, hash_key, new_api_key
from tahaluf.services.settings import SETTINGS, validate_settings

# -- audit chain ---------------------------------------------------------------


def _chain(n: int) -> list[AuditRecord]:
    out, prev = [], GENESIS
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        at = t0 + timedelta(seconds=i)
        details = {"n": i, "note": "سوق"}
        h = entry_hash(prev, i, at, f"actor{i % 3}", "bank.update", f"bank:b{i}", details)
        out.append(AuditRecord(i, at, f"actor{i % 3}", "bank.update", f"bank:b{i}", details, prev, h))
        prev = h
    return out


def test_an_untouched_chain_verifies() -> None:
    assert verify_chain(_chain(50)) == []


@given(st.integers(0, 19), st.sampled_from(["actor", "action", "target", "details", "at"]))
def test_editing_any_field_of_any_entry_is_detected(index: int, field: str) -> None:
    entries = _chain(20)
    e = entries[index]
    changed = {
        "actor": {"actor": e.actor + "x"},
        "action": {"action": "bank.delete"},
        "target": {"target": e.target + "x"},
        "details": {"details": {**e.details, "n": -1}},
        "at": {"at": e.at + timedelta(microseconds=1)},
    }[field]
    entries[index] = AuditRecord(**{**{f: getattr(e, f) for f in AuditRecord.__slots__}, **changed})
    problems = verify_chain(entries)
    assert any(f"entry {e.id}:" in p for p in problems)


@given(st.integers(0, 19))
def test_deleting_an_entry_is_detected(index: int) -> None:
    entries = _chain(20)
    del entries[index]
    if index == 19:  # the end: only a recorded head shows it
        assert verify_chain(entries) == []
    else:
        assert verify_chain(entries)


def test_rewriting_the_whole_tail_still_breaks_at_the_first_rewritten_link() -> None:
    entries = _chain(10)
    # an attacker edits entry 5 and recomputes its hash: entry 6's link breaks
    e = entries[4]
    forged_hash = entry_hash(e.prev_hash, e.id, e.at, e.actor, e.action, "bank:forged", e.details)
    entries[4] = AuditRecord(e.id, e.at, e.actor, e.action, "bank:forged", e.details, e.prev_hash, forged_hash)
    assert verify_chain(entries) == ["entry 6: link to the previous entry is broken"]


def test_audit_entries_are_chained_in_the_database(store) -> None:  # noqa: ANN001
    hub = open_hub(HubConfig(snapshot=False), store=store)
    for i in range(5):
        hub.audit.append("cli:test", "bank.create", f"bank:b{i}", {"i": i})
    entries = list(hub.hubstore.iter_audit())
    assert [e.id for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:]))
    assert verify_chain(entries) == []
    assert hub.hubstore.audit_head().hash == entries[-1].hash


# -- roles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("admin", set(Capability)),
        ("curator", {"read", "match", "submit", "curate", "feedback"}),
        ("reviewer", {"read", "match", "submit", "review", "feedback"}),
        ("matcher", {"match", "submit"}),
        ("viewer", {"read"}),
    ],
)
def test_each_role_has_exactly_its_capabilities(role: str, allowed: set[str]) -> None:
    who = Principal(1, "org", (role,))
    for cap in Capability:
        assert who.can(cap) == (cap.value in allowed or cap in allowed)
        if not who.can(cap):
            with pytest.raises(PermissionDenied, match=role):
                who.require(cap)


def test_roles_combine_and_are_validated() -> None:
    who = Principal(1, "org", ("matcher", "viewer"))
    assert who.can(Capability.READ) and who.can(Capability.MATCH) and not who.can(Capability.CURATE)
    assert check_roles(["viewer", "admin", "viewer"]) == ["admin", "viewer"]
    with pytest.raises(InvalidInput, match="unknown role boss"):
        check_roles(["boss"])
    with pytest.raises(InvalidInput):
        check_roles([])
    assert set(ROLES) == {"admin", "curator", "reviewer", "matcher", "viewer"}


@pytest.mark.parametrize(
    ("owner", "visibility", "shared", "who", "sees", "owns"),
    [
        ("a", "private", [], "a", True, True),
        ("a", "private", [], "b", False, False),
        ("a", "members", ["b"], "b", True, False),
        ("a", "members", ["b"], "c", False, False),
        ("a", "all", [], "c", True, False),
        (None, "all", [], "c", True, False),
        (None, "private", [], "c", False, False),
    ],
)
def test_bank_visibility(owner, visibility, shared, who, sees, owns) -> None:  # noqa: ANN001
    p = Principal(2, who, ("curator",))
    assert p.sees_bank(owner, visibility, shared) is sees
    assert p.owns_bank(owner) is owns
    admin = Principal(3, "root", ("admin",))
    assert admin.sees_bank(owner, visibility, shared) and admin.owns_bank(owner)


# -- keys, settings, config --------------------------------------------------------


def test_keys_are_random_and_stored_hashed(store) -> None:  # noqa: ANN001
    keys = {new_api_key() for _ in range(100)}
    assert len(keys) == 100 and all(k.startswith("thf_") and len(k) > 40 for k in keys)
    hub = open_hub(HubConfig(snapshot=False, key_cache_s=0), store=store)
    member, key = hub.accounts.add_member("cli:test", "org-a", ["viewer"])
    assert hub.accounts.authenticate(key) == Principal(member.id, "org-a", ("viewer",))
    assert hub.accounts.authenticate(key + "x") is None and hub.accounts.authenticate("") is None
    with store.connection() as conn:
        stored = [r[0] for r in conn.exec_driver_sql("SELECT key_hash FROM api_keys").all()]
    assert stored == [hash_key(key)] and key not in stored
    new = hub.accounts.rotate_key("cli:test", "org-a")
    assert hub.accounts.authenticate(key) is None and hub.accounts.authenticate(new) is not None
    hub.accounts.set_enabled("cli:test", "org-a", False)
    assert hub.accounts.authenticate(new) is None


def test_settings_are_validated_and_shared_through_the_database(store) -> None:  # noqa: ANN001
    admin = Principal(1, "root", ("admin",))
    a = open_hub(HubConfig(snapshot=False, key_cache_s=0), store=store)
    b = open_hub(HubConfig(snapshot=False, key_cache_s=0), store=store)
    assert a.settings.current() == {name: s.default for name, s in SETTINGS.items()}
    a.settings.update(admin, {"review_two_person_rule": True, "review_match_min_score": 1})
    assert b.settings.current()["review_two_person_rule"] is True
    assert b.settings.current()["review_match_min_score"] == 1.0
    with pytest.raises(InvalidInput, match="unknown setting"):
        validate_settings({"nope": 1})
    with pytest.raises(InvalidInput, match="must be a bool"):
        validate_settings({"review_two_person_rule": "yes"})
    with pytest.raises(InvalidInput, match="must be a int"):
        validate_settings({"review_claim_ttl_s": True})
    with pytest.raises(InvalidInput, match="negative"):
        validate_settings({"review_claim_ttl_s": -5})
    with pytest.raises(PermissionDenied):
        a.settings.update(Principal(2, "org", ("curator",)), {"review_two_person_rule": False})


def test_config_from_environment() -> None:
    cfg = HubConfig.from_env({"TAHALUF_MAX_BATCH": "50", "TAHALUF_SNAPSHOT": "no", "TAHALUF_RATE_LIMIT_PER_S": "2.5"})
    assert (cfg.max_batch, cfg.snapshot, cfg.rate_limit_per_s) == (50, False, 2.5)
    assert HubConfig.from_env({}) == HubConfig()
    with pytest.raises(InvalidInput, match="TAHALUF_MAX_BATCH='many' is not a number"):
        HubConfig.from_env({"TAHALUF_MAX_BATCH": "many"})
    with pytest.raises(InvalidInput, match="at least 0"):
        HubConfig.from_env({"TAHALUF_MAX_PAGE": "-1"})


# -- index upkeep across processes ----------------------------------------------------


@pytest.mark.postgres
def test_a_change_committed_after_a_later_one_is_still_applied() -> None:
    """PostgreSQL hands out change-log ids at insert time but makes them visible at
    commit: a slow transaction's change can appear after a later one was read."""
    import psycopg

    from tahaluf.banks import NewItem, add_items, create_bank
    from tahaluf.services.matching import MatchEngine
    from tahaluf.signals.base import Signal
    from tahaluf.storage import open_store

    from conftest import pg_schema_url

    gen = pg_schema_url()
    url = next(gen)
    try:
        with open_store(url) as store:
            create_bank(store, "b")
            md5 = ["%032x" % i for i in (1, 2)]
            add_items(store, "b", [NewItem("one", [Signal("md5", md5[0])])])
            engine = MatchEngine(store).load()
            assert engine.match([Signal("md5", md5[0])])
            schema = url.split("%3D")[-1]
            slow = psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", options=f"-csearch_path={schema}")
            # the slow transaction disables item "one" and logs it, but has not committed yet
            slow.execute("UPDATE bank_items SET enabled = false WHERE external_id = 'one'")
            slow.execute("INSERT INTO change_log (bank_id, item_id, op, at) "
                         "SELECT bank_id, id, 'disable', now() FROM bank_items WHERE external_id = 'one'")
            add_items(store, "b", [NewItem("two", [Signal("md5", md5[1])])])  # commits with a higher id
            engine.refresh()
            assert engine.match([Signal("md5", md5[1])]), "the later change is applied"
            assert engine.match([Signal("md5", md5[0])]), "the slow change is not visible yet"
            slow.commit()
            slow.close()
            engine.refresh()
            assert not engine.match([Signal("md5", md5[0])]), "the late commit was applied"
    finally:
        gen.close()


def test_refresh_gives_up_on_ids_that_never_commit(store, monkeypatch) -> None:  # noqa: ANN001
    from tahaluf.services import matching
    from tahaluf.services.matching import MatchEngine

    engine = MatchEngine(store).load()
    engine.cursor = 5
    engine._note_gaps(9)  # ids 6, 7, 8 were skipped over (rolled back)
    assert sorted(engine._gaps) == [6, 7, 8]
    monkeypatch.setattr(matching, "GAP_RETRY_S", 0.0)
    engine._gaps = {g: time.monotonic() - 1 for g in engine._gaps}
    assert engine._late_changes() == [] and engine._gaps == {}
