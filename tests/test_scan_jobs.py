"""Resumable scans: `scan --job NAME` / `--resume`, their reports, and `scan-jobs`."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from test_scan import POST_AR, db, filled, make_photo  # noqa: F401 - fixtures
from typer.testing import CliRunner

from tahaluf.cli.main import app

runner = CliRunner()


def cli(db: str, *args: str):  # noqa: ANN201
    return runner.invoke(app, ["--db", db, *args])


def lines_of(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def photos(folder: Path, seeds: range) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [make_photo(folder / f"p{n:03d}.png", n) for n in seeds]


def test_resume_out_appends_to_the_file_instead_of_replacing_it(db, filled, tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out.jsonl"
    photos(inbox, range(30, 39))
    assert cli(db, "scan", "-q", "-j1", "--resume", "-o", str(out), str(inbox)).exit_code == 0
    assert len(lines_of(out)) == 9
    photos(inbox, range(39, 40))
    assert cli(db, "scan", "-q", "-j1", "--resume", "-o", str(out), str(inbox)).exit_code == 0
    names = [Path(o["input"]).name for o in lines_of(out)]
    assert sorted(names) == [f"p{n:03d}.png" for n in range(30, 40)]  # the 9 earlier ones kept, once


def test_jobs_are_separate_listed_and_cleared(db, filled, tmp_path):
    inbox = tmp_path / "inbox"
    photos(inbox, range(40, 43))

    def scanned(job: str) -> list[str]:
        res = cli(db, "scan", "-q", "-j1", "--job", job, str(inbox))
        assert res.exit_code == 0, res.output
        return [json.loads(x)["input"] for x in res.stdout.splitlines()]

    assert len(scanned("june-inquiry")) == 3
    assert scanned("june-inquiry") == []  # resumed: nothing new
    assert len(scanned("december-inquiry")) == 3  # another investigation starts afresh
    listed = cli(db, "scan-jobs", "list")
    assert listed.exit_code == 0
    rows = {line.split("\t")[0]: line.split("\t")[1] for line in listed.stdout.splitlines()}
    assert rows == {"december-inquiry": "3", "june-inquiry": "3"}
    cleared = cli(db, "scan-jobs", "clear", "june-inquiry")
    assert cleared.exit_code == 0 and "forgot 3" in cleared.stderr
    assert len(scanned("june-inquiry")) == 3  # cleared: scans everything again
    missing = cli(db, "scan-jobs", "clear", "no-such-job")
    assert missing.exit_code == 4 and "no scan job" in missing.stderr
    bad = cli(db, "scan", "-q", "--job", "../etc", str(inbox))
    assert bad.exit_code == 2 and "job name" in bad.stderr


def test_html_and_csv_reports_of_a_resumed_job_cover_the_whole_job(db, filled, tmp_path):
    inbox, html_out, csv_out = tmp_path / "inbox", tmp_path / "r.html", tmp_path / "r.csv"
    inbox.mkdir()
    ImageOps.mirror(Image.open(filled / "a.png")).save(inbox / "a.png")  # a bank photo, mirrored: matches
    (inbox / "post.jsonl").write_text(json.dumps({"id": "q-ar", "text": POST_AR}, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    for fmt, out in (("html", html_out), ("csv", csv_out)):
        assert cli(db, "scan", "-q", "-j1", "--job", fmt, "-f", fmt, "-o", str(out), str(inbox)).exit_code == 0
    photos(inbox, range(50, 51))  # a later run finds one more (unmatched) photo
    for fmt, out in (("html", html_out), ("csv", csv_out)):
        assert cli(db, "scan", "-q", "-j1", "--job", fmt, "-f", fmt, "-o", str(out), str(inbox)).exit_code == 0
    page = html_out.read_text(encoding="utf-8")
    assert "a.png" in page and "q-ar" in page  # the earlier matches
    assert "inputs: 3" in page
    assert "<mark>" in page and page.count("data:image/jpeg") >= 1  # regenerated from stored results
    with open(csv_out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    inputs = [Path(r["input"]).name for r in rows]
    assert sorted(inputs) == ["a.png", "p050.png", "q-ar"]  # once each
    assert not list(tmp_path.glob("*.partial"))


def test_resume_repairs_a_file_cut_short(db, filled, tmp_path):
    """A scan killed between storing a result and writing it, or mid-line: the next run completes the file."""
    inbox, out = tmp_path / "inbox", tmp_path / "out.jsonl"
    photos(inbox, range(60, 66))
    (inbox / "posts.jsonl").write_text(json.dumps({"id": "q-ar", "text": POST_AR}, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    assert cli(db, "scan", "-q", "-j1", "--resume", "-o", str(out), str(inbox)).exit_code == 0
    full = sorted(json.dumps(o, sort_keys=True) for o in lines_of(out))
    text = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(text[:-3]) + text[-3][:25], encoding="utf-8")  # 2 lines lost, 1 cut
    res = cli(db, "scan", "-q", "-j1", "--resume", "-o", str(out), str(inbox))
    assert res.exit_code == 0
    assert sorted(json.dumps(o, sort_keys=True) for o in lines_of(out)) == full


def _scan_process(url: str, out: Path, inbox: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tahaluf", "--db", url, "scan", "-q", "-j", "1", "--resume", "-o", str(out), str(inbox)]
    with open(out.with_name("stderr.txt"), "ab") as err:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)


def _kill_after_lines(proc: subprocess.Popen, out: Path, lines: int, timeout_s: float = 60) -> bool:
    """SIGKILL ``proc`` once ``out`` holds ``lines`` newlines; False if it finished first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if out.exists() and out.read_bytes().count(b"\n") >= lines:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("the scan did not write its first lines in time")


def _check_kill_and_resume(tmp_path: Path, kill_after: list[int], count: int) -> None:
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    assert cli(url, "bank", "create", "known").exit_code == 0
    bank_src = tmp_path / "bank"
    sources = photos(bank_src, range(0, count, 7))
    assert cli(url, "bank", "add", "known", str(bank_src)).exit_code == 0
    inbox, out = tmp_path / "inbox", tmp_path / "out.jsonl"
    photos(inbox, range(count))
    killed = 0
    for k in kill_after:
        killed += _kill_after_lines(_scan_process(url, out, inbox), out, k)
    assert killed, "no scan was killed mid-way"
    done = _scan_process(url, out, inbox)
    assert done.wait(120) == 0, out.with_name("stderr.txt").read_text()
    got = lines_of(out)  # every line complete JSON
    names = [Path(o["input"]).name for o in got]
    assert sorted(names) == [f"p{n:03d}.png" for n in range(count)]  # nothing lost, nothing twice
    matched = {Path(o["input"]).name for o in got if o["matches"]}
    assert matched == {p.name for p in sources}


def test_kill_9_mid_scan_then_resume_loses_and_duplicates_nothing(tmp_path):
    _check_kill_and_resume(tmp_path, kill_after=[20], count=48)


@pytest.mark.slow
def test_kill_9_repeatedly_at_different_points(tmp_path):
    _check_kill_and_resume(tmp_path, kill_after=[30, 64, 66], count=90)


def test_an_unwritable_out_is_a_clear_error(db, filled, tmp_path):
    inbox = tmp_path / "inbox"
    photos(inbox, range(70, 71))
    for fmt in ("jsonl", "html"):
        res = cli(db, "scan", "-q", "-j1", "--resume", "-f", fmt, "-o", str(tmp_path / "missing" / "r"), str(inbox))
        assert res.exit_code == 2 and "cannot write the report" in res.stderr and "Traceback" not in res.output
