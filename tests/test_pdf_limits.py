"""A small PDF that would cost hours of text extraction (issue 9 point 5) is
stopped within its work and time budget, with a clear error on that item, in
the library, the CLI and the hub; the rest of a batch is hashed and a server
worker stays stoppable by SIGTERM while such a request runs."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from hostile_pdf import shared_stream_pdf
from hubproc import add_member, hub_env, start_hub
from neutral_posts import POST_EN
from tahaluf.cli.main import app
from tahaluf.errors import ContentTooLarge, Timeout
from tahaluf.signals.pdf import extract_pdf_text
from test_pdf import ENGLISH, make_minimal_pdf

# 2,000 pages drawing one shared stream; unbounded, pypdf parses the stream for every page
HOSTILE = shared_stream_pdf(pages=2000, operators=600_000)
# the same with 20,000 operators a page: under any per-page bound, hours in all without a budget
SLOW = shared_stream_pdf(pages=2000, operators=20_000)


def test_the_hostile_pdf_is_small() -> None:
    assert len(HOSTILE) < 400_000 and len(SLOW) < 400_000


def test_the_operator_budget_stops_extraction_before_parsing_past_it() -> None:
    started = time.monotonic()
    with pytest.raises(ContentTooLarge, match="stopped at page 1: more than 100,000 content operators"):
        extract_pdf_text(HOSTILE, max_operators=100_000, timeout_s=None)
    # the 600,000-operator stream was counted, never parsed (parsing it takes seconds)
    assert time.monotonic() - started < 4.0
    with pytest.raises(ContentTooLarge, match=r"stopped at page (2|3): more than 50,000"):
        extract_pdf_text(SLOW, max_operators=50_000, timeout_s=None)
    from tahaluf.services.hashing import HashOptions

    assert HashOptions().pdf_max_operators == 2_000_000 and HashOptions().pdf_timeout_s == 120


def test_the_timeout_stops_extraction_within_a_page() -> None:
    started = time.monotonic()
    with pytest.raises(Timeout, match="more than 1 s"):
        extract_pdf_text(SLOW, timeout_s=1.0, max_operators=10**9)
    # checked before each page and every 1,024 operators: seconds, not the minutes its
    # 2,000 pages take (slack for a busy machine: a page's parse is not interrupted)
    assert time.monotonic() - started < 15.0


def test_ordinary_pdfs_are_within_the_default_budgets() -> None:
    lines = [f"{ENGLISH} Line {n}." for n in range(400)]
    text = extract_pdf_text(make_minimal_pdf(lines))
    assert text.count("Line") == 400


def test_the_cli_reports_the_hostile_pdf_and_hashes_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a-report.pdf").write_bytes(HOSTILE)
    (tmp_path / "b-slow.pdf").write_bytes(SLOW)
    (tmp_path / "c-note.txt").write_text(POST_EN, encoding="utf-8")
    (tmp_path / "d-ok.pdf").write_bytes(make_minimal_pdf([ENGLISH]))
    started = time.monotonic()
    result = CliRunner().invoke(app, ["hash", "--jobs", "1", "--pdf-timeout", "8", "--pdf-max-operators", "590000",
                                      str(tmp_path)])
    elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.output
    out = {Path(o["path"]).name: o for o in map(json.loads, result.stdout.splitlines())}
    assert "more than 590,000 content operators" in out["a-report.pdf"]["error"]
    # whichever budget runs out first (operators on a fast machine, time on a busy one)
    slow_error = out["b-slow.pdf"]["error"]
    assert "PDF text extraction took more than 8 s" in slow_error or "590,000 content operators" in slow_error
    # each failed PDF still has its digests; the other inputs are hashed
    assert [s["type"] for s in out["a-report.pdf"]["signals"]] == ["md5", "sha256"]
    assert out["c-note.txt"]["error"] is None and out["d-ok.pdf"]["error"] is None
    assert "text" in [s["type"] for s in out["d-ok.pdf"]["signals"]]
    assert elapsed < 30, elapsed


@pytest.mark.slow
def test_a_server_worker_stays_stoppable_during_a_hostile_pdf_upload(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    key = add_member(db, "scanner", "matcher")
    hub = start_hub(db, tmp_path, env=hub_env(tmp_path / "cache", {"TAHALUF_UPLOAD_TIMEOUT_S": "4"}))
    answer: dict[str, object] = {}

    def upload() -> None:
        with hub.client(key, timeout_s=120) as http:
            started = time.monotonic()
            try:
                resp = http.post("/v1/hash", files={"file": ("report.pdf", SLOW, "application/pdf")})
                answer["status"], answer["body"] = resp.status_code, resp.json()
            except httpx.TransportError as exc:
                answer["status"] = repr(exc)
            answer["elapsed"] = time.monotonic() - started

    try:
        thread = threading.Thread(target=upload)
        thread.start()
        time.sleep(1.5)  # the worker is inside the extraction now
        assert thread.is_alive(), answer
        stopped = time.monotonic()
        assert hub.stop(signal.SIGTERM, timeout_s=30) in (0, 128 + signal.SIGTERM, -signal.SIGTERM)
        assert time.monotonic() - stopped < 30
        thread.join(timeout=30)
    finally:
        hub.kill()
    # the request in flight got its answer: the upload budget ran out (504), not hours later
    assert answer.get("status") == 504, (answer, hub.log()[-2000:])
    assert answer["body"]["error"]["code"] == "timeout"  # type: ignore[index]
    assert answer["elapsed"] < 30  # type: ignore[operator]
