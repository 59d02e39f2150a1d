"""Import speed: N random PDQ hashes from a python-threatexchange file into a fresh bank.

    .venv/bin/python bench/import_bench.py                 # 1,000,000 hashes, SQLite in a temp dir
    .venv/bin/python bench/import_bench.py -n 100000 --db postgresql://postgres@127.0.0.1:5432/scratch

Prints the time to write the file, the import time and rate, the time of a
second (fully duplicate) import, and the time to stream the hashes back with
``Store.iter_pdq`` (what an index build does). Against a server URL it uses a
throw-away bank and deletes it at the end, but leaves tahaluf's (empty)
tables: point it at a scratch database.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from tahaluf import banks
from tahaluf.bootstrap import sql_ports
from tahaluf.formats.pytx import import_pytx
from tahaluf.services.bank_files import import_bank_file
from tahaluf.storage import open_store


def write_pytx_file(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="ascii") as f:
        for _ in range(n):
            f.write(f"pdq {rng.getrandbits(256):064x}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1_000_000, help="number of PDQ hashes")
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite in a temp dir)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "hashes.txt"
        t0 = time.perf_counter()
        write_pytx_file(src, args.n, args.seed)
        print(f"wrote {args.n:,} pytx lines in {time.perf_counter() - t0:.1f} s")
        url = args.db or f"sqlite:///{tmp}/bench.db"
        name = f"bench-{os.getpid()}"
        with open_store(url) as store:
            banks.create_bank(store, name, "known")
            try:
                t0, c0 = time.perf_counter(), time.process_time()
                with src.open("rb") as lines:  # as `bank import` does: bytes, each chunk audited
                    report = import_bank_file(sql_ports(store), name, lines, fmt="pytx", actor="bench",
                                              source=str(src)).report
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                print(
                    f"import: {report.summary()} in {dt:.1f} s wall, {cpu:.1f} s CPU "
                    f"({report.imported / dt:,.0f} items/s)"
                )
                t0 = time.perf_counter()
                with src.open(encoding="ascii") as lines:
                    again = import_pytx(store, name, lines, added_by="bench")
                print(f"re-import: {again.summary()} in {time.perf_counter() - t0:.1f} s")
                t0 = time.perf_counter()
                loaded = sum(len(b.item_ids) for b in store.iter_pdq())
                print(f"iter_pdq: {loaded:,} hashes in {time.perf_counter() - t0:.1f} s")
            finally:
                banks.delete_bank(store, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
