"""Memory of the hub as workers are added: RSS and PSS of each server process.

    .venv/bin/python bench/hub_memory_bench.py [-n 1000000] [--workers 1,2,4]

Imports N random PDQ hashes into a temporary SQLite bank, then for each
worker count starts ``tahaluf serve --workers W`` (which first writes the PDQ
snapshot that the workers map read-only), waits until every worker answers
lookups, and reads each process's RSS (what ``top`` shows, counting shared
pages in every process) and PSS (shared pages divided among the processes
that map them: the processes' PSS add up to what they really use) from
``/proc/<pid>/smaps_rollup``. Also runs the same with ``TAHALUF_SNAPSHOT=0``
(every worker builds private indexes from the database) for comparison.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from tahaluf import banks
from tahaluf.bootstrap import open_hub
from tahaluf.config import HubConfig
from tahaluf.formats.pytx import import_pytx
from tahaluf.storage import open_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry.name))
    return out


def _mem_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def measure(db: str, key: str, workers: int, snapshot: bool, probe: str) -> list[tuple[str, int, int]]:
    port = _free_port()
    env = {**os.environ, "TAHALUF_SNAPSHOT": "1" if snapshot else "0", "TAHALUF_RATE_LIMIT_PER_S": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tahaluf", "--db", db, "serve", "--port", str(port), "--workers", str(workers),
         "--no-deliver"], env=env, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600
        seen_ok = 0
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            # every worker must have loaded: ask until many answers in a row are ready
            while seen_ok < 20 * workers:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("server did not become ready")
                try:
                    r = client.get(f"{url}/v1/lookup", params={"type": "pdq", "value": probe})
                    seen_ok = seen_ok + 1 if r.status_code == 200 else 0
                except httpx.HTTPError:
                    seen_ok = 0
                if not seen_ok:
                    time.sleep(0.2)
        time.sleep(1.0)
        procs = [proc.pid, *_children(proc.pid)]
        for child in list(procs[1:]):
            procs.extend(_children(child))
        rows = []
        for pid in procs:
            try:
                cmd = _cmdline(pid)
                rss, pss = _mem_kb(pid)
            except OSError:
                continue
            if "resource_tracker" in cmd:
                role = "helper"
            elif "spawn_main" in cmd or (workers == 1 and pid == proc.pid):
                role = "worker"
            else:
                role = "supervisor"
            rows.append((role, rss, pss))
        return rows
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="PDQ hashes (default 1,000,000)")
    ap.add_argument("--workers", default="1,2", help="worker counts to try (default 1,2)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/mem.db"
        store = open_store(db)
        banks.create_bank(store, "mem", "known")
        hashes = [rng.bytes(32).hex() for _ in range(args.n)]
        import_pytx(store, "mem", (f"pdq {h}" for h in hashes))
        hub = open_hub(HubConfig(db=db, snapshot=False), store=store)
        _, key = hub.accounts.add_member("bench", "bench", ["matcher"])
        store.close()
        print(f"{args.n:,} PDQ hashes; RSS and PSS in MB per process (PSS sums to real use)\n")
        print("| index source | workers | per worker RSS | per worker PSS | total PSS (all processes) |")
        print("|---|---|---|---|---|")
        for snapshot in (True, False):
            for workers in (int(w) for w in args.workers.split(",")):
                rows = measure(db, key, workers, snapshot, hashes[0])
                ws = [r for r in rows if r[0] == "worker"]
                total = sum(r[2] for r in rows) / 1024
                rss = "/".join(f"{r[1] / 1024:.0f}" for r in ws)
                pss = "/".join(f"{r[2] / 1024:.0f}" for r in ws)
                source = "shared snapshot (mmap)" if snapshot else "private (from the database)"
                print(f"| {source} | {workers} | {rss} | {pss} | {total:.0f} |", flush=True)


if __name__ == "__main__":
    main()
