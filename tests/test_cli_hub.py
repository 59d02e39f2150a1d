"""`tahaluf member`, `key` and `audit` in process (Typer's CliRunner on the root app),
on SQLite and PostgreSQL; audit tampering is done behind tahaluf's back with sqlite3
and psycopg, as an attacker with database access would."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tahaluf.cli.main import app
from tahaluf.bootstrap import open_hub
from tahaluf.services.hub import HubConfig

Run = Callable[..., Result]


@pytest.fixture
def cli(db_url: str) -> Run:
    """``tahaluf --db <db_url> ARGS...`` in process."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, ["--db", db_url, *args])

    return invoke


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> Run:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    return lambda *args: runner.invoke(app, ["--db", url, *args])


def authenticates(db_url: str, key: str) -> str | None:
    """The member name a key authenticates as, asked of the database (no key cache)."""
    hub = open_hub(HubConfig(db=db_url, snapshot=False, key_cache_s=0))
    try:
        who = hub.accounts.authenticate(key)
    finally:
        hub.close()
    return who.name if who else None


def one_error_line(result: Result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def add(cli: Run, name: str, *roles: str) -> str:
    result = cli("member", "add", name, *[a for r in roles for a in ("--role", r)])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("thf_") and len(key) == 47 and "\n" not in key, result.stdout
    return key


# -- members and keys ------------------------------------------------------------
def test_member_add_prints_a_working_key(cli: Run, db_url: str) -> None:
    key = add(cli, "org-a", "curator", "reviewer")
    assert authenticates(db_url, key) == "org-a"
    assert authenticates(db_url, key[:-1] + ("A" if key[-1] != "A" else "B")) is None


def test_member_add_refuses_duplicates_and_unknown_roles(cli: Run) -> None:
    add(cli, "org-a", "viewer")
    duplicate = cli("member", "add", "org-a", "--role", "admin")
    assert duplicate.exit_code == 5 and duplicate.stdout == ""
    assert "already exists" in one_error_line(duplicate)
    unknown = cli("member", "add", "org-b", "--role", "boss")
    assert unknown.exit_code == 2 and unknown.stdout == ""
    assert "unknown role boss" in one_error_line(unknown)
    assert "org-b" not in cli("member", "list").stdout


def test_member_list_shows_roles(cli: Run) -> None:
    add(cli, "org-b", "matcher")
    add(cli, "org-a", "admin", "curator")
    listed = cli("member", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["name"], r["roles"], r["enabled"]) for r in rows] == [
        ("org-a", ["admin", "curator"], True),
        ("org-b", ["matcher"], True),
    ]
    table = cli("member", "list").stdout
    assert "org-a" in table and "admin, curator" in table and "matcher" in table


def test_member_disable_and_enable(cli: Run, db_url: str) -> None:
    key = add(cli, "org-a", "matcher")
    disabled = cli("member", "disable", "org-a")
    assert disabled.exit_code == 0 and "disabled" in disabled.stderr
    assert authenticates(db_url, key) is None
    [row] = [json.loads(line) for line in cli("member", "list", "--json").stdout.splitlines()]
    assert row["enabled"] is False
    assert cli("member", "enable", "org-a").exit_code == 0
    assert authenticates(db_url, key) == "org-a"
    ghost = cli("member", "disable", "ghost")
    assert ghost.exit_code == 4 and "no member named 'ghost'" in one_error_line(ghost)


def test_key_rotate_revokes_the_old_key(cli: Run, db_url: str) -> None:
    old = add(cli, "org-a", "curator")
    rotated = cli("key", "rotate", "org-a")
    assert rotated.exit_code == 0, rotated.output
    new = rotated.stdout.strip()
    assert new.startswith("thf_") and new != old
    assert authenticates(db_url, old) is None
    assert authenticates(db_url, new) == "org-a"
    ghost = cli("key", "rotate", "ghost")
    assert ghost.exit_code == 4 and ghost.stdout == "" and "ghost" in one_error_line(ghost)


# -- audit chain -------------------------------------------------------------------
def make_history(cli: Run) -> int:
    """Some audited changes; returns how many audit entries they wrote."""
    add(cli, "org-a", "admin")
    add(cli, "org-b", "curator")
    add(cli, "org-c", "viewer")
    for args in (("member", "disable", "org-c"), ("member", "enable", "org-c"), ("key", "rotate", "org-b")):
        assert cli(*args).exit_code == 0
    return 6


def audit_entries(cli: Run) -> list[dict[str, object]]:
    listed = cli("audit", "list")
    assert listed.exit_code == 0, listed.output
    return [json.loads(line) for line in listed.stdout.splitlines()]


@pytest.fixture
def tamper(db_url: str) -> Iterator[Callable[[str, dict[str, object]], None]]:
    """Run SQL on the database directly (sqlite3 or psycopg), as someone with file or
    database access would."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))

        def run(sql: str, params: dict[str, object]) -> None:
            with conn:
                conn.execute(sql, params)

        yield run
        conn.close()
    else:
        import psycopg

        with psycopg.connect(db_url, autocommit=True) as pg:
            # sqlite3's :name placeholders as psycopg's %(name)s
            yield lambda sql, params: pg.execute(re.sub(r":(\w+)", r"%(\1)s", sql) if params else sql,
                                                 params or None)  # type: ignore[arg-type]


def test_audit_verify_passes_on_an_untouched_log(cli: Run) -> None:
    count = make_history(cli)
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert f"audit log intact: {count} entries" in verified.stderr
    actions = [e["action"] for e in audit_entries(cli)]
    assert actions == ["member.add"] * 3 + ["member.disable", "member.enable", "key.rotate"]


@pytest.mark.parametrize(
    ("sql", "entry"),
    [
        ("UPDATE audit_log SET target = 'member:org-z' WHERE id = 2", "entry 2"),
        ("UPDATE audit_log SET details = '{\"roles\": [\"admin\"]}' WHERE id = 3", "entry 3"),
        ("DELETE FROM audit_log WHERE id = 3", "entry 3"),
    ],
    ids=["edit-target", "edit-details", "delete-middle"],
)
def test_audit_verify_detects_an_edit_or_a_deletion(cli: Run, tamper, sql: str, entry: str) -> None:
    make_history(cli)
    tamper(sql, {})
    verified = cli("audit", "verify")
    assert verified.exit_code == 9, verified.output
    assert entry in verified.stderr and "Traceback" not in verified.output
    assert all(line.startswith("audit: ") for line in verified.stderr.splitlines())


def test_audit_verify_detects_two_swapped_hashes(cli: Run, tamper) -> None:
    make_history(cli)
    by_id = {e["id"]: e["hash"] for e in audit_entries(cli)}
    tamper("UPDATE audit_log SET hash = :h WHERE id = :id", {"h": by_id[3], "id": 2})
    tamper("UPDATE audit_log SET hash = :h WHERE id = :id", {"h": by_id[2], "id": 3})
    verified = cli("audit", "verify")
    assert verified.exit_code == 9, verified.output
    assert "entry 2:" in verified.stderr and "entry 3:" in verified.stderr


def test_audit_head_catches_entries_deleted_from_the_end(cli: Run, tamper) -> None:
    count = make_history(cli)
    head = cli("audit", "head")  # prints 'ID HASH' and signs that head with the hub's key
    assert head.exit_code == 0
    last_id, last_hash = head.stdout.split()
    assert int(last_id) == count and len(last_hash) == 64
    assert cli("audit", "verify", "--head", last_hash).exit_code == 0
    tamper("DELETE FROM audit_log WHERE id = :id", {"id": count})
    verified = cli("audit", "verify")  # the signed head is gone: caught without a recorded head
    assert verified.exit_code == 9, verified.output
    assert f"entry {count}, a signed head, is gone" in verified.stderr
    verified = cli("audit", "verify", "--head", head.stdout.strip())
    assert verified.exit_code == 9, verified.output
    assert f"entry {count}, is gone" in verified.stderr and "deleted from the end" in verified.stderr


def test_a_recorded_head_verifies_as_printed_and_after_more_entries(cli: Run) -> None:
    """The documented workflow: record `audit head`, keep working, check it later."""
    make_history(cli)
    recorded = cli("audit", "head").stdout.strip()
    assert cli("audit", "verify", "--head", recorded).exit_code == 0  # 'ID HASH', exactly as printed
    assert cli("member", "add", "org-later", "--role", "viewer").exit_code == 0
    assert cli("member", "disable", "org-later").exit_code == 0
    later = cli("audit", "verify", "--head", recorded)
    assert later.exit_code == 0, later.output  # still in the chain: no tamper alarm
    assert cli("audit", "verify", "--head", recorded.split()[1]).exit_code == 0
    bad = cli("audit", "verify", "--head", "16 nothex")
    assert bad.exit_code == 2 and "expected 'ID HASH'" in bad.stderr


def test_a_recorded_head_that_was_edited_away_is_tampering(cli: Run, tamper) -> None:
    make_history(cli)
    recorded = cli("audit", "head").stdout.strip()
    entry_id = int(recorded.split()[0])
    tamper("UPDATE audit_log SET hash = :h WHERE id = :id", {"h": "ab" * 32, "id": entry_id})
    verified = cli("audit", "verify", "--head", recorded)
    assert verified.exit_code == 9
    assert f"entry {entry_id} no longer has the recorded hash" in verified.stderr


def _rewrite_chain_from(tamper, cli: Run, first: int, target: str) -> None:
    """What someone with write access to the database but not the key can do: edit
    entry ``first`` and recompute every later hash so that the chain holds again."""
    from datetime import datetime

    from tahaluf.audit import entry_hash_v2

    entries = audit_entries(cli)
    prev = entries[first - 2]["hash"] if first > 1 else "0" * 64
    for e in entries[first - 1:]:
        tgt = target if e["id"] == first else e["target"]
        text = json.dumps(e["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        at = datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
        digest = entry_hash_v2(prev, e["id"], at, e["actor"], e["action"], tgt, text)
        tamper("UPDATE audit_log SET target = :t, prev_hash = :p, hash = :h WHERE id = :id",
               {"t": tgt, "p": prev, "h": digest, "id": e["id"]})
        prev = digest


def test_a_rewritten_chain_fails_verify_through_the_signed_heads(cli: Run, tamper) -> None:
    make_history(cli)
    assert cli("audit", "sign").exit_code == 0
    _rewrite_chain_from(tamper, cli, 2, "member:org-z")
    verified = cli("audit", "verify")
    assert verified.exit_code == 9, verified.output
    # every hash and link holds again: only the heads the hub signed tell
    assert "contents do not match" not in verified.stderr and "link" not in verified.stderr
    assert "differs from the head the hub signed (chain rewritten?)" in verified.stderr


def test_deleting_the_signatures_of_a_rewritten_chain_is_caught(cli: Run, tamper) -> None:
    make_history(cli)
    _rewrite_chain_from(tamper, cli, 2, "member:org-z")
    tamper("DELETE FROM audit_signatures", {})
    verified = cli("audit", "verify")
    assert verified.exit_code == 9, verified.output
    assert "no signed head for entries 1 (signatures deleted?)" in verified.stderr


def test_a_signature_made_with_another_key_is_refused(cli: Run, tamper) -> None:
    make_history(cli)
    _rewrite_chain_from(tamper, cli, 1, "member:org-z")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tahaluf.audit import head_message

    forger = Ed25519PrivateKey.generate()
    public = forger.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    first = audit_entries(cli)[0]
    tamper("UPDATE audit_signatures SET entry_hash = :h, public_key = :k, signature = :s WHERE entry_id = 1",
           {"h": first["hash"], "k": public, "s": forger.sign(head_message(1, first["hash"])).hex()})
    verified = cli("audit", "verify")
    assert verified.exit_code == 9 and "signed by an unknown key" in verified.stderr
    published = cli("audit", "public-key").stdout.strip()
    assert published != public and len(published) == 64


# -- what the hub loads ----------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    ["text The weekly market opened at dawn on Monday, and traders expect a busy season.",
     "text t1:not-a-sketch", "vpdq [[1, 2]]"],
    ids=["raw-post", "bad-sketch", "bad-vpdq"],
)
def test_bank_import_never_stores_a_value_the_hub_cannot_load(sqlite_cli: Run, tmp_path: Path,
                                                              line: str) -> None:
    """An imported line is refused (reported with its line number) or stored in a form the
    indexes load; one bad value must not stop `tahaluf serve` from starting."""
    signals = tmp_path / "signals.txt"
    signals.write_text(line + "\n", encoding="utf-8")
    assert sqlite_cli("bank", "create", "imported").exit_code == 0
    imported = sqlite_cli("bank", "import", "imported", str(signals), "--format", "pytx")
    assert "Traceback" not in imported.output
    hub = open_hub(HubConfig(db=f"sqlite:///{tmp_path / 'hub.db'}", snapshot=False))
    try:
        hub.load()  # what every hub worker does when it starts
    finally:
        hub.close()
