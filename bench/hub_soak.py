"""Hub soak test: steady lookups and item changes for --minutes; is the server's memory flat?

    .venv/bin/python bench/hub_soak.py --minutes 30 --out soak.csv       # 1M hashes, 2 workers
    .venv/bin/python bench/hub_soak.py --minutes 3 --hashes 100000 --workers 1

Starts the hub (``python -m tahaluf serve --no-deliver``, rate limits off) on
a copy of the cached 1M-hash database of ``hub_load_bench.py`` (or on
``--db``), then for ``--minutes``:

* lookups at a fixed ``--rate`` (open loop; one request in 20 is a batch of
  100 values, the others single values; 10% of values match);
* every ``--change-every-s`` seconds, through the API as a curator: add 10
  items to bank ``soak-churn``, disable one, re-enable one, delete the oldest
  beyond ``--churn-items``, so every worker keeps applying changes to its
  index; and check that the items added and deleted one cycle earlier are
  (and are no longer) found by a lookup, which every worker must see within
  2 seconds;
* every ``--sample-s`` seconds, the RSS (``VmRSS``) of the server and its
  worker processes.

Prints the RSS series, the slope after ``--warmup-min`` minutes in MB per
10 minutes and in % of the mean, and a verdict: flat when the growth is
under ``--flat-pct`` % per 10 minutes. ``--out`` also writes the series as CSV.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hub_load_bench as bench  # noqa: E402
import loadgen  # noqa: E402
from loadgen import Connection, HttpRequest, LoadResult  # noqa: E402

CHURN_BANK = "soak-churn"


@dataclass(slots=True)
class Sample:
    t_s: float
    rss_mb: dict[int, float]
    pss_mb: float
    load: LoadResult
    changes: int
    stale: int
    slowest_change_ms: float

    @property
    def total_mb(self) -> float:
        return sum(self.rss_mb.values())


@dataclass(slots=True)
class Churn:
    """Item changes through the API, and the checks that lookups see them."""

    conn: Connection
    curator: str
    matcher: str
    port: int
    keep: int
    rng: np.random.Generator
    live: deque[tuple[str, str]] = field(default_factory=deque)  # (external id, hex), oldest first
    disabled: deque[str] = field(default_factory=deque)
    seq: int = 0
    changes: int = 0
    stale: int = 0
    checked: int = 0
    errors: list[str] = field(default_factory=list)
    slowest_ms: float = 0.0  # of the change calls since the last sample
    _expect: list[tuple[str, bool]] = field(default_factory=list)

    async def call(self, method: str, path: str, body: object | None, key: str) -> tuple[int, object]:
        raw = loadgen.encode_request(HttpRequest(method, path, json.dumps(body).encode() if body is not None
                                                 else b""), "127.0.0.1", self.port, key)
        t0 = time.perf_counter()
        status, data = await self.conn.send(raw)
        if method != "GET":
            self.changes += 1
            self.slowest_ms = max(self.slowest_ms, 1000 * (time.perf_counter() - t0))
        if not 200 <= status < 300:
            self.errors.append(f"{method} {path}: {status} {data[:200]!r}")
        return status, (json.loads(data) if data else None)

    async def cycle(self) -> None:
        await self._check()
        new = [(f"churn-{self.seq + i}", self.rng.bytes(32).hex()) for i in range(10)]
        self.seq += len(new)
        items = [{"external_id": e, "signals": [{"type": "pdq", "value": h}]} for e, h in new]
        await self.call("POST", f"/v1/banks/{CHURN_BANK}/items", {"items": items}, self.curator)
        self.live.extend(new)
        self._expect = [(new[0][1], True)]
        if len(self.live) > 20:
            ext, value = self.live[len(self.live) // 2]
            await self.call("PATCH", f"/v1/banks/{CHURN_BANK}/items/{quote(ext)}", {"enabled": False}, self.curator)
            self.disabled.append(ext)
            self._expect.append((value, False))
        if len(self.disabled) > 5:
            ext = self.disabled.popleft()
            await self.call("PATCH", f"/v1/banks/{CHURN_BANK}/items/{quote(ext)}", {"enabled": True}, self.curator)
        while len(self.live) > self.keep:
            ext, value = self.live.popleft()
            await self.call("DELETE", f"/v1/banks/{CHURN_BANK}/items/{quote(ext)}", None, self.curator)
            if ext in self.disabled:
                self.disabled.remove(ext)
            self._expect.append((value, False))

    async def _check(self) -> None:
        """What changed one cycle ago is seen by whichever worker answers."""
        for value, should_match in self._expect:
            _, found = await self.call("GET", f"/v1/lookup?type=pdq&value={value}", None, self.matcher)
            matched = any(m["bank"] == CHURN_BANK for m in (found or {}).get("matches", []))  # type: ignore[union-attr]
            self.checked += 1
            self.stale += matched != should_match


def lookup_mix(queries: Sequence[str], key: str, port: int) -> list[bytes]:
    """Single lookups with one batch of 100 in every 20 requests."""
    singles = bench.single_requests(queries)
    batches = bench.batch_requests(queries, 100, max(1, len(singles) // 20))
    mixed = [batches[(i // 20) % len(batches)] if i % 20 == 19 else r for i, r in enumerate(singles)]
    return [loadgen.encode_request(r, "127.0.0.1", port, key) for r in mixed]


async def soak(server: loadgen.Server, keys: dict[str, str], queries: Sequence[str],
               args: argparse.Namespace) -> tuple[list[Sample], Churn]:
    """Run the lookups, the changes and the sampling until --minutes have passed."""
    raws = lookup_mix(queries, keys["matcher"], server.port)
    churn = Churn(Connection(server.host, server.port), keys["curator"], keys["matcher"], server.port,
                  args.churn_items, np.random.default_rng(args.seed + 2))
    status, _ = await churn.call("POST", "/v1/banks", {"name": CHURN_BANK, "visibility": "all"}, keys["curator"])
    if status != 201:
        raise SystemExit(f"could not create bank {CHURN_BANK}: {churn.errors}")
    stop = asyncio.Event()

    async def changes() -> None:
        while not stop.is_set():
            await churn.cycle()
            try:
                await asyncio.wait_for(stop.wait(), args.change_every_s)
            except TimeoutError:
                pass

    task = asyncio.create_task(changes())
    samples: list[Sample] = []
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < args.minutes * 60:
            res = await loadgen.open_loop(server.host, server.port, raws, args.rate, args.sample_s,
                                          max_connections=32)
            pss = sum(loadgen.pss_mb(pid) for pid in server.pids())
            samples.append(Sample(time.perf_counter() - t0, server.rss_mb(), pss, res, churn.changes, churn.stale,
                                  churn.slowest_ms))
            churn.slowest_ms = 0.0
            _print_sample(samples[-1])
    finally:
        stop.set()
        await task
        churn.conn.close()
    return samples, churn


def _print_sample(s: Sample) -> None:
    r = s.load
    per = " ".join(f"{mb:.0f}" for mb in s.rss_mb.values())
    print(f"  t={s.t_s:6.0f} s  RSS {s.total_mb:7.1f} MB ({per}), PSS {s.pss_mb:7.1f} MB  {r.rps:5.0f} req/s  "
          f"p50 {r.p50_ms:5.1f}  p99 {r.p99_ms:6.1f} ms  errors {r.errors}  changes {s.changes} "
          f"(slowest {s.slowest_change_ms:.0f} ms)  stale {s.stale}", flush=True)


def slope(samples: Sequence[Sample], warmup_s: float) -> tuple[float, float, int]:
    """Least-squares RSS growth after the warm-up: (MB per 10 minutes, % of the mean per 10 minutes, samples)."""
    kept = [s for s in samples if s.t_s >= warmup_s]
    if len(kept) < 3:
        return float("nan"), float("nan"), len(kept)
    t = np.array([s.t_s for s in kept])
    mb = np.array([s.total_mb for s in kept])
    per_s = float(np.polyfit(t, mb, 1)[0])
    return per_s * 600, 100 * per_s * 600 / float(mb.mean()), len(kept)


def write_csv(path: Path, samples: Sequence[Sample]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "rss_total_mb", "pss_total_mb", "processes", "rss_max_process_mb", "rss_by_pid",
                    "requests_per_s", "errors", "p50_ms", "p99_ms", "changes", "slowest_change_ms", "stale_answers"])
        for s in samples:
            r = s.load
            w.writerow([f"{s.t_s:.1f}", f"{s.total_mb:.1f}", f"{s.pss_mb:.1f}", len(s.rss_mb),
                        f"{max(s.rss_mb.values()):.1f}", ";".join(f"{pid}={mb:.1f}" for pid, mb in s.rss_mb.items()),
                        f"{r.rps:.1f}", r.errors, f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", s.changes,
                        f"{s.slowest_change_ms:.1f}", s.stale])


def report(samples: Sequence[Sample], churn: Churn, args: argparse.Namespace) -> bool:
    """Print the summary and verdict; True when memory is flat and every answer was right."""
    per10, pct, kept = slope(samples, args.warmup_min * 60)
    first, last = samples[0], samples[-1]
    requests = sum(s.load.requests for s in samples)
    errors = sum(s.load.errors for s in samples)
    print(f"\nRSS series (MB, every {args.sample_s:g} s): " + ", ".join(f"{s.total_mb:.0f}" for s in samples))
    print(f"RSS {first.total_mb:.0f} MB at {first.t_s:.0f} s -> {last.total_mb:.0f} MB at {last.t_s:.0f} s "
          f"(PSS, shared pages counted once: {first.pss_mb:.0f} -> {last.pss_mb:.0f} MB); "
          f"slope after {args.warmup_min:g} min ({kept} samples): {per10:+.1f} MB / 10 min ({pct:+.2f} %)")
    print(f"lookups: {requests:,} requests, {errors} errors; changes: {churn.changes:,}, change-visibility checks "
          f"{churn.checked:,}, stale answers {churn.stale}; API errors on changes: {len(churn.errors)}")
    for e in churn.errors[:5]:
        print("  " + e)
    flat = kept >= 3 and pct < args.flat_pct  # shrinking is not a leak
    if kept < 3:
        verdict = "too short to judge (need 3 samples after the warm-up)"
    else:
        verdict = "GROWING" if not flat else "flat" if pct > -args.flat_pct else "shrinking"
        verdict += f" (threshold {args.flat_pct:g} % per 10 min)"
    if args.minutes < 10:
        verdict += "; a short run: the slope is only indicative"
    print("verdict: memory " + verdict)
    return flat and not errors and not churn.stale and not churn.errors


def soak_db(args: argparse.Namespace, tmp: Path) -> str:
    """The database to soak: ``--db``, or a private copy of the cached benchmark database."""
    if args.db:
        bench.ensure_db(args.db, args.hashes, args.seed)
        _drop_churn_bank(args.db)
        return args.db
    cached = bench.prepare_db(None, args.hashes, args.seed, args.cache_dir)
    copy = tmp / "soak.db"
    shutil.copyfile(cached.removeprefix("sqlite:///"), copy)
    return f"sqlite:///{copy}"


def _drop_churn_bank(url: str) -> None:
    from tahaluf.storage import open_store

    store = open_store(url)
    try:
        found = store.get_bank(CHURN_BANK)
        if found is not None:
            store.delete_bank(found.id)
    finally:
        store.close()


def _drop_snapshot(url: str) -> None:
    """Remove the PDQ snapshot ``serve`` wrote for the private copy (in the user cache folder)."""
    from tahaluf.services.matching import snapshot_dir_for

    shutil.rmtree(snapshot_dir_for(url), ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--db", help="SQLAlchemy URL to soak (default: a copy of the cached SQLite file)")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "tahaluf-bench")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=200, help="lookup requests per second (default 200)")
    ap.add_argument("--change-every-s", type=float, default=2.0)
    ap.add_argument("--churn-items", type=int, default=500, help="items kept in the churn bank")
    ap.add_argument("--sample-s", type=float, default=10.0)
    ap.add_argument("--warmup-min", type=float, default=2.0)
    ap.add_argument("--flat-pct", type=float, default=2.0, help="largest growth per 10 min still called flat")
    ap.add_argument("--out", type=Path, help="CSV file for the series")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tahaluf-soak-") as tmp:
        url = soak_db(args, Path(tmp))
        keys = {"matcher": bench.member_key(url, "soak-matcher", ("matcher",)),
                "curator": bench.member_key(url, "soak-curator", ("curator",))}
        queries, _ = bench.make_queries(bench.bank_hashes(args.hashes, args.seed), 5000, 0.1, args.seed)
        with loadgen.running_server(url, args.workers) as server:
            print(f"hub on {server.base_url}: {args.workers} worker(s), ready in {server.ready_s:.1f} s, "
                  f"RSS {sum(server.rss_mb().values()):.0f} MB; soaking {args.minutes:g} min at "
                  f"{args.rate:g} req/s with a change cycle every {args.change_every_s:g} s", flush=True)
            samples, churn = loadgen.run_async(soak(server, keys, queries, args))
        if args.db:
            _drop_churn_bank(url)
        else:
            _drop_snapshot(url)
    if args.out:
        write_csv(args.out, samples)
        print(f"series written to {args.out}")
    ok = report(samples, churn, args)
    print("command: .venv/bin/python bench/hub_soak.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
