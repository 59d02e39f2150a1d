"""Cold start of the match engine: from the database vs from the PDQ snapshot.

    .venv/bin/python bench/coldstart_bench.py [-n 1000000]

Imports N random PDQ hashes into a temporary SQLite bank, then times
``MatchEngine.load()`` from the database alone, writing the snapshot, and
``MatchEngine.load(snapshot_dir=...)`` (what ``tahaluf scan`` does once a
snapshot exists), and prints the PDQ index's bytes per hash.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tahaluf import banks
from tahaluf.formats.pytx import import_pytx
from tahaluf.services.matching import MatchEngine
from tahaluf.storage import open_store


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="PDQ hashes (default 1,000,000)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/cold.db")
        banks.create_bank(store, "cold", "known")
        t0 = time.perf_counter()
        import_pytx(store, "cold", (f"pdq {rng.bytes(32).hex()}" for _ in range(args.n)))
        print(f"imported {args.n:,} PDQ hashes in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        engine = MatchEngine(store).load()
        print(f"load from the database: {time.perf_counter() - t0:.2f} s "
              f"({engine.pdq.nbytes / max(1, len(engine.pdq)):.0f} bytes per PDQ hash in the index)")
        t0 = time.perf_counter()
        engine.save_snapshot(Path(tmp) / "snap")
        print(f"write snapshot: {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        cold = MatchEngine(store).load(snapshot_dir=Path(tmp) / "snap")
        took = time.perf_counter() - t0
        assert cold.snapshot_cursor is not None and len(cold.pdq) == len(engine.pdq)
        print(f"load from the snapshot: {took:.2f} s")
        store.close()


if __name__ == "__main__":
    main()
