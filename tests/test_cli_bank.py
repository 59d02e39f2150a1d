"""`tahaluf bank ...` in process with Typer's CliRunner (SQLite in a temp dir)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from tahaluf.cli.bank import bank_app

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "d8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@dataclass
class AppContext:
    db_url: str | None


@pytest.fixture
def run(tmp_path: Path):
    """Invoke `bank ...` the way the root app will: ctx.obj carries the --db URL."""
    root = typer.Typer()

    @root.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = AppContext(db_url=f"sqlite:///{tmp_path / 'cli.db'}")

    root.add_typer(bank_app, name="bank")
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(root, ["bank", *args], input=input)

    return invoke


def test_create_list_show_delete(run) -> None:
    created = run("create", "demo", "--kind", "allow", "--label", "entity=demo-entity", "--label", "tags=a,b")
    assert created.exit_code == 0, created.output
    assert "created allow bank demo" in created.stdout
    listed = run("list", "--json")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["demo"]
    assert "demo" in run("list").stdout
    shown = json.loads(run("show", "demo").stdout)
    assert shown["kind"] == "allow"
    assert shown["default_labels"] == {"entity": "demo-entity", "tags": ["a", "b"]}
    assert shown["counts"] == {"items": 0, "enabled": 0}
    refused = run("delete", "demo", input="n\n")
    assert refused.exit_code == 2 and "not deleted" in refused.stderr
    assert run("delete", "demo", "--yes").exit_code == 0
    assert run("list", "--json").stdout == ""


def test_errors_are_one_line_with_exit_codes(run) -> None:
    missing = run("show", "ghost")
    assert missing.exit_code == 4
    assert missing.stderr == "error: no bank named 'ghost' (see `tahaluf bank list`)\n"
    assert run("create", "demo").exit_code == 0
    dup = run("create", "demo")
    assert dup.exit_code == 5 and dup.stderr.startswith("error: bank 'demo' already exists")
    bad_label = run("create", "other", "--label", "tier=mild")
    assert bad_label.exit_code == 2 and bad_label.stderr.startswith("error: label tier='mild'")
    not_kv = run("create", "other", "--label", "tier")
    assert not_kv.exit_code == 2 and "key=value" in not_kv.stderr
    for result in (missing, dup, bad_label, not_kv):
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)


def test_import_pytx_then_export_jsonl(run, tmp_path: Path) -> None:
    src = tmp_path / "hashes.txt"
    src.write_text(f"pdq {PDQ_A}\npdq nothex\npdq {PDQ_B}\nmd5 123\n")
    assert run("create", "h").exit_code == 0
    first = run("import", "h", str(src), "--format", "pytx")
    assert first.exit_code == 3  # some lines were bad, the rest imported
    assert "imported 2, skipped 0 duplicates, 2 errors (lines 2, 4)" in first.stdout
    assert "line 2:" in first.stderr and "line 4:" in first.stderr
    again = run("import", "h", str(src), "--format", "pytx")
    assert "imported 0, skipped 2 duplicates, 2 errors" in again.stdout
    out = tmp_path / "h.jsonl"
    exported = run("export", "h", "--out", str(out))
    assert exported.exit_code == 0 and "exported 2 items" in exported.stderr
    header, *rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert header["tahaluf_bank"] == 1 and header["kind"] == "known"
    assert [r["signals"][0]["value"] for r in rows] == [PDQ_A, PDQ_B]
    assert run("create", "copy").exit_code == 0
    copied = run("import", "copy", str(out), "--format", "jsonl")
    assert copied.exit_code == 0 and "imported 2, skipped 0 duplicates, 0 errors" in copied.stdout
    assert json.loads(run("show", "copy").stdout)["counts"] == {"items": 2, "enabled": 2, "pdq": 2}
    to_stdout = run("export", "copy")
    assert [json.loads(line)["external_id"] for line in to_stdout.stdout.splitlines()[1:]] == [f"pdq:{PDQ_A}", f"pdq:{PDQ_B}"]


def test_import_problems_are_reported_cleanly(run, tmp_path: Path) -> None:
    assert run("import", "ghost", str(tmp_path / "x.txt"), "--format", "pytx").exit_code == 4
    assert run("create", "h").exit_code == 0
    missing = run("import", "h", str(tmp_path / "nope.txt"), "--format", "pytx")
    assert missing.exit_code == 2 and missing.stderr.startswith("error: cannot read")
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))
    not_text = run("import", "h", str(binary), "--format", "pytx")  # each bad line is that line's error
    assert not_text.exit_code == 3 and "line 1: not UTF-8" in not_text.stderr
    bad_format = run("import", "h", str(binary), "--format", "csv")
    assert bad_format.exit_code == 2


def test_add_hashes_files_and_posts_and_reports_bad_ones(run, tmp_path: Path) -> None:
    from PIL import Image

    assert run("create", "h", "--label", "entity=demo-entity").exit_code == 0
    tmp_path = tmp_path / "content"  # away from the database files
    tmp_path.mkdir()
    Image.effect_noise((200, 150), 60).convert("RGB").save(tmp_path / "photo.png")
    (tmp_path / "posts.jsonl").write_text(
        '{"id": "p1", "text": "The tram line to the harbour reopens on Monday morning."}\n'
        '{"id": "p2"}\n', encoding="utf-8")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    first = run("add", "h", str(tmp_path), "--jobs", "1")
    assert first.exit_code == 3, first.stderr
    assert "imported 2" in first.stdout and "2 errors" in first.stdout
    assert "broken.jpg" in first.stderr and "line 2" in first.stderr
    again = run("add", "h", str(tmp_path), "--jobs", "1")
    assert "imported 0, skipped 2 duplicates" in again.stdout
    shown = run("show", "h")
    assert shown.exit_code == 0 and "2" in shown.stdout


def test_label_vocabulary_is_configuration(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tahaluf.cli.main import app

    db = f"sqlite:///{tmp_path / 'labels.db'}"

    def cli(*args: str):
        return CliRunner().invoke(app, ["--db", db, *args])

    vocab = tmp_path / "labels.toml"
    vocab.write_text(
        '[entity]\npattern = "^[a-z-]+$"\nallowed = ["demo-entity"]\n'
        '[tier]\nallowed = ["promotional"]\n', encoding="utf-8")
    ok = cli("--labels", str(vocab), "bank", "create", "a", "--label", "entity=demo-entity")
    assert ok.exit_code == 0, ok.stderr
    refused = cli("--labels", str(vocab), "bank", "create", "b", "--label", "entity=other-entity")
    assert refused.exit_code == 2 and "entity" in refused.stderr
    default = cli("bank", "create", "c", "--label", "entity=other-entity")  # the shipped file allows it
    assert default.exit_code == 0
    broken = tmp_path / "broken.toml"
    broken.write_text("[entity\n", encoding="utf-8")
    bad = cli("--labels", str(broken), "bank", "create", "d")
    assert bad.exit_code == 2 and "not valid TOML" in bad.stderr


def test_posts_whose_ids_collide_across_files_are_all_added(run, tmp_path: Path) -> None:
    """Post ids are unique within their JSONL file only: another file's post "1" with
    another text is another item, not a duplicate; re-adding a file still skips its posts."""
    assert run("create", "h", "--label", "entity=demo-entity").exit_code == 0
    content = tmp_path / "content"
    content.mkdir()
    monday = ["Rain is expected over the coast on Monday afternoon.",
              "The central library opens an hour later during the holidays."]
    tuesday = ["Wheat prices closed higher at the market on Tuesday.",
               "A new cycle path links the station to the harbour."]
    for name, texts in (("monday.jsonl", monday), ("tuesday.jsonl", tuesday)):
        (content / name).write_text("".join(json.dumps({"id": str(n), "text": t}) + "\n"
                                            for n, t in enumerate(texts, 1)), encoding="utf-8")
    (content / "no-ids.jsonl").write_text(
        json.dumps({"text": "The ferry timetable changes in October."}) + "\n"
        + json.dumps({"text": "Fog may delay early flights on Wednesday."}) + "\n", encoding="utf-8")
    first = run("add", "h", str(content), "--jobs", "1")
    assert first.exit_code == 0, first.stderr
    assert "imported 6, skipped 0 duplicates" in first.stdout
    exported = run("export", "h")
    header, *items = exported.stdout.splitlines()
    assert json.loads(header)["tahaluf_bank"] == 1
    ids = sorted(json.loads(line)["external_id"] for line in items)
    # FILE#ID, FILE named relative to the folder given (no local path reaches the bank)
    assert ids == sorted(["monday.jsonl#1", "monday.jsonl#2", "tuesday.jsonl#1", "tuesday.jsonl#2",
                          "no-ids.jsonl#line-1", "no-ids.jsonl#line-2"])
    again = run("add", "h", str(content / "tuesday.jsonl"), "--jobs", "1")
    assert "imported 0, skipped 2 duplicates" in again.stdout, again.stdout
