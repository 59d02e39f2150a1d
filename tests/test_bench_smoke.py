"""The benchmarks still run against the current code (tiny sizes; no figures are checked).

Benchmarks are not timed tests, but a benchmark that no longer runs cannot
re-measure a change: a rename in the application layer once broke
``bench/import_bench.py`` without any test noticing. Each benchmark here runs
in its own process at a size that takes seconds and must exit 0 and print its
summary line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: benchmark, tiny arguments, a line its output must contain
CASES = [
    ("import_bench.py", ["-n", "3000"], "iter_pdq: 3,000 hashes"),
    ("coldstart_bench.py", ["-n", "3000"], "snapshot"),
    ("pdq_index_bench.py", ["--n", "5000", "--queries", "200", "--single", "50", "--skip-numpy",
                            "--pytx-threads", "1"], "ratio"),
    ("scan_bench.py", ["--photos", "4", "--bank", "2000", "--rounds", "1"], "matched"),
    ("hash_bench.py", ["--photos", "3", "--posts", "50", "--rounds", "1", "--jobs", "1"], "photos/s"),
    ("text_index_bench.py", ["--sizes", "2000", "--queries", "50", "--truth-queries", "20",
                             "--datasketch-max", "2000", "--pytx-bank", "20", "--pytx-queries", "2"], "recall"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("bench", "args", "expect"), CASES, ids=[c[0] for c in CASES])
def test_the_benchmark_runs(bench: str, args: list[str], expect: str, tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / bench), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert expect in out, out[-3000:]


@pytest.mark.slow
def test_the_hub_load_benchmark_runs(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    args = ["--hashes", "3000", "--duration", "1", "--workers", "1", "--queries", "200", "--rate", "100",
            "--cache-dir", str(tmp_path / "cache"), "--generator", "python"]
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "hub_load_bench.py"), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "errors 0" in out and "command:" in out, out[-3000:]
