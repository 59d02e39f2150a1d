"""A bank exported and imported elsewhere means what it meant (issue 11, point 4):
kind, default labels, threshold, visibility, owner and shares travel in a
versioned header; scans of the copy give the same answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tahaluf import banks
from tahaluf.cli.main import app
from tahaluf.errors import InvalidInput
from tahaluf.bootstrap import sql_ports
from tahaluf.services.bank_files import export_bank, import_bank_file
from tahaluf.services.banking import add_content
from tahaluf.services.hashing import iter_inputs
from tahaluf.services.matching import MatchEngine
from tahaluf.services.scanning import scan
from tahaluf.storage import Store, open_store
from tahaluf.storage.repository.hub_sql import HubStore

DEMO = Path(__file__).resolve().parents[1] / "src" / "tahaluf" / "demo"
PHOTOS = DEMO / "content" / "photos"
POSTS = DEMO / "content" / "posts"
PRESS = DEMO / "allow" / "press-review-fr.txt"
SCANNED = [*sorted(str(p) for p in PHOTOS.iterdir()), *sorted(str(p) for p in POSTS.glob("*.txt")), str(PRESS),
           *sorted(str(p) for p in (DEMO / "inbox").iterdir())]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'banks.db'}") as s:
        yield s


def _members(store: Store) -> None:
    hub = HubStore(store)
    for name in ("alice", "bob"):
        hub.add_member(name, ["curator"], f"{name:0<64}", name[:8])


def _fill(store: Store) -> None:
    _members(store)
    known = banks.create_bank(store, "weather-known", "known", {"entity": "demo-entity", "tier": "promotional"},
                              pdq_max_distance=24, owner="alice", visibility="members")
    HubStore(store).set_bank_shares(known.id, [HubStore(store).get_member("bob").id])  # type: ignore[union-attr]
    add_content(store, "weather-known", iter_inputs([str(PHOTOS), str(POSTS / "market-en.txt")]),
                labels={"language": "en"}, added_by="analyst")
    banks.create_bank(store, "press-allow", "allow", {"tags": ["press"]})
    add_content(store, "press-allow", iter_inputs([str(PRESS)]), added_by="analyst")


def _answers(store: Store) -> list[dict[str, Any]]:
    out = []
    for res in scan(iter_inputs(SCANNED), MatchEngine(store).load()):
        row = res.to_json()
        for m in row["matches"]:
            m.pop("item_id")  # ids are per database
        out.append(row)
    return out


def _comparable(lines: list[str]) -> list[dict[str, Any]]:
    header, *items = [json.loads(line) for line in lines]
    header.pop("provenance")  # when and by whom each export was written
    return [header, *items]


def test_export_import_into_a_fresh_database_keeps_what_the_bank_means(store: Store, tmp_path: Path) -> None:
    _fill(store)
    exports = {name: list(export_bank(sql_ports(store), name)) for name in ("weather-known", "press-allow")}
    header = json.loads(exports["press-allow"][0])
    assert header["tahaluf_bank"] == 1 and header["kind"] == "allow"
    with open_store(f"sqlite:///{tmp_path / 'elsewhere.db'}") as fresh:
        _members(fresh)
        for name, lines in exports.items():
            result = import_bank_file(sql_ports(fresh), name, lines, fmt="jsonl", actor="cli:test",
                                      source=f"{name}.jsonl")
            assert result.created is not None and result.notes == []
            assert result.report.error_count == 0 and result.report.imported == len(lines) - 1
        again = {name: list(export_bank(sql_ports(fresh), name)) for name in exports}
        assert {n: _comparable(v) for n, v in again.items()} == {n: _comparable(v) for n, v in exports.items()}
        copied = banks.get_bank(fresh, "weather-known")
        assert (copied.kind, copied.owner, copied.visibility, copied.pdq_max_distance) == (
            "known", "alice", "members", 24)
        assert HubStore(fresh).bank_shares()[copied.id] == ["bob"]
        answers = _answers(fresh)
    assert answers == _answers(store)
    by_input = {a["input"]: a for a in answers}
    press = by_input[str(PRESS)]
    assert press["allowed"] and not press["actionable"]  # the allow bank is still an allow bank
    hills = by_input[str(PHOTOS / "hills.jpg")]
    assert hills["actionable"] and hills["matches"][0]["labels"]["entity"] == "demo-entity"  # bank-level label


def test_import_refuses_a_bank_of_another_kind(sqlite_store: Store) -> None:
    banks.create_bank(sqlite_store, "press-allow", "allow")
    add_content(sqlite_store, "press-allow", iter_inputs([str(PRESS)]), added_by="analyst")
    lines = list(export_bank(sql_ports(sqlite_store), "press-allow"))
    banks.create_bank(sqlite_store, "known-bank", "known")
    with pytest.raises(InvalidInput, match="export of allow bank 'press-allow'.*known bank"):
        import_bank_file(sql_ports(sqlite_store), "known-bank", lines, fmt="jsonl", actor="cli:test", source="x.jsonl")
    assert banks.bank_stats(sqlite_store, "known-bank")["items"] == 0


def test_a_file_without_header_still_imports_into_an_existing_bank(sqlite_store: Store) -> None:
    banks.create_bank(sqlite_store, "src", "allow")
    add_content(sqlite_store, "src", iter_inputs([str(PRESS)]), added_by="analyst")
    old_style = list(export_bank(sql_ports(sqlite_store), "src"))[1:]
    banks.create_bank(sqlite_store, "old", "known")
    report = import_bank_file(sql_ports(sqlite_store), "old", old_style, fmt="jsonl", actor="cli:test",
                              source="old.jsonl").report
    assert (report.imported, report.error_count) == (1, 0)


def test_cli_export_then_import_into_a_new_database(tmp_path: Path) -> None:
    runner = CliRunner()
    here, there = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"

    def run(db: str, *args: str) -> Any:
        return runner.invoke(app, ["--db", db, "bank", *args])

    assert run(here, "create", "press", "--kind", "allow", "--label", "entity=demo-entity").exit_code == 0
    assert run(here, "add", "press", str(PRESS)).exit_code == 0
    out = tmp_path / "press.jsonl"
    assert run(here, "export", "press", "--out", str(out)).exit_code == 0
    imported = run(there, "import", "press-copy", str(out), "--format", "jsonl")
    assert imported.exit_code == 0, imported.output
    assert "created allow bank press-copy" in imported.stderr
    shown = json.loads(run(there, "show", "press-copy").stdout)
    assert (shown["kind"], shown["default_labels"], shown["counts"]["items"]) == (
        "allow", {"entity": "demo-entity"}, 1)
    assert run(there, "create", "known", "--kind", "known").exit_code == 0
    refused = run(there, "import", "known", str(out), "--format", "jsonl")
    assert refused.exit_code == 2 and "export of allow bank 'press'" in refused.stderr
    assert "Traceback" not in refused.output
