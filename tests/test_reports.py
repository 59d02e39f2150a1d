"""The scan reports (CSV and HTML): what a reviewer opens, built from hostile data."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image
from test_scan import POST_AR, db, filled, make_photo  # noqa: F401 - fixtures
from typer.testing import CliRunner

from tahaluf import banks
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
    rep = banks.import_jsonl(store, bank, [json.dumps(o, ensure_ascii=False) for o in objs])
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
