"""Accounts of organisations from the command line (issue 11, point 8): `key add`,
`key list`, `key revoke`, `member roles`, `member remove`, `bank transfer` and
validated names, in process on SQLite and PostgreSQL; plus migration 0011 on a
database that already holds members and keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from test_cli_hub import Run, add, authenticates, cli, one_error_line  # noqa: F401 - the `cli` fixture

from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import HubConfig, hash_key, new_api_key
from tahaluf.storage.engine import WRITE, _alembic_config, create_engine_for, resolve_url


def roles_of(db_url: str, key: str) -> tuple[str, ...] | None:
    hub = open_hub(HubConfig(db=db_url, snapshot=False, key_cache_s=0))
    try:
        who = hub.accounts.authenticate(key)
    finally:
        hub.close()
    return who.roles if who else None


def keys_json(cli: Run, member: str) -> list[dict]:
    listed = cli("key", "list", member, "--json")
    assert listed.exit_code == 0, listed.output
    return [json.loads(line) for line in listed.stdout.splitlines()]


def audit_actions(cli: Run) -> list[str]:
    return [json.loads(line)["action"] for line in cli("audit", "list", "--limit", "1000").stdout.splitlines()]


def test_key_add_list_and_revoke(cli: Run, db_url: str) -> None:
    first = add(cli, "ngo-a", "curator", "reviewer")
    made = cli("key", "add", "ngo-a", "--role", "reviewer", "--label", "review desk")
    assert made.exit_code == 0, made.output
    reviewer = made.stdout.strip()
    assert reviewer.startswith("thf_") and "\n" not in reviewer
    assert roles_of(db_url, reviewer) == ("reviewer",)
    assert roles_of(db_url, first) == ("curator", "reviewer")
    beyond = cli("key", "add", "ngo-a", "--role", "admin")
    assert beyond.exit_code == 2 and beyond.stdout == "" and "does not hold role admin" in one_error_line(beyond)

    keys = keys_json(cli, "ngo-a")
    assert [(k["label"], k["roles"], k["revoked_at"]) for k in keys] == [
        (None, ["curator", "reviewer"], None), ("review desk", ["reviewer"], None)]
    assert keys[1]["prefix"] == reviewer[:8] and keys[1]["created_by"].startswith("cli:")
    assert keys[1]["last_used_at"] is not None  # authenticated above
    table = cli("key", "list", "ngo-a").stdout
    assert reviewer[:8] in table and "review" in table and "(all)" in table

    revoked = cli("key", "revoke", "ngo-a", reviewer[:8])
    assert revoked.exit_code == 0 and "revoked" in revoked.stderr, revoked.output
    assert roles_of(db_url, reviewer) is None and roles_of(db_url, first) == ("curator", "reviewer")
    again = cli("key", "revoke", "ngo-a", str(keys[1]["id"]))
    assert again.exit_code == 5 and "already revoked" in one_error_line(again)
    ghost = cli("key", "revoke", "ghost", "1")
    assert ghost.exit_code == 4 and "no member named 'ghost'" in one_error_line(ghost)
    assert audit_actions(cli).count("key.add") == 1 and audit_actions(cli).count("key.revoke") == 1


def test_member_roles_changes_what_the_keys_may_do(cli: Run, db_url: str) -> None:
    first = add(cli, "ngo-a", "curator")
    changed = cli("member", "roles", "ngo-a", "--role", "reviewer", "--role", "viewer")
    assert changed.exit_code == 0, changed.output
    assert roles_of(db_url, first) == ("reviewer", "viewer")
    row = json.loads(cli("member", "list", "--json").stdout.splitlines()[0])
    assert row["roles"] == ["reviewer", "viewer"]
    bad = cli("member", "roles", "ngo-a", "--role", "owner")
    assert bad.exit_code == 2 and "unknown role owner" in one_error_line(bad)
    assert "member.roles" in audit_actions(cli)


def test_member_remove_and_bank_transfer(cli: Run, db_url: str) -> None:
    key = add(cli, "ngo-a", "curator")
    add(cli, "ngo-b", "curator")
    hub = open_hub(HubConfig(db=db_url, snapshot=False))
    try:
        who = hub.accounts.authenticate(key)
        assert who is not None
        hub.banks.create(who, "ngo-a-weather", labels={"entity": "demo-entity"})
        hub.banks.create(who, "ngo-a-markets", labels={"entity": "demo-entity"})
    finally:
        hub.close()
    refused = cli("member", "remove", "ngo-a")
    assert refused.exit_code == 5 and "owns 2 bank(s)" in one_error_line(refused)
    assert authenticates(db_url, key) == "ngo-a"

    moved = cli("bank", "transfer", "ngo-a-weather", "--to", "ngo-b")
    assert moved.exit_code == 0 and "now belongs to ngo-b" in moved.stderr, moved.output
    assert json.loads(cli("bank", "show", "ngo-a-weather").stdout)["owner"] == "ngo-b"
    nobody = cli("bank", "transfer", "ngo-a-markets", "--to", "nobody")
    assert nobody.exit_code == 2 and "no such member" in one_error_line(nobody)

    removed = cli("member", "remove", "ngo-a", "--transfer-banks-to", "ngo-b")
    assert removed.exit_code == 0 and "1 bank(s) now belong to ngo-b" in removed.stderr, removed.output
    assert authenticates(db_url, key) is None
    assert [json.loads(r)["name"] for r in cli("member", "list", "--json").stdout.splitlines()] == ["ngo-b"]
    assert json.loads(cli("bank", "show", "ngo-a-markets").stdout)["owner"] == "ngo-b"
    assert cli("member", "remove", "ngo-a").exit_code == 4
    actions = audit_actions(cli)
    assert actions.count("bank.transfer") == 2 and actions.count("member.remove") == 1
    assert cli("audit", "verify").exit_code == 0


@pytest.mark.parametrize("name", ["org/x", "Org-A", "a b", ".hidden", "x" * 64])
def test_member_add_refuses_a_name_it_could_not_address(cli: Run, name: str) -> None:
    result = cli("member", "add", name, "--role", "viewer")
    assert result.exit_code == 2 and result.stdout == ""
    assert "invalid organisation name" in one_error_line(result)
    assert cli("member", "list", "--json").stdout == ""


# -- migration 0011 ----------------------------------------------------------------------------------
def test_migration_keeps_each_existing_key_with_its_members_roles(db_url: str) -> None:
    """A database at revision 0003 (one key per member) upgrades: each key keeps working
    with its member's roles, and follows later role changes."""
    engine = create_engine_for(resolve_url(db_url))
    cfg = _alembic_config()
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    keys = {"ngo-a": new_api_key(), "ngo-b": new_api_key()}
    at = datetime.now(UTC)
    with engine.begin() as conn:
        for i, (name, roles) in enumerate((("ngo-a", ["curator", "reviewer"]), ("ngo-b", ["viewer"])), 1):
            conn.execute(sa.text("INSERT INTO members (id, name, roles, enabled, created_at) "
                                 "VALUES (:i, :n, :r, :e, :t)"),
                         {"i": i, "n": name, "r": json.dumps(roles), "e": True, "t": at})
            conn.execute(sa.text("INSERT INTO api_keys (member_id, key_hash, prefix, created_at) "
                                 "VALUES (:i, :h, :p, :t)"),
                         {"i": i, "h": hash_key(keys[name]), "p": keys[name][:8], "t": at})
    engine.dispose()

    hub = open_hub(HubConfig(db=db_url, snapshot=False, key_cache_s=0))  # opening migrates to the head
    try:
        a, b = hub.accounts.authenticate(keys["ngo-a"]), hub.accounts.authenticate(keys["ngo-b"])
        assert a is not None and (a.name, a.roles) == ("ngo-a", ("curator", "reviewer"))
        assert b is not None and (b.name, b.roles) == ("ngo-b", ("viewer",))

        member, [key] = hub.accounts.list_keys("cli:test", "ngo-a")
        assert key.to_json(member)["inherits_roles"] is True and key.label is None
        hub.accounts.set_roles("cli:test", "ngo-a", ["reviewer"])
        after = hub.accounts.authenticate(keys["ngo-a"])
        assert after is not None and after.roles == ("reviewer",)
    finally:
        hub.close()


# -- concurrent removals (real processes) ------------------------------------------------------------
ROUNDS = 30


def _remover(db_url: str, role: str, barrier: Any, out: Any) -> None:
    """One process of the race: each round, remove ``a<i>`` giving its bank to ``b<i>``
    ("a"), or remove ``b<i>`` ("b"), at the same moment as the other process."""
    from tahaluf.errors import TahalufError

    hub = open_hub(HubConfig(db=db_url, snapshot=False))
    done = 0
    try:
        for i in range(ROUNDS):
            barrier.wait(timeout=60)
            try:
                if role == "a":
                    hub.accounts.remove("cli:race", f"a{i}", transfer_banks_to=f"b{i}")
                else:
                    hub.accounts.remove("cli:race", f"b{i}")
                done += 1
            except TahalufError:  # refused: b owns the bank by now, or b is gone
                pass
    finally:
        hub.close()
    out.put((role, done))


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite runs one writer at a time
def test_removing_a_member_while_it_receives_banks_leaves_no_bank_without_an_owner(db_url: str) -> None:
    """Two processes at once, many times: one removes a<i> giving its bank to b<i>, the
    other removes b<i>. Whichever wins, every bank ends with an owner that exists
    (without the member row locks in accounts_sql this fails: banks owned by a removed b<i>)."""
    import multiprocessing

    hub = open_hub(HubConfig(db=db_url, snapshot=False))
    try:
        for i in range(ROUNDS):
            _, key = hub.accounts.add_member("cli:test", f"a{i}", ["curator"])
            hub.accounts.add_member("cli:test", f"b{i}", ["curator"])
            who = hub.accounts.authenticate(key)
            assert who is not None
            hub.banks.create(who, f"weather-{i}", labels={"entity": "demo-entity"})
    finally:
        hub.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_remover, args=(db_url, role, barrier, out)) for role in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    hub = open_hub(HubConfig(db=db_url, snapshot=False))
    try:
        members = {m.name for m in hub.hubstore.list_members()}
        orphans = [(b.name, b.owner) for b in hub.store.list_banks() if b.owner not in members]
        assert orphans == []
        assert len(hub.store.list_banks()) == ROUNDS  # no bank was lost either
    finally:
        hub.close()
