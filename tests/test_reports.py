"""The scan reports (CSV and HTML): what a reviewer opens, built from hostile data."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_scan import POST_AR, db, filled, make_photo  # noqa: F401 - fixtures
from typer.testing import CliRunner

from tahaluf import banks
from tahaluf.formats import jsonl
from tahaluf.cli.main import app
from tahaluf.services.hashing import HashOptions, InputItem, hash_item
from tahaluf.storage import open_store

runner = CliRunner()


def scan_to(db: str, fmt: str, out: Path, *paths: str, extra: tuple[str, ...] = ()) -> int:
    res = runner.invoke(app, ["--db", db, "scan", "-q", "-j1", "-f", fmt, "-o", str(out), *extra, *paths])
    return res.exit_code


def embedded_images(page: str) -> list[Image.Image]:
    found = re.findall(r'data:image/(?:jpeg|png);base64,([A-Za-z0-9+/=]+)', page)
    return [Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB") for b in found]


def import_jsonl(db: str, bank: str, *objs: dict) -> None:
    store = open_store(db)
    if store.get_bank(bank) is None:
        banks.create_bank(store, bank, "known", labels={"entity": "demo-entity"})
    rep = jsonl.import_jsonl(store, bank, [json.dumps(o, ensure_ascii=False) for o in objs])
    assert rep.error_count == 0, rep
    store.close()


def test_html_report_never_opens_a_path_named_by_imported_data(db, tmp_path):
    private = tmp_path / "private.png"  # a local file that partners' data names
    Image.new("RGB", (200, 200), (255, 0, 255)).save(private)
    query = make_photo(tmp_path / "query.png", 4)
    [res] = hash_item(InputItem("file", str(query)), HashOptions())
    pdq = next(s for s in res.signals if s.type == "pdq")
    import_jsonl(db, "partner", {"external_id": "partner-1", "labels": {"entity": "demo-entity"},
                                 "provenance": {"added_by": "partner", "source": str(private)},
                                 "signals": [{"type": "pdq", "value": pdq.value}]})
    out = tmp_path / "r.html"
    assert scan_to(db, "html", out, str(query)) == 0
    page = out.read_text(encoding="utf-8")
    assert "partner-1" in page
    images = embedded_images(page)
    assert images, "the input photo itself is shown"
    for im in images:  # none of them is the magenta file named by the import
        r, g, b = np.asarray(im, dtype=np.float64).reshape(-1, 3).mean(axis=0)
        assert not (r > 200 and g < 60 and b > 200)


def test_csv_report_escapes_cells_a_spreadsheet_would_run(db, tmp_path):
    query = make_photo(tmp_path / "query.png", 4)
    [res] = hash_item(InputItem("file", str(query)), HashOptions())
    pdq = next(s for s in res.signals if s.type == "pdq")
    hostile = '=HYPERLINK("http://127.0.0.1/x","open")'
    import_jsonl(db, "partner", {"external_id": hostile, "labels": {"entity": "demo-entity"},
                                 "signals": [{"type": "pdq", "value": pdq.value}]})
    posts = tmp_path / "posts.jsonl"
    ids = ["@SUM(A1)", "-2+3", "\tweather", "\rmarkets", "+library"]
    posts.write_text("".join(json.dumps({"id": i, "text": f"post {n} about the weather"}) + "\n"
                             for n, i in enumerate(ids)), encoding="utf-8")
    out = tmp_path / "r.csv"
    assert scan_to(db, "csv", out, str(query), str(posts)) == 0
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = [v for row in rows for v in row.values() if v]
    assert cells and not [v for v in cells if v[0] in "=+-@\t\r"]
    [match] = [r for r in rows if r["external_id"]]
    assert match["external_id"] == "'" + hostile  # escaped, still readable
    assert sorted(r["input"] for r in rows if r["content_type"] == "text") == sorted("'" + i for i in ids)


# -- the HTML page a reviewer opens ---------------------------------------------------------
DEMO = Path(__file__).resolve().parents[1] / "src" / "tahaluf" / "demo"
HOSTILE_ID = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    """One report over photos (mirrored, rotated, captioned, cropped), Arabic and English
    posts, a re-encoded video and unmatched inputs, scanned against banks filled by
    `bank add` (previews kept) and by an import (signals only)."""
    from PIL import ImageOps

    from tahaluf.services.banking import add_content
    from tahaluf.services.hashing import iter_inputs

    tmp = tmp_path_factory.mktemp("report")
    db = f"sqlite:///{tmp / 'r.db'}"
    content = tmp / "content"
    content.mkdir()
    for name in ("valley.png", "hills.jpg", "shapes.png", "market-stalls.jpg"):
        (content / name).write_bytes((DEMO / "content" / "photos" / name).read_bytes())
    (content / "shapes.mp4").write_bytes((DEMO / "content" / "video" / "shapes.mp4").read_bytes())
    posts = [{"id": "k-ar", "text": POST_AR},
             {"id": "k-en", "text": "The city council voted to keep the public swimming pool open until nine "
                                    "in the evening, and lifeguards will work in two shifts all summer."}]
    (content / "posts.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts),
                                         encoding="utf-8")
    store = open_store(db)
    banks.create_bank(store, "known", "known", labels={"entity": "demo-entity", "tier": "crisis"})
    rep = add_content(store, "known", iter_inputs([str(content)]))
    assert rep.error_count == 0, rep.errors
    store.close()
    for name in ("valley.png", "hills.jpg", "shapes.png", "market-stalls.jpg", "shapes.mp4"):
        (content / name).unlink()  # the report must not need the bank's files
    from tahaluf.signals.text import text_signal

    sketch_only = "The library opens a reading garden on Sundays with free tea and a quiet corner for chess."
    import_jsonl(db, "partner", {"external_id": HOSTILE_ID, "labels": {"entity": "demo-entity"},
                                 "signals": [{"type": "text", "value": text_signal(sketch_only).value}]})
    inbox = tmp / "inbox"
    inbox.mkdir()
    photos = DEMO / "content" / "photos"
    ImageOps.mirror(Image.open(photos / "valley.png")).save(inbox / "valley-mirrored.png")
    Image.open(photos / "hills.jpg").transpose(Image.Transpose.ROTATE_90).save(inbox / "hills-rotated.png")
    for name in ("stalls-captioned.jpg", "shapes-cropped.png", "shapes-reencoded.mp4", "unrelated-landscape.jpg"):
        (inbox / name).write_bytes((DEMO / "inbox" / name).read_bytes())
    queries = [{"id": "q-ar", "text": POST_AR.replace("جديدة", "جَدِيدَة")},
               {"id": "q-en", "text": "The city council voted to keep the public swimming pool open until nine"},
               {"id": "q-lib", "text": sketch_only},
               {"id": "q-none", "text": "Markets were calm today; the weather stays mild."}]
    (inbox / "posts.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries),
                                       encoding="utf-8")
    out = tmp / "report.html"
    assert scan_to(db, "html", out, str(inbox)) == 0
    return out.read_text(encoding="utf-8")


def _card(page: str, name: str) -> str:
    start = page.index(name)
    end = page.find('<section class="input">', start)
    return page[start : end if end > 0 else len(page)]


def test_html_says_how_each_photo_matched_in_words(page):
    assert "mirrored" in _card(page, "valley-mirrored.png")
    assert "rotated 90° counter-clockwise" in _card(page, "hills-rotated.png")
    assert "caption removed" in _card(page, "stalls-captioned.jpg")
    assert "cropped" in _card(page, "shapes-cropped.png")
    assert "bank_variant" not in page


def test_html_shows_the_bank_text_or_says_only_its_sketch_is_held(page):
    en = _card(page, "q-en")
    assert "lifeguards will work in two shifts" in en  # the bank's text, beyond the query
    ar = _card(page, "q-ar")
    assert ar.count('dir="rtl" lang="ar"') == 2  # input and bank text, right to left
    assert "holds only this item" in _card(page, "q-lib")


def test_html_shows_labels_as_labels_and_lists_unmatched_inputs(page):
    card = _card(page, "valley-mirrored.png")
    assert '<dt><bdi dir="auto">tier</bdi></dt><dd><span class="chip"><bdi dir="auto">crisis</bdi></span></dd>' in card
    assert "&quot;crisis&quot;" not in page and '"crisis"' not in page
    unmatched = page[page.index("Inputs without matches"):]
    assert "unrelated-landscape.jpg" in unmatched and "q-none" in unmatched


def test_html_embeds_bank_thumbnails_stored_by_bank_add(page):
    for name in ("valley-mirrored.png", "stalls-captioned.jpg"):
        card = _card(page, name)
        assert card.count("data:image/jpeg;base64,") == 2  # input and bank item, though the bank's file is gone
        assert "no picture held here" not in card


def test_html_video_match_shows_matched_frames(page):
    card = _card(page, "shapes-reencoded.mp4")
    assert card.count("input at ") >= 2 and "matches the bank video at" in card
    assert len(embedded_images(card)) >= 3  # frames of the input and the bank video's thumbnail


def test_html_photos_are_blurred_until_pressed_and_content_is_escaped(page):
    imgs = re.findall(r"<img [^>]*>", page)
    assert imgs and len(imgs) == page.count('<button type="button" class="reveal" aria-pressed="false"')
    assert ":hover" not in page and "filter:blur" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert HOSTILE_ID not in page and html.escape(HOSTILE_ID) in page
