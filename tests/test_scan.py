"""Matching end to end: banks filled from content, then `tahaluf scan` / `lookup` and the engine's upkeep."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageOps
from typer.testing import CliRunner

from tahaluf import banks
from tahaluf.cli.main import app
from tahaluf.services.banking import add_content
from tahaluf.services.hashing import HashOptions, InputItem, iter_inputs
from tahaluf.services.matching import MatchEngine
from tahaluf.storage import open_store

runner = CliRunner()

POST_AR = ("افتتحت البلدية حديقة عامة جديدة قرب النهر، وتضم مسارات للدراجات وملعباً صغيراً "
           "للأطفال ومقاعد مظللة لكبار السن، وستبقى مفتوحة حتى العاشرة مساءً طوال الصيف.")
POST_EN = ("The city council voted to keep the public swimming pool open until nine in the "
           "evening during the summer holidays, and lifeguards will work in two shifts.")
NEWS_EN = ("Local news roundup. Residents welcomed the decision: " + POST_EN + " Meanwhile the "
           "library will repaint its reading room and the bus company adds a late service on Fridays.")


def make_photo(path: Path, seed: int) -> Path:
    img = Image.new("RGB", (320, 240), (30 * seed % 255, 90, 160))
    d = ImageDraw.Draw(img)
    for i in range(10):
        x, y = (seed * 37 + i * 53) % 300, (seed * 11 + i * 29) % 220
        d.ellipse((x, y, x + 40 + i * 3, y + 30 + i * 2), fill=((i * 40) % 255, (seed * 70) % 255, (i * 90) % 255))
    img.save(path)
    return path


@pytest.fixture()
def db(db_url) -> str:
    """Every scan test runs on SQLite and on the PostgreSQL server (see conftest)."""
    return db_url


@pytest.fixture()
def filled(db, tmp_path):
    """A known bank with two photos and two posts, and an allow bank with a news article."""
    src = tmp_path / "bank"
    src.mkdir()
    make_photo(src / "a.png", 1)
    make_photo(src / "b.png", 2)
    (src / "posts.jsonl").write_text(
        json.dumps({"id": "k-ar", "text": POST_AR}, ensure_ascii=False) + "\n"
        + json.dumps({"id": "k-en", "text": POST_EN}) + "\n", encoding="utf-8")
    store = open_store(db)
    banks.create_bank(store, "known", "known", labels={"entity": "demo-entity"})
    banks.create_bank(store, "news", "allow")
    rep = add_content(store, "known", iter_inputs([str(src)]))
    assert rep.imported == 4 and rep.error_count == 0
    rep = add_content(store, "news", [InputItem("text", NEWS_EN, id="news-1")])
    assert rep.imported == 1
    store.close()
    return src


def scan_cli(db: str, *args: str) -> tuple[int, list[dict]]:
    res = runner.invoke(app, ["--db", db, "scan", "-q", "-j", "1", *args])
    return res.exit_code, [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]


def test_edited_copies_match_and_unrelated_do_not(db, filled, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ImageOps.mirror(Image.open(filled / "a.png")).save(inbox / "a-mirrored.png")
    Image.open(filled / "b.png").resize((240, 180)).save(inbox / "b-small.jpg", quality=40)
    make_photo(inbox / "other.png", 5)
    diacritics = POST_AR.replace("جديدة", "جَدِيدَة").replace("الأطفال", "الاطفال") + " #حديقة"
    (inbox / "posts.jsonl").write_text(
        json.dumps({"id": "q1", "text": diacritics}, ensure_ascii=False) + "\n"
        + json.dumps({"id": "q2", "text": POST_EN[: int(len(POST_EN) * 0.6)]}) + "\n"
        + json.dumps({"id": "q3", "text": "The swimming club meets on Tuesdays; the pool is heated in winter."}) + "\n",
        encoding="utf-8")
    code, out = scan_cli(db, str(inbox))
    assert code == 0
    got = {Path(o["input"]).name: o for o in out}
    assert got["a-mirrored.png"]["matches"][0]["external_id"].endswith("a.png")
    assert got["b-small.jpg"]["matches"][0]["external_id"].endswith("b.png")
    assert got["b-small.jpg"]["matches"][0]["distance"] <= 31
    assert got["other.png"]["matches"] == []
    # a post's external id is its file and its id (post ids are unique within a file)
    assert [m["external_id"] for m in got["q1"]["matches"]] == [str(filled / "posts.jsonl") + "#k-ar"]
    q2 = got["q2"]["matches"][0]  # best first: the known post, not the news quoting it
    assert q2["external_id"] == str(filled / "posts.jsonl") + "#k-en" and q2["evidence"]["relation"] == "query_within_item"
    assert got["q2"]["actionable"] is True
    assert got["q3"]["matches"] == []
    assert all(o["actionable"] == bool(o["matches"]) for o in out)
    assert not any(o["allowed"] for o in out)
    assert got["q1"]["matches"][0]["labels"]["entity"] == "demo-entity"


def test_news_quoting_known_text_is_allowed_not_actioned(db, filled):
    code, out = scan_cli(db, "-")  # nothing on stdin: no inputs
    assert code == 0 and out == []
    res = runner.invoke(app, ["--db", db, "lookup", "--type", "text", "-"], input=NEWS_EN + "\n")
    [o] = [json.loads(x) for x in res.stdout.splitlines()]
    kinds = {m["bank"]: m for m in o["matches"]}
    assert set(kinds) == {"known", "news"}
    assert kinds["known"]["evidence"]["relation"] == "item_within_query"
    assert o["allowed"] is True and o["actionable"] is False


def test_lookup_by_hash_values_and_bad_values(db, filled):
    store = open_store(db)
    [pdq] = [r.value for r in banks.iter_signals(store, "pdq")][:1]
    store.close()
    res = runner.invoke(app, ["--db", db, "lookup", "--type", "pdq", "-"], input=f"{pdq}\nnot-a-hash\n")
    assert res.exit_code == 3
    good, bad = [json.loads(x) for x in res.stdout.splitlines()]
    assert good["matches"] and good["matches"][0]["distance"] == 0
    assert bad["matches"] == [] and "64 hex" in bad["error"]


def test_resume_skips_inputs_already_scanned(db, filled, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_photo(inbox / "one.png", 7)
    make_photo(inbox / "two.png", 8)
    code, first = scan_cli(db, "--resume", str(inbox))
    assert code == 0 and len(first) == 2
    make_photo(inbox / "three.png", 9)
    code, second = scan_cli(db, "--resume", str(inbox))
    assert code == 0 and [Path(o["input"]).name for o in second] == ["three.png"]


def test_csv_and_html_reports(db, filled, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ImageOps.mirror(Image.open(filled / "a.png")).save(inbox / "a-mirrored.png")
    (inbox / "q.jsonl").write_text(json.dumps({"id": "q", "text": POST_AR}, ensure_ascii=False) + "\n", encoding="utf-8")
    out_csv, out_html = tmp_path / "r.csv", tmp_path / "r.html"
    assert runner.invoke(app, ["--db", db, "scan", "-q", "-j1", "-f", "csv", "-o", str(out_csv), str(inbox)]).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8"))))
    assert {r["signal_type"] for r in rows} == {"pdq", "text"}
    assert runner.invoke(app, ["--db", db, "scan", "-q", "-j1", "-f", "html", "-o", str(out_html), str(inbox)]).exit_code == 0
    page = out_html.read_text(encoding="utf-8")
    assert 'dir="rtl"' in page and "<mark>" in page and "data:image/jpeg;base64" in page


def test_engine_follows_adds_disables_and_deletes_without_rebuild(db, filled, tmp_path):
    store = open_store(db)
    engine = MatchEngine(store).load()
    new_photo = make_photo(tmp_path / "new.png", 11)
    from tahaluf.services.hashing import hash_item

    [res] = hash_item(InputItem("file", str(new_photo)), HashOptions())
    assert engine.match(res.signals) == []
    add_content(store, "known", [InputItem("file", str(new_photo))])
    assert engine.refresh() >= 1
    [m] = engine.match(res.signals)
    assert m.external_id == str(new_photo)
    banks.set_item_enabled(store, "known", str(new_photo), False)
    engine.refresh()
    assert engine.match(res.signals) == []
    banks.set_item_enabled(store, "known", str(new_photo), True)
    engine.refresh()
    assert len(engine.match(res.signals)) == 1
    banks.delete_bank(store, "known")
    engine.refresh()
    assert engine.match(res.signals) == []
    store.close()


def test_snapshot_cold_start_gives_the_same_matches(db, filled, tmp_path):
    store = open_store(db)
    engine = MatchEngine(store).load()
    engine.save_snapshot(tmp_path / "snap")
    later = make_photo(tmp_path / "later.png", 12)
    add_content(store, "known", [InputItem("file", str(later))])  # after the snapshot
    cold = MatchEngine(store).load(snapshot_dir=tmp_path / "snap")
    from tahaluf.services.hashing import hash_item

    for path in [filled / "a.png", filled / "b.png", later]:
        [res] = hash_item(InputItem("file", str(path)), HashOptions())
        warm = MatchEngine(store).load().match(res.signals)
        assert [m.item_id for m in cold.match(res.signals)] == [m.item_id for m in warm] != []
    store.close()


def test_snapshot_of_another_or_recreated_database_is_ignored(tmp_path):
    from tahaluf.services.hashing import hash_item

    first, second = tmp_path / "one.png", tmp_path / "two.png"
    make_photo(first, 21)
    make_photo(second, 22)
    db = f"sqlite:///{tmp_path / 'a.db'}"
    store = open_store(db)
    banks.create_bank(store, "known", "known")
    add_content(store, "known", [InputItem("file", str(first))])
    MatchEngine(store).load().save_snapshot(tmp_path / "snap")
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 'a.db'}{suffix}").unlink(missing_ok=True)
    store = open_store(db)  # recreated: same URL, other content
    banks.create_bank(store, "known", "known")
    add_content(store, "known", [InputItem("file", str(second))])
    engine = MatchEngine(store).load(snapshot_dir=tmp_path / "snap")
    assert engine.snapshot_cursor is None  # the snapshot was not used
    [old] = hash_item(InputItem("file", str(first)), HashOptions())
    [new] = hash_item(InputItem("file", str(second)), HashOptions())
    assert engine.match(old.signals) == [] and len(engine.match(new.signals)) == 1
    store.close()


def test_item_commands_change_what_scan_matches(db, filled, tmp_path):
    photo = str(filled / "a.png")
    code, out = scan_cli(db, photo)
    assert [m["external_id"] for m in out[0]["matches"]] == [photo]

    def bank(*args: str):
        return runner.invoke(app, ["--db", db, "bank", *args])

    assert bank("disable", "known", photo).exit_code == 0
    assert scan_cli(db, photo)[1][0]["matches"] == []
    assert bank("enable", "known", photo).exit_code == 0
    assert bank("label", "known", photo, "--label", "tier=crisis").exit_code == 0
    [m] = scan_cli(db, photo)[1][0]["matches"]
    assert m["labels"] == {"entity": "demo-entity", "tier": "crisis"}
    bad = bank("label", "known", photo, "--label", "tier=unknown-tier")
    assert bad.exit_code == 2 and "tier" in bad.stderr
    assert bank("remove", "known", photo).exit_code == 0
    assert scan_cli(db, photo)[1][0]["matches"] == []
    missing = bank("remove", "known", photo)
    assert missing.exit_code == 4 and "no item" in missing.stderr
