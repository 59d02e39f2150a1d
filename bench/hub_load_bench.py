"""Hub load benchmark: single and batch PDQ lookups over HTTP against 1M hashes.

    .venv/bin/python bench/hub_load_bench.py                       # 1M hashes, workers 1 and 2
    .venv/bin/python bench/hub_load_bench.py --hashes 20000 --duration 5 --workers 1
    .venv/bin/python bench/hub_load_bench.py --db postgresql://postgres@127.0.0.1:5432/scratch

Builds (once; cached under the temp folder, or in the database given by
``--db``) a hub database holding ``--hashes`` random PDQ hashes in one bank
``bench`` visible to all members, gives member ``bench`` (role ``matcher``) a
fresh key, and starts ``python -m tahaluf --db URL serve --no-deliver
--workers N`` with rate limits off. It then drives, on loopback and with
keep-alive connections:

* single lookups ``GET /v1/lookup?type=pdq&value=...`` at each ``--concurrency``
  (closed loop, by ``wrk`` when installed, else by the Python generator of
  ``loadgen.py``), then at a fixed ``--rate`` (open loop, Python: latency
  counted from the scheduled send time, so queueing shows in p99);
* batch lookups ``POST /v1/lookup`` of 100 and of 1,000 values (closed loop,
  Python, 4 connections per worker opened 50 ms apart so that every worker
  gets some; the per-process CPU split shows whether it did).

Queries: ``--near-share`` of them are bank hashes with 8-12 bits flipped
(they must match; checked before the load), the rest random (no match).
Every run prints requests/s, lookups/s, p50/p90/p99 latency, errors, the
server's CPU time per request, and the CPU taken by the server, the
generator and everything else on the machine (it has 2 cores: the generator
competes with two workers; other programs show as "other").
Baselines, in this process on the same hashes and queries: tahaluf's
``Hub.match`` without HTTP, and python-threatexchange's ``PDQIndex`` (faiss
on one thread), one lookup per call; the ratios are printed. Ends with a
Markdown table for the README and the command that produced it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
from loadgen import HttpRequest, LoadResult, Server, running_server  # noqa: E402

BANK = "bench"
MEMBER = "bench"


# -- the database ----------------------------------------------------------------------------

def bank_hashes(n: int, seed: int) -> np.ndarray:
    """The bank's PDQ hashes, ``(n, 32)`` uint8, the same for the same ``n`` and ``seed``."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def default_db_url(n: int, seed: int, cache_dir: Path) -> str:
    return f"sqlite:///{cache_dir / f'hub-{n}-s{seed}.db'}"


def ensure_db(url: str, n: int, seed: int) -> bool:
    """Create bank ``bench`` with the ``n`` hashes unless it is there; True when it was built."""
    from tahaluf import banks
    from tahaluf.formats.pytx import import_pytx
    from tahaluf.storage import open_store

    store = open_store(url)
    try:
        found = store.get_bank(BANK)
        if found is not None:
            have = store.count_items(found.id)["items"]
            if have != n:
                raise SystemExit(f"bank {BANK!r} in {url} holds {have:,} items, not {n:,}: "
                                 "use another --db or --cache-dir")
            return False
        bank = banks.create_bank(store, BANK, "known")
        store.update_bank(bank.id, visibility="all")
        t0 = time.perf_counter()
        hashes = bank_hashes(n, seed)
        lines = (f"pdq {row.tobytes().hex()}" for row in hashes)
        report = import_pytx(store, BANK, lines, added_by="bench", source="hub_load_bench")
        print(f"imported {report.imported:,} PDQ hashes in {time.perf_counter() - t0:.0f} s into {url}")
        return True
    finally:
        store.close()


def prepare_db(db: str | None, n: int, seed: int, cache_dir: Path) -> str:
    """The database URL, built if needed (a cached SQLite file unless ``db`` is given)."""
    if db:
        ensure_db(db, n, seed)
        return db
    cache_dir.mkdir(parents=True, exist_ok=True)
    url = default_db_url(n, seed, cache_dir)
    path = Path(url.removeprefix("sqlite:///"))
    marker = path.with_suffix(".ready")
    if not marker.is_file():  # an import cut short is not reused
        path.unlink(missing_ok=True)
        ensure_db(url, n, seed)
        marker.write_text(json.dumps({"hashes": n, "seed": seed}), encoding="utf-8")
    else:
        print(f"reusing {path} ({n:,} hashes)")
    return url


def member_key(url: str, name: str = MEMBER, roles: Sequence[str] = ("matcher",)) -> str:
    """An API key for member ``name`` (added, or its key rotated when it exists)."""
    from tahaluf.bootstrap import open_hub
    from tahaluf.config import HubConfig

    hub = open_hub(HubConfig(db=url, snapshot=False))
    try:
        if hub.hubstore.get_member(name) is None:
            return hub.accounts.add_member("bench", name, list(roles)).api_key
        return hub.accounts.rotate_key("bench", name)
    finally:
        hub.close()


# -- queries -------------------------------------------------------------------------------

def make_queries(bank: np.ndarray, count: int, near_share: float, seed: int) -> tuple[list[str], set[str]]:
    """``count`` hex queries, shuffled: ``near_share`` of them bank rows with 8-12 bits flipped, the
    rest random (a random 256-bit hash is never within 31 bits of a random bank hash); returns
    (queries, the near ones)."""
    rng = np.random.default_rng(seed + 1)
    near = int(round(count * near_share))
    rows = bank[rng.integers(0, len(bank), size=near)].copy()
    for row in rows:
        bits = rng.choice(256, size=int(rng.integers(8, 13)), replace=False)
        np.bitwise_xor.at(row, bits // 8, (1 << (bits % 8)).astype(np.uint8))
    randoms = rng.integers(0, 256, size=(count - near, 32), dtype=np.uint8)
    queries = [r.tobytes().hex() for r in rows] + [r.tobytes().hex() for r in randoms]
    order = rng.permutation(count)
    return [queries[i] for i in order], set(queries[:near])


def single_requests(queries: Sequence[str]) -> list[HttpRequest]:
    return [HttpRequest("GET", f"/v1/lookup?type=pdq&value={q}") for q in queries]


def batch_requests(queries: Sequence[str], size: int, count: int) -> list[HttpRequest]:
    out = []
    for b in range(count):
        values = [queries[(b * size + i) % len(queries)] for i in range(size)]
        body = json.dumps({"signals": [{"type": "pdq", "value": v} for v in values]}).encode()
        out.append(HttpRequest("POST", "/v1/lookup", body))
    return out


# -- measuring -------------------------------------------------------------------------------

class CpuMeter:
    """CPU used over a run by the server (and by each of its processes), this process (plus
    reaped children, e.g. wrk) and everything else, in percent of one core."""

    def __init__(self, server_pids: Sequence[int]) -> None:
        self.pids = list(server_pids)

    def __enter__(self) -> CpuMeter:
        self._t = (time.perf_counter(), loadgen.cpu_seconds(self.pids), _own_cpu(), loadgen.machine_busy_s())
        self._per_pid = {pid: loadgen.cpu_seconds([pid]) for pid in self.pids}
        return self

    def __exit__(self, *_exc: object) -> None:
        wall0, srv0, own0, busy0 = self._t
        wall = time.perf_counter() - wall0
        srv = loadgen.cpu_seconds(self.pids) - srv0
        own = _own_cpu() - own0
        busy = loadgen.machine_busy_s() - busy0
        self.server_s = srv
        #: CPU seconds of each server process over the run (shows how evenly workers were loaded)
        self.by_pid = {pid: loadgen.cpu_seconds([pid]) - c for pid, c in self._per_pid.items()}
        self.server_pct, self.generator_pct = 100 * srv / wall, 100 * own / wall
        self.other_pct = max(0.0, 100 * (busy - srv - own) / wall)


def _own_cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass(slots=True)
class Row:
    workers: int
    load: str
    per_request: int
    concurrency: str
    result: LoadResult
    cpu: CpuMeter

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per request: what the server costs, whatever else the machine was doing."""
        return 1000 * self.cpu.server_s / max(1, self.result.requests)


def drive(server: Server, raws: Sequence[bytes], concurrency: int, duration_s: float, generator: str,
          *, stagger_s: float = 0.0) -> LoadResult:
    """One closed-loop run: by wrk when asked for and installed, else (or to open the connections
    ``stagger_s`` apart) by the Python generator."""
    if generator == "wrk" and not stagger_s:
        result = loadgen.run_wrk(server.host, server.port, raws, concurrency, duration_s)
        if result is not None:
            return result
    return loadgen.run_async(loadgen.closed_loop(server.host, server.port, raws, concurrency, duration_s,
                                                 stagger_s=stagger_s))


def check_answers(server: Server, key: str, queries: Sequence[str], near: set[str]) -> str:
    """Look up 300 queries one by one; every near query must match, random ones must not."""
    import urllib.request

    hits = {True: 0, False: 0}
    seen = {True: 0, False: 0}
    for q in queries[:300]:
        req = urllib.request.Request(f"{server.base_url}/v1/lookup?type=pdq&value={q}",
                                     headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            matched = bool(json.loads(r.read())["matches"])
        seen[q in near] += 1
        hits[q in near] += matched
    msg = f"near queries matched {hits[True]}/{seen[True]}, random queries matched {hits[False]}/{seen[False]}"
    if hits[True] != seen[True] or hits[False]:
        raise SystemExit("wrong answers: " + msg)
    return msg


def bench_workers(url: str, key: str, workers: int, queries: list[str], near: set[str],
                  args: argparse.Namespace) -> tuple[list[Row], dict[str, list[float]]]:
    """Every run against one server with ``workers`` workers; also its RSS after the runs."""
    rows: list[Row] = []
    with running_server(url, workers) as server:
        enc = _encoder(key, server.port)
        singles = enc(single_requests(queries))
        print(f"\n== {workers} worker(s): ready in {server.ready_s:.1f} s; {check_answers(server, key, queries, near)}")
        drive(server, singles, max(args.concurrency), 3, "python")  # warm-up
        for c in args.concurrency:
            rows.append(_run(server, workers, "single", 1, str(c), singles, c, args))
        if args.rate:
            with CpuMeter(server.pids()) as cpu:
                res = loadgen.run_async(loadgen.open_loop(server.host, server.port, singles, args.rate,
                                                          args.duration, max_connections=64))
            rows.append(Row(workers, "single, fixed rate", 1, f"{args.rate:g}/s", res, cpu))
            _show(rows[-1])
        for size, count in ((100, 40), (1000, 8)):
            raws = enc(batch_requests(queries, size, count))
            conc = args.batch_concurrency or 4 * workers
            # few connections: opened 50 ms apart, so that each worker gets some (see closed_loop)
            rows.append(_run(server, workers, f"batch {size}", size, str(conc), raws, conc, args, stagger_s=0.05))
        rss = server.rss_by_role()
    return rows, rss


def _encoder(key: str, port: int):  # type: ignore[no-untyped-def]
    return lambda reqs: [loadgen.encode_request(r, "127.0.0.1", port, key) for r in reqs]


def _run(server: Server, workers: int, load: str, per: int, conc: str, raws: Sequence[bytes], c: int,
         args: argparse.Namespace, *, stagger_s: float = 0.0) -> Row:
    with CpuMeter(server.pids()) as cpu:
        res = drive(server, raws, c, args.duration, args.generator, stagger_s=stagger_s)
    row = Row(workers, load, per, conc, res, cpu)
    _show(row)
    return row


def _show(row: Row) -> None:
    r = row.result
    print(f"  {row.load:<20} c={row.concurrency:<7} {r.tool:<16} {r.rps:8.0f} req/s {r.rps * row.per_request:9.0f} "
          f"lookups/s  p50 {r.p50_ms:6.1f}  p90 {r.p90_ms:6.1f}  p99 {r.p99_ms:6.1f} ms  errors {r.errors}  "
          f"server CPU {row.cpu_ms_per_request:.2f} ms/req; CPU % server {row.cpu.server_pct:.0f} "
          f"generator {row.cpu.generator_pct:.0f} other {row.cpu.other_pct:.0f}{_split(row.cpu)}")


def _split(cpu: CpuMeter) -> str:
    """The CPU seconds of each busy server process, when there are several (uneven: one worker idle)."""
    busy = sorted((s for s in cpu.by_pid.values() if s > 0.05), reverse=True)
    return f"; per process {' / '.join(f'{s:.1f}' for s in busy)} s" if len(busy) > 1 else ""


# -- in-process baselines ----------------------------------------------------------------------

def service_rates(url: str, key: str, queries: Sequence[str], seconds: float) -> tuple[float, float]:
    """``hub.lookup.match`` without HTTP: (single lookups/s one per call, lookups/s in batches of 1,000)."""
    from tahaluf.bootstrap import open_hub
    from tahaluf.config import HubConfig
    from tahaluf.services.scanning import lookup_signal

    hub = open_hub(HubConfig(db=url))  # the PDQ snapshot ``serve`` prepared, as the workers load it
    try:
        hub.load()
        who = hub.accounts.authenticate(key)
        assert who is not None
        sigs = [lookup_signal("pdq", q)[1] for q in queries]
        hub.lookup.match(who, [[sigs[0]]])
        single = _rate(lambda i: hub.lookup.match(who, [[sigs[i % len(sigs)]]]), 1, seconds)
        batch = [[s] for s in (sigs * (1 + 1000 // len(sigs)))[:1000]]
        batched = _rate(lambda _i: hub.lookup.match(who, batch), 1000, seconds)
        return single, batched
    finally:
        hub.close()


def pytx_rate(bank: np.ndarray, queries: Sequence[str], seconds: float) -> float | None:
    """python-threatexchange's PDQIndex (faiss on one thread), one lookup per call; None without pytx."""
    try:
        import faiss
        from threatexchange.signal_type.pdq.pdq_index import PDQIndex
    except ImportError:
        return None
    faiss.omp_set_num_threads(1)  # its default (every core) collapses when another process is busy
    t0 = time.perf_counter()
    index = PDQIndex(entries=((row.tobytes().hex(), i) for i, row in enumerate(bank)))
    print(f"pytx PDQIndex built on {len(bank):,} hashes in {time.perf_counter() - t0:.0f} s")
    index.query(queries[0])
    return _rate(lambda i: index.query(queries[i % len(queries)]), 1, seconds)


def _rate(call, per_call: int, seconds: float) -> float:  # type: ignore[no-untyped-def]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        call(n)
        n += 1
    return n * per_call / (time.perf_counter() - t0)


# -- report ---------------------------------------------------------------------------------

def markdown(rows: Sequence[Row], rss: dict[int, dict[str, list[float]]], baselines: dict[str, float | None],
             args: argparse.Namespace) -> str:
    out = [
        "| workers | load | generator | connections | requests/s | lookups/s | p50 ms | p90 ms | p99 ms "
        "| errors | server CPU ms/request | CPU % server / generator / other |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        res = r.result
        out.append(
            f"| {r.workers} | {r.load} | {res.tool} | {r.concurrency} | {res.rps:,.0f} | "
            f"{res.rps * r.per_request:,.0f} | {res.p50_ms:.1f} | {res.p90_ms:.1f} | {res.p99_ms:.1f} | "
            f"{res.errors} | {r.cpu_ms_per_request:.2f} | {r.cpu.server_pct:.0f} / {r.cpu.generator_pct:.0f} / "
            f"{r.cpu.other_pct:.0f} |"
        )
    out.append("")
    out.append(f"{args.hashes:,} PDQ hashes in one bank; queries: {args.near_share:.0%} near-duplicates of bank "
               "hashes (8-12 bits flipped, all match), the rest random; keep-alive connections on loopback; "
               f"{args.duration:g} s per run; CPU in % of one core (the machine has {os.cpu_count()}; "
               "'other' is every other program on it).")
    for w, r in rss.items():
        total = sum(sum(v) for v in r.values())
        parts = ", ".join(f"{role} {' + '.join(f'{mb:,.0f}' for mb in mbs)}" for role, mbs in r.items() if mbs)
        out.append(f"- server RSS after the runs with {w} worker(s): {total:,.0f} MB ({parts})")
    out += _baseline_lines(rows, baselines)
    return "\n".join(out)


def _baseline_lines(rows: Sequence[Row], baselines: dict[str, float | None]) -> list[str]:
    out = []
    single, batched, pytx = baselines.get("single"), baselines.get("batch"), baselines.get("pytx")
    if single:
        out.append(f"- in process, no HTTP: tahaluf `Hub.match` {single:,.0f} lookups/s one per call, "
                   f"{batched:,.0f} lookups/s in batches of 1,000")
    if pytx:
        out.append(f"- in process: python-threatexchange `PDQIndex` (faiss, 1 thread) {pytx:,.0f} lookups/s "
                   "one per call")
        if single:
            out.append(f"- ratio in process, `Hub.match` / pytx: one per call {single / pytx:.1f}x, "
                       f"batches of 1,000 {batched / pytx:.1f}x")
        for w in sorted({r.workers for r in rows}):
            best_single = max((r.result.rps for r in rows if r.workers == w and r.per_request == 1), default=0)
            best_batch = max((r.result.rps * r.per_request for r in rows if r.workers == w and r.per_request > 1),
                             default=0)
            out.append(f"- ratio over HTTP with {w} worker(s) / pytx in process: single {best_single / pytx:.1f}x, "
                       f"batched {best_batch / pytx:.1f}x")
    return out


def goal_line(rows: Sequence[Row]) -> str:
    fixed = [r for r in rows if r.load == "single, fixed rate"]
    if not fixed:
        return "goal (>= 1,000 single lookups/s, p99 < 50 ms): not checked (--rate 0)"
    parts = []
    for r in fixed:
        res = r.result
        ok = res.rps >= 990 and res.p99_ms < 50 and res.errors == 0
        verdict = "met" if ok else "NOT met" if res.rps >= 990 or res.p99_ms >= 50 else "not tested (--rate < 1000)"
        parts.append(f"{r.workers} worker(s) offered {r.concurrency}: served {res.rps:,.0f}/s, "
                     f"p99 {res.p99_ms:.1f} ms -> {verdict}")
    return "goal (>= 1,000 single lookups/s, p99 < 50 ms): " + "; ".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    ap.add_argument("--hashes", type=int, default=1_000_000, help="PDQ hashes in the bank (default 1,000,000)")
    ap.add_argument("--db", help="SQLAlchemy URL to build or reuse (default: a cached SQLite file)")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "tahaluf-bench",
                    help="where the SQLite file is cached (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=ints, default=[1, 2], help="worker counts to run (default 1,2)")
    ap.add_argument("--concurrency", type=ints, default=[16, 64], help="connections for single lookups")
    ap.add_argument("--batch-concurrency", type=int, default=0,
                    help="connections for batch lookups (default 4 per worker: a keep-alive connection stays "
                    "with the worker that accepted it, so a few connections may all land on one)")
    ap.add_argument("--rate", type=float, default=1000, help="fixed-rate single lookups/s (0: skip)")
    ap.add_argument("--duration", type=float, default=15, help="seconds per run")
    ap.add_argument("--queries", type=int, default=5000, help="distinct query hashes")
    ap.add_argument("--near-share", type=float, default=0.1, help="share of queries that match")
    ap.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                    help="closed-loop generator: wrk when installed (auto), or the Python one")
    ap.add_argument("--skip-baselines", action="store_true", help="no in-process tahaluf and pytx runs")
    args = ap.parse_args(argv)
    if args.generator in ("auto", "wrk"):
        if loadgen.wrk_path():
            args.generator = "wrk"
        else:
            print("wrk is not installed (Debian: apt-get install -y wrk): using the Python generator")
            args.generator = "python"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = prepare_db(args.db, args.hashes, args.seed, args.cache_dir)
    key = member_key(url)
    bank = bank_hashes(args.hashes, args.seed)
    queries, near = make_queries(bank, args.queries, args.near_share, args.seed)
    print(f"{len(queries):,} queries, {len(near):,} of them near bank hashes; "
          f"closed-loop generator: {args.generator}")
    rows: list[Row] = []
    rss: dict[int, dict[str, list[float]]] = {}
    for w in args.workers:
        got, rss[w] = bench_workers(url, key, w, queries, near, args)
        rows += got
    baselines: dict[str, float | None] = {}
    if not args.skip_baselines:
        baselines["single"], baselines["batch"] = service_rates(url, key, queries, min(args.duration, 10))
        baselines["pytx"] = pytx_rate(bank, queries, min(args.duration, 10))
    print("\n" + markdown(rows, rss, baselines, args))
    print("\n" + goal_line(rows))
    print("\ncommand: " + shlex.join([".venv/bin/python", "bench/hub_load_bench.py", *(argv or sys.argv[1:])]))
    return 1 if any(r.result.errors for r in rows) else 0



if __name__ == "__main__":
    sys.exit(main())
