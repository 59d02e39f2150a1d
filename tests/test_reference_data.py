"""The reference vectors: a subset ships with the repository, the full set is used when present."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from refdata import FULL, ROOT, SUBSET, needs_full

#: the reference-data tests run in a copy of the repository with no ../shared beside it
CLONE_TESTS = [
    "tests/test_photo.py",
    "tests/test_video.py",
    "tests/test_index_vpdq.py",
    "tests/test_index_pdq.py::test_reference_needles_in_haystack",
    "tests/test_cli_hash.py",
    "tests/test_reference_data.py::test_subset_is_shipped_with_its_licence_and_is_small",
]


def _files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_subset_is_shipped_with_its_licence_and_is_small():
    assert (SUBSET / "LICENSE-ThreatExchange-BSD3.txt").read_text().startswith("BSD License")
    assert "facebook/ThreatExchange" in (SUBSET / "README.md").read_text()
    rows = list(csv.DictReader((SUBSET / "pdq" / "expected.csv").read_text().splitlines()))
    assert len(rows) >= 8
    assert all((SUBSET / "pdq" / row["path"]).is_file() for row in rows)
    videos = sorted((SUBSET / "vpdq" / "videos").glob("*.mp4"))
    assert len(videos) == 2
    assert all((SUBSET / "vpdq" / "expected" / f"{v.stem}.txt").is_file() for v in videos)
    assert (SUBSET / "pdq" / "needles.txt").is_file() and (SUBSET / "pdq" / "haystack.txt").is_file()
    assert sum((SUBSET / p).stat().st_size for p in _files(SUBSET)) < 3_000_000


@needs_full
def test_subset_files_are_verbatim_copies_of_the_full_set():
    for rel in _files(SUBSET):
        if rel == Path("README.md") or rel == Path("pdq/expected.csv"):
            continue
        assert (SUBSET / rel).read_bytes() == (FULL / rel).read_bytes(), rel
    full_rows = {r["path"]: r for r in csv.DictReader((FULL / "pdq" / "expected.csv").read_text().splitlines())}
    for row in csv.DictReader((SUBSET / "pdq" / "expected.csv").read_text().splitlines()):
        assert row == full_rows[row["path"]]


def _clone_without_shared(tmp_path: Path) -> Path:
    """A copy of the repository's files in a folder with no ../shared beside it."""
    clone = tmp_path / "clone" / "tahaluf"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis")
    shutil.copytree(ROOT, clone, ignore=ignore)
    assert not (clone / ".." / "shared").exists()
    return clone


def _env(clone: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TAHALUF_REFERENCE", "PYTEST_XDIST_WORKER")}
    env.update(PYTHONPATH=str(clone / "src"), TAHALUF_SKIP_SLOW="1", **extra)
    return env


@pytest.mark.slow
def test_reference_tests_pass_on_a_clone_alone(tmp_path: Path):
    clone = _clone_without_shared(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *CLONE_TESTS],
        cwd=clone, env=_env(clone), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "error" not in proc.stdout.splitlines()[-1]


def test_ci_refuses_to_run_without_the_full_reference_set(tmp_path: Path):
    clone = _clone_without_shared(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
         "tests/test_reference_data.py"],
        cwd=clone, env=_env(clone, CI="true"), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0
    assert "CI=true needs the full reference data" in proc.stderr
