"""End-to-end scan speed: photos/s of `tahaluf scan` vs a python-threatexchange pipeline.

    .venv/bin/python bench/scan_bench.py [--photos 200] [--bank 100000]

Builds a SQLite bank holding the PDQ hashes of the photo set (so every
scanned photo matches) plus ``--bank`` random PDQ hashes, then times, in one
run:
- tahaluf: hash (md5, sha256, PDQ + 8 dihedral hashes + border/caption
  variants) and match every photo, with one process and with every core
  (``tahaluf.services.scanning.scan``, what ``tahaluf scan`` runs);
- python-threatexchange: ``PdqSignal.hash_from_file`` then ``PDQIndex.query``
  on an index of the same hashes, one process (what an HMA-style matcher
  does per photo; no dihedral hashes, no variants, no digests).
Machines are noisy: compare the ratio. Each figure is the best of --rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hash_bench import make_photo_set  # noqa: E402


def build_bank(db: str, photos: list[Path], n_random: int) -> None:
    from tahaluf import banks
    from tahaluf.formats.pytx import import_pytx
    from tahaluf.services.banking import add_content
    from tahaluf.services.hashing import iter_inputs
    from tahaluf.storage import open_store

    store = open_store(db)
    banks.create_bank(store, "bench", "known")
    add_content(store, "bench", iter_inputs([str(p) for p in photos]), jobs=os.cpu_count() or 1)
    rng = np.random.default_rng(3)
    lines = (f"pdq {rng.bytes(32).hex()}" for _ in range(n_random))
    import_pytx(store, "bench", lines)
    store.close()


def tahaluf_rate(db: str, photos: list[Path], jobs: int, rounds: int) -> tuple[float, int]:
    from tahaluf.services.hashing import HashOptions, iter_inputs
    from tahaluf.services.matching import MatchEngine
    from tahaluf.services.scanning import scan
    from tahaluf.storage import open_store

    store = open_store(db)
    engine = MatchEngine(store).load()
    best, matched = 0.0, 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        results = list(scan(iter_inputs([str(p) for p in photos]), engine,
                            hash_opts=HashOptions(trim_borders=True), jobs=jobs))
        best = max(best, len(photos) / (time.perf_counter() - t0))
        matched = sum(bool(r.matches) for r in results)
    store.close()
    return best, matched


def pytx_rate(photos: list[Path], n_random: int, rounds: int) -> tuple[float, int]:
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex
    from threatexchange.signal_type.pdq.signal import PdqSignal

    rng = np.random.default_rng(3)
    entries = [(PdqSignal.hash_from_file(p), i) for i, p in enumerate(photos)]
    # python-threatexchange returns a short hex string for some images; its index refuses them
    entries = [(h, i) for h, i in entries if len(h) == 64]
    entries += [(rng.bytes(32).hex(), -1) for _ in range(n_random)]
    index = PDQIndex.build(entries)
    best, matched = 0.0, 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        matched = 0
        for p in photos:
            h = PdqSignal.hash_from_file(p)
            matched += len(h) == 64 and bool(index.query(h))
        best = max(best, len(photos) / (time.perf_counter() - t0))
    return best, matched


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=100, help="generated 1280x960 photos (default 100)")
    ap.add_argument("--bank", type=int, default=100_000, help="random PDQ hashes in the bank")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photo_set(Path(tmp), args.photos)
        db = f"sqlite:///{tmp}/bench.db"
        t0 = time.perf_counter()
        build_bank(db, photos, args.bank)
        print(f"bank: {len(photos)} photos + {args.bank:,} random PDQ hashes, built in {time.perf_counter() - t0:.1f} s")
        ref, ref_matched = pytx_rate(photos, args.bank, args.rounds)
        print(f"python-threatexchange hash+query, 1 process: {ref:7.1f} photos/s ({ref_matched}/{len(photos)} matched)")
        for jobs in sorted({1, cores}):
            ours, matched = tahaluf_rate(db, photos, jobs, args.rounds)
            print(f"tahaluf scan, {jobs} process(es):           {ours:7.1f} photos/s ({matched}/{len(photos)} matched)"
                  f"  ratio {ours / ref:.2f}x")


if __name__ == "__main__":
    main()
