"""A cold test session compiles the index kernels once, before any test (and any deadline) starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = '''
import time


def test_first(tmp_path):
    from tahaluf.index.warmup import warm_up
    assert warm_up.cache_info().currsize == 1, "the kernels were not compiled before this test"
    started = time.perf_counter()
    warm_up()
    assert time.perf_counter() - started < 0.5


def test_second():
    from tahaluf.index.warmup import warm_up
    assert warm_up.cache_info().currsize == 1
'''


@pytest.mark.slow
def test_a_cold_session_compiles_the_kernels_before_the_first_test(tmp_path: Path) -> None:
    """With pytest-xdist: the main process compiles, each worker loads the cache before its first test."""
    workers = 2
    tests = tmp_path / "project" / "tests"
    tests.mkdir(parents=True)
    for name in ("conftest.py", "refdata.py", "hubproc.py"):
        shutil.copy(ROOT / "tests" / name, tests / name)
    (tests / "test_probe.py").write_text(PROBE)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "project" / "pyproject.toml")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS")}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-cache")  # empty: a cold compile, as on a fresh clone
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *(["-n", str(workers)] if workers else ["-p", "no:xdist"]), "tests/test_probe.py"],
        cwd=tmp_path / "project", env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout
    assert any((tmp_path / "numba-cache").rglob("*.nbi")), "nothing was compiled into the empty cache"
    print(f"cold session with {workers} workers: {time.monotonic() - started:.1f} s")
